"""One client query a resolver answered, as its traffic shows it, and what a source gave."""

from __future__ import annotations

from dataclasses import dataclass, field

REVERSE = (".in-addr.arpa", ".ip6.arpa")  # reverse lookups: noise, not dependencies
CANARY_PREFIX = "dnsmon-"  # dnsmon's own never-cached names (probing.plan)


@dataclass(frozen=True, slots=True)
class Message:
    """A client's question and the resolver's answer; the client address is used to
    attribute it and is never kept."""

    time: float  # Unix seconds of the question (or the answer)
    client: str  # the client's IP address, as text
    name: str  # lower case, without the final dot
    type: str  # "A", "AAAA", …
    rcode: str | None = None  # "NOERROR", "NXDOMAIN", …; None where the log has none
    cnames: tuple[str, ...] = ()  # the CNAME targets the answer followed
    own: bool = False  # the resolver's own query, not a client's
    query_only: bool = False  # a question logged apart from its answer (dnstap)


class Malformed(ValueError):
    """A record of a source that cannot be read: counted, never fatal."""


@dataclass
class SourceStats:
    """What one file or socket gave: ``learn --format json``'s ``sources``."""

    source: str
    format: str
    messages: int = 0  # records that were client queries or responses
    kept: int = 0  # attributed to an owner
    foreign: int = 0  # from a client in no configured hosts or networks
    noise: int = 0  # reverse lookups, the resolver's own queries
    malformed: int = 0
    newest: float = field(default=0.0, repr=False)

    def as_json(self) -> dict[str, object]:
        return {
            "source": self.source, "format": self.format, "messages": self.messages,
            "kept": self.kept, "foreign": self.foreign, "noise": self.noise,
            "malformed": self.malformed,
        }  # fmt: skip
