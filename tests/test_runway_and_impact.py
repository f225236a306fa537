"""Before it breaks: cache runway on real servers, and `impact` predicting what `check` sees."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from dnsmon_cli import backups, check, dnsmon, services

TTL = 6


@pytest.fixture
def short_ttl(make_region, tmp_path: Path):
    """A private region whose records live TTL seconds, and its probes.yaml."""
    region = make_region(ttl=TTL)
    return region, region.write_probes(tmp_path / "probes.yaml")


def impact(config: Path, *failures: str) -> tuple[int, dict]:
    args = [arg for f in failures for arg in ("--fail", f)]
    run = dnsmon(config, "impact", *args, "--format", "json")
    assert run.code in (0, 1, 2), run.stderr
    return run.code, run.json


def test_failed_authoritatives_show_cache_runway_then_down(short_ttl):
    region, config = short_ttl
    code, report = check(config)  # warms the resolvers' caches
    assert code == 0
    warmed = time.monotonic()
    region.ns1.stop()
    region.ns2.stop()

    code, first = check(config)
    assert code == 1
    assert services(first) == {"sso": "degraded", "ehr": "degraded"}
    runway = {s["name"]: s["runway_seconds"] for s in first["services"]}
    assert 0 <= runway["ehr"] <= TTL
    zone = next(z for z in first["zones"] if z["name"] == "region.internal")
    assert zone["dark"] is True

    time.sleep(2)
    _, second = check(config)
    later = {s["name"]: s["runway_seconds"] for s in second["services"]}
    assert later["ehr"] is not None and later["ehr"] < runway["ehr"]  # it counts down

    time.sleep(max(0.0, TTL + 1 - (time.monotonic() - warmed)))
    code, expired = check(config)
    assert code == 2
    assert services(expired) == {"sso": "down", "ehr": "down"}
    assert all(s["runway_seconds"] is None for s in expired["services"])
    assert backups(expired) == {"ehr/ehr-readonly": "unusable", "ehr/paper-forms": "usable"}

    # What impact predicted before the upgrade is what check measured once caches expired.
    _, predicted = impact(config, "server:ns1", "server:ns2")
    assert services(predicted) == services(expired)
    assert backups(predicted) == backups(expired)


@pytest.mark.parametrize(
    ("stop", "failures"),
    [
        (["resolver-a"], ["server:resolver-a"]),
        (["ns1"], ["server:ns1"]),
        (["resolver-a", "resolver-b"], ["server:resolver-a", "server:resolver-b"]),
    ],
)
def test_impact_predicts_what_check_measures(region, tmp_path, stop, failures):
    config = region.write_probes(tmp_path / "probes.yaml")
    try:
        predicted_code, predicted = impact(config, *failures)
        for name in stop:
            region[name].stop()
        code, measured = check(config)
    finally:
        region.reset()
    assert services(predicted) == services(measured)
    assert backups(predicted) == backups(measured)
    assert predicted_code == code


def test_impact_rejects_unknown_targets_with_a_suggestion(region, tmp_path):
    config = region.write_probes(tmp_path / "probes.yaml")
    run = dnsmon(config, "impact", "--fail", "server:ns9")
    assert run.code == 3
    assert "did you mean" in run.stderr
    run = dnsmon(config, "impact", "--fail", "host:ns1")
    assert run.code == 3
    assert "server, zone, name" in run.stderr


def test_lint_names_backups_sharing_fate(region, tmp_path):
    config = region.write_probes(tmp_path / "probes.yaml")
    run = dnsmon(config, "lint", "--format", "json")
    assert run.code == 1
    fate = [f for f in run.json["findings"] if f["kind"] == "shared_fate"]
    assert fate == [
        {
            "kind": "shared_fate",
            "subject": "ehr/ehr-readonly",
            "message": fate[0]["message"],
            "service": "ehr",
            "backup": "ehr-readonly",
            "level": "zone",
            "shared": ["region.internal"],
            "criticality": "critical",
        }
    ]
