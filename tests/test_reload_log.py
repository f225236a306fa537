"""Every SIGHUP is answered in the log: a reload that took the file says so at level info
(and whether anything changed), one that failed says why at level error.

The story: an operator edits probes.yaml, sends ``systemctl reload dnsmon`` (SIGHUP) and
reads the journal to see that it took.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import dns.message
import pytest
from exporter import Exporter, wait_until
from nameserver import TestNameserver, answer
from test_serve import _logfmt

NAME = "ehr-db.region.internal"


def _resolves(query: dns.message.Message) -> dns.message.Message:
    return answer(query, f"{query.question[0].name} 300 IN A 127.20.1.15")


def probes(port: int, *names: str) -> str:
    listed = "".join(f"  - {{name: {name}}}\n" for name in names)
    return (
        "defaults: {interval: 1s, timeout: 200ms, attempts: 1}\n"
        f"servers:\n  - {{name: resolver-a, address: 127.0.0.1, port: {port}}}\n"
        f"names:\n{listed}"
    )


@pytest.fixture
def running(tmp_path: Path) -> Iterator[tuple[Exporter, Path, int]]:
    """``dnsmon serve`` on a config of one in-process resolver; stopped afterwards."""
    with TestNameserver(_resolves) as server:
        config = tmp_path / "probes.yaml"
        config.write_text(probes(server.port, NAME))
        exporter = Exporter(config, tmp_path).start()
        try:
            yield exporter, config, server.port
        finally:
            exporter.stop(signal.SIGKILL)


def logged(exporter: Exporter, msg: str, count: int) -> list[dict[str, str]]:
    """The log's lines with this message, once there are ``count`` of them."""

    def lines() -> list[dict[str, str]] | None:
        found = [_logfmt(line) for line in exporter.log_lines() if f'msg="{msg}"' in line]
        return found if len(found) >= count else None

    return wait_until(lines, f"{count} log lines {msg!r}", 15.0, exporter.describe)


def test_a_sighup_reload_is_logged_whether_or_not_the_file_changed(running) -> None:
    exporter, config, port = running
    exporter.send(signal.SIGHUP)
    [same] = logged(exporter, "config reloaded", 1)
    assert same["level"] == "info" and same["changed"] == "false"
    assert (same["config"], same["names"], same["services"]) == (str(config), "1", "0")

    config.write_text(probes(port, NAME, "ehr-ro.region.internal"))
    exporter.send(signal.SIGHUP)
    changed = logged(exporter, "config reloaded", 2)[1]
    assert changed["level"] == "info" and changed["changed"] == "true"
    assert changed["names"] == "2" and changed["fingerprint"] != same["fingerprint"]


def test_a_failed_sighup_reload_is_logged_as_an_error_with_the_reason(running) -> None:
    exporter, config, _ = running
    config.write_text(config.read_text().replace("interval: 1s", "interval: 15"))
    exporter.send(signal.SIGHUP)
    [failed] = logged(exporter, "config reload failed; keeping the running config", 1)
    assert failed["level"] == "error"
    assert "defaults.interval: 15 has no unit" in failed["error"]
    assert not any('msg="config reloaded"' in line for line in exporter.log_lines())
