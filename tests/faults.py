"""A DNS server that fails the ways real ones do over TCP, and replies that break the rules.

    with FaultServer("trickle") as server:       # UDP says "truncated"; TCP drips the reply
        ...

Modes (UDP always answers with TC set, pushing the client to TCP, unless noted):
  trickle      TCP reply sent one byte every ``drip`` seconds
  tcp_silent   TCP accepts and reads the query, never answers
  tcp_reset    TCP reads the query, then resets the connection
  tcp_no_qr    TCP answers with the QR flag clear
  opcode       UDP answers with opcode NOTIFY instead of QUERY (no TC)
  esc_txt      UDP answers TXT with terminal escape sequences (no TC)
  ok           a plain answer over UDP (no TC)
Every socket is on 127.0.0.1; threads stop with the server.
"""

from __future__ import annotations

import socket
import struct
import threading
import time
from types import TracebackType
from typing import Self

import dns.exception
import dns.flags
import dns.message
import dns.rdatatype
import dns.rrset

from tests.nameserver import _bind_pair

ESCAPES = "\x1b[2J\x1b[31mpwned\x1b[0m\x07"


def _answer(query: dns.message.Message) -> dns.message.Message:
    reply = dns.message.make_response(query)
    reply.flags |= dns.flags.AA | dns.flags.RA
    name = query.question[0].name
    if query.question[0].rdtype == dns.rdatatype.TXT:
        reply.answer.append(dns.rrset.from_text(name, 300, "IN", "TXT", '"hello"'))
    else:
        reply.answer.append(dns.rrset.from_text(name, 300, "IN", "A", "127.20.1.15"))
    return reply


class FaultServer:
    """UDP and TCP on one loopback port, misbehaving as ``mode`` says."""

    def __init__(self, mode: str, drip: float = 0.5) -> None:
        self.mode = mode
        self.drip = drip
        self.udp, self.tcp = _bind_pair()
        self.port: int = self.udp.getsockname()[1]
        self.tcp_connections = 0
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=f, daemon=True) for f in (self._serve_udp, self._serve_tcp)
        ]

    def __enter__(self) -> Self:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:  # fmt: skip
        self._stop.set()
        self.udp.close()
        self.tcp.close()

    def udp_reply(self, query: dns.message.Message) -> bytes:
        reply = _answer(query)
        if self.mode == "opcode":
            wire = bytearray(reply.to_wire())
            wire[2] = (wire[2] & 0x87) | (4 << 3)  # opcode NOTIFY
            return bytes(wire)
        if self.mode == "esc_txt":
            name = query.question[0].name
            reply.answer = [dns.rrset.from_text(name, 300, "IN", "TXT", f'"{ESCAPES}"')]
            return reply.to_wire()
        if self.mode != "ok":
            reply.answer = []
            reply.flags |= dns.flags.TC
        return reply.to_wire()

    def _serve_udp(self) -> None:
        self.udp.settimeout(0.1)
        while not self._stop.is_set():
            try:
                wire, peer = self.udp.recvfrom(65535)
                self.udp.sendto(self.udp_reply(dns.message.from_wire(wire)), peer)
            except (TimeoutError, OSError, dns.exception.DNSException):
                continue

    def _serve_tcp(self) -> None:
        self.tcp.settimeout(0.1)
        while not self._stop.is_set():
            try:
                conn, _ = self.tcp.accept()
            except (TimeoutError, OSError):
                continue
            self.tcp_connections += 1
            threading.Thread(target=self._connection, args=(conn,), daemon=True).start()

    def _connection(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(5)
            try:
                size = struct.unpack("!H", conn.recv(2))[0]
                query = dns.message.from_wire(conn.recv(size))
            except (OSError, struct.error, dns.exception.DNSException):
                return
            reply = _answer(query)
            if self.mode == "tcp_no_qr":
                reply.flags &= ~dns.flags.QR
            wire = reply.to_wire()
            framed = struct.pack("!H", len(wire)) + wire
            if self.mode == "tcp_silent":
                self._stop.wait(10)
            elif self.mode == "tcp_reset":
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            elif self.mode == "trickle":
                self._trickle(conn, framed)
            else:
                conn.sendall(framed)

    def _trickle(self, conn: socket.socket, framed: bytes) -> None:
        for i in range(len(framed)):
            if self._stop.is_set():
                return
            try:
                conn.sendall(framed[i : i + 1])
            except OSError:
                return
            time.sleep(self.drip)
