"""A real Prometheus (Debian's) scrapes ``dnsmon serve`` and sees what dnsmon sees:
the region healthy, then both resolvers gone and the health record down.

Prometheus scrapes every second; the test asks its HTTP API, polling to a deadline.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Self

import pytest
import yaml
from exporter import Exporter, wait_until
from servers import Managed, TestRegion, free_port, stop_process

SITE = "test-site"
DEADLINE = 30.0


def find_prometheus(name: str = "prometheus") -> str:
    found = shutil.which(name)
    if found is None:
        pytest.fail(
            f"{name} is not installed (Debian package prometheus); scripts/test installs it",
            pytrace=False,
        )
    return found


class Prometheus(Managed):
    """A private Prometheus on a free loopback port, scraping one target every second."""

    def __init__(self, target: str, workdir: Path) -> None:
        self.port = free_port()
        self.dir = workdir
        self.config = workdir / "prometheus.yml"
        self.log_path = workdir / "prometheus.log"
        self.config.write_text(
            yaml.safe_dump(
                {
                    "global": {
                        "scrape_interval": "1s",
                        "scrape_timeout": "1s",
                        "evaluation_interval": "1s",
                    },
                    "scrape_configs": [
                        {
                            "job_name": "dnsmon",
                            "scrape_interval": "1s",
                            "scrape_timeout": "1s",
                            "static_configs": [{"targets": [target], "labels": {"site": SITE}}],
                        }
                    ],
                }
            )
        )
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Self:
        command = [
            find_prometheus(),
            f"--config.file={self.config}",
            f"--storage.tsdb.path={self.dir / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{self.port}",
            "--log.level=info",
        ]
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                command,
                cwd=self.dir,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            wait_until(self._ready, "Prometheus ready (/-/ready 200)", DEADLINE, self.describe)
        except BaseException:
            self.stop()
            raise
        return self

    def describe(self) -> str:
        code = self.proc.poll() if self.proc else None
        state = "running" if code is None else f"exited with {code}"
        log = self.log_path.read_text(errors="replace")[-4000:] if self.log_path.exists() else ""
        return f"Prometheus on 127.0.0.1:{self.port} {state}; log:\n{log}"

    def _get(self, path: str) -> tuple[int, bytes]:
        url = f"http://127.0.0.1:{self.port}{path}"
        try:
            with urllib.request.urlopen(url, timeout=5) as answer:
                return answer.status, answer.read()
        except urllib.error.HTTPError as error:
            return error.code, error.read()

    def _ready(self) -> bool:
        if self.proc is None or self.proc.poll() is not None:
            raise AssertionError(self.describe())
        try:
            return self._get("/-/ready")[0] == 200
        except OSError:
            return False

    def query(self, promql: str) -> list[dict[str, Any]]:
        """An instant query: [{"metric": {labels}, "value": float}, …]."""
        status, body = self._get("/api/v1/query?" + urllib.parse.urlencode({"query": promql}))
        answer = json.loads(body)
        assert status == 200 and answer["status"] == "success", (promql, answer)
        return [
            {"metric": r["metric"], "value": float(r["value"][1])} for r in answer["data"]["result"]
        ]

    def wait_for(self, promql: str, value: float, deadline: float = DEADLINE) -> dict[str, Any]:
        """Query until exactly one series answers with ``value``; that series."""
        last: list[list[dict[str, Any]]] = [[]]

        def check() -> dict[str, Any] | None:
            last[0] = self.query(promql)
            return last[0][0] if len(last[0]) == 1 and last[0][0]["value"] == value else None

        return wait_until(
            check,
            f"{promql} == {value} in Prometheus",
            deadline,
            lambda: f"last answer: {last[0]}\ntargets: {self.targets()}",
        )

    def targets(self) -> list[dict[str, Any]]:
        status, body = self._get("/api/v1/targets")
        targets: list[dict[str, Any]] = json.loads(body)["data"]["activeTargets"]
        return targets

    def stop(self) -> None:
        """SIGTERM by PID, SIGKILL if it lingers."""
        proc, self.proc = self.proc, None
        stop_process(proc, signal.SIGTERM, 10)


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
    with Prometheus(f"127.0.0.1:{exporter.port}", tmp_path_factory.mktemp("prometheus")) as started:
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
