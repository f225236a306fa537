"""What can be known without probing: shared fate, single points of failure, gaps.

Pure over the config's graph; ``dnsmon lint`` prints the findings (``outputs.render``) and
exits 1 when there are any.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from monitor.config import Backup, Config, Service
from monitor.judging import graph as graph_module
from monitor.judging.graph import Fate, Graph
from monitor.states import CRITICALITY_RANK, Role, SharedFate

Finding = dict[str, Any]


def findings(config: Config, graph: Graph | None = None) -> list[Finding]:
    """Every static finding, most serious kind first."""
    graph = graph or graph_module.build(config)
    return [
        *_shared_fate(graph),
        *_criticality_inversions(graph),
        *_single_server_names(graph),
        *_single_server_zones(graph),
        *_unwatched_authority(graph),
        *_services_without_backup(graph),
        *_undescribed_backups(graph),
        *_shared_resolvers_only(graph),
    ]


def _finding(kind: str, subject: str, message: str, **extra: Any) -> Finding:
    return {"kind": kind, "subject": subject, "message": message, **extra}


def _shared_fate(graph: Graph) -> Iterator[Finding]:
    """Backups that one DNS fault takes down with their service: the same name, zone or
    authoritative servers. Sharing only the resolvers is told once, at the end."""
    for service, backup, fate in _fates(graph):
        if fate.level is None or fate.level is SharedFate.SERVERS:
            continue
        shared = ", ".join(fate.shared)
        yield _finding(
            "shared_fate",
            f"{service.name}/{backup.name}",
            f"backup {backup.name} shares {_LEVEL_WORDS[fate.level]} with {service.name} "
            f"({shared}): a DNS fault there takes both",
            service=service.name,
            backup=backup.name,
            level=fate.level.value,
            shared=list(fate.shared),
            criticality=service.criticality.value,
        )


_LEVEL_WORDS = {
    SharedFate.NAME: "a name",
    SharedFate.ZONE: "a zone",
    SharedFate.AUTHORITATIVE: "the authoritative servers",
}


def _fates(graph: Graph) -> Iterator[tuple[Service, Backup, Fate]]:
    for service in graph.services.values():
        for backup in service.backups:
            yield service, backup, graph.shared_fate(service.name, backup.depends_on)


def _shared_resolvers_only(graph: Graph) -> Iterator[Finding]:
    """One line for what is true of nearly every backup: the same resolvers."""
    pairs = [f"{s.name}/{b.name}" for s, b, f in _fates(graph) if f.level is SharedFate.SERVERS]
    if pairs:
        yield _finding(
            "shared_resolvers",
            ", ".join(pairs),
            f"{len(pairs)} backup{'s' if len(pairs) > 1 else ''} share only the resolvers with "
            f"their service ({', '.join(pairs[:5])}{', …' if len(pairs) > 5 else ''}): "
            "they survive any fault of the authoritative servers, not one of the resolvers",
            backups=pairs,
        )


def _unwatched_authority(graph: Graph) -> Iterator[Finding]:
    """Domains whose authority dnsmon cannot ask: failures show only once caches expire."""
    unwatched: dict[str, list[str]] = {}
    for key in graph.names:
        for name in graph.names_along(key):
            if graph.zone_of(name) is None and key[1] != "SOA":
                unwatched.setdefault(graph.fate_zone(name), []).append(f"{key[0]} {key[1]}")
                break
    for domain, keys in sorted(unwatched.items()):
        names = ", ".join(keys[:3]) + (", …" if len(keys) > 3 else "")
        yield _finding(
            "no_authoritative_server",
            domain,
            f"no listed authoritative server serves {domain} ({names}): a failing authority "
            "shows only once resolver caches run out; list its servers with role: "
            "authoritative and zones if you can ask them",
            names=keys,
        )


def _criticality_inversions(graph: Graph) -> Iterator[Finding]:
    for service in graph.services.values():
        for dep in graph.service_deps(service.name).services:
            other = graph.services[dep]
            if CRITICALITY_RANK[other.criticality] > CRITICALITY_RANK[service.criticality]:
                yield _finding(
                    "criticality_inversion",
                    service.name,
                    f"{service.criticality} service {service.name} depends on "
                    f"{other.criticality} service {dep}",
                )


def _single_server_names(graph: Graph) -> Iterator[Finding]:
    for key in graph.names:
        servers = graph.servers_of(key)
        resolvers = [s for s in servers if s.role is Role.RECURSIVE]
        if len(servers) == 1:
            yield _finding(
                "single_server_name",
                f"{key[0]} {key[1]}",
                f"{key[0]} {key[1]} is asked of {servers[0].name} only: "
                f"nothing shows whether another server could answer it",
            )
        elif len(resolvers) == 1 and len(graph.layout.recursive) > 1:
            yield _finding(
                "single_resolver_name",
                f"{key[0]} {key[1]}",
                f"{key[0]} {key[1]} is asked of one resolver only ({resolvers[0].name}): "
                f"clients using another resolver are not covered",
            )


def _single_server_zones(graph: Graph) -> Iterator[Finding]:
    for zone in graph.zones:
        servers = graph.zone_servers(zone)
        if len(servers) == 1:
            yield _finding(
                "single_server_zone",
                zone,
                f"zone {zone} has one authoritative server ({servers[0].name}): "
                f"no redundancy once caches expire",
            )


def _services_without_backup(graph: Graph) -> Iterator[Finding]:
    for service in graph.services.values():
        if not service.backups:
            yield _finding(
                "no_backup",
                service.name,
                f"{service.criticality} service {service.name} has no backup routine",
            )


def _undescribed_backups(graph: Graph) -> Iterator[Finding]:
    for service in graph.services.values():
        for backup in service.backups:
            if not backup.description.strip():
                yield _finding(
                    "backup_undescribed",
                    f"{service.name}/{backup.name}",
                    f"backup {backup.name} of {service.name} does not say what people do",
                )
