"""Three sites, each with its own ``dnsmon serve``, joined by one real Prometheus.

The region's servers are real (Knot, BIND, two Unbound); each site's dnsmon probes them
from its own config, and the central Prometheus scrapes the three with a `site` label
and evaluates dnsmon-alerts.yml and dnsmon-region.yml every second. dc-c's path to
resolver-b is broken (its config points it at a port where nothing listens): a fault
from dc-c only. Knot stopped is a fault every site sees. A dnsmon stopped is a silent
site, never a healthy one.

Alerts are read as Prometheus holds them, pending or firing: how long each waits
(`for`) is promtool's to test (dnsmon-region.test.yml).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from exporter import Exporter, wait_until
from prometheus import Prometheus, find_prometheus
from servers import TestRegion, free_port

pytestmark = pytest.mark.integration
DASHBOARDS = Path(__file__).resolve().parent.parent / "dashboards"
RULES = [DASHBOARDS / "dnsmon-alerts.yml", DASHBOARDS / "dnsmon-region.yml"]
SITES = ("dc-a", "dc-b", "dc-c")
DEADLINE = 45.0


def site_config(region: TestRegion, path: Path, site: str, dead: dict[str, int]) -> Path:
    """The region's probes.yaml as ``site``'s dnsmon has it; ``dead`` servers point at a
    port where nothing listens (that site's path to them is broken)."""
    text = region.probes_yaml(defaults={"interval": "1s", "timeout": "500ms", "attempts": 1},
                              site=site)  # fmt: skip
    config = yaml.safe_load(text)
    for server in config["servers"]:
        if server["name"] in dead:
            server["port"] = dead[server["name"]]
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


@pytest.fixture
def sites(region: TestRegion, tmp_path: Path) -> Iterator[dict[str, Exporter]]:
    find_prometheus()
    dead = {"resolver-b": free_port()}
    started: dict[str, Exporter] = {}
    try:
        for site in SITES:
            workdir = tmp_path / site
            workdir.mkdir()
            config = site_config(region, workdir / "probes.yaml", site,
                                 dead if site == "dc-c" else {})  # fmt: skip
            started[site] = Exporter(config, workdir).start()
        yield started
    finally:
        for exporter in started.values():
            exporter.close()
        region.reset()


def holding(prometheus: Prometheus, name: str, **labels: str) -> list[dict[str, Any]]:
    """The alerts ``name`` that Prometheus holds (pending or firing) with ``labels``."""
    return [a for a in prometheus.alerts(name)
            if all(a["labels"].get(k) == v for k, v in labels.items())]  # fmt: skip


def test_a_server_fault_a_path_fault_and_a_silent_site(
    region: TestRegion, sites: dict[str, Exporter], tmp_path: Path
) -> None:
    targets = [(f"127.0.0.1:{e.port}", {"site": site}) for site, e in sites.items()]
    (tmp_path / "prometheus").mkdir()
    with Prometheus(targets, tmp_path / "prometheus", RULES) as prometheus:
        # dc-c alone cannot reach resolver-b: that path, named with its site.
        [path] = wait_until(
            lambda: holding(prometheus, "DnsmonFaultFromSomeSites", target="resolver-b"),
            "the one-site alert for resolver-b", DEADLINE, prometheus.describe,
        )  # fmt: skip
        assert path["labels"]["fault"] == "server_unreachable resolver-b"
        assert path["annotations"]["summary"] == ("resolver-b: server_unreachable from dc-c only")
        assert path["annotations"]["description"].startswith(
            "From dc-c only: the path from there to resolver-b, or its firewall"
        )
        assert not holding(prometheus, "DnsmonFaultEverywhere", target="resolver-b")

        # Knot stopped: every site sees ns1 fail, a region-wide fault, no site's path.
        region.ns1.stop()
        [everywhere] = wait_until(
            lambda: holding(prometheus, "DnsmonFaultEverywhere", target="ns1"),
            "the region-wide alert for ns1", DEADLINE, prometheus.describe,
        )  # fmt: skip
        assert everywhere["labels"]["severity"] == "critical"
        assert everywhere["annotations"]["summary"].startswith(
            "ns1 fails as seen from every site that reports (3)"
        )
        assert not holding(prometheus, "DnsmonFaultFromSomeSites", target="ns1")
        sites_seeing = prometheus.query(
            'dnsmon:cause_sites:count{target="ns1"}')  # fmt: skip
        assert [s["value"] for s in sites_seeing] == [3.0]

        # dc-b's dnsmon stops: a silent site, and no longer counted as seeing anything.
        sites["dc-b"].stop()
        [silent] = wait_until(
            lambda: holding(prometheus, "DnsmonSiteSilent", site="dc-b"),
            "dc-b silent", DEADLINE, prometheus.describe,
        )  # fmt: skip
        assert silent["annotations"]["summary"] == (
            "No dnsmon reports from dc-b: its view of the DNS is unknown"
        )
        wait_until(
            lambda: [s["value"] for s in prometheus.query("dnsmon:sites_reporting:count")]
            == [2.0],
            "two sites reporting", DEADLINE, prometheus.describe,
        )  # fmt: skip
        assert not holding(prometheus, "DnsmonSiteSilent", site="dc-a")
        assert prometheus.rule_group_seconds("dnsmon-region") < 0.5
