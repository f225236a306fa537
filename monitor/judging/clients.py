"""The clients' view: each name looked up as each client group's stub would, over the
round's answers. Pure.

For every client group and every name its services need, the answers of the group's
resolvers to the group's own question (asked without EDNS or from its source where its
stub does, else dnsmon's own answers) are replayed through the group's stub
(``stubs``). A lookup is ``ok`` (answered within a second), ``slow`` (after more than a
second) or ``fails`` (no usable answer, or slower than the group's lookup budget); a
group's view of a service is ``down`` when one of its names fails, at best ``degraded``
while one is slow.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

import dns.rcode

from monitor.config import ClientGroup, Server
from monitor.judging import stubs
from monitor.judging.graph import Deps, Graph
from monitor.judging.stubs import Heard, Said
from monitor.probing.clientplan import shape_of
from monitor.probing.plan import NameKey, asked_key, result_key
from monitor.probing.results import ProbeResult
from monitor.states import SERVICE_SEVERITY, Lookup, Result, ServiceState, Stub

SLOW_AFTER = 1.0  # seconds: a lookup slower than this is felt
Results = Mapping[tuple[str, str, str], ProbeResult]
LOOKUP_TO_SERVICE = {Lookup.OK: ServiceState.UP, Lookup.SLOW: ServiceState.DEGRADED,
                     Lookup.FAILS: ServiceState.DOWN}  # fmt: skip


@dataclass(frozen=True)
class ClientLookup:
    """One client group's lookup of one name."""

    client: str
    key: NameKey
    result: Lookup
    seconds: float
    answered_by: str | None
    path: str  # "resolver-a silent 5 s, resolver-b ok"
    why: str = ""  # why it fails or is slow, in words

    @property
    def reason(self) -> str:
        """``ehr-db.region.internal A from wards: resolver-a answers NXDOMAIN, …``."""
        return f"{self.key[0]} {self.key[1]} from {self.client}: {self.why}"


@dataclass(frozen=True)
class ClientView:
    """One client group's view of one service."""

    client: str
    state: ServiceState
    reasons: tuple[str, ...]
    lookup_seconds: float | None  # its slowest lookup of the service's names
    felt: tuple[ClientLookup, ...] = ()  # its lookups of the service's own names not ok


Lookups = dict[str, dict[NameKey, ClientLookup]]  # client group → name → lookup


def replay_round(graph: Graph, results: Results) -> Lookups:
    """Every client group's lookup of every name its services need (and this round
    asked: ``check --service`` asks only some)."""
    out: Lookups = {}
    for group in graph.client_groups:
        settings = stubs.settings_of(group)
        asked = _Asked(graph, group, results)
        at_once = settings.stub in stubs.FIRST_ANSWER_ENDS and not settings.rotate
        found = out[group.name] = {}
        heard: dict[NameKey, list[Heard]] = {}
        for key in sorted(graph.client_needs(group.name)):
            quick = asked.quick(key) if at_once else None
            if quick is not None:  # the common case, told as the full replay tells it
                found[key] = quick
            elif (told := asked.heard(key)) is not None:
                heard[key] = told
        if settings.stub is Stub.SYSTEMD_RESOLVED:
            settings = replace(settings, current=stubs.settled_on(settings, heard.values()))
        for key, told in heard.items():
            found[key] = look_up(group, settings, key, told)
    return out


class _Asked:
    """What each of a group's resolvers said to the group's question, in the group's
    order: asked the group's way where it was, else dnsmon's own answer (the same
    question: the group's way was not asked because it could not differ)."""

    def __init__(self, graph: Graph, group: ClientGroup, results: Results) -> None:
        self.graph, self.group, self.results = graph, group, results
        self.shape = shape_of(group)
        self._keys: dict[str, tuple[str, str]] = {}  # server view → (its way, dnsmon's)

    def heard(self, key: NameKey) -> list[Heard] | None:
        """None when the round asked none of them (``check --service``); a resolver it
        did not ask counts as silent, never as left out."""
        servers = self.graph.client_plan.resolvers(self.group)
        found = [self._answer(key, server) for server in servers]
        if all(r is None for r in found):
            return None
        return [
            heard_from(r) if r is not None else Heard(s.name, Said.SILENT, 0.0, "not asked")
            for s, r in zip(servers, found, strict=True)
        ]

    def quick(self, key: NameKey) -> ClientLookup | None:
        """The lookup, when the first resolver asked gave a right answer quickly: for a
        stub that asks one resolver after another that ends it (a test holds this to
        the full replay)."""
        servers = self.graph.client_plan.resolvers(self.group)
        first = self._answer(key, servers[0]) if servers else None
        if first is None or first.result is not Result.OK or first.retried:
            return None
        rtt = first.rtt_seconds or 0.0
        budget = self.group.lookup_budget
        if rtt >= stubs.QUICK or (budget is not None and rtt > budget):
            return None
        name = first.query.server.name
        return ClientLookup(self.group.name, key, Lookup.OK, round(rtt, 3), name, f"{name} ok")

    def _answer(self, key: NameKey, server: Server) -> ProbeResult | None:
        theirs, own = self._keys.get(server.key) or self._remember(server)
        found = self.results.get((key[0], key[1], theirs))
        return found if found is not None else self.results.get((key[0], key[1], own))

    def _remember(self, server: Server) -> tuple[str, str]:
        keys = self._keys[server.key] = (asked_key(server, self.shape), server.key)
        return keys


def look_up(
    group: ClientGroup, settings: stubs.Settings, key: NameKey, heard: list[Heard]
) -> ClientLookup:
    replayed = stubs.replay(settings, heard)
    seconds = round(replayed.seconds, 3)
    path = ", ".join(replayed.steps)
    if not replayed.usable:
        result, why = Lookup.FAILS, f"{replayed.why} ({path})" if path else replayed.why
    elif group.lookup_budget is not None and replayed.seconds > group.lookup_budget:
        result = Lookup.FAILS
        budget = stubs.seconds_text(group.lookup_budget)
        why = f"answered after {stubs.seconds_text(seconds)} ({path}), over its budget of {budget}"
    elif replayed.seconds > SLOW_AFTER:
        result, why = Lookup.SLOW, f"every lookup waits {stubs.seconds_text(seconds)} ({path})"
    else:
        result, why = Lookup.OK, ""
    return ClientLookup(group.name, key, result, seconds, replayed.answered_by, path, why)


def heard_from(r: ProbeResult) -> Heard:
    """A round's answer as a stub tells it apart."""
    server, rtt = r.query.server.name, r.rtt_seconds or 0.0
    said, text = _said(r)
    return Heard(server, said, rtt, text, r.retried)


def as_sources_see(graph: Graph, key: NameKey, results: Results) -> list[ProbeResult] | None:
    """The resolvers' answers for ``key`` as the client groups that ask from their own
    address got them; None when no such group needs the name."""
    found: dict[str, ProbeResult] = {}
    for group in graph.client_groups:
        if group.source is None or key not in graph.client_needs(group.name):
            continue
        shape = shape_of(group)
        for server in graph.client_plan.resolvers(group):
            answer = results.get(result_key(key[0], key[1], server, shape))
            if answer is not None:
                found.setdefault(server.key, answer)
    return list(found.values()) if found else None


_BY_RESULT = {
    Result.OK: (Said.ANSWER, "ok"),
    Result.WRONG_ANSWER: (Said.WRONG, "a wrong answer"),
    Result.NXDOMAIN: (Said.NEGATIVE, "NXDOMAIN"),
    Result.NODATA: (Said.NEGATIVE, "NODATA"),
    Result.SERVFAIL: (Said.SERVFAIL, "SERVFAIL"),
    Result.REFUSED: (Said.REFUSED, "REFUSED"),
}


def _said(r: ProbeResult) -> tuple[Said, str]:
    if r.result in _BY_RESULT:
        return _BY_RESULT[r.result]
    if r.result is Result.STALE:
        return (Said.ANSWER, "ok (stale)") if r.answers else (Said.NEGATIVE, "NXDOMAIN (stale)")
    if r.truncated:
        return Said.TCP_FAILED, "truncated, and nothing over TCP"
    if r.result is Result.TIMEOUT:
        return (Said.CLOSED, "port closed") if r.port_closed else (Said.SILENT, "silent")
    return _errored(r)


def _errored(r: ProbeResult) -> tuple[Said, str]:
    """An ERROR result: an rcode stubs read one way or another, or no reply to read."""
    if r.rcode is None:  # no reply read: a stray or malformed packet, or no way to send
        if "send failed" in r.detail or "cannot ask" in r.detail:
            return Said.CLOSED, r.detail
        return Said.SILENT, "silent (no reply it could read)"
    if r.rcode == dns.rcode.NOTIMP:
        return Said.REFUSED, "NOTIMP"
    if r.rcode == dns.rcode.NOERROR:  # without recursion, or a referral: stubs take it
        if r.answers:
            right = r.query.expect is None or set(r.answers) == r.query.expect
            return (Said.ANSWER, "ok") if right else (Said.WRONG, "a wrong answer")
        if r.flags is not None and not r.flags & 0x0480:  # no AA, no RA
            return Said.LAME, "no recursion (RA clear)"
        return Said.NEGATIVE, "no answer (NODATA)"
    return Said.FORMERR, dns.rcode.to_text(dns.rcode.Rcode.make(r.rcode))


def views(graph: Graph, service: str, deps: Deps, lookups: Lookups) -> tuple[ClientView, ...]:
    """Each of the service's client groups' view of the names ``deps`` need (through
    other services too); the reasons name its own names, as the services' do."""
    out = []
    for group in graph.groups_of(service):
        mine = lookups.get(group, {})
        found = [mine[k] for k in sorted(deps.names) if k in mine]
        state = max((LOOKUP_TO_SERVICE[f.result] for f in found), default=ServiceState.UP,
                    key=SERVICE_SEVERITY.__getitem__)  # fmt: skip
        felt = tuple(f for f in found if f.result is not Lookup.OK and f.key in deps.direct)
        seconds = max((f.seconds for f in found), default=None)
        out.append(ClientView(group, state, tuple(f.reason for f in felt), seconds, felt))
    return tuple(out)
