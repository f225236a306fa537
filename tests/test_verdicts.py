"""Never a false "up": verdicts under stale caches, CNAMEs into other zones, bad zone loads,
resolvers cut off from the authority, and backups on the same authoritative servers.

Rounds are built by hand from the real plan (canaries and CNAME targets included) and
judged as ``check`` and ``serve`` judge them; no network, no clock.
"""

from __future__ import annotations

from monitor.config import parse
from monitor.judging import graph as graph_module
from monitor.judging.health import Health, judge
from monitor.judging.runway import RunwayClock
from monitor.outputs import report
from monitor.probing.ede import Ede
from monitor.probing.plan import Purpose
from monitor.probing.results import Round
from monitor.states import BackupState, NameState, Result, ServiceState, SharedFate
from tests.rounds import APP, CONFIG, DB, GRAPH, RESOLVERS, edit, healthy_round, on, silence


def verdict(round_: Round, clock: RunwayClock | None = None) -> Health:
    return judge(GRAPH, round_, clock=clock)


def test_healthy_round_is_up_with_the_chain_zones_known() -> None:
    health = verdict(healthy_round())
    assert {s.state for s in health.services.values()} == {ServiceState.UP}
    app = health.names[APP]
    assert app.state is NameState.HEALTHY and app.consistent
    assert app.chain == ("app.other.internal",)
    assert {r.query.server.name for r in app.results} == {*RESOLVERS, "ns1", "ns2", "ns3"}
    assert all(health.zones[z].reach == dict.fromkeys(RESOLVERS, True) for z in health.zones)


# --- stale answers ---------------------------------------------------------------------------


def test_stale_answers_are_never_up_and_run_on_the_serve_stale_window() -> None:
    round_ = silence(healthy_round(), "ns1", "ns2")
    edit(round_, on("resolver-a", name=DB[0]), result=Result.TIMEOUT, answers=(), ttl=None)
    edit(round_, on("resolver-b", name=DB[0]), result=Result.STALE, ttl=30, ede=(Ede(3),))
    health = verdict(round_)
    assert health.names[DB].state is NameState.DEGRADED
    ehr = health.services["ehr"]
    assert ehr.state is ServiceState.DEGRADED
    [db] = [c for c in ehr.cached if c.key == DB]
    assert (db.server, db.stale, db.seconds) == ("resolver-b", True, 3600)  # the whole window
    assert ehr.runway_seconds == 300  # ehr-app, fresh in resolver-a's cache, runs out first


def test_stale_answers_from_a_resolver_without_serve_stale_have_no_known_runway() -> None:
    round_ = healthy_round()
    edit(round_, on("resolver-a", name=DB[0]), result=Result.STALE, ttl=30, ede=(Ede(3),))
    ehr = verdict(round_).services["ehr"]
    assert ehr.state is ServiceState.DEGRADED  # the authoritative servers answer: not dark
    assert ehr.runway_seconds is None
    assert any("unknown time" in reason for reason in ehr.reasons)


def test_a_name_answered_only_stale_is_never_healthy_whatever_else_answers() -> None:
    round_ = edit(healthy_round(), on(*RESOLVERS, name=DB[0]), result=Result.STALE)
    assert verdict(round_).services["ehr"].state is not ServiceState.UP


# --- CNAME chains into another zone ---------------------------------------------------------


def test_a_dark_zone_at_the_end_of_a_cname_chain_degrades_the_service() -> None:
    round_ = silence(healthy_round(ttl=120), "ns3")
    health = verdict(round_)
    assert health.zones["other.internal"].dark
    ehr = health.services["ehr"]
    assert ehr.state is ServiceState.DEGRADED
    # resolver-a hands out 120 s; resolver-b serves an hour of stale answers after that
    assert ehr.runway_seconds == 120
    assert {c.server for c in ehr.cached} == set(RESOLVERS)


def test_a_changed_record_in_the_target_zone_is_a_wrong_answer_of_the_name() -> None:
    round_ = edit(
        healthy_round(), on("ns3", name="app.other.internal"),
        result=Result.WRONG_ANSWER, answers=("127.30.1.99",),
    )  # fmt: skip
    health = verdict(round_)
    assert health.names[APP].state is NameState.DEGRADED
    assert health.services["ehr"].runway_seconds == 300  # the authority lost it: caches only


def test_an_authoritative_cname_pointing_elsewhere_makes_the_name_inconsistent() -> None:
    round_ = edit(healthy_round(), on("ns1", name=APP[0]), chain=("new.other.internal",))
    assert verdict(round_).names[APP].consistent is False


# --- a bad zone load ------------------------------------------------------------------------


def test_a_record_deleted_on_every_authoritative_server_starts_the_runway() -> None:
    round_ = edit(healthy_round(ttl=240), on("ns1", "ns2", name=DB[0]), result=Result.NXDOMAIN,
                  answers=(), ttl=None)  # fmt: skip
    health = verdict(round_)
    ehr = health.services["ehr"]
    assert ehr.state is ServiceState.DEGRADED
    assert ehr.runway_seconds == 240
    assert not health.zones["region.internal"].dark  # the zone answers; one record is gone


def test_a_record_deleted_on_one_server_only_is_no_runway() -> None:
    round_ = edit(healthy_round(), on("ns1", name=DB[0]), result=Result.NXDOMAIN, answers=())
    assert verdict(round_).services["ehr"].runway_seconds is None


# --- canaries -------------------------------------------------------------------------------


def test_a_resolver_that_cannot_reach_the_authority_answers_from_cache_only() -> None:
    round_ = edit(healthy_round(ttl=200), on("resolver-a", purpose=Purpose.CANARY),
                  result=Result.SERVFAIL)  # fmt: skip
    health = verdict(round_)
    assert health.zones["region.internal"].reach == {"resolver-a": False, "resolver-b": True}
    ehr = health.services["ehr"]
    assert ehr.state is ServiceState.DEGRADED
    assert ehr.runway_seconds == 200
    assert {c.server for c in ehr.cached} == {"resolver-a"}


# --- shared fate ----------------------------------------------------------------------------


def test_a_backup_in_another_zone_on_the_same_authoritative_servers_shares_their_fate() -> None:
    fate = GRAPH.shared_fate("ehr", ("ehr-copy.backup.internal",))
    assert (fate.level, fate.shared) == (SharedFate.AUTHORITATIVE, ("ns1", "ns2"))


def test_the_2018_upgrade_takes_the_service_and_its_backup_together() -> None:
    health = verdict(silence(healthy_round(), "ns1", "ns2"))
    ehr = health.services["ehr"]
    states = {b.name: b.state for b in ehr.backups}
    assert ehr.state is ServiceState.DEGRADED
    assert states == {"ehr-copy": BackupState.AT_RISK, "paper": BackupState.USABLE}
    copy = next(b for b in ehr.backups if b.name == "ehr-copy")
    assert copy.instructions == "Open the copy on the ward PC"


def test_a_name_sharing_the_chain_target_shares_the_name() -> None:
    config = parse(
        CONFIG_TEXT_WITH_CNAME_BACKUP := """\
servers:
  - {name: r, address: 127.0.0.1}
  - {name: ns3, address: 127.0.0.1, port: 5313, role: authoritative, zones: [other.internal]}
names:
  - {name: ehr.region.internal}
  - {name: ehr.region.internal, type: CNAME, expect: [app.other.internal.]}
  - {name: app.other.internal}
services:
  - {name: ehr, depends_on: [ehr.region.internal],
     backups: [{name: direct, depends_on: [app.other.internal]}]}
"""
    )
    assert CONFIG_TEXT_WITH_CNAME_BACKUP
    graph = graph_module.build(config)
    assert graph.static_chains == {("ehr.region.internal", "A"): ("app.other.internal",)}
    fate = graph.shared_fate("ehr", ("app.other.internal",))
    assert (fate.level, fate.shared) == (SharedFate.NAME, ("app.other.internal",))


# --- runway across rounds -------------------------------------------------------------------


def test_runway_counts_down_across_rounds_and_does_not_stick_on_stale_answers() -> None:
    clock = RunwayClock()
    first = silence(healthy_round(ttl=60), "ns1", "ns2")
    assert verdict(first, clock).services["ehr"].runway_seconds == 60
    # 90 s later: resolver-a's cache is gone; resolver-b serves stale, TTL 30, EDE 3
    later = silence(healthy_round(), "ns1", "ns2", "resolver-a")
    later.started_at = first.started_at + 90
    edit(later, on("resolver-b", name=DB[0]), result=Result.STALE, ttl=30, ede=(Ede(3),))
    edit(later, on("resolver-b", name=APP[0]), result=Result.STALE, ttl=30, ede=(Ede(3),))
    ehr = verdict(later, clock).services["ehr"]
    assert ehr.runway_seconds == 60 + 3600 - 90  # anchored when first seen: TTL, then window
    # It rose from 60 s, which ended 30 s ago: it says why.
    assert ehr.runway_rose.startswith("resolver-a's cached answer for ehr-")
    assert "ran out (resolver-a answers timeout now); the countdown now follows " in ehr.runway_rose
    assert "resolver-b's expired answer for " in ehr.runway_rose
    # The next round counts on down the same answer: the reason stays while it does.
    again = silence(healthy_round(), "ns1", "ns2", "resolver-a")
    again.started_at = later.started_at + 10
    for key in (DB, APP):
        edit(again, on("resolver-b", name=key[0]), result=Result.STALE, ttl=30, ede=(Ede(3),))
    ehr_again = verdict(again, clock).services["ehr"]
    assert ehr_again.runway_seconds == ehr.runway_seconds - 10
    assert ehr_again.runway_rose == ehr.runway_rose


def test_report_shows_reach_dark_ede_and_the_chain() -> None:
    round_ = silence(healthy_round(), "ns3")
    edit(round_, on("resolver-b", name=APP[0]), result=Result.STALE, ede=(Ede(3),))
    health = verdict(round_)
    built = report.build(CONFIG, GRAPH, health, 0.0, 0.1, round_.results.values())
    zone = next(z for z in built["zones"] if z["name"] == "other.internal")
    assert (zone["dark"], zone["failing_servers"]) == (True, ["ns3"])
    assert zone["reach"] == {"resolver-a": True, "resolver-b": True}
    app = next(n for n in built["names"] if n["name"] == APP[0])
    assert app["chain"] == ["app.other.internal"]
    stale = next(r for r in app["results"] if r["server"] == "resolver-b")
    assert stale["ede"] == [{"code": 3, "name": "Stale Answer", "text": ""}]
    assert next(r for r in app["results"] if r["server"] == "ns3")["qname"] == "app.other.internal"
    assert built["status"] == "degraded"
