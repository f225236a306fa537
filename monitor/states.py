"""The one vocabulary of SPEC.md: every state, result and level as an enum.

Code, JSON, metrics and the status page all use these values; nothing re-spells them.
"""

from __future__ import annotations

from enum import StrEnum


class Vocabulary(StrEnum):
    """A str-valued enum that renders as its value in f-strings and JSON."""

    def __str__(self) -> str:
        return str(self._value_)  # not ``value``: a property, ten times slower


class Result(Vocabulary):
    """One server's answer to one name and type."""

    OK = "ok"
    STALE = "stale"  # answered from expired cache (EDE 3 or 19): the resolver lost the authority
    WRONG_ANSWER = "wrong_answer"
    NXDOMAIN = "nxdomain"
    NODATA = "nodata"
    SERVFAIL = "servfail"
    REFUSED = "refused"
    TIMEOUT = "timeout"
    ERROR = "error"


class NameState(Vocabulary):
    HEALTHY = "healthy"
    DEGRADED = "degraded"
    FAILING = "failing"


class ServiceState(Vocabulary):
    UP = "up"
    DEGRADED = "degraded"
    DOWN = "down"


class BackupState(Vocabulary):
    USABLE = "usable"
    AT_RISK = "at_risk"
    UNUSABLE = "unusable"


class SharedFate(Vocabulary):
    """How strongly a backup's DNS dependencies overlap its service's; strongest first."""

    NAME = "name"
    ZONE = "zone"
    AUTHORITATIVE = "authoritative"  # other zones, the same authoritative servers
    SERVERS = "servers"  # only the same resolvers


class Criticality(Vocabulary):
    CRITICAL = "critical"
    HIGH = "high"
    NORMAL = "normal"


class Role(Vocabulary):
    RECURSIVE = "recursive"
    AUTHORITATIVE = "authoritative"


class Stub(Vocabulary):
    """How a group of client machines looks names up: its stub resolver."""

    GLIBC = "glibc"
    MUSL = "musl"
    WINDOWS = "windows"
    SYSTEMD_RESOLVED = "systemd-resolved"


class Lookup(Vocabulary):
    """One client group's lookup of one name, replayed over a round's answers."""

    OK = "ok"  # answered within a second
    SLOW = "slow"  # answered, after more than a second
    FAILS = "fails"  # no usable answer, or slower than the group's lookup budget


class People(Vocabulary):
    """What the people who use a service should do now."""

    WORKING = "working"  # every client group looks its names up well: nothing to do
    PREPARE = "prepare"  # works, but only from caches that are running out
    USE_BACKUPS = "use_backups"  # down for some client group


class Software(Vocabulary):
    """What a server runs, for the commands that act on it."""

    BIND = "bind"
    UNBOUND = "unbound"
    KNOT_RESOLVER = "knot-resolver"
    POWERDNS = "powerdns"
    WINDOWS = "windows"
    OTHER = "other"


class Transport(Vocabulary):
    UDP = "udp"
    TCP = "tcp"


# The states that need no one's attention; everything else is news.
GOOD_STATES = frozenset({ServiceState.UP, BackupState.USABLE, NameState.HEALTHY})
# Levels of trouble for display: every state of every kind, by how bad it is.
TROUBLE = {
    **{s: "good" for s in GOOD_STATES},
    ServiceState.DEGRADED: "warning", BackupState.AT_RISK: "warning",
    NameState.DEGRADED: "warning",
    ServiceState.DOWN: "bad", BackupState.UNUSABLE: "bad", NameState.FAILING: "bad",
}  # fmt: skip

# Worst-first orderings, used to rank and to pick the overall status.
SERVICE_SEVERITY = {ServiceState.UP: 0, ServiceState.DEGRADED: 1, ServiceState.DOWN: 2}
NAME_SEVERITY = {NameState.HEALTHY: 0, NameState.DEGRADED: 1, NameState.FAILING: 2}
BACKUP_SEVERITY = {BackupState.USABLE: 0, BackupState.AT_RISK: 1, BackupState.UNUSABLE: 2}
CRITICALITY_RANK = {Criticality.CRITICAL: 0, Criticality.HIGH: 1, Criticality.NORMAL: 2}

RECORD_TYPES = ("A", "AAAA", "CNAME", "MX", "NS", "PTR", "SOA", "SRV", "TXT")
