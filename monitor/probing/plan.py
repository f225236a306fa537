"""Config → the list of queries one round asks. Pure.

Each name is asked of every recursive server (or its own ``servers:`` list) and, with
recursion off, of every authoritative server of the longest listed zone that contains
it, so a failing authoritative server is seen while resolver caches still hide it. Each
zone's SOA is asked of each of its authoritative servers. Each round also asks every
resolver a never-cached canary label under each zone (does it still reach the
authority?), and, where a name's answers follow a CNAME into another listed zone, that
zone's authoritative servers for the target.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from monitor.config import Config, Name, Server
from monitor.states import Role, Vocabulary

NameKey = tuple[str, str]  # (name, type)
CANARY_PREFIX = "dnsmon-"
MAX_LINKS = 16  # CNAME links followed from one name; resolvers stop well before this


class Purpose(Vocabulary):
    """Why a query is asked; only ``name`` and ``chain`` answers judge a name."""

    NAME = "name"  # a configured name, of a resolver or its zone's authoritative server
    SOA = "soa"  # a zone's serial, of each of its authoritative servers
    CANARY = "canary"  # a random label: does the resolver still reach the authority?
    CHAIN = "chain"  # a CNAME target, of the authoritative servers of its zone
    CLIENT = "client"  # a configured name, asked of a resolver the way clients ask it


@dataclass(frozen=True, slots=True)
class Shape:
    """How a question is put: with EDNS or without, from any address or a given one."""

    edns: bool = True
    source: str | None = None  # the local address asked from; None: the kernel's choice

    def __str__(self) -> str:
        parts = ([] if self.edns else ["without EDNS"]) + (
            [f"from {self.source}"] if self.source else []
        )
        return " ".join(parts) or "as dnsmon asks"


OWN = Shape()  # dnsmon's own way: EDNS, from the monitoring host's own address


@dataclass(frozen=True, slots=True)
class Query:
    """One question to one server."""

    name: str
    type: str
    server: Server
    recursion: bool
    expect: frozenset[str] | None = None
    purpose: Purpose = Purpose.NAME
    zone: str | None = None  # the listed zone it is asked under (authoritative, canary)
    shape: Shape = OWN
    clients: str = ""  # for a client query: the client groups that ask this way
    # (name, type, server view and shape): what results are filed under. Kept, not built
    # on each use: judging a large round reads it millions of times.
    key: tuple[str, str, str] = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "key", result_key(self.name, self.type, self.server, self.shape))

    @property
    def zone_soa(self) -> bool:
        return self.purpose is Purpose.SOA


def result_key(name: str, rdtype: str, server: Server, shape: Shape = OWN) -> tuple[str, str, str]:
    """What the answer of ``server`` to this question in this shape is filed under."""
    return (name, rdtype, asked_key(server, shape))


def asked_key(server: Server, shape: Shape = OWN) -> str:
    """Who was asked, and how: ``resolver-a``, ``resolver-a without EDNS``."""
    return server.key if shape is OWN or shape == OWN else f"{server.key} {shape}"


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
        # Each machine as asked in each of its roles: one with both is in both lists.
        self.zone_servers: dict[str, list[Server]] = {
            zone: [
                s.as_role(Role.AUTHORITATIVE)
                for s in config.servers
                if s.authoritative and zone in s.zones
            ]
            for zone in self.zones
        }
        self.recursive = [s.as_role(Role.RECURSIVE) for s in config.servers if s.recursive]
        self._views = {s.name: s for s in [*self.authoritative(), *self.recursive]}
        self._zone_of: dict[str, str | None] = {}
        self._servers_for: dict[tuple[tuple[str, ...] | None, str | None], list[Server]] = {}
        self._full: list[Query] | None = None

    def zone_of(self, name: str) -> str | None:
        if name not in self._zone_of:
            self._zone_of[name] = zone_of(name, self.zones)
        return self._zone_of[name]

    def authoritative(self) -> list[Server]:
        """Every authoritative server, once, as asked for its zones."""
        views = {s.key: s for servers in self.zone_servers.values() for s in servers}
        return list(views.values())

    def view(self, name: str) -> Server:
        """The server called ``name`` as names listing it are asked: as a resolver if it
        is one."""
        return self._views[name]

    def servers_for(self, name: Name) -> list[Server]:
        """Every server ``name`` is asked of: its resolvers, then its zone's authoritatives."""
        key = (name.servers, self.zone_of(name.name))
        found = self._servers_for.get(key)
        if found is None:  # names share a handful of server lists: computed once each
            if name.servers is not None:
                chosen = [self.view(s) for s in name.servers]
            else:
                chosen = list(self.recursive)
            keys = {s.key for s in chosen}
            extra = self.zone_servers.get(key[1] or "", [])
            found = self._servers_for[key] = chosen + [s for s in extra if s.key not in keys]
        return found

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
            self._query(name, server) for name in wanted for server in self.servers_for(name)
        ]
        asked = {q.key for q in queries if q.type == "SOA"}
        for zone in self.zones_of(wanted) if names is not None else self.zones:
            for server in self.zone_servers[zone]:
                if (zone, "SOA", server.key) not in asked:  # a listed SOA name asks it already
                    queries.append(Query(zone, "SOA", server, False, None, Purpose.SOA, zone))
        return queries

    def _query(self, name: Name, server: Server) -> Query:
        recursive = server.role is Role.RECURSIVE
        zone = None if recursive else self.zone_of(name.name)
        return Query(name.name, name.type, server, recursive, name.expect, Purpose.NAME, zone)

    def zones_of(self, names: Iterable[Name]) -> list[str]:
        """The listed zones these names live in, in the config's order."""
        wanted = {self.zone_of(n.name) for n in names}
        return [z for z in self.zones if z in wanted]

    def canaries(self, zones: Iterable[str] | None = None) -> list[Query]:
        """One never-cached label per zone, asked of every resolver: fresh each round."""
        queries = []
        for zone in self.zones if zones is None else zones:
            label = f"{CANARY_PREFIX}{secrets.token_hex(6)}.{zone}"
            queries += [
                Query(label, "A", server, True, None, Purpose.CANARY, zone)
                for server in self.recursive
            ]
        return queries

    def chain_entries(self, name: str, chain: Iterable[str]) -> list[tuple[str, str]]:
        """(target, zone) where a CNAME chain from ``name`` enters another listed zone.

        Each zone's authoritative servers answer the chain from there on within the zone,
        so one question per zone entered is enough.
        """
        entries, current = [], self.zone_of(name)
        for target in chain:
            zone = self.zone_of(target)
            if zone is not None and zone != current:
                entries.append((target, zone))
            current = zone
        return entries

    def chain_queries(
        self, chains: Mapping[NameKey, tuple[str, ...]], asked: set[tuple[str, str, str]]
    ) -> list[Query]:
        """The authoritative questions for CNAME targets in other listed zones, and those
        zones' serials, that ``asked`` does not hold yet (it is updated)."""
        queries = []
        names = {(n.name, n.type): n for n in self.config.names}
        for key, chain in chains.items():
            expect = names[key].expect if key in names else None
            for target, zone in self.chain_entries(key[0], chain):
                for server in self.zone_servers[zone]:
                    queries += [
                        q
                        for q in (
                            Query(target, key[1], server, False, expect, Purpose.CHAIN, zone),
                            Query(zone, "SOA", server, False, None, Purpose.SOA, zone),
                        )
                        if q.key not in asked
                    ]
                    asked.update(q.key for q in queries)
        return queries


def build(config: Config, names: Iterable[Name] | None = None) -> list[Query]:
    """The queries of one round, for all names or only ``names``."""
    return Layout(config).build(names)
