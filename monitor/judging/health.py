"""Results + graph → states of names, zones, services and backups. Pure.

The same functions judge a real round (``check``, ``serve``) and an imagined one
(``impact``), so a what-if and a real failure can never disagree.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace

from monitor.config import Backup
from monitor.judging import clients as clients_module
from monitor.judging import clocks
from monitor.judging import runway as runway_module
from monitor.judging.clients import ClientLookup, ClientView, Lookups
from monitor.judging.clocks import Copies, Expiry, ExpiryClock
from monitor.judging.graph import Chains, Deps, Fate, Graph, NameKey
from monitor.judging.runway import CachedAnswer, Countdown, LostAuthority, RunwayClock
from monitor.probing.plan import Purpose
from monitor.probing.results import ProbeResult, Round
from monitor.states import (
    SERVICE_SEVERITY,
    BackupState,
    Lookup,
    NameState,
    People,
    Result,
    ServiceState,
)

Results = Mapping[tuple[str, str, str], ProbeResult]

NAME_TO_SERVICE = {
    NameState.HEALTHY: ServiceState.UP,
    NameState.DEGRADED: ServiceState.DEGRADED,
    NameState.FAILING: ServiceState.DOWN,
}
SERVICE_TO_BACKUP = {
    ServiceState.UP: BackupState.USABLE,
    ServiceState.DEGRADED: BackupState.AT_RISK,
    ServiceState.DOWN: BackupState.UNUSABLE,
}
# A canary answered by the authority: NXDOMAIN as expected, or anything it holds there.
REACHED = frozenset({Result.NXDOMAIN, Result.NODATA, Result.OK})


@dataclass(frozen=True)
class NameHealth:
    key: NameKey
    state: NameState
    results: tuple[ProbeResult, ...]  # its own, then its CNAME targets' in other zones
    healthy_servers: int  # redundancy: resolvers answering ok (the clients' view)
    servers: int  # resolvers asked; authoritative servers when no resolver is
    consistent: bool
    chain: tuple[str, ...] = ()
    lost: tuple[LostAuthority, ...] = ()
    cached: tuple[CachedAnswer, ...] = ()
    # The same name judged with the resolvers' answers as the client groups that ask
    # from their own address got them (split views); None when no such group needs it.
    sourced: NameHealth | None = None

    @functools.cached_property  # read for every service that needs the name
    def reason(self) -> str:
        """``ehr-db.region.internal A: ns1 timeout, ns2 timeout``: the servers not ok."""
        bad = runway_module.said(r for r in self.results if not r.ok)
        return f"{self.key[0]} {self.key[1]}: {bad}"


@dataclass(frozen=True)
class ZoneHealth:
    name: str
    serials: dict[str, int | None]
    consistent: bool
    dark: bool  # every authoritative server of the zone failing
    expire_seconds: int | None = None  # SOA expire: how long secondaries serve without a primary
    failing_servers: tuple[str, ...] = ()
    reach: dict[str, bool] = field(default_factory=dict)  # resolver → its canary reached
    soa_results: dict[str, ProbeResult] = field(default_factory=dict)  # server → SOA answer
    # Until the earliest signature its authoritative servers hand out expires, from the
    # round's start (negative: expired); None: unsigned, or not seen this round.
    signatures_expire_in_seconds: int | None = None
    copies: Copies | None = None  # the serials of primaries and secondaries
    expiry: Expiry | None = None  # the secondaries' copies running out, while they are

    @property
    def primary(self) -> str | None:
        return self.copies.primaries[0] if self.copies and self.copies.primaries else None

    @property
    def negative_ttl(self) -> int | None:
        """How long resolvers cache a negative answer in the zone at the most: its SOA's
        TTL, at most the SOA minimum (RFC 2308), as its authoritative servers give it."""
        for soa in self.soa_results.values():
            if soa.ok and soa.soa_timers is not None and soa.ttl is not None:
                return min(soa.ttl, soa.soa_timers.minimum)
        return None

    @property
    def expires_in_seconds(self) -> int | None:
        """Until the first secondary's copy can expire, while that clock runs and is known."""
        return self.expiry.seconds if self.expiry is not None else None


@dataclass(frozen=True)
class BackupHealth:
    name: str
    description: str
    state: BackupState
    fate: Fate
    reasons: tuple[str, ...]
    instructions: str = ""


@dataclass(frozen=True)
class ServiceHealth:
    name: str
    state: ServiceState  # the worst of dnsmon's own view and every client group's
    reasons: tuple[str, ...]
    runway_seconds: int | None
    backups: tuple[BackupHealth, ...]
    cached: tuple[CachedAnswer, ...] = ()  # answers that only resolver caches still give
    clients: tuple[ClientView, ...] = ()  # each client group's view
    people: People = People.WORKING  # what its users should do
    countdown: Countdown | None = None  # what the runway follows
    runway_rose: str = ""  # why the runway ends later than it did (serve, watch)


@dataclass
class Health:
    """The judged state of everything in one round."""

    names: dict[NameKey, NameHealth] = field(default_factory=dict)
    zones: dict[str, ZoneHealth] = field(default_factory=dict)
    services: dict[str, ServiceHealth] = field(default_factory=dict)
    chains: Chains = field(default_factory=dict)
    lookups: Lookups = field(default_factory=dict)  # client group → name → its lookup
    # How many names each judged name stands for: a what-if judged by classes of names
    # that fare alike (``judging.classes``) counts each class as many as it holds.
    weights: dict[str, int] = field(default_factory=dict)

    def weight(self, key: NameKey) -> int:
        """How many names ``key`` stands for (1 unless judged by classes)."""
        return self.weights.get(key[0], 1) if self.weights else 1

    @functools.cached_property  # read for every service, once the zones are judged
    def copies_running(self) -> dict[str, int]:
        """Zone → seconds until a secondary's copy can expire, while that is ahead."""
        return {z.name: left for z in self.zones.values()
                if (left := z.expires_in_seconds) is not None and left > 0}  # fmt: skip


def judge(
    graph: Graph,
    round_: Round,
    services: list[str] | None = None,
    clock: RunwayClock | None = None,
    *,
    expiry: ExpiryClock | None = None,
    long_way: bool = False,
) -> Health:
    """Judge a round; ``services`` limits the verdict to those services (and what they
    need); ``clock`` anchors runways and ``expiry`` the secondaries' copies across rounds
    (``serve``, ``watch``); without, one round says what it can. ``long_way``
    judges every name without the short path for names ok everywhere (a test holds the
    two to the same verdicts)."""
    results = round_.results
    health = Health(chains={**graph.static_chains, **round_.chains})
    canaries = _canaries_by_zone(results)
    signed = clocks.signatures(results.values(), round_.started_at)
    expiry = expiry or ExpiryClock()
    for zone in graph.zones:
        found = zone_health(graph, zone, results, canaries.get(zone, []))
        runs_out = expiry.observe(found.copies, round_.started_at) if found.copies else None
        health.zones[zone] = replace(
            found, signatures_expire_in_seconds=signed.get(zone), expiry=runs_out
        )
    _judge_names(graph, health, results, long_way)
    health.lookups = clients_module.replay_round(graph, results)
    if clock is not None:
        _anchor_runways(health, clock, round_.started_at)
    wanted = set(services) if services is not None else None
    for name in graph.service_order:
        if wanted is None or name in wanted or _needed_by(graph, name, wanted):
            health.services[name] = service_health(graph, name, health)
    # Backups may need any service, so they are judged once every service is.
    for name, service in health.services.items():
        backups = tuple(
            backup_health(graph, name, b, service.state, health)
            for b in graph.services[name].backups
        )
        health.services[name] = replace(service, backups=backups)
    if wanted is not None:
        health.services = {k: v for k, v in health.services.items() if k in wanted}
    if clock is not None:
        _explain_rises(health, clock, round_.started_at)
    return health


def _explain_rises(health: Health, clock: RunwayClock, now: float) -> None:
    """Each service's runway that ends later than it did says why (``runway_rose``)."""
    for name, service in health.services.items():
        settled = service.state is not ServiceState.DEGRADED
        rose = clock.rise(name, now, service.runway_seconds, service.countdown, settled,
                          lambda countdown: _answers_now(health, countdown))  # fmt: skip
        if rose:
            health.services[name] = replace(service, runway_rose=rose)


def _answers_now(health: Health, countdown: Countdown) -> str:
    """What the servers behind a countdown answer this round: ``resolver-a: servfail``."""
    zone = health.zones.get(countdown.key[0]) if countdown.copies else None
    found: dict[str, ProbeResult] = dict(zone.soa_results) if zone is not None else {}
    if not countdown.copies and countdown.key in health.names:  # a resolver's answer: as a resolver
        found = {r.query.server.name: r for r in health.names[countdown.key].results
                 if r.query.name == countdown.key[0] and r.recursive}  # fmt: skip
    said = [f"{s} answers {found[s].result}" if s in found else f"{s} was not asked"
            for s in countdown.servers]  # fmt: skip
    return "; ".join(said) + " now"


def _canaries_by_zone(results: Results) -> dict[str, list[ProbeResult]]:
    by_zone: dict[str, list[ProbeResult]] = {}
    for r in results.values():
        if r.query.purpose is Purpose.CANARY and r.query.zone is not None:
            by_zone.setdefault(r.query.zone, []).append(r)
    return by_zone


def _judge_names(graph: Graph, health: Health, results: Results, long_way: bool) -> None:
    unreached = _unreached(health.zones)
    dark = {zone: z.dark for zone, z in health.zones.items()}
    any_dark = any(dark.values())
    for key in graph.names:
        name, rdtype = key
        found = (results.get((name, rdtype, s.key)) for s in graph.servers_of(key))
        own = [r for r in found if r is not None]
        if not own:
            continue
        chain = graph.chain_of(key, health.chains)
        along = _chain_results(graph, key, chain, results) if chain else []
        if not (long_way or chain or any_dark or unreached) and all(r.result is _OK for r in own):
            health.names[key] = name_health(key, own)  # the common case: nothing to lose
            continue
        lost = runway_module.lost_authority(graph, key, health.chains, results, dark)
        cut_off: dict[str, list[str]] = {}
        if unreached:
            zones = graph.zones_along(key, health.chains)
            cut_off = {s: [z for z in zs if z in zones] for s, zs in unreached.items()}
        cached = []
        if lost or cut_off or any(r.result is _STALE for r in own):  # else none is cached-only
            cached = runway_module.cached_answers(graph, key, own, lost, cut_off)
        health.names[key] = name_health(key, own, along, chain, lost, cached)
    if graph.any_sourced:
        for key, judged in list(health.names.items()):
            _judge_sourced(graph, health, key, judged, results)


def _judge_sourced(
    graph: Graph, health: Health, key: NameKey, found: NameHealth, results: Results
) -> None:
    """The name as the groups asking from their own address see it: their answers stand
    in for dnsmon's own from the same resolvers; the rest (the authority) is as is."""
    theirs = clients_module.as_sources_see(graph, key, results)
    if theirs is None:
        return
    replaced = {r.query.server.key for r in theirs}
    own = [r for r in found.results if r.query.server.key not in replaced or not r.recursive]
    mine = name_health(key, own + theirs, None, found.chain, list(found.lost), list(found.cached))
    health.names[key] = replace(found, sourced=mine)


_OK, _STALE = Result.OK, Result.STALE


def _unreached(zones: dict[str, ZoneHealth]) -> dict[str, list[str]]:
    """Resolver → the zones whose canary it could not get answered by the authority."""
    out: dict[str, list[str]] = {}
    for zone in zones.values():
        for server, reached in zone.reach.items():
            if not reached:
                out.setdefault(server, []).append(zone.name)
    return out


def _chain_results(
    graph: Graph, key: NameKey, chain: tuple[str, ...], results: Results
) -> list[ProbeResult]:
    """The answers of the authoritative servers of other zones the chain enters."""
    found = []
    for target, zone in graph.layout.chain_entries(key[0], chain):
        for server in graph.zone_servers(zone):
            result = results.get((target, key[1], server.key))
            if result is not None:
                found.append(result)
    return found


def _anchor_runways(health: Health, clock: RunwayClock, now: float) -> None:
    everything = [c for name in health.names.values() for c in name.cached]
    anchored = clock.observe(now, everything)
    by_key: dict[NameKey, list[CachedAnswer]] = {}
    for answer in anchored:
        by_key.setdefault(answer.key, []).append(answer)
    for key, answers in by_key.items():
        health.names[key] = replace(health.names[key], cached=tuple(answers))


def _needed_by(graph: Graph, name: str, wanted: set[str]) -> bool:
    """Whether a wanted service, or one of its backups, needs service ``name``."""
    return any(name in graph.needs(w)[1] for w in wanted)


def name_health(
    key: NameKey,
    own: list[ProbeResult],
    along: list[ProbeResult] | None = None,
    chain: tuple[str, ...] = (),
    lost: list[LostAuthority] | None = None,
    cached: list[CachedAnswer] | None = None,
) -> NameHealth:
    """Healthy when every server is ok; degraded when some resolver is ok or stale; else
    failing. A name asked only of authoritative servers is judged by them."""
    everything = own + along if along else own
    recursive = [r for r in own if r.query.recursion]
    judged = recursive or own
    if all(r.result is _OK for r in everything):
        state = NameState.HEALTHY
    elif any(r.serves_clients for r in judged):
        state = NameState.DEGRADED
    else:
        state = NameState.FAILING
    healthy = sum(1 for r in judged if r.result is _OK)
    return NameHealth(
        key, state, tuple(everything), healthy, len(judged), consistent(own, along or []),
        chain, tuple(lost or ()), tuple(cached or ()),
    )  # fmt: skip


def authority_answers(results: Iterable[ProbeResult]) -> set[tuple[str, ...]]:
    """The answer sets a name's authoritative servers give, when every one of them
    answers it well; empty otherwise."""
    authority = [r for r in results if not r.recursive and r.query.purpose is Purpose.NAME]
    if not authority or not all(r.ok for r in authority):
        return set()
    return {r.answers for r in authority if r.answers}


def consistent(own: list[ProbeResult], along: list[ProbeResult]) -> bool:
    """Every server that answers ok gives the same answer set, and follows the same chain.

    An authoritative answer that stops at a CNAME out of its zone must agree with the
    start of everyone else's chain; a referral has nothing to compare.
    """
    views = {(r.chain, r.answers) for r in own if r.result is _OK and r.referral is None}
    if len(views) <= 1 and not along:
        return True  # one view: nothing to disagree (the common case)
    full = {view for view in views if view[1]}
    partial = {view[0] for view in views if not view[1]}
    answer_sets = {answers for _, answers in full}
    answer_sets |= {r.answers for r in along if r.ok and r.answers}
    if len(answer_sets) > 1 or len({chain for chain, _ in full}) > 1 or len(partial) > 1:
        return False
    return all(chain[: len(p)] == p for p in partial for chain, _ in full)


def zone_health(
    graph: Graph, zone: str, results: Results, canaries: list[ProbeResult] | None = None
) -> ZoneHealth:
    """Serials per authoritative server, whether all of them fail, and each resolver's reach."""
    soas: dict[str, ProbeResult | None] = {}
    failing = []
    servers = graph.zone_servers(zone)
    for server in servers:
        soa = soas[server.name] = results.get((zone, "SOA", server.key))
        if _server_failing_zone(graph, zone, server.key, soa, results):
            failing.append(server.name)
    primaries = tuple(s.name for s in servers if s.primary)
    copies = clocks.copies_of(zone, primaries, soas)
    serials = {s.name: copies.serials.get(s.name) for s in servers}
    known = {s for s in serials.values() if s is not None}
    dark = bool(servers) and len(failing) == len(servers)
    reach = {r.query.server.name: r.result in REACHED for r in canaries or []}
    asked = {s: r for s, r in soas.items() if r is not None}
    expire = copies.timers.expire if copies.timers else None
    return ZoneHealth(
        zone, serials, len(known) <= 1, dark, expire, tuple(failing), reach, asked,
        copies=copies,
    )  # fmt: skip


def _server_failing_zone(
    graph: Graph, zone: str, server: str, soa: ProbeResult | None, results: Results
) -> bool:
    """Failing by its SOA answer, or, where no SOA was asked, by its name answers."""
    if soa is not None:
        return not soa.ok
    mine = [r for (n, _t, s), r in results.items() if s == server and graph.zone_of(n) == zone]
    return bool(mine) and not any(r.answered and r.result is not Result.SERVFAIL for r in mine)


def service_health(graph: Graph, name: str, health: Health) -> ServiceHealth:
    """A service is as bad as its worst dependency in dnsmon's own view or in any of its
    client groups' views, and never up while a name it needs is answered from cache
    alone. Its backups are judged afterwards by ``judge``."""
    deps = graph.service_deps(name)
    state, reasons, cached, views = _needs(graph, name, deps, health)
    runway, countdown = _runway(graph, deps, health, cached)
    return ServiceHealth(
        name, state, tuple(reasons), runway, (), tuple(cached), views,
        _people(state, views, cached), countdown,
    )  # fmt: skip


def _runway(
    graph: Graph, deps: Deps, health: Health, cached: list[CachedAnswer]
) -> tuple[int | None, Countdown | None]:
    """The shortest clock among the cached answers and the secondaries' copies a
    service's names rest on, and what it follows."""
    first = runway_module.first_to_stop(cached)
    copies = _copies_left(graph, deps, health)
    if first is not None and first.seconds is not None:
        if copies is None or first.seconds <= copies[0]:
            return int(first.seconds), runway_module.cache_countdown(first)
    if copies is None:
        return None, None
    left, zone = copies
    expiry = health.zones[zone].expiry
    return left, runway_module.copies_countdown(zone, expiry.behind if expiry else ())


def _copies_left(graph: Graph, deps: Deps, health: Health) -> tuple[int, str] | None:
    """(seconds, zone) until the first secondary's copy of a zone these names need can
    expire, while that is still ahead (once it may have expired, the cache runway is
    what is left)."""
    running = health.copies_running
    if not running:
        return None  # the common case; and past it, the copies say nothing (caches do)
    zones = {z for key in deps.names for z in graph.zones_along(key, health.chains)}
    return min(((left, zone) for zone, left in running.items() if zone in zones), default=None)


def _people(
    state: ServiceState, views: tuple[ClientView, ...], cached: list[CachedAnswer]
) -> People:
    """use_backups when down for some client group (or down, where no group uses it);
    prepare while it works only from caches; else working, whatever operators see."""
    if any(v.state is ServiceState.DOWN for v in views) or (
        not views and state is ServiceState.DOWN
    ):
        return People.USE_BACKUPS
    return People.PREPARE if cached else People.WORKING


def _needs(
    graph: Graph, service: str, deps: Deps, health: Health
) -> tuple[ServiceState, list[str], list[CachedAnswer], tuple[ClientView, ...]]:
    """The state that ``deps`` allow, as dnsmon sees them and as ``service``'s client
    groups do; why; the cached answers they rest on; and each group's view.

    Where every client group of the service asks from its own source address, their
    answers stand for its names: dnsmon's own address may be in another view."""
    state, reasons = _dependency_state(deps, health, graph.sourced(service))
    cached = [c for key in sorted(deps.names) if key in health.names
              for c in health.names[key].cached]  # fmt: skip
    if cached and state is ServiceState.UP:
        state = ServiceState.DEGRADED
    reasons += _cache_reasons([c for c in cached if c.key in deps.direct])
    views = clients_module.views(graph, service, deps, health.lookups)
    for view in views:
        state = _worse(state, view.state)
        reasons += [f.reason for f in view.felt if not _said_already(f, health)]
    return state, reasons, cached, views


def _said_already(lookup: ClientLookup, health: Health) -> bool:
    """A failed lookup of a name that fails in dnsmon's own view too adds nothing to the
    reasons; one that fails (or is slow) where dnsmon's own view does not, does."""
    own = health.names.get(lookup.key)
    return lookup.result is Lookup.FAILS and own is not None and own.state is NameState.FAILING


def _dependency_state(deps: Deps, health: Health, sourced: bool) -> tuple[ServiceState, list[str]]:
    state = ServiceState.UP
    reasons: list[str] = []
    for key in sorted(deps.direct):  # the rest is judged through the services named
        found = health.names.get(key)
        if sourced and found is not None and found.sourced is not None:
            found = found.sourced
        if found is None or found.state is NameState.HEALTHY:
            continue
        state = _worse(state, NAME_TO_SERVICE[found.state])
        reasons.append(found.reason)
    for other in deps.services:
        dep = health.services.get(other)
        if dep is not None and dep.state is not ServiceState.UP:
            state = _worse(state, dep.state)
            reasons.append(f"needs service {other}, which is {dep.state}")
    return state, reasons


def _cache_reasons(cached: list[CachedAnswer]) -> list[str]:
    """One line per name answered from cache alone, and what is not known about it."""
    reasons = []
    by_key: dict[NameKey, list[CachedAnswer]] = {}
    for answer in cached:
        by_key.setdefault(answer.key, []).append(answer)
    for key, answers in by_key.items():
        servers = ", ".join(a.server for a in answers)
        reasons.append(f"{key[0]} {key[1]}: only cached answers left ({servers}): {answers[0].why}")
        unknown = [a.server for a in answers if not a.known]
        if unknown:
            reasons.append(
                f"{key[0]} {key[1]}: {', '.join(unknown)} serve{'s' if len(unknown) == 1 else ''} "
                "expired answers for an unknown time (set serve_stale for the resolver)"
            )
    return reasons


def backup_health(
    graph: Graph, service: str, backup: Backup, service_state: ServiceState, health: Health
) -> BackupHealth:
    """Usable, at risk (degraded, or sharing fate with a service that is not up), unusable."""
    deps = graph.deps_of(backup.depends_on)
    dep_state, reasons, _, _ = _needs(graph, service, deps, health)
    state = SERVICE_TO_BACKUP[dep_state]
    fate = graph.shared_fate(service, backup.depends_on, health.chains)
    if state is BackupState.USABLE and fate.level and service_state is not ServiceState.UP:
        state = BackupState.AT_RISK
        reasons.append(f"shares {fate.level} with {service}, which is {service_state}")
    return BackupHealth(
        backup.name, backup.description, state, fate, tuple(reasons), backup.instructions
    )


def _worse(a: ServiceState, b: ServiceState) -> ServiceState:
    return a if SERVICE_SEVERITY[a] >= SERVICE_SEVERITY[b] else b


def worst_service(states: list[ServiceState]) -> ServiceState:
    return max(states, key=SERVICE_SEVERITY.__getitem__, default=ServiceState.UP)
