"""What the cause finders share: the kinds, a cause, and a judged round indexed for them.

A round shows symptoms — answers that are not ok, canaries that did not reach the
authority, names answered from cache alone, answers and serials that disagree. Each
finder names faults of one kind and the symptoms each explains (see ``causes``).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace

from monitor.judging.graph import Graph
from monitor.judging.health import REACHED, Health, NameHealth, authority_answers
from monitor.judging.stubs import seconds_text
from monitor.probing import ede
from monitor.probing.plan import NameKey, Purpose
from monitor.probing.results import ProbeResult, ServerFacts
from monitor.states import Lookup, Result, ServiceState, Software, Vocabulary

Symptom = tuple  # a result key (name, type, server), or ("cached"|"differs"|"outdated"|…, …)
WRONG = frozenset({Result.NXDOMAIN, Result.NODATA, Result.WRONG_ANSWER})
SILENT = frozenset({Result.TIMEOUT, Result.ERROR})


class CauseKind(Vocabulary):
    """The kinds of fault of SPEC.md; with as many services each, listed in this order."""

    ZONE_DARK = "zone_dark"
    ZONE_EXPIRED = "zone_expired"  # a secondary's copy ran out without its primary
    ZONE_NOT_LOADED = "zone_not_loaded"  # an authoritative server SERVFAILs its own zone
    SERVER_UNREACHABLE = "server_unreachable"  # a refused port, or no route
    SERVER_SILENT = "server_silent"  # drops queries: clients wait out its timeout
    AUTHORITY_UNREACHABLE = "authority_unreachable"
    DNSSEC = "dnssec"
    REFUSED = "refused"
    RECORD_CHANGED = "record_changed"
    NEGATIVE_ANSWER = "negative_answer"  # NXDOMAIN or NODATA from one resolver only
    TCP_UNAVAILABLE = "tcp_unavailable"  # truncated answers clients cannot fetch over TCP
    VIEW_DIFFERS = "view_differs"  # the clients' address or shape gets another answer
    SERIAL_REGRESSED = "serial_regressed"  # the primary's serial went backwards
    SERIALS_DIFFER = "serials_differ"
    ZONE_EXPIRING = "zone_expiring"  # a clock: the secondaries' copies run out
    SIGNATURES_EXPIRING = "signatures_expiring"  # a clock: nothing fails yet
    NEGATIVE_CACHED = "negative_cached"  # after the fix: a resolver's cached NXDOMAIN
    OLD_ANSWER_CACHED = "old_answer_cached"  # after a rollback: a resolver's cached old answer
    SERVFAIL_CACHED = "servfail_cached"  # after the fix: a resolver's remembered SERVFAIL
    STALE_ANSWERS = "stale_answers"
    ANSWERS_DIFFER = "answers_differ"
    OTHER = "other"


ORDER = list(CauseKind)
# Faults fixed at their source that resolvers still hand out from cache.
REMEMBERED = frozenset({CauseKind.NEGATIVE_CACHED, CauseKind.OLD_ANSWER_CACHED,
                        CauseKind.SERVFAIL_CACHED})  # fmt: skip


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
    seconds: int | None = None  # time left, where a clock runs (signatures, copies)
    commands: tuple[str, ...] = ()  # what to run, where a command helps (a flush)

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


class World:
    """A judged round, indexed for the finders."""

    def __init__(
        self, graph: Graph, health: Health, results: list[ProbeResult],
        facts: Mapping[str, ServerFacts], software: Mapping[str, Software | None] | None = None,
    ) -> None:  # fmt: skip
        self.graph, self.health, self.results = graph, health, results
        self.facts = facts
        self.software = software or {}  # what servers without a software: key said they run
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
                self.symptoms |= {("outdated", key, server) for server in outdated(name)}
        self.bad = [r for r in self.results if not good(r)]  # failing answers and canaries
        # Resolvers saying they could not reach an authority (EDE 22, 23): asked per zone.
        self.no_authority = [r for r in self.bad if r.ede and ede.codes(r.ede) & ede.NO_AUTHORITY]
        self.symptoms |= {r.query.key for r in self.bad}
        for zone in self.health.zones.values():
            if not zone.consistent:
                self.symptoms.add(("serials", zone.name))
        self.left = set(self.symptoms)  # not yet explained by a cause found so far
        self.by_key = {r.query.key: r for r in results}
        self._sets: dict[str, frozenset[NameKey]] = {}

    def names_of(self, query: tuple[str, str, str]) -> list[NameKey]:
        """The listed names whose answers include this query's: its own, and any whose
        CNAME chain leads through it."""
        own = query[:2]
        chained = self.chained.get(query, [])
        return [own, *chained] if own in self.health.names else chained

    def along(self, zone: str) -> list[NameKey]:
        """The names whose CNAME chain passes through ``zone``."""
        return self._names_by_zone.get(zone, [])

    def along_set(self, zone: str) -> frozenset[NameKey]:
        """``along`` as a set, for membership tests over every failing answer."""
        found = self._sets.get(zone)
        if found is None:
            found = self._sets[zone] = frozenset(self.along(zone))
        return found

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
            return f"; resolvers answer from {where} for {bound}{duration_words(min(known))} more"
        if cached:
            return f"; resolvers answer from {where}, for how long is unknown"
        return ""

    def felt_by_clients(self, server: str, how: str) -> str:
        """``; every lookup from wards waits 5 s``: how the lookups of each client group
        that pass ``server`` (said to be ``how`` in their path) fare."""
        said = []
        for group, lookups in sorted(self.health.lookups.items()):
            mark = f"{server} {how}"
            felt = [f for f in lookups.values() if mark in f.path]
            if not felt:
                continue
            weight = self.health.weight
            count, total = sum(weight(f.key) for f in felt), sum(map(weight, lookups))
            one = count == 1 or count == total
            if count == total:
                who = f"every lookup from {group}"
            else:
                who = f"{count} lookup{'' if one else 's'} from {group}"
            answered = [f for f in felt if f.result is not Lookup.FAILS]
            if answered:  # those that still get an answer, after how long
                wait = seconds_text(min(f.seconds for f in answered))
                said.append(f"{who} {'waits' if one else 'wait'} {wait}")
            else:
                said.append(f"{who} {'fails' if one else 'fail'}")
        return "; " + ", ".join(said) if said else ""

    def with_services(self, cause: Cause) -> Cause:
        """The cause with every service it makes degraded or down; for a fault only
        caches remember, every service whose names it touches (an old answer after a
        rollback leaves a service up by its states, yet its people wait for it)."""
        touched = {k for s in cause.explains for k in self._names_of(s)}
        everyone = cause.kind in REMEMBERED
        services = tuple(
            name
            for name, service in self.health.services.items()
            if (everyone or service.state is not ServiceState.UP)
            and touched & self.graph.service_deps(name).names
        )
        return replace(cause, services=services)

    def needing(self, zone: str) -> tuple[str, ...]:
        """Every service that needs a name along ``zone``, up or not (for clocks)."""
        names = set(self.along(zone))
        return tuple(
            name for name in self.health.services
            if names & self.graph.service_deps(name).names
        )  # fmt: skip

    def _names_of(self, symptom: Symptom) -> list[NameKey]:
        if symptom[0] in ("cached", "differs", "outdated"):
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


def outdated(name: NameHealth) -> list[str]:
    """Resolvers answering with other records than the one answer every authoritative
    server gives now (an old answer they cached)."""
    now = authority_answers(name.results)
    return [r.query.server.name for r in name.results if r.recursive and holds_other(r, now)]


def holds_other(r: ProbeResult, now: set[tuple[str, ...]]) -> bool:
    """``r`` hands out records, not the one answer set ``now`` of every authoritative
    server (when they agree on one; else there is nothing to hold it to)."""
    return (
        len(now) == 1 and r.result in (Result.OK, Result.WRONG_ANSWER) and bool(r.answers)
        and r.answers not in now
    )  # fmt: skip


def good(r: ProbeResult) -> bool:
    """An answer that is no symptom: ok, or a canary that reached the authority."""
    if r.query.purpose is Purpose.CANARY:
        return r.result in REACHED
    return r.ok


def asks_along(world: World, r: ProbeResult, zone: str) -> bool:
    """A resolver's answer for one of the names whose chain passes through ``zone``."""
    names = world.along_set(zone)
    return r.recursive and any(k in names for k in world.names_of(r.query.key))


def and_words(items: list[str]) -> str:
    """``ns1``, ``ns1 and ns2``, ``ns1, ns2 and ns3``."""
    if len(items) <= 1:
        return "".join(items)
    return f"{', '.join(items[:-1])} and {items[-1]}"


def duration_words(seconds: float) -> str:
    """``40 seconds``, ``4 minutes``, ``3 hours``: how long, roughly, in words."""
    seconds = int(seconds)
    if seconds < 90:
        return f"{seconds} second{'' if seconds == 1 else 's'}"
    if seconds < 90 * 60:
        return f"{round(seconds / 60)} minutes"
    return f"{round(seconds / 3600)} hours"
