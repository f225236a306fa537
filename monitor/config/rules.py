"""Rules across the whole config: duplicates, references and cycles. Pure.

Each problem is a key path and a message; config.py adds the file and line.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from monitor.config.model import Config, Service
from monitor.config.suggest import did_you_mean
from monitor.config.yamlsource import Path

Problem = tuple[Path, str]
SERVICE_PREFIX = "service:"


def check(config: Config, dropped: dict[str, set[str]] | None = None) -> list[Problem]:
    """Every cross-reference problem; ``dropped`` names entries that were too broken to
    build, so references to them are not reported as unknown as well."""
    dropped = dropped or {}
    return [
        *_duplicates(config.servers, "servers", "server"),
        *_duplicate_names(config),
        *_duplicates(config.services, "services", "service"),
        *_backup_duplicates(config),
        *_name_servers(config, dropped.get("servers", set())),
        *_dependencies(config, dropped.get("names", set()), dropped.get("services", set())),
        *_cycles(config),
    ]


def _at(item: Any, position: int) -> int:
    """The entry's index in the file's list (configs built in code have none)."""
    return int(item.index) if item.index >= 0 else position


def _duplicates(items: Iterable[Any], section: str, what: str) -> Iterator[Problem]:
    seen: set[str] = set()
    for i, item in enumerate(items):
        if item.name in seen:
            yield (section, _at(item, i), "name"), f"duplicate {what} name {item.name!r}"
        seen.add(item.name)


def _duplicate_names(config: Config) -> Iterator[Problem]:
    seen: set[tuple[str, str]] = set()
    for i, name in enumerate(config.names):
        key = (name.name, name.type)
        if key in seen:
            message = f"duplicate name {name.name!r} with type {name.type}"
            yield ("names", _at(name, i), "name"), message
        seen.add(key)


def _backup_duplicates(config: Config) -> Iterator[Problem]:
    for i, service in enumerate(config.services):
        for path, message in _duplicates(service.backups, "backups", "backup"):
            yield ("services", _at(service, i), *path), message


def _name_servers(config: Config, dropped: set[str]) -> Iterator[Problem]:
    servers = {s.name for s in config.servers} | dropped
    for position, name in enumerate(config.names):
        i = _at(name, position)
        for j, server in enumerate(name.servers or ()):
            if server not in servers:
                hint = did_you_mean(server, servers)
                yield ("names", i, "servers", j), f"{server!r} is not a listed server{hint}"
        if name.servers == ():
            yield ("names", i, "servers"), "must list at least one server when given"


def _dependencies(
    config: Config, dropped_names: set[str], dropped_services: set[str]
) -> Iterator[Problem]:
    names = {n.name for n in config.names} | dropped_names
    services = {s.name for s in config.services} | dropped_services
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
                    hint = _hint(dep, names, services - {service.name})
                    yield (*path, "depends_on", k), f"{dep!r} is not a {what}{hint}"
                elif dep == SERVICE_PREFIX + service.name and len(path) == 2:
                    yield (*path, "depends_on", k), "a service cannot depend on itself"


def _hint(dep: str, names: set[str], services: set[str]) -> str:
    """Suggest by what follows ``service:``: the shared prefix would make every service look
    close; and a bare service name most likely lacks the prefix."""
    if dep.startswith(SERVICE_PREFIX):
        return did_you_mean(dep[len(SERVICE_PREFIX) :], services, prefix=SERVICE_PREFIX)
    if dep in services:
        return f" (did you mean {SERVICE_PREFIX + dep!r}?)"
    return did_you_mean(dep.lower().rstrip("."), names)


def _known(dep: str, names: set[str], services: set[str]) -> bool:
    if dep.startswith(SERVICE_PREFIX):
        return dep[len(SERVICE_PREFIX) :] in services
    return dep.lower().rstrip(".") in names


def _cycles(config: Config) -> Iterator[Problem]:
    """Report each service that sits on a dependency cycle, with the cycle spelled out."""
    edges = {s.name: _service_deps(s) for s in config.services}
    index = {s.name: _at(s, i) for i, s in enumerate(config.services)}
    reported: set[frozenset[str]] = set()
    for start in edges:
        cycle = _find_cycle(start, edges)
        if cycle and frozenset(cycle) not in reported:
            reported.add(frozenset(cycle))
            loop = " → ".join([*cycle, cycle[0]])
            yield ("services", index[start], "depends_on"), f"dependency cycle: {loop}"


def _service_deps(service: Service) -> list[str]:
    """Other services this one names; a self-reference is reported on its own, not as a cycle."""
    deps = [d[len(SERVICE_PREFIX) :] for d in service.depends_on if d.startswith(SERVICE_PREFIX)]
    return [d for d in deps if d != service.name]


def _find_cycle(start: str, edges: dict[str, list[str]]) -> list[str] | None:
    """A cycle through ``start`` by depth-first search, or None."""
    stack: list[tuple[str, list[str]]] = [(start, [start])]
    seen: set[str] = set()
    while stack:
        node, trail = stack.pop()
        for nxt in edges.get(node, []):
            if nxt == start:
                return trail
            if nxt not in seen and nxt != node:
                seen.add(nxt)
                stack.append((nxt, [*trail, nxt]))
    return None
