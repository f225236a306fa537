"""DNS messages on the wire: query templates and the classification of replies.

Query wires are built once with dnspython and reused every round with a fresh ID.
Replies are read with dnspython's wire parser, section by section, instead of building a
whole ``dns.message.Message``: a round only needs the header, the answers and the TTL, and
full message construction costs three to four times as much CPU per reply.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.wire

from monitor.config.answers import answer_text
from monitor.states import Result

EDNS_PAYLOAD = 1232  # the DNS Flag Day 2020 size: no IP fragmentation on any path
_HEADER = struct.Struct("!HHHHHH")
_RR = struct.Struct("!HHIH")
# Rdata of these types holds no names, so no compression pointers: safe to memoise by bytes.
_MEMO_TYPES = {dns.rdatatype.A, dns.rdatatype.AAAA, dns.rdatatype.TXT}
_MEMO_LIMIT = 200_000

RCODE_RESULTS = {
    dns.rcode.NXDOMAIN: Result.NXDOMAIN,
    dns.rcode.SERVFAIL: Result.SERVFAIL,
    dns.rcode.REFUSED: Result.REFUSED,
}


@dataclass(frozen=True, slots=True)
class Template:
    """A query ready to send: its wire without an ID, and its question section bytes."""

    wire: bytes
    question: bytes

    def with_id(self, query_id: int) -> bytes:
        return query_id.to_bytes(2, "big") + self.wire[2:]


def template(name: str, rdtype: str, recursion: bool) -> Template:
    """Build the query once; EDNS0 with a 1232-byte buffer, RD only for resolvers."""
    message = dns.message.make_query(name, rdtype, use_edns=0, payload=EDNS_PAYLOAD)
    if not recursion:
        message.flags &= ~dns.flags.RD
    message.id = 0
    wire = message.to_wire()
    parser = dns.wire.Parser(wire, 12)
    parser.get_name()
    parser.get_struct("!HH")
    return Template(wire, wire[12 : parser.current].lower())


@dataclass(frozen=True)
class Reply:
    """What a well-formed reply says, before it is judged against the query."""

    query_id: int
    flags: int
    rcode: dns.rcode.Rcode
    question: bytes
    answers: tuple[str, ...]
    ttl: int | None
    serial: int | None = None
    soa_expire: int | None = None
    cname_outside: dns.name.Name | None = None  # a CNAME target the reply does not answer


@dataclass(frozen=True, slots=True)
class _Record:
    owner: dns.name.Name
    rtype: int
    ttl: int
    text: str
    rdata: Any


class Malformed(Exception):
    """A datagram that is not a DNS reply we can read."""


class ReplyParser:
    """Reads replies; keeps a memo of rdata texts that repeat round after round."""

    def __init__(self) -> None:
        self._memo: dict[tuple[int, bytes], str] = {}

    def header(self, wire: bytes) -> tuple[int, int, int]:
        """(ID, flags, question count) or Malformed."""
        if len(wire) < 12:
            raise Malformed(f"reply of {len(wire)} bytes is shorter than a DNS header")
        query_id, flags, qdcount, *_ = _HEADER.unpack_from(wire)
        return query_id, flags, qdcount

    def parse(self, wire: bytes, qtype: int) -> Reply:
        """Parse a reply's header, question and answers; raises Malformed."""
        try:
            return self._parse(wire, qtype)
        except Malformed:
            raise
        except (dns.exception.DNSException, ValueError, struct.error, IndexError) as exc:
            raise Malformed(f"malformed reply: {exc or type(exc).__name__}") from exc

    def _parse(self, wire: bytes, qtype: int) -> Reply:
        query_id, flags, qdcount = self.header(wire)
        _, _, _, ancount, nscount, arcount = _HEADER.unpack_from(wire)
        if qdcount != 1:
            raise Malformed(f"reply has {qdcount} questions, expected 1")
        parser = dns.wire.Parser(wire, 12)
        qname = parser.get_name(decompress=True)
        parser.get_struct("!HH")
        question = wire[12 : parser.current].lower()
        answers, ttl, soa, dangling = self._answers(wire, parser, ancount, qname, qtype)
        _skip_records(parser, nscount + arcount)
        if parser.remaining():
            raise Malformed(f"malformed reply: {parser.remaining()} bytes of trailing junk")
        serial, expire = (soa.serial, soa.expire) if soa is not None else (None, None)
        rcode = dns.rcode.from_flags(flags, 0)
        return Reply(query_id, flags, rcode, question, answers, ttl, serial, expire, dangling)

    def _answers(
        self, wire: bytes, parser: dns.wire.Parser, count: int, qname: dns.name.Name, qtype: int
    ) -> tuple[tuple[str, ...], int | None, Any, dns.name.Name | None]:
        """Answers to the question, following its CNAME chain from the asked name only.

        Returns the answer texts, the chain's smallest TTL, an SOA rdata when asked for
        one, and the target of a CNAME the reply leaves unanswered (else None).
        """
        records = [self._record(wire, parser, qtype) for _ in range(count)]
        current, ttls, seen = qname, [], set()
        while True:
            here = [r for r in records if r.owner == current]
            found = [r for r in here if r.rtype == qtype]
            if found:
                ttls += [r.ttl for r in found]
                soa = next((r.rdata for r in found if r.rtype == dns.rdatatype.SOA), None)
                texts = tuple(sorted({r.text for r in found}))
                return texts, min(ttls), soa, None
            cname = next((r for r in here if r.rtype == dns.rdatatype.CNAME), None)
            if cname is None or current in seen:
                dangling = current if current != qname else None
                return (), min(ttls, default=None), None, dangling
            seen.add(current)
            ttls.append(cname.ttl)
            current = cname.rdata.target

    def _record(self, wire: bytes, parser: dns.wire.Parser, qtype: int) -> _Record:
        owner = parser.get_name(decompress=True)
        rtype, rclass, ttl, rdlen = parser.get_struct(_RR.format)
        if rtype not in (qtype, dns.rdatatype.CNAME):
            _skip(parser, rdlen)
            return _Record(owner, rtype, ttl, "", None)
        text, rdata = self._rdata(wire, parser, rtype, rclass, rdlen)
        return _Record(owner, rtype, ttl, text, rdata)

    def _rdata(
        self, wire: bytes, parser: dns.wire.Parser, rtype: int, rclass: int, rdlen: int
    ) -> tuple[str, dns.rdata.Rdata | None]:
        start = parser.current
        key = (rtype, wire[start : start + rdlen])
        known = self._memo.get(key) if rtype in _MEMO_TYPES else None
        if known is not None:  # .get: TCP threads share this memo with the UDP loop
            parser.seek(start + rdlen)
            return known, None
        with parser.restrict_to(rdlen):
            rdata = dns.rdata.from_wire_parser(
                dns.rdataclass.RdataClass(rclass), dns.rdatatype.RdataType(rtype), parser, None
            )
        text = answer_text(rdata)
        if rtype in _MEMO_TYPES:
            if len(self._memo) > _MEMO_LIMIT:
                self._memo.clear()
            self._memo[key] = text
        return text, rdata


def _skip(parser: dns.wire.Parser, size: int) -> None:
    if size > parser.remaining():
        raise Malformed("malformed reply: record data runs past the end")
    parser.seek(parser.current + size)


def _skip_records(parser: dns.wire.Parser, count: int) -> None:
    """Walk authority and additional records so a cut-short reply is caught."""
    for _ in range(count):
        parser.get_name(decompress=True)
        rdlen = parser.get_struct(_RR.format)[3]
        _skip(parser, rdlen)


def classify_reply(
    reply: Reply, recursion: bool, expect: frozenset[str] | None
) -> tuple[Result, str]:
    """Classify a well-formed, matching reply into SPEC.md's vocabulary, with a reason."""
    if reply.rcode in RCODE_RESULTS:
        result = RCODE_RESULTS[reply.rcode]
        if result is Result.NXDOMAIN and not recursion and not reply.flags & dns.flags.AA:
            return Result.ERROR, "NXDOMAIN without the AA flag: server is not authoritative"
        return result, dns.rcode.to_text(reply.rcode)
    if reply.rcode != dns.rcode.NOERROR:
        return Result.ERROR, f"unexpected rcode {dns.rcode.to_text(reply.rcode)}"
    if not recursion and not reply.flags & dns.flags.AA:
        return Result.ERROR, "answer without the AA flag: server is not authoritative for it"
    if not reply.answers and reply.cname_outside is not None:
        if not recursion:  # an authoritative server answers for its own zones only
            return Result.OK, f"CNAME to {reply.cname_outside}, outside this server's zones"
        return Result.NODATA, f"CNAME chain ends at {reply.cname_outside} without an answer"
    if not reply.answers:
        return Result.NODATA, "no record of this type"
    if expect is not None and set(reply.answers) != expect:
        want = ", ".join(sorted(expect))
        return Result.WRONG_ANSWER, f"got {', '.join(reply.answers)}; expected {want}"
    return Result.OK, ""
