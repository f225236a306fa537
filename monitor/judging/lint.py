"""What can be known without probing: shared fate, single points of failure, gaps,
rounds that cannot fit their interval, and reloads that drop most of what was watched.

Pure over the config's graph, but for one question to the kernel: whether this host holds
a client group's source address (a bind, which sends nothing). ``dnsmon lint`` prints the
findings (``outputs.render``) and exits 1 when there are any; ``serve`` logs
``reload_findings`` when it takes a new config.
"""

from __future__ import annotations

import math
import socket
from collections.abc import Iterator
from typing import Any

from monitor.config import Backup, Config, Defaults, Service
from monitor.config.values import format_duration
from monitor.judging import graph as graph_module
from monitor.judging import learned as learned_module
from monitor.judging.graph import Fate, Graph
from monitor.learning.aggregate import Aggregates
from monitor.probing.clientplan import servers_used
from monitor.states import CRITICALITY_RANK, Role, SharedFate

Finding = dict[str, Any]
BackupFate = tuple[Service, Backup, Fate]
DROPPED_NAMES_SHOWN = 3  # names quoted in a reload warning's message
DROPPED_NAMES_LISTED = 50  # names listed in its ``names`` field


def findings(config: Config, graph: Graph | None = None) -> list[Finding]:
    """Every static finding, most serious kind first."""
    graph = graph or graph_module.build(config)
    fates = list(_fates(graph))
    return [
        *_pacing_overruns(graph),
        *_timeout_overrun(graph.config),
        *_shared_fate(fates),
        *_criticality_inversions(graph),
        *_single_server_names(graph),
        *_single_server_zones(graph),
        *_resolvers_unused(graph),
        *_sources_not_here(graph),
        *_unwatched_authority(graph),
        *_services_without_backup(graph),
        *_backups_without_instructions(graph),
        *_shared_resolvers_only(fates),
    ]


def _finding(kind: str, subject: str, message: str, **extra: Any) -> Finding:
    return {"kind": kind, "subject": subject, "message": message, **extra}


def _shared_fate(fates: list[BackupFate]) -> Iterator[Finding]:
    """Backups that one DNS fault takes down with their service: the same name, zone or
    authoritative servers. Sharing only the resolvers is told once, at the end."""
    for service, backup, fate in fates:
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


def _fates(graph: Graph) -> Iterator[BackupFate]:
    """Every backup with its service and what one DNS fault would take from both."""
    for service in graph.services.values():
        for backup in service.backups:
            yield service, backup, graph.shared_fate(service.name, backup.depends_on)


def _shared_resolvers_only(fates: list[BackupFate]) -> Iterator[Finding]:
    """One line for what is true of nearly every backup: the same resolvers."""
    pairs = [f"{s.name}/{b.name}" for s, b, f in fates if f.level is SharedFate.SERVERS]
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
        if len({s.name for s in servers}) == 1:  # one machine, in one role or both
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


def _resolvers_unused(graph: Graph) -> Iterator[Finding]:
    """Resolvers a client group lists that its stub never asks (glibc and musl use three)."""
    for group in graph.client_groups:
        used = servers_used(group)
        unused = group.resolvers[len(used) :]
        if unused:
            yield _finding(
                "client_resolvers_unused",
                group.name,
                f"client group {group.name} lists {len(group.resolvers)} resolvers, but "
                f"{group.stub} asks only the first {len(used)}: {', '.join(unused)} never "
                "helps these clients",
            )


def _sources_not_here(graph: Graph) -> Iterator[Finding]:
    """A client group's source must be an address of this host, or nothing can be asked
    from it (and every lookup of the group would fail)."""
    for group in graph.client_groups:
        if group.source is None:
            continue
        family = socket.AF_INET6 if ":" in group.source else socket.AF_INET
        try:
            with socket.socket(family, socket.SOCK_DGRAM) as sock:
                sock.bind((group.source, 0))  # binding sends nothing anywhere
        except OSError as exc:
            yield _finding(
                "client_source_not_here",
                group.name,
                f"client group {group.name}: this host cannot ask from {group.source} "
                f"({exc.strerror or exc}); add the address to one of its interfaces, or "
                "every lookup of the group fails",
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


def _backups_without_instructions(graph: Graph) -> Iterator[Finding]:
    """``instructions`` are what people do to use a backup: the status page shows them
    when the service is down. A ``description`` only names it, so it is not asked for."""
    for service in graph.services.values():
        for backup in service.backups:
            if not backup.instructions.strip():
                yield _finding(
                    "backup_without_instructions",
                    f"{service.name}/{backup.name}",
                    f"backup {backup.name} of {service.name} does not say what people do: "
                    "add its instructions (for one that takes over by itself, say what "
                    "people notice)",
                    service=service.name,
                    backup=backup.name,
                )


def reload_findings(old: Config, new: Config, graph: Graph | None = None) -> list[Finding]:
    """What to warn about when ``new`` replaces the running ``old`` config; warnings, never
    reasons to refuse it: a new config that drops more than half of the names the running
    one watches (a truncated or wrong file?), and rounds of ``new`` that cannot fit its
    interval."""
    graph = graph or graph_module.build(new)
    return [*_names_dropped(old, new), *_pacing_overruns(graph), *_timeout_overrun(new)]


def _names_dropped(old: Config, new: Config) -> Iterator[Finding]:
    before = {(n.name, n.type) for n in old.names}
    dropped = sorted(before - {(n.name, n.type) for n in new.names})
    if len(dropped) * 2 <= len(before):
        return
    shown = [f"{name} {rdtype}" for name, rdtype in dropped]
    examples = ", ".join(shown[:DROPPED_NAMES_SHOWN])
    more = ", …" if len(shown) > DROPPED_NAMES_SHOWN else ""
    yield _finding(
        "names_dropped",
        new.source,
        f"the new config drops {len(dropped):,} of the {len(before):,} names the running one "
        f"watches ({examples}{more}); if that was not meant, the file may be cut short or "
        "the wrong one: restore it and reload again",
        dropped=len(dropped),
        watched=len(before),
        names=shown[:DROPPED_NAMES_LISTED],
    )


def _pacing_overruns(graph: Graph) -> Iterator[Finding]:
    """Servers asked more queries a round than ``max_qps_per_server`` lets fit in the
    interval: every round overruns, and each server is probed less often than set."""
    d = graph.config.defaults
    for (address, port), names, count in _queries_per_server(graph):
        seconds = count / d.max_qps_per_server
        if seconds < d.interval:
            continue
        who, it = names[0], "it"
        if len(names) > 1:  # the prober paces one address and port, whatever its names
            who, it = f"{' and '.join(names)} (one server, {address} port {port})", "them"
        # Twice the pacing time leaves half of each round for answers and retries.
        qps = math.ceil(2 * count / d.interval)
        interval = format_duration(math.ceil(2 * seconds))
        yield _finding(
            "pacing_overrun",
            " and ".join(names),
            f"{who} {'is' if it == 'it' else 'are'} asked {count:,} queries each round; at "
            f"max_qps_per_server {d.max_qps_per_server:g} that takes {_about(seconds)}, "
            f"{_against(seconds, d)}, so every round overruns: raise max_qps_per_server to "
            f"{qps:,} or the interval to {interval}, or ask fewer names of {it}",
            servers=names,
            queries=count,
            seconds=round(seconds, 3),
        )


def _queries_per_server(graph: Graph) -> Iterator[tuple[tuple[str, int], list[str], int]]:
    """Queries of one round by server address, as the prober paces them: names, zone
    serials and one canary per zone for each resolver (CNAME targets learned from
    answers come on top)."""
    per_server: dict[str, int] = {}
    layout = graph.layout
    for name in graph.config.names:  # counted, not planned: no query objects needed
        for server in layout.servers_for(name):
            per_server[server.name] = per_server.get(server.name, 0) + 1
    for zone in layout.zones:  # each zone's serial, and a canary per resolver
        for server in [*layout.zone_servers[zone], *layout.recursive]:
            per_server[server.name] = per_server.get(server.name, 0) + 1
    counts: dict[tuple[str, int], int] = {}
    names: dict[tuple[str, int], list[str]] = {}
    for server in graph.config.servers:
        key = (server.address, server.port)
        counts[key] = counts.get(key, 0) + per_server.get(server.name, 0)
        names.setdefault(key, []).append(server.name)
    for key, count in counts.items():
        if count:
            yield key, names[key], count


def _timeout_overrun(config: Config) -> Iterator[Finding]:
    """A server that stops answering holds each query for every attempt's timeout; if
    that is the whole interval, every round overruns just when rounds matter most."""
    d = config.defaults
    held = d.timeout * d.attempts
    if held < d.interval:
        return
    yield _finding(
        "timeout_overrun",
        "defaults",
        f"a query to a server that stops answering is given up only after {d.attempts} "
        f"attempts of {format_duration(d.timeout)} ({_about(held)}), {_against(held, d)}: "
        "while any server is down every round overruns; lower timeout or attempts, or raise "
        "the interval",
        seconds=held,
    )


def _about(seconds: float) -> str:
    return format_duration(round(seconds) if seconds >= 10 else round(seconds, 3))


def _against(seconds: float, defaults: Defaults) -> str:
    """How ``seconds`` compares with the interval, in words."""
    relation = "as long as" if seconds == defaults.interval else "longer than"
    return f"{relation} the interval ({format_duration(defaults.interval)})"


def from_learned(graph: Graph, learned: Aggregates, days: int = 7) -> list[Finding]:
    """What ``serve`` learned from the resolvers' traffic (its ``learning.state``), as
    findings of ``lint``: noise left out."""
    found = []
    for f in learned_module.findings(graph, learned, days):
        if f["kind"] == "noise":
            continue
        owner = f"{f['service']}/{f['backup']}" if f["backup"] else f["service"] or f["client"]
        found.append(_finding(f"learned_{f['kind']}", owner, _learned_message(f),
                              name=f"{f['name']} {f['type']}"))  # fmt: skip
    return found


def _learned_message(f: dict[str, Any]) -> str:
    who, what = learned_module.owner_text(f), f"{f['name']} {f['type']}"
    return {
        "dns_free_backup_resolves": f"{who} is said to need no DNS, but its machines "
        f"resolve {what}",
        "broken_dependency": f"{who} resolves {what}, which fails ({', '.join(f['rcodes'])})",
        "unmapped": f"{who} resolves {what}, which its depends_on does not list",
        "unused": f"{who} lists {what}, which its machines did not resolve lately",
    }[f["kind"]]
