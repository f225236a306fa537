"""After the fix: a resolver still handing out a fault its authority no longer has — a
cached NXDOMAIN (for the SOA TTL it counts down), an old answer after a rollback (for
its TTL), a remembered SERVFAIL — is named for what it is, with the seconds it needs, the
command that flushes it on that resolver's software, and the service's recovery time."""

from __future__ import annotations

from monitor.config import parse
from monitor.judging import causes as causes_module
from monitor.judging import graph as graph_module
from monitor.judging.health import judge
from monitor.outputs import report, statuspage
from monitor.probing.plan import Purpose
from monitor.probing.results import Round
from monitor.states import Result
from tests.rounds import CONFIG, CONFIG_TEXT, DB, GRAPH, edit, healthy_round, on

LAB = ("lab.other.internal", "A")


def found(round_: Round, graph=GRAPH) -> dict:
    health = judge(graph, round_)
    return {c.key: c for c in causes_module.find(graph, health, round_.results.values())}


def built(round_: Round, graph=GRAPH, config=CONFIG) -> dict:
    health = judge(graph, round_)
    causes = causes_module.find(graph, health, round_.results.values())
    return report.build(config, graph, health, round_.started_at, 0.1,
                        round_.results.values(), causes)  # fmt: skip


def cached_nxdomain(round_: Round, server: str = "resolver-a", ttl: int | None = 97) -> Round:
    return edit(round_, on(server, name=DB[0], purpose=Purpose.NAME), result=Result.NXDOMAIN,
                answers=(), ttl=None, negative_ttl=ttl)  # fmt: skip


def test_a_cached_nxdomain_counts_down_its_soa_ttl_with_every_flush_form() -> None:
    round_ = cached_nxdomain(healthy_round())
    cause = found(round_)[("negative_cached", "resolver-a")]
    assert cause.seconds == 97 and cause.services == ("ehr",)
    assert "resolver-a still hands out NXDOMAIN it cached for ehr-db.region.internal A" in (
        cause.summary
    )
    assert "unbound-control flush_negative" in cause.commands  # software not said: every form
    assert "rndc flushname ehr-db.region.internal" in cause.commands
    assert ("negative_answer", "resolver-a") not in found(round_)
    entry = next(s for s in built(round_)["services"] if s["name"] == "ehr")
    assert entry["recovery_seconds"] == 97


def test_the_resolvers_software_picks_its_own_command() -> None:
    text = CONFIG_TEXT.replace("port: 5301}", "port: 5301, software: bind}")
    config = parse(text)
    graph = graph_module.build(config)
    cause = found(cached_nxdomain(healthy_round()), graph)[("negative_cached", "resolver-a")]
    assert cause.commands == ("rndc flushname ehr-db.region.internal",)


def test_an_nxdomain_without_a_cached_soa_is_the_resolvers_own_answer() -> None:
    """Unbound's local-zone always_nxdomain carries no SOA: a policy, not a cache."""
    causes = found(cached_nxdomain(healthy_round(), ttl=None))
    assert ("negative_answer", "resolver-a") in causes
    assert ("negative_cached", "resolver-a") not in causes


def test_no_recovery_while_the_authority_itself_still_says_nxdomain() -> None:
    round_ = cached_nxdomain(healthy_round())
    edit(round_, lambda r: not r.recursive and r.query.name == DB[0], result=Result.NXDOMAIN,
         answers=())  # fmt: skip
    assert not [k for k in found(round_) if k[0] == "negative_cached"]


def test_an_old_answer_after_a_rollback_lasts_its_ttl() -> None:
    round_ = edit(healthy_round(), on("resolver-b", name=LAB[0], purpose=Purpose.NAME),
                  answers=("127.0.0.9",), ttl=450)  # fmt: skip
    causes = found(round_)
    cause = causes[("old_answer_cached", "resolver-b")]
    assert (cause.seconds, cause.services) == (450, ("lab",))
    assert "unbound-control flush lab.other.internal" in cause.commands
    assert ("answers_differ", "lab.other.internal A") not in causes  # told right, once
    report_ = built(round_)
    assert next(s for s in report_["services"] if s["name"] == "lab")["recovery_seconds"] == 450
    page = statuspage.status_page(report_, "dc-north")
    assert "back for everyone by about" in page


def test_a_remembered_servfail_has_no_time_it_can_show() -> None:
    round_ = edit(healthy_round(), on("resolver-a", name=LAB[0], purpose=Purpose.NAME),
                  result=Result.SERVFAIL, answers=(), ttl=None)  # fmt: skip
    cause = found(round_)[("servfail_cached", "resolver-a")]
    assert cause.seconds is None and "unbound-control flush_negative" in cause.commands
    entry = next(s for s in built(round_)["services"] if s["name"] == "lab")
    assert entry["recovery_seconds"] is None


def test_version_bind_answers_name_their_software() -> None:
    from monitor.probing.software import recognise
    from monitor.states import Software

    assert recognise("unbound 1.17.1") is Software.UNBOUND
    assert recognise("9.18.49-1~deb12u3-Debian") is Software.BIND
    assert recognise("PowerDNS Recursor 4.8.2") is Software.POWERDNS
    assert recognise("Knot Resolver 5.6.0") is Software.KNOT_RESOLVER
    assert recognise("Microsoft DNS 10.0.17763 (4563100D)") is Software.WINDOWS
    assert recognise("none of your business") is None


def test_what_a_resolver_said_it_runs_picks_its_command() -> None:
    from monitor.states import Software

    round_ = cached_nxdomain(healthy_round())
    health = judge(GRAPH, round_)
    said = {"resolver-a": Software.UNBOUND}
    causes = causes_module.find(GRAPH, health, round_.results.values(), software=said)
    cause = next(c for c in causes if c.key == ("negative_cached", "resolver-a"))
    assert cause.commands == ("unbound-control flush_negative",)
    assert causes_module.unknown_software(GRAPH, causes, said) == set()
    assert causes_module.unknown_software(GRAPH, causes, {}) == {"resolver-a"}


def test_each_resolver_holding_an_old_answer_is_a_cause_of_its_own() -> None:
    """Both hold the rolled-back address, for different times: the longer one counts."""
    round_ = edit(healthy_round(), on("resolver-a", name=LAB[0], purpose=Purpose.NAME),
                  answers=("127.0.0.9",), ttl=599)  # fmt: skip
    edit(round_, on("resolver-b", name=LAB[0], purpose=Purpose.NAME), answers=("127.0.0.9",),
         ttl=299)  # fmt: skip
    causes = found(round_)
    assert causes[("old_answer_cached", "resolver-a")].seconds == 599
    assert causes[("old_answer_cached", "resolver-b")].seconds == 299
    assert (
        next(s for s in built(round_)["services"] if s["name"] == "lab")["recovery_seconds"] == 599
    )


def test_a_negative_answer_no_cache_of_the_zone_could_hold_is_the_resolvers_own() -> None:
    """A cache holds a negative answer at most the zone's negative TTL; one held longer,
    or a policy's (RPZ: EDE 15 Blocked), is the resolver's own answer."""
    from monitor.probing.ede import Ede
    from monitor.probing.wire import SoaTimers

    timed = edit(healthy_round(), lambda r: r.query.purpose is Purpose.SOA,
                 soa_timers=SoaTimers(3600, 600, 1209600, 120))  # fmt: skip
    longer = cached_nxdomain(timed, ttl=121)  # the zone's: min(SOA TTL 300, minimum 120)
    assert ("negative_cached", "resolver-a") not in found(longer)
    blocked = edit(cached_nxdomain(healthy_round(), ttl=60), on("resolver-a", name=DB[0]),
                   ede=(Ede(15),))  # fmt: skip
    assert ("negative_cached", "resolver-a") not in found(blocked)
    assert ("negative_cached", "resolver-a") in found(cached_nxdomain(timed, ttl=120))
