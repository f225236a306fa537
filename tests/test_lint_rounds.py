"""Warnings an operator needs before a round or a reload goes wrong: rounds that cannot fit
their interval, and a reload that drops most of what was watched. Warnings, not refusals:
``dnsmon lint`` exits 1 and ``serve`` keeps running.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from monitor.config import parse
from monitor.judging.lint import findings, reload_findings

SERVERS = """\
servers:
  - {name: resolver-a, address: 127.0.0.1}
  - {name: ns1, address: 127.0.0.2, role: authoritative, zones: [region.internal]}
"""


def names(count: int, start: int = 0) -> str:
    hosts = "".join(f"  - {{name: host{i}.region.internal}}\n" for i in range(start, count))
    return "names:\n" + hosts


def of_kind(text: str, kind: str) -> list[dict[str, object]]:
    return [f for f in findings(parse(text)) if f["kind"] == kind]


def test_server_asked_more_than_its_rate_allows_in_an_interval_is_named() -> None:
    text = "defaults: {interval: 10s, max_qps_per_server: 1}\n" + SERVERS + names(40)
    assert of_kind(text, "pacing_overrun") == [
        {
            "kind": "pacing_overrun",
            "subject": "resolver-a",
            # 40 names and one canary under region.internal
            "message": "resolver-a is asked 41 queries each round; at max_qps_per_server 1"
            " that takes 41s, longer than the interval (10s), so every round overruns: raise"
            " max_qps_per_server to 9 or the interval to 1m22s, or ask fewer names of it",
            "servers": ["resolver-a"],
            "queries": 41,
            "seconds": 41.0,
        },
        {
            "kind": "pacing_overrun",
            "subject": "ns1",
            # 40 names asked directly and the zone's serial
            "message": "ns1 is asked 41 queries each round; at max_qps_per_server 1 that"
            " takes 41s, longer than the interval (10s), so every round overruns: raise"
            " max_qps_per_server to 9 or the interval to 1m22s, or ask fewer names of it",
            "servers": ["ns1"],
            "queries": 41,
            "seconds": 41.0,
        },
    ]


def test_rounds_that_fit_their_interval_are_not_flagged() -> None:
    text = "defaults: {interval: 10s, max_qps_per_server: 5}\n" + SERVERS + names(40)
    assert of_kind(text, "pacing_overrun") == []


def test_server_names_sharing_one_address_share_its_pace() -> None:
    servers = SERVERS.replace("ns1, address: 127.0.0.2", "ns1, address: 127.0.0.1")
    text = "defaults: {interval: 30s, max_qps_per_server: 2}\n" + servers + names(30)
    [finding] = of_kind(text, "pacing_overrun")
    assert finding["subject"] == "resolver-a and ns1"
    assert str(finding["message"]).startswith(
        "resolver-a and ns1 (one server, 127.0.0.1 port 53) are asked 62 queries each round;"
        " at max_qps_per_server 2 that takes 31s, longer than the interval (30s)"
    )


def test_timeouts_as_long_as_the_interval_are_flagged() -> None:
    text = "defaults: {interval: 2s, timeout: 1s, attempts: 2}\n" + SERVERS + names(1)
    assert [f["message"] for f in of_kind(text, "timeout_overrun")] == [
        "a query to a server that stops answering is given up only after 2 attempts of 1s"
        " (2s), as long as the interval (2s): while any server is down every round overruns;"
        " lower timeout or attempts, or raise the interval"
    ]
    assert of_kind(text.replace("attempts: 2", "attempts: 1"), "timeout_overrun") == []


def test_the_default_timeout_against_a_short_interval_is_a_warning_not_a_refusal() -> None:
    # Written timeouts longer than the interval are refused; the default is not held against
    # an interval the operator shortened, but lint says what it costs.
    text = "defaults: {interval: 1s}\n" + SERVERS + names(1)
    [finding] = of_kind(text, "timeout_overrun")
    assert "2 attempts of 2s (4s), longer than the interval (1s)" in str(finding["message"])


def test_reload_dropping_most_names_is_a_warning() -> None:
    old = parse(SERVERS + names(4))
    new = parse(SERVERS + names(1) + "  - {name: host9.region.internal, type: AAAA}\n")
    assert reload_findings(old, new) == [
        {
            "kind": "names_dropped",
            "subject": "probes.yaml",
            "message": "the new config drops 3 of the 4 names the running one watches"
            " (host1.region.internal A, host2.region.internal A, host3.region.internal A); if"
            " that was not meant, the file may be cut short or the wrong one: restore it and"
            " reload again",
            "dropped": 3,
            "watched": 4,
            "names": [
                "host1.region.internal A",
                "host2.region.internal A",
                "host3.region.internal A",
            ],
        }
    ]


def test_reload_dropping_half_the_names_or_fewer_is_quiet() -> None:
    old = parse(SERVERS + names(4))
    assert reload_findings(old, parse(SERVERS + names(2))) == []
    assert reload_findings(old, parse(SERVERS + names(10, 2))) == []


def test_reload_warns_when_the_new_config_cannot_fit_its_rounds() -> None:
    old = parse(SERVERS + names(40))
    new = parse("defaults: {interval: 10s, max_qps_per_server: 1}\n" + SERVERS + names(40))
    assert {f["kind"] for f in reload_findings(old, new)} == {"pacing_overrun"}


def test_lint_prints_the_pacing_warning_and_exits_1(tmp_path: Path) -> None:
    config = tmp_path / "probes.yaml"
    config.write_text("defaults: {interval: 10s, max_qps_per_server: 1}\n" + SERVERS + names(40))
    run = subprocess.run(
        [sys.executable, "-c", "from monitor.cli import main; main()", "--config", str(config)]
        + ["lint"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 1, run.stderr
    assert "PACING OVERRUN (2)\n  resolver-a is asked 41 queries each round;" in run.stdout
