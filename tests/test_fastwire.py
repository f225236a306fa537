"""The fast wire paths say exactly what the full dnspython paths say, or step aside.

Every reply — well-formed in many shapes, hostile, cut short, bit-flipped — goes through
both the fast reader and the full parser: where the fast one answers, every field must
equal the full one's; where the full one calls a reply malformed, the fast one must not
have answered. Query templates are compared byte for byte.
"""

from __future__ import annotations

import dns.edns
import dns.flags
import dns.message
import dns.rcode
import dns.rdatatype
import dns.rrset
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor.probing import fastwire
from monitor.probing.wire import Malformed, ReplyParser, _full_template, template

SETTINGS = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
NAMES = [
    "ehr-db.region.internal",
    "a.b",
    "x" * 63 + ".example.internal",
    "_ldap._tcp.region.internal",
]


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("rdtype", ["A", "AAAA", "TXT", "SRV"])
@pytest.mark.parametrize("recursion", [True, False])
@pytest.mark.parametrize("edns", [True, False])
def test_fast_templates_are_byte_for_byte_the_dnspython_ones(
    name: str, rdtype: str, recursion: bool, edns: bool
) -> None:
    qtype = dns.rdatatype.from_text(rdtype)
    fast = fastwire.query_wire(name, qtype, recursion, 1232 if edns else None)
    assert fast is not None, "a plain name takes the fast path"
    assert template(name, rdtype, recursion, edns) == _full_template(name, rdtype, recursion, edns)


def test_names_that_need_escaping_take_the_full_path() -> None:
    assert fastwire.name_wire("weird\\.label.internal") is None
    assert fastwire.name_wire("blåbär.internal") is None
    assert fastwire.name_wire("a" * 64 + ".internal") is None
    assert template("weird\\.label.internal", "A", True).wire  # built by dnspython instead


def full(wire: bytes, qtype: int):
    try:
        return ReplyParser().parse(wire, qtype)
    except Malformed:
        return None


def assert_same(wire: bytes, question: bytes, qtype: int) -> bool:
    """True when the fast path answered (and agreed); False when it stepped aside."""
    fast = fastwire.parse(wire, question, qtype, {})
    if fast is None:
        return False
    slow = full(wire, qtype)
    assert slow is not None, "the fast path read a reply the full parser calls malformed"
    assert slow.question == question
    assert (fast.query_id, fast.flags, int(fast.rcode), fast.answers, fast.ttl) == (
        slow.query_id, slow.flags, int(slow.rcode), slow.answers, slow.ttl,
    )  # fmt: skip
    assert (fast.ede, fast.edns) == (slow.ede, slow.edns)
    assert (fast.negative_ttl, fast.sig_expiration) == (slow.negative_ttl, slow.sig_expiration)
    assert slow.chain == () and slow.referral is None and slow.serial is None
    return True


def replies(query: dns.message.Message) -> dict[str, bytes]:
    """Replies of many shapes to one query."""
    name = query.question[0].name
    qtype = query.question[0].rdtype
    data = "127.20.1.15" if qtype == dns.rdatatype.A else "::ffff:127.0.0.1"
    other = "127.20.1.16" if qtype == dns.rdatatype.A else "::2"
    shapes: dict[str, dns.message.Message] = {}
    plain = dns.message.make_response(query)
    plain.answer.append(dns.rrset.from_text(name, 300, "IN", qtype, data, other))
    shapes["plain"] = plain
    nx = dns.message.make_response(query)
    nx.set_rcode(dns.rcode.NXDOMAIN)
    nx.authority.append(dns.rrset.from_text("region.internal.", 60, "IN", "SOA",
                                            "ns1. h. 1 2 3 4 5"))  # fmt: skip
    shapes["nxdomain"] = nx
    with_ns = dns.message.make_response(query)
    with_ns.answer.append(dns.rrset.from_text(name, 30, "IN", qtype, data))
    with_ns.authority.append(dns.rrset.from_text("region.internal.", 60, "IN", "NS", "ns1."))
    shapes["answer with NS beside it"] = with_ns
    stale = dns.message.make_response(query)
    stale.answer.append(dns.rrset.from_text(name, 30, "IN", qtype, data))
    stale.use_edns(0, options=[dns.edns.EDEOption(dns.edns.EDECode.STALE_ANSWER)])
    shapes["stale with EDE"] = stale
    chain = dns.message.make_response(query)
    chain.answer.append(dns.rrset.from_text(name, 30, "IN", "CNAME", "other.internal."))
    chain.answer.append(dns.rrset.from_text("other.internal.", 30, "IN", qtype, data))
    shapes["chain"] = chain
    referral = dns.message.make_response(query)
    referral.authority.append(dns.rrset.from_text("sub.region.internal.", 60, "IN", "NS", "n."))
    shapes["referral"] = referral
    signed = dns.message.make_response(query)  # asked with the DO bit: RRSIGs beside it
    signed.answer.append(dns.rrset.from_text(name, 300, "IN", qtype, data))
    for expires in ("20261206170000", "20261206160000"):
        signed.answer.append(dns.rrset.from_text(name, 300, "IN", "RRSIG",
            f"{dns.rdatatype.to_text(qtype)} 13 3 300 {expires} 20261206000000 1234 "
            "region.internal. AAAA"))  # fmt: skip
    shapes["signed"] = signed
    return {label: message.to_wire() for label, message in shapes.items()}


def test_a_pointer_into_the_header_is_read_as_dnspython_reads_it() -> None:
    """The case the fuzz test found: an NXDOMAIN whose SOA owner points at offset 0."""
    query = dns.message.make_query("ehr-db.region.internal", "AAAA", use_edns=0)
    built = template("ehr-db.region.internal", "AAAA", True)
    for query_id in range(0, 0x10000, 97):
        query.id = query_id
        wire = bytearray(replies(query)["nxdomain"])
        wire[41], wire[75] = 0, 32  # the owner's pointer now points at the header
        assert_same(bytes(wire), built.question, dns.rdatatype.AAAA)


@pytest.mark.parametrize("rdtype", ["A", "AAAA"])
def test_every_shape_reads_the_same_on_both_paths(rdtype: str) -> None:
    query = dns.message.make_query("ehr-db.region.internal", rdtype, use_edns=0)
    built = template("ehr-db.region.internal", rdtype, True)
    qtype = dns.rdatatype.from_text(rdtype)
    took_fast = {label: assert_same(wire, built.question, qtype)
                 for label, wire in replies(query).items()}  # fmt: skip
    # The common shapes take the fast path; the rest step aside.
    assert took_fast == {
        "plain": True, "nxdomain": True, "answer with NS beside it": True,
        "stale with EDE": False, "chain": False, "referral": False, "signed": True,
    }  # fmt: skip


@SETTINGS
@given(
    st.sampled_from(["A", "AAAA"]),
    st.sampled_from(["plain", "nxdomain", "answer with NS beside it", "stale with EDE", "signed"]),
    st.lists(st.tuples(st.integers(0, 400), st.integers(0, 255)), max_size=4),
    st.integers(0, 400),
    st.integers(0, 0xFFFF),
)
def test_damaged_replies_never_read_differently(
    rdtype: str, shape: str, flips: list[tuple[int, int]], cut: int, query_id: int
) -> None:
    """Drawn, not random, message IDs: a pointer flipped to the header reads the ID as
    labels, so the ID decides what a damaged name says (this found the fast path reading
    names that overlapped what pointed to them, which dnspython refuses)."""
    query = dns.message.make_query("ehr-db.region.internal", rdtype, use_edns=0)
    query.id = query_id
    wire = bytearray(replies(query)[shape])
    for position, value in flips:
        if position < len(wire):
            wire[position] = value
    damaged = bytes(wire[: max(12, len(wire) - cut)]) if cut % 3 == 0 else bytes(wire)
    built = template("ehr-db.region.internal", rdtype, True)
    assert_same(damaged, built.question, dns.rdatatype.from_text(rdtype))


@SETTINGS
@given(st.binary(min_size=0, max_size=300))
def test_random_bytes_never_read_differently(noise: bytes) -> None:
    built = template("ehr-db.region.internal", "A", True)
    head = b"\x12\x34\x81\x80\x00\x01\x00\x01\x00\x00\x00\x00" + built.question
    assert_same(head + noise, built.question, 1)
    assert_same(noise, built.question, 1)
