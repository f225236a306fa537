"""A real Prometheus (Debian's) on loopback, started and stopped by PID.

with Prometheus([("127.0.0.1:9953", {"site": "dc-a"})], workdir, rules) as prom:
    prom.query("dnsmon_service_status")    # an instant query through its HTTP API
    prom.alerts("DnsmonSiteSilent")         # its rules' alerts, pending or firing
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Self

import pytest
import yaml
from exporter import wait_until
from servers import Managed, free_port, spawn, stop_process

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
    """A private Prometheus on a free loopback port, scraping its targets (each with its
    labels, as ``site``) every second and evaluating ``rules`` every second."""

    def __init__(
        self, targets: list[tuple[str, dict[str, str]]], workdir: Path,
        rules: Sequence[Path] = (),
    ) -> None:  # fmt: skip
        self.port = free_port()
        self.dir = workdir
        self.config = workdir / "prometheus.yml"
        self.log_path = workdir / "prometheus.log"
        every = {"scrape_interval": "1s", "scrape_timeout": "1s"}
        static = [{"targets": [target], "labels": labels} for target, labels in targets]
        config = {
            "global": {**every, "evaluation_interval": "1s"},
            "scrape_configs": [{"job_name": "dnsmon", **every, "static_configs": static}],
            "rule_files": [str(p) for p in rules],
        }
        self.config.write_text(yaml.safe_dump(config))
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Self:
        command = [
            find_prometheus(),
            f"--config.file={self.config}",
            f"--storage.tsdb.path={self.dir / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{self.port}",
            "--log.level=info",
        ]
        self.proc = spawn(command, self.log_path, self.dir)
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

    def alerts(self, name: str | None = None) -> list[dict[str, Any]]:
        """The alerts its rules hold now, pending or firing: [{labels, annotations, state}]."""
        status, body = self._get("/api/v1/alerts")
        found: list[dict[str, Any]] = json.loads(body)["data"]["alerts"]
        return [a for a in found if name is None or a["labels"]["alertname"] == name]

    def rule_group_seconds(self, group: str) -> float:
        """How long the last evaluation of rule group ``group`` took."""
        status, body = self._get("/api/v1/rules")
        groups = json.loads(body)["data"]["groups"]
        return float(next(g["evaluationTime"] for g in groups if g["name"] == group))

    def targets(self) -> list[dict[str, Any]]:
        status, body = self._get("/api/v1/targets")
        targets: list[dict[str, Any]] = json.loads(body)["data"]["activeTargets"]
        return targets

    def stop(self) -> None:
        """SIGTERM by PID, SIGKILL if it lingers."""
        proc, self.proc = self.proc, None
        stop_process(proc, signal.SIGTERM, 10)
