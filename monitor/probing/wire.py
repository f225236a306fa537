"""DNS messages on the wire: query templates and the classification of replies.

Query wires are built once with dnspython and reused every round with a fresh ID.
Replies are read with dnspython's wire parser, section by section, instead of building a
whole ``dns.message.Message``: a round only needs the header, the answers and the TTL, and
full message construction costs three to four times as much CPU per reply.
"""

from __future__ import annotations

import functools
import struct
from dataclasses import dataclass
from typing import Any, NamedTuple

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
from monitor.probing import ede, fastwire
from monitor.probing.ede import Ede
from monitor.probing.plan import MAX_LINKS
from monitor.states import Result

EDNS_PAYLOAD = 1232  # the DNS Flag Day 2020 size: no IP fragmentation on any path
_HEADER = struct.Struct("!HHHHHH")
_RR = struct.Struct("!HHIH")
_U32 = struct.Struct("!I")
_RRSIG = int(dns.rdatatype.RRSIG)
_IN = int(dns.rdataclass.IN)
# Records read in one reply at the most: a name with hundreds of addresses is rare inside
# a region; thousands are a server making dnsmon's rounds long.
MAX_RECORDS = 1000
# Rdata of these types holds no names, so no compression pointers: safe to memoise by bytes.
_MEMO_TYPES = {dns.rdatatype.A, dns.rdatatype.AAAA, dns.rdatatype.TXT}
_MEMO_LIMIT = 200_000
# Answers to an EDNS query that mean "this server does not speak EDNS": ask again without.
EDNS_REJECTED = frozenset({dns.rcode.FORMERR, dns.rcode.NOTIMP, dns.rcode.BADVERS})

# Error replies a server may send without the question section (RFC 1035 leaves it
# open; Unbound's access control refuses that way): matched to the query by ID alone.
QUESTIONLESS = frozenset({dns.rcode.REFUSED, dns.rcode.FORMERR, dns.rcode.NOTIMP})

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
    edns: bool = True

    def with_id(self, query_id: int) -> bytes:
        return query_id.to_bytes(2, "big") + self.wire[2:]


def template(name: str, rdtype: str, recursion: bool, edns: bool = True) -> Template:
    """Build the query once: EDNS0 with a 1232-byte buffer (unless a server cannot take
    EDNS), RD only for resolvers; authoritative servers are asked with the DO bit, so
    their answers carry the signatures whose expiry dnsmon counts down."""
    qtype = qtype_code(rdtype)
    dnssec = edns and not recursion
    fast = fastwire.query_wire(name, qtype, recursion, EDNS_PAYLOAD if edns else None, dnssec)
    if fast is not None:
        return Template(fast[0], fast[1].lower(), edns)
    return _full_template(name, rdtype, recursion, edns)


@functools.cache
def qtype_code(rdtype: str) -> int:
    """``A`` → 1: the type's number, looked up once."""
    return int(dns.rdatatype.from_text(rdtype))


@functools.cache
def _rcode(value: int) -> dns.rcode.Rcode:
    return dns.rcode.Rcode.make(value)


def _full_template(name: str, rdtype: str, recursion: bool, edns: bool) -> Template:
    if edns:
        message = dns.message.make_query(
            name, rdtype, use_edns=0, payload=EDNS_PAYLOAD, want_dnssec=not recursion
        )
    else:
        message = dns.message.make_query(name, rdtype, use_edns=False)
    if not recursion:
        message.flags &= ~dns.flags.RD
    message.id = 0
    wire = message.to_wire()
    parser = dns.wire.Parser(wire, 12)
    parser.get_name()
    parser.get_struct("!HH")
    return Template(wire, wire[12 : parser.current].lower(), edns)


class SoaTimers(NamedTuple):
    """A zone's SOA timers (RFC 1035 3.3.13), in seconds."""

    refresh: int
    retry: int
    expire: int
    minimum: int  # the negative-caching TTL's upper bound (RFC 2308)


@dataclass(frozen=True)
class Reply:
    """What a well-formed reply says, before it is judged against the query."""

    query_id: int
    flags: int
    rcode: dns.rcode.Rcode  # with the extended bits of the OPT record
    question: bytes
    answers: tuple[str, ...]
    ttl: int | None
    serial: int | None = None
    soa_timers: SoaTimers | None = None
    chain: tuple[str, ...] = ()  # CNAME targets followed from the asked name, in order
    cname_outside: str | None = None  # a CNAME target the reply does not answer
    referral: str | None = None  # the zone a referral delegates to
    ede: tuple[Ede, ...] = ()
    edns: bool = False  # the reply carried an OPT record
    # The earliest signature expiration among the answer's RRSIGs (RFC 4034 serial time:
    # seconds since the epoch, modulo 2**32); None when the answer carries none.
    sig_expiration: int | None = None
    # In an answer without data, the TTL of the SOA in the authority section: how long the
    # negative answer is cached (a resolver hands it out counted down).
    negative_ttl: int | None = None


@dataclass(frozen=True, slots=True)
class _Answer:
    texts: tuple[str, ...]
    ttl: int | None
    chain: tuple[str, ...]
    dangling: str | None
    soa: Any
    sig_expiration: int | None = None


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

    def parse(self, wire: bytes, qtype: int, question: bytes | None = None) -> Reply:
        """Parse a reply's header, question and answers; raises Malformed.

        Given the question asked, a plain reply to it is read on the fast path.
        """
        if question is not None:
            fast = fastwire.parse(wire, question, qtype, self._memo)
            if fast is not None:
                if len(self._memo) > _MEMO_LIMIT:
                    self._memo.clear()
                return Reply(
                    fast.query_id, fast.flags, _rcode(fast.rcode), question, fast.answers,
                    fast.ttl, ede=fast.ede, edns=fast.edns, negative_ttl=fast.negative_ttl,
                    sig_expiration=fast.sig_expiration,
                )  # fmt: skip
        try:
            return self._parse(wire, qtype)
        except Malformed:
            raise
        except (dns.exception.DNSException, ValueError, struct.error, IndexError) as exc:
            raise Malformed(f"malformed reply: {exc or type(exc).__name__}") from exc

    def _parse(self, wire: bytes, qtype: int) -> Reply:
        query_id, flags, qdcount = self.header(wire)
        _, _, _, ancount, nscount, arcount = _HEADER.unpack_from(wire)
        if qdcount == 0 and ancount == 0 and flags & 0xF in QUESTIONLESS:
            return self._questionless(wire, query_id, flags, nscount, arcount)
        if qdcount != 1:
            raise Malformed(f"reply has {qdcount} questions, expected 1")
        if ancount + nscount + arcount > MAX_RECORDS:
            raise Malformed(f"malformed reply: {ancount + nscount + arcount} records, over the "
                            f"{MAX_RECORDS} dnsmon reads in one reply")  # fmt: skip
        parser = dns.wire.Parser(wire, 12)
        qname = parser.get_name(decompress=True)
        parser.get_struct("!HH")
        question = wire[12 : parser.current].lower()
        answer = self._answers(wire, parser, ancount, qname, qtype)
        referral, soa_ttl = _authority(parser, nscount)
        if answer.texts or answer.chain:
            referral = None  # NS records beside an answer are the zone's, not a delegation
        opt = _additional(parser, arcount)
        if parser.remaining():
            raise Malformed(f"malformed reply: {parser.remaining()} bytes of trailing junk")
        soa = answer.soa
        rcode = _rcode((opt.extended_rcode << 4) | (flags & 0xF))
        return Reply(
            query_id, flags, rcode, question, answer.texts, answer.ttl,
            soa.serial if soa is not None else None,
            SoaTimers(soa.refresh, soa.retry, soa.expire, soa.minimum) if soa is not None else None,
            answer.chain, answer.dangling, referral, opt.ede, opt.present,
            answer.sig_expiration, None if answer.texts else soa_ttl,
        )  # fmt: skip

    def _questionless(
        self, wire: bytes, query_id: int, flags: int, nscount: int, arcount: int
    ) -> Reply:
        """An error reply without the question: its rcode and EDE, for whatever was asked."""
        parser = dns.wire.Parser(wire, 12)
        _, soa_ttl = _authority(parser, nscount)
        opt = _additional(parser, arcount)
        if parser.remaining():
            raise Malformed(f"malformed reply: {parser.remaining()} bytes of trailing junk")
        rcode = _rcode((opt.extended_rcode << 4) | (flags & 0xF))
        return Reply(
            query_id, flags, rcode, b"", (), None, ede=opt.ede, edns=opt.present,
            negative_ttl=soa_ttl,
        )  # fmt: skip

    def _answers(
        self, wire: bytes, parser: dns.wire.Parser, count: int, qname: dns.name.Name, qtype: int
    ) -> _Answer:
        """Answers to the question, following its CNAME chain from the asked name only."""
        records = [self._record(wire, parser, qtype) for _ in range(count)]
        # Only the asked name's own signatures: those over a CNAME target in another zone
        # are that zone's clock, not this one's.
        signed = min((r.rdata for r in records if r.rtype == _RRSIG and r.rdata is not None
                      and r.owner == qname), default=None, key=fastwire.rrsig_order)  # fmt: skip
        current, ttls, seen = qname, [], {qname}
        chain: list[str] = []
        while True:
            here = [r for r in records if r.owner == current]
            found = [r for r in here if r.rtype == qtype]
            if found:
                ttls += [r.ttl for r in found]
                soa = next((r.rdata for r in found if r.rtype == dns.rdatatype.SOA), None)
                texts = tuple(sorted({r.text for r in found}))
                return _Answer(texts, min(ttls), tuple(chain), None, soa, signed)
            cname = next((r for r in here if r.rtype == dns.rdatatype.CNAME), None)
            if cname is None or len(chain) >= MAX_LINKS or cname.rdata.target in seen:
                dangling = chain[-1] if chain else None
                return _Answer((), min(ttls, default=None), tuple(chain), dangling, None, signed)
            ttls.append(cname.ttl)
            current = cname.rdata.target
            seen.add(current)
            chain.append(_text(current))

    def _record(self, wire: bytes, parser: dns.wire.Parser, qtype: int) -> _Record:
        owner = parser.get_name(decompress=True)
        rtype, rclass, ttl, rdlen = parser.get_struct(_RR.format)
        if rclass != _IN:  # every question dnsmon asks is of class IN
            name = dns.rdataclass.to_text(rclass)
            raise Malformed(f"malformed reply: a record of class {name} in the answer")
        if rtype == _RRSIG and rtype != qtype:  # only its expiration is read
            start = parser.current
            _skip(parser, rdlen)
            expiration = _U32.unpack_from(wire, start + 8)[0] if rdlen >= 18 else None
            return _Record(owner, rtype, ttl, "", expiration)
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


def _authority(parser: dns.wire.Parser, count: int) -> tuple[str | None, int | None]:
    """The zone a referral delegates to (NS records in the authority section, no SOA),
    and the TTL of an SOA there (how long a negative answer is cached)."""
    delegated, soa_ttl = None, None
    for _ in range(count):
        owner = parser.get_name(decompress=True)
        rtype, _, ttl, rdlen = parser.get_struct(_RR.format)
        _skip(parser, rdlen)
        if rtype == dns.rdatatype.SOA:
            soa_ttl = ttl if soa_ttl is None else min(soa_ttl, ttl)
        if rtype == dns.rdatatype.NS:
            delegated = _text(owner)
    return (None if soa_ttl is not None else delegated), soa_ttl


@dataclass(frozen=True, slots=True)
class _Opt:
    present: bool = False
    extended_rcode: int = 0
    ede: tuple[Ede, ...] = ()


def _additional(parser: dns.wire.Parser, count: int) -> _Opt:
    """The OPT record, if any: the upper bits of the rcode and the Extended DNS Errors."""
    opt = _Opt()
    for _ in range(count):
        parser.get_name(decompress=True)
        rtype, _, ttl, rdlen = parser.get_struct(_RR.format)
        if rtype != dns.rdatatype.OPT:
            _skip(parser, rdlen)
            continue
        if rdlen > parser.remaining():
            raise Malformed("malformed reply: OPT record runs past the end")
        options = parser.get_bytes(rdlen)
        opt = _Opt(True, ttl >> 24, tuple(_edes(options)))
    return opt


def _edes(options: bytes) -> list[Ede]:
    found, offset = [], 0
    while offset + 4 <= len(options):
        code, size = struct.unpack_from("!HH", options, offset)
        data = options[offset + 4 : offset + 4 + size]
        if len(data) < size:
            raise Malformed("malformed reply: EDNS option runs past the end")
        if code == ede.OPTION_CODE:
            try:
                found.append(ede.from_option(data))
            except ValueError as exc:
                raise Malformed(f"malformed reply: {exc}") from exc
        offset += 4 + size
    if offset != len(options):
        raise Malformed("malformed reply: EDNS options cut short")
    return found


def _text(name: dns.name.Name) -> str:
    """A name as the config writes it: lower case, no final dot."""
    return name.to_text(omit_final_dot=True).lower()


def classify_reply(
    reply: Reply, recursion: bool, expect: frozenset[str] | None
) -> tuple[Result, str]:
    """Classify a well-formed, matching reply into SPEC.md's vocabulary, with a reason."""
    if reply.rcode in RCODE_RESULTS:
        return _negative(reply, recursion)
    if reply.rcode != dns.rcode.NOERROR:
        return Result.ERROR, f"unexpected rcode {dns.rcode.to_text(reply.rcode)}{_why(reply)}"
    wrong_kind = _resolver_problem(reply) if recursion else _authority_problem(reply)
    if wrong_kind is not None:
        return wrong_kind
    if not reply.answers and reply.cname_outside is not None:
        if not recursion:  # an authoritative server answers for its own zones only
            return Result.OK, f"CNAME to {reply.cname_outside}, outside this server's zones"
        return Result.NODATA, f"CNAME chain ends at {reply.cname_outside} without an answer"
    if not reply.answers:
        return Result.NODATA, "no record of this type"
    if expect is not None and set(reply.answers) != expect:
        want = ", ".join(sorted(expect))
        return Result.WRONG_ANSWER, f"got {', '.join(reply.answers)}; expected {want}"
    return _answered(reply, recursion)


def _negative(reply: Reply, recursion: bool) -> tuple[Result, str]:
    result = RCODE_RESULTS[reply.rcode]
    if result is Result.NXDOMAIN and not recursion and not reply.flags & fastwire.AA:
        return Result.ERROR, "NXDOMAIN without the AA flag: server is not authoritative"
    if recursion and ede.codes(reply.ede) & ede.STALE:
        return Result.STALE, f"NXDOMAIN served from expired cache{_why(reply)}"
    return result, f"{dns.rcode.to_text(reply.rcode)}{_why(reply)}"


def _resolver_problem(reply: Reply) -> tuple[Result, str] | None:
    """A resolver that does not resolve: recursion off, or a referral handed back."""
    if not reply.flags & fastwire.RA:
        return Result.ERROR, (
            "recursion not available (RA flag clear): the server answers only the zones "
            "it holds itself"
        )
    if reply.referral is not None and not reply.answers and not reply.chain:
        return Result.ERROR, f"a referral to {reply.referral} instead of an answer"
    return None


def _authority_problem(reply: Reply) -> tuple[Result, str] | None:
    """Asked with recursion off, a server must answer with authority, or delegate."""
    if reply.flags & fastwire.AA:
        return None
    if reply.referral is not None and not reply.answers and not reply.chain:
        return Result.OK, f"delegated to {reply.referral}, a child zone with servers of its own"
    return Result.ERROR, "answer without the AA flag: server is not authoritative for it"


def _answered(reply: Reply, recursion: bool) -> tuple[Result, str]:
    """An answer that matches what was expected: fresh, stale, or altered by policy."""
    codes = ede.codes(reply.ede)
    if recursion and codes & ede.ALTERED:
        return Result.WRONG_ANSWER, f"the resolver altered the answer{_why(reply)}"
    if recursion and codes & ede.STALE:
        return Result.STALE, f"answered from expired cache{_why(reply)}"
    return Result.OK, ""


def _why(reply: Reply) -> str:
    """The server's own explanation, when it gave one (EDE)."""
    return "".join(f" ({e})" for e in reply.ede)
