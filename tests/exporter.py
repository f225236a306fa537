"""Run ``dnsmon serve`` as a user would, and talk HTTP to it.

    with Exporter(config, tmp_path) as exporter:      # started; ready after a round
        exporter.get("/-/healthy").status              # 200
        exporter.metrics()["dnsmon_server_up", {"server": "ns1", "role": "authoritative"}]
        exporter.wait_for_metric("dnsmon_service_status", 1.0, service="ehr", status="up")

The process is started and stopped by PID, its stdout and stderr go to a log file, and
"ready" means /-/ready answered 200, never a fixed sleep.
"""

from __future__ import annotations

import gzip
import http.client
import os
import signal
import ssl
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self, TypeVar

from dnsmon_cli import COMMAND
from prometheus_client.parser import text_string_to_metric_families
from servers import Managed, TestRegion, free_port, spawn, stop_process

# Sets the soft limit on open files, then becomes the command (same PID): no preexec_fn.
_WITH_NOFILE = [
    sys.executable,
    "-c",
    "import os, resource, sys; hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]; "
    "resource.setrlimit(resource.RLIMIT_NOFILE, (int(sys.argv[1]), hard)); "
    "os.execv(sys.argv[2], sys.argv[2:])",
]
START_DEADLINE = 20.0
CHANGE_DEADLINE = 15.0  # rounds every second: anything that changes shows well within this
POLL = 0.05
T = TypeVar("T")


def wait_until(
    check: Callable[[], T | None],
    what: str,
    deadline: float = 15.0,
    describe: Callable[[], str] = lambda: "",
) -> T:
    """Poll ``check`` until it returns something truthy; fail with ``what`` after the deadline."""
    end = time.monotonic() + deadline
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > end:
            raise AssertionError(f"not within {deadline:.0f}s: {what}\n{describe()}")
        time.sleep(POLL)


@dataclass
class Response:
    status: int
    headers: http.client.HTTPMessage
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode()


@dataclass
class Samples:
    """Every sample of one scrape, and the family names in exposition order."""

    values: dict[tuple[str, frozenset[tuple[str, str]]], float]
    families: list[str]

    def value(self, metric: str, /, **labels: str) -> float | None:
        """The value of ``metric{labels}`` (exactly these labels), None if absent."""
        return self.values.get((metric, frozenset(labels.items())))

    def labelsets(self, name: str) -> list[dict[str, str]]:
        """The label sets of every sample called ``name``."""
        return [dict(labels) for (sample, labels) in self.values if sample == name]

    @property
    def names(self) -> set[str]:
        return {sample for sample, _ in self.values}


def parse_exposition(text: str) -> Samples:
    """Parse with prometheus-client's own parser; raises on anything malformed."""
    samples = Samples({}, [])
    for family in text_string_to_metric_families(text):
        samples.families.append(family.name)
        for sample in family.samples:
            samples.values[sample.name, frozenset(sample.labels.items())] = sample.value
    return samples


class Exporter(Managed):
    """``dnsmon --config CONFIG serve`` in a child process on a free loopback port."""

    def __init__(
        self,
        config: Path,
        workdir: Path,
        *,
        host: str = "127.0.0.1",
        port: int | None = None,
        web_config: Path | None = None,
        log_format: str = "logfmt",
        log_level: str = "info",
        tls: ssl.SSLContext | None = None,
        auth: str | None = None,
        env: Mapping[str, str] | None = None,
        nofile: int | None = None,
        args: tuple[str, ...] = (),
    ) -> None:
        self.config = config
        self.host = host
        self.port = port or (free_port(host) if ":" in host else free_port())
        self.web_config = web_config
        self.log_format, self.log_level = log_format, log_level
        self.tls = tls
        self.auth = auth  # the value of an Authorization header sent with every request
        self.log_path = workdir / f"dnsmon-serve-{self.port}.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.env = env  # added to the environment dnsmon runs in
        self.nofile = nofile  # a soft limit on open files, as systemd's default of 1024
        self.args = args  # more options for serve

    @property
    def listen(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    @property
    def pid(self) -> int:
        assert self.proc is not None, "not started"
        return self.proc.pid

    def command(self) -> list[str]:
        args = [
            *COMMAND,
            "--config",
            str(self.config),
            "serve",
            "--listen",
            self.listen,
            "--log-format",
            self.log_format,
            "--log-level",
            self.log_level,
        ]
        if self.web_config is not None:
            args += ["--web-config-file", str(self.web_config)]
        args += self.args
        if self.nofile is not None:
            args = [*_WITH_NOFILE, str(self.nofile), *args]
        return args

    def start(self, wait: bool = True) -> Self:
        env = {**os.environ, **self.env} if self.env else None
        self.proc = spawn(self.command(), self.log_path, env=env)
        if wait:
            try:
                self.wait_ready()
            except BaseException:
                self.stop()
                raise
        return self

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def describe(self) -> str:
        code = self.proc.poll() if self.proc else None
        state = "running" if code is None else f"exited with {code}"
        return f"dnsmon serve on {self.listen} {state}; log:\n{self.log()[-6000:]}"

    def _assert_running(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            raise AssertionError(self.describe())

    def connection(self, timeout: float = 5.0) -> http.client.HTTPConnection:
        if self.tls is not None:
            return http.client.HTTPSConnection(
                self.host, self.port, timeout=timeout, context=self.tls
            )
        return http.client.HTTPConnection(self.host, self.port, timeout=timeout)

    def request(
        self,
        method: str,
        path: str,
        headers: Mapping[str, str] | None = None,
        body: bytes | None = None,
        timeout: float = 5.0,
    ) -> Response:
        sent = dict(headers or {})
        if self.auth is not None:
            sent.setdefault("Authorization", self.auth)
        connection = self.connection(timeout)
        try:
            connection.request(method, path, body=body, headers=sent)
            answer = connection.getresponse()
            return Response(answer.status, answer.headers, answer.read())
        finally:
            connection.close()

    def get(self, path: str, **kwargs: object) -> Response:
        return self.request("GET", path, **kwargs)  # type: ignore[arg-type]

    def post(self, path: str, **kwargs: object) -> Response:
        return self.request("POST", path, **kwargs)  # type: ignore[arg-type]

    def ready(self) -> bool:
        self._assert_running()
        try:
            return self.get("/-/ready", timeout=2.0).status == 200
        except (OSError, http.client.HTTPException):
            return False  # not listening yet

    def wait_ready(self, deadline: float = START_DEADLINE) -> None:
        wait_until(self.ready, "dnsmon serve ready (/-/ready 200)", deadline, self.describe)

    def metrics(self, accept_gzip: bool = False) -> Samples:
        headers = {"Accept-Encoding": "gzip"} if accept_gzip else {}
        response = self.get("/metrics", headers=headers)
        assert response.status == 200, (response.status, response.body[:500])
        body = response.body
        if response.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        return parse_exposition(body.decode())

    def wait_for_metric(self, metric: str, value: float, /, **labels: str) -> Samples:
        """Scrape until ``metric{labels}`` has ``value`` (within CHANGE_DEADLINE); that scrape."""
        seen: list[float | None] = []

        def check() -> Samples | None:
            self._assert_running()
            samples = self.metrics()
            seen.append(samples.value(metric, **labels))
            return samples if seen[-1] == value else None

        shown = f"{metric}{labels} == {value}"
        return wait_until(
            check,
            shown,
            CHANGE_DEADLINE,
            lambda: f"{shown}: last seen {seen[-1] if seen else None}\n{self.describe()}",
        )

    def wait_for_log(self, text: str, deadline: float = 15.0) -> list[str]:
        """Wait until a complete log line contains ``text``; every complete line so far."""

        def check() -> list[str] | None:
            lines = self.log_lines()
            return lines if any(text in line for line in lines) else None

        return wait_until(check, f"log line with {text!r}", deadline, self.describe)

    def log_lines(self) -> list[str]:
        """The log's complete lines (a line being written has no newline yet)."""
        text = self.log()
        return text[: text.rfind("\n") + 1].splitlines()

    def wait_for_fresh_round(self, deadline: float = 15.0) -> Samples:
        """A scrape of a round that started after this call (the one running may not have)."""
        start = self.metrics().value("dnsmon_rounds_total") or 0.0

        def check() -> Samples | None:
            self._assert_running()
            samples = self.metrics()
            return samples if (samples.value("dnsmon_rounds_total") or 0.0) >= start + 2 else None

        return wait_until(check, "two more rounds", deadline, self.describe)

    def send(self, signum: signal.Signals) -> None:
        os.kill(self.pid, signum)

    def stop(self, signum: signal.Signals = signal.SIGTERM, grace: float = 5.0) -> int | None:
        """Signal by PID, SIGKILL after ``grace``; the exit code (None if killed)."""
        proc, self.proc = self.proc, None
        return stop_process(proc, signum, grace)

    def process_status(self) -> dict[str, int]:
        """Numbers from /proc/PID/status in kB or counts (VmRSS, VmHWM, Threads), plus
        open file descriptors (fds) and CPU seconds used so far (cpu_ms)."""
        status: dict[str, int] = {}
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM", "Threads"):
                status[key] = int(value.split()[0])
        status["fds"] = len(os.listdir(f"/proc/{self.pid}/fd"))
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks = int(fields[11]) + int(fields[12])  # utime + stime
        status["cpu_ms"] = ticks * 1000 // os.sysconf("SC_CLK_TCK")
        return status


FAST = {"interval": "1s", "timeout": "1s"}  # rounds every second: changes show at once


def write_config(region: TestRegion, path: Path, **kwargs: Any) -> Path:
    """The region's probes.yaml with rounds every second (``defaults`` merged over)."""
    kwargs["defaults"] = {**FAST, **kwargs.get("defaults", {})}
    return region.write_probes(path, **kwargs)
