"""A config changed for one ad hoc round (``check --timeout 2s --attempts 1 --server ns1``).

Overrides make a modified config, never flags threaded through the stages: every later
stage reads the dataclasses as it always does. Values are held to the bounds probes.yaml
is held to. Pure.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

from monitor.config import values
from monitor.config.model import ClientGroup, Config, Name, Service
from monitor.config.quoting import quote
from monitor.config.rules import SERVICE_PREFIX
from monitor.config.suggest import did_you_mean


class OverrideError(ValueError):
    """An override dnsmon cannot apply; ``option`` is the command-line option at fault."""

    def __init__(self, option: str, message: str) -> None:
        super().__init__(message)
        self.option = option


def with_timeout(config: Config, text: str) -> Config:
    """Every query attempt waits ``text`` (``500ms``, ``2s``) instead of the config's."""
    try:
        seconds = values.parse_duration(text)
    except ValueError as exc:
        raise OverrideError("--timeout", str(exc)) from exc
    _within(text, seconds, values.TIMEOUT, "timeout", "--timeout")
    return replace(config, defaults=replace(config.defaults, timeout=seconds))


def with_attempts(config: Config, attempts: int) -> Config:
    """A query fails only after ``attempts`` attempts instead of the config's."""
    _within(attempts, attempts, values.ATTEMPTS, "attempts", "--attempts")
    return replace(config, defaults=replace(config.defaults, attempts=attempts))


def _within(written: object, number: float, bounds: values.Bounds, what: str, option: str) -> None:
    problem = values.out_of_bounds(written, number, bounds, what)
    if problem:
        raise OverrideError(option, problem)


@dataclass(frozen=True)
class Restricted:
    """The config with only the chosen servers, and what it had to leave out."""

    config: Config
    names: tuple[str, ...]  # "name TYPE" no chosen server is asked
    services: tuple[str, ...]  # services (and backups, "service/backup") left with no name

    def notes(self, chosen: Sequence[str]) -> list[str]:
        """What a report of the round says it did not ask, in the report's ``notes``."""
        said = f"--server {' --server '.join(chosen)}"
        out = []
        if self.names:
            out.append(f"{said}: not asked this round, as no chosen server is asked them: "
                       f"{_listed(self.names)}")  # fmt: skip
        if self.services:
            out.append(f"{said}: left out, as none of their names is asked: "
                       f"{_listed(self.services)}")  # fmt: skip
        return out


def only_servers(config: Config, chosen: Sequence[str]) -> Restricted:
    """The config asking only the servers named ``chosen`` (names as in the config).

    A name that none of them is asked is left out, and so are services and backups that
    are left with nothing to ask; client groups keep the chosen resolvers they have.
    """
    known = [s.name for s in config.servers]
    unknown = [c for c in chosen if c not in known]
    if unknown:
        hint = did_you_mean(unknown[0], known)
        raise OverrideError(
            "--server",
            f"{quote(unknown[0])} is not a listed server{hint}; the servers are: "
            f"{', '.join(known)}",
        )
    keep = set(chosen)
    servers = tuple(s for s in config.servers if s.name in keep)
    zones = {z for s in servers if s.authoritative for z in s.zones}
    resolvers = any(s.recursive for s in servers)
    names: list[Name] = []
    dropped: list[Name] = []
    for name in config.names:
        kept = _asked(name, keep, zones, resolvers)
        (names if kept is not None else dropped).append(kept or name)
    if not names:
        raise OverrideError("--server", f"no listed name is asked of {', '.join(chosen)}")
    services, left_out = _services(config.services, {n.name for n in names})
    groups = tuple(_group(g, keep) for g in config.clients)
    clients = tuple(g for g in groups if g.resolvers)
    services = tuple(_clients_of(s, {g.name for g in clients}) for s in services)
    fingerprint = hashlib.sha256(f"{config.fingerprint} {sorted(keep)}".encode()).hexdigest()
    restricted = replace(
        config, servers=servers, names=tuple(names), services=services, clients=clients,
        fingerprint=fingerprint[:16], _server_index={},
    )  # fmt: skip
    return Restricted(restricted, tuple(f"{n.name} {n.type}" for n in dropped), left_out)


def _asked(name: Name, keep: set[str], zones: set[str], resolvers: bool) -> Name | None:
    """``name`` as the chosen servers are asked it, or None when none of them is."""
    by_zone = any(name.name == z or name.name.endswith("." + z) for z in zones)
    if name.servers is None:
        return name if resolvers or by_zone else None
    listed = tuple(s for s in name.servers if s in keep)
    # An empty list still asks the authoritative servers of the name's zone.
    return replace(name, servers=listed) if listed or by_zone else None


def _services(
    services: Iterable[Service], names: set[str]
) -> tuple[tuple[Service, ...], tuple[str, ...]]:
    """Services with only the dependencies still asked; a service (or backup) that needed
    DNS and has none of it left is left out, and so are references to such a service."""
    kept = {s.name: s for s in services}
    left_out: list[str] = []
    changed = True
    while changed:  # leaving out one service may leave another with nothing
        changed = False
        for service in list(kept.values()):
            depends_on = _still(service.depends_on, names, set(kept))
            if service.depends_on and not depends_on:
                del kept[service.name]
                left_out.append(service.name)
                changed = True
                continue
            backups = [replace(b, depends_on=_still(b.depends_on, names, set(kept)))
                       for b in service.backups]  # fmt: skip
            left_out += [f"{service.name}/{b.name}" for b, new in zip(service.backups, backups,
                         strict=True) if b.depends_on and not new.depends_on]  # fmt: skip
            backups = [new for b, new in zip(service.backups, backups, strict=True)
                       if new.depends_on or not b.depends_on]  # fmt: skip
            kept[service.name] = replace(service, depends_on=depends_on, backups=tuple(backups))
    return tuple(kept.values()), tuple(dict.fromkeys(left_out))


def _still(depends_on: tuple[str, ...], names: set[str], services: set[str]) -> tuple[str, ...]:
    def asked(dep: str) -> bool:
        if dep.startswith(SERVICE_PREFIX):
            return dep[len(SERVICE_PREFIX) :] in services
        return dep.lower().rstrip(".") in names

    return tuple(d for d in depends_on if asked(d))


def _group(group: ClientGroup, keep: set[str]) -> ClientGroup:
    return replace(group, resolvers=tuple(r for r in group.resolvers if r in keep))


def _clients_of(service: Service, groups: set[str]) -> Service:
    if service.clients is None:
        return service
    return replace(service, clients=tuple(c for c in service.clients if c in groups))


def _listed(items: Sequence[str], shown: int = 10) -> str:
    more = f" and {len(items) - shown} more" if len(items) > shown else ""
    return ", ".join(items[:shown]) + more
