"""What can be known without probing: shared fate, single points of failure, gaps.

Pure over the config's graph; ``dnsmon lint`` prints the findings (``outputs.render``) and
exits 1 when there are any.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from monitor.config import Config
from monitor.judging import graph as graph_module
from monitor.judging.graph import Graph
from monitor.states import CRITICALITY_RANK, Role

Finding = dict[str, Any]


def findings(config: Config, graph: Graph | None = None) -> list[Finding]:
    """Every static finding, most serious kind first."""
    graph = graph or graph_module.build(config)
    return [
        *_shared_fate(graph),
        *_criticality_inversions(graph),
        *_single_server_names(graph),
        *_single_server_zones(graph),
        *_services_without_backup(graph),
        *_undescribed_backups(graph),
    ]


def _finding(kind: str, subject: str, message: str, **extra: Any) -> Finding:
    return {"kind": kind, "subject": subject, "message": message, **extra}


def _shared_fate(graph: Graph) -> Iterator[Finding]:
    for service in graph.services.values():
        for backup in service.backups:
            fate = graph.shared_fate(service.name, backup.depends_on)
            if fate.level is None:
                continue
            shared = ", ".join(fate.shared)
            yield _finding(
                "shared_fate",
                f"{service.name}/{backup.name}",
                f"backup {backup.name} shares {fate.level} with {service.name} ({shared}): "
                f"a DNS fault there takes both",
                service=service.name,
                backup=backup.name,
                level=fate.level.value,
                shared=list(fate.shared),
                criticality=service.criticality.value,
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
