"""Services, backups, names, zones and servers as one dependency graph. Pure.

Built once per config and shared by every verb, so a what-if (``impact``) and a real
failure (``check``, ``serve``) are judged by the same code over the same edges.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property

from monitor.config import ClientGroup, Config, Name, Server, Service
from monitor.config.rules import SERVICE_PREFIX
from monitor.probing import plan
from monitor.probing.clientplan import ClientPlan
from monitor.probing.plan import NameKey
from monitor.states import Role, SharedFate

Chains = Mapping[NameKey, tuple[str, ...]]  # each name's CNAME targets, in order


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
    _fate_zones: dict[str, str] = field(default_factory=dict)

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

    # --- the clients: who looks up which names, and how ------------------------------

    @cached_property
    def client_groups(self) -> tuple[ClientGroup, ...]:
        return self.config.client_groups()

    def groups_of(self, service: str) -> list[str]:
        """The client groups that use ``service``: those it lists, else every one."""
        listed = self.services[service].clients
        return [g.name for g in self.client_groups if listed is None or g.name in listed]

    @cached_property
    def _client_needs(self) -> dict[str, frozenset[NameKey]]:
        needs: dict[str, set[NameKey]] = {g.name: set() for g in self.client_groups}
        for service in self.services:
            names = self.needs(service)[0]
            for group in self.groups_of(service):
                needs[group] |= names
        return {group: frozenset(names) for group, names in needs.items()}

    def client_needs(self, group: str) -> frozenset[NameKey]:
        """Every name that a service the group uses, or one of its backups, needs."""
        return self._client_needs[group]

    @cached_property
    def client_plan(self) -> ClientPlan:
        return ClientPlan(self.layout, self.client_groups, self._client_needs)

    @cached_property
    def any_sourced(self) -> bool:
        """Whether some client group asks from its own address."""
        return any(g.source is not None for g in self.client_groups)

    def sourced(self, service: str) -> bool:
        """Whether every client group of ``service`` asks from its own source address:
        then their answers, not those to the monitoring host's address, stand for it."""
        groups = set(self.groups_of(service))
        return bool(groups) and all(
            g.source is not None for g in self.client_groups if g.name in groups
        )

    @cached_property
    def static_chains(self) -> dict[NameKey, tuple[str, ...]]:
        """CNAME links the config itself states: a CNAME name with one expected target.

        ``lint`` and ``impact`` probe nothing, so this is all they know of chains; a round
        adds what the answers show.
        """
        links = {
            n.name: next(iter(n.expect)).rstrip(".")
            for n in self.config.names
            if n.type == "CNAME" and n.expect is not None and len(n.expect) == 1
        }
        chains: dict[NameKey, tuple[str, ...]] = {}
        for key in self.names:
            chain: list[str] = []
            current = key[0]
            while key[1] != "CNAME" and current in links and len(chain) < plan.MAX_LINKS:
                current = links[current]
                if current in chain or current == key[0]:
                    break
                chain.append(current)
            if chain:
                chains[key] = tuple(chain)
        return chains

    def chain_of(self, key: NameKey, chains: Chains | None = None) -> tuple[str, ...]:
        """The CNAME targets ``key`` follows: as observed, else as the config states."""
        if chains is not None and key in chains:
            return chains[key]
        return self.static_chains.get(key, ())

    def names_along(self, key: NameKey, chains: Chains | None = None) -> tuple[str, ...]:
        """The name and every CNAME target its answers follow."""
        return (key[0], *self.chain_of(key, chains))

    def zones_along(self, key: NameKey, chains: Chains | None = None) -> list[str]:
        """Every listed zone along the name's CNAME chain, in order."""
        zones = (self.zone_of(n) for n in self.names_along(key, chains))
        return list(dict.fromkeys(z for z in zones if z is not None))

    def recursive_servers(self, keys: Iterable[NameKey]) -> set[str]:
        return {s.name for k in keys for s in self.servers_of(k) if s.role is Role.RECURSIVE}

    def fate_zone(self, name: str) -> str:
        """The zone for shared fate: the listed zone, else the parent domain."""
        found = self._fate_zones.get(name)
        if found is None:
            found = self._fate_zones[name] = self.zone_of(name) or name.partition(".")[2] or name
        return found

    def shared_fate(
        self, service: str, backup_deps: tuple[str, ...], chains: Chains | None = None
    ) -> Fate:
        """The strongest overlap of a backup's dependencies with its service's.

        Names and zones include everything along CNAME chains; ``authoritative`` is
        different zones on the same authoritative servers (one upgrade takes both);
        ``servers`` is only the same resolvers.
        """
        return self.fate_between(
            self.deps_of(backup_deps).names, self.service_deps(service).names, chains
        )

    def fate_between(
        self, mine: frozenset[NameKey], theirs: frozenset[NameKey], chains: Chains | None = None
    ) -> Fate:
        """The strongest overlap of two sets of names; the same whichever comes first."""
        if not mine or not theirs:
            return Fate(None)
        for level, overlap in self._overlaps(mine, theirs, chains):
            if overlap:
                return Fate(level, tuple(sorted(overlap)))
        return Fate(None)

    def _overlaps(
        self, mine: frozenset[NameKey], theirs: frozenset[NameKey], chains: Chains | None
    ) -> Iterable[tuple[SharedFate, set[str]]]:
        """Each level's shared things, strongest first, computed only as far as needed."""
        names = [self._names(keys, chains) for keys in (mine, theirs)]
        yield SharedFate.NAME, names[0] & names[1]
        zones = [{self.fate_zone(n) for n in side} for side in names]
        yield SharedFate.ZONE, zones[0] & zones[1]
        servers = [{s.name for z in side for s in self.zone_servers(z)} for side in zones]
        yield SharedFate.AUTHORITATIVE, servers[0] & servers[1]
        # Any machine both need, in whichever role: a resolver of one that is the other's
        # authority (an AD-style server) is one machine, and one upgrade takes both.
        machines = [
            self.recursive_servers(k) | auth
            for k, auth in zip((mine, theirs), servers, strict=True)
        ]
        yield SharedFate.SERVERS, machines[0] & machines[1]

    def _names(self, keys: Iterable[NameKey], chains: Chains | None) -> set[str]:
        if chains is None and not self.static_chains:  # no chain anywhere: the names alone
            return {key[0] for key in keys}
        return {n for key in keys for n in self.names_along(key, chains)}


def build(config: Config) -> Graph:
    """The graph of ``config``."""
    return Graph(config)
