"""dnstap: what a resolver says it was asked and answered, as protobuf in Frame Streams.

CLIENT_RESPONSE messages carry the client, the question, the rcode and the answer (its
CNAME chain); CLIENT_QUERY messages the question alone (counted only where the resolver
logs no answers). The resolver's own queries (RESOLVER_*, FORWARDER_*) are noise here.
The schema is ``dnstap-pb``'s, read by ``protobuf``.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from typing import BinaryIO

import dns.exception
import dns.name
import dns.rcode
import dns.rdatatype
import dns.wire
from dnstap_pb import dnstap_pb2
from google.protobuf.message import DecodeError

from monitor.learning.messages import Malformed, Message
from monitor.learning.readers import framestreams

_TYPES = dnstap_pb2.Message
CLIENT_QUERY, CLIENT_RESPONSE = _TYPES.CLIENT_QUERY, _TYPES.CLIENT_RESPONSE
_RR_HEAD = 10  # type, class, TTL, rdata length
_CNAME = dns.rdatatype.CNAME


def read(stream: BinaryIO) -> Iterator[Message | Malformed]:
    """The messages of a dnstap file."""
    for frame in framestreams.file_frames(stream):
        yield frame if isinstance(frame, Malformed) else decode(frame)


def decode(frame: bytes) -> Message | Malformed:
    """One dnstap frame as a message; Malformed when it cannot be read."""
    envelope = dnstap_pb2.Dnstap()
    try:
        envelope.ParseFromString(frame)
    except DecodeError:
        return Malformed("a dnstap frame that is not the dnstap protobuf")
    found = envelope.message
    if found.type not in (CLIENT_QUERY, CLIENT_RESPONSE):
        return Message(_time(found), "", "", "", own=True)
    answered = found.type == CLIENT_RESPONSE
    wire = found.response_message if answered else found.query_message
    try:
        name, rdtype, rcode, cnames = read_wire(wire)
        client = str(ipaddress.ip_address(found.query_address))
    except (Malformed, ValueError) as exc:
        return Malformed(f"a dnstap message that cannot be read: {exc}")
    return Message(_time(found), client, name, rdtype, rcode if answered else None, cnames,
                   query_only=not answered)  # fmt: skip


def _time(found: dnstap_pb2.Message) -> float:
    if found.HasField("response_time_sec"):
        return found.response_time_sec + found.response_time_nsec / 1e9
    return found.query_time_sec + found.query_time_nsec / 1e9


def read_wire(wire: bytes) -> tuple[str, str, str, tuple[str, ...]]:
    """(name, type, rcode, CNAME targets) of a DNS message, read only as far as needed:
    the question and the CNAMEs that follow from it."""
    try:
        parser = dns.wire.Parser(wire)
        _, flags, qdcount, ancount, _, _ = parser.get_struct("!HHHHHH")
        if qdcount != 1:
            raise Malformed(f"{qdcount} questions")
        qname = parser.get_name()
        qtype, _ = parser.get_struct("!HH")
        links: dict[dns.name.Name, dns.name.Name] = {}
        for _ in range(ancount):
            owner = parser.get_name(decompress=True)
            rtype, _, _, rdlen = parser.get_struct("!HHIH")
            if rtype == _CNAME:
                with parser.restrict_to(rdlen):
                    links[owner] = parser.get_name(decompress=True)
            else:
                parser.seek(parser.current + rdlen)
    except (dns.exception.DNSException, ValueError, IndexError) as exc:
        raise Malformed(str(exc) or type(exc).__name__) from exc
    chain: list[str] = []
    current = qname
    while current in links and len(chain) < 16:
        current = links[current]
        chain.append(_text(current))
    rcode = dns.rcode.to_text(dns.rcode.Rcode.make(flags & 0xF))
    return _text(qname), dns.rdatatype.to_text(qtype), rcode, tuple(chain)


def _text(name: dns.name.Name) -> str:
    return name.to_text(omit_final_dot=True).lower()
