"""What a server runs, as it says itself: its answer to ``version.bind`` (class CH).

Asked only for a server without a ``software:`` key, and only once a command for it is
needed (a cache to flush). A server that hides its version, or answers something no
software here is known by, stays unknown: causes then give every form of a command.
"""

from __future__ import annotations

import re

import dns.exception
import dns.message
import dns.query
import dns.rdataclass
import dns.rdatatype

from monitor.config import Server
from monitor.states import Software

# What each software answers: "unbound 1.17.1", "PowerDNS Recursor 4.8.2", "Knot
# Resolver 5.6.0", "Microsoft DNS 10.0.17763 (4563100D)"; BIND only its version number,
# "9.18.49-1~deb12u3-Debian" (or whatever its "version" option says).
_KNOWN = (
    (re.compile(r"^unbound\b", re.I), Software.UNBOUND),
    (re.compile(r"powerdns", re.I), Software.POWERDNS),
    (re.compile(r"knot resolver|^kresd", re.I), Software.KNOT_RESOLVER),
    (re.compile(r"microsoft", re.I), Software.WINDOWS),
    (re.compile(r"^(bind\b|9\.\d+\.\d+)", re.I), Software.BIND),
)


def recognise(version: str) -> Software | None:
    """The software a ``version.bind`` answer names, if any."""
    for pattern, software in _KNOWN:
        if pattern.search(version.strip()):
            return software
    return None


def ask(server: Server, timeout: float) -> Software | None:
    """Ask ``server`` its version (one UDP query); None when it does not say."""
    query = dns.message.make_query("version.bind", dns.rdatatype.TXT, dns.rdataclass.CH)
    try:
        reply = dns.query.udp(query, server.address, timeout=timeout, port=server.port)
    except (dns.exception.DNSException, OSError):
        return None
    for rrset in reply.answer:
        for rdata in rrset:
            if rdata.rdtype == dns.rdatatype.TXT:
                text = b"".join(rdata.strings).decode("ascii", "replace")
                return recognise(text)
    return None
