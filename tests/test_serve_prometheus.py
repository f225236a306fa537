"""A real Prometheus (Debian's) scrapes ``dnsmon serve`` and sees what dnsmon sees:
the region healthy, then both resolvers gone and the health record down.

Prometheus scrapes every second; the test asks its HTTP API, polling to a deadline.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from exporter import Exporter
from prometheus import Prometheus, find_prometheus
from servers import TestRegion

SITE = "test-site"


@pytest.fixture(scope="module")
def exporter(region: TestRegion, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Exporter]:
    workdir = tmp_path_factory.mktemp("exporter")
    config = region.write_probes(
        workdir / "probes.yaml", defaults={"interval": "1s", "timeout": "1s"}
    )
    with Exporter(config, workdir) as started:
        yield started


@pytest.fixture(scope="module")
def prometheus(
    exporter: Exporter, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Prometheus]:
    find_prometheus()
    target = (f"127.0.0.1:{exporter.port}", {"site": SITE})
    with Prometheus([target], tmp_path_factory.mktemp("prometheus")) as started:
        yield started


def test_prometheus_scrapes_the_healthy_region(prometheus: Prometheus) -> None:
    ehr = prometheus.wait_for('dnsmon_service_status{service="ehr",status="up"}', 1.0)
    assert ehr["metric"]["criticality"] == "critical"
    assert ehr["metric"]["site"] == SITE and ehr["metric"]["job"] == "dnsmon"
    up = prometheus.wait_for('up{job="dnsmon"}', 1.0)
    assert up["metric"]["site"] == SITE
    [target] = prometheus.targets()
    assert target["health"] == "up" and target["lastError"] == "", target
    serial = prometheus.query('dnsmon_zone_serial{zone="region.internal",server="ns1"}')
    assert [s["value"] for s in serial] == [2026112601]
    servers = prometheus.query('dnsmon_name_servers{name="ehr-db.region.internal",type="A"}')
    assert [s["value"] for s in servers] == [2]  # the resolvers: redundancy as clients see it
    backups = prometheus.query('dnsmon_backup_status{service="ehr",status="usable"} == 1')
    assert {b["metric"]["backup"] for b in backups} == {"ehr-readonly", "paper-forms"}
    buckets = prometheus.query('dnsmon_server_query_duration_seconds_bucket{le="+Inf"}')
    assert {b["metric"]["server"] for b in buckets} == {"ns1", "ns2", "resolver-a", "resolver-b"}
    reload_ok = prometheus.query("dnsmon_config_last_reload_successful")
    assert [r["value"] for r in reload_ok] == [1]


def test_prometheus_sees_ehr_down_when_both_resolvers_stop(
    prometheus: Prometheus, region: TestRegion
) -> None:
    prometheus.wait_for('dnsmon_service_status{service="ehr",status="up"}', 1.0)
    try:
        region.resolver_a.stop()
        region.resolver_b.stop()
        prometheus.wait_for('dnsmon_service_status{service="ehr",status="down"}', 1.0)
        prometheus.wait_for('dnsmon_service_status{service="ehr",status="up"}', 0.0)
        # A round that began before the stops may still have had answers: poll, not query.
        for resolver in ("resolver-a", "resolver-b"):
            prometheus.wait_for(f'dnsmon_server_up{{server="{resolver}"}}', 0.0)
        prometheus.wait_for('dnsmon_backup_status{backup="ehr-readonly",status="unusable"}', 1.0)
        # The monitor itself is fine: it is the DNS that is down.
        assert [s["value"] for s in prometheus.query('up{job="dnsmon"}')] == [1]
    finally:
        region.reset()
