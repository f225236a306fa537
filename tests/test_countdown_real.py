"""A countdown an operator can trust, across a real outage and its recovery.

Knot is the only authoritative server; resolver-a (Unbound) caches for the TTL alone,
resolver-b (Unbound) serves its expired answers for a while after. When Knot stops,
``dnsmon serve`` counts down the first cached answer to stop. When resolver-a's runs out
and resolver-b still answers stale, the runway must rise: the status says why. A runway
that reaches zero ends in ``down`` or in such a reason, and Knot's return ends it.
"""

from __future__ import annotations

import calendar
import json
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from exporter import Exporter, wait_until
from servers import Knot, StartServer, Unbound
from zones import EHR_DB, REGION, region_zone

pytestmark = pytest.mark.integration
TTL = 3
WINDOW = 6  # resolver-b's serve-stale window
SLACK = 2.5  # seconds: runways and the report's round times are whole seconds
EHR_DB_NAME = f"ehr-db.{REGION}"


def _config(path: Path, ns1: Knot, resolver_a: Unbound, resolver_b: Unbound) -> Path:
    def entry(name: str, server: Any, **extra: Any) -> dict[str, Any]:
        return {"name": name, "address": server.address, "port": server.port, **extra}

    document = {
        "version": 1, "site": "test-site",
        "defaults": {"interval": "1s", "timeout": "500ms", "attempts": 1},
        "servers": [entry("resolver-a", resolver_a),
                    entry("resolver-b", resolver_b, serve_stale=f"{WINDOW}s"),
                    entry("ns1", ns1, role="authoritative", zones=[REGION])],
        "names": [{"name": EHR_DB_NAME, "expect": [EHR_DB]}],
        "services": [{"name": "ehr", "criticality": "critical", "depends_on": [EHR_DB_NAME],
                      "backups": [{"name": "paper", "description": "Paper forms",
                                   "depends_on": []}]}],
    }  # fmt: skip
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


class Rounds:
    """Every round's report of ``ehr`` as ``/api/status`` gave it, one per round."""

    def __init__(self, exporter: Exporter) -> None:
        self.exporter = exporter
        self.seen: dict[str, dict[str, Any]] = {}

    def poll(self) -> dict[str, Any]:
        report = json.loads(self.exporter.get("/api/status").body)
        [ehr] = report["services"]
        started = time.strptime(report["started_at"], "%Y-%m-%dT%H:%M:%SZ")
        ehr["started"] = calendar.timegm(started)
        ehr["causes"] = [c["kind"] for c in report["causes"]]
        self.seen[report["started_at"]] = ehr
        return ehr

    def until(self, what: str, test: Any, deadline: float = 30.0) -> dict[str, Any]:
        return wait_until(lambda: (ehr := self.poll()) and test(ehr) and ehr, what, deadline,
                          self.exporter.describe)  # fmt: skip


def test_the_runway_never_rises_without_saying_why(
    start_server: StartServer, tmp_path: Path
) -> None:
    ns1 = start_server(Knot({REGION: region_zone(ttl=TTL)}))
    stubs = {REGION: [ns1]}
    resolver_a = start_server(Unbound(stubs, max_rtt_ms=500))
    resolver_b = start_server(Unbound(stubs, serve_expired_ttl=WINDOW, max_rtt_ms=500))
    config = _config(tmp_path / "probes.yaml", ns1, resolver_a, resolver_b)
    with Exporter(config, tmp_path) as exporter:
        rounds = Rounds(exporter)
        rounds.until("ehr up", lambda s: s["status"] == "up")
        ns1.stop()
        rounds.until("a runway", lambda s: s["runway_seconds"] is not None)
        rose = rounds.until("the runway rises", lambda s: s["runway_rose"])
        rounds.until("ehr down", lambda s: s["status"] == "down", TTL + WINDOW + 15)
        ns1.start()
        rounds.until("ehr up again", lambda s: s["status"] == "up", 30)
        log = exporter.log()

    assert rose["runway_rose"].startswith(f"resolver-a's cached answer for {EHR_DB_NAME} A ran out")
    assert "(resolver-a answers servfail now)" in rose["runway_rose"]
    stale = f"resolver-b's expired answer for {EHR_DB_NAME} A (serve-stale)"
    assert rose["runway_follows"] == stale
    assert rose["status"] == "degraded" and rose["people"] == "prepare"
    assert "runway of ehr rose to" in log

    timeline = [rounds.seen[k] for k in sorted(rounds.seen)]
    told = [(t["started"], t["status"], t["runway_seconds"], t["runway_follows"],
             t["runway_rose"]) for t in timeline]  # fmt: skip
    for i, ran_out in enumerate(timeline):
        if ran_out["runway_seconds"] != 0:
            continue
        # A runway at zero (it may stay there a round while the answer's last second
        # passes) ends in down, a stated reason, or the fault fixed.
        then = next((t for t in timeline[i + 1 :] if t["runway_seconds"] not in (0, None)
                     or t["status"] != "degraded"), None)  # fmt: skip
        assert then is None or then["status"] != "degraded" or then["runway_rose"], told
    end = None
    for after in timeline:
        if after["runway_seconds"] is None:
            end = end if after["status"] == "degraded" else None
            continue
        ends = after["started"] + after["runway_seconds"]
        if end is not None and ends > end + SLACK:
            assert after["runway_rose"], ("rose without a reason", told)
        end = ends
    assert timeline[-1]["runway_seconds"] is None and timeline[-1]["runway_rose"] is None
