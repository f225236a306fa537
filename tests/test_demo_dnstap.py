"""The demo's resolvers send dnstap as BIND and Unbound do: serve's listener takes it with
the Frame Streams handshake, a listener that goes away costs only what it missed, and the
file holds everything for ``dnsmon learn``."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import dns.message
import dns.query
import pytest

from monitor.demo.authoritative import AuthoritativeServer, load_demo_zones
from monitor.demo.dnstap import RETRY_SECONDS, Tap
from monitor.demo.hosts import PRINT_SERVER
from monitor.demo.resolver import CachingResolver
from monitor.learning import readers
from monitor.learning.messages import Message
from monitor.learning.readers import dnstap
from monitor.serving.dnstap import Listener

LOOPBACK = "127.0.0.1"


@pytest.fixture
def resolver() -> Iterator[CachingResolver]:
    with AuthoritativeServer(load_demo_zones(), LOOPBACK, 0) as upstream:
        with CachingResolver([(LOOPBACK, upstream.port)], LOOPBACK, 0) as server:
            yield server


class Received:
    """What a serve-side listener was sent, and any damage it saw."""

    def __init__(self, socket_path: Path) -> None:
        self.frames: list[bytes] = []
        self.damage: list[str] = []
        self.listener = Listener((f"unix:{socket_path}",), self._frame, self.damage.append)

    def _frame(self, _source: str, frame: bytes) -> None:
        self.frames.append(frame)

    def messages(self, count: int) -> list[Message]:
        deadline = time.monotonic() + 5
        while len(self.frames) < count and time.monotonic() < deadline:
            time.sleep(0.02)
        found = [dnstap.decode(frame) for frame in self.frames]
        assert all(isinstance(m, Message) for m in found), found
        return found  # type: ignore[return-value]


def ask(resolver: CachingResolver, name: str) -> None:
    query = dns.message.make_query(name, "A")
    dns.query.udp(query, LOOPBACK, port=resolver.port, timeout=2, source=PRINT_SERVER.address)


def test_each_answer_reaches_the_listener_and_the_file(
    resolver: CachingResolver, tmp_path: Path
) -> None:
    received = Received(tmp_path / "tap.sock")
    received.listener.start()
    tap = Tap(tmp_path / "tap.sock", tmp_path / "resolver.dnstap")
    resolver.tap = tap.answered
    try:
        ask(resolver, "wardlist.region.internal")
        [message] = received.messages(1)
    finally:
        tap.close()
        received.listener.stop()
    assert message.client == PRINT_SERVER.address
    assert (message.name, message.type, message.rcode) == ("wardlist.region.internal", "A",
                                                          "NOERROR")  # fmt: skip
    assert message.cnames == ("ehr-ro.region.internal",)
    assert received.damage == []
    fmt, items = readers.read(tmp_path / "resolver.dnstap")
    assert fmt == "dnstap" and [m.name for m in items] == ["wardlist.region.internal"]  # type: ignore[union-attr]


def test_a_listener_that_goes_away_costs_only_what_it_missed(
    resolver: CachingResolver, tmp_path: Path
) -> None:
    path = tmp_path / "tap.sock"
    tap = Tap(path, tmp_path / "resolver.dnstap")
    resolver.tap = tap.answered
    ask(resolver, "ehr.region.internal")  # nobody listens yet: dropped, the answer still sent
    first = Received(path)
    first.listener.start()
    time.sleep(RETRY_SECONDS + 0.1)
    ask(resolver, "ehr-db.region.internal")
    assert [m.name for m in first.messages(1)] == ["ehr-db.region.internal"]
    first.listener.stop()
    ask(resolver, "lab.region.internal")  # the connection is gone: dropped, no error
    second = Received(path)
    second.listener.start()
    time.sleep(RETRY_SECONDS + 0.1)
    ask(resolver, "pacs.region.internal")
    ask(resolver, "pacs.region.internal")  # the first may meet the old, closed connection
    try:
        assert "pacs.region.internal" in [m.name for m in second.messages(1)]
    finally:
        tap.close()
        second.listener.stop()
    _, items = readers.read(tmp_path / "resolver.dnstap")
    assert [m.name for m in items] == [  # type: ignore[union-attr]
        "ehr.region.internal", "ehr-db.region.internal", "lab.region.internal",
        "pacs.region.internal", "pacs.region.internal",
    ]  # fmt: skip
