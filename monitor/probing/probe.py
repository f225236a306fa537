"""Ask one round of queries with dnspython; every query ends in a result, never an exception.

One non-blocking UDP socket per server carries all of that server's queries, matched by
message ID, so a round of thousands of names costs no socket per query. Each server has
its own send pace (never above ``max_qps_per_server``) and a bound on queries in flight.
TCP (for truncated replies, or ``transport: tcp``) runs in the same event loop, one
non-blocking connection per question and a few per server at most, so no server's TCP
can hold up another's.

Every query has one deadline, ``timeout × attempts`` from its first send, across UDP,
TCP and the fall-back between them: a silent, trickling or flapping server cannot make
a round longer than that (plus pacing). A server that answers nothing at all within a
round is given up on, over UDP and over TCP alike.
"""

from __future__ import annotations

import heapq
import math
import random
import selectors
import socket
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from monitor.probing import fastwire
from monitor.probing.plan import Purpose, Query
from monitor.probing.results import ProbeResult
from monitor.probing.tcp import Exchange, TcpFailed
from monitor.probing.wire import (
    EDNS_REJECTED,
    QUESTIONLESS,
    Malformed,
    Reply,
    ReplyParser,
    Template,
    classify_reply,
    qtype_code,
    template,
)
from monitor.states import Result, Transport

MIN_IN_FLIGHT_PER_SERVER = 64
TCP_PER_SERVER = 8  # open TCP connections to one server at most
# A server that has answered nothing in this round after this many queries failed is
# not asked the rest: a dead server must not stretch the round by names × timeout.
GIVE_UP_AFTER_TIMEOUTS = 16
GIVE_UP_AFTER_TCP_FAILURES = 4
# A server that refused EDNS is asked without it; after this long, EDNS is tried again
# (RFC 6891 section 7: an upgraded server should not stay on the old path for ever).
EDNS_RETRY_SECONDS = 3600.0
OPCODE_QUERY = 0
PACING_GRANULE = 0.005  # seconds a paced query may go early, so wakes come in batches
SEND_BURST = 64  # queries sent to one server before the replies waiting are read
# Datagrams read from one server's socket per turn of the loop: a flood of junk at the
# query port must leave time to send, to read the other servers and to time out.
RECEIVE_BURST = 256
# Bytes of replies one server may send in a round before the rest go unread: a hostile or
# broken server answering every name with 64 KiB over TCP must not make a round unbounded.
REPLY_BUDGET_BASE = 1 << 20
REPLY_BUDGET_PER_QUERY = 4096
MAX_IN_FLIGHT_PER_SERVER = 2048
RECEIVE_BUFFER = 1 << 20  # bytes: replies to a burst of queries must not be dropped
PORT_UNREACHABLE = "port unreachable"


@dataclass(frozen=True)
class ProbeSettings:
    """How to ask: from the config's defaults."""

    timeout: float = 2.0
    attempts: int = 2
    transport: Transport = Transport.UDP
    max_qps_per_server: float = 200.0


@dataclass(eq=False)
class _Pending:
    query: Query
    template: Template
    qtype: int
    attempt: int = 0
    sent: dict[int, float] = field(default_factory=dict)  # each attempt's ID → when sent
    first_sent: float | None = None
    deadline: float = 0.0  # of the current attempt
    over_tcp: bool = False
    truncated: bool = False  # came to TCP because the UDP reply was truncated
    requeued: bool = False  # waiting in the queue to be asked again
    retried: bool = False  # answered only to a later attempt: the first was lost

    def budget_end(self, settings: ProbeSettings) -> float:
        """The one deadline of the whole query, whatever transports it goes through."""
        assert self.first_sent is not None
        return self.first_sent + settings.timeout * settings.attempts


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
        return _Pending(query, self.template(query, edns), qtype_code(query.type))

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


ChannelKey = tuple[str, int, str | None]  # server address, port, and the source asked from


class _Channel:
    """One server, asked from one source address: its UDP socket, its queues, its pace
    and what is outstanding."""

    def __init__(self, key: ChannelKey, gap: float, max_in_flight: int) -> None:
        address, port, source = key
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_DGRAM)
        self.sock.setblocking(False)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER)
        self.unusable = ""  # why this server cannot be asked from here at all
        try:
            if source is not None:  # as the clients of that address ask (split views)
                self.sock.bind((source, 0))
            self.sock.connect((address, port))  # the kernel drops datagrams from anyone else
        except OSError as exc:
            where = f" from {source}" if source is not None else ""
            self.unusable = f"cannot ask{where}: {exc.strerror or exc}"
        self.address, self.port, self.source = address, port, source
        self.gap = gap
        self.max_in_flight = max_in_flight
        self.next_send = 0.0  # set to the round's start, so the first two are a gap apart
        self.queue: deque[_Pending] = deque()  # to ask (or ask again) over UDP
        self.in_flight: set[_Pending] = set()  # asked over UDP, awaiting a reply
        self.deadlines: list[tuple[float, int, _Pending]] = []  # a heap, stale entries too
        self.sends = 0
        self.by_id: dict[int, _Pending] = {}  # every ID still accepted, late replies too
        self.tcp_queue: deque[_Pending] = deque()  # to ask over TCP
        self.tcp_open: dict[_Pending, Exchange] = {}
        self.problem = ""  # the last malformed or unreachable report, for timed-out queries
        self.dropped = 0  # datagrams that answered no question in flight
        self.edns = True  # False once the server answered EDNS with FORMERR, NOTIMP or BADVERS
        self.datagrams = 0  # anything received over UDP this round
        self.reply_bytes = 0  # of the replies read this round, both transports
        self.budget = REPLY_BUDGET_BASE
        self.timeouts = 0  # queries that failed every attempt
        self.tcp_replies = 0
        self.tcp_failures = 0

    def new_id(self) -> int:
        while True:
            query_id = random.getrandbits(16)
            if query_id not in self.by_id:
                return query_id

    @property
    def can_send(self) -> bool:
        return bool(self.queue) and len(self.in_flight) < self.max_in_flight

    @property
    def can_open_tcp(self) -> bool:
        return bool(self.tcp_queue) and len(self.tcp_open) < TCP_PER_SERVER

    @property
    def busy(self) -> bool:
        return bool(self.queue or self.in_flight or self.tcp_queue or self.tcp_open)

    @property
    def given_up(self) -> bool:
        return self.datagrams == 0 and self.timeouts >= GIVE_UP_AFTER_TIMEOUTS

    @property
    def tcp_given_up(self) -> bool:
        return self.tcp_replies == 0 and self.tcp_failures >= GIVE_UP_AFTER_TCP_FAILURES

    def next_deadline(self) -> float | None:
        """The earliest deadline of a query still in flight over UDP."""
        heap = self.deadlines
        while heap and (heap[0][2] not in self.in_flight or heap[0][2].deadline != heap[0][0]):
            heapq.heappop(heap)  # finished, or asked again since: its entry is stale
        return heap[0][0] if heap else None

    def expired(self, now: float) -> list[_Pending]:
        """The queries in flight whose attempt's deadline has passed, taken out of flight."""
        out = []
        while (deadline := self.next_deadline()) is not None and deadline <= now:
            pending = heapq.heappop(self.deadlines)[2]
            self.in_flight.discard(pending)
            out.append(pending)
        return out

    def forget(self, pending: _Pending) -> None:
        """The query is finished: no reply to any of its attempts counts any more."""
        for query_id in pending.sent:
            if self.by_id.get(query_id) is pending:
                del self.by_id[query_id]
        self.in_flight.discard(pending)


class _Round:
    """The state of one round; lives only while the round runs."""

    def __init__(self, prober: Prober, queries: list[Query], spread: float) -> None:
        self.prober = prober
        self.settings = prober.settings
        self.clock = prober.clock
        self.results: list[ProbeResult] = []
        self.selector = selectors.DefaultSelector()
        self.channels: dict[ChannelKey, _Channel] = {}
        self._build_channels(queries, spread)

    def _build_channels(self, queries: list[Query], spread: float) -> None:
        counts: dict[ChannelKey, int] = {}
        for q in queries:
            key = (q.server.address, q.server.port, q.shape.source)
            counts[key] = counts.get(key, 0) + 1
        min_gap = 1.0 / self.settings.max_qps_per_server
        # Enough in flight that pacing, not waiting for timeouts, sets a dead server's pace.
        bound = max(
            MIN_IN_FLIGHT_PER_SERVER,
            min(
                MAX_IN_FLIGHT_PER_SERVER,
                math.ceil(self.settings.max_qps_per_server * self.settings.timeout),
            ),
        )
        for q in queries:
            key = (q.server.address, q.server.port, q.shape.source)
            channel = self.channels.get(key)
            if channel is None:
                gap = max(min_gap, spread / counts[key] if spread else 0.0)
                channel = self.channels[key] = _Channel(key, gap, bound)
                channel.budget = REPLY_BUDGET_BASE + REPLY_BUDGET_PER_QUERY * counts[key]
                channel.next_send = self.clock()
                channel.edns = self.prober.speaks_edns(key[0], key[1])
                self.selector.register(channel.sock, selectors.EVENT_READ, channel)
            if channel.unusable:
                self.results.append(_result(q, Result.ERROR, detail=channel.unusable))
                continue
            channel.queue.append(self.prober.pending(q, channel.edns and q.shape.edns))

    def run(self) -> list[ProbeResult]:
        try:
            while any(c.busy for c in self.channels.values()):
                self._step()
        finally:
            self._close()
        return self.results

    def _step(self) -> None:
        now = self.clock()
        wake = now + 0.25
        for channel in self.channels.values():
            wake = min(wake, self._send_due(channel, now))
        for key, _ in self.selector.select(max(0.0, wake - self.clock())):
            if isinstance(key.data, _Channel):
                self._receive(key.data)
            else:
                self._tcp_ready(*key.data)
        now = self.clock()
        for channel in self.channels.values():
            self._expire(channel, now)

    # --- sending ------------------------------------------------------------------------

    def _send_due(self, channel: _Channel, now: float) -> float:
        """Send what the pace and the bounds allow; return the next wake time.

        What falls due within the next few milliseconds goes now: waking for each query
        of a spread-out round would cost more CPU than asking it.
        """
        for _ in range(SEND_BURST):  # then read replies, so none overflow the socket
            if channel.next_send > now + PACING_GRANULE or not self._send_next(channel, now):
                break
            # A late loop may catch up by one query, never more: no bursts, no lost rate.
            channel.next_send = max(channel.next_send + channel.gap, now)
        deadlines = [e.deadline for e in channel.tcp_open.values()]
        udp = channel.next_deadline()
        if udp is not None:
            deadlines.append(udp)
        wake = min(deadlines, default=now + 0.25)
        if channel.queue or channel.tcp_queue:
            wake = min(wake, channel.next_send - PACING_GRANULE)
        return wake

    def _send_next(self, channel: _Channel, now: float) -> bool:
        """Ask the next question the bounds allow; False when none may go now."""
        if channel.can_open_tcp:
            self._open_tcp(channel, channel.tcp_queue.popleft(), now)
        elif self.settings.transport is Transport.TCP and not _as_clients_ask(channel.queue):
            if not channel.queue or len(channel.tcp_open) >= TCP_PER_SERVER:
                return False
            self._open_tcp(channel, channel.queue.popleft(), now)
        elif channel.can_send:
            self._send(channel, channel.queue.popleft(), now)
        else:
            return False
        return True

    def _start(self, channel: _Channel, pending: _Pending, now: float) -> bool:
        """Count an attempt and fit the question to what the server speaks; False (and a
        timeout) when the query's time is already up."""
        if pending.first_sent is None:
            pending.first_sent = now
        elif now >= pending.budget_end(self.settings):
            over = " over TCP" if pending.over_tcp else ""
            self._timeout(pending, f"no answer{over} in time")
            return False
        pending.attempt += 1
        pending.deadline = min(now + self.settings.timeout, pending.budget_end(self.settings))
        if pending.template.edns and not channel.edns:
            pending.template = self.prober.template(pending.query, edns=False)
        return True

    def _send(self, channel: _Channel, pending: _Pending, now: float) -> None:
        pending.requeued = False
        if not self._start(channel, pending, now):
            channel.forget(pending)
            return
        query_id = channel.new_id()
        pending.sent[query_id] = now
        channel.by_id[query_id] = pending
        channel.in_flight.add(pending)
        channel.sends += 1
        heapq.heappush(channel.deadlines, (pending.deadline, channel.sends, pending))
        try:
            channel.sock.send(pending.template.with_id(query_id))
        except ConnectionRefusedError:
            channel.problem = PORT_UNREACHABLE
        except OSError as exc:
            channel.problem = f"send failed: {exc.strerror or exc}"

    # --- receiving over UDP ---------------------------------------------------------------

    def _receive(self, channel: _Channel) -> None:
        for _ in range(RECEIVE_BURST):  # the rest waits for the next turn (still readable)
            try:
                wire = channel.sock.recv(65535)
            except BlockingIOError:
                return
            except ConnectionRefusedError:
                channel.problem = PORT_UNREACHABLE
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
        pending = channel.by_id.get(query_id)
        if pending is None:
            self._stray(channel, "with a message ID not asked")
            return
        if not _asks_the_same(wire, flags, pending.template.question):
            self._stray(channel, "to another question")
            return
        # The reply may answer an earlier attempt: timed from when that one was sent.
        rtt = now - pending.sent[query_id]
        pending.retried = query_id != next(iter(pending.sent))
        channel.forget(pending)
        if pending.requeued:
            channel.queue.remove(pending)  # it was waiting to be asked again (rare)
        channel.problem = ""  # a well-matched reply: earlier strays were not about this
        if flags & fastwire.TC and flags & fastwire.QR and not channel.unusable:
            pending.truncated = True
            self._to_tcp(channel, pending)
            return
        self._finish(channel, pending, wire, rtt)

    def _stray(self, channel: _Channel, what: str) -> None:
        """A datagram that is not the reply to a question in flight (a spoofer's guess, a
        late duplicate): dropped, counted, and the query waits on for its own reply."""
        channel.dropped += 1
        channel.problem = f"{channel.dropped} replies {what} dropped"

    # --- TCP --------------------------------------------------------------------------------

    def _to_tcp(self, channel: _Channel, pending: _Pending) -> None:
        """Ask over TCP next (a truncated reply), within the query's one deadline."""
        pending.over_tcp = True
        pending.attempt = 0  # TCP gets its own attempts, inside the same deadline
        channel.tcp_queue.append(pending)

    def _open_tcp(self, channel: _Channel, pending: _Pending, now: float) -> None:
        pending.over_tcp = True
        if not self._start(channel, pending, now):
            return
        if channel.tcp_given_up:
            self._give_up_tcp(pending, channel)
            return
        query_id = channel.new_id()
        exchange = Exchange(
            channel.address, channel.port, pending.template.with_id(query_id), now,
            pending.deadline, channel.source,
        )  # fmt: skip
        pending.sent = {query_id: now}
        try:
            exchange.open()
        except TcpFailed as exc:
            self._tcp_failed(channel, pending, str(exc), 0.0)
            return
        channel.tcp_open[pending] = exchange
        self.selector.register(exchange.sock, exchange.events, (channel, pending))

    def _tcp_ready(self, channel: _Channel, pending: _Pending) -> None:
        exchange = channel.tcp_open[pending]
        try:
            wire = exchange.step()
        except TcpFailed as exc:
            self._close_tcp(channel, pending)
            self._tcp_failed(channel, pending, str(exc), self.clock() - exchange.started)
            return
        if wire is None:
            self.selector.modify(exchange.sock, exchange.events, (channel, pending))
            return
        self._close_tcp(channel, pending)
        channel.tcp_replies += 1
        now = self.clock()
        query_id = next(iter(pending.sent))
        if wire[:2] != query_id.to_bytes(2, "big"):
            self._done(pending, Result.ERROR, now - exchange.started,
                       "reply over TCP with a mismatched message ID")  # fmt: skip
            return
        if len(wire) >= 4 and wire[2] << 8 & fastwire.TC:  # there is nothing more to ask for
            self._done(pending, Result.ERROR, now - exchange.started,
                       "reply truncated (TC) even over TCP")  # fmt: skip
            return
        self._finish(channel, pending, wire, now - exchange.started)

    def _close_tcp(self, channel: _Channel, pending: _Pending) -> None:
        exchange = channel.tcp_open.pop(pending)
        self.selector.unregister(exchange.sock)
        exchange.close()

    def _tcp_failed(self, channel: _Channel, pending: _Pending, why: str, rtt: float) -> None:
        channel.tcp_failures += 1
        if pending.truncated:
            why = f"truncated over UDP and {why}"
        self._done(pending, Result.ERROR, rtt, why)

    def _give_up_tcp(self, pending: _Pending, channel: _Channel) -> None:
        detail = f"not asked over TCP: its TCP failed {channel.tcp_failures} times this round"
        self._done(pending, Result.ERROR, detail=detail)

    # --- replies, both transports -----------------------------------------------------------

    def _finish(self, channel: _Channel, pending: _Pending, wire: bytes, rtt: float) -> None:
        """Judge a reply to ``pending``'s question, or ask again without EDNS; within the
        server's budget of reply bytes and the query's deadline, or not read at all."""
        channel.reply_bytes += len(wire)
        if channel.reply_bytes > channel.budget:
            why = f"not read: the server sent over {channel.budget // 1024} KiB of replies"
            self._done(pending, Result.ERROR, rtt, f"{why} this round")
            return
        if self.clock() > pending.deadline:
            self._timeout(pending, "answered, but read only after the query's deadline")
            return
        reply = self._read(pending, wire, rtt)
        if isinstance(reply, ProbeResult):
            self.results.append(reply)
        elif pending.template.edns and reply.rcode in EDNS_REJECTED:
            self._without_edns(channel, pending)
        else:
            self.results.append(self._judge(pending, reply, rtt, len(wire)))

    def _without_edns(self, channel: _Channel, pending: _Pending) -> None:
        """The server does not speak EDNS (RFC 6891 section 7): ask again without it."""
        channel.edns = False
        self.prober.refuses_edns(channel.address, channel.port)
        pending.attempt -= 1  # the refusal is an answer, not a lost attempt
        pending.template = self.prober.template(pending.query, edns=False)
        (channel.tcp_queue if pending.over_tcp else channel.queue).appendleft(pending)

    def _read(self, pending: _Pending, wire: bytes, rtt: float) -> Reply | ProbeResult:
        """The parsed reply, or the error result when it is not a reply to this question."""
        query = pending.query
        try:
            _, flags, _ = self.prober.parser.header(wire)
            if not flags & fastwire.QR:
                raise Malformed("reply without the QR flag")
            if (flags >> 11) & 0xF != OPCODE_QUERY:
                raise Malformed(f"reply with opcode {(flags >> 11) & 0xF}, not QUERY")
            reply = self.prober.parser.parse(wire, pending.qtype, pending.template.question)
        except Malformed as exc:
            return _result(query, Result.ERROR, rtt, str(exc), pending)
        if reply.question != pending.template.question and not (
            reply.question == b"" and reply.rcode in QUESTIONLESS
        ):
            return _result(query, Result.ERROR, rtt, "reply to another question", pending)
        return reply

    def _judge(self, pending: _Pending, reply: Reply, rtt: float, size: int) -> ProbeResult:
        query = pending.query
        result, detail = classify_reply(reply, query.recursion, query.expect)
        edns = reply.edns if pending.template.edns else False
        referral = reply.referral if result is Result.OK else None
        return ProbeResult(
            query, result, rtt, reply.ttl, reply.answers, detail, reply.serial,
            reply.soa_timers, reply.ede, reply.chain, referral, reply.flags, edns,
            pending.over_tcp, pending.truncated, size, int(reply.rcode), False, pending.retried,
            reply.sig_expiration, reply.negative_ttl,
        )  # fmt: skip

    # --- deadlines --------------------------------------------------------------------------

    def _expire(self, channel: _Channel, now: float) -> None:
        for pending in channel.expired(now):
            if pending.attempt < self.settings.attempts and now < pending.budget_end(self.settings):
                channel.queue.appendleft(pending)  # its earlier IDs still count if late
            else:
                channel.forget(pending)
                self._udp_timeout(channel, pending)
        for pending, exchange in [(p, e) for p, e in channel.tcp_open.items() if e.deadline <= now]:
            self._close_tcp(channel, pending)
            channel.tcp_failures += 1
            if pending.attempt < self.settings.attempts and now < pending.budget_end(self.settings):
                channel.tcp_queue.appendleft(pending)
            else:
                why = "truncated over UDP; over TCP " if pending.truncated else "over TCP: "
                self._timeout(pending, f"{why}{exchange.why_late()}")
        if channel.given_up and channel.queue:
            self._give_up(channel)
        if channel.tcp_given_up and channel.tcp_queue:
            while channel.tcp_queue:
                self._give_up_tcp(channel.tcp_queue.popleft(), channel)

    def _udp_timeout(self, channel: _Channel, pending: _Pending) -> None:
        if channel.problem and "unreachable" not in channel.problem:
            self._done(pending, Result.ERROR, detail=channel.problem)
            return
        channel.timeouts += 1
        tries = pending.attempt
        detail = f"no answer after {tries} attempt{'' if tries == 1 else 's'}"
        if channel.problem:
            detail += f" ({channel.problem})"
        closed = channel.problem == PORT_UNREACHABLE
        self.results.append(_result(pending.query, Result.TIMEOUT, None, detail, pending, closed))

    def _give_up(self, channel: _Channel) -> None:
        """Finish what is queued for a server that answered nothing this round."""
        detail = f"not asked: the server answered none of {channel.timeouts} queries this round"
        closed = channel.problem == PORT_UNREACHABLE
        if closed:
            detail += f" ({PORT_UNREACHABLE})"
        while channel.queue:
            pending = channel.queue.popleft()
            channel.forget(pending)
            self.results.append(
                _result(pending.query, Result.TIMEOUT, None, detail, pending, closed)
            )

    def _timeout(self, pending: _Pending, detail: str) -> None:
        self._done(pending, Result.TIMEOUT, detail=detail)

    def _done(
        self, pending: _Pending, result: Result, rtt: float | None = None, detail: str = ""
    ) -> None:
        self.results.append(_result(pending.query, result, rtt, detail, pending))

    def _close(self) -> None:
        for channel in self.channels.values():
            for pending in list(channel.tcp_open):
                self._close_tcp(channel, pending)
            self.selector.unregister(channel.sock)
            channel.sock.close()
        self.selector.close()


def _asks_the_same(wire: bytes, flags: int, question: bytes) -> bool:
    """The reply carries the question asked (or none, with an rcode that may omit it)."""
    if wire[12 : 12 + len(question)].lower() == question:
        return True
    return wire[4:6] == b"\x00\x00" and flags & 0xF in QUESTIONLESS


def _as_clients_ask(queue: deque[_Pending]) -> bool:
    """Whether the next question is a client's: stubs ask over UDP first, whatever
    ``transport`` dnsmon's own questions use, so their silence and truncation show."""
    return bool(queue) and queue[0].query.purpose is Purpose.CLIENT


def _result(
    query: Query,
    result: Result,
    rtt: float | None = None,
    detail: str = "",
    pending: _Pending | None = None,
    port_closed: bool = False,
) -> ProbeResult:
    """A result without a reply judged: how far the query got, and why it ended."""
    over_tcp = pending is not None and pending.over_tcp
    truncated = pending is not None and pending.truncated
    return ProbeResult(
        query, result, rtt, detail=detail, over_tcp=over_tcp, truncated=truncated,
        port_closed=port_closed,
    )  # fmt: skip
