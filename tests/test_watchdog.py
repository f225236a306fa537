"""The watchdog: when rounds stop, ``/-/healthy`` fails with the reason, the log tells it
once with the exception or the stuck stack, and a reload restarts rounds or says it could
not. Exceptions are logged in fields of one line, never as raw tracebacks.
"""

from __future__ import annotations

import io
import logging
import os
import re
import threading
from collections.abc import Iterator
from pathlib import Path

import dns.message
import dns.rcode
import pytest
from exporter import Exporter, wait_until, write_config
from nameserver import TestNameserver
from servers import DEFAULT_NAMES
from test_serve import _logfmt

from monitor.outputs import logs
from monitor.serving import scheduler as scheduler_module
from monitor.serving.scheduler import Scheduler


def unhealthy(exporter: Exporter) -> str | None:
    """The reason /-/healthy gives when it fails; None while it is OK or not listening."""
    try:
        response = exporter.get("/-/healthy", timeout=2.0)
    except OSError:
        return None
    return response.text if response.status == 503 else None


def assert_no_raw_traceback(exporter: Exporter) -> None:
    stray = [line for line in exporter.log_lines() if not line.startswith("ts=")]
    assert not stray, "lines outside logfmt:\n" + "\n".join(stray[:20])


# Since the config refuses intervals over a day, nothing a user can write kills the
# rounds thread any more. This stands in for what an absurd interval used to do: the
# thread's wait for the next round raises, once. It is loaded into the dnsmon process
# through PYTHONPATH only in this test; dnsmon itself has no test hook.
KILL_THE_ROUNDS_THREAD = """
from monitor.serving import scheduler

_start = scheduler.Scheduler.start


def start(self):
    wait, failed = self._wake.wait, []

    def wait_once_failing(timeout=None):
        if not failed:
            failed.append(timeout)
            raise OverflowError("timestamp out of range for platform time_t")
        return wait(timeout)

    self._wake.wait = wait_once_failing
    _start(self)


scheduler.Scheduler.start = start
"""


def test_healthy_fails_when_the_rounds_thread_dies_and_a_reload_restarts_it(
    serve, tmp_path: Path
) -> None:
    inject = tmp_path / "inject"
    inject.mkdir()
    (inject / "sitecustomize.py").write_text(KILL_THE_ROUNDS_THREAD)
    path = os.pathsep.join(p for p in (str(inject), os.environ.get("PYTHONPATH")) if p)
    exporter = serve(env={"PYTHONPATH": path})

    reason = wait_until(
        lambda: unhealthy(exporter), "/-/healthy 503", 60, describe=exporter.describe
    )
    assert "rounds thread has stopped" in reason and "OverflowError" in reason
    assert exporter.get("/-/ready").status == 200  # the last round is still there to read
    lines = exporter.wait_for_log("rounds have stopped")
    died = _logfmt(next(line for line in lines if "rounds thread died" in line))
    assert died["level"] == "critical" and died["error"].startswith("OverflowError")
    assert "Traceback (most recent call last)" in died["traceback"]
    assert "scheduler.py" in died["traceback"]
    assert_no_raw_traceback(exporter)

    rounds = exporter.metrics().value("dnsmon_rounds_total") or 0
    assert exporter.post("/-/reload").status == 200
    exporter.wait_for_log("rounds restarted by the reload")
    wait_until(
        lambda: unhealthy(exporter) is None, "/-/healthy 200 again", describe=exporter.describe
    )
    wait_until(
        lambda: (exporter.metrics().value("dnsmon_rounds_total") or 0) > rounds,
        "rounds go on after the reload",
        describe=exporter.describe,
    )
    exporter.wait_for_log("rounds run again")


def test_healthy_fails_when_rounds_cannot_keep_up(serve, region, tmp_path: Path) -> None:
    # One query a second per server and a dozen names: a round takes far longer than
    # 3 intervals and 2 rounds of timeouts (3 × 1 s + 2 × 1 s × 1 attempt = 5 s). The first
    # round is allowed its own pace (about 20 s here, serve says so at start); the second
    # one stalls.
    names = [*DEFAULT_NAMES, *({"name": f"n{i}.region.internal", "type": "A"} for i in range(12))]
    config = write_config(
        region,
        tmp_path / "slow.yaml",
        names=names,
        defaults={"max_qps_per_server": 1, "attempts": 1},
    )
    exporter = serve(config, wait=False)

    reason = wait_until(
        lambda: unhealthy(exporter), "/-/healthy 503", 60, describe=exporter.describe
    )
    assert re.search(r"no round has finished for \d+ s \(allowed: 5 s\)", reason), reason
    lines = exporter.wait_for_log("rounds have stopped")
    stopped = _logfmt(next(line for line in lines if "rounds have stopped" in line))
    assert stopped["level"] == "error" and "no round has finished" in stopped["reason"]
    assert "run_round" in stopped["stack"]  # where the rounds thread is now


# --- in-process: what a reload does when rounds cannot be restarted -----------------------


@pytest.fixture
def log_text() -> Iterator[io.StringIO]:
    """dnsmon's log as logfmt, as ``serve`` writes it."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logs.LogfmtFormatter())
    logs.LOGGER.addHandler(handler)
    level = logs.LOGGER.level
    logs.LOGGER.setLevel(logging.INFO)
    yield stream
    logs.LOGGER.removeHandler(handler)
    logs.LOGGER.setLevel(level)


def _nxdomain(query: dns.message.Message) -> dns.message.Message:
    reply = dns.message.make_response(query)
    reply.set_rcode(dns.rcode.NXDOMAIN)
    return reply


def test_a_reload_that_cannot_restart_rounds_fails(tmp_path, monkeypatch, log_text) -> None:
    with TestNameserver(_nxdomain) as server:
        config = tmp_path / "probes.yaml"
        config.write_text(
            "version: 1\ndefaults: {interval: 1s, timeout: 200ms, attempts: 1}\n"
            f"servers:\n  - {{name: r, address: 127.0.0.1, port: {server.port}, role: recursive}}\n"
            "names:\n  - {name: a.example.internal, type: A}\n"
        )
        scheduler = Scheduler(str(config))
        real_wait = scheduler._wake.wait

        def wait_once_failing(timeout: float | None = None) -> bool:
            scheduler._wake.wait = real_wait  # type: ignore[method-assign]
            raise OverflowError("timestamp out of range for platform time_t")

        scheduler._wake.wait = wait_once_failing  # type: ignore[method-assign]
        scheduler.start()
        try:
            wait_until(scheduler.check_health, "rounds reported stopped")

            class Unstartable(threading.Thread):
                def start(self) -> None:
                    raise RuntimeError("can't start new thread")

            monkeypatch.setattr(
                scheduler_module, "_rounds_thread", lambda target: Unstartable(target=target)
            )
            error = scheduler.reload()
            assert error is not None and "could not be restarted" in error
            assert scheduler.reload_state.successful is False
            assert "OverflowError" in (scheduler.check_health() or "")
        finally:
            scheduler.stop()
    text = log_text.getvalue()
    assert 'msg="config reload failed: rounds do not run"' in text
    assert "config reloaded" not in text and "rounds restarted" not in text
    died = _logfmt(next(line for line in text.splitlines() if "rounds thread died" in line))
    assert died["error"] == "OverflowError: timestamp out of range for platform time_t"


def test_a_logged_exception_stays_on_its_line(log_text) -> None:
    try:
        {}["missing"]
    except KeyError:
        logs.LOGGER.exception("round failed")
    (line,) = log_text.getvalue().splitlines()
    fields = _logfmt(line)
    assert fields["msg"] == "round failed" and fields["error"] == "KeyError: 'missing'"
    assert fields["traceback"].startswith("Traceback (most recent call last):")
