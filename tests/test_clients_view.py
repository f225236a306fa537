"""The clients' view on hand-built rounds: each fault that dnsmon's own seat hides, and
the verdict, people state and cause a ward would agree with."""

from __future__ import annotations

from dataclasses import replace

from monitor.config import parse
from monitor.judging import causes as causes_module
from monitor.judging import graph as graph_module
from monitor.judging.health import Health, judge
from monitor.outputs import report
from monitor.probing.plan import Purpose
from monitor.probing.results import ProbeResult, Round
from monitor.states import Lookup, People, Result, ServiceState
from tests.rounds import CONFIG, DB, GRAPH, edit, healthy_round, on, silence


def judged(round_: Round, graph: graph_module.Graph = GRAPH) -> tuple[Health, list]:
    health = judge(graph, round_)
    return health, causes_module.find(graph, health, round_.results.values())


def test_an_nxdomain_from_the_first_resolver_is_down_for_its_clients() -> None:
    """glibc takes resolver-a's NXDOMAIN as final and never asks resolver-b: every
    client fails, though dnsmon's own view has one resolver answering."""
    round_ = edit(healthy_round(), on("resolver-a", name=DB[0]), result=Result.NXDOMAIN,
                  answers=(), ttl=None)  # fmt: skip
    health, found = judged(round_)
    ehr = health.services["ehr"]
    assert health.names[DB].healthy_servers == 1  # dnsmon's own view alone: degraded
    assert ehr.state is ServiceState.DOWN and ehr.people is People.USE_BACKUPS
    lookup = health.lookups["clients"][DB]
    assert (lookup.result, lookup.answered_by, lookup.path) == (
        Lookup.FAILS,
        "resolver-a",
        "resolver-a NXDOMAIN",
    )
    assert [c.key for c in found] == [("negative_answer", "resolver-a")]
    assert found[0].told() == (
        "resolver-a answers NXDOMAIN for ehr-db.region.internal A, which resolver-b resolves: "
        "clients that ask it first fail and never ask another; 1 lookup from clients fails"
    )


def test_nxdomain_from_the_second_resolver_is_felt_by_nobody() -> None:
    round_ = edit(healthy_round(), on("resolver-b", name=DB[0]), result=Result.NXDOMAIN,
                  answers=(), ttl=None)  # fmt: skip
    health, _ = judged(round_)
    assert health.lookups["clients"][DB].result is Lookup.OK
    assert health.services["ehr"].state is ServiceState.DEGRADED  # for operators
    assert health.services["ehr"].people is People.WORKING  # nothing for people to do


def test_a_lost_authority_behind_healthy_caches_is_working_for_people() -> None:
    """ns1 down, ns2 up: redundancy lost, every client still served."""
    health, _ = judged(silence(healthy_round(), "ns1"))
    ehr = health.services["ehr"]
    assert ehr.state is ServiceState.DEGRADED
    assert ehr.people is People.WORKING
    assert [v.state for v in ehr.clients] == [ServiceState.UP]


def test_a_dark_zone_hidden_by_caches_asks_people_to_prepare() -> None:
    health, _ = judged(silence(healthy_round(ttl=240), "ns1", "ns2"))
    ehr = health.services["ehr"]
    assert ehr.people is People.PREPARE and ehr.runway_seconds == 240


def test_a_zone_that_did_not_load_is_not_an_unreachable_authority() -> None:
    """ns3, the only server of other.internal, answers SERVFAIL for it."""
    round_ = edit(healthy_round(), on("ns3"), result=Result.SERVFAIL, answers=(), ttl=None)
    edit(round_, on(*("resolver-a", "resolver-b"), name="lab.other.internal"),
         result=Result.SERVFAIL, answers=(), ttl=None)  # fmt: skip
    _, found = judged(round_)
    keys = [c.key for c in found]
    assert keys[0] == ("zone_not_loaded", "other.internal")
    assert ("zone_dark", "other.internal") not in keys
    assert found[0].summary.startswith(
        "ns3 answers SERVFAIL for other.internal, a zone it serves: the zone is not loaded"
    )


def _large(round_: Round, name: str) -> Round:
    """dnsmon's own answers for ``name`` from the resolvers are 700 bytes: too large for a
    client without EDNS."""
    return edit(round_, on("resolver-a", "resolver-b", name=name), size=700)


def test_a_large_answer_without_tcp_fails_for_glibc_clients() -> None:
    round_ = _large(healthy_round(), DB[0])
    refused = "truncated over UDP and TCP failed: ECONNREFUSED"
    for query in GRAPH.client_plan.where_large(round_.results.values()):
        round_.add(ProbeResult(query, Result.ERROR, truncated=True, over_tcp=True, detail=refused))
    health, found = judged(round_)
    assert health.names[DB].state.value == "healthy"  # dnsmon's own EDNS answers fit
    assert health.lookups["clients"][DB].result is Lookup.FAILS
    assert health.services["ehr"].state is ServiceState.DOWN
    assert {c.key for c in found} == {("tcp_unavailable", "resolver-a"),
                                      ("tcp_unavailable", "resolver-b")}  # fmt: skip
    built = report.build(CONFIG, GRAPH, health, 0.0, 0.1, round_.results.values(), found)
    db = next(n for n in built["names"] if n["name"] == DB[0])
    asked = [r for r in db["results"] if r.get("client")]
    assert [(r["server"], r["client"], r["asked"]) for r in asked] == [
        ("resolver-a", "clients", "without EDNS"), ("resolver-b", "clients", "without EDNS")
    ]  # fmt: skip


def test_small_answers_are_not_asked_again_without_edns() -> None:
    assert GRAPH.client_plan.where_large(healthy_round().results.values()) == []
    assert GRAPH.client_plan.always() == []  # no group asks from an address of its own


SPLIT = parse(
    """\
servers:
  - {name: resolver-a, address: 127.0.0.1, port: 5301}
  - {name: ns1, address: 127.0.0.1, port: 5311, role: authoritative, zones: [region.internal]}
clients:
  - {name: wards, resolvers: [resolver-a], source: 127.81.0.2}
names:
  - {name: ehr-db.region.internal, expect: [127.20.1.15]}
services:
  - {name: ehr, depends_on: [ehr-db.region.internal], clients: [wards]}
"""
)
SPLIT_GRAPH = graph_module.build(SPLIT)


def _split_round(own: Result, wards: Result) -> Round:
    layout = SPLIT_GRAPH.layout
    round_ = Round(0.0)
    for query in layout.build() + layout.canaries() + SPLIT_GRAPH.client_plan.always():
        said = wards if query.purpose is Purpose.CLIENT else own
        if query.purpose is Purpose.CANARY or not query.recursion:
            said = Result.NXDOMAIN if query.purpose is Purpose.CANARY else Result.OK
        answers = ("127.20.1.15",) if said is Result.OK else ()
        round_.add(ProbeResult(query, said, 0.001, 300, answers, serial=1))
    return round_


def test_a_broken_view_for_the_wards_address_is_down_though_dnsmon_gets_answers() -> None:
    health, found = judged(_split_round(own=Result.OK, wards=Result.SERVFAIL), SPLIT_GRAPH)
    assert health.names[DB].state.value == "healthy"
    assert health.services["ehr"].state is ServiceState.DOWN
    assert [c.key for c in found] == [("view_differs", "ehr-db.region.internal A")]
    assert found[0].summary == (
        "ehr-db.region.internal A: resolver-a answers wards (without EDNS from 127.81.0.2) "
        "SERVFAIL, "
        "dnsmon's own address 127.20.1.15"
    )


def test_the_wards_view_stands_for_its_names_when_dnsmon_sits_in_another() -> None:
    """dnsmon's own address is outside the internal view (NXDOMAIN); the wards, asked
    from their address, get the answer: up, and the difference said as a cause."""
    health, found = judged(_split_round(own=Result.NXDOMAIN, wards=Result.OK), SPLIT_GRAPH)
    assert health.services["ehr"].state is ServiceState.UP
    assert [c.key for c in found] == [("view_differs", "ehr-db.region.internal A")]
    assert found[0].services == ()


def test_a_canary_refused_is_a_refusal_not_a_lost_authority() -> None:
    round_ = edit(healthy_round(), on("resolver-a", purpose=Purpose.CANARY),
                  result=Result.REFUSED)  # fmt: skip
    _, found = judged(round_)
    assert [c.kind.value for c in found] == ["refused"]


def test_a_machine_with_both_roles_is_counted_once() -> None:
    config = parse(
        """\
servers:
  - {name: dc1, address: 127.0.0.1, port: 5321, role: [recursive, authoritative],
     zones: [ad.region.internal]}
  - {name: resolver-b, address: 127.0.0.1, port: 5302}
names:
  - {name: dc.ad.region.internal}
services:
  - name: login
    depends_on: [dc.ad.region.internal]
    backups: [{name: local, depends_on: [dc.ad.region.internal]}]
"""
    )
    graph = graph_module.build(config)
    round_ = Round(0.0)
    for query in graph.layout.build() + graph.layout.canaries():
        round_.add(ProbeResult(query, Result.TIMEOUT, detail="no answer after 2 attempts")
                   if query.server.name == "dc1" else
                   ProbeResult(query, Result.NXDOMAIN if query.purpose is Purpose.CANARY
                               else Result.OK, 0.001, 300, ("127.0.0.9",)))  # fmt: skip
    health, found = judged(round_, graph)
    name = health.names[("dc.ad.region.internal", "A")]
    assert (name.healthy_servers, name.servers) == (1, 2)  # resolvers: dc1 and resolver-b
    # dc1 is the zone's only authoritative server: its silence is the zone going dark,
    # one fault, though it was asked two ways.
    assert [c.key for c in found] == [("zone_dark", "ad.region.internal")]
    from monitor.outputs import metrics

    view = metrics.RoundView(graph, health, list(round_.results.values()), 0.0, 0.1)
    text = metrics.render(metrics.RoundCollector(view, metrics.Totals())).text_with(b"")
    lines = [line for line in text.decode().splitlines() if line.startswith("dnsmon_probe_success")]
    assert len(lines) == len(set(line.rsplit(" ", 1)[0] for line in lines))  # no duplicate
    assert 'dnsmon_server_up{role="authoritative",server="dc1"} 0.0' in text.decode()


def test_a_diff_keeps_each_way_a_server_was_asked_apart() -> None:
    """dnsmon's own answer and the clients' (without EDNS) from one resolver are two
    answers: a diff compares each with its own, never one with the other."""
    from monitor.outputs import snapshot

    def report_with(client_result: str) -> dict:
        return {
            "config_fingerprint": "f", "services": [], "zones": [],
            "names": [{"name": DB[0], "type": "A", "status": "healthy", "results": [
                {"server": "resolver-a", "role": "recursive", "result": "ok", "ttl": 300,
                 "answers": ["127.20.1.15"]},
                {"server": "resolver-a", "role": "recursive", "result": client_result,
                 "ttl": None, "answers": [], "client": "wards", "asked": "without EDNS"},
                {"server": "dc1", "role": "recursive", "result": "ok", "ttl": 300,
                 "answers": ["127.20.1.15"]},
                {"server": "dc1", "role": "authoritative", "result": "ok", "ttl": 300,
                 "answers": ["127.20.1.15"]},
            ]}],
        }  # fmt: skip

    diff = snapshot.compare(report_with("ok"), report_with("error"))
    assert [(c["server"], c["before"], c["after"]) for c in diff.results] == [
        ("resolver-a (without EDNS)", "ok", "error")
    ]
    assert not diff.not_comparable and diff.exit_code() == 1  # the name is still healthy


def test_a_sourced_groups_answers_replace_only_the_resolvers_it_asked() -> None:
    """The wards' own view stands for the resolvers they ask; the authority is judged
    as ever: ns1, its only server, silent is a cache runway (degraded, never up)."""
    round_ = _split_round(own=Result.OK, wards=Result.OK)
    edit(round_, on("ns1"), result=Result.TIMEOUT, answers=(), ttl=None)
    health, _ = judged(round_, SPLIT_GRAPH)
    ehr = health.services["ehr"]
    assert ehr.state is ServiceState.DEGRADED and ehr.runway_seconds == 300
    assert ehr.people is People.PREPARE


RESTRICTED = parse(
    """\
servers:
  - {name: resolver-a, address: 127.0.0.1, port: 5301}
  - {name: resolver-b, address: 127.0.0.1, port: 5302}
clients:
  - {name: wards, resolvers: [resolver-a, resolver-b]}
names:
  - {name: ehr-db.region.internal, servers: [resolver-b]}
services:
  - {name: ehr, depends_on: [ehr-db.region.internal]}
"""
)


def test_a_resolver_a_name_is_not_asked_of_is_asked_as_its_clients_ask_it() -> None:
    """The name is asked of resolver-b only, but the wards ask resolver-a first: dnsmon
    asks resolver-a their way, and its NXDOMAIN fails them."""
    graph = graph_module.build(RESTRICTED)
    [asked] = graph.client_plan.always()
    assert (asked.server.name, str(asked.shape)) == ("resolver-a", "without EDNS")
    round_ = Round(0.0)
    for query in graph.layout.build() + graph.layout.canaries() + [asked]:
        said = Result.NXDOMAIN if query is asked else Result.OK
        round_.add(ProbeResult(query, said, 0.001, 300, () if query is asked else ("127.0.0.9",)))
    health, found = judged(round_, graph)
    lookup = health.lookups["wards"][DB]
    assert (lookup.result, lookup.path) == (Lookup.FAILS, "resolver-a NXDOMAIN")
    assert health.services["ehr"].state is ServiceState.DOWN


def test_impact_imagines_what_clients_ask_of_resolvers_a_name_is_not_asked_of() -> None:
    from monitor.judging import impact

    graph = graph_module.build(RESTRICTED)
    imagined = impact.imagine(graph, [impact.Failure("server", "resolver-a")])
    health, _ = judged(imagined, graph)
    assert health.lookups["wards"][DB].result is Lookup.SLOW  # silent resolver-a waited out


def test_a_failed_machine_with_both_roles_is_named_for_its_clients_too() -> None:
    from monitor.judging import impact

    config = parse(
        """\
servers:
  - {name: dc1, address: 127.0.0.1, port: 5321, role: [recursive, authoritative],
     zones: [ad.region.internal]}
  - {name: resolver-b, address: 127.0.0.1, port: 5302}
names:
  - {name: dc.ad.region.internal}
  - {name: ehr-db.region.internal}
services:
  - {name: ehr, depends_on: [ehr-db.region.internal]}
"""
    )
    graph = graph_module.build(config)
    imagined = impact.imagine(graph, [impact.Failure("server", "dc1")])
    _, found = judged(imagined, graph)
    assert {c.key for c in found} == {("zone_dark", "ad.region.internal"),
                                      ("server_silent", "dc1")}  # fmt: skip


def test_a_resolver_without_recursion_that_gives_the_answer_serves_its_clients() -> None:
    """A reply with the answer but RA clear is an error in dnsmon's own view, but a stub
    takes the answer."""
    from monitor.judging.clients import heard_from
    from monitor.judging.stubs import Said

    [query] = [q for q in GRAPH.layout.build() if q.server.name == "resolver-a" and q.name == DB[0]]
    right = ProbeResult(query, Result.ERROR, 0.001, 300, ("127.20.1.15",), rcode=0, flags=0x8000)
    wrong = replace(right, answers=("127.20.1.99",))
    assert heard_from(right).said is Said.ANSWER
    assert heard_from(wrong).said is Said.WRONG
