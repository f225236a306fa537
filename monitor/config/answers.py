"""Canonical text of DNS answers, so ``expect`` and what servers say compare as sets."""

from __future__ import annotations

import ipaddress

import dns.exception
import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype
from dns.rdtypes.ANY.TXT import TXT


def answer_text(rdata: dns.rdata.Rdata) -> str:
    """One answer as users write it in ``expect``: TXT strings joined, names absolute."""
    if isinstance(rdata, TXT):
        return b"".join(rdata.strings).decode("utf-8", errors="replace")
    return rdata.to_text().lower()  # names compare case-insensitively in DNS


_ADDRESS_TYPES = {"A": 4, "AAAA": 6}


def canonical_rdata(rdtype: str, text: str) -> str:
    """Normalise one ``expect`` entry; raises ValueError if it does not fit the type."""
    if rdtype == "TXT":
        return text
    if rdtype in _ADDRESS_TYPES:  # the common case, without the tokenizer's cost
        try:
            address = ipaddress.ip_address(text.strip())
        except ValueError as exc:
            raise ValueError(f"not an IPv{_ADDRESS_TYPES[rdtype]} address") from exc
        if address.version != _ADDRESS_TYPES[rdtype]:
            raise ValueError(f"not an IPv{_ADDRESS_TYPES[rdtype]} address")
        return str(address)
    try:
        rdata = dns.rdata.from_text(
            dns.rdataclass.IN,
            dns.rdatatype.from_text(rdtype),
            text,
            origin=dns.name.root,
            relativize=False,
        )
    except (dns.exception.DNSException, ValueError) as exc:
        raise ValueError(str(exc) or type(exc).__name__) from exc
    return answer_text(rdata)
