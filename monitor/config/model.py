"""The config as frozen dataclasses: what every later stage reads.

Defaults live in one place (``DEFAULTS``) and are applied before the user's YAML.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from monitor.states import Criticality, Role, Transport


@dataclass(frozen=True)
class Defaults:
    interval: float = 30.0
    timeout: float = 2.0
    attempts: int = 2
    transport: Transport = Transport.UDP
    max_qps_per_server: float = 200.0


DEFAULTS = Defaults()


@dataclass(frozen=True)
class Server:
    name: str
    address: str
    port: int = 53
    role: Role = Role.RECURSIVE
    zones: tuple[str, ...] = ()
    serve_stale: float | None = None  # seconds it serves expired answers; None: unknown
    index: int = field(default=-1, compare=False, repr=False)  # in the file's list


@dataclass(frozen=True)
class Name:
    """One name and type to ask; ``expect`` holds canonical answer texts."""

    name: str
    type: str
    expect: frozenset[str] | None = None
    servers: tuple[str, ...] | None = None
    index: int = field(default=-1, compare=False, repr=False)  # in the file's list


@dataclass(frozen=True)
class Backup:
    name: str
    description: str = ""
    depends_on: tuple[str, ...] = ()
    instructions: str = ""  # what people do to use it, in their words
    index: int = field(default=-1, compare=False, repr=False)  # in the file's list


@dataclass(frozen=True)
class Service:
    name: str
    description: str = ""
    criticality: Criticality = Criticality.NORMAL
    depends_on: tuple[str, ...] = ()
    backups: tuple[Backup, ...] = ()
    index: int = field(default=-1, compare=False, repr=False)  # in the file's list


@dataclass(frozen=True)
class Alerting:
    """Where ``serve`` sends its own alerts: Alertmanager v2 API base URLs, IP literals."""

    alertmanagers: tuple[str, ...] = ()


@dataclass(frozen=True)
class Config:
    site: str
    defaults: Defaults
    servers: tuple[Server, ...]
    names: tuple[Name, ...]
    services: tuple[Service, ...]
    source: str = "probes.yaml"
    alerting: Alerting = field(default_factory=Alerting)
    fingerprint: str = ""
    version: int = 1
    _server_index: dict[str, Server] = field(default_factory=dict, compare=False, repr=False)

    def server(self, name: str) -> Server:
        """The server called ``name``."""
        if not self._server_index:
            self._server_index.update((s.name, s) for s in self.servers)
        return self._server_index[name]
