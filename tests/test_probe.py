"""The prober against an in-process nameserver: every outcome classified, none raised."""

from __future__ import annotations

import socket
import threading
import time

import dns.flags
import dns.message
import dns.rcode
import pytest

from monitor.config import Server
from monitor.probing.plan import Query
from monitor.probing.probe import Prober, ProbeSettings
from monitor.states import Result, Role, Transport
from tests.nameserver import TestNameserver, answer

FAST = ProbeSettings(timeout=0.3, attempts=2, max_qps_per_server=10_000)


def ask(
    port: int,
    name: str = "ehr-db.region.internal",
    rdtype: str = "A",
    *,
    recursion: bool = True,
    expect: frozenset[str] | None = None,
    settings: ProbeSettings = FAST,
):
    role = Role.RECURSIVE if recursion else Role.AUTHORITATIVE
    server = Server("test", "127.0.0.1", port, role, () if recursion else ("region.internal",))
    [result] = Prober(settings).run([Query(name, rdtype, server, recursion, expect)])
    return result


def a_record(query: dns.message.Message) -> dns.message.Message:
    return answer(query, "ehr-db.region.internal. 300 IN A 127.20.1.15")


def test_ok_answer_has_rtt_ttl_and_sorted_answers():
    def two(query):
        return answer(
            query,
            "ehr-db.region.internal. 120 IN A 127.20.1.16",
            "ehr-db.region.internal. 120 IN A 127.20.1.15",
        )

    with TestNameserver(two) as ns:
        result = ask(ns.port)
    assert result.result is Result.OK
    assert result.ttl == 120
    assert result.answers == ("127.20.1.15", "127.20.1.16")
    assert 0 < result.rtt_seconds < 0.3


def test_expect_mismatch_is_wrong_answer():
    with TestNameserver(a_record) as ns:
        result = ask(ns.port, expect=frozenset({"127.20.1.99"}))
    assert result.result is Result.WRONG_ANSWER
    assert "127.20.1.99" in result.detail


@pytest.mark.parametrize(
    ("rcode", "expected"),
    [
        (dns.rcode.NXDOMAIN, Result.NXDOMAIN),
        (dns.rcode.SERVFAIL, Result.SERVFAIL),
        (dns.rcode.REFUSED, Result.REFUSED),
        (dns.rcode.NOTIMP, Result.ERROR),
    ],
)
def test_rcodes_are_classified(rcode, expected):
    with TestNameserver(lambda q: answer(q, rcode=rcode)) as ns:
        assert ask(ns.port).result is expected


def test_empty_noerror_is_nodata():
    with TestNameserver(lambda q: answer(q)) as ns:
        assert ask(ns.port, rdtype="AAAA").result is Result.NODATA


def test_cname_chain_gives_the_target_answers():
    def chain(query):
        return answer(
            query,
            "www.region.internal. 60 IN CNAME ehr-db.region.internal.",
            "ehr-db.region.internal. 300 IN A 127.20.1.15",
        )

    with TestNameserver(chain) as ns:
        result = ask(ns.port, name="www.region.internal")
    assert result.answers == ("127.20.1.15",)
    assert result.ttl == 60


def test_silent_server_times_out_after_all_attempts_within_bound():
    with TestNameserver(lambda q: None) as ns:
        started = time.monotonic()
        result = ask(ns.port)
        elapsed = time.monotonic() - started
        assert ns.queries == 2
    assert result.result is Result.TIMEOUT
    assert elapsed < 0.3 * 2 + 0.5
    assert result.detail == "no answer after 2 attempts"


def test_one_attempt_is_said_in_the_singular():
    once = ProbeSettings(timeout=0.2, attempts=1, max_qps_per_server=10_000)
    with TestNameserver(lambda q: None) as ns:
        result = ask(ns.port, settings=once)
    assert result.detail == "no answer after 1 attempt"


def test_garbage_reply_is_error_not_crash():
    with TestNameserver(lambda q: b"\x13\x37garbage") as ns:
        result = ask(ns.port)
    assert result.result is Result.ERROR
    assert "shorter than a DNS header" in result.detail or "malformed" in result.detail


def test_truncated_garbage_after_header_is_error():
    def broken(query):
        wire = bytearray(a_record(query).to_wire())
        return bytes(wire[:-3])  # the A rdata cut short

    with TestNameserver(broken) as ns:
        result = ask(ns.port)
    assert result.result is Result.ERROR
    assert "malformed" in result.detail


def test_a_reply_with_another_id_is_dropped_and_the_query_waits():
    def wrong_id(query):
        reply = a_record(query)
        reply.id = (query.id + 1) % 65536
        return reply

    with TestNameserver(wrong_id) as ns:
        result = ask(ns.port)
    assert result.result is Result.ERROR  # its own reply never came; only strays did
    assert result.detail == "2 replies with a message ID not asked dropped"  # one an attempt


def test_a_reply_to_another_question_is_dropped_and_the_query_waits():
    def other(query):
        reply = answer(dns.message.make_query("other.region.internal", "A"))
        reply.id = query.id
        return reply

    with TestNameserver(other) as ns:
        result = ask(ns.port)
    assert result.result is Result.ERROR
    assert result.detail == "2 replies to another question dropped"


def test_spoofed_replies_before_the_genuine_one_do_not_end_the_query():
    """An off-path spoofer's guesses (another ID; the right ID, another question) come
    first from the server's own address; the server's reply follows: it counts."""
    server = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    server.bind(("127.0.0.1", 0))

    def serve() -> None:
        wire, peer = server.recvfrom(512)
        query = dns.message.from_wire(wire)
        spoofed = a_record(query)
        spoofed.id = (query.id + 7) % 65536
        server.sendto(spoofed.to_wire(), peer)
        other = answer(dns.message.make_query("other.region.internal", "A"))
        other.id = query.id
        server.sendto(other.to_wire(), peer)
        time.sleep(0.05)
        server.sendto(a_record(query).to_wire(), peer)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        result = ask(server.getsockname()[1])
    finally:
        thread.join(2)
        server.close()
    assert (result.result, result.answers) == (Result.OK, ("127.20.1.15",))
    assert not result.retried  # answered to its first attempt


def test_truncated_reply_is_retried_over_tcp():
    def big(query):
        reply = answer(query, 'big.region.internal. 300 IN TXT "' + "x" * 200 + '"')
        for i in range(10):
            reply.answer[0].add(dns.rdata.from_text("IN", "TXT", f'"{i}' + "y" * 200 + '"'))
        return reply

    with TestNameserver(lambda q: _maybe_truncate(q, big(q))) as ns:
        result = ask(ns.port, name="big.region.internal", rdtype="TXT")
        assert ns.tcp_queries == 1
    assert result.result is Result.OK
    assert len(result.answers) == 11


def test_truncated_without_tcp_is_error(tmp_path):
    def truncated(query):
        reply = answer(query)
        reply.flags |= dns.flags.TC
        return reply.to_wire()

    with TestNameserver(truncated) as ns:
        ns.tcp.close()  # nothing listens on TCP
        result = ask(ns.port)
    assert result.result is Result.ERROR
    assert "truncated" in result.detail


def test_tcp_transport_asks_over_tcp():
    with TestNameserver(a_record) as ns:
        result = ask(ns.port, settings=ProbeSettings(0.5, 1, Transport.TCP, 1000))
        assert ns.tcp_queries == 1 and ns.queries == 0
    assert result.result is Result.OK


def test_authoritative_answer_without_aa_is_error():
    with TestNameserver(
        lambda q: answer(q, "ehr-db.region.internal. 300 IN A 127.20.1.15", aa=False)
    ) as ns:
        result = ask(ns.port, recursion=False)
    assert result.result is Result.ERROR
    assert "AA" in result.detail


def test_query_rd_flag_follows_role():
    seen = []

    def record(query):
        seen.append(bool(query.flags & dns.flags.RD))
        return a_record(query)

    with TestNameserver(record) as ns:
        ask(ns.port, recursion=True)
        ask(ns.port, recursion=False)
    assert seen == [True, False]


def test_queries_use_edns_1232():
    payloads = []

    def record(query):
        payloads.append(query.payload)
        return a_record(query)

    with TestNameserver(record) as ns:
        ask(ns.port)
    assert payloads == [1232]


def test_rate_limit_is_honoured():
    with TestNameserver(a_record) as ns:
        server = Server("test", "127.0.0.1", ns.port)
        queries = [Query(f"n{i}.region.internal", "A", server, True) for i in range(20)]
        started = time.monotonic()
        results = Prober(ProbeSettings(1.0, 1, Transport.UDP, 50)).run(queries)
        elapsed = time.monotonic() - started
    assert len(results) == 20
    assert elapsed >= 19 / 50 * 0.9


def test_dead_servers_do_not_lengthen_the_round():
    with TestNameserver(a_record) as alive:
        dead = [Server(f"dead{i}", "127.0.0.1", _closed_port()) for i in range(6)]
        live = Server("live", "127.0.0.1", alive.port)
        queries = [Query("ehr-db.region.internal", "A", s, True) for s in [*dead, live]]
        started = time.monotonic()
        results = Prober(FAST).run(queries)
        elapsed = time.monotonic() - started
    assert {r.query.server.name: r.result for r in results}["live"] is Result.OK
    assert sum(r.result is Result.TIMEOUT for r in results) == 6
    assert elapsed < FAST.timeout * FAST.attempts + 0.5


def _closed_port() -> int:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _maybe_truncate(query: dns.message.Message, reply: dns.message.Message) -> bytes:
    """Truncate like a real server: over UDP, to the client's EDNS payload."""
    wire = reply.to_wire(max_size=65535)
    if not query.via_tcp and len(wire) > max(query.payload, 512):
        short = dns.message.make_response(query)
        short.flags |= dns.flags.TC | dns.flags.AA
        return short.to_wire()
    return wire


def test_late_reply_to_the_first_attempt_still_counts():
    def slow_first(query, seen=[]):  # noqa: B006  (counts attempts across calls)
        seen.append(query.id)
        if len(seen) == 1:
            time.sleep(0.45)  # answer after the 0.3 s timeout, while the retry is pending
        return a_record(query)

    with TestNameserver(slow_first) as ns:
        result = ask(ns.port)
    assert result.result is Result.OK, result.detail


def test_a_dead_server_with_many_names_does_not_stretch_the_round():
    server = Server("dead", "127.0.0.1", _closed_port())
    queries = [Query(f"n{i}.region.internal", "A", server, True) for i in range(640)]
    settings = ProbeSettings(timeout=0.2, attempts=2, max_qps_per_server=100_000)
    started = time.monotonic()
    results = Prober(settings).run(queries)
    elapsed = time.monotonic() - started
    assert len(results) == 640
    assert {r.result for r in results} == {Result.TIMEOUT}
    assert elapsed < 0.2 * 2 + 0.6


def test_pace_never_bursts_above_the_limit():
    sent = []

    def record(query):
        sent.append(time.monotonic())
        return a_record(query)

    with TestNameserver(record) as ns:
        server = Server("test", "127.0.0.1", ns.port)
        queries = [Query(f"n{i}.region.internal", "A", server, True) for i in range(4)]
        Prober(ProbeSettings(1.0, 1, Transport.UDP, 10)).run(queries)
    gaps = [b - a for a, b in zip(sent, sent[1:], strict=False)]
    assert min(gaps) > 0.08  # 10 queries a second: about 0.1 s apart, from the first one


def test_answer_for_another_name_is_not_ok():
    def unrelated(query):
        return answer(query, "evil.region.internal. 300 IN A 127.66.6.6")

    with TestNameserver(unrelated) as ns:
        result = ask(ns.port)
    assert result.result is Result.NODATA
    assert result.answers == ()


def test_authoritative_cname_out_of_zone_is_ok():
    def out_of_zone(query):
        return answer(query, "www.region.internal. 300 IN CNAME portal.vendor.internal.")

    with TestNameserver(out_of_zone) as ns:
        authoritative = ask(ns.port, name="www.region.internal", recursion=False)
        recursive = ask(ns.port, name="www.region.internal", recursion=True)
    assert authoritative.result is Result.OK
    assert "portal.vendor.internal" in authoritative.detail
    assert recursive.result is Result.NODATA  # a resolver must follow the chain to the end


@pytest.mark.parametrize("with_in", [False, True])
def test_a_record_of_another_class_in_the_answer_is_an_error_not_a_crash(with_in: bool):
    """Class HS for an IN question: alone it crashed the round; beside an IN record it
    passed as ok."""

    def hesiod(query):
        reply = answer(query, "ehr-db.region.internal. 300 IN A 127.20.1.15",
                       "ehr-db.region.internal. 300 IN A 127.20.1.99")  # fmt: skip
        wire = bytearray(reply.to_wire())
        records = [
            i for i in range(12, len(wire)) if wire[i : i + 6] == b"\xc0\x0c\x00\x01\x00\x01"
        ]
        for at in records[-1:] if with_in else records:
            wire[at + 4 : at + 6] = b"\x00\x04"  # class HS
        return bytes(wire)

    with TestNameserver(hesiod) as ns:
        result = ask(ns.port)
    assert result.result is Result.ERROR
    assert "a record of class HS in the answer" in result.detail


def test_a_reply_truncated_even_over_tcp_is_an_error_not_nodata():
    def always_truncated(query):
        reply = answer(query)  # no records: with TC it only says "ask again over TCP"
        reply.flags |= dns.flags.TC
        return reply

    with TestNameserver(always_truncated) as ns:
        result = ask(ns.port)
        assert ns.tcp_queries >= 1
    assert (result.result, result.detail) == (Result.ERROR, "reply truncated (TC) even over TCP")
