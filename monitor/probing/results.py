"""What one round found: a result per query, and the store every output reads."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from monitor.probing.plan import Query
from monitor.states import Result


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
    soa_expire: int | None = None

    @property
    def ok(self) -> bool:
        return self.result is Result.OK

    @property
    def answered(self) -> bool:
        """The server said something well-formed (anything but timeout or error)."""
        return self.result not in (Result.TIMEOUT, Result.ERROR)


def servers_answered(results: Iterable[ProbeResult]) -> dict[str, bool]:
    """Each server asked, and whether it said anything well-formed at all."""
    answered: dict[str, bool] = {}
    for r in results:
        answered[r.query.server.name] = answered.get(r.query.server.name, False) or r.answered
    return answered


@dataclass
class Round:
    """All results of one round, keyed by (name, type, server)."""

    started_at: float
    duration_seconds: float = 0.0
    results: dict[tuple[str, str, str], ProbeResult] = field(default_factory=dict)

    def add(self, result: ProbeResult) -> None:
        self.results[result.query.key] = result

    def get(self, name: str, rdtype: str, server: str) -> ProbeResult | None:
        return self.results.get((name, rdtype, server))
