"""What a reply really says: EDE, stale answers, EDNS refusals, referrals, recursion, chains.

Each test plays one server behaviour seen in the field through the in-process test
nameserver and asserts the result a person would read in the report.
"""

from __future__ import annotations

import dns.edns
import dns.flags
import dns.message
import dns.rcode
import dns.rrset

from monitor.config import Server
from monitor.probing.plan import Query, Shape
from monitor.probing.probe import Prober, ProbeSettings
from monitor.states import Result, Role, Transport
from tests.nameserver import TestNameserver, answer

FAST = ProbeSettings(timeout=0.3, attempts=2, max_qps_per_server=10_000)
EHR_DB = "ehr-db.region.internal"
A_RECORD = f"{EHR_DB}. 300 IN A 127.20.1.15"


def ask(port: int, name: str = EHR_DB, *, recursion: bool = True, prober: Prober | None = None,
        expect: frozenset[str] | None = None, rdtype: str = "A"):  # fmt: skip
    role = Role.RECURSIVE if recursion else Role.AUTHORITATIVE
    server = Server("test", "127.0.0.1", port, role, () if recursion else ("region.internal",))
    [result] = (prober or Prober(FAST)).run([Query(name, rdtype, server, recursion, expect)])
    return result


def with_ede(reply: dns.message.Message, code: int, text: str = "") -> dns.message.Message:
    reply.use_edns(0, options=[dns.edns.EDEOption(code, text or None)])
    return reply


# --- Extended DNS Errors and stale answers -------------------------------------------------


def test_stale_answer_with_ede_3_is_stale_not_ok():
    def stale(query):
        return with_ede(answer(query, f"{EHR_DB}. 30 IN A 127.20.1.15", aa=False), 3)

    with TestNameserver(stale) as ns:
        result = ask(ns.port)
    assert result.result is Result.STALE
    assert result.answers == ("127.20.1.15",)
    assert [(e.code, e.name) for e in result.ede] == [(3, "Stale Answer")]
    assert "expired cache" in result.detail


def test_stale_nxdomain_is_stale_without_answers():
    def stale(query):
        return with_ede(answer(query, rcode=dns.rcode.NXDOMAIN, aa=False), 19)

    with TestNameserver(stale) as ns:
        result = ask(ns.port)
    assert result.result is Result.STALE
    assert result.answers == ()
    assert not result.serves_clients  # a stale "no such name" keeps nothing working


def test_servfail_carries_the_resolvers_reason():
    def unreachable(query):
        return with_ede(answer(query, rcode=dns.rcode.SERVFAIL, aa=False), 22, "ns1 timed out")

    with TestNameserver(unreachable) as ns:
        result = ask(ns.port)
    assert result.result is Result.SERVFAIL
    assert [(e.code, e.text) for e in result.ede] == [(22, "ns1 timed out")]
    assert "No Reachable Authority" in result.detail


def test_an_answer_altered_by_policy_is_wrong():
    def filtered(query):
        return with_ede(answer(query, f"{EHR_DB}. 300 IN A 127.0.0.2", aa=False), 17)

    with TestNameserver(filtered) as ns:
        result = ask(ns.port)
    assert result.result is Result.WRONG_ANSWER
    assert "altered" in result.detail


def test_a_stale_answer_that_is_also_wrong_is_wrong():
    def stale_and_old(query):
        return with_ede(answer(query, f"{EHR_DB}. 30 IN A 127.20.1.99", aa=False), 3)

    with TestNameserver(stale_and_old) as ns:
        result = ask(ns.port, expect=frozenset({"127.20.1.15"}))
    assert result.result is Result.WRONG_ANSWER


def test_an_ede_option_cut_short_is_an_error():
    def broken(query):
        wire = bytearray(with_ede(answer(query, A_RECORD), 3).to_wire())
        return bytes(wire[:-1])  # the EDE code loses a byte

    with TestNameserver(broken) as ns:
        result = ask(ns.port)
    assert result.result is Result.ERROR
    assert "malformed" in result.detail


# --- EDNS refused: ask again without it ------------------------------------------------------


def old_appliance(rcode: dns.rcode.Rcode):
    """Answers FORMERR (or NOTIMP) to any query with EDNS, and plainly without."""
    seen: list[bool] = []

    def handler(query):
        seen.append(query.edns >= 0)
        if query.edns >= 0:
            reply = dns.message.make_response(query)
            reply.use_edns(False)
            reply.set_rcode(rcode)
            return reply
        return answer(query, A_RECORD)

    return handler, seen


def test_a_server_refusing_edns_is_asked_again_without_it():
    for rcode in (dns.rcode.FORMERR, dns.rcode.NOTIMP):
        handler, seen = old_appliance(rcode)
        with TestNameserver(handler) as ns:
            result = ask(ns.port)
        assert result.result is Result.OK, (rcode, result.detail)
        assert result.edns is False
        assert seen == [True, False]


def test_badvers_is_answered_without_edns_too():
    def badvers(query):
        if query.edns >= 0:
            reply = dns.message.make_response(query)
            reply.set_rcode(dns.rcode.BADVERS)  # extended rcode, in the OPT record
            return reply
        return answer(query, A_RECORD)

    with TestNameserver(badvers) as ns:
        assert ask(ns.port).result is Result.OK


def test_a_server_known_to_refuse_edns_is_not_asked_with_it_again():
    handler, seen = old_appliance(dns.rcode.FORMERR)
    prober = Prober(FAST)
    with TestNameserver(handler) as ns:
        ask(ns.port, prober=prober)
        ask(ns.port, prober=prober)
    assert seen == [True, False, False]


def test_formerr_without_edns_stays_an_error():
    with TestNameserver(lambda q: answer(q, rcode=dns.rcode.FORMERR)) as ns:
        result = ask(ns.port)
    assert result.result is Result.ERROR
    assert "FORMERR" in result.detail


# --- recursion and referrals -----------------------------------------------------------------


def referral(query):
    reply = dns.message.make_response(query)
    reply.authority.append(
        dns.rrset.from_text("sub.region.internal.", 300, "IN", "NS", "ns.sub.region.internal.")
    )
    reply.additional.append(
        dns.rrset.from_text("ns.sub.region.internal.", 300, "IN", "A", "127.0.0.2")
    )
    return reply


def test_a_parent_referring_to_a_child_zone_is_ok_and_says_so():
    with TestNameserver(referral) as ns:
        result = ask(ns.port, "app.sub.region.internal", recursion=False)
    assert result.result is Result.OK
    assert result.referral == "sub.region.internal"
    assert "delegated" in result.detail


def test_a_resolver_handing_back_a_referral_did_not_resolve():
    def refer(query):
        reply = referral(query)
        reply.flags |= dns.flags.RA
        return reply

    with TestNameserver(refer) as ns:
        result = ask(ns.port, "app.sub.region.internal")
    assert result.result is Result.ERROR
    assert "referral" in result.detail


def test_a_resolver_without_recursion_is_not_ok_even_for_its_own_zone():
    with TestNameserver(lambda q: answer(q, A_RECORD, aa=True, ra=False)) as ns:
        result = ask(ns.port)
    assert result.result is Result.ERROR
    assert "recursion not available" in result.detail


# --- CNAME chains ----------------------------------------------------------------------------


def test_a_chain_across_zones_is_recorded_in_order():
    def chain(query):
        return answer(
            query,
            "ehr.region.internal. 60 IN CNAME app.other.internal.",
            "app.other.internal. 60 IN CNAME node1.third.internal.",
            "node1.third.internal. 300 IN A 127.30.1.10",
            aa=False,
        )

    with TestNameserver(chain) as ns:
        result = ask(ns.port, "ehr.region.internal")
    assert result.result is Result.OK
    assert result.chain == ("app.other.internal", "node1.third.internal")


def test_an_authoritative_chain_stopping_at_its_zone_edge_is_partial():
    def edge(query):
        return answer(query, "ehr.region.internal. 60 IN CNAME app.other.internal.")

    with TestNameserver(edge) as ns:
        result = ask(ns.port, "ehr.region.internal", recursion=False)
    assert result.result is Result.OK
    assert result.chain == ("app.other.internal",)
    assert result.answers == ()


def test_a_cname_loop_ends_without_an_answer():
    def loop(query):
        return answer(
            query,
            "a.region.internal. 60 IN CNAME b.region.internal.",
            "b.region.internal. 60 IN CNAME a.region.internal.",
            aa=False,
        )

    with TestNameserver(loop) as ns:
        result = ask(ns.port, "a.region.internal")
    assert result.result is Result.NODATA
    assert result.chain == ("b.region.internal",)


def test_ipv4_mapped_aaaa_matches_its_expect():
    def mapped(query):
        return answer(query, f"{EHR_DB}. 300 IN AAAA ::ffff:127.0.0.1", aa=False)

    from monitor.config.answers import canonical_rdata

    with TestNameserver(mapped) as ns:
        result = ask(
            ns.port, rdtype="AAAA", expect=frozenset({canonical_rdata("AAAA", "::ffff:127.0.0.1")})
        )
    assert result.result is Result.OK, result.detail


# --- The clients' questions ---------------------------------------------------------------


def test_a_refusal_without_a_question_section_is_refused():
    """Unbound's access control refuses with the header alone (qdcount 0)."""

    def refuse_bare(query):
        header = query.id.to_bytes(2, "big") + bytes([0x81, 0x05]) + bytes(8)
        return header  # QR, RD; RA clear; rcode 5 (REFUSED); no sections at all

    with TestNameserver(refuse_bare) as ns:
        result = ask(ns.port)
    assert result.result is Result.REFUSED
    assert result.rcode == dns.rcode.REFUSED


def test_a_question_without_edns_is_truncated_where_the_answer_is_large():
    """The shape glibc asks in: no OPT record, so an answer over 512 bytes comes
    truncated and is fetched over TCP of the same server."""
    many = [f"{EHR_DB}. 300 IN A 127.20.6.{i}" for i in range(1, 41)]

    def large(query):
        if not query.via_tcp and query.edns < 0:  # as Unbound does: TC and no answers
            reply = answer(query)
            reply.flags |= dns.flags.TC
            return reply
        return answer(query, *many)

    with TestNameserver(large) as ns:
        server = Server("test", "127.0.0.1", ns.port)
        plain = Query(EHR_DB, "A", server, True, shape=Shape(edns=False))
        found = {
            r.query.shape: r for r in Prober(FAST).run([Query(EHR_DB, "A", server, True), plain])
        }
    own, client = found[Shape()], found[plain.shape]  # results come in the order answered
    assert own.ok and not own.truncated and own.size > 512
    assert client.ok and client.truncated and client.over_tcp and len(client.answers) == 40


def test_an_answer_only_to_the_second_attempt_says_the_first_was_lost():
    """A lossy resolver: dnsmon's retry hides the lost query, a client's stub would have
    waited out its timeout first."""
    seen: set[str] = set()

    def drop_first(query):
        name = str(query.question[0].name)
        if name not in seen:
            seen.add(name)
            return None
        return answer(query, A_RECORD)

    with TestNameserver(drop_first) as ns:
        lossy = ask(ns.port)
    with TestNameserver(lambda q: answer(q, A_RECORD)) as ns:
        steady = ask(ns.port)
    assert lossy.ok and lossy.retried and lossy.rtt_seconds < FAST.timeout
    assert steady.ok and not steady.retried


def test_the_clients_questions_go_over_udp_whatever_dnsmon_uses():
    """With ``transport: tcp`` dnsmon's own questions go over TCP; a stub asks over UDP
    first, so the clients' questions do too."""
    from monitor.probing.plan import Purpose

    with TestNameserver(lambda q: answer(q, A_RECORD)) as ns:
        server = Server("test", "127.0.0.1", ns.port)
        own = Query(EHR_DB, "A", server, True)
        client = Query(EHR_DB, "A", server, True, purpose=Purpose.CLIENT, shape=Shape(edns=False))
        settings = ProbeSettings(timeout=0.3, attempts=2, transport=Transport.TCP)
        found = {r.query.purpose: r for r in Prober(settings).run([own, client])}
    mine, theirs = found[Purpose.NAME], found[Purpose.CLIENT]  # in the order they came
    assert mine.ok and mine.over_tcp
    assert theirs.ok and not theirs.over_tcp
