"""Secondaries' copies read as a clock: counted down from the last round in which the
primary and its secondaries agreed (less one refresh), named ``zone_expiring`` while they
run out and ``zone_expired`` once a secondary answers SERVFAIL for its own zone — never
an unreachable authority — and a primary whose serial went backwards named as such."""

from __future__ import annotations

from dataclasses import replace

import dns.message
import dns.rcode
import dns.rdatatype
import dns.rrset

from monitor.config import parse
from monitor.judging import causes as causes_module
from monitor.judging import graph as graph_module
from monitor.judging.clocks import Copies, ExpiryClock, serial_before
from monitor.judging.health import Health, judge
from monitor.outputs import report
from monitor.probing.ede import Ede
from monitor.probing.plan import Purpose
from monitor.probing.results import Round
from monitor.probing.wire import ReplyParser, SoaTimers
from monitor.states import Result
from tests.rounds import CONFIG_TEXT, DB, edit, healthy_round, on

REGION = "region.internal"
TIMERS = SoaTimers(refresh=30, retry=10, expire=120, minimum=60)
GRAPH = graph_module.build(parse(CONFIG_TEXT.replace(
    "port: 5311, role: authoritative,", "port: 5311, role: authoritative, primary: true,"
)))  # fmt: skip


def copies(primary: int | None, secondary: int | None, timers: SoaTimers = TIMERS) -> Copies:
    """One round's serials; a server with a serial answered (the others did not)."""
    serials = {"ns1": primary, "ns2": secondary}
    answered = frozenset(s for s, v in serials.items() if v is not None)
    own = {s: timers for s in answered}
    return Copies(REGION, ("ns1",), serials, timers, answered, own)


def at(started: float, round_: Round | None = None) -> Round:
    """A healthy round (SOA timers as TIMERS) started at ``started``."""
    round_ = round_ or healthy_round()
    edit(round_, lambda r: r.query.purpose is Purpose.SOA, soa_timers=TIMERS)
    return replace(round_, started_at=started)


def primary_silent(round_: Round) -> Round:
    return edit(round_, on("ns1"), result=Result.TIMEOUT, answers=(), ttl=None, chain=(),
                serial=None)  # fmt: skip


def secondary_expired(round_: Round, ede: tuple[Ede, ...] = ()) -> Round:
    return edit(round_, on("ns2"), result=Result.SERVFAIL, answers=(), ttl=None, chain=(),
                serial=None, ede=ede)  # fmt: skip


def kinds(health: Health, round_: Round, graph=GRAPH) -> dict:
    return {c.key: c for c in causes_module.find(graph, health, round_.results.values())}


def test_serials_compare_in_serial_arithmetic() -> None:
    assert serial_before(1, 2) and not serial_before(2, 1) and not serial_before(5, 5)
    assert serial_before(2**32 - 1, 3)  # 3 follows 4294967295 after the wrap


def test_the_countdown_starts_at_the_last_agreement_less_one_refresh() -> None:
    clock = ExpiryClock()
    assert clock.observe(copies(7, 7), 1000.0) is None  # in step: nothing runs out
    expiry = clock.observe(copies(None, 7), 1060.0)  # the primary stopped answering
    assert expiry is not None and expiry.primary_silent
    assert expiry.seconds == 1000 + 120 - 30 - 1060  # 30 s left at the earliest
    assert clock.observe(copies(None, 7), 1075.0).seconds == 15  # counts down, never up
    assert clock.observe(copies(8, 8), 1080.0) is None  # caught up: safe again


def test_a_secondary_behind_counts_only_after_a_refresh_and_a_retry() -> None:
    clock = ExpiryClock()
    clock.observe(copies(7, 7), 1000.0)  # last seen in step
    assert clock.observe(copies(8, 7), 1010.0) is None  # a transfer under way
    assert clock.observe(copies(8, 7), 1035.0) is None  # 35 s: within refresh + retry
    expiry = clock.observe(copies(8, 7), 1041.0)  # 41 s out of step: its transfers fail
    assert expiry is not None and not expiry.primary_silent and expiry.behind == ("ns2",)
    assert expiry.seconds == 1000 + 90 - 1041


def test_a_zone_that_changes_every_round_stays_in_step() -> None:
    """The secondary one serial behind each round took a newer one: it refreshes."""
    clock = ExpiryClock()
    for i in range(20):
        assert clock.observe(copies(8 + i, 7 + i), 1000.0 + 10 * i) is None


def test_a_silent_secondary_is_its_own_fault_not_a_copy_running_out() -> None:
    clock = ExpiryClock()
    clock.observe(copies(7, 7), 1000.0)
    assert clock.observe(copies(7, None), 1200.0) is None  # ns2 times out: server_silent


def test_without_a_round_in_step_the_copies_may_expire_any_moment_and_the_latest_counts() -> None:
    clock = ExpiryClock()  # serve started while the primary was already down
    first = clock.observe(copies(None, 7), 1000.0)
    later = clock.observe(copies(None, 7), 1060.0)
    assert first is not None and later is not None and not later.known
    assert (first.seconds, later.seconds) == (0, 0)  # at the earliest: any moment
    assert (first.at_most, later.at_most) == (120, 60)  # at the latest: counts down


def test_each_secondary_counts_with_its_own_soa_timers() -> None:
    """The primary came back with a longer expire; the copy still has its old one."""
    clock = ExpiryClock()
    clock.observe(copies(7, 7), 1000.0)
    longer = SoaTimers(30, 10, 1200, 60)
    round_ = Copies(REGION, ("ns1",), {"ns1": 8, "ns2": 7}, longer, frozenset({"ns1", "ns2"}),
                    {"ns1": longer, "ns2": TIMERS})  # fmt: skip
    expiry = clock.observe(round_, 1050.0)
    assert expiry is not None and expiry.seconds == 1000 + 90 - 1050  # not 1000 + 1170 - 1050


def test_a_primary_that_went_backwards_is_no_expiry() -> None:
    clock = ExpiryClock()
    clock.observe(copies(7, 7), 1000.0)
    assert clock.observe(copies(5, 7), 2000.0) is None  # its refreshes work: serial_regressed
    assert copies(5, 7).ahead_of_primary() == {"ns2": 7}


def test_one_check_knows_the_latest_the_copies_expire_and_the_earliest_is_now() -> None:
    round_ = primary_silent(at(1000.0))
    health = judge(GRAPH, round_)  # no clock: a single check
    zone = health.zones[REGION]
    assert zone.primary == "ns1" and zone.expires_in_seconds == 0  # at the earliest: now
    cause = kinds(health, round_)[("zone_expiring", REGION)]
    assert (
        cause.seconds == 0
        and "may expire at any moment (not seen in step with it yet), "
        "and in 2 minutes at the latest"
        in cause.summary
    )
    assert cause.services == ("ehr",)
    built = report.build(GRAPH.config, GRAPH, health, 1000.0, 0.1, round_.results.values(),
                         list(kinds(health, round_).values()))  # fmt: skip
    entry = next(z for z in built["zones"] if z["name"] == REGION)
    assert (entry["primary"], entry["expires_in_seconds"]) == ("ns1", 0)
    assert (
        f"zone {REGION}: the copies on ns2 may expire at any moment (not seen in step "
        "with it yet), and in 2 minutes at the latest" in built["warnings"]
    )


def test_serve_counts_down_and_the_service_runway_includes_it() -> None:
    clock = ExpiryClock()
    judge(GRAPH, at(1000.0), expiry=clock)  # in step
    round_ = primary_silent(at(1040.0))
    health = judge(GRAPH, round_, expiry=clock)
    assert health.zones[REGION].expires_in_seconds == 50  # 1000 + 120 - 30 - 1040
    assert health.services["ehr"].runway_seconds == 50
    assert health.services["lab"].runway_seconds is None  # other.internal has no primary
    cause = kinds(health, round_)[("zone_expiring", REGION)]
    assert cause.seconds == 50 and "ns1, the primary of region.internal, does not answer" in (
        cause.summary
    )
    assert ("zone_dark", REGION) not in kinds(health, round_)  # ns2 serves on


def test_an_expired_copy_is_named_expired_not_a_lost_or_dark_authority() -> None:
    clock = ExpiryClock()
    judge(GRAPH, at(1000.0), expiry=clock)
    round_ = secondary_expired(primary_silent(at(1100.0)))
    edit(round_, on("resolver-a", "resolver-b", name=DB[0]), result=Result.SERVFAIL, answers=())
    health = judge(GRAPH, round_, expiry=clock)
    found = kinds(health, round_)
    assert ("zone_expired", REGION) in found
    for wrong in ("zone_dark", "authority_unreachable", "zone_not_loaded", "zone_expiring"):
        assert (wrong, REGION) not in found
    expired = found[("zone_expired", REGION)]
    assert "ns2's copy of region.internal expired" in expired.summary
    assert "rndc retransfer region.internal" in expired.commands  # software not said: all forms
    assert "nsd-control force_transfer region.internal" in expired.commands


def test_after_the_primary_returns_the_copy_stays_expired_until_its_retry() -> None:
    clock = ExpiryClock()
    judge(GRAPH, at(1000.0), expiry=clock)
    judge(GRAPH, secondary_expired(primary_silent(at(1100.0))), expiry=clock)
    round_ = secondary_expired(at(1110.0))  # ns1 is back; ns2 waits for its retry timer
    found = kinds(judge(GRAPH, round_, expiry=clock), round_)
    assert "ns1 answers again" in found[("zone_expired", REGION)].summary
    assert ("zone_not_loaded", REGION) not in found


def test_nsd_says_expired_itself_even_without_a_listed_primary() -> None:
    from tests.rounds import GRAPH as PLAIN

    round_ = secondary_expired(at(1000.0), (Ede(24, "Zone has expired"),))
    found = kinds(judge(PLAIN, round_), round_, PLAIN)
    assert ("zone_expired", REGION) in found and ("zone_not_loaded", REGION) not in found


def test_a_serial_gone_backwards_blames_the_primary_not_the_secondary() -> None:
    round_ = edit(at(1000.0), on("ns2", purpose=Purpose.SOA), serial=9)  # ns1 has 1
    found = kinds(judge(GRAPH, round_), round_)
    cause = found[("serial_regressed", REGION)]
    assert "ns1, the primary of region.internal, serves serial 1" in cause.summary
    assert "raise the serial on ns1 above 9" in cause.summary
    assert ("serials_differ", REGION) not in found


def test_soa_timers_and_the_negative_ttl_are_read_from_replies() -> None:
    query = dns.message.make_query("region.internal", "SOA")
    reply = dns.message.make_response(query)
    soa = "ns1.region.internal. h.region.internal. 7 30 10 120 60"
    reply.answer.append(dns.rrset.from_text("region.internal.", 300, "IN", "SOA", soa))
    parsed = ReplyParser().parse(reply.to_wire(), dns.rdatatype.SOA)
    assert (parsed.serial, parsed.soa_timers) == (7, TIMERS)
    for qtype in ("A", "TXT"):  # the fast path (A) and the full parser
        missing = dns.message.make_response(dns.message.make_query("gone.region.internal", qtype))
        missing.set_rcode(dns.rcode.NXDOMAIN)
        missing.authority.append(dns.rrset.from_text("region.internal.", 97, "IN", "SOA", soa))
        wire = missing.to_wire()
        question = wire[12 : 12 + len("gone.region.internal") + 2 + 4]  # name, type, class
        parsed = ReplyParser().parse(wire, dns.rdatatype.from_text(qtype), question)
        assert parsed.negative_ttl == 97, qtype


def test_the_copies_clock_is_pushed_to_alertmanager_and_shown_by_watch() -> None:
    from rich.console import Console

    from monitor.outputs import alerts
    from monitor.serving.watch import WatchState, view

    clock = ExpiryClock()
    judge(GRAPH, at(1000.0), expiry=clock)
    round_ = primary_silent(at(1040.0))
    health = judge(GRAPH, round_, expiry=clock)
    found = causes_module.find(GRAPH, health, round_.results.values())
    built = report.build(GRAPH.config, GRAPH, health, 1040.0, 0.1, round_.results.values(), found)
    pushed = {dict(a.labels)["zone"]: a for a in alerts.build(built)
              if a.name == "DnsmonZoneCopiesExpiring"}  # fmt: skip
    assert set(pushed) == {REGION, "backup.internal"}  # ns1 is the primary of both
    pushed = pushed[REGION]
    assert "copies of region.internal expire in 0 min 50 s" in dict(pushed.annotations)["summary"]
    state = WatchState()
    state.update(built, 2000.0)
    console = Console(record=True, width=120)
    console.print(view(state, 2010.0))  # ten seconds after the round: ten seconds less
    assert f"clock: {REGION}: secondaries' copies expire in 40s" in console.export_text()
