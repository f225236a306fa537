"""Causes: the fewest faults that explain every failure of a round. Pure.

A round shows symptoms — answers that are not ok, canaries that did not reach the
authority, names answered from cache alone, answers and serials that disagree. Each kind
of fault explains a set of them: a dark zone explains every failure of its names on every
server, a dead resolver every query it left unanswered. Faults are tried from the most
sweeping to the most local, and one is named only when it explains something no fault
before it did, so forty failing names behind one dark zone read as one cause.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from monitor.judging.graph import Graph
from monitor.judging.health import REACHED, Health
from monitor.probing import ede
from monitor.probing.plan import NameKey, Purpose
from monitor.probing.results import ProbeResult, ServerFacts, server_facts
from monitor.states import Result, ServiceState, Vocabulary

Symptom = tuple  # a result key (name, type, server), or ("cached"|"differs"|"serials", …)
WRONG = frozenset({Result.NXDOMAIN, Result.NODATA, Result.WRONG_ANSWER})
SILENT = frozenset({Result.TIMEOUT, Result.ERROR})


class CauseKind(Vocabulary):
    """The kinds of fault of SPEC.md; with as many services each, listed in this order."""

    ZONE_DARK = "zone_dark"
    SERVER_UNREACHABLE = "server_unreachable"
    AUTHORITY_UNREACHABLE = "authority_unreachable"
    DNSSEC = "dnssec"
    REFUSED = "refused"
    RECORD_CHANGED = "record_changed"
    SERIALS_DIFFER = "serials_differ"
    STALE_ANSWERS = "stale_answers"
    ANSWERS_DIFFER = "answers_differ"
    OTHER = "other"


ORDER = list(CauseKind)


@dataclass(frozen=True)
class Cause:
    """One fault, what it explains, and how to say it.

    ``summary`` is the present tense ("do not answer"); ``since_text`` the same fault
    told from when it began ("stopped answering at"), used once ``since`` is known.
    """

    kind: CauseKind
    target: str
    summary: str
    services: tuple[str, ...] = ()
    since_text: str = ""  # e.g. "ns1 and ns2 … stopped answering at {time}"
    tail: str = ""  # what follows in either tense: "; resolvers answer from cache …"
    explains: frozenset[Symptom] = field(default=frozenset(), compare=False, repr=False)

    @property
    def key(self) -> tuple[str, str]:
        return (self.kind.value, self.target)

    def told(self, since: str | None = None) -> str:
        """The one-line summary, from ``since`` (a clock time) when it is known."""
        return self.headline(since) + self.tail

    def headline(self, since: str | None = None) -> str:
        """The summary without what changes every round (how long caches last)."""
        if since and self.since_text:
            return self.since_text.format(time=since)
        return self.summary


def find(
    graph: Graph,
    health: Health,
    results: Iterable[ProbeResult],
    facts: Mapping[str, ServerFacts] | None = None,
) -> list[Cause]:
    """The causes of a judged round, most affected services first; ``facts`` are the
    round's ``server_facts`` when the caller has them already."""
    results = list(results)
    world = _World(graph, health, results, facts if facts is not None else server_facts(results))
    found: list[Cause] = []
    for finder in FINDERS:
        for cause in finder(world):
            useful = cause.explains & world.left
            if useful:
                world.left -= useful  # later finders ('other') read what is still left
                found.append(world.with_services(cause))
    return sorted(found, key=lambda c: (-len(c.services), ORDER.index(c.kind), c.target))


class _World:
    """A judged round, indexed for the finders."""

    def __init__(
        self, graph: Graph, health: Health, results: list[ProbeResult],
        facts: Mapping[str, ServerFacts],
    ) -> None:  # fmt: skip
        self.graph, self.health, self.results = graph, health, results
        self.facts = facts
        self.symptoms: set[Symptom] = set()
        # The names whose CNAME chain asks a query of another name (a name's own queries
        # are filed under it, so they are not kept here: a round has hundreds of thousands).
        self.chained: dict[tuple[str, str, str], list[NameKey]] = {}
        for key, name in self.health.names.items():
            if graph.chain_of(key, health.chains):
                for r in name.results:
                    if r.query.name != key[0] or r.query.type != key[1]:
                        self.chained.setdefault(r.query.key, []).append(key)
            if name.cached:
                self.symptoms |= {("cached", key, c.server) for c in name.cached}
            if not name.consistent:
                self.symptoms.add(("differs", key))
        self.bad = [r for r in self.results if not _good(r)]  # failing answers and canaries
        # Resolvers saying they could not reach an authority (EDE 22, 23): asked per zone.
        self.no_authority = [r for r in self.bad if r.ede and ede.codes(r.ede) & ede.NO_AUTHORITY]
        self.symptoms |= {r.query.key for r in self.bad}
        for zone in self.health.zones.values():
            if not zone.consistent:
                self.symptoms.add(("serials", zone.name))
        self.left = set(self.symptoms)  # not yet explained by a cause found so far

    def names_of(self, query: tuple[str, str, str]) -> list[NameKey]:
        """The listed names whose answers include this query's: its own, and any whose
        CNAME chain leads through it."""
        own = query[:2]
        chained = self.chained.get(query, [])
        return [own, *chained] if own in self.health.names else chained

    def along(self, zone: str) -> list[NameKey]:
        """The names whose CNAME chain passes through ``zone``."""
        return self._names_by_zone.get(zone, [])

    @functools.cached_property
    def _names_by_zone(self) -> dict[str, list[NameKey]]:
        """Every zone's names, worked out once: finders ask per zone and per symptom."""
        by_zone: dict[str, list[NameKey]] = {}
        for key in self.health.names:
            for zone in self.graph.zones_along(key, self.health.chains):
                by_zone.setdefault(zone, []).append(key)
        return by_zone

    def cached(self, keys: Iterable[NameKey], servers: set[str] | None = None) -> set[Symptom]:
        return {
            ("cached", key, c.server)
            for key in keys
            for c in self.health.names[key].cached
            if servers is None or c.server in servers
        }

    def runway_tail(self, keys: Iterable[NameKey]) -> str:
        """``; resolvers answer from cache for about 4 minutes more`` (or that they do not)."""
        cached = [c for key in keys for c in self.health.names[key].cached]
        known = [c.seconds for c in cached if c.seconds is not None]
        where = "expired cache" if cached and all(c.stale for c in cached) else "cache"
        if known:
            bound = "at most " if where == "expired cache" else "about "
            return f"; resolvers answer from {where} for {bound}{_duration(min(known))} more"
        if cached:
            return f"; resolvers answer from {where}, for how long is unknown"
        return ""

    def with_services(self, cause: Cause) -> Cause:
        """The cause with every service it makes degraded or down."""
        touched = {k for s in cause.explains for k in self._names_of(s)}
        services = tuple(
            name
            for name, service in self.health.services.items()
            if service.state is not ServiceState.UP
            and touched & self.graph.service_deps(name).names
        )
        return Cause(cause.kind, cause.target, cause.summary, services, cause.since_text,
                     cause.tail, cause.explains)  # fmt: skip

    def _names_of(self, symptom: Symptom) -> list[NameKey]:
        if symptom[0] in ("cached", "differs"):
            return [symptom[1]]
        if symptom[0] == "serials":
            return self.along(symptom[1])
        if len(symptom) != 3:
            return []
        found = self.names_of(symptom)
        if found:
            return found
        zone = self.graph.zone_of(symptom[0])  # a serial or canary: the zone's names
        return self.along(zone) if zone is not None else []


def _good(r: ProbeResult) -> bool:
    if r.query.purpose is Purpose.CANARY:
        return r.result in REACHED
    return r.ok


# --- the finders, one per kind ---------------------------------------------------------------


def _zone_dark(world: _World) -> Iterable[Cause]:
    for zone in world.health.zones.values():
        if not zone.dark:
            continue
        servers = set(zone.failing_servers)
        names = world.along(zone.name)
        explains: set[Symptom] = {
            r.query.key
            for r in world.bad
            if r.query.zone == zone.name or _asks_along(world, r, names)
        }
        explains |= world.cached(names)
        who = _and(sorted(servers))
        only = "the only authoritative server"
        only += "" if len(servers) == 1 else "s"
        verb = "does not answer" if len(servers) == 1 else "do not answer"
        silent = all(
            r.result in SILENT for r in world.results if r.query.key in explains and not r.recursive
        )
        summary = (
            f"{who}, {only} of {zone.name}, {verb}"
            if silent
            else (f"{who}, {only} of {zone.name}, fail")
        )
        since = f"{who}, {only} of {zone.name}, stopped answering at {{time}}"
        tail = world.runway_tail(names) or "; resolver caches no longer hide it"
        yield Cause(CauseKind.ZONE_DARK, zone.name, summary, (), since, tail, frozenset(explains))


def _asks_along(world: _World, r: ProbeResult, names: list[NameKey]) -> bool:
    return r.recursive and any(k in names for k in world.names_of(r.query.key))


def _closed_servers(world: _World) -> Iterable[Cause]:
    """Servers whose host says nothing listens (ICMP port unreachable): dead for certain,
    so their silence is theirs, not that of a zone behind them."""
    for cause in _server_unreachable(world):
        mine = [r for r in world.bad if r.query.server.name == cause.target]
        if mine and all("port unreachable" in r.detail for r in mine):
            yield cause


def _server_unreachable(world: _World) -> Iterable[Cause]:
    dark = {s for z in world.health.zones.values() if z.dark for s in z.failing_servers}
    for spec in world.graph.config.servers:
        facts = world.facts.get(spec.name)
        if facts is None or facts.answered:
            continue
        if spec.name in dark and all(world.health.zones[z].dark for z in spec.zones):
            continue  # told as its zones going dark: one fault, not one per server
        explains = {r.query.key for r in world.bad if r.query.server.name == spec.name}
        host = f"[{spec.address}]" if ":" in spec.address else spec.address
        where = f"{host}:{spec.port}"
        yield Cause(
            CauseKind.SERVER_UNREACHABLE, spec.name,
            f"{spec.name} ({where}) does not answer at all", (),
            f"{spec.name} ({where}) stopped answering at {{time}}", "", frozenset(explains),
        )  # fmt: skip


def _authority_unreachable(world: _World) -> Iterable[Cause]:
    for zone in world.health.zones.values():
        if zone.dark:
            continue
        names = world.along(zone.name)
        cut_off = {s for s, ok in zone.reach.items() if not ok and world.facts[s].answered}
        cut_off |= {r.query.server.name for r in world.no_authority if _asks_along(world, r, names)}
        if not cut_off:
            continue
        explains: set[Symptom] = {
            r.query.key
            for r in world.bad
            if r.query.server.name in cut_off
            and (r.query.zone == zone.name or _asks_along(world, r, names))
        }
        explains |= world.cached(names, cut_off)
        who = _and(sorted(cut_off))
        verb = "answers" if len(cut_off) == 1 else "answer"
        their = "its" if len(cut_off) == 1 else "their"
        fail = f"names not in {their} cache fail"
        summary = f"{who} {verb} but cannot reach the authoritative servers of {zone.name}: {fail}"
        since = (
            f"{who} lost the way to the authoritative servers of {zone.name} at {{time}}: {fail}"
        )
        yield Cause(CauseKind.AUTHORITY_UNREACHABLE, zone.name, summary, (), since,
                    world.runway_tail(names), frozenset(explains))  # fmt: skip


def _dnssec(world: _World) -> Iterable[Cause]:
    by_zone: dict[str, list[ProbeResult]] = {}
    for r in (r for r in world.bad if ede.codes(r.ede) & ede.DNSSEC):
        by_zone.setdefault(world.graph.fate_zone(r.query.name), []).append(r)
    for zone, found in sorted(by_zone.items()):
        codes = sorted({str(e) for r in found for e in r.ede if e.code in ede.DNSSEC})
        servers = sorted({r.query.server.name for r in found})
        verb = "rejects" if len(servers) == 1 else "reject"
        summary = f"{_and(servers)} {verb} the DNSSEC of {zone} ({'; '.join(codes)})"
        yield Cause(CauseKind.DNSSEC, zone, summary, (), "", "",
                    frozenset(r.query.key for r in found))  # fmt: skip


def _refused(world: _World) -> Iterable[Cause]:
    by_server: dict[str, list[ProbeResult]] = {}
    for r in (r for r in world.bad if r.result is Result.REFUSED):
        by_server.setdefault(r.query.server.name, []).append(r)
    for server, found in sorted(by_server.items()):
        names = sorted({r.query.name for r in found if r.query.purpose is not Purpose.CANARY})
        what = f"{len(names)} names" if len(names) != 1 else names[0]
        why = "access control, or a zone it no longer serves"
        summary = f"{server} refuses to answer {what} (REFUSED: {why})"
        yield Cause(CauseKind.REFUSED, server, summary, (), "", "",
                    frozenset(r.query.key for r in found))  # fmt: skip


def _record_changed(world: _World) -> Iterable[Cause]:
    drifting = {z.name for z in world.health.zones.values() if not z.consistent}
    for key, name in world.health.names.items():
        authority = [
            r for r in name.results if not r.recursive and r.query.purpose is not Purpose.SOA
        ]
        wrong = [r for r in authority if r.result in WRONG]
        zones = {r.query.zone for r in wrong}
        if not wrong or (zones & drifting and len(wrong) < len(authority)):
            continue
        explains = {r.query.key for r in wrong}
        explains |= {r.query.key for r in name.results if r.recursive and r.result in WRONG}
        explains |= world.cached([key])
        told = _and([f"{r.query.server.name} {_said(r)}" for r in wrong])
        what = f"{key[0]} {key[1]}"
        gone = all(r.result is not Result.WRONG_ANSWER for r in wrong)
        summary = (
            f"the authoritative servers no longer have {what} ({told})"
            if gone
            else f"the authoritative servers answer {what} differently ({told})"
        )
        since = summary.replace(" (", " since {time} (", 1)
        yield Cause(CauseKind.RECORD_CHANGED, what, summary, (), since,
                    world.runway_tail([key]), frozenset(explains))  # fmt: skip


def _said(r: ProbeResult) -> str:
    if r.result is Result.WRONG_ANSWER:
        return f"now {', '.join(r.answers) or 'something else'}"
    return "NXDOMAIN" if r.result is Result.NXDOMAIN else "no such record (NODATA)"


def _serials_differ(world: _World) -> Iterable[Cause]:
    for zone in world.health.zones.values():
        if zone.consistent:
            continue
        names = world.along(zone.name)
        explains: set[Symptom] = {("serials", zone.name)}
        explains |= {("differs", k) for k in names}
        explains |= {
            r.query.key
            for r in world.bad
            if not r.recursive and r.query.zone == zone.name and r.result in WRONG
        }
        serials = ", ".join(f"{s} {v}" for s, v in zone.serials.items() if v is not None)
        summary = (
            f"the authoritative servers of {zone.name} serve different versions ({serials}): "
            "a secondary may have stopped transferring"
        )
        yield Cause(CauseKind.SERIALS_DIFFER, zone.name, summary, (), "", "", frozenset(explains))


def _stale_answers(world: _World) -> Iterable[Cause]:
    by_server: dict[str, set[Symptom]] = {}
    for key, name in world.health.names.items():
        for r in name.results:
            if r.result is Result.STALE:
                by_server.setdefault(r.query.server.name, set()).update(
                    {r.query.key, *world.cached([key], {r.query.server.name})}
                )
    for server, explains in sorted(by_server.items()):
        count = len({s for s in explains if s[0] != "cached"})
        names = f"{count} name{'s' if count != 1 else ''}"
        summary = f"{server} answers {names} from expired cache (EDE 3 Stale Answer)"
        yield Cause(CauseKind.STALE_ANSWERS, server, summary, (), "", "", frozenset(explains))


def _answers_differ(world: _World) -> Iterable[Cause]:
    for key, name in world.health.names.items():
        if name.consistent:
            continue
        views = sorted({f"{r.query.server.name} {', '.join(r.answers) or '→ ' + ', '.join(r.chain)}"
                        for r in name.results if r.ok})  # fmt: skip
        summary = f"servers give different answers for {key[0]} {key[1]} ({'; '.join(views)})"
        yield Cause(CauseKind.ANSWERS_DIFFER, f"{key[0]} {key[1]}", summary, (), "", "",
                    frozenset({("differs", key)}))  # fmt: skip


def _other(world: _World) -> Iterable[Cause]:
    """Whatever is left, by server when one server fails several names, else by name."""
    failing = [
        r for r in world.bad if r.query.purpose is not Purpose.CANARY and r.query.key in world.left
    ]
    by_server: dict[str, list[ProbeResult]] = {}
    for r in failing:
        by_server.setdefault(r.query.server.name, []).append(r)
    for server, found in sorted(by_server.items()):
        if len(found) > 1:
            details = sorted({r.detail or str(r.result) for r in found})
            more = "; …" if len(details) > 1 else ""
            summary = f"{server} fails {len(found)} queries ({details[0]}{more})"
            yield Cause(CauseKind.OTHER, server, summary, (), "", "",
                        frozenset(r.query.key for r in found))  # fmt: skip
    for r in failing:
        detail = f" ({r.detail})" if r.detail else ""
        summary = f"{r.query.name} {r.query.type} on {r.query.server.name}: {r.result}{detail}"
        yield Cause(CauseKind.OTHER, f"{r.query.name} {r.query.type}", summary, (), "", "",
                    frozenset({r.query.key}))  # fmt: skip


# Tried in this order: servers known dead first (their silence is their own), then a
# dark zone (which a resolver timing out on its names may only seem to be), and so on.
FINDERS: list[Callable[[_World], Iterable[Cause]]] = [
    _closed_servers,
    _zone_dark,
    _server_unreachable,
    _authority_unreachable,
    _dnssec,
    _refused,
    _record_changed,
    _serials_differ,
    _stale_answers,
    _answers_differ,
    _other,
]


def _and(items: list[str]) -> str:
    """``ns1``, ``ns1 and ns2``, ``ns1, ns2 and ns3``."""
    if len(items) <= 1:
        return "".join(items)
    return f"{', '.join(items[:-1])} and {items[-1]}"


def _duration(seconds: float) -> str:
    """``40 seconds``, ``4 minutes``, ``3 hours``: how long, roughly, in words."""
    seconds = int(seconds)
    if seconds < 90:
        return f"{seconds} seconds"
    if seconds < 90 * 60:
        return f"{round(seconds / 60)} minutes"
    return f"{round(seconds / 3600)} hours"
