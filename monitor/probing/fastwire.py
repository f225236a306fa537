"""Fast paths for the common wire shapes: plain query templates, and plain A/AAAA replies.

Nearly every query dnsmon sends is an ASCII name with one type, and nearly every reply
answers it with A or AAAA records whose owner is a compression pointer back to the
question. These are built and read here with ``struct`` alone, no dnspython objects.
Anything else — a CNAME, a referral, an SOA, a name that needs escaping, a reply cut
short — returns None, and ``wire`` takes the full dnspython path, so the fast path never
decides anything the full one would decide differently (a test feeds the same replies
through both and compares every field).
"""

from __future__ import annotations

import ipaddress
import socket
import struct
import time

from monitor.probing.ede import Ede

_HEADER = struct.Struct("!HHHHHH")
_RR = struct.Struct("!HHIH")
_QUESTION_TAIL = struct.Struct("!HH")
_OPT_RR = struct.Struct("!BHHIH")  # root owner, type 41, payload, flags word, no options
TYPE_A, TYPE_AAAA, TYPE_NS, TYPE_SOA, TYPE_OPT, TYPE_RRSIG = 1, 28, 2, 6, 41, 46
_U32 = struct.Struct("!I")
CLASS_IN = 1
# Header flag bits as plain ints: enum arithmetic would cost more than reading the reply.
QR, AA, TC, RD, RA = 0x8000, 0x0400, 0x0200, 0x0100, 0x0080
DO = 0x8000  # in the OPT record's flags: send the signatures too
POINTER_TO_QUESTION = b"\xc0\x0c"
_PLAIN = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_*.")


def query_wire(
    name: str, qtype: int, recursion: bool, edns_payload: int | None, dnssec: bool = False
) -> tuple[bytes, bytes] | None:
    """(wire with ID 0, question bytes) of a query for a plain name, else None; with
    ``dnssec`` the DO bit asks for signatures (EDNS only)."""
    encoded = name_wire(name)
    if encoded is None:
        return None
    question = encoded + _QUESTION_TAIL.pack(qtype, CLASS_IN)
    additional = 1 if edns_payload is not None else 0
    header = _HEADER.pack(0, RD if recursion else 0, 1, 0, 0, additional)
    flags = DO if dnssec else 0
    opt = _OPT_RR.pack(0, TYPE_OPT, edns_payload, flags, 0) if edns_payload is not None else b""
    return header + question + opt, question


def name_wire(name: str) -> bytes | None:
    """The wire form of a name of plain labels (no escapes, no trailing dot needed)."""
    text = name.rstrip(".")
    if not text or not text.isascii():
        return None
    raw = text.encode()
    if not set(raw) <= _PLAIN:
        return None
    labels = raw.split(b".")
    if any(not 0 < len(label) <= 63 for label in labels):
        return None
    wire = b"".join(bytes([len(label)]) + label for label in labels) + b"\x00"
    return wire if len(wire) <= 255 else None


class FastReply:
    """The fields of a plain reply, as ``wire.Reply`` holds them."""

    __slots__ = ("query_id", "flags", "rcode", "answers", "ttl", "ede", "edns", "negative_ttl",
                 "sig_expiration")  # fmt: skip

    def __init__(
        self, query_id: int, flags: int, rcode: int, answers: tuple[str, ...],
        ttl: int | None, ede: tuple[Ede, ...], edns: bool, negative_ttl: int | None = None,
        sig_expiration: int | None = None,
    ) -> None:  # fmt: skip
        self.query_id, self.flags, self.rcode = query_id, flags, rcode
        self.answers, self.ttl, self.ede, self.edns = answers, ttl, ede, edns
        self.negative_ttl, self.sig_expiration = negative_ttl, sig_expiration


def parse(
    wire: bytes, question: bytes, qtype: int, memo: dict[tuple[int, bytes], str]
) -> FastReply | None:
    """Read a plain reply to ``question``; None for anything the full parser must judge."""
    if qtype not in (TYPE_A, TYPE_AAAA) or len(wire) < 12:
        return None
    query_id, flags, qdcount, ancount, nscount, arcount = _HEADER.unpack_from(wire)
    end = 12 + len(question)
    if qdcount != 1 or wire[12:end].lower() != question or ancount + nscount + arcount > 1000:
        return None  # the full parser judges it (and refuses over 1,000 records)
    try:
        answers, ttl, after_answers, signed = _answers(wire, end, ancount, qtype, memo)
        if answers is None:
            return None
        after_authority, negative_ttl = _authority(wire, after_answers, nscount, bool(answers))
        extended, ede, edns, last = _additional(wire, after_authority, arcount)
    except (struct.error, IndexError, ValueError):
        return None
    if last is None or last != len(wire):
        return None
    rcode = (extended << 4) | (flags & 0xF)
    return FastReply(query_id, flags, rcode, answers, ttl, ede, edns, negative_ttl, signed)


def _answers(
    wire: bytes, offset: int, count: int, qtype: int, memo: dict[tuple[int, bytes], str]
) -> tuple[tuple[str, ...] | None, int | None, int, int | None]:
    """The addresses, their TTL, where the section ends, and the earliest expiration of
    the RRSIGs over them (asked with the DO bit); None for anything else."""
    texts, ttls, signed = set(), [], None
    for _ in range(count):
        if wire[offset : offset + 2] != POINTER_TO_QUESTION:
            return None, None, offset, None
        rtype, rclass, ttl, rdlen = _RR.unpack_from(wire, offset + 2)
        start = offset + 12
        rdata = wire[start : start + rdlen]
        if rclass != CLASS_IN or len(rdata) != rdlen:
            return None, None, offset, None
        if rtype == TYPE_RRSIG and rdlen >= 18 and rdata[:2] == qtype.to_bytes(2, "big"):
            expiration = _U32.unpack_from(rdata, 8)[0]
            if signed is None or rrsig_order(expiration) < rrsig_order(signed):
                signed = expiration
        elif rtype == qtype:
            texts.add(_address(qtype, rdata, memo))
            ttls.append(ttl)
        else:
            return None, None, offset, None
        offset = start + rdlen
    return tuple(sorted(texts)), (min(ttls) if ttls else None), offset, signed


def rrsig_order(expiration: int) -> int:
    """Earlier first among RRSIG times (RFC 4034 3.1.5: serial arithmetic modulo 2**32),
    read against today, so a time past 2106's wrap still sorts after one before it."""
    return (expiration - int(time.time())) % (1 << 32) ^ (1 << 31)


def _address(qtype: int, rdata: bytes, memo: dict[tuple[int, bytes], str]) -> str:
    key = (qtype, rdata)
    text = memo.get(key)
    if text is None:
        if qtype == TYPE_A:
            if len(rdata) != 4:
                raise ValueError("A record of the wrong size")
            text = socket.inet_ntop(socket.AF_INET, rdata)
        else:
            text = str(ipaddress.IPv6Address(rdata))
        memo[key] = text
    return text


def _authority(
    wire: bytes, offset: int, count: int, answered: bool
) -> tuple[int | None, int | None]:
    """Skip the authority section; its end (None where it could be a referral: the full
    path judges it) and, in an answer without data, the SOA's TTL: how long the negative
    answer is cached (RFC 2308; a resolver counts it down)."""
    ns = False
    soa_ttl = None
    for _ in range(count):
        offset = _skip_name(wire, offset)
        rtype, _, ttl, rdlen = _RR.unpack_from(wire, offset)
        offset += 10 + rdlen
        ns = ns or rtype == TYPE_NS
        if rtype == TYPE_SOA:
            soa_ttl = ttl if soa_ttl is None else min(soa_ttl, ttl)
    if offset > len(wire) or (ns and soa_ttl is None and not answered):
        return None, None
    return offset, None if answered else soa_ttl


def _additional(
    wire: bytes, offset: int | None, count: int
) -> tuple[int, tuple[Ede, ...], bool, int | None]:
    extended, edns = 0, False
    found: tuple[Ede, ...] = ()
    for _ in range(count):
        if offset is None:
            break
        owner = offset
        offset = _skip_name(wire, offset)
        rtype, _, ttl, rdlen = _RR.unpack_from(wire, offset)
        offset += 10
        if offset + rdlen > len(wire):
            return 0, (), False, None
        if rtype == TYPE_OPT:
            # Options (an EDE among them), an OPT off the root or twice: the full path.
            if rdlen or wire[owner] != 0 or edns:
                return 0, (), False, None
            extended, edns = ttl >> 24, True
        offset += rdlen
    return extended, found, edns, offset


def _skip_name(wire: bytes, offset: int) -> int:
    """The offset just past a name, labels or a compression pointer; raises on a name the
    full parser would refuse (a bad label type, a pointer that does not point back)."""
    return _walk(wire, offset)


MAX_NAME = 255  # octets of a name on the wire, its final root label included
MAX_POINTERS = 16  # compression pointers followed in one name (dnspython's own bound)


def _walk(wire: bytes, offset: int) -> int:
    """Check the name at ``offset`` as dnspython does, following pointers; its end.

    Each pointer must point before the name's start and before the pointer followed
    last; what a pointer leads to must end before the part that pointed to it; and the
    whole name fits in 255 octets — as dnspython requires, so no reply passes here that
    it would refuse.
    """
    end = None
    earliest = start = offset
    limit = len(wire)
    size = 1  # the root label
    hops = 0
    for _ in range(128):
        if offset >= limit:
            raise IndexError("name runs past where it may")
        length = wire[offset]
        if length == 0:
            return offset + 1 if end is None else end
        if length & 0xC0 == 0xC0:
            if offset + 1 >= limit:
                raise IndexError("pointer runs past where it may")
            target = ((length & 0x3F) << 8) | wire[offset + 1]
            if end is None:
                end = offset + 2
            hops += 1
            if target >= earliest or hops > MAX_POINTERS:
                raise ValueError("compression pointer does not point back, or too many")
            limit, start = start, target  # the target must not overlap what led to it
            offset = earliest = target
            continue
        if length & 0xC0:
            raise ValueError("bad label type")
        if offset + 1 + length > limit:
            raise IndexError("label runs past the end")
        size += 1 + length
        if size > MAX_NAME:
            raise ValueError("name longer than 255 octets")
        offset += 1 + length
    raise ValueError("name too long")
