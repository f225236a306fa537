"""Ask one round of queries with dnspython; every query ends in a result, never an exception.

One non-blocking UDP socket per server carries all of that server's queries, matched by
message ID, so a round of thousands of names costs no socket per query. Each server has
its own send pace (never above ``max_qps_per_server``) and a bound on queries in flight.
Truncated replies are retried over TCP on a small thread pool while UDP goes on, so one
round's wall time is bounded by ``timeout × attempts`` plus pacing, not by how many
servers are dead.
"""

from __future__ import annotations

import math
import random
import selectors
import socket
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import dns.exception
import dns.flags
import dns.query
import dns.rdatatype

from monitor.probing.plan import Purpose, Query
from monitor.probing.results import ProbeResult
from monitor.probing.wire import (
    EDNS_REJECTED,
    Malformed,
    Reply,
    ReplyParser,
    Template,
    classify_reply,
    template,
)
from monitor.states import Result, Transport

MIN_IN_FLIGHT_PER_SERVER = 64
TCP_WORKERS = 16
# A server that has answered nothing in this round after this many queries timed out
# is not asked the rest: a dead server must not stretch the round by names × timeout.
GIVE_UP_AFTER_TIMEOUTS = 16
# A server that refused EDNS is asked without it; after this long, EDNS is tried again
# (RFC 6891 section 7: an upgraded server should not stay on the old path for ever).
EDNS_RETRY_SECONDS = 3600.0


@dataclass(frozen=True)
class ProbeSettings:
    """How to ask: from the config's defaults."""

    timeout: float = 2.0
    attempts: int = 2
    transport: Transport = Transport.UDP
    max_qps_per_server: float = 200.0


@dataclass
class _Pending:
    query: Query
    template: Template
    qtype: int
    attempt: int = 0
    query_id: int | None = None  # kept across attempts, so a late first reply still counts
    sent_at: float = 0.0
    deadline: float = 0.0


class Prober:
    """Runs rounds of queries; reusable, keeps query templates between rounds."""

    def __init__(
        self, settings: ProbeSettings, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.parser = ReplyParser()
        self._templates: dict[tuple[str, str, bool, bool], Template] = {}
        self.no_edns: dict[tuple[str, int], float] = {}  # server → when it refused EDNS

    def run(self, queries: list[Query], spread_seconds: float = 0.0) -> list[ProbeResult]:
        """Ask every query once (with retries); ``spread_seconds`` paces them out evenly."""
        round_ = _Round(self, queries, spread_seconds)
        return round_.run()

    def pending(self, query: Query, edns: bool = True) -> _Pending:
        return _Pending(query, self.template(query, edns), dns.rdatatype.from_text(query.type))

    def template(self, query: Query, edns: bool = True) -> Template:
        """The query's wire; canaries are fresh names each round, so they are not kept."""
        if query.purpose is Purpose.CANARY:
            return template(query.name, query.type, query.recursion, edns)
        key = (query.name, query.type, query.recursion, edns)
        if key not in self._templates:
            self._templates[key] = template(query.name, query.type, query.recursion, edns)
        return self._templates[key]

    def speaks_edns(self, address: str, port: int) -> bool:
        """False while the server is known to refuse EDNS (retried after an hour)."""
        refused = self.no_edns.get((address, port))
        return refused is None or self.clock() - refused > EDNS_RETRY_SECONDS

    def refuses_edns(self, address: str, port: int) -> None:
        self.no_edns[(address, port)] = self.clock()


class _Channel:
    """One server: its socket, its queue, its pace and what is in flight."""

    def __init__(self, address: str, port: int, gap: float, max_in_flight: int) -> None:
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_DGRAM)
        self.sock.setblocking(False)
        self.sock.connect((address, port))  # the kernel drops datagrams from anyone else
        self.address, self.port = address, port
        self.gap = gap
        self.max_in_flight = max_in_flight
        self.next_send = 0.0  # set to the round's start, so the first two are a gap apart
        self.queue: deque[_Pending] = deque()
        self.in_flight: dict[int, _Pending] = {}
        self.retrying: dict[int, _Pending] = {}  # timed out once, queued to be asked again
        self.problem = ""  # the last malformed or unreachable report, for timed-out queries
        self.edns = True  # False once the server answered EDNS with FORMERR, NOTIMP or BADVERS
        self.datagrams = 0  # anything received this round
        self.timeouts = 0  # queries that failed every attempt

    def new_id(self) -> int:
        while True:
            query_id = random.getrandbits(16)
            if query_id not in self.in_flight and query_id not in self.retrying:
                return query_id

    @property
    def can_send(self) -> bool:
        return bool(self.queue) and len(self.in_flight) < self.max_in_flight

    @property
    def given_up(self) -> bool:
        return self.datagrams == 0 and self.timeouts >= GIVE_UP_AFTER_TIMEOUTS


class _Round:
    """The state of one round; lives only while the round runs."""

    def __init__(self, prober: Prober, queries: list[Query], spread: float) -> None:
        self.prober = prober
        self.settings = prober.settings
        self.clock = prober.clock
        self.results: list[ProbeResult] = []
        self.selector = selectors.DefaultSelector()
        self.channels: dict[tuple[str, int], _Channel] = {}
        self.tcp: list[Future[ProbeResult]] = []
        self.pool: ThreadPoolExecutor | None = None
        self._build_channels(queries, spread)

    def _build_channels(self, queries: list[Query], spread: float) -> None:
        counts: dict[tuple[str, int], int] = {}
        for q in queries:
            key = (q.server.address, q.server.port)
            counts[key] = counts.get(key, 0) + 1
        min_gap = 1.0 / self.settings.max_qps_per_server
        # Enough in flight that pacing, not waiting for timeouts, sets a dead server's pace.
        bound = max(
            MIN_IN_FLIGHT_PER_SERVER,
            math.ceil(self.settings.max_qps_per_server * self.settings.timeout),
        )
        for q in queries:
            key = (q.server.address, q.server.port)
            if key not in self.channels:
                gap = max(min_gap, spread / counts[key] if spread else 0.0)
                self.channels[key] = _Channel(q.server.address, q.server.port, gap, bound)
                self.channels[key].next_send = self.clock()
                self.channels[key].edns = self.prober.speaks_edns(*key)
                self.selector.register(self.channels[key].sock, selectors.EVENT_READ, key)
            self.channels[key].queue.append(self.prober.pending(q, self.channels[key].edns))

    def run(self) -> list[ProbeResult]:
        try:
            if self.settings.transport is Transport.TCP:
                self._run_all_tcp()
            else:
                self._run_udp()
            self.results.extend(f.result() for f in self.tcp)
        finally:
            self._close()
        return self.results

    def _run_udp(self) -> None:
        while any(c.queue or c.in_flight for c in self.channels.values()):
            now = self.clock()
            wake = now + 0.25
            for channel in self.channels.values():
                wake = min(wake, self._send_due(channel, now))
            for key, _ in self.selector.select(max(0.0, wake - self.clock())):
                self._receive(self.channels[key.data])
            now = self.clock()
            for channel in self.channels.values():
                self._expire(channel, now)

    def _send_due(self, channel: _Channel, now: float) -> float:
        """Send what the pace and the in-flight bound allow; return the next wake time."""
        while channel.can_send and channel.next_send <= now:
            self._send(channel, channel.queue.popleft(), now)
            # A late loop may catch up by one query, never more: no bursts, no lost rate.
            channel.next_send = max(channel.next_send + channel.gap, now)
        wake = min((p.deadline for p in channel.in_flight.values()), default=now + 0.25)
        if channel.can_send:
            wake = min(wake, channel.next_send)
        return wake

    def _send(self, channel: _Channel, pending: _Pending, now: float) -> None:
        if pending.query_id is None:
            pending.query_id = channel.new_id()
        channel.retrying.pop(pending.query_id, None)
        if pending.template.edns and not channel.edns:
            pending.template = self.prober.template(pending.query, edns=False)
        pending.attempt += 1
        pending.sent_at = now
        pending.deadline = now + self.settings.timeout
        channel.in_flight[pending.query_id] = pending
        try:
            channel.sock.send(pending.template.with_id(pending.query_id))
        except ConnectionRefusedError:
            channel.problem = "port unreachable"
        except OSError as exc:
            channel.problem = f"send failed: {exc.strerror or exc}"

    def _receive(self, channel: _Channel) -> None:
        while True:
            try:
                wire = channel.sock.recv(65535)
            except BlockingIOError:
                return
            except ConnectionRefusedError:
                channel.problem = "port unreachable"
                continue
            except OSError as exc:
                channel.problem = f"receive failed: {exc.strerror or exc}"
                return
            self._handle(channel, wire, self.clock())

    def _handle(self, channel: _Channel, wire: bytes, now: float) -> None:
        channel.datagrams += 1
        try:
            query_id, flags, _ = self.prober.parser.header(wire)
        except Malformed as exc:
            channel.problem = str(exc)
            return
        pending = channel.in_flight.pop(query_id, None)
        if pending is None and query_id in channel.retrying:
            pending = channel.retrying.pop(query_id)  # a late reply to an earlier attempt
            channel.queue.remove(pending)
        if pending is None:
            self._unsolicited(channel, wire)
            return
        channel.problem = ""  # a well-matched reply: earlier strays were not about this
        self._finish_reply(channel, pending, wire, flags, now)

    def _finish_reply(
        self, channel: _Channel, pending: _Pending, wire: bytes, flags: int, now: float
    ) -> None:
        rtt = now - pending.sent_at
        if not flags & dns.flags.QR:
            self._done(pending, Result.ERROR, rtt, detail="reply without the QR flag")
            return
        if flags & dns.flags.TC:
            self._retry_tcp(channel, pending)
            return
        reply = self._read(pending, wire, rtt)
        if isinstance(reply, ProbeResult):
            self.results.append(reply)
        elif pending.template.edns and reply.rcode in EDNS_REJECTED:
            self._without_edns(channel, pending)
        else:
            self.results.append(self._judge(pending, reply, rtt))

    def _without_edns(self, channel: _Channel, pending: _Pending) -> None:
        """The server does not speak EDNS (RFC 6891 section 7): ask again without it."""
        channel.edns = False
        self.prober.refuses_edns(channel.address, channel.port)
        pending.attempt -= 1  # the refusal is an answer, not a lost attempt
        channel.retrying[pending.query_id or 0] = pending
        channel.queue.appendleft(pending)

    def _read(self, pending: _Pending, wire: bytes, rtt: float) -> Reply | ProbeResult:
        """The parsed reply, or the error result when it is not a reply to this question."""
        try:
            reply = self.prober.parser.parse(wire, pending.qtype)
        except Malformed as exc:
            return _result(pending.query, Result.ERROR, rtt, detail=str(exc))
        if reply.question != pending.template.question:
            return _result(pending.query, Result.ERROR, rtt, detail="reply to another question")
        return reply

    def _judge(
        self, pending: _Pending, reply: Reply, rtt: float, over_tcp: bool = False
    ) -> ProbeResult:
        query = pending.query
        result, detail = classify_reply(reply, query.recursion, query.expect)
        edns = reply.edns if pending.template.edns else False
        referral = reply.referral if result is Result.OK else None
        return ProbeResult(
            query, result, rtt, reply.ttl, reply.answers, detail, reply.serial,
            reply.soa_expire, reply.ede, reply.chain, referral, reply.flags, edns, over_tcp,
        )  # fmt: skip

    def _unsolicited(self, channel: _Channel, wire: bytes) -> None:
        """A reply whose ID matches nothing: if it answers a question we asked, fail it."""
        for query_id, pending in list(channel.in_flight.items()):
            if pending.template.question in wire[12:].lower()[: len(pending.template.question)]:
                del channel.in_flight[query_id]
                self._done(pending, Result.ERROR, detail="reply with a mismatched message ID")
                return
        channel.problem = "replies with unknown message IDs"

    def _expire(self, channel: _Channel, now: float) -> None:
        for query_id, pending in list(channel.in_flight.items()):
            if pending.deadline > now:
                continue
            del channel.in_flight[query_id]
            if pending.attempt < self.settings.attempts:
                channel.retrying[query_id] = pending
                channel.queue.appendleft(pending)
            elif channel.problem and "unreachable" not in channel.problem:
                self._done(pending, Result.ERROR, detail=channel.problem)
            else:
                channel.timeouts += 1
                detail = f"no answer after {pending.attempt} attempts"
                if channel.problem:
                    detail += f" ({channel.problem})"
                self._done(pending, Result.TIMEOUT, detail=detail)
        if channel.given_up and channel.queue:
            self._give_up(channel)

    def _give_up(self, channel: _Channel) -> None:
        """Finish what is queued for a server that answered nothing this round."""
        detail = f"not asked: the server answered none of {channel.timeouts} queries this round"
        while channel.queue:
            pending = channel.queue.popleft()
            if pending.query_id is not None:
                channel.retrying.pop(pending.query_id, None)
            self._done(pending, Result.TIMEOUT, detail=detail)

    def _done(
        self, pending: _Pending, result: Result, rtt: float | None = None, detail: str = ""
    ) -> None:
        self.results.append(_result(pending.query, result, rtt, detail=detail))

    def _retry_tcp(self, channel: _Channel, pending: _Pending) -> None:
        if self.pool is None:
            self.pool = ThreadPoolExecutor(TCP_WORKERS, thread_name_prefix="dnsmon-tcp")
        pending.attempt = 0
        self.tcp.append(self.pool.submit(self._ask_tcp, pending, True))

    def _run_all_tcp(self) -> None:
        """Transport tcp: every query over TCP, still paced per server."""
        self.pool = ThreadPoolExecutor(TCP_WORKERS, thread_name_prefix="dnsmon-tcp")
        channels = list(self.channels.values())
        while any(c.queue for c in channels):
            now = self.clock()
            for channel in channels:
                if channel.queue and channel.next_send <= now:
                    pending = channel.queue.popleft()
                    self.tcp.append(self.pool.submit(self._ask_tcp, pending, False))
                    channel.next_send = max(channel.next_send + channel.gap, now)
            waits = [c.next_send for c in channels if c.queue]
            time.sleep(max(0.0, min(waits, default=now) - self.clock()))

    def _ask_tcp(self, pending: _Pending, after_truncation: bool) -> ProbeResult:
        """Ask over TCP with the configured attempts; runs on the pool."""
        query, server = pending.query, pending.query.server
        detail = ""
        attempt = 0
        while attempt < self.settings.attempts:
            attempt += 1
            pending.attempt = attempt
            started = self.clock()
            try:
                wire = _tcp_exchange(pending, server.address, server.port, self.settings.timeout)
            except dns.exception.Timeout:
                detail = f"no answer over TCP after {attempt} attempts"
                continue
            except OSError as exc:
                why = "truncated over UDP and " if after_truncation else ""
                reason = f"{why}TCP failed: {exc.strerror or exc}"
                return _result(query, Result.ERROR, self.clock() - started, reason, over_tcp=True)
            rtt = self.clock() - started
            reply = self._read(pending, wire, rtt)
            if isinstance(reply, ProbeResult):
                reply.over_tcp = True
                return reply
            if pending.template.edns and reply.rcode in EDNS_REJECTED:
                self.prober.refuses_edns(server.address, server.port)
                pending.template = self.prober.template(query, edns=False)
                attempt -= 1
                continue
            return self._judge(pending, reply, rtt, over_tcp=True)
        return _result(query, Result.TIMEOUT, detail=detail, over_tcp=True)

    def _close(self) -> None:
        for channel in self.channels.values():
            self.selector.unregister(channel.sock)
            channel.sock.close()
        self.selector.close()
        if self.pool is not None:
            self.pool.shutdown(wait=False, cancel_futures=True)


def _tcp_exchange(pending: _Pending, address: str, port: int, timeout: float) -> bytes:
    """One query over TCP; returns the raw reply so the UDP parser judges it too."""
    query_id = random.getrandbits(16)
    wire = pending.template.with_id(query_id)
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        try:
            sock.connect((address, port))
            dns.query.send_tcp(sock, wire, time.time() + timeout)
            length = int.from_bytes(_read_exact(sock, 2), "big")
            reply = _read_exact(sock, length)
        except TimeoutError as exc:
            raise dns.exception.Timeout from exc
    if reply[:2] != wire[:2]:
        raise ConnectionError("reply with a mismatched message ID")
    return reply


def _read_exact(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise ConnectionError("connection closed before the reply was complete")
        data += chunk
    return data


def _result(
    query: Query, result: Result, rtt: float | None = None, detail: str = "", over_tcp: bool = False
) -> ProbeResult:
    return ProbeResult(query, result, rtt, detail=detail, over_tcp=over_tcp)
