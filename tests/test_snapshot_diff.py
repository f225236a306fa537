"""``dnsmon snapshot`` and ``dnsmon diff`` around a planned change, against real servers.

The story: an operator saves every answer before an upgrade, changes the zone, and asks
what changed — and whether anything that worked before fails now (exit 2).
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
from dnsmon_cli import Run, check, dnsmon
from nameserver import TestNameserver, answer
from servers import DEFAULT_NAMES
from zones import DEFAULT_SERIAL, EHR_DB, REGION

EHR_DB_NAME = "ehr-db.region.internal"
NEW_ADDRESS = "127.20.1.99"
AUTHORITATIVE = {"ns1", "ns2"}
# The default names, but ehr-db without `expect`: a changed answer is still `ok`.
NAMES_WITHOUT_EXPECT = [
    {"name": EHR_DB_NAME, "type": "A"},
    {"name": "_ldap._tcp.region.internal", "type": "SRV"},
    {"name": "ehr-ro.region.internal", "type": "A"},
]


def snapshot(config: Path, path: Path) -> Run:
    run = dnsmon(config, "snapshot", "-o", str(path))
    assert run.code in (0, 1, 2), run.stderr
    return run


def diff_json(config: Path, *files: Path) -> tuple[int, dict[str, Any]]:
    """``dnsmon diff FILES… --format json``: the exit code and the diff."""
    run = dnsmon(config, "diff", *map(str, files), "--format", "json")
    assert run.code in (0, 1, 2), run.stderr
    return run.code, run.json


def changed_servers(entries: list[dict[str, Any]], name: str = EHR_DB_NAME) -> set[str]:
    return {e["server"] for e in entries if e["name"] == name}


def region_serials(diff: dict[str, Any]) -> dict[str, tuple[int, int]]:
    return {s["server"]: (s["before"], s["after"]) for s in diff["serials"]
            if s["zone"] == REGION}  # fmt: skip


def change_everywhere(region: Any, serial: int, **kwargs: Any) -> None:
    """The same zone change on both authoritative servers, as a real upgrade does it."""
    for server in sorted(AUTHORITATIVE):
        region.set_zone(server, serial, **kwargs)


@pytest.fixture
def shared(region, tmp_path: Path):
    """The module's region and a probes.yaml for it; the region is reset afterwards."""
    yield region, region.write_probes(tmp_path / "probes.yaml")
    region.reset()


def test_snapshot_saves_the_report_with_a_header(shared, tmp_path: Path):
    _, config = shared
    path = tmp_path / "before.json"
    run = snapshot(config, path)
    code, report = check(config)
    assert run.code == code == 0
    assert str(path) in run.stdout
    saved = json.loads(path.read_text())
    assert saved["format"] == "dnsmon-snapshot"
    assert saved["version"] == 1
    assert saved["config_fingerprint"] == report["config_fingerprint"]
    assert saved["config_fingerprint"]
    assert saved["taken_at"] == saved["started_at"]
    assert saved["status"] == "up"  # the JSON report itself, readable like check's
    assert {n["name"] for n in saved["names"]} == {n["name"] for n in report["names"]}
    assert {s["name"] for s in saved["services"]} == {s["name"] for s in report["services"]}
    serials = saved["zones"][0]["serials"]
    assert serials == {"ns1": DEFAULT_SERIAL, "ns2": DEFAULT_SERIAL}


def test_nothing_changed_exits_0(shared, tmp_path: Path):
    _, config = shared
    before, after = tmp_path / "before.json", tmp_path / "after.json"
    snapshot(config, before)
    live = dnsmon(config, "diff", str(before))
    assert (live.code, live.stdout.strip()) == (0, "no changes"), live.stderr
    snapshot(config, after)
    code, diff = diff_json(config, before, after)
    assert code == 0
    assert diff["changed"] is False and diff["broke"] is False
    assert diff["same_config"] is True
    for key in ("answers", "results", "states", "serials", "ttls", "not_comparable"):
        assert diff[key] == [], key


def test_changed_answer_without_expect_exits_1(make_region, tmp_path: Path):
    region = make_region()
    config = region.write_probes(tmp_path / "probes.yaml", names=NAMES_WITHOUT_EXPECT)
    before, after = tmp_path / "before.json", tmp_path / "after.json"
    assert snapshot(config, before).code == 0
    change_everywhere(region, DEFAULT_SERIAL + 1, overrides={"ehr-db": f"A {NEW_ADDRESS}"})
    snapshot(config, after)

    code, diff = diff_json(config, before, after)
    assert code == 1
    assert diff["changed"] is True and diff["broke"] is False
    # The resolvers still hand out their cached answer (TTL 300): only the
    # authoritative servers show the change yet.
    assert changed_servers(diff["answers"]) == AUTHORITATIVE
    for entry in diff["answers"]:
        assert (entry["type"], entry["before"], entry["after"]) == ("A", [EHR_DB], [NEW_ADDRESS])
    assert region_serials(diff) == {s: (DEFAULT_SERIAL, DEFAULT_SERIAL + 1)
                                    for s in AUTHORITATIVE}  # fmt: skip
    assert diff["results"] == [] and diff["ttls"] == []

    # Once the caches forget the old answer, the resolvers show the change as well.
    for resolver in region.resolvers.values():
        resolver.flush()
    code, diff = diff_json(config, before)
    assert code == 1
    assert changed_servers(diff["answers"]) == AUTHORITATIVE | set(region.resolvers)

    text = dnsmon(config, "diff", str(before), str(after))
    assert text.code == 1
    assert "ANSWERS CHANGED (2)" in text.stdout
    assert f"{EHR_DB_NAME} A on ns1: {EHR_DB} → {NEW_ADDRESS}" in text.stdout
    assert f"zone {REGION} on ns2: {DEFAULT_SERIAL} → {DEFAULT_SERIAL + 1}" in text.stdout


def test_changed_answer_breaking_an_expect_is_worse_while_caches_hide_it(
    make_region, tmp_path: Path
):
    region = make_region()
    config = region.write_probes(tmp_path / "probes.yaml")  # ehr-db expects 127.20.1.15
    before, after = tmp_path / "before.json", tmp_path / "after.json"
    assert snapshot(config, before).code == 0
    change_everywhere(region, DEFAULT_SERIAL + 1, overrides={"ehr-db": f"A {NEW_ADDRESS}"})
    snapshot(config, after)

    code, diff = diff_json(config, before, after)
    # The resolvers still hand out the cached old answer: ehr is degraded, with a cache
    # runway, not down. Worse (exit 1); it breaks (exit 2) once the caches run out.
    assert code == 1
    assert diff["broke"] is False
    results = [r for r in diff["results"] if r["name"] == EHR_DB_NAME]
    assert {r["server"] for r in results} == AUTHORITATIVE
    assert all((r["before"], r["after"], r["worse"]) == ("ok", "wrong_answer", True)
               for r in results)  # fmt: skip
    # A wrong answer is not an "ok" answer that changed: it is reported as a broken result.
    assert changed_servers(diff["answers"]) == set()
    assert region_serials(diff) == {s: (DEFAULT_SERIAL, DEFAULT_SERIAL + 1)
                                    for s in AUTHORITATIVE}  # fmt: skip
    ehr = next(s for s in diff["states"] if (s["kind"], s["name"]) == ("service", "ehr"))
    assert (ehr["before"], ehr["worse"]) == ("up", True)

    text = dnsmon(config, "diff", str(before), str(after))
    assert text.code == 1
    assert text.stdout.startswith("WORSE")
    # The answers before and after, and what the change made of it.
    assert f"{EHR_DB_NAME} A on ns1: {EHR_DB} → {NEW_ADDRESS}, now wrong_answer" in text.stdout
    [ns1] = [r for r in results if r["server"] == "ns1"]
    assert (ns1["answers_before"], ns1["answers_after"]) == ([EHR_DB], [NEW_ADDRESS])


def test_lowered_ttl_is_reported_for_authoritative_answers(make_region, tmp_path: Path):
    region = make_region(ttl=300)
    config = region.write_probes(tmp_path / "probes.yaml")
    before, after = tmp_path / "before.json", tmp_path / "after.json"
    snapshot(config, before)
    change_everywhere(region, DEFAULT_SERIAL + 1, ttl=60)  # same data, shorter TTL
    snapshot(config, after)

    code, diff = diff_json(config, before, after)
    assert code == 1
    assert diff["broke"] is False and diff["answers"] == []
    ttls = {(t["name"], t["server"]): (t["before"], t["after"]) for t in diff["ttls"]}
    assert ttls[(EHR_DB_NAME, "ns1")] == ttls[(EHR_DB_NAME, "ns2")] == (300, 60)
    # Resolvers count TTLs down from whatever they cached: never compared.
    assert {server for _, server in ttls} == AUTHORITATIVE
    assert set(region_serials(diff)) == AUTHORITATIVE

    text = dnsmon(config, "diff", str(before), str(after))
    assert f"{EHR_DB_NAME} A on ns1: 300 → 60" in text.stdout
    assert "raise it back" in text.stdout


def test_stopped_resolver_exits_1_with_what_got_worse(shared, tmp_path: Path):
    region, config = shared
    before = tmp_path / "before.json"
    assert snapshot(config, before).code == 0
    region.resolver_a.stop()
    assert snapshot(config, tmp_path / "during.json").code == check(config)[0] == 1

    code, diff = diff_json(config, before)
    assert code == 1  # degraded: worse, but every service still works through resolver-b
    assert diff["broke"] is False
    broken = {(r["name"], r["server"]): (r["before"], r["after"], r["worse"])
              for r in diff["results"]}  # fmt: skip
    assert broken[(EHR_DB_NAME, "resolver-a")] == ("ok", "timeout", True)
    assert {server for _, server in broken} == {"resolver-a"}
    states = {(s["kind"], s["name"]): (s["before"], s["after"], s["worse"])
              for s in diff["states"]}  # fmt: skip
    assert states[("service", "ehr")] == ("up", "degraded", True)
    assert states[("service", "sso")] == ("up", "degraded", True)

    text = dnsmon(config, "diff", str(before))
    assert text.code == 1
    assert f"{EHR_DB_NAME} A on resolver-a: {EHR_DB} → no answer, now timeout" in text.stdout
    assert "service ehr: up → degraded" in text.stdout
    assert "BROKE" not in text.stdout and "WORSE" in text.stdout


def test_snapshot_of_another_config_is_not_comparable(shared, tmp_path: Path):
    region, config = shared
    before = tmp_path / "before.json"
    snapshot(config, before)
    added = {"name": "dc1.region.internal", "type": "A"}
    other = region.write_probes(tmp_path / "other.yaml", names=[*DEFAULT_NAMES, added])

    code, diff = diff_json(other, before)
    assert diff["same_config"] is False
    assert code == 0  # nothing that both rounds asked has changed
    missing = [line for line in diff["not_comparable"] if "dc1.region.internal" in line]
    assert missing
    assert all("only in the after snapshot" in line for line in missing)
    assert {line.split(" on ")[1].split(":")[0] for line in missing} == set(region.servers)

    text = dnsmon(other, "diff", str(before))
    assert "different configs" in text.stdout
    assert "dc1.region.internal A on resolver-a: only in the after snapshot" in text.stdout


def _answer_every_a(query: Any) -> Any:
    return answer(query, f"{query.question[0].name} 300 IN A 127.20.1.15")


def test_a_change_of_alerting_only_is_not_a_different_config(tmp_path: Path):
    with TestNameserver(_answer_every_a) as server:
        config = tmp_path / "probes.yaml"
        probes = (
            f"servers:\n  - {{name: resolver-a, address: 127.0.0.1, port: {server.port}}}\n"
            f"names:\n  - {{name: {EHR_DB_NAME}}}\n"
        )
        config.write_text(probes)
        before = tmp_path / "before.json"
        assert snapshot(config, before).code == 0
        config.write_text(probes + "alerting:\n  alertmanagers: [http://127.0.0.1:9093]\n")
        run = dnsmon(config, "diff", str(before))
        assert run.code == 0, run.stderr
        assert "different configs" not in run.stdout and "no changes" in run.stdout

        config.write_text(probes + f"  - {{name: {EHR_DB_NAME}, type: TXT}}\n")
        assert "different configs" in dnsmon(config, "diff", str(before)).stdout


GOOD_HEADER = {"format": "dnsmon-snapshot", "version": 1, "config_fingerprint": "x"}


def saved_round(path: Path, service: str, name: str, answered: dict[str, str]) -> Path:
    """A snapshot of one service needing one name, with each resolver's result."""
    results = [
        {"server": server, "role": "recursive", "result": result, "ttl": 300 if result == "ok"
         else None, "answers": ["127.20.1.15"] if result == "ok" else []}
        for server, result in answered.items()
    ]  # fmt: skip
    report = {**GOOD_HEADER, "zones": [],
              "services": [{"name": "ehr", "status": service, "reasons": [], "backups": []}],
              "names": [{"name": EHR_DB_NAME, "type": "A", "status": name,
                         "results": results}]}  # fmt: skip
    path.write_text(json.dumps(report))
    return path


def test_a_service_only_degraded_now_exits_1_not_2(tmp_path: Path):
    before = saved_round(tmp_path / "before.json", "up", "healthy",
                         {"resolver-a": "ok", "resolver-b": "ok"})  # fmt: skip
    after = saved_round(tmp_path / "after.json", "degraded", "degraded",
                        {"resolver-a": "timeout", "resolver-b": "ok"})  # fmt: skip
    run = dnsmon(None, "diff", str(before), str(after))
    assert run.code == 1, run.stderr
    assert "BROKE" not in run.stdout
    assert "WORSE (3)" in run.stdout
    assert "service ehr: up → degraded" in run.stdout
    assert f"{EHR_DB_NAME} A on resolver-a: 127.20.1.15 → no answer, now timeout" in run.stdout
    as_json = dnsmon(None, "diff", str(before), str(after), "--format", "json")
    assert as_json.code == 1 and as_json.json["broke"] is False


def test_a_service_down_now_exits_2_with_what_broke(tmp_path: Path):
    before = saved_round(tmp_path / "before.json", "degraded", "degraded",
                         {"resolver-a": "timeout", "resolver-b": "ok"})  # fmt: skip
    after = saved_round(tmp_path / "after.json", "down", "failing",
                        {"resolver-a": "timeout", "resolver-b": "servfail"})  # fmt: skip
    run = dnsmon(None, "diff", str(before), str(after))
    assert run.code == 2, run.stderr
    broke = run.stdout.split("BROKE (2)\n")[1].split("WORSE")[0]
    assert "service ehr: degraded → down" in broke
    assert f"name {EHR_DB_NAME} A: degraded → failing" in broke


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("not json at all", "cannot read snapshot"),
        (json.dumps({"site": "dc-north", "status": "up"}), "not a dnsmon snapshot"),
        (json.dumps([1, 2, 3]), "not a dnsmon snapshot"),
        (json.dumps({**GOOD_HEADER, "version": 2}), "snapshot version 2 is not 1"),
        (json.dumps(GOOD_HEADER), "snapshot has no report"),
        (json.dumps({**GOOD_HEADER, "names": []}), "snapshot has no report"),
    ],
    ids=[
        "not-json",
        "a-report-not-a-snapshot",
        "a-list",
        "newer-version",
        "no-report",
        "partial-report",
    ],
)
def test_bad_snapshot_exits_3_with_a_clear_message(tmp_path: Path, content: str, message: str):
    bad = tmp_path / "bad.json"
    bad.write_text(content)
    # Both positions, and the live form: nothing is probed when a file is bad.
    good = tmp_path / "good.json"
    good.write_text(json.dumps({**GOOD_HEADER, "services": [], "names": [], "zones": []}))
    config = Path(__file__).resolve().parent.parent / "probes.yaml"
    for args in ([bad], [bad, good], [good, bad]):
        run = dnsmon(config, "diff", *map(str, args))
        assert run.code == 3, (args, run)
        assert f"{bad}: {message}" in run.stderr
        assert "internal error" not in run.stderr and "Traceback" not in run.stderr
        assert run.stdout == ""


def test_missing_snapshot_exits_3(tmp_path: Path):
    run = dnsmon(None, "diff", str(tmp_path / "nowhere.json"))
    assert run.code == 3
    assert "does not exist" in run.stderr


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a small tmpfs needs root")
def test_a_snapshot_that_fills_the_disk_leaves_the_old_one_whole(tmp_path: Path) -> None:
    from monitor.outputs import snapshot as snapshot_module

    disk = tmp_path / "small"
    disk.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16k", "tmpfs", str(disk)], check=True)
    try:
        old = disk / "before.json"
        old.write_text('{"format": "dnsmon-snapshot", "kept": true}\n')
        big = {"site": "x", "started_at": "2026-12-06T00:00:00Z", "padding": "x" * 100_000}
        with pytest.raises(OSError):
            snapshot_module.save(big, old)
        assert old.read_text() == '{"format": "dnsmon-snapshot", "kept": true}\n'
        assert sorted(p.name for p in disk.iterdir()) == ["before.json"]  # nothing left over
    finally:
        subprocess.run(["umount", str(disk)], check=True)


@pytest.mark.parametrize(
    ("part", "crafted"),
    [
        ("services[0]", {"services": [{"name": "ehr", "status": "on fire", "reasons": [],
                                       "backups": []}]}),
        ("names[0].results[0]", {"names": [{"name": "a", "type": "A", "status": "healthy",
                                            "results": [{"server": 7, "result": "ok",
                                                         "answers": []}]}]}),
        ("zones[0]", {"zones": [{"name": "z", "serials": {"ns1": "high"}}]}),
        ("services[0]", {"services": ["ehr"]}),
    ],
)  # fmt: skip
def test_a_crafted_snapshot_is_refused_with_what_is_wrong(
    tmp_path: Path, part: str, crafted: dict[str, Any]
) -> None:
    base = {"format": "dnsmon-snapshot", "version": 1, "config_fingerprint": "f",
            "services": [], "names": [], "zones": []}  # fmt: skip
    from monitor.outputs.snapshot import FORMAT, VERSION

    base.update(format=FORMAT, version=VERSION)
    good, bad = tmp_path / "good.json", tmp_path / "bad.json"
    good.write_text(json.dumps(base))
    bad.write_text(json.dumps({**base, **crafted}))
    run = dnsmon(None, "diff", str(good), str(bad))
    assert run.code == 3, run.stderr
    assert f"not a snapshot dnsmon wrote: {part}" in run.stderr
    assert "Traceback" not in run.stderr and "internal error" not in run.stderr
