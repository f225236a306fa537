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
from dataclasses import dataclass, field

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
    asked (None: no good SOA answer), which of them answered at all (an expired copy
    answers SERVFAIL; a silent server is its own fault), each one's SOA timers, and
    which servers are primaries."""

    zone: str
    primaries: tuple[str, ...]
    serials: Mapping[str, int | None]
    timers: SoaTimers | None  # the zone's, as the primary (else anyone) gives them
    answered: frozenset[str] = frozenset()
    own_timers: Mapping[str, SoaTimers] = field(default_factory=dict)

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

    seconds: int  # until the first copy can expire, at the earliest (0: any moment)
    at_most: int | None  # the latest the first copy expires; None: no SOA timers seen
    primary_silent: bool  # no primary answers; else some secondaries stay behind it
    behind: tuple[str, ...]  # the secondaries whose copies run out
    behind_seconds: float  # for how long, as far as seen
    known: bool = True  # dnsmon saw each of them in step with the primary


def earliest(timers: SoaTimers) -> int:
    """How long a secondary's copy lasts at the least after a round that saw it in step
    with its primary: the SOA expire less one refresh (its last refresh may have been a
    whole refresh before that round)."""
    return timers.expire - timers.refresh


class ExpiryClock:
    """When each secondary was last seen in step with its zone's primary, across rounds.

    A secondary is in step when it answers the primary's serial, or a newer serial than
    it did the round before (it just transferred one: a zone that changes every round
    stays in step). Its copy runs out once the primary is silent, or once it stays out of
    step for longer than a refresh and a retry; from the round it was last in step, it
    lasts ``earliest(timers)`` at the least, with its own SOA's timers.
    """

    def __init__(self) -> None:
        self.in_step: dict[tuple[str, str], float] = {}  # (zone, secondary) → last seen so
        self.serials: dict[tuple[str, str], int] = {}  # the serial each answered last
        self.trouble: dict[str, float] = {}  # zone → the first round since it was not all in step
        self.silent: dict[str, float] = {}  # zone → the first round its primary was silent
        self.timers: dict[tuple[str, str], SoaTimers] = {}  # the last timers each gave
        self.running: set[str] = set()  # zones whose copies ran out, until all are in step

    def observe(self, copies: Copies, now: float) -> Expiry | None:
        """The zone's copies' expiry, or None while they are safe (or nothing is known)."""
        zone = copies.zone
        if not copies.secondaries or not any(p in copies.serials for p in copies.primaries):
            return None  # no primary listed, or not asked this round
        primary = copies.primary_serial
        self._step(copies, primary, now)
        if primary is None:
            self.silent.setdefault(zone, now)
        else:
            self.silent.pop(zone, None)
        answering = [s for s in copies.secondaries if s in copies.answered]
        out = [s for s in answering if copies.serials[s] != primary]
        if primary is not None and not out:
            self.trouble.pop(zone, None)
            self.running.discard(zone)
            return None
        if copies.ahead_of_primary() or not answering:
            return None  # the primary went backwards (serial_regressed), or none answers
        since = self.trouble.setdefault(zone, now)
        if primary is None:
            out = answering  # none of them can refresh now
        elif zone not in self.running:
            out = [s for s in out if self._late(zone, s, since, now)]
            if not out:
                return None  # ordinary transfers under way
        self.running.add(zone)  # a primary back does not end it: the copies may have expired
        return self._expiry(zone, out, primary is None, since, now)

    def _step(self, copies: Copies, primary: int | None, now: float) -> None:
        for server, serial in copies.secondaries.items():
            key = (copies.zone, server)
            if server in copies.own_timers:
                self.timers[key] = copies.own_timers[server]
            elif copies.timers is not None:
                self.timers.setdefault(key, copies.timers)
            if serial is None:
                continue
            before = self.serials.get(key)
            took_newer = before is not None and serial_before(before, serial)
            if primary is not None and (serial == primary or took_newer):
                self.in_step[key] = now
            self.serials[key] = serial

    def _late(self, zone: str, server: str, since: float, now: float) -> bool:
        timers = self.timers.get((zone, server))
        last = self.in_step.get((zone, server), since)
        return timers is not None and now - last > timers.refresh + timers.retry

    def _expiry(self, zone: str, out: list[str], silent: bool, since: float, now: float) -> Expiry:
        soonest: list[float] = []
        latest: list[float] = []
        known = True
        for server in out:
            timers = self.timers.get((zone, server))
            last = self.in_step.get((zone, server))
            if timers is None:
                continue
            if last is None:
                known = False
                soonest.append(now)  # never seen in step: it may expire any moment
            else:
                soonest.append(last + earliest(timers))
            refreshed = self.silent.get(zone, max(last or since, since))  # at the latest
            latest.append(refreshed + timers.expire)
        left = int(min(soonest) - now) if soonest else 0
        at_most = int(min(latest) - now) if latest else None
        return Expiry(left, at_most, silent, tuple(sorted(out)), now - since, known)


def copies_of(
    zone: str, primaries: tuple[str, ...], soas: Mapping[str, ProbeResult | None]
) -> Copies:
    """A round's SOA answers for ``zone`` (server name → its answer) as its copies."""
    asked = {s: r for s, r in soas.items() if r is not None}
    serials = {s: (r.serial if r.ok else None) for s, r in asked.items()}
    own = {s: r.soa_timers for s, r in asked.items() if r.ok and r.soa_timers is not None}
    primaries_first = sorted(own.items(), key=lambda item: item[0] not in primaries)
    timers = primaries_first[0][1] if primaries_first else None
    answered = frozenset(s for s, r in asked.items() if r.answered)
    return Copies(zone, primaries, serials, timers, answered, own)
