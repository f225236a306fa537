"""dnstap out of the demo's resolvers, as BIND and Unbound send it: to ``serve``'s socket
and to a file.

Each answer to a client becomes a CLIENT_RESPONSE message (the client's address and the
reply as sent). The socket gets the bidirectional Frame Streams handshake a real
resolver opens with (READY → ACCEPT, START … STOP → FINISH); while nobody listens, the
messages for it are dropped, as a resolver drops them, and the connection is tried again
a second later. The file holds every message, so ``dnsmon learn`` can read it afterwards.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
import time
from pathlib import Path

from dnstap_pb import dnstap_pb2

from monitor.learning.readers import framestreams
from monitor.learning.readers.framestreams import CONTENT_TYPE, Control, Decoder

RETRY_SECONDS = 1.0
HANDSHAKE_SECONDS = 1.0
CLIENT_RESPONSE = dnstap_pb2.Message.CLIENT_RESPONSE


def message(client: tuple[str, int], wire: bytes, at: float, kind: int = CLIENT_RESPONSE) -> bytes:
    """One dnstap data frame: ``wire`` (a reply, or with ``kind`` a query) from or to
    ``client`` at time ``at``."""
    envelope = dnstap_pb2.Dnstap(type=dnstap_pb2.Dnstap.MESSAGE)
    found = envelope.message
    found.type = kind
    address = ipaddress.ip_address(client[0])
    found.socket_family = 1 if address.version == 4 else 2
    found.socket_protocol = 1  # UDP
    found.query_address, found.query_port = address.packed, client[1]
    seconds, nanoseconds = int(at), int((at % 1) * 1e9)
    if kind % 2:  # dnstap numbers each kind of query odd, its response even
        found.query_time_sec, found.query_time_nsec = seconds, nanoseconds
        found.query_message = wire
    else:
        found.response_time_sec, found.response_time_nsec = seconds, nanoseconds
        found.response_message = wire
    return framestreams.data_frame(envelope.SerializeToString())


class Tap:
    """A resolver's dnstap output: ``unix:PATH`` of a listening ``serve``, and a file."""

    def __init__(self, socket_path: Path, capture: Path) -> None:
        self.socket_path = socket_path
        self.capture = capture.open("wb")
        self.capture.write(framestreams.control(framestreams.START, CONTENT_TYPE))
        self._sock: socket.socket | None = None
        self._retry_at = 0.0
        self._lock = threading.Lock()

    def answered(self, client: tuple[str, int], reply: bytes) -> None:
        """A reply sent to a client (the resolver's hook, on its handler threads)."""
        frame = message(client, reply, time.time())
        with self._lock:
            if self.capture.closed:
                return
            self.capture.write(frame)
            self._send(frame)

    def close(self) -> None:
        """STOP to both; FINISH awaited from the socket, as a resolver does at shutdown."""
        with self._lock:
            if self.capture.closed:
                return
            self.capture.write(framestreams.control(framestreams.STOP))
            self.capture.close()
            if self._sock is not None:
                try:
                    self._sock.sendall(framestreams.control(framestreams.STOP))
                    _await(self._sock, framestreams.FINISH)
                except OSError:
                    pass
                self._sock.close()
                self._sock = None

    def _send(self, frame: bytes) -> None:
        if self._sock is None and time.monotonic() >= self._retry_at:
            self._sock = self._connect()
        if self._sock is None:
            return
        try:
            self._sock.sendall(frame)
        except OSError:  # serve went away: drop, and connect again later
            self._sock.close()
            self._sock, self._retry_at = None, time.monotonic() + RETRY_SECONDS

    def _connect(self) -> socket.socket | None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(HANDSHAKE_SECONDS)
        try:
            sock.connect(str(self.socket_path))
            sock.sendall(framestreams.control(framestreams.READY, CONTENT_TYPE))
            _await(sock, framestreams.ACCEPT)
            sock.sendall(framestreams.control(framestreams.START, CONTENT_TYPE))
        except OSError:
            sock.close()
            self._retry_at = time.monotonic() + RETRY_SECONDS
            return None
        return sock


def _await(sock: socket.socket, kind: int) -> None:
    """Read until the control frame ``kind`` comes; OSError if the other side says else."""
    decoder = Decoder()
    while data := sock.recv(4096):
        decoder.feed(data)
        for frame in decoder.frames():
            if isinstance(frame, Control) and frame.type == kind:
                return
            raise OSError(f"expected Frame Streams control {kind}, got {frame!r}")
    raise OSError("the dnstap listener closed the connection")
