"""The clocks anyone could read before DNS fails: when a zone's signatures expire. Pure.

Authoritative servers are asked with the DO bit (``probing.wire``), so their answers carry
the RRSIGs over what they sign; the earliest expiration among them is the zone's.
Validating resolvers may accept a signature a little past it (Unbound's skew, up to an
hour by default); dnsmon does not count on that.
"""

from __future__ import annotations

from collections.abc import Iterable

from monitor.probing.results import ProbeResult

WRAP = 1 << 32  # RRSIG times are seconds since the epoch, modulo 2**32 (RFC 4034 3.1.5)


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
