"""``dnsmon preflight`` as a user runs it before an upgrade, against real servers (Knot
and BIND for region.internal, two Unbounds, NSD for a zone nobody needs): GO, GO with
warnings, NO-GO, the rollback time of day-long TTLs, and a snapshot ``diff`` reads."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.dnsmon_cli import dnsmon
from tests.servers import Nsd, TestRegion, missing_binaries
from tests.zones import render_zone

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(bool(missing_binaries()), reason=f"missing: {missing_binaries()}"),
]
SPARE = "spare.internal"


@pytest.fixture(scope="module")
def region():
    with (
        TestRegion(ttl=86400) as region,
        Nsd({SPARE: render_zone(SPARE, {"www": "A 127.0.0.80"}, 1, 300)}) as spare,
    ):
        region.spare = spare
        yield region


def write(region: TestRegion, tmp_path: Path, primary: bool = False) -> Path:
    document = yaml.safe_load(region.probes_yaml(extra_servers=[{
        "name": "spare", "address": region.spare.address, "port": region.spare.port,
        "role": "authoritative", "zones": [SPARE],
    }]))  # fmt: skip
    if primary:
        next(s for s in document["servers"] if s["name"] == "ns1")["primary"] = True
    path = tmp_path / "probes.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


def preflight(config: Path, *args: str) -> tuple[int, dict[str, Any]]:
    run = dnsmon(config, "preflight", "--format", "json", *args)
    assert run.code in (0, 1, 2), run.stderr
    return run.code, run.json


def test_a_change_of_a_server_nothing_needs_is_go_with_a_snapshot_for_diff(
    region: TestRegion, tmp_path: Path
) -> None:
    config = write(region, tmp_path)
    snapshot = tmp_path / "before.json"
    code, found = preflight(config, "--change", "server:spare", "--snapshot", str(snapshot))
    assert (code, found["verdict"], found["reasons"]) == (0, "go", [])
    assert found["rollback_seconds"] == 300  # spare.internal's negative answers
    assert found["snapshot"] == str(snapshot) and snapshot.exists()
    assert found["commands"][1].endswith(f"diff {snapshot}")
    assert dnsmon(config, "diff", str(snapshot)).code == 0  # nothing changed since


def test_stopping_one_authoritative_server_warns_of_lost_redundancy_and_a_slow_rollback(
    region: TestRegion, tmp_path: Path
) -> None:
    code, found = preflight(write(region, tmp_path), "--change", "server:ns1",
                            "--window", "1h", "--snapshot", str(tmp_path / "s.json"))  # fmt: skip
    kinds = {r["kind"] for r in found["reasons"]}
    assert (code, found["verdict"]) == (1, "go_with_warnings")
    assert {"redundancy_lost", "rollback"} <= kinds and "service_down" not in kinds
    assert found["rollback_seconds"] == 86400  # the records' TTL, as the zone gives it
    text = dnsmon(write(region, tmp_path), "preflight", "--change", "server:ns1",
                  "--snapshot", str(tmp_path / "t.json"))  # fmt: skip
    assert text.code == 1 and "GO WITH WARNINGS" in text.stdout
    assert "rollback reaches every cached client after 24 hours" in text.stdout


def test_a_window_longer_than_the_secondaries_copies_last_is_no_go(
    region: TestRegion, tmp_path: Path
) -> None:
    """The zone's SOA expire is two weeks (refresh an hour): a 15-day window outlasts it."""
    code, found = preflight(write(region, tmp_path, primary=True), "--change", "server:ns1",
                            "--window", "15d", "--snapshot", str(tmp_path / "s.json"))  # fmt: skip
    copies = [r for r in found["reasons"] if r["kind"] == "zone_expiring"]
    assert (code, found["verdict"]) == (2, "no_go")
    assert copies and copies[0]["seconds"] == 1209600 - 3600 and copies[0]["level"] == "no_go"


def test_taking_the_whole_zone_for_longer_than_caches_hold_is_no_go(
    region: TestRegion, tmp_path: Path
) -> None:
    code, found = preflight(write(region, tmp_path), "--change", "server:ns1", "--change",
                            "server:ns2", "--window", "2d",
                            "--snapshot", str(tmp_path / "s.json"))  # fmt: skip
    down = [r for r in found["reasons"] if r["kind"] == "service_down"]
    assert (code, found["verdict"]) == (2, "no_go") and down
    assert all(0 < r["seconds"] <= 86400 for r in down)  # what the resolvers' caches hold


def test_bad_input_exits_3(region: TestRegion, tmp_path: Path) -> None:
    config = write(region, tmp_path)
    assert dnsmon(config, "preflight", "--change", "server:nope").code == 3
    assert dnsmon(config, "preflight", "--change", "server:ns1", "--window", "soon").code == 3


def test_a_partner_already_down_counts_as_down_during_the_change(
    region: TestRegion, tmp_path: Path
) -> None:
    """ns2 is down before ns1's upgrade begins: the change leaves no authority at all."""
    config = write(region, tmp_path)
    region.ns2.stop()
    try:
        code, found = preflight(config, "--change", "server:ns1", "--window", "2d",
                                "--snapshot", str(tmp_path / "s.json"))  # fmt: skip
    finally:
        region.ns2.start()
    kinds = {r["kind"] for r in found["reasons"]}
    assert (code, found["verdict"]) == (2, "no_go")
    assert {"service_down", "not_healthy"} <= kinds
