"""The clocks anyone could read before DNS fails. Pure.

- **Signatures.** Authoritative servers are asked with the DO bit (``probing.wire``), so
  their answers carry the RRSIGs over what they sign; the earliest expiration among them
  is the zone's. Validating resolvers may accept a signature a little past it (Unbound's
  skew, up to an hour by default); dnsmon does not count on that.
- **Secondaries' copies.** A secondary serves its copy of a zone for the SOA expire after
  its last successful refresh from the primary. Once the primary stops answering (or a
  secondary stays behind its serial for longer than a refresh and a retry), the copies
  expire at the earliest one SOA expire, less one refresh, after the last round in which
  primary and secondaries agreed: the last refresh may have been a whole refresh before
  that round. ``serve`` and ``watch`` keep an ``ExpiryClock`` across rounds; a single
  ``check`` knows no earlier round, so it knows the latest the copies expire, not the
  earliest.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from monitor.probing.results import ProbeResult
from monitor.probing.wire import SoaTimers

WRAP = 1 << 32  # RRSIG times and SOA serials are compared modulo 2**32 (RFC 1982)


def rrsig_time(value: int, now: float) -> int:
    """An RRSIG time as seconds since the epoch: the one nearest ``now`` (serial order)."""
    delta = (value - int(now)) % WRAP
    return int(now) + (delta - WRAP if delta >= WRAP // 2 else delta)


def signatures(results: Iterable[ProbeResult], now: float) -> dict[str, int]:
    """Per zone, seconds from ``now`` until its earliest signature seen this round expires
    (negative: expired), from its authoritative servers' answers."""
    earliest: dict[str, int] = {}
    for r in results:
        zone = r.query.zone
        if r.sig_expiration is None or r.recursive or zone is None:
            continue
        at = rrsig_time(r.sig_expiration, now)
        if zone not in earliest or at < earliest[zone]:
            earliest[zone] = at
    return {zone: at - int(now) for zone, at in earliest.items()}


def serial_before(a: int, b: int) -> bool:
    """Serial ``a`` is older than ``b`` (RFC 1982 serial number arithmetic)."""
    return a != b and (b - a) % WRAP < WRAP // 2


@dataclass(frozen=True)
class Copies:
    """What one round shows of a zone's copies: the serial of each authoritative server
    asked (None: no good SOA answer) and which servers are primaries."""

    zone: str
    primaries: tuple[str, ...]
    serials: Mapping[str, int | None]
    timers: SoaTimers | None

    @property
    def primary_serial(self) -> int | None:
        """The newest serial a primary answers with; None while no primary answers."""
        found = [v for s, v in self.serials.items() if s in self.primaries and v is not None]
        newest = None
        for serial in found:
            newest = serial if newest is None or serial_before(newest, serial) else newest
        return newest

    @property
    def secondaries(self) -> dict[str, int | None]:
        return {s: v for s, v in self.serials.items() if s not in self.primaries}

    def ahead_of_primary(self) -> dict[str, int]:
        """Secondaries whose serial is newer than the primary's: it went backwards, and
        they will not transfer it."""
        primary = self.primary_serial
        if primary is None:
            return {}
        return {s: v for s, v in self.secondaries.items()
                if v is not None and serial_before(primary, v)}  # fmt: skip


@dataclass(frozen=True)
class Expiry:
    """The secondaries' copies of a zone are running out."""

    seconds: int | None  # until the first copy can expire, at the earliest; None: unknown
    at_most: int | None  # the latest it can be (one SOA expire from now); None: no SOA seen
    primary_silent: bool  # no primary answers; else some secondaries stay behind it
    behind: tuple[str, ...]  # the secondaries whose copies run out
    behind_seconds: float  # for how long they have been behind, as far as seen


class ExpiryClock:
    """When each zone's primary and secondaries last agreed, across rounds."""

    def __init__(self) -> None:
        self.agreed: dict[str, float] = {}  # zone → the last round they agreed
        self.behind: dict[str, float] = {}  # zone → the first round since then they did not
        self.timers: dict[str, SoaTimers] = {}  # the last SOA timers seen: a dark zone has none
        self.running: set[str] = set()  # zones whose copies ran out, until they agree again

    def observe(self, copies: Copies, now: float) -> Expiry | None:
        """The zone's copies' expiry, or None while they are safe (or nothing is known)."""
        zone = copies.zone
        if copies.timers is not None:
            self.timers[zone] = copies.timers
        secondaries = copies.secondaries
        if not secondaries or not any(p in copies.serials for p in copies.primaries):
            return None  # no primary listed, or not asked this round
        primary = copies.primary_serial
        if primary is not None and all(v == primary for v in secondaries.values()):
            self.agreed[zone] = now
            self.behind.pop(zone, None)
            self.running.discard(zone)
            return None
        if copies.ahead_of_primary():
            return None  # the primary went backwards: serial_regressed, refreshes still work
        since = self.behind.setdefault(zone, now)
        timers = self.timers.get(zone)
        lagging = tuple(sorted(s for s, v in secondaries.items() if v != primary))
        ordinary = timers is None or now - since <= timers.refresh + timers.retry
        if primary is not None and ordinary and zone not in self.running:
            return None  # an ordinary transfer under way
        self.running.add(zone)  # a primary back does not end it: the copies may have expired
        if timers is None:
            return Expiry(None, None, primary is None, lagging, now - since)
        agreed = self.agreed.get(zone)
        seconds = None if agreed is None else int(agreed + timers.expire - timers.refresh - now)
        return Expiry(seconds, timers.expire, primary is None, lagging, now - since)


def copies_of(
    zone: str, primaries: tuple[str, ...], soas: Mapping[str, ProbeResult | None]
) -> Copies:
    """A round's SOA answers for ``zone`` (server name → its answer) as its copies."""
    serials = {s: (r.serial if r.ok else None) for s, r in soas.items() if r is not None}
    primaries_first = sorted(soas.items(), key=lambda item: item[0] not in primaries)
    timers = next((r.soa_timers for _, r in primaries_first
                   if r is not None and r.ok and r.soa_timers is not None), None)  # fmt: skip
    return Copies(zone, primaries, serials, timers)
