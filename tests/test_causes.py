"""The cause finder names exactly the faults planted in a round, and no others.

Each test breaks one or two things in a hand-built round (see rounds.py) and reads the
causes as the incident lead would: what broke, in plain words, and which services it
takes with it.
"""

from __future__ import annotations

from monitor.judging import causes as causes_module
from monitor.judging.causes import Cause
from monitor.judging.health import judge
from monitor.judging.history import History, state_keys
from monitor.outputs import report
from monitor.probing.ede import Ede
from monitor.probing.plan import Purpose
from monitor.probing.results import Round
from monitor.states import Result
from tests.rounds import APP, CONFIG, DB, GRAPH, edit, healthy_round, on, silence


def causes_of(round_: Round) -> list[Cause]:
    health = judge(GRAPH, round_)
    return causes_module.find(GRAPH, health, round_.results.values())


def planted(round_: Round) -> list[tuple[str, str]]:
    return [cause.key for cause in causes_of(round_)]


def test_a_healthy_round_has_no_cause() -> None:
    assert causes_of(healthy_round()) == []


def test_one_silent_resolver_is_one_cause_said_as_the_clients_feel_it() -> None:
    [cause] = causes_of(silence(healthy_round(), "resolver-a"))
    assert cause.key == ("server_silent", "resolver-a")
    assert cause.summary == "resolver-a (127.0.0.1:5301) does not answer at all"
    # glibc (the stand-in clients) asks resolver-a first and waits out its 5 s timeout.
    assert cause.told() == cause.summary + "; every lookup from clients waits 5 s"
    assert set(cause.services) == {"ehr", "lab"}  # both lost a resolver: degraded


def test_a_resolver_whose_port_is_closed_is_unreachable_not_silent() -> None:
    round_ = edit(silence(healthy_round(), "resolver-a"), on("resolver-a"), port_closed=True)
    [cause] = causes_of(round_)
    assert cause.key == ("server_unreachable", "resolver-a")
    assert cause.told() == cause.summary  # clients move on at once: nothing to wait for


def test_a_dark_zone_collapses_every_failing_name_into_one_cause() -> None:
    round_ = silence(healthy_round(ttl=240), "ns1", "ns2")
    found = causes_of(round_)
    assert [c.key for c in found] == [
        ("zone_dark", "region.internal"),
        ("zone_dark", "backup.internal"),
    ]
    region = found[0]
    assert region.told() == (
        "ns1 and ns2, the only authoritative servers of region.internal, do not answer; "
        "resolvers answer from cache for about 4 minutes more"
    )
    assert region.services == ("ehr",)


def test_a_dark_zone_after_the_caches_ran_out_says_so() -> None:
    round_ = silence(healthy_round(), "ns3")
    edit(round_, on("resolver-a", "resolver-b", name=APP[0]), result=Result.SERVFAIL,
         answers=(), ttl=None, chain=())  # fmt: skip
    edit(round_, on("resolver-a", "resolver-b", name="lab.other.internal"),
         result=Result.SERVFAIL, answers=(), ttl=None)  # fmt: skip
    [cause] = causes_of(round_)
    assert cause.key == ("zone_dark", "other.internal")
    assert cause.told().endswith("; resolver caches no longer hide it")
    assert set(cause.services) == {"ehr", "lab"}


def test_a_dark_zone_and_an_unrelated_wrong_answer_are_two_causes() -> None:
    round_ = silence(healthy_round(), "ns3")
    edit(round_, on("ns1", "ns2", name=DB[0]), result=Result.WRONG_ANSWER,
         answers=("127.20.1.77",))  # fmt: skip
    assert sorted(planted(round_)) == [
        ("record_changed", "ehr-db.region.internal A"),
        ("zone_dark", "other.internal"),
    ]


def test_a_deleted_record_is_a_changed_record_with_the_runway_in_its_summary() -> None:
    round_ = edit(healthy_round(ttl=600), on("ns1", "ns2", name=DB[0]), result=Result.NXDOMAIN,
                  answers=(), ttl=None)  # fmt: skip
    [cause] = causes_of(round_)
    assert cause.key == ("record_changed", "ehr-db.region.internal A")
    assert cause.told() == (
        "the authoritative servers no longer have ehr-db.region.internal A (ns1 NXDOMAIN and "
        "ns2 NXDOMAIN); resolvers answer from cache for about 10 minutes more"
    )
    assert cause.services == ("ehr",)


def test_serial_drift_explains_one_secondary_answering_the_old_record() -> None:
    round_ = edit(healthy_round(), on("ns2", name="region.internal", purpose=Purpose.SOA),
                  serial=2)  # fmt: skip
    edit(round_, on("ns2", name=DB[0]), result=Result.WRONG_ANSWER, answers=("127.20.1.77",))
    assert planted(round_) == [("serials_differ", "region.internal")]


def test_stale_answers_with_reachable_authority_are_their_own_cause() -> None:
    round_ = edit(healthy_round(), on("resolver-b", name=DB[0]), result=Result.STALE,
                  ede=(Ede(3),))  # fmt: skip
    [cause] = causes_of(round_)
    assert cause.key == ("stale_answers", "resolver-b")
    assert cause.services == ("ehr",)


def test_a_resolver_cut_off_from_the_authority_is_named_by_its_canary() -> None:
    def canary(r):
        return r.query.purpose is Purpose.CANARY and r.query.zone == "region.internal"

    round_ = edit(healthy_round(), lambda r: canary(r) and r.query.server.name == "resolver-a",
                  result=Result.SERVFAIL)  # fmt: skip
    found = causes_of(round_)
    assert [c.key for c in found] == [("authority_unreachable", "region.internal")]
    assert found[0].services == ("ehr",)  # its cached answers are all it has left
    assert found[0].summary.startswith(
        "resolver-a answers but cannot reach the authoritative servers of region.internal"
    )


def test_dnssec_failures_name_the_zone_and_the_reason() -> None:
    round_ = edit(healthy_round(), on("resolver-a", "resolver-b", name=DB[0]),
                  result=Result.SERVFAIL, answers=(), ede=(Ede(6, "bogus"),))  # fmt: skip
    [cause] = causes_of(round_)
    assert cause.key == ("dnssec", "region.internal")
    assert "EDE 6 DNSSEC Bogus" in cause.summary


def test_refused_names_the_server() -> None:
    round_ = edit(healthy_round(), on("resolver-b", name="lab.other.internal"),
                  result=Result.REFUSED, answers=())  # fmt: skip
    assert planted(round_) == [("refused", "resolver-b")]


def test_since_dates_a_cause_from_the_round_it_appeared_and_keeps_it() -> None:
    history = History(started_at=900.0)
    dates = []
    for start in (1000.0, 1030.0, 1060.0):
        round_ = silence(healthy_round(), "ns3")
        round_.started_at = start
        health = judge(GRAPH, round_)
        found = causes_module.find(GRAPH, health, round_.results.values())
        since = history.observe(start, state_keys(health, found))
        memory = report.Memory(since, history.started_at)
        built = report.build(CONFIG, GRAPH, health, start, 0.1, round_.results.values(),
                             found, memory)  # fmt: skip
        dates.append((built["causes"][0]["since"], built["services"][0]["since"]))
    assert dates == [("1970-01-01T00:16:40Z", "1970-01-01T00:16:40Z")] * 3
    assert "stopped answering at" in built["causes"][0]["summary"]
    assert built["tracking_since"] == "1970-01-01T00:15:00Z"


def test_a_single_check_has_no_since() -> None:
    round_ = silence(healthy_round(), "ns3")
    health = judge(GRAPH, round_)
    found = causes_module.find(GRAPH, health, round_.results.values())
    built = report.build(CONFIG, GRAPH, health, 0.0, 0.1, round_.results.values(), found)
    assert built["causes"][0]["since"] is None
    assert built["causes"][0]["summary"].startswith("ns3, the only authoritative server of")
    assert {s["since"] for s in built["services"]} == {None}
    assert built["tracking_since"] is None


def test_a_dead_resolver_is_named_even_behind_a_dark_zone() -> None:
    refused = "no answer after 2 attempts (port unreachable)"
    round_ = edit(silence(healthy_round(), "ns1", "ns2", "resolver-a"),
                  on("ns1", "ns2", "resolver-a"), detail=refused, port_closed=True)  # fmt: skip
    keys = planted(round_)
    assert ("server_unreachable", "resolver-a") in keys
    assert ("zone_dark", "region.internal") in keys


def test_what_is_left_is_told_without_what_a_cause_already_explained() -> None:
    """ns1 answers one name wrongly with ns2 (a changed record) and fails another alone:
    the leftover is that one query, not "ns1 fails 2 queries"."""
    round_ = edit(healthy_round(), on("ns1", "ns2", name=DB[0]), result=Result.WRONG_ANSWER,
                  answers=("127.20.1.77",))  # fmt: skip
    edit(round_, on("ns1", name="ehr-copy.backup.internal"), result=Result.ERROR, answers=(),
         detail="reply to another question")  # fmt: skip
    found = {cause.key: cause for cause in causes_of(round_)}
    assert set(found) == {
        ("record_changed", "ehr-db.region.internal A"),
        ("other", "ehr-copy.backup.internal A"),
    }
    assert found[("other", "ehr-copy.backup.internal A")].summary == (
        "ehr-copy.backup.internal A on ns1: error (reply to another question)"
    )
