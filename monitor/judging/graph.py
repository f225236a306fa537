"""Services, backups, names, zones and servers as one dependency graph. Pure.

Built once per config and shared by every verb, so a what-if (``impact``) and a real
failure (``check``, ``serve``) are judged by the same code over the same edges.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

from monitor.config import Config, Name, Server, Service
from monitor.config.rules import SERVICE_PREFIX
from monitor.probing import plan
from monitor.states import Role, SharedFate

NameKey = tuple[str, str]  # (name, type)


@dataclass(frozen=True)
class Deps:
    """What one service or backup needs: names directly and through services."""

    names: frozenset[NameKey]  # transitive, through service dependencies
    direct: frozenset[NameKey]  # named in depends_on itself
    services: tuple[str, ...]  # direct service dependencies
    all_services: frozenset[str]  # transitive


@dataclass(frozen=True)
class Fate:
    """A backup's static overlap with its service: the strongest level and what is shared."""

    level: SharedFate | None
    shared: tuple[str, ...] = ()


@dataclass
class Graph:
    """The dependency graph of one config."""

    config: Config
    _deps: dict[str, Deps] = field(default_factory=dict)

    @cached_property
    def names(self) -> dict[NameKey, Name]:
        return {(n.name, n.type): n for n in self.config.names}

    @cached_property
    def keys_by_name(self) -> dict[str, list[NameKey]]:
        """Every listed type of each name: ``depends_on`` names a name, not a type."""
        out: dict[str, list[NameKey]] = {}
        for key in self.names:
            out.setdefault(key[0], []).append(key)
        return out

    @cached_property
    def layout(self) -> plan.Layout:
        return plan.Layout(self.config)

    @property
    def zones(self) -> list[str]:
        return self.layout.zones

    @cached_property
    def services(self) -> dict[str, Service]:
        return {s.name: s for s in self.config.services}

    @cached_property
    def service_order(self) -> list[str]:
        """Services with every dependency before its dependents (config has no cycles)."""
        order: list[str] = []
        placed: set[str] = set()

        def place(name: str) -> None:
            if name in placed:
                return
            placed.add(name)
            for dep in self.deps_of(self.services[name].depends_on).services:
                place(dep)
            order.append(name)

        for name in self.services:
            place(name)
        return order

    def zone_of(self, name: str) -> str | None:
        return self.layout.zone_of(name)

    @cached_property
    def _servers(self) -> dict[NameKey, list[Server]]:
        return {key: self.layout.servers_for(name) for key, name in self.names.items()}

    def servers_of(self, key: NameKey) -> list[Server]:
        """Every server ``key`` is asked of, resolvers first."""
        return self._servers[key]

    def zone_servers(self, zone: str) -> list[Server]:
        return self.layout.zone_servers.get(zone, [])

    def service_deps(self, service: str) -> Deps:
        """A service's dependencies, transitively through ``service:`` entries."""
        if service not in self._deps:
            self._deps[service] = self.deps_of(self.services[service].depends_on)
        return self._deps[service]

    def deps_of(self, depends_on: tuple[str, ...]) -> Deps:
        """Resolve a ``depends_on`` list into names and services, transitively."""
        names: set[NameKey] = set()
        own: set[NameKey] = set()
        direct: list[str] = []
        closure: set[str] = set()
        for dep in depends_on:
            if dep.startswith(SERVICE_PREFIX):
                other = dep[len(SERVICE_PREFIX) :]
                direct.append(other)
                inner = self.service_deps(other)
                names |= inner.names
                closure |= {other, *inner.all_services}
            else:
                own.update(self.keys_by_name.get(dep.lower().rstrip("."), []))
        return Deps(frozenset(names | own), frozenset(own), tuple(direct), frozenset(closure))

    def needs(self, service: str) -> tuple[frozenset[NameKey], frozenset[str]]:
        """Every name and service that ``service`` or one of its backups needs."""
        deps = [self.service_deps(service)]
        deps += [self.deps_of(b.depends_on) for b in self.services[service].backups]
        names = frozenset(k for d in deps for k in d.names)
        return names, frozenset(s for d in deps for s in d.all_services)

    def recursive_servers(self, keys: frozenset[NameKey]) -> set[str]:
        return {s.name for k in keys for s in self.servers_of(k) if s.role is Role.RECURSIVE}

    def fate_zone(self, name: str) -> str:
        """The zone for shared fate: the listed zone, else the parent domain."""
        return self.zone_of(name) or name.partition(".")[2] or name

    def shared_fate(self, service: str, backup_deps: tuple[str, ...]) -> Fate:
        """The strongest overlap of a backup's dependencies with its service's."""
        mine = self.deps_of(backup_deps).names
        theirs = self.service_deps(service).names
        if not mine:
            return Fate(None)
        names = {k[0] for k in mine} & {k[0] for k in theirs}
        if names:
            return Fate(SharedFate.NAME, tuple(sorted(names)))
        zones = {self.fate_zone(k[0]) for k in mine} & {self.fate_zone(k[0]) for k in theirs}
        if zones:
            return Fate(SharedFate.ZONE, tuple(sorted(zones)))
        servers = self.recursive_servers(mine) & self.recursive_servers(theirs)
        if servers:
            return Fate(SharedFate.SERVERS, tuple(sorted(servers)))
        return Fate(None)


def build(config: Config) -> Graph:
    """The graph of ``config``."""
    return Graph(config)
