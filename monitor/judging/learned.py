"""What was learned, held against the map: names the map lacks, names nobody resolves,
backups said to need no DNS that use it, dependencies already broken, and noise. Pure.

What an owner "lacks" is a name (with its type) that is not in its own ``depends_on``
nor reached through a ``service:`` dependency of it; a client group's map is what the
services it uses need. Only the window of ``days`` back from the newest message read
counts, and "not resolved" is said only of owners heard in that window.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from monitor.judging.graph import Graph, NameKey
from monitor.learning.aggregate import FAILED, Aggregates, Seen
from monitor.learning.messages import REVERSE
from monitor.learning.owners import Owner

DAY = 86400.0

KINDS = ("dns_free_backup_resolves", "broken_dependency", "unmapped", "unused", "noise")
EXIT_FOUND, EXIT_DNS_FREE = 1, 2

Finding = dict[str, Any]


def findings(graph: Graph, learned: Aggregates, days: int) -> list[Finding]:
    """Every finding, the headline kind first; then by owner, name and type."""
    since = learned.newest - days * DAY
    resolved = _resolved(graph, learned, since)
    found: list[Finding] = []
    by_owner: dict[Owner, list[tuple[str, str, Seen]]] = {}
    for (owner, name, rdtype), seen in learned.seen.items():
        if seen.last >= since:
            by_owner.setdefault(owner, []).append((name, rdtype, seen))
    for owner in sorted(by_owner, key=Owner.sort_key):
        mapped = _mapped(graph, owner)
        if mapped is None:
            continue  # an owner the config no longer has (a state file from before)
        asked = by_owner[owner]
        found += _asked(graph, owner, mapped, asked, resolved, since)
        if owner.client is None:  # heard in the window: what it did not ask is unused
            days = len(learned.heard_since(owner, since))
            found += _unused(owner, _own(graph, owner), {(n, t) for n, t, _ in asked}, days)
    order = {kind: i for i, kind in enumerate(KINDS)}
    return sorted(found, key=lambda f: (order[f["kind"]], _owner_key(f), f["name"], f["type"]))


def exit_code(found: list[Finding]) -> int:
    """0 nothing found, 1 names to add or drop, 2 a backup said to need no DNS uses it."""
    kinds = {f["kind"] for f in found}
    if "dns_free_backup_resolves" in kinds:
        return EXIT_DNS_FREE
    return EXIT_FOUND if kinds - {"noise"} else 0


def _owner_key(f: Finding) -> tuple[str, str, str]:
    return (f["service"] or "", f["backup"] or "", f["client"] or "")


def _mapped(graph: Graph, owner: Owner) -> frozenset[NameKey] | None:
    """The names an owner's map says it needs; None when the config has no such owner."""
    if owner.client is not None:
        known = {g.name for g in graph.client_groups}
        return graph.client_needs(owner.client) if owner.client in known else None
    service = graph.services.get(owner.service or "")
    if service is None:
        return None
    if owner.backup is None:
        return graph.service_deps(service.name).names
    backup = next((b for b in service.backups if b.name == owner.backup), None)
    return graph.deps_of(backup.depends_on).names if backup is not None else None


def _own(graph: Graph, owner: Owner) -> frozenset[NameKey]:
    """The names an owner's own ``depends_on`` lists (not those of a service it needs,
    whose own hosts may be the ones to ask them)."""
    service = graph.services[owner.service or ""]
    if owner.backup is None:
        return graph.service_deps(service.name).direct
    backup = next(b for b in service.backups if b.name == owner.backup)
    return graph.deps_of(backup.depends_on).direct


def _dns_free(graph: Graph, owner: Owner) -> bool:
    """A backup said to need no DNS at all (``depends_on: []``)."""
    if owner.backup is None or owner.service not in graph.services:
        return False
    backups = graph.services[owner.service].backups
    return any(b.name == owner.backup and not b.depends_on for b in backups)


def _resolved(graph: Graph, learned: Aggregates, since: float) -> set[str]:
    """Names known to resolve: configured ones, and any answered (or of unknown rcode)."""
    names = {key[0] for key in graph.names}
    for (_, name, _), seen in learned.seen.items():
        if seen.last >= since and (not seen.rcodes or "NOERROR" in seen.rcodes):
            names.add(name)
    return names


def _asked(
    graph: Graph, owner: Owner, mapped: frozenset[NameKey],
    asked: list[tuple[str, str, Seen]], resolved: set[str], since: float,
) -> Iterator[Finding]:  # fmt: skip
    siblings = {name for name, _, _ in asked}
    dns_free = _dns_free(graph, owner)
    for name, rdtype, seen in sorted(asked, key=lambda a: (a[0], a[1])):
        noise = noise_of(name, seen, resolved, siblings)
        if noise is not None:
            yield _finding("noise", owner, name, rdtype, seen, noise=noise)
            continue
        if seen.failed_last >= since:  # failed in the window, not only long ago
            yield _finding("broken_dependency", owner, name, rdtype, seen)
        broken_only = bool(seen.rcodes) and set(seen.rcodes) <= FAILED
        if (name, rdtype) in mapped or (broken_only and not dns_free):
            continue  # a "no DNS" backup that asks a failing name uses DNS all the same
        kind = "dns_free_backup_resolves" if dns_free else "unmapped"
        yield _finding(kind, owner, name, rdtype, seen, zone=graph.fate_zone(name))


def noise_of(name: str, seen: Seen, resolved: set[str], siblings: set[str]) -> str | None:
    """``reverse`` for PTR lookups of addresses; ``search_suffix`` for a name a search
    domain made up: a name that resolves with a domain of the same tree appended
    (NXDOMAIN, or an rcode the log does not say), or, on NXDOMAIN, the same first labels
    under a sub-domain of a domain where they resolve (a search list of sub-domains)."""
    if name.endswith(REVERSE):
        return "reverse"
    rcodes = seen.rcodes
    if rcodes and ("NXDOMAIN" not in rcodes or "NOERROR" in rcodes):
        return None  # answered (where the log says): no made-up name
    labels = name.split(".")
    for cut in range(2, len(labels)):
        head = ".".join(labels[:cut])
        if head in resolved and labels[cut - 1] == labels[-1]:
            return "search_suffix"  # ehr-db.region.internal + region.internal
    if "NXDOMAIN" not in rcodes:
        return None
    for cut in range(1, len(labels) - 1):
        head, tail = ".".join(labels[:cut]), ".".join(labels[cut:])
        for other in siblings:
            domain = other[len(head) + 1 :]
            if other.startswith(head + ".") and other in resolved and tail.endswith("." + domain):
                return "search_suffix"  # printer.ward.region.internal; printer.region.internal
    return None


def _unused(
    owner: Owner, own: frozenset[NameKey], asked: set[NameKey], days: int
) -> Iterator[Finding]:
    for name, rdtype in sorted(own - asked):
        yield {**_who(owner), "kind": "unused", "name": name, "type": rdtype, "count": 0,
               "first_seen": None, "last_seen": None, "rcodes": {}, "cnames": [],
               "days_heard": days}  # fmt: skip


def _finding(kind: str, owner: Owner, name: str, rdtype: str, seen: Seen, **extra: Any) -> Finding:
    return {
        "kind": kind, **_who(owner), "name": name, "type": rdtype, "count": seen.count,
        "first_seen": iso(seen.first), "last_seen": iso(seen.last),
        "rcodes": dict(sorted(seen.rcodes.items())), "cnames": list(seen.cnames), **extra,
    }  # fmt: skip


def _who(owner: Owner) -> dict[str, str | None]:
    return {"service": owner.service, "backup": owner.backup, "client": owner.client}


def iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def dns_free_queries(graph: Graph, learned: Aggregates) -> dict[tuple[str, str], int]:
    """Queries from the hosts of each backup said to need no DNS, since learning began."""
    counts: dict[tuple[str, str], int] = {}
    for (owner, _, _), seen in learned.seen.items():
        if _dns_free(graph, owner):
            key = (owner.service or "", owner.backup or "")
            counts[key] = counts.get(key, 0) + seen.count
    return counts


def owner_text(f: Finding) -> str:
    """``backup paper of ehr``, ``service ehr``, ``client group wards``."""
    if f["backup"]:
        return f"backup {f['backup']} of {f['service']}"
    return f"service {f['service']}" if f["service"] else f"client group {f['client']}"
