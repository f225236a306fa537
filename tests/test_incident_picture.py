"""The incident picture through ``serve``: causes first, since when, in /api/status.

An incident lead opens /api/status during an outage: the first thing in it is what broke,
in plain words, since when; every service says since when it is in its state; a restart
says when watching began.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from exporter import Exporter, wait_until
from servers import TestRegion

pytestmark = pytest.mark.integration


def test_causes_and_since_through_the_api(region: TestRegion, tmp_path: Path) -> None:
    config = region.write_probes(tmp_path / "probes.yaml", defaults={"interval": "1s"})
    with Exporter(config, tmp_path) as exporter:
        first = json.loads(exporter.get("/api/status").body)
        assert first["causes"] == [] and first["tracking_since"] is not None
        try:
            region.resolver_a.stop()

            def caused() -> dict | None:
                report = json.loads(exporter.get("/api/status").body)
                return report if report["causes"] else None

            report = wait_until(caused, "a cause in /api/status", 20)
            [cause] = report["causes"]
            assert (cause["kind"], cause["target"]) == ("server_unreachable", "resolver-a")
            assert re.match(r"resolver-a \(127\.0\.0\.1:\d+\) stopped answering at \d\d:\d\d",
                            cause["summary"]), cause  # fmt: skip
            assert set(cause["services"]) == {"ehr", "sso"}
            ehr = next(s for s in report["services"] if s["name"] == "ehr")
            assert ehr["status"] == "degraded" and ehr["since"] == cause["since"]
            later = exporter.wait_for_fresh_round()
            again = json.loads(exporter.get("/api/status").body)
            assert again["causes"][0]["since"] == cause["since"]  # it stays put
            assert later.value("dnsmon_cause", kind="server_unreachable", target="resolver-a") == 1
            since = later.value("dnsmon_service_status_since_timestamp_seconds", service="ehr")
            assert since is not None and since > 0
            assert "cause found: resolver-a" in exporter.log()
        finally:
            region.reset()
