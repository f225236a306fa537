"""Servers that fail slowly, silently or against the rules never hang a round or pass as ok.

Each fault is a real server on loopback (tests/faults.py). The bound every test holds a
round to is the one deadline each query has: ``timeout × attempts`` from its first send,
across UDP, TCP and the fall-back between them, plus a small margin.
"""

from __future__ import annotations

import time
from pathlib import Path

import dns.flags
import dns.rdata
import pytest
from dnsmon_cli import dnsmon
from faults import ESCAPES, FaultServer

from monitor.config import Server
from monitor.probing.plan import Query
from monitor.probing.probe import Prober, ProbeSettings
from monitor.states import Result, Transport
from tests.nameserver import TestNameserver, answer

SETTINGS = ProbeSettings(timeout=1.0, attempts=2, max_qps_per_server=5000)
BOUND = SETTINGS.timeout * SETTINGS.attempts + 0.6


def ask(port: int, count: int = 1, rdtype: str = "A", settings: ProbeSettings = SETTINGS):
    server = Server("faulty", "127.0.0.1", port)
    queries = [Query(f"n{i}.region.internal", rdtype, server, True) for i in range(count)]
    started = time.monotonic()
    results = Prober(settings).run(queries)
    return results, time.monotonic() - started


def test_a_trickling_tcp_reply_times_out_within_the_deadline() -> None:
    with FaultServer("trickle") as server:
        [result], elapsed = ask(server.port)
    assert result.result is Result.TIMEOUT
    assert "came too slowly" in result.detail
    assert elapsed < BOUND


def test_trickling_with_transport_tcp_is_bounded_too() -> None:
    tcp = ProbeSettings(timeout=1.0, attempts=2, transport=Transport.TCP, max_qps_per_server=5000)
    with FaultServer("trickle") as server:
        [result], elapsed = ask(server.port, settings=tcp)
    assert result.result is Result.TIMEOUT
    assert elapsed < BOUND


def test_a_tcp_silent_server_with_many_names_is_given_up_on_within_the_deadline() -> None:
    with FaultServer("tcp_silent") as server:
        results, elapsed = ask(server.port, count=80)
        opened = server.tcp_connections
    assert len(results) == 80
    assert {r.result for r in results} <= {Result.TIMEOUT, Result.ERROR}
    assert any("not asked over TCP" in r.detail for r in results)
    assert opened < 80  # given up on, not asked 80 times
    assert elapsed < BOUND


def test_one_servers_silent_tcp_does_not_hold_up_anothers() -> None:
    def big(query):
        reply = answer(query, 'n0.region.internal. 300 IN TXT "' + "x" * 200 + '"')
        for i in range(10):
            reply.answer[0].add(dns.rdata.from_text("IN", "TXT", f'"{i}' + "y" * 200 + '"'))
        if not query.via_tcp:
            short = answer(query)
            short.flags |= dns.flags.TC
            return short
        return reply

    with FaultServer("tcp_silent") as silent, TestNameserver(big) as healthy:
        slow = Server("silent", "127.0.0.1", silent.port)
        good = Server("healthy", "127.0.0.1", healthy.port)
        queries = [Query(f"n{i}.region.internal", "TXT", slow, True) for i in range(40)]
        queries.append(Query("n0.region.internal", "TXT", good, True))
        started = time.monotonic()
        results = Prober(SETTINGS).run(queries)
        elapsed = time.monotonic() - started
    [fine] = [r for r in results if r.query.server.name == "healthy"]
    assert fine.result is Result.OK and fine.over_tcp
    assert fine.rtt_seconds is not None and fine.rtt_seconds < 0.5
    assert elapsed < BOUND


def test_a_reset_tcp_connection_is_an_error_at_once() -> None:
    with FaultServer("tcp_reset") as server:
        [result], elapsed = ask(server.port)
    assert result.result is Result.ERROR
    assert "truncated over UDP and TCP" in result.detail
    assert elapsed < 1.0


def test_a_tcp_reply_without_qr_is_an_error() -> None:
    with FaultServer("tcp_no_qr") as server:
        [result], _ = ask(server.port)
    assert result.result is Result.ERROR
    assert "QR" in result.detail


def test_a_reply_with_another_opcode_is_an_error() -> None:
    with FaultServer("opcode") as server:
        [result], _ = ask(server.port)
    assert result.result is Result.ERROR
    assert "opcode 4" in result.detail


def test_terminal_escapes_in_txt_never_reach_the_terminal(tmp_path: Path) -> None:
    with FaultServer("esc_txt") as server:
        [result], _ = ask(server.port, rdtype="TXT")
        assert result.result is Result.OK
        assert "\x1b" not in result.answers[0] and "\\027[31mpwned" in result.answers[0]
        config = tmp_path / "probes.yaml"
        config.write_text(
            f"servers: [{{name: r, address: 127.0.0.1, port: {server.port}}}]\n"
            "names: [{name: notes.region.internal, type: TXT, expect: [hello]}]\n"
        )
        run = dnsmon(config, "check")
    assert run.code == 2  # the escapes are not "hello": a wrong answer
    assert "\x1b" not in run.stdout and "\x07" not in run.stdout
    assert ESCAPES not in run.stdout


def test_a_late_reply_to_the_first_attempt_is_timed_from_the_first_attempt() -> None:
    seen = []

    def slow_first(query):
        seen.append(query.id)
        if len(seen) == 1:
            time.sleep(0.45)  # past the 0.3 s timeout, while the retry is out
        return answer(query, "n0.region.internal. 300 IN A 127.20.1.15")

    settings = ProbeSettings(timeout=0.3, attempts=2, max_qps_per_server=5000)
    with TestNameserver(slow_first) as server:
        [result], _ = ask(server.port, settings=settings)
    assert result.result is Result.OK
    assert result.rtt_seconds is not None and result.rtt_seconds >= 0.4
    assert len(set(seen)) == 2  # each attempt had its own message ID


@pytest.mark.parametrize("mode", ["trickle", "tcp_silent"])
def test_check_says_down_within_the_deadline(mode: str, tmp_path: Path) -> None:
    with FaultServer(mode) as server:
        config = tmp_path / "probes.yaml"
        config.write_text(
            "defaults: {timeout: 1s, attempts: 2}\n"
            f"servers: [{{name: r, address: 127.0.0.1, port: {server.port}}}]\n"
            "names: [{name: ehr-db.region.internal}]\n"
            "services: [{name: ehr, depends_on: [ehr-db.region.internal]}]\n"
        )
        started = time.monotonic()
        run = dnsmon(config, "check", "--format", "json")
        elapsed = time.monotonic() - started
    assert run.code == 2, run.stdout
    assert run.json["services"][0]["status"] == "down"
    assert elapsed < BOUND + 2.0  # the command's own start-up on top of the round
