"""GO or NO-GO before a planned change: today's answers held against what the change takes.

One real round (``now``) says what is healthy, how long caches hold each answer and what
the clocks read; the change imagined on the same config (``during``, as ``impact``
judges it once caches expire) says what it takes down. Pure: the ``preflight`` verb
probes and saves the snapshot.

NO-GO: a service goes down within the window (the answers resolvers cache now, and
their stale windows, counted), a secondary's copy or a zone's signatures expire within
it. GO with warnings: redundancy lost during the change, a DNS not healthy now, a backup
of a critical service that the change takes too, a rollback slower than the window.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from monitor.judging.causes.world import and_words, duration_words
from monitor.judging.causes.zones import copies_left_words
from monitor.judging.clocks import earliest
from monitor.judging.graph import Graph
from monitor.judging.health import Health, NameHealth, ServiceHealth
from monitor.judging.impact import Failure
from monitor.probing.plan import NameKey
from monitor.states import BackupState, Criticality, NameState, Result, ServiceState

NO_GO, WARNING = "no_go", "warning"


@dataclass(frozen=True)
class Reason:
    kind: str  # service_down, runs_on_caches, redundancy_lost, not_healthy, zone_expiring,
    #            signatures_expiring, backup_shared_fate, rollback
    level: str  # no_go or warning
    text: str
    seconds: int | None = None

    def as_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "level": self.level, "text": self.text,
                "seconds": self.seconds}  # fmt: skip


@dataclass(frozen=True)
class Preflight:
    reasons: tuple[Reason, ...]
    rollback_seconds: int | None  # the longest TTL (or negative TTL) the change touches
    rollback_names: tuple[str, ...] = field(default=())  # "ehr-db.region.internal A (TTL 86400)"

    @property
    def verdict(self) -> str:
        levels = {r.level for r in self.reasons}
        return "no_go" if NO_GO in levels else "go_with_warnings" if levels else "go"

    @property
    def exit_code(self) -> int:
        return {"go": 0, "go_with_warnings": 1, "no_go": 2}[self.verdict]


def judge(
    graph: Graph, now: Health, now_status: str, first_cause: str, during: Health,
    failures: list[Failure], window: float,
) -> Preflight:  # fmt: skip
    """The verdict on ``failures`` lasting ``window`` seconds, from today's round
    (``now``, whose report status is ``now_status``) and the change imagined (``during``)."""
    reasons: list[Reason] = []
    for after in during.services.values():
        reasons += _service(graph, now, during, after, window)
    if now_status != "up":
        said = f"the DNS is {now_status} before the change: {first_cause}"
        reasons.append(Reason("not_healthy", WARNING, said))
    reasons += _copies(graph, now, failures, window)
    reasons += _signatures(now, window)
    reasons += _shared_fate(graph, during)
    rollback, longest = _rollback(graph, now, failures)
    if rollback is not None and rollback > window:
        reasons.append(Reason(
            "rollback", WARNING,
            f"a rollback reaches the clients that cached what the change touches only after "
            f"{duration_words(rollback)} ({longest[0]}): lower those TTLs at least that long "
            "before the change", rollback,
        ))  # fmt: skip
    return Preflight(tuple(reasons), rollback, tuple(longest))


def _service(
    graph: Graph, now: Health, during: Health, after: ServiceHealth, window: float
) -> list[Reason]:
    """Down within the window once the answers cached now run out; or degraded."""
    if after.state is ServiceState.UP:
        return []
    label = f"{after.name} ({graph.services[after.name].criticality.value})"
    lost = [k for k in graph.service_deps(after.name).names if _lost(during.names.get(k))]
    if after.state is ServiceState.DOWN or lost:
        lasts = min((_cached_for(graph, now, k, after.name) for k in lost), default=0)
        if lasts < window:
            return [Reason(
                "service_down", NO_GO,
                f"{label} goes down {duration_words(lasts)} into the change at the latest, "
                "once the answers resolvers cache now (and serve stale) run out",
                int(lasts),
            )]  # fmt: skip
        return [Reason("runs_on_caches", WARNING,
                       f"{label} works only from resolver caches during the change; they hold "
                       f"for {duration_words(lasts)}", int(lasts))]  # fmt: skip
    return [
        Reason(
            "redundancy_lost",
            WARNING,
            f"{label} loses redundancy during the change: {'; '.join(after.reasons[:2])}",
        )
    ]


def _lost(name: NameHealth | None) -> bool:
    """No resolver answers it fresh during the change: only caches (or stale) hold it."""
    return (
        name is not None
        and name.state is not NameState.HEALTHY
        and not any(r.ok for r in name.results if r.recursive)
    )


def _cached_for(graph: Graph, now: Health, key: NameKey, service: str) -> float:
    """How long the clients of ``service`` still get ``key`` from caches once its
    authority is gone: per client group, the longest any of its resolvers holds the
    answer it hands out now (remaining TTL, plus its stale window unless it already
    answers stale); the shortest over the groups."""
    found = now.names.get(key)
    if found is None:
        return 0.0
    held: dict[str, float] = {}
    for r in found.results:
        if r.recursive and r.serves_clients:
            stale = 0.0 if r.result is Result.STALE else (r.query.server.serve_stale or 0.0)
            held[r.query.server.name] = float(r.ttl or 0) + stale
    groups = set(graph.groups_of(service))
    per_group = [max((held.get(s, 0.0) for s in g.resolvers), default=0.0)
                 for g in graph.client_groups if g.name in groups]  # fmt: skip
    return min(per_group, default=max(held.values(), default=0.0))


def _copies(graph: Graph, now: Health, failures: list[Failure], window: float) -> list[Reason]:
    """Secondaries' copies that expire within the window: running out now, or once the
    change stops their primary (at the earliest one SOA expire less a refresh)."""
    stopped = {f.name for f in failures if f.kind == "server"}
    out = []
    for zone in now.zones.values():
        expiry, timers = zone.expiry, zone.copies.timers if zone.copies else None
        if expiry is not None and expiry.seconds < window:
            said = f"the secondaries' copies of {zone.name} are running out now: they "
            said += copies_left_words(expiry)
            out.append(Reason("zone_expiring", NO_GO, said, max(0, expiry.seconds)))
            continue
        primaries = set(zone.copies.primaries) if zone.copies else set()
        if not primaries & stopped or primaries - stopped or timers is None:
            continue
        least = earliest(timers)
        if least < window:
            out.append(Reason(
                "zone_expiring", NO_GO,
                f"the change stops {and_words(sorted(primaries))}, the primary of {zone.name}: "
                f"its secondaries' copies expire {duration_words(least)} later at the "
                f"earliest (SOA expire {timers.expire} s less one refresh {timers.refresh} s)",
                least,
            ))  # fmt: skip
    return out


def _signatures(now: Health, window: float) -> list[Reason]:
    return [
        Reason(
            "signatures_expiring",
            NO_GO,
            f"the signatures of {zone.name} expire within the window "
            f"({duration_words(max(0, zone.signatures_expire_in_seconds))} left)",
            zone.signatures_expire_in_seconds,
        )  # fmt: skip
        for zone in now.zones.values()
        if zone.signatures_expire_in_seconds is not None
        and zone.signatures_expire_in_seconds < window
    ]


def _shared_fate(graph: Graph, during: Health) -> list[Reason]:
    """Backups of critical services that the change takes as well."""
    out = []
    for name, service in during.services.items():
        if graph.services[name].criticality is not Criticality.CRITICAL:
            continue
        for backup in service.backups:
            if backup.state is not BackupState.USABLE:
                out.append(Reason(
                    "backup_shared_fate", WARNING,
                    f"backup {backup.name} of {name} is {backup.state} during the change "
                    f"too: {'; '.join(backup.reasons[:1]) or 'it needs what the change takes'}",
                ))  # fmt: skip
    return out


def _rollback(graph: Graph, now: Health, failures: list[Failure]) -> tuple[int | None, list[str]]:
    """The longest TTL (or negative TTL) among what the change touches, and what has it."""
    zones = {f.name for f in failures if f.kind == "zone"}
    for f in failures:
        if f.kind == "server" and graph.config.server(f.name).authoritative:
            zones |= set(graph.config.server(f.name).zones)
    keys = {k for k in now.names if graph.zone_of(k[0]) in zones}
    keys |= {k for f in failures if f.kind == "name" for k in graph.keys_by_name.get(f.name, ())}
    held: list[tuple[int, str]] = []
    for key in keys:
        ttl = _full_ttl(now, key)
        if ttl is not None:
            held.append((ttl, f"{key[0]} {key[1]} TTL {ttl} s"))
    touched = zones | {z for k in keys if (z := graph.zone_of(k[0])) is not None}
    for zone in sorted(touched):
        health = now.zones.get(zone)
        negative = health.negative_ttl if health is not None else None
        if negative is not None:
            held.append((negative, f"negative answers in {zone} cached {negative} s"))
    if not held:
        return None, []
    held.sort(key=lambda item: -item[0])
    return held[0][0], [text for _, text in held[:5]]


def _full_ttl(now: Health, key: NameKey) -> int | None:
    """The TTL the authoritative servers give (resolvers hand out what is left of it)."""
    found = now.names.get(key)
    if found is None:
        return None
    ttls = [r.ttl for r in found.results if r.ok and r.ttl is not None and not r.recursive]
    ttls = ttls or [r.ttl for r in found.results if r.ok and r.ttl is not None]
    return max(ttls, default=None)
