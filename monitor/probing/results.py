"""What one round found: a result per query, and the store every output reads."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from monitor.probing import fastwire
from monitor.probing.ede import Ede
from monitor.probing.plan import NameKey, Purpose, Query
from monitor.probing.wire import SoaTimers
from monitor.states import Result

# Results that carry the answers a resolver hands out, right or wrong.
ANSWERING = frozenset({Result.OK, Result.STALE, Result.WRONG_ANSWER})


@dataclass(slots=True)  # not frozen: a round creates tens of thousands; treat as immutable
class ProbeResult:
    """One server's answer to one name and type, classified; never an exception."""

    query: Query
    result: Result
    rtt_seconds: float | None = None
    ttl: int | None = None
    answers: tuple[str, ...] = ()
    detail: str = ""
    serial: int | None = None  # from an SOA answer
    soa_timers: SoaTimers | None = None  # from an SOA answer
    ede: tuple[Ede, ...] = ()
    chain: tuple[str, ...] = ()  # CNAME targets the answer followed, in order
    referral: str | None = None  # the child zone an authoritative server delegated to
    flags: int | None = None  # the reply's header flags; None when no reply was read
    edns: bool | None = None  # the reply carried EDNS; False: the server refused EDNS
    over_tcp: bool = False  # the last exchange was over TCP
    truncated: bool = False  # the UDP reply was truncated (TC), so it was asked over TCP
    size: int | None = None  # bytes of the reply judged
    rcode: int | None = None  # of the reply judged; None when none was read
    port_closed: bool = False  # no answer because the host said nothing listens (ICMP)
    retried: bool = False  # answered only to a later attempt: the first was lost
    sig_expiration: int | None = None  # the earliest RRSIG expiration (RFC 4034 serial time)
    negative_ttl: int | None = None  # an answer without data: how long it is cached (SOA TTL)

    @property
    def ok(self) -> bool:
        return self.result is Result.OK

    @property
    def answered(self) -> bool:
        """The server said something well-formed (anything but timeout or error)."""
        return self.result not in (Result.TIMEOUT, Result.ERROR)

    @property
    def serves_clients(self) -> bool:
        """A resolver hands out usable answers: fresh, or stale with data."""
        return self.result is Result.OK or (self.result is Result.STALE and bool(self.answers))

    @property
    def recursive(self) -> bool:
        return self.query.recursion  # asked with RD exactly when the server is a resolver


@dataclass(frozen=True)
class ServerFacts:
    """What one round showed about a server: did it answer, and what does it support."""

    answered: bool
    edns: bool | None = None  # None: not known from this round
    tcp: bool | None = None
    recursion_available: bool | None = None


def server_facts(results: Iterable[ProbeResult]) -> dict[str, ServerFacts]:
    """Per server: answered anything, EDNS, TCP and recursion as its replies showed."""
    seen: dict[str, dict[str, bool | None]] = {}
    for r in results:
        facts = seen.setdefault(
            r.query.server.name, {"answered": False, "edns": None, "tcp": None, "ra": None}
        )
        facts["answered"] = facts["answered"] or r.answered
        if r.edns is not None:
            facts["edns"] = r.edns if facts["edns"] is None else facts["edns"] and r.edns
        if r.over_tcp:
            facts["tcp"] = bool(facts["tcp"]) or r.answered
        if r.flags is not None and r.recursive:
            facts["ra"] = bool(facts["ra"]) or bool(r.flags & fastwire.RA)
    return {
        name: ServerFacts(bool(f["answered"]), f["edns"], f["tcp"], f["ra"])
        for name, f in seen.items()
    }


def observed_chains(
    results: Iterable[ProbeResult], keys: Iterable[NameKey]
) -> dict[NameKey, tuple[str, ...]]:
    """Every name's CNAME chain as this round's answers show it.

    A chain is every target any server's answer followed, in order of first sight,
    continued by the answers of the target zones' authoritative servers. Names that
    nothing answered this round are left out, so the caller keeps what it knew.
    """
    links: dict[NameKey, list[tuple[str, ...]]] = {}
    answered: set[NameKey] = set()  # answered without a CNAME by some server
    asked_for_names = (Purpose.NAME, Purpose.CHAIN)
    for r in results:
        if r.result in ANSWERING and r.query.purpose in asked_for_names:
            if r.chain:
                links.setdefault((r.query.name, r.query.type), []).append(r.chain)
            else:
                answered.add((r.query.name, r.query.type))
    chains = {}
    for key in keys:
        if key in links:
            chains[key] = _follow(key, links)
        elif key in answered:
            chains[key] = ()
    return chains


def _follow(key: NameKey, links: dict[NameKey, list[tuple[str, ...]]]) -> tuple[str, ...]:
    chain: dict[str, None] = {}
    pending = [key[0]]
    while pending:
        owner = pending.pop(0)
        for seen in links.get((owner, key[1]), []):
            for target in seen:
                if target not in chain and target != key[0]:
                    chain[target] = None
                    pending.append(target)
    return tuple(chain)


@dataclass
class Round:
    """All results of one round, keyed by (name, type, server), and the chains they showed."""

    started_at: float
    duration_seconds: float = 0.0
    results: dict[tuple[str, str, str], ProbeResult] = field(default_factory=dict)
    chains: dict[NameKey, tuple[str, ...]] = field(default_factory=dict)

    def add(self, result: ProbeResult) -> None:
        self.results[result.query.key] = result

    def get(self, name: str, rdtype: str, server: str) -> ProbeResult | None:
        return self.results.get((name, rdtype, server))
