"""``impact`` says both moments: while resolver caches last, and once they have run out.

The hand-built region's resolver-b serves stale for an hour: with ns1 and ns2 gone, the
services are degraded while it does, and down after. The summary fits a screen; the
detail is there on request.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from dnsmon_cli import dnsmon

from monitor.outputs import impact as told
from tests.rounds import CONFIG_TEXT

EXAMPLE = Path(__file__).parent.parent / "probes.yaml"

FAILURES = ("--fail", "server:ns1", "--fail", "server:ns2")


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "probes.yaml"
    path.write_text(CONFIG_TEXT)
    return path


def test_both_moments_and_the_exit_on_the_worse(config: Path) -> None:
    run = dnsmon(config, "impact", *FAILURES, "--format", "json")
    assert run.code == 2, run.stderr
    holding, expired = run.json["moments"]
    assert holding == {
        "moment": "caches_holding", "after_seconds": None, "status": "degraded",
        "counts": {"down": 0, "degraded": 1, "up": 1},
        "services": {"down": [], "degraded": ["ehr"]},
    }  # fmt: skip
    assert expired["moment"] == "caches_expired" and expired["after_seconds"] == 3600
    assert (expired["status"], expired["services"]["down"]) == ("down", ["ehr"])
    # The report is the worse moment's; a summary leaves out each name's answers.
    assert run.json["status"] == "down" and run.json["names"] == []
    detail = dnsmon(config, "impact", *FAILURES, "--format", "json", "--detail")
    assert detail.json["moments"] == run.json["moments"] and detail.json["names"]


def test_the_summary_says_when_and_how_many(config: Path) -> None:
    run = dnsmon(config, "impact", *FAILURES)
    assert run.code == 2
    lines = run.stdout.splitlines()
    assert lines[0] == "If server:ns1 and server:ns2 fail (what-if; nothing probed):"
    assert lines[1] == "  while resolver caches last: DEGRADED  1 degraded, 1 up (of 2 services)"
    assert lines[2] == (
        "  once the names' TTLs and up to 60 minutes of serve-stale have run out: DOWN  "
        "1 down, 1 up (of 2 services)"
    )
    assert "DOWN (1), critical first: ehr" in lines
    assert lines[-1] == "Every service, backup and name: add --detail."
    assert len(lines) < 20


def test_a_summary_of_ten_thousand_services_stays_short() -> None:
    services = [{"name": f"svc{i}", "status": "down", "backups": [{"status": "usable"}]}
                for i in range(10_000)]  # fmt: skip
    gone = {"summary": "a.internal is gone", "services": [s["name"] for s in services]}
    report = {"assumed_failures": ["zone:a.internal"], "status": "down", "services": services,
              "causes": [gone]}  # fmt: skip
    moments = [told.moment(report, "caches_expired", None)]
    text = told.summary(report, moments)
    assert len(text.splitlines()) < 12
    assert (
        "10,000 services: svc0, svc1, svc2, svc3, svc4, svc5, svc6, svc7, … and 9,992 more" in text
    )
    assert "BACKUPS: 10,000 usable" in text


@pytest.mark.parametrize("failures", [
    ("server:ns1", "server:ns2"), ("server:resolver-a",), ("zone:region.internal",),
    ("name:ehr-db.region.internal", "server:resolver-b"),
])  # fmt: skip
def test_the_summary_judges_classes_of_names_and_says_what_the_detail_says(
    failures: tuple[str, ...],
) -> None:
    """The example region's names fall into a few classes that fare alike; judged once
    each, services, backups and causes are as when every name is judged."""
    from monitor.config import load
    from monitor.judging import classes
    from monitor.judging.graph import build

    config = load(str(EXAMPLE))
    failed = [f[5:] for f in failures if f[:5] == "name:"]
    reduced, _ = classes.reduce(config, build(config), failed)
    assert len(reduced.names) < len(config.names) / 2
    args = [a for f in failures for a in ("--fail", f)]
    summary = dnsmon(EXAMPLE, "impact", *args, "--format", "json").json
    detail = dnsmon(EXAMPLE, "impact", *args, "--format", "json", "--detail").json
    for key in ("status", "moments"):
        assert summary[key] == detail[key]

    def causes(report: dict) -> list[tuple]:
        return [(c["kind"], c["target"], c["summary"], c["services"]) for c in report["causes"]]

    assert causes(summary) == causes(detail)
    assert [(s["name"], s["status"], [b["status"] for b in s["backups"]])
            for s in summary["services"]] == [
        (s["name"], s["status"], [b["status"] for b in s["backups"]])
        for s in detail["services"]]  # fmt: skip
    assert "reasons" not in summary["services"][0] and "reasons" in detail["services"][0]


def test_causes_count_every_name_a_class_stands_for() -> None:
    """A name judged for a class counts as many lookups as the class holds."""
    from monitor.judging.causes.world import World
    from monitor.judging.health import judge
    from monitor.probing.results import server_facts
    from monitor.states import Result
    from tests.rounds import DB, GRAPH, edit, healthy_round, on

    round_ = edit(healthy_round(), on("resolver-a", name=DB[0]), result=Result.TIMEOUT,
                  answers=(), ttl=None)  # fmt: skip
    health = judge(GRAPH, round_)
    results = list(round_.results.values())
    alone = World(GRAPH, health, results, server_facts(results)).felt_by_clients(
        "resolver-a", "silent"
    )
    assert alone == "; 1 lookup from clients waits 5 s"
    health.weights = {DB[0]: 3}  # ehr-db stands for three names that fare alike
    counted = World(GRAPH, health, results, server_facts(results)).felt_by_clients(
        "resolver-a", "silent"
    )
    assert counted == "; 3 lookups from clients wait 5 s"


def test_stale_answers_count_every_name_a_class_stands_for() -> None:
    from monitor.judging.causes import answers
    from monitor.judging.causes.world import World
    from monitor.judging.health import judge
    from monitor.probing.ede import Ede
    from monitor.probing.results import server_facts
    from monitor.states import Result
    from tests.rounds import DB, GRAPH, edit, healthy_round, on

    round_ = edit(healthy_round(), on("resolver-b", name=DB[0]), result=Result.STALE,
                  ede=(Ede(3),))  # fmt: skip
    health = judge(GRAPH, round_)
    results = list(round_.results.values())

    def said() -> str:
        world = World(GRAPH, health, results, server_facts(results))
        return next(iter(answers.stale_answers(world))).summary

    assert said() == "resolver-b answers 1 name from expired cache (EDE 3 Stale Answer)"
    health.weights = {DB[0]: 3}
    assert said() == "resolver-b answers 3 names from expired cache (EDE 3 Stale Answer)"


def test_on_a_tie_the_summary_tells_the_later_moment_it_shows() -> None:
    """The example region is down in both moments (the wards wait out a silent
    resolver-a beyond their budget even while resolver-b serves stale): the summary
    shows, and says it shows, the later one."""
    run = dnsmon(EXAMPLE, "impact", *FAILURES)
    assert "  while resolver caches last: DOWN  10 down (of 10 services)" in run.stdout
    assert "\nOnce the names' TTLs and up to 60 minutes of serve-stale have run out:\n" in (
        run.stdout
    )
    report = dnsmon(EXAMPLE, "impact", *FAILURES, "--format", "json").json
    assert report["moment"] == "caches_expired"
    assert [m["status"] for m in report["moments"]] == ["down", "down"]


CHAINED = """\
site: dc-north
servers:
  - {name: r1, address: 127.0.0.1, port: 5301}
  - {name: nsa, address: 127.0.0.1, port: 5311, role: authoritative, zones: [a.internal]}
  - {name: nsb, address: 127.0.0.1, port: 5312, role: authoritative, zones: [b.internal]}
names:
  - {name: x.a.internal, type: CNAME, expect: [y.a.internal]}
  - {name: x.a.internal, type: A}
  - {name: z.a.internal, type: CNAME, expect: [v.a.internal]}
  - {name: y.a.internal, type: CNAME, expect: [w.b.internal]}
services:
  - {name: s1, depends_on: [x.a.internal]}
  - {name: s2, depends_on: [y.a.internal, z.a.internal]}
"""

GROUPED = """\
site: dc-north
servers:
  - {name: r1, address: 127.0.0.1, port: 5301}
  - {name: r2, address: 127.0.0.1, port: 5302}
  - {name: nsa, address: 127.0.0.1, port: 5311, role: authoritative, zones: [a.internal]}
  - {name: nsb, address: 127.0.0.1, port: 5312, role: authoritative, zones: [b.internal]}
clients:
  - {name: wards, resolvers: [r2, r1]}
  - {name: clinic, resolvers: [r2, r1]}
names:
  - {name: a1.a.internal}
  - {name: b1.b.internal}
  - {name: b2.b.internal}
services:
  - {name: sa, clients: [wards], depends_on: [a1.a.internal, b1.b.internal]}
  - {name: sb, clients: [clinic], depends_on: [b2.b.internal]}
"""


@pytest.mark.parametrize(("text", "failures"), [
    (CHAINED, ("zone:b.internal",)),  # a chain's link is never a stand-in's
    (GROUPED, ("server:r1", "zone:b.internal")),  # each client group counts its own lookups
])  # fmt: skip
def test_the_summary_agrees_with_the_detail_on_chains_and_client_groups(
    tmp_path: Path, text: str, failures: tuple[str, ...]
) -> None:
    path = tmp_path / "probes.yaml"
    path.write_text(text)
    args = [a for f in failures for a in ("--fail", f)]
    summary = dnsmon(path, "impact", *args, "--format", "json")
    detail = dnsmon(path, "impact", *args, "--format", "json", "--detail")
    assert summary.code == detail.code, (summary.stderr, detail.stderr)
    assert [(s["name"], s["status"]) for s in summary.json["services"]] == [
        (s["name"], s["status"]) for s in detail.json["services"]]  # fmt: skip
    assert [(c["kind"], c["target"], c["summary"], c["services"])
            for c in summary.json["causes"]] == [
        (c["kind"], c["target"], c["summary"], c["services"])
        for c in detail.json["causes"]]  # fmt: skip
