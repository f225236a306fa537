"""Results + graph → states of names, zones, services and backups. Pure.

The same functions judge a real round (``check``, ``serve``) and an imagined one
(``impact``), so a what-if and a real failure can never disagree.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from monitor.config import Backup
from monitor.judging.graph import Deps, Fate, Graph, NameKey
from monitor.probing.results import ProbeResult
from monitor.states import (
    SERVICE_SEVERITY,
    BackupState,
    NameState,
    Result,
    Role,
    ServiceState,
)

Results = dict[tuple[str, str, str], ProbeResult]

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


@dataclass(frozen=True)
class NameHealth:
    key: NameKey
    state: NameState
    results: tuple[ProbeResult, ...]
    healthy_servers: int
    consistent: bool

    @property
    def reason(self) -> str:
        """``ehr-db.region.internal A: ns1 timeout, ns2 timeout``: the servers not ok."""
        bad = [f"{r.query.server.name} {r.result}" for r in self.results if not r.ok]
        return f"{self.key[0]} {self.key[1]}: {', '.join(bad)}"


@dataclass(frozen=True)
class ZoneHealth:
    name: str
    serials: dict[str, int | None]
    consistent: bool
    dark: bool  # every authoritative server of the zone failing
    expire_seconds: int | None = None  # SOA expire: how long secondaries serve without a primary
    failing_servers: tuple[str, ...] = ()


@dataclass(frozen=True)
class BackupHealth:
    name: str
    description: str
    state: BackupState
    fate: Fate
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class ServiceHealth:
    name: str
    state: ServiceState
    reasons: tuple[str, ...]
    runway_seconds: int | None
    backups: tuple[BackupHealth, ...]


@dataclass
class Health:
    """The judged state of everything in one round."""

    names: dict[NameKey, NameHealth] = field(default_factory=dict)
    zones: dict[str, ZoneHealth] = field(default_factory=dict)
    services: dict[str, ServiceHealth] = field(default_factory=dict)


def judge(graph: Graph, results: Results, services: list[str] | None = None) -> Health:
    """Judge a round; ``services`` limits the verdict to those services (and what they need)."""
    health = Health()
    for key in graph.names:
        found = [results[(key[0], key[1], s.name)] for s in graph.servers_of(key)
                 if (key[0], key[1], s.name) in results]  # fmt: skip
        if found:
            health.names[key] = name_health(key, found)
    for zone in graph.zones:
        health.zones[zone] = zone_health(graph, zone, results)
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
    return health


def _needed_by(graph: Graph, name: str, wanted: set[str]) -> bool:
    """Whether a wanted service, or one of its backups, needs service ``name``."""
    return any(name in graph.needs(w)[1] for w in wanted)


def name_health(key: NameKey, results: list[ProbeResult]) -> NameHealth:
    """Healthy when every server is ok; degraded when some resolver is; else failing."""
    ok = [r for r in results if r.ok]
    recursive = [r for r in results if r.query.server.role is Role.RECURSIVE]
    judged = recursive or results  # a name asked only of authoritatives is judged by them
    if len(ok) == len(results):
        state = NameState.HEALTHY
    elif any(r.ok for r in judged):
        state = NameState.DEGRADED
    else:
        state = NameState.FAILING
    # An authoritative answer that stops at an out-of-zone CNAME has no set to compare.
    consistent = len({r.answers for r in ok if r.answers}) <= 1
    return NameHealth(key, state, tuple(results), len(ok), consistent)


def zone_health(graph: Graph, zone: str, results: Results) -> ZoneHealth:
    """Serials per authoritative server, and whether all of them are failing."""
    serials: dict[str, int | None] = {}
    failing = []
    expire = None
    servers = graph.zone_servers(zone)
    for server in servers:
        soa = results.get((zone, "SOA", server.name))
        serials[server.name] = soa.serial if soa is not None and soa.ok else None
        expire = soa.soa_expire if soa is not None and soa.soa_expire else expire
        if _server_failing_zone(graph, zone, server.name, soa, results):
            failing.append(server.name)
    known = {s for s in serials.values() if s is not None}
    dark = bool(servers) and len(failing) == len(servers)
    return ZoneHealth(zone, serials, len(known) <= 1, dark, expire, tuple(failing))


def _server_failing_zone(
    graph: Graph, zone: str, server: str, soa: ProbeResult | None, results: Results
) -> bool:
    """Failing by its SOA answer, or, where no SOA was asked, by its name answers."""
    if soa is not None:
        return not soa.ok
    mine = [r for (n, _t, s), r in results.items() if s == server and graph.zone_of(n) == zone]
    return bool(mine) and not any(r.answered and r.result is not Result.SERVFAIL for r in mine)


def service_health(graph: Graph, name: str, health: Health) -> ServiceHealth:
    """A service is as bad as its worst dependency; a dark zone it needs makes it degraded.

    Its backups are judged afterwards by ``judge``, once every service has a state.
    """
    deps = graph.service_deps(name)
    state, reasons = _dependency_state(deps, health)
    runway = cache_runway(graph, deps, health)
    if runway is not None and state is ServiceState.UP:
        state = ServiceState.DEGRADED
    return ServiceHealth(name, state, tuple(reasons), runway, ())


def _dependency_state(deps: Deps, health: Health) -> tuple[ServiceState, list[str]]:
    state = ServiceState.UP
    reasons: list[str] = []
    for key in sorted(deps.direct):  # the rest is judged through the services named
        found = health.names.get(key)
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


def cache_runway(graph: Graph, deps: Deps, health: Health) -> int | None:
    """Seconds until the first needed cached answer expires, while its zone is dark."""
    ttls: list[int] = []
    for key in deps.names:
        zone = graph.zone_of(key[0])
        found = health.names.get(key)
        if zone is None or found is None or not health.zones[zone].dark:
            continue
        ttls += [r.ttl for r in found.results if r.ttl is not None and _cached_answer(r)]
    return min(ttls) if ttls else None


def _cached_answer(result: ProbeResult) -> bool:
    return result.ok and result.ttl is not None and result.query.server.role is Role.RECURSIVE


def backup_health(
    graph: Graph, service: str, backup: Backup, service_state: ServiceState, health: Health
) -> BackupHealth:
    """Usable, at risk (degraded, or sharing fate with a service that is not up), unusable."""
    deps = graph.deps_of(backup.depends_on)
    dep_state, reasons = _dependency_state(deps, health)
    if cache_runway(graph, deps, health) is not None and dep_state is ServiceState.UP:
        dep_state = ServiceState.DEGRADED
    state = SERVICE_TO_BACKUP[dep_state]
    fate = graph.shared_fate(service, backup.depends_on)
    if state is BackupState.USABLE and fate.level and service_state is not ServiceState.UP:
        state = BackupState.AT_RISK
        reasons.append(f"shares {fate.level} with {service}, which is {service_state}")
    return BackupHealth(backup.name, backup.description, state, fate, tuple(reasons))


def _worse(a: ServiceState, b: ServiceState) -> ServiceState:
    return a if SERVICE_SEVERITY[a] >= SERVICE_SEVERITY[b] else b


def worst_service(states: list[ServiceState]) -> ServiceState:
    return max(states, key=SERVICE_SEVERITY.__getitem__, default=ServiceState.UP)
