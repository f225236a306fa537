"""An in-process test nameserver on port 0 with one handler per scenario.

A handler receives the parsed query and returns reply bytes, a ``dns.message.Message``,
or None to stay silent. Unit tests use it for exact control of what a server says.
"""

from __future__ import annotations

import socket
import struct
import threading
from collections.abc import Callable

import dns.flags
import dns.message
import dns.rrset

Reply = bytes | dns.message.Message | None
Handler = Callable[[dns.message.Message], Reply]


class TestNameserver:
    """UDP and TCP on 127.0.0.1, the same port, answered by ``handler``."""

    __test__ = False  # not a pytest class

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.udp, self.tcp = _bind_pair()
        self.port = self.udp.getsockname()[1]
        self.queries = 0
        self.tcp_queries = 0
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=f, daemon=True) for f in (self._serve_udp, self._serve_tcp)
        ]

    def __enter__(self) -> TestNameserver:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self.udp.close()
        self.tcp.close()

    def _answer(self, wire: bytes, tcp: bool = False) -> bytes | None:
        try:
            query = dns.message.from_wire(wire)
        except Exception:
            return None
        query.via_tcp = tcp  # type: ignore[attr-defined]  # lets a handler truncate UDP only
        reply = self.handler(query)
        if isinstance(reply, dns.message.Message):
            return reply.to_wire(max_size=65535)
        return reply

    def _serve_udp(self) -> None:
        try:
            self.udp.settimeout(0.2)
        except OSError:
            return  # closed before this thread began: a test that was over at once
        while not self._stop.is_set():
            try:
                wire, peer = self.udp.recvfrom(65535)
            except (TimeoutError, OSError):
                continue
            self.queries += 1
            reply = self._answer(wire)
            if reply is not None:
                self.udp.sendto(reply, peer)

    def _serve_tcp(self) -> None:
        try:
            self.tcp.settimeout(0.2)
        except OSError:
            return  # closed before this thread began: a test that was over at once
        while not self._stop.is_set():
            try:
                conn, _ = self.tcp.accept()
            except (TimeoutError, OSError):
                continue
            with conn:
                self.tcp_queries += 1
                conn.settimeout(2)
                try:
                    size = struct.unpack("!H", conn.recv(2))[0]
                    reply = self._answer(conn.recv(size), tcp=True)
                    if reply is not None:
                        conn.sendall(struct.pack("!H", len(reply)) + reply)
                except (OSError, struct.error):
                    pass


def _bind_pair() -> tuple[socket.socket, socket.socket]:
    """UDP and TCP sockets on one free port; retried because the TCP port may be taken."""
    for _ in range(20):
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        udp.bind(("127.0.0.1", 0))
        tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            tcp.bind(("127.0.0.1", udp.getsockname()[1]))
        except OSError:
            udp.close()
            tcp.close()
            continue
        tcp.listen(16)
        return udp, tcp
    raise OSError("no free port for both UDP and TCP")


def answer(
    query: dns.message.Message, *rrsets: str, aa: bool = True, ra: bool = True, rcode: int = 0
) -> dns.message.Message:
    """A reply carrying ``rrsets`` given as zone-file lines (``name ttl IN type data``).

    By default it says both AA and RA, so it serves as a resolver's and an authoritative
    server's answer alike.
    """
    reply = dns.message.make_response(query)
    if aa:
        reply.flags |= dns.flags.AA
    if ra:
        reply.flags |= dns.flags.RA
    reply.set_rcode(rcode)
    for text in rrsets:
        name, ttl, rdclass, rdtype, *data = text.split()
        reply.answer.append(dns.rrset.from_text(name, int(ttl), rdclass, rdtype, " ".join(data)))
    return reply
