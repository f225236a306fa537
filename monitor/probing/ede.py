"""Extended DNS Errors (RFC 8914): what a server says about why it answered as it did.

A resolver that serves an answer from expired cache says so with EDE 3 or 19; one that
cannot reach the authority says 22 or 23; a validating one says why DNSSEC failed (1–12).
dnsmon reads them from every reply, so a stale answer never passes for a fresh one.
"""

from __future__ import annotations

from dataclasses import dataclass

from monitor.config.answers import printable

# The IANA registry's names, as people read them in reports.
NAMES = {
    0: "Other Error",
    1: "Unsupported DNSKEY Algorithm",
    2: "Unsupported DS Digest Type",
    3: "Stale Answer",
    4: "Forged Answer",
    5: "DNSSEC Indeterminate",
    6: "DNSSEC Bogus",
    7: "Signature Expired",
    8: "Signature Not Yet Valid",
    9: "DNSKEY Missing",
    10: "RRSIGs Missing",
    11: "No Zone Key Bit Set",
    12: "NSEC Missing",
    13: "Cached Error",
    14: "Not Ready",
    15: "Blocked",
    16: "Censored",
    17: "Filtered",
    18: "Prohibited",
    19: "Stale NXDOMAIN Answer",
    20: "Not Authoritative",
    21: "Not Supported",
    22: "No Reachable Authority",
    23: "Network Error",
    24: "Invalid Data",
    25: "Signature Expired before Valid",
    26: "Too Early",
    27: "Unsupported NSEC3 Iterations Value",
    28: "Unable to conform to policy",
    29: "Synthesized",
    30: "Invalid Query Type",
}

STALE = frozenset({3, 19})
# RFC 8914's codes 1–12 are about DNSSEC, except 3 (stale) and 4 (forged), which are not.
DNSSEC = frozenset(range(1, 13)) - {3, 4}
EXPIRED = 24  # Invalid Data: NSD's word for a secondary's expired copy ("Zone has expired")
NO_AUTHORITY = frozenset({22, 23})  # the resolver could not reach the authority
ALTERED = frozenset({4, 15, 16, 17})  # policy changed the answer: not the zone's data

OPTION_CODE = 15  # the EDNS option that carries an EDE


@dataclass(frozen=True, slots=True)
class Ede:
    """One Extended DNS Error a server attached to its reply."""

    code: int
    text: str = ""

    @property
    def name(self) -> str:
        return NAMES.get(self.code, f"EDE {self.code}")

    def __str__(self) -> str:
        extra = f": {self.text}" if self.text else ""
        return f"EDE {self.code} {self.name}{extra}"

    def as_json(self) -> dict[str, object]:
        return {"code": self.code, "name": self.name, "text": self.text}


def from_option(data: bytes) -> Ede:
    """An EDE option's payload: a 16-bit code, then optional UTF-8 text."""
    if len(data) < 2:
        raise ValueError("EDE option shorter than its 2-byte code")
    text = printable(data[2:].decode("utf-8", errors="replace").rstrip("\x00"))
    return Ede(int.from_bytes(data[:2], "big"), text)


def codes(edes: tuple[Ede, ...]) -> frozenset[int]:
    return frozenset(e.code for e in edes)
