"""Config → the list of queries one round asks. Pure.

Each name is asked of every recursive server (or its own ``servers:`` list) and, with
recursion off, of every authoritative server listed for its zone, so a failing
authoritative server is seen while resolver caches still hide it. Each zone's SOA is asked
of each of its authoritative servers.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from monitor.config import Config, Name, Server
from monitor.states import Role


@dataclass(frozen=True)
class Query:
    """One question to one server; ``zone_soa`` marks the serial checks."""

    name: str
    type: str
    server: Server
    recursion: bool
    expect: frozenset[str] | None = None
    zone_soa: bool = False

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.name, self.type, self.server.name)


def zone_of(name: str, zones: Iterable[str]) -> str | None:
    """The longest listed zone that contains ``name``, or None."""
    best = None
    for zone in zones:
        if name == zone or name.endswith("." + zone):
            if best is None or len(zone) > len(best):
                best = zone
    return best


def all_zones(config: Config) -> list[str]:
    """Every zone some listed authoritative server serves, in config order."""
    seen: dict[str, None] = {}
    for server in config.servers:
        for zone in server.zones:
            seen.setdefault(zone)
    return list(seen)


def zone_servers(config: Config, zone: str) -> list[Server]:
    """The listed authoritative servers of ``zone``."""
    return [s for s in config.servers if s.role is Role.AUTHORITATIVE and zone in s.zones]


def servers_for(config: Config, name: Name) -> list[Server]:
    """Every server ``name`` is asked of: its resolvers, then its zone's authoritatives."""
    if name.servers is not None:
        chosen = [config.server(s) for s in name.servers]
    else:
        chosen = [s for s in config.servers if s.role is Role.RECURSIVE]
    zone = zone_of(name.name, all_zones(config))
    extra = zone_servers(config, zone) if zone else []
    return chosen + [s for s in extra if s not in chosen]


def build(config: Config, names: Iterable[Name] | None = None) -> list[Query]:
    """The queries of one round, for all names or only ``names``."""
    queries = []
    for name in config.names if names is None else names:
        for server in servers_for(config, name):
            recursion = server.role is Role.RECURSIVE
            queries.append(Query(name.name, name.type, server, recursion, name.expect))
    asked = {q.key for q in queries}
    for zone in zones_needed(config, names):
        for server in zone_servers(config, zone):
            if (zone, "SOA", server.name) not in asked:  # a listed SOA name already asks it
                queries.append(Query(zone, "SOA", server, False, zone_soa=True))
    return queries


def zones_needed(config: Config, names: Iterable[Name] | None) -> list[str]:
    """Zones whose serials to check: all, or those the given names live in."""
    zones = all_zones(config)
    if names is None:
        return zones
    wanted = {zone_of(n.name, zones) for n in names}
    return [z for z in zones if z in wanted]
