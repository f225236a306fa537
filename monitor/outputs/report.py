"""The JSON report of SPEC.md, built from a judged round; and its exit code.

``check --format json``, ``/api/status`` and ``snapshot`` all publish this one structure.
"""

from __future__ import annotations

import calendar
import functools
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from monitor.config import ClientGroup, Config
from monitor.judging.causes import Cause
from monitor.judging.causes.recovery import recovery_seconds
from monitor.judging.causes.world import duration_words
from monitor.judging.causes.zones import copies_left_words
from monitor.judging.graph import Graph
from monitor.judging.health import (
    NAME_TO_SERVICE,
    Health,
    NameHealth,
    ServiceHealth,
    ZoneHealth,
    worst_service,
)
from monitor.judging.history import StateKey
from monitor.probing.plan import NameKey, Purpose
from monitor.probing.results import ProbeResult, ServerFacts, server_facts
from monitor.states import CRITICALITY_RANK, SERVICE_SEVERITY, BackupState, ServiceState

EXIT_CODES = {ServiceState.UP: 0, ServiceState.DEGRADED: 1, ServiceState.DOWN: 2}
EXIT_UNKNOWN = 3


@dataclass(frozen=True)
class Memory:
    """What a running monitor remembers across rounds (``serve``, ``watch``)."""

    since: Mapping[StateKey, float]  # when each thing entered its state
    tracking_since: float  # when this process began to watch: nothing older is known


def build(
    config: Config,
    graph: Graph,
    health: Health,
    started_at: float,
    duration: float,
    results: Iterable[ProbeResult] | None = None,
    causes: Iterable[Cause] = (),
    memory: Memory | None = None,
    facts: Mapping[str, ServerFacts] | None = None,
    names: bool = True,
) -> dict[str, Any]:
    """The report as plain JSON-ready data; ``results`` are every answer of the round
    (canaries and serials included), for the servers' part; ``memory`` gives ``since``;
    without ``names`` (a what-if's summary) it leaves out each name's answers."""
    results = (
        list(results)
        if results is not None
        else [r for name in health.names.values() for r in name.results]
    )
    facts = facts if facts is not None else server_facts(results)
    when = _Since(memory)
    services = sorted(health.services.values(), key=lambda s: _service_rank(graph, s))
    asked = _asked_as_clients(results)
    causes = list(causes)
    recovery = recovery_seconds(causes)
    return {
        "site": config.site,
        "started_at": iso_time(started_at),
        "duration_seconds": round(duration, 4),
        "status": overall_status(graph, health).value,
        "tracking_since": iso_time(memory.tracking_since) if memory else None,
        "causes": [cause_entry(c, when) for c in causes],
        "services": [service_entry(graph, s, when, recovery.get(s.name)) for s in services],
        "names": [name_entry(n, when, health, asked) for n in health.names.values()]
        if names
        else [],
        "zones": [zone_entry(z) for z in health.zones.values() if _zone_asked(z)],
        "warnings": warnings(graph, health),
        "notes": notes(graph, health, results, facts),
        "servers": server_entries(graph, facts),
        "clients": [client_entry(g) for g in graph.client_groups],
        "config_fingerprint": config.probe_fingerprint,
    }


def client_entry(group: ClientGroup) -> dict[str, Any]:
    """A client group as the report describes it: how its machines look names up."""
    return {
        "name": group.name, "stub": group.stub.value, "resolvers": list(group.resolvers),
        "timeout": group.timeout, "attempts": group.attempts, "rotate": group.rotate,
        "source": group.source, "lookup_budget": group.lookup_budget,
        "described": not group.stand_in,
    }  # fmt: skip


def _asked_as_clients(results: Iterable[ProbeResult]) -> dict[NameKey, list[ProbeResult]]:
    """The answers to questions asked the clients' way, by the name they were asked for."""
    asked: dict[NameKey, list[ProbeResult]] = {}
    for r in results:
        if r.query.purpose is Purpose.CLIENT:
            asked.setdefault((r.query.name, r.query.type), []).append(r)
    return asked


def server_entries(graph: Graph, facts: Mapping[str, ServerFacts]) -> list[dict[str, Any]]:
    """Each server asked this round, where it is, whether it answered at all, and what it
    showed it supports (EDNS, TCP, recursion; null where this round did not tell)."""
    return [
        {"name": s.name, "address": s.address, "port": s.port, "role": s.role_text,
         "answered": facts[s.name].answered, "edns": facts[s.name].edns,
         "tcp": facts[s.name].tcp, "recursion_available": facts[s.name].recursion_available}
        for s in graph.config.servers
        if s.name in facts
    ]  # fmt: skip


ISO_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


def iso_time(timestamp: float) -> str:
    return _iso_time(timestamp)


@functools.lru_cache(maxsize=64)  # a round's report gives the same few "since" times
def _iso_time(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime(ISO_FORMAT)


def epoch_of(iso: str) -> float:
    """The Unix time of a report's ``…Z`` timestamp: ``iso_time`` undone."""
    return float(calendar.timegm(time.strptime(iso, ISO_FORMAT)))


def overall_status(graph: Graph, health: Health) -> ServiceState:
    """The worst service; names no service needs count too, so nothing probed is ignored."""
    states = [s.state for s in health.services.values()]
    needed = {k for s in health.services for k in graph.needs(s)[0]}
    states += [NAME_TO_SERVICE[n.state] for k, n in health.names.items() if k not in needed]
    return worst_service(states)


def exit_code(report: dict[str, Any]) -> int:
    """0 up, 1 degraded or warnings, 2 down: the monitoring-plugin convention."""
    code = EXIT_CODES[ServiceState(report["status"])]
    return max(code, 1) if report["warnings"] and code == 0 else code


def _service_rank(graph: Graph, service: ServiceHealth) -> tuple[int, int, str]:
    criticality = graph.services[service.name].criticality
    return (-SERVICE_SEVERITY[service.state], CRITICALITY_RANK[criticality], service.name)


class _Since:
    """``since`` of each thing as ISO time, or None without memory (a single ``check``)."""

    def __init__(self, memory: Memory | None) -> None:
        self.memory = memory

    def __call__(self, *key: str) -> str | None:
        found = self.memory.since.get(key) if self.memory else None
        return iso_time(found) if found is not None else None

    def clock(self, *key: str) -> str | None:
        """The local time of day it began, as people say it: ``03:02``."""
        found = self.memory.since.get(key) if self.memory else None
        return clock_time(found) if found is not None else None


def clock_time(timestamp: float) -> str:
    return time.strftime("%H:%M %Z", time.localtime(timestamp))


def cause_entry(cause: Cause, when: _Since) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "kind": cause.kind.value,
        "target": cause.target,
        "summary": cause.told(when.clock("cause", *cause.key)),
        "since": when("cause", *cause.key),
        "services": list(cause.services),
    }
    if cause.seconds is not None:  # where a clock runs
        entry["seconds"] = cause.seconds
    if cause.commands:
        entry["commands"] = list(cause.commands)
    return entry


def service_entry(
    graph: Graph, service: ServiceHealth, when: _Since, recovery: int | None = None
) -> dict[str, Any]:
    """A service; ``recovery`` the seconds until resolvers stop handing out a fault that
    is fixed at its source (``recovery_seconds``)."""
    spec = graph.services[service.name]
    return {
        "name": service.name,
        "description": spec.description,
        "criticality": spec.criticality.value,
        "status": service.state.value,
        "since": when("service", service.name),
        "reasons": list(service.reasons),
        "runway_seconds": service.runway_seconds,
        # What the runway follows, and why it ends later than it did (serve, watch).
        "runway_follows": service.countdown.by if service.countdown else None,
        "runway_rose": service.runway_rose or None,
        "recovery_seconds": recovery,
        "people": service.people.value,
        "clients": [
            {
                "client": v.client,
                "status": v.state.value,
                "reasons": list(v.reasons),
                "lookup_seconds": v.lookup_seconds,
            }
            for v in service.clients
        ],  # fmt: skip
        "backups": [
            {
                "name": b.name,
                "description": b.description,
                "status": b.state.value,
                "since": when("backup", f"{service.name}/{b.name}"),
                "shared_fate": b.fate.level.value if b.fate.level else None,
                "shared": list(b.fate.shared),
                "reasons": list(b.reasons),
                "instructions": b.instructions,
            }
            for b in service.backups
        ],
    }


def name_entry(
    name: NameHealth,
    when: _Since,
    health: Health | None = None,
    asked: Mapping[NameKey, list[ProbeResult]] | None = None,
) -> dict[str, Any]:
    """A name, its answers (dnsmon's own, then those asked the clients' way) and how each
    client group's lookup of it went."""
    results = [result_entry(r) for r in name.results]
    results += [result_entry(r) for r in (asked or {}).get(name.key, ())]
    return {
        "name": name.key[0],
        "type": name.key[1],
        "status": name.state._value_,  # not ``value``, a property: read for every name
        "since": when("name", f"{name.key[0]} {name.key[1]}"),
        "consistent": name.consistent,
        "healthy_servers": name.healthy_servers,
        "servers": name.servers,
        "chain": list(name.chain),
        "results": results,
        "lookups": lookup_entries(name.key, health),
    }


def lookup_entries(key: NameKey, health: Health | None) -> list[dict[str, Any]]:
    if health is None:
        return []
    return [
        {"client": found.client, "result": found.result._value_, "seconds": found.seconds,
         "answered_by": found.answered_by, "path": found.path}
        for lookups in health.lookups.values()
        if (found := lookups.get(key)) is not None
    ]  # fmt: skip


def result_entry(result: ProbeResult) -> dict[str, Any]:
    entry = {
        "server": result.query.server.name,
        "role": result.query.server.role._value_,  # as for names: read for every result
        "result": result.result._value_,
        "rtt_seconds": round(result.rtt_seconds, 6) if result.rtt_seconds is not None else None,
        "ttl": result.ttl,
        "answers": list(result.answers),
        "ede": [e.as_json() for e in result.ede],
        "detail": result.detail,
    }
    if result.query.purpose is Purpose.CHAIN:  # asked for a CNAME target in another zone
        entry["qname"] = result.query.name
    if result.query.purpose is Purpose.CLIENT:  # asked the way these client groups ask
        entry["client"] = result.query.clients
        entry["asked"] = str(result.query.shape)
    if result.chain:
        entry["chain"] = list(result.chain)
    if result.referral is not None:
        entry["referral"] = result.referral
    return entry


def zone_entry(zone: ZoneHealth) -> dict[str, Any]:
    return {
        "name": zone.name,
        "serials": zone.serials,
        "consistent": zone.consistent,
        "dark": zone.dark,
        "failing_servers": list(zone.failing_servers),
        "reach": zone.reach,
        "expire_seconds": zone.expire_seconds,
        "primary": zone.primary,
        "expires_in_seconds": zone.expires_in_seconds,
        "signatures_expire_in_seconds": zone.signatures_expire_in_seconds,
    }


def _signatures_warning(zone: ZoneHealth, warn_before: float) -> list[str]:
    left = zone.signatures_expire_in_seconds
    if left is None or left > warn_before:
        return []
    if left <= 0:
        return [f"zone {zone.name}: its signatures expired {duration_words(-left)} ago"]
    return [f"zone {zone.name}: its signatures expire in {duration_words(left)}; re-sign it"]


def _zone_asked(zone: ZoneHealth) -> bool:
    return any(s is not None for s in zone.serials.values()) or zone.dark or bool(zone.reach)


def warnings(graph: Graph, health: Health) -> list[str]:
    """What is not a state change but deserves a look: lost redundancy, disagreement,
    resolvers that cannot reach an authority. Any warning makes ``check`` exit 1."""
    out = []
    for key, name in health.names.items():
        if name.healthy_servers == 1 and name.servers > 1:
            # The resolver left; for a name asked only of authoritative servers, the server.
            ok = [r for r in name.results if r.ok]
            survivor = next((r for r in ok if r.recursive), ok[0]).query.server.name
            out.append(
                f"{key[0]} {key[1]}: only {survivor} answers ok; one more fault and it fails"
            )
        if not name.consistent:
            out.append(f"{key[0]} {key[1]}: servers give different answers")
    for zone in health.zones.values():
        out.extend(_signatures_warning(zone, graph.config.defaults.warn_before))
        out.extend(_zone_clock_warning(zone, health))
        out.extend(_expiry_warning(zone, graph.config.defaults.warn_before))
        out.extend(_reach_warning(zone))
        if not zone.consistent:
            serials = ", ".join(f"{s} {v}" for s, v in zone.serials.items() if v is not None)
            out.append(f"zone {zone.name}: serials differ ({serials})")
    for service in health.services.values():
        for backup in service.backups:
            if service.state is ServiceState.UP and backup.state is not BackupState.USABLE:
                out.append(f"backup {backup.name} of {service.name} is {backup.state}")
    return out


def _reach_warning(zone: ZoneHealth) -> list[str]:
    lost = sorted(server for server, reached in zone.reach.items() if not reached)
    if not lost or zone.dark:  # a dark zone says it already
        return []
    who = ", ".join(lost)
    return [
        f"zone {zone.name}: {who} cannot reach its authoritative servers (a never-cached "
        f"name was not answered): names not already in {'their' if len(lost) > 1 else 'its'} "
        "cache fail now"
    ]


def notes(
    graph: Graph, health: Health, results: list[ProbeResult], facts: Mapping[str, ServerFacts]
) -> list[str]:
    """What dnsmon cannot see, and how to let it: not faults, so no effect on exit codes."""
    out = []
    for key, name in health.names.items():
        for target in name.chain:
            if graph.zone_of(target) is None:
                out.append(
                    f"{key[0]} {key[1]}: its CNAME chain goes to {target}, in a zone no listed "
                    "server serves; dnsmon sees that part only through the resolvers"
                )
                break
    delegated = {r.referral: r.query.server.name for r in results if r.referral}
    for zone, parent in sorted(delegated.items()):
        out.append(
            f"{zone} is delegated by {parent} to servers the config does not list; add them "
            f"with zones: [{zone}] so dnsmon asks them directly"
        )
    for server, found in sorted(facts.items()):
        if found.edns is False:
            out.append(f"{server} does not speak EDNS; dnsmon asks it without (as clients must)")
    return out


def state_index(report: dict[str, Any]) -> dict[tuple[str, str], tuple[str, str]]:
    """(kind, name) → (state, why) for every service, backup and name in a report."""
    states: dict[tuple[str, str], tuple[str, str]] = {}
    for s in report["services"]:
        states[("service", s["name"])] = (s["status"], "; ".join(s["reasons"]))
        for b in s["backups"]:
            states[("backup", f"{s['name']}/{b['name']}")] = (b["status"], "; ".join(b["reasons"]))
    for n in report["names"]:
        bad = [f"{r['server']} {r['result']}" for r in n["results"] if r["result"] != "ok"]
        states[("name", f"{n['name']} {n['type']}")] = (n["status"], ", ".join(bad))
    return states


def _zone_clock_warning(zone: ZoneHealth, health: Health) -> list[str]:
    """Which clock runs out first when a zone's authoritative servers fail.

    With all of them down, resolver caches are the last line: the cache runway. With
    only some down, the others keep serving — if a failed one is the primary, until
    the SOA expire timer of the secondaries runs out, usually days rather than minutes.
    """
    if not zone.failing_servers:
        return []
    failing = ", ".join(zone.failing_servers)
    if zone.dark:
        runways = [s.runway_seconds for s in health.services.values()
                   if s.runway_seconds is not None]  # fmt: skip
        if runways:
            left = f"the first needed cached answer expires in {min(runways)}s"
        else:
            left = "resolver caches no longer hide it"
        return [f"zone {zone.name}: every authoritative server fails ({failing}); {left}"]
    if zone.expiry is not None:
        return []  # the copies' own clock says it (_expiry_warning)
    if zone.primary is not None:  # a secondary: the others serve on, with no clock running
        return [f"zone {zone.name}: {failing} not answering; the other servers serve the zone"]
    expire = duration_words(zone.expire_seconds) if zone.expire_seconds else "the SOA expire"
    return [
        f"zone {zone.name}: {failing} not answering; if that is the primary, the other "
        f"servers stop serving the zone {expire} after their last refresh: list the primary "
        "(primary: true) and dnsmon counts that down"
    ]


def _expiry_warning(zone: ZoneHealth, warn_before: float) -> list[str]:
    """The secondaries' copies running out, under ``warn_before`` or when not known."""
    expiry = zone.expiry
    if expiry is None or (expiry.known and expiry.seconds > warn_before):
        return []
    return [f"zone {zone.name}: the copies on {', '.join(expiry.behind)} "
            f"{copies_left_words(expiry)}"]  # fmt: skip
