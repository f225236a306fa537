"""The config as frozen dataclasses: what every later stage reads.

Defaults live in one place (``DEFAULTS``) and are applied before the user's YAML.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from monitor.states import Criticality, Role, Software, Stub, Transport


@dataclass(frozen=True)
class Defaults:
    interval: float = 30.0
    timeout: float = 2.0
    attempts: int = 2
    transport: Transport = Transport.UDP
    max_qps_per_server: float = 200.0
    warn_before: float = 72 * 3600.0  # warn this long before signatures or a copy expire


DEFAULTS = Defaults()


@dataclass(frozen=True)
class Server:
    """One DNS server. A machine with both roles (an AD-integrated DNS server) is asked
    in each: ``role`` is the role it is asked in, ``roles`` every role it has.
    """

    name: str
    address: str
    port: int = 53
    role: Role = Role.RECURSIVE
    zones: tuple[str, ...] = ()
    serve_stale: float | None = None  # seconds it serves expired answers; None: unknown
    index: int = field(default=-1, compare=False, repr=False)  # in the file's list
    roles: tuple[Role, ...] = ()  # () stands for (role,)
    primary: bool = False  # the source of zone transfers for its zones
    software: Software | None = None  # None: not said
    # What results are filed under: the name, or for a machine with both roles, the
    # name and the role it is asked in (it answers each way differently).
    key: str = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        if not self.roles:
            object.__setattr__(self, "roles", (self.role,))
        key = self.name if len(self.roles) == 1 else f"{self.name}#{self.role}"
        object.__setattr__(self, "key", key)

    @property
    def recursive(self) -> bool:
        """The machine resolves for clients (whatever role this entry is asked in)."""
        return Role.RECURSIVE in self.roles

    @property
    def authoritative(self) -> bool:
        """The machine serves zones of its own."""
        return Role.AUTHORITATIVE in self.roles

    def as_role(self, role: Role) -> Server:
        """The same machine, asked in ``role``."""
        return self if role is self.role else replace(self, role=role)

    @property
    def role_text(self) -> str:
        """``recursive``, or ``recursive,authoritative`` for a machine with both."""
        return ",".join(r.value for r in self.roles)


@dataclass(frozen=True)
class Name:
    """One name and type to ask; ``expect`` holds canonical answer texts."""

    name: str
    type: str
    expect: frozenset[str] | None = None
    servers: tuple[str, ...] | None = None
    index: int = field(default=-1, compare=False, repr=False)  # in the file's list


@dataclass(frozen=True)
class ClientGroup:
    """Client machines that look names up alike: their resolvers in order, their stub.

    ``timeout`` and ``attempts`` of None mean the stub's own defaults.
    """

    name: str
    resolvers: tuple[str, ...]
    stub: Stub = Stub.GLIBC
    timeout: float | None = None
    attempts: int | None = None
    rotate: bool = False
    source: str | None = None  # the local address dnsmon asks from, as these clients do
    lookup_budget: float | None = None  # a lookup slower than this fails for them
    networks: tuple[str, ...] = ()  # the clients' own addresses (for ``learn``)
    index: int = field(default=-1, compare=False, repr=False)  # in the file's list
    # The group that stands in when the config describes none: its resolvers are every
    # resolver in the order listed, all of them used (not the first three glibc takes).
    stand_in: bool = False


# The group that stands in when the config describes no clients: glibc's defaults and
# every resolver in the order listed.
DEFAULT_CLIENTS = "clients"


@dataclass(frozen=True)
class Backup:
    name: str
    description: str = ""
    depends_on: tuple[str, ...] = ()
    instructions: str = ""  # what people do to use it, in their words
    index: int = field(default=-1, compare=False, repr=False)  # in the file's list
    hosts: tuple[str, ...] = ()  # the machines it runs on (for ``learn``)


@dataclass(frozen=True)
class Service:
    name: str
    description: str = ""
    criticality: Criticality = Criticality.NORMAL
    depends_on: tuple[str, ...] = ()
    backups: tuple[Backup, ...] = ()
    index: int = field(default=-1, compare=False, repr=False)  # in the file's list
    clients: tuple[str, ...] | None = None  # client groups that use it; None: every one
    hosts: tuple[str, ...] = ()  # its own machines (for ``learn``)


@dataclass(frozen=True)
class Alerting:
    """Where ``serve`` sends its own alerts: Alertmanager v2 API base URLs, IP literals."""

    alertmanagers: tuple[str, ...] = ()


@dataclass(frozen=True)
class Learning:
    """Where ``serve`` listens for the resolvers' dnstap, and where it keeps what it learned."""

    dnstap: tuple[str, ...] = ()
    state: str | None = None


@dataclass(frozen=True)
class Config:
    site: str
    defaults: Defaults
    servers: tuple[Server, ...]
    names: tuple[Name, ...]
    services: tuple[Service, ...]
    source: str = "probes.yaml"
    alerting: Alerting = field(default_factory=Alerting)
    fingerprint: str = ""  # of the file as written: a reload that changes nothing is no change
    probe_fingerprint: str = ""  # of what decides the questions and verdicts (``diff``)
    version: int = 1
    clients: tuple[ClientGroup, ...] = ()
    learning: Learning = field(default_factory=Learning)
    _server_index: dict[str, Server] = field(default_factory=dict, compare=False, repr=False)

    def client_groups(self) -> tuple[ClientGroup, ...]:
        """The client groups to judge for: those configured, or, when none are, one group
        with glibc's defaults and every resolver in the order listed."""
        if self.clients:
            return self.clients
        resolvers = tuple(s.name for s in self.servers if s.recursive)
        return (ClientGroup(DEFAULT_CLIENTS, resolvers, stand_in=True),) if resolvers else ()

    def server(self, name: str) -> Server:
        """The server called ``name``."""
        if not self._server_index:
            self._server_index.update((s.name, s) for s in self.servers)
        return self._server_index[name]
