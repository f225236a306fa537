"""A reload that drops most of the names being watched is applied, and warned about.

An operator who saves a truncated probes.yaml and reloads gets a smaller config — it is
valid — but the log says plainly that most names are gone, and which.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from exporter import Exporter
from servers import DEFAULT_NAMES, DEFAULT_SERVICES, TestRegion

pytestmark = pytest.mark.integration


def test_a_reload_dropping_most_names_is_warned_about(region: TestRegion, tmp_path: Path) -> None:
    config = region.write_probes(tmp_path / "probes.yaml", defaults={"interval": "1s"})
    with Exporter(config, tmp_path) as exporter:
        exporter.wait_for_fresh_round()
        sso = [s for s in DEFAULT_SERVICES if s["name"] == "sso"]
        ldap = [n for n in DEFAULT_NAMES if n["name"].startswith("_ldap")]
        region.write_probes(config, names=ldap, services=sso, defaults={"interval": "1s"})
        assert exporter.post("/-/reload").status == 200
        said = "the new config drops 2 of the 3 names"
        [line] = [line for line in exporter.wait_for_log(said) if said in line]
        assert "level=warning" in line and "ehr-db.region.internal A" in line
        assert exporter.metrics().value("dnsmon_config_last_reload_successful") == 1.0
