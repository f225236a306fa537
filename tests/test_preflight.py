"""``preflight``: GO or NO-GO for a planned change, from today's round and the change
imagined on the same config — what it takes down within the window (caches counted),
clocks that run out within it, and how long a rollback takes to reach cached clients."""

from __future__ import annotations

from monitor.config import parse
from monitor.judging import graph as graph_module
from monitor.judging import preflight
from monitor.judging.health import judge
from monitor.judging.impact import imagine, parse_failure
from monitor.probing.plan import Purpose
from monitor.probing.results import Round
from monitor.probing.wire import SoaTimers
from monitor.states import Result
from tests.rounds import CONFIG_TEXT, GRAPH, edit, healthy_round

PRIMARY = graph_module.build(parse(CONFIG_TEXT.replace(
    "port: 5311, role: authoritative,", "port: 5311, role: authoritative, primary: true,"
)))  # fmt: skip
SPARE = graph_module.build(parse(CONFIG_TEXT.replace(
    "servers:\n", "servers:\n  - {name: ns4, address: 127.0.0.1, port: 5314, "
    "role: authoritative, zones: [spare.internal]}\n", 1,
)))  # fmt: skip


def timed(round_: Round, expire: int = 1209600, minimum: int = 300, refresh: int = 3600) -> Round:
    timers = SoaTimers(refresh, 600, expire, minimum)
    return edit(round_, lambda r: r.query.purpose is Purpose.SOA, soa_timers=timers)


def verdict(changes: list[str], window: float, round_: Round | None = None, graph=GRAPH):
    round_ = round_ or timed(healthy_round())
    failures = [parse_failure(c, graph.config, graph) for c in changes]
    during = judge(graph, imagine(graph, failures))
    return preflight.judge(graph, judge(graph, round_), "up", "", during, failures, window)


def kinds(found: preflight.Preflight) -> dict[str, preflight.Reason]:
    return {r.kind: r for r in found.reasons}


def test_a_change_nothing_needs_is_go() -> None:
    found = verdict(["server:ns4"], 3600, graph=SPARE)
    assert (found.verdict, found.exit_code, found.reasons) == ("go", 0, ())


def test_a_resolver_down_for_the_window_loses_redundancy_only() -> None:
    found = verdict(["server:resolver-a"], 3600)
    assert found.verdict == "go_with_warnings" and found.exit_code == 1
    # ehr's copy on the ward PCs needs resolver-a too: a backup that shares its fate
    assert set(kinds(found)) == {"redundancy_lost", "backup_shared_fate"}
    assert found.rollback_seconds is None  # a resolver holds no zone to roll back


def test_a_zone_dark_longer_than_the_caches_hold_is_no_go() -> None:
    """resolver-b serves stale for an hour after the 300 s TTL: 65 minutes in all."""
    held = verdict(["zone:region.internal"], 3600)
    assert kinds(held)["runs_on_caches"].seconds == 3900 and held.verdict == "go_with_warnings"
    found = verdict(["zone:region.internal"], 7200)
    down = kinds(found)["service_down"]
    assert (found.verdict, found.exit_code, down.level, down.seconds) == ("no_go", 2, "no_go", 3900)
    assert "ehr (critical) goes down 65 minutes into the change" in down.text


def test_stopping_the_primary_longer_than_the_copies_last_is_no_go() -> None:
    round_ = timed(healthy_round(), expire=3000, refresh=300)
    found = verdict(["server:ns1"], 3600, round_, PRIMARY)
    copies = [r for r in found.reasons if r.kind == "zone_expiring"]
    assert [(r.level, r.seconds) for r in copies] == [("no_go", 2700)] * 2  # both its zones
    assert found.verdict == "no_go"
    assert (
        "the change stops ns1, the primary of region.internal: its secondaries' copies "
        "expire 45 minutes later at the earliest" in " ".join(r.text for r in copies)
    )
    assert verdict(["server:ns1"], 1800, round_, PRIMARY).verdict == "go_with_warnings"
    assert "zone_expiring" not in kinds(verdict(["server:ns2"], 3600, round_, PRIMARY))


def test_the_rollback_time_is_the_longest_ttl_the_change_touches() -> None:
    found = verdict(["server:ns1"], 3600, timed(healthy_round(ttl=86400)))
    assert found.rollback_seconds == 86400
    rollback = kinds(found)["rollback"]
    assert rollback.level == "warning" and "86400 s" in rollback.text
    short = verdict(["server:ns1"], 3600, timed(healthy_round(ttl=300), minimum=900))
    assert short.rollback_seconds == 300  # the SOA answer's TTL (300) caps the negative 900
    assert "rollback" not in kinds(short)


def test_signatures_expiring_within_the_window_are_no_go() -> None:
    round_ = edit(timed(healthy_round()), lambda r: not r.recursive and r.query.zone
                  == "region.internal", sig_expiration=1000 + 1200)  # fmt: skip
    found = verdict(["server:resolver-a"], 3600, round_)
    assert kinds(found)["signatures_expiring"].seconds == 1200 and found.verdict == "no_go"


def test_a_critical_services_backup_taken_by_the_change_is_a_warning() -> None:
    found = verdict(["zone:backup.internal"], 600)
    shared = kinds(found)["backup_shared_fate"]
    assert "backup ehr-copy of ehr" in shared.text and shared.level == "warning"


def test_a_dns_not_healthy_now_is_a_warning() -> None:
    round_ = edit(timed(healthy_round()), lambda r: r.query.server.name == "ns3",
                  result=Result.TIMEOUT, answers=())  # fmt: skip
    failures = [parse_failure("server:resolver-a", GRAPH.config, GRAPH)]
    during = judge(GRAPH, imagine(GRAPH, failures))
    found = preflight.judge(GRAPH, judge(GRAPH, round_), "degraded", "ns3 does not answer",
                            during, failures, 600)  # fmt: skip
    assert kinds(found)["not_healthy"].text == (
        "the DNS is degraded before the change: ns3 does not answer"
    )


def test_each_client_group_holds_only_what_its_own_resolvers_cache() -> None:
    """Wards ask resolver-a alone (TTL 300, no stale window); the office resolver-b,
    which serves stale for an hour: the wards lose ehr after five minutes."""
    text = CONFIG_TEXT.replace("services:\n", """clients:
  - {name: wards, resolvers: [resolver-a]}
  - {name: office, resolvers: [resolver-b]}
services:
""", 1)  # fmt: skip
    graph = graph_module.build(parse(text))
    found = verdict(["zone:region.internal"], 1800, timed(healthy_round()), graph)
    down = kinds(found)["service_down"]
    assert (found.verdict, down.seconds) == ("no_go", 300)
