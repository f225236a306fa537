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


@dataclass(frozen=True, slots=True)
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


class Layout:
    """Where each name is asked: zones, their servers and the resolvers, computed once."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.zones: list[str] = list(dict.fromkeys(z for s in config.servers for z in s.zones))
        self.zone_servers: dict[str, list[Server]] = {
            zone: [s for s in config.servers if s.role is Role.AUTHORITATIVE and zone in s.zones]
            for zone in self.zones
        }
        self.recursive = [s for s in config.servers if s.role is Role.RECURSIVE]
        self._zone_of: dict[str, str | None] = {}
        self._full: list[Query] | None = None

    def zone_of(self, name: str) -> str | None:
        if name not in self._zone_of:
            self._zone_of[name] = zone_of(name, self.zones)
        return self._zone_of[name]

    def servers_for(self, name: Name) -> list[Server]:
        """Every server ``name`` is asked of: its resolvers, then its zone's authoritatives."""
        if name.servers is not None:
            chosen = [self.config.server(s) for s in name.servers]
        else:
            chosen = list(self.recursive)
        zone = self.zone_of(name.name)
        names = {s.name for s in chosen}
        return chosen + [s for s in self.zone_servers.get(zone or "", []) if s.name not in names]

    def build(self, names: Iterable[Name] | None = None) -> list[Query]:
        """The queries of one round, for all names or only ``names``; the full plan is kept."""
        if names is None:
            if self._full is None:
                self._full = self._build(None)
            return self._full
        return self._build(names)

    def _build(self, names: Iterable[Name] | None) -> list[Query]:
        wanted = list(self.config.names if names is None else names)
        queries = [
            Query(name.name, name.type, server, server.role is Role.RECURSIVE, name.expect)
            for name in wanted
            for server in self.servers_for(name)
        ]
        asked = {q.key for q in queries if q.type == "SOA"}
        zones = self.zones if names is None else {self.zone_of(n.name) for n in wanted}
        for zone in self.zones:
            for server in self.zone_servers[zone] if zone in zones else ():
                if (zone, "SOA", server.name) not in asked:  # a listed SOA name asks it already
                    queries.append(Query(zone, "SOA", server, False, zone_soa=True))
        return queries


def build(config: Config, names: Iterable[Name] | None = None) -> list[Query]:
    """The queries of one round, for all names or only ``names``."""
    return Layout(config).build(names)
