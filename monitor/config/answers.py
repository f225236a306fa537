"""Canonical text of DNS answers, so ``expect`` and what servers say compare as sets."""

from __future__ import annotations

import ipaddress
import socket

import dns.exception
import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype
from dns.rdtypes.ANY.TXT import TXT

# Control characters in text a server sends are shown as zone files show them (\027 for
# ESC): a hostile TXT record must not drive the terminal of whoever reads the report.
_CONTROL = {c: f"\\{c:03d}" for c in [*range(0x20), 0x7F, *range(0x80, 0xA0)]}


def printable(text: str) -> str:
    """``text`` with every control character written as ``\\DDD``."""
    return text.translate(_CONTROL)


def answer_text(rdata: dns.rdata.Rdata) -> str:
    """One answer as users write it in ``expect``: TXT strings joined, names absolute,
    addresses in Python's one canonical form (so ``::ffff:127.0.0.1`` matches itself)."""
    if isinstance(rdata, TXT):
        return printable(b"".join(rdata.strings).decode("utf-8", errors="replace"))
    if rdata.rdtype in (dns.rdatatype.A, dns.rdatatype.AAAA):
        return str(ipaddress.ip_address(rdata.address))  # type: ignore[attr-defined]
    return rdata.to_text().lower()  # names compare case-insensitively in DNS


_ADDRESS_TYPES = {"A": 4, "AAAA": 6}


def canonical_rdata(rdtype: str, text: str) -> str:
    """Normalise one ``expect`` entry; raises ValueError if it does not fit the type.

    TXT is written either as the joined text (``v=spf1 -all``) or in zone-file form,
    quoted strings that are joined (``"v=spf1 " "-all"``).
    """
    if rdtype == "TXT":
        return _txt(text)
    if rdtype == "A":  # the most common case: the C parser, strict as ipaddress is
        try:
            return socket.inet_ntop(socket.AF_INET, socket.inet_pton(socket.AF_INET, text))
        except (OSError, ValueError):
            pass  # ipaddress below says why, or accepts it with spaces around
    if rdtype in _ADDRESS_TYPES:  # without the tokenizer's cost
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


def _txt(text: str) -> str:
    if not text.lstrip().startswith('"'):
        return text
    try:
        rdata = dns.rdata.from_text(dns.rdataclass.IN, dns.rdatatype.TXT, text)
    except (dns.exception.DNSException, ValueError) as exc:
        raise ValueError(f"not TXT in zone-file form: {exc or type(exc).__name__}") from exc
    return answer_text(rdata)
