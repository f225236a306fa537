"""Rules across the whole config: duplicates, references and cycles. Pure.

Each problem is a key path and a message; the loader adds the file and line. Problems
are yielded one at a time and every rule is linear in the config's size, so a file with
a million broken references costs seconds, not hours, and no more memory than the
errors shown.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from typing import Any

from monitor.config.model import Config, Service
from monitor.config.quoting import quote
from monitor.config.suggest import Suggester
from monitor.config.yamlsource import Path

Problem = tuple[Path, str]
SERVICE_PREFIX = "service:"
MAX_SUGGESTIONS = 25  # 'did you mean' for this many misspelt references of each kind
MAX_CYCLE_SHOWN = 8  # services spelt out in one cycle's message
# Services depending on services this deep: real chains are a handful long; a longer one
# is a mistake (service: entries pointing the wrong way), and later stages follow
# chains by recursion.
MAX_SERVICE_DEPTH = 100


def check(config: Config, dropped: dict[str, set[str]] | None = None) -> Iterator[Problem]:
    """Every cross-reference problem; ``dropped`` names entries that were too broken to
    build, so references to them are not reported as unknown as well."""
    dropped = dropped or {}
    return itertools.chain(
        _duplicates(config.servers, "servers", "server"),
        _duplicate_names(config),
        _duplicates(config.services, "services", "service"),
        _backup_duplicates(config),
        _name_servers(config, dropped.get("servers", set())),
        _dependencies(config, dropped.get("names", set()), dropped.get("services", set())),
        _cycles(config),
        _too_deep(config),
        _duplicates(config.clients, "clients", "client group"),
        _client_resolvers(config, dropped.get("servers", set())),
        _service_clients(config, dropped.get("clients", set())),
    )


def _at(item: Any, position: int) -> int:
    """The entry's index in the file's list (configs built in code have none)."""
    return int(item.index) if item.index >= 0 else position


def _duplicates(items: Iterable[Any], section: str, what: str) -> Iterator[Problem]:
    seen: set[str] = set()
    for i, item in enumerate(items):
        if item.name in seen:
            yield (section, _at(item, i), "name"), f"duplicate {what} name {quote(item.name)}"
        seen.add(item.name)


def _duplicate_names(config: Config) -> Iterator[Problem]:
    seen: set[tuple[str, str]] = set()
    for i, name in enumerate(config.names):
        key = (name.name, name.type)
        if key in seen:
            message = f"duplicate name {quote(name.name)} with type {name.type}"
            yield ("names", _at(name, i), "name"), message
        seen.add(key)


def _backup_duplicates(config: Config) -> Iterator[Problem]:
    for i, service in enumerate(config.services):
        for path, message in _duplicates(service.backups, "backups", "backup"):
            yield ("services", _at(service, i), *path), message


def _name_servers(config: Config, dropped: set[str]) -> Iterator[Problem]:
    servers = {s.name for s in config.servers} | dropped
    suggest = Suggester(servers, MAX_SUGGESTIONS)
    for position, name in enumerate(config.names):
        i = _at(name, position)
        for j, server in enumerate(name.servers or ()):
            if server not in servers:
                hint = suggest(server)
                yield ("names", i, "servers", j), f"{quote(server)} is not a listed server{hint}"
        if name.servers == ():
            yield ("names", i, "servers"), "must list at least one server when given"


def _dependencies(
    config: Config, dropped_names: set[str], dropped_services: set[str]
) -> Iterator[Problem]:
    names = {n.name for n in config.names} | dropped_names
    services = {s.name for s in config.services} | dropped_services
    hint = _Hints(names, services)
    for position, service in enumerate(config.services):
        i = _at(service, position)
        owners: list[tuple[Path, tuple[str, ...]]] = [(("services", i), service.depends_on)]
        owners += [
            (("services", i, "backups", _at(b, j)), b.depends_on)
            for j, b in enumerate(service.backups)
        ]
        for path, deps in owners:
            for k, dep in enumerate(deps):
                if not _known(dep, names, services):
                    what = "service" if dep.startswith(SERVICE_PREFIX) else "listed name"
                    known = f"{quote(dep)} is not a {what}{hint(dep, service.name)}"
                    yield (*path, "depends_on", k), known
                elif dep == SERVICE_PREFIX + service.name and len(path) == 2:
                    yield (*path, "depends_on", k), "a service cannot depend on itself"


class _Hints:
    """Suggestions for misspelt dependencies, by what follows ``service:`` (the shared
    prefix would make every service look close); a bare service name most likely lacks
    the prefix."""

    def __init__(self, names: set[str], services: set[str]) -> None:
        self.names = Suggester(names, MAX_SUGGESTIONS)
        self.services = Suggester(services, MAX_SUGGESTIONS)
        self.known_services = services

    def __call__(self, dep: str, owner: str) -> str:
        if dep.startswith(SERVICE_PREFIX):
            wanted = dep[len(SERVICE_PREFIX) :]
            return self.services(wanted, prefix=SERVICE_PREFIX, exclude=owner)
        if dep in self.known_services and dep != owner:
            return f" (did you mean {quote(SERVICE_PREFIX + dep)}?)"
        return self.names(dep.lower().rstrip("."))


def _known(dep: str, names: set[str], services: set[str]) -> bool:
    if dep.startswith(SERVICE_PREFIX):
        return dep[len(SERVICE_PREFIX) :] in services
    return dep.lower().rstrip(".") in names


def _cycles(config: Config) -> Iterator[Problem]:
    """Report each dependency cycle once, at its first service in the file, spelt out."""
    edges = {s.name: _service_deps(s) for s in config.services}
    index = {s.name: _at(s, i) for i, s in enumerate(config.services)}
    reported: set[frozenset[str]] = set()
    for cycle in _find_cycles(edges):
        if frozenset(cycle) in reported:
            continue
        reported.add(frozenset(cycle))
        first = min(range(len(cycle)), key=lambda i: index[cycle[i]])
        cycle = cycle[first:] + cycle[:first]
        yield ("services", index[cycle[0]], "depends_on"), f"dependency cycle: {_loop(cycle)}"


def _loop(cycle: list[str]) -> str:
    shown = [quote(name)[1:-1] for name in cycle[:MAX_CYCLE_SHOWN]]
    if len(cycle) > MAX_CYCLE_SHOWN:
        shown.append(f"… ({len(cycle) - MAX_CYCLE_SHOWN} more)")
    return " → ".join([*shown, shown[0]])


def _service_deps(service: Service) -> list[str]:
    """Other services this one names; a self-reference is reported on its own, not as a cycle."""
    deps = [d[len(SERVICE_PREFIX) :] for d in service.depends_on if d.startswith(SERVICE_PREFIX)]
    return [d for d in deps if d != service.name]


def _find_cycles(edges: dict[str, list[str]]) -> Iterator[list[str]]:
    """Cycles found by one depth-first search over every service: each edge that leads
    back into the current path closes one. Linear in services and dependencies (plus
    the length of each cycle found), however long the chains."""
    state: dict[str, int] = {}  # 1: on the current path; 2: done
    for root in edges:
        if root in state:
            continue
        path, position = [root], {root: 0}
        state[root] = 1
        pending = [iter(edges[root])]
        while pending:
            nxt = next(pending[-1], None)
            if nxt is None:
                state[path.pop()] = 2
                pending.pop()
            elif state.get(nxt) == 1:
                yield path[position[nxt] :]
            elif nxt not in state and nxt in edges:
                state[nxt] = 1
                position[nxt] = len(path)
                path.append(nxt)
                pending.append(iter(edges[nxt]))


def _too_deep(config: Config) -> Iterator[Problem]:
    """The first service whose chain of service dependencies is beyond any real one."""
    edges = {s.name: _service_deps(s) for s in config.services}
    if next(_find_cycles(edges), None) is not None:
        return  # a cycle is reported as such; its length says nothing more
    depth = _depths(edges)
    for i, service in enumerate(config.services):
        if depth.get(service.name, 0) > MAX_SERVICE_DEPTH:
            yield (("services", _at(service, i), "depends_on"),
                   f"starts a chain of {depth[service.name]:,} services, each depending on "
                   f"the next; dnsmon follows at most {MAX_SERVICE_DEPTH} (are some service: "
                   "entries pointing the wrong way?)")  # fmt: skip
            return


def _depths(edges: dict[str, list[str]]) -> dict[str, int]:
    """How many services deep each service's dependencies go, itself included; an edge
    closing a cycle (reported on its own) is not followed."""
    depth: dict[str, int] = {}
    on_path: set[str] = set()
    for root in edges:
        if root in depth:
            continue
        stack = [(root, iter(edges[root]))]
        on_path.add(root)
        while stack:
            node, deps = stack[-1]
            nxt = next(deps, None)
            if nxt is None:
                stack.pop()
                on_path.discard(node)
                depth[node] = 1 + max((depth.get(d, 0) for d in edges[node]), default=0)
            elif nxt in edges and nxt not in depth and nxt not in on_path:
                on_path.add(nxt)
                stack.append((nxt, iter(edges[nxt])))
    return depth


def _client_resolvers(config: Config, dropped: set[str]) -> Iterator[Problem]:
    """A client group asks resolvers: listed servers that resolve, each once, reachable
    from the group's source address."""
    servers = {s.name: s for s in config.servers}
    suggest = Suggester(set(servers) | dropped, MAX_SUGGESTIONS)
    for position, group in enumerate(config.clients):
        path = ("clients", _at(group, position), "resolvers")
        seen: set[str] = set()
        for j, name in enumerate(group.resolvers):
            server = servers.get(name)
            if name in seen:
                yield (*path, j), f"{quote(name)} is listed twice"
            elif server is None and name not in dropped:
                yield (*path, j), f"{quote(name)} is not a listed server{suggest(name)}"
            elif server is not None and not server.recursive:
                yield (*path, j), (f"{quote(name)} is not a resolver (role: recursive): "
                                   "clients cannot look names up through it")  # fmt: skip
            elif (
                server is not None
                and group.source
                and _family(server.address) != _family(group.source)
            ):
                family = f"({server.address}) cannot be asked from the source {group.source}"
                yield (*path, j), f"{quote(name)} {family}: another address family"
            seen.add(name)


def _family(address: str) -> int:
    return 6 if ":" in address else 4


def _service_clients(config: Config, dropped: set[str]) -> Iterator[Problem]:
    groups = {g.name for g in config.clients} | dropped
    suggest = Suggester(groups, MAX_SUGGESTIONS)
    for position, service in enumerate(config.services):
        for j, name in enumerate(service.clients or ()):
            if name not in groups:
                listed = "" if groups else " (the config lists no clients:)"
                yield (("services", _at(service, position), "clients", j),
                       f"{quote(name)} is not a client group{suggest(name)}{listed}")  # fmt: skip
