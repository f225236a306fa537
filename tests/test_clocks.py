"""Signatures read as a clock: their expiration from the authoritative servers' own
answers (asked with the DO bit), counted down per zone; a warning and a cause under
``warn_before``; and a validator's SERVFAIL for a signed zone named DNSSEC, not a lost
authority, even when its canaries fail too."""

from __future__ import annotations

import time

import dns.flags
import dns.message
import dns.rrset
import pytest

from monitor.judging import causes as causes_module
from monitor.judging.clocks import WRAP, rrsig_time, signatures
from monitor.judging.health import judge
from monitor.outputs import alerts, report
from monitor.probing.plan import Purpose
from monitor.probing.results import Round
from monitor.probing.wire import ReplyParser, template
from monitor.states import Result
from tests.rounds import CONFIG, DB, GRAPH, edit, healthy_round, on
from tests.test_metrics import collector_for

REGION = "region.internal"
START = 1000.0  # healthy_round's clock


def signed(round_: Round, zone: str, left: int, servers: tuple[str, ...] = ("ns1", "ns2")) -> Round:
    """Every authoritative answer of ``zone`` carries signatures expiring ``left`` from now."""
    return edit(round_, lambda r: r.query.zone == zone and not r.recursive
                and r.query.server.name in servers,
                sig_expiration=int(START) + left)  # fmt: skip


def test_authoritative_queries_ask_for_signatures_and_resolver_queries_do_not() -> None:
    for recursion, wanted in ((False, True), (True, False)):
        query = dns.message.from_wire(template("a.region.internal", "A", recursion).with_id(1))
        assert bool(query.ednsflags & dns.flags.DO) is wanted
    without_edns = dns.message.from_wire(template("a.region.internal", "A", False, False).wire)
    assert without_edns.edns < 0  # no EDNS, so no DO bit either


def test_the_earliest_signature_of_an_answer_is_read() -> None:
    query = dns.message.make_query("region.internal", "SOA", want_dnssec=True)
    reply = dns.message.make_response(query)
    soa = "ns1.region.internal. h.region.internal. 7 1 1 9 1"
    reply.answer.append(dns.rrset.from_text("region.internal.", 300, "IN", "SOA", soa))
    for expires in ("20261206170000", "20261206160000"):
        reply.answer.append(dns.rrset.from_text(
            "region.internal.", 300, "IN", "RRSIG",
            f"SOA 13 2 300 {expires} 20261206000000 1234 region.internal. AAAA"))  # fmt: skip
    parsed = ReplyParser().parse(reply.to_wire(), dns.rdatatype.SOA)
    assert (parsed.serial, parsed.answers != ()) == (7, True)
    assert parsed.sig_expiration == 1796572800  # 2026-12-06 16:00:00 UTC, the earlier one


def test_rrsig_times_are_read_around_the_2106_wrap() -> None:
    now = WRAP - 100  # 2106, just before the 32-bit seconds wrap
    assert rrsig_time(50, now) == WRAP + 50  # written after the wrap: 150 s from now
    assert rrsig_time(WRAP - 200, now) == WRAP - 200  # 100 s ago
    assert rrsig_time(int(time.time()) + 60, time.time()) == int(time.time()) + 60


def test_each_zone_counts_down_to_its_earliest_signature_from_its_own_servers() -> None:
    round_ = signed(signed(healthy_round(), REGION, 7200), REGION, 600, servers=("ns2",))
    edit(round_, lambda r: r.recursive and r.query.name == DB[0], sig_expiration=int(START) + 5)
    assert signatures(round_.results.values(), START) == {REGION: 600}  # a resolver's: none
    health = judge(GRAPH, round_)
    assert health.zones[REGION].signatures_expire_in_seconds == 600
    assert health.zones["other.internal"].signatures_expire_in_seconds is None  # unsigned


def test_signatures_within_warn_before_are_a_clock_with_the_services_that_need_them() -> None:
    round_ = signed(healthy_round(), REGION, 1800)  # warn_before: 72 hours by default
    health = judge(GRAPH, round_)
    found = causes_module.find(GRAPH, health, round_.results.values())
    [clock] = [c for c in found if c.kind.value == "signatures_expiring"]
    assert (clock.target, clock.seconds, clock.services) == (REGION, 1800, ("ehr",))
    assert "expire in 30 minutes" in clock.summary
    built = report.build(CONFIG, GRAPH, health, START, 0.2, round_.results.values(), found)
    zone = next(z for z in built["zones"] if z["name"] == REGION)
    assert zone["signatures_expire_in_seconds"] == 1800
    assert f"zone {REGION}: its signatures expire in 30 minutes; re-sign it" in built["warnings"]
    cause = next(c for c in built["causes"] if c["kind"] == "signatures_expiring")
    assert cause["seconds"] == 1800 and "commands" not in cause
    assert all(s["status"] == "up" for s in built["services"])  # nothing fails yet
    [pushed] = [a for a in alerts.build(built) if a.name == "DnsmonSignaturesExpiring"]
    assert dict(pushed.labels)["zone"] == REGION
    assert "expire in 30 min 0 s" in dict(pushed.annotations)["summary"]


def test_signatures_far_off_are_no_warning_and_no_metric_without_signatures() -> None:
    far = signed(healthy_round(), REGION, 30 * 86400)
    health = judge(GRAPH, far)
    assert not [c for c in causes_module.find(GRAPH, health, far.results.values())
                if c.kind.value == "signatures_expiring"]  # fmt: skip
    text = collector_for(far).text()
    assert f'dnsmon_zone_signature_expiry_seconds{{zone="{REGION}"}} 2.592e+06' in text
    assert 'dnsmon_zone_signature_expiry_seconds{zone="other.internal"}' not in text


@pytest.mark.parametrize("signed_zone", [True, False])
def test_a_validators_servfail_for_a_signed_zone_is_dnssec_not_a_lost_authority(
    signed_zone: bool,
) -> None:
    """BIND sends no EDE with its SERVFAIL; its canary under the zone fails the same way."""
    round_ = healthy_round()
    if signed_zone:
        signed(round_, REGION, -60)  # expired a minute ago; the authority answers well
    edit(round_, on("resolver-a", name=DB[0]), result=Result.SERVFAIL, answers=(), ttl=None)
    edit(round_, lambda r: r.query.purpose is Purpose.CANARY and r.query.zone == REGION
         and r.query.server.name == "resolver-a", result=Result.SERVFAIL)  # fmt: skip
    health = judge(GRAPH, round_)
    kinds = {c.key: c for c in causes_module.find(GRAPH, health, round_.results.values())}
    if signed_zone:
        assert ("authority_unreachable", REGION) not in kinds
        assert "its signatures expired 60 seconds ago" in kinds[("dnssec", REGION)].summary
    else:  # unsigned: the canary says the way to the authority is lost
        assert ("dnssec", REGION) not in kinds
        assert ("authority_unreachable", REGION) in kinds


def test_signatures_over_a_cname_target_in_another_zone_are_not_this_zones() -> None:
    query = dns.message.make_query("app.region.internal", "A", want_dnssec=True)
    reply = dns.message.make_response(query)
    reply.answer.append(dns.rrset.from_text("app.region.internal.", 300, "IN", "CNAME",
                                            "app.other.internal."))  # fmt: skip
    reply.answer.append(dns.rrset.from_text(
        "app.region.internal.", 300, "IN", "RRSIG",
        "CNAME 13 3 300 20261206170000 20261206000000 1234 region.internal. AAAA"))  # fmt: skip
    reply.answer.append(dns.rrset.from_text("app.other.internal.", 300, "IN", "A", "127.0.0.9"))
    reply.answer.append(dns.rrset.from_text(
        "app.other.internal.", 300, "IN", "RRSIG",
        "A 13 3 300 20261206160000 20261206000000 4321 other.internal. AAAA"))  # fmt: skip
    parsed = ReplyParser().parse(reply.to_wire(), dns.rdatatype.A)
    assert parsed.sig_expiration == 1796576400  # 17:00, region.internal's; not other's 16:00
