"""Live dnstap: the unix and TCP sockets resolvers send their traffic to.

BIND, Unbound and Knot Resolver connect and speak Frame Streams' bidirectional
handshake: the sender says READY with the content types it can send, dnsmon answers
ACCEPT with dnstap's, the sender says START, sends data frames, and ends with STOP,
which dnsmon answers with FINISH. A sender that starts with START (unidirectional) is
read too. One thread serves every socket and connection; a connection that sends
something that is not Frame Streams is closed, and counted as malformed.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import socket
import stat
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from monitor.learning.messages import Malformed
from monitor.learning.readers import framestreams
from monitor.learning.readers.framestreams import Control, Decoder
from monitor.outputs.logs import LOGGER

MAX_CONNECTIONS = 64  # senders at once: a handful of resolvers, reconnecting
SOCKET_MODE = 0o660  # the resolvers' user must be in dnsmon's group to connect
RECEIVE = 1 << 16

Frame = Callable[[str, bytes], None]  # (source as configured, a dnstap data frame)
Damage = Callable[[str], None]  # a source sent something that is not Frame Streams


@dataclass(eq=False)
class _Connection:
    source: str
    sock: socket.socket
    decoder: Decoder = field(default_factory=Decoder)
    heard: float = field(default_factory=time.monotonic)  # when it last sent anything


class Listener:
    """The configured sockets and their connections, read on one thread."""

    def __init__(self, endpoints: tuple[str, ...], on_frame: Frame, on_damage: Damage) -> None:
        self.endpoints = endpoints
        self.on_frame, self.on_damage = on_frame, on_damage
        self.selector = selectors.DefaultSelector()
        self.listening: dict[socket.socket, str] = {}
        self.connections: dict[socket.socket, _Connection] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="dnsmon-dnstap", daemon=True)

    def start(self) -> None:
        """Open every socket that can be opened (the others are logged) and serve them."""
        for endpoint in self.endpoints:
            try:
                sock = _listen(endpoint)
            except OSError as exc:
                LOGGER.error("cannot listen for dnstap", extra={
                    "source": endpoint, "error": exc.strerror or str(exc)})  # fmt: skip
                continue
            self.listening[sock] = endpoint
            self.selector.register(sock, selectors.EVENT_READ)
            LOGGER.info("listening for dnstap", extra={"source": endpoint})
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2.0)
        for sock in [*self.connections, *self.listening]:
            with contextlib.suppress(OSError):
                sock.close()
        for endpoint in self.listening.values():
            if endpoint.startswith("unix:"):
                with contextlib.suppress(OSError):
                    os.unlink(endpoint[len("unix:") :])

    def _serve(self) -> None:
        while not self._stop.is_set():
            for key, _ in self.selector.select(timeout=0.2):
                sock = key.fileobj
                assert isinstance(sock, socket.socket)
                if sock in self.listening:
                    self._accept(sock)
                else:
                    self._read(self.connections[sock])

    def _accept(self, server: socket.socket) -> None:
        try:
            sock, _ = server.accept()
        except OSError:
            return
        if len(self.connections) >= MAX_CONNECTIONS:
            # The quietest goes, not the newcomer: a resolver that rebooted without
            # closing must not lock its next connection out.
            self._close(min(self.connections.values(), key=lambda c: c.heard))
        if sock.family != socket.AF_UNIX:
            _keep_alive(sock)
        sock.setblocking(False)
        self.connections[sock] = _Connection(self.listening[server], sock)
        self.selector.register(sock, selectors.EVENT_READ)

    def _read(self, conn: _Connection) -> None:
        try:
            data = conn.sock.recv(RECEIVE)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self._close(conn)
            return
        conn.heard = time.monotonic()
        conn.decoder.feed(data)
        try:
            for frame in conn.decoder.frames():
                if isinstance(frame, Control):
                    if not self._control(conn, frame):
                        return
                else:
                    self.on_frame(conn.source, frame)
        except Malformed:
            self.on_damage(conn.source)
            self._close(conn)

    def _control(self, conn: _Connection, frame: Control) -> bool:
        """Answer the handshake; False when the connection is done."""
        if frame.type == framestreams.READY:
            if frame.content_types and framestreams.CONTENT_TYPE not in frame.content_types:
                self.on_damage(conn.source)  # it sends something else than dnstap
                self._close(conn)
                return False
            self._send(conn, framestreams.control(framestreams.ACCEPT, framestreams.CONTENT_TYPE))
        elif frame.type == framestreams.STOP:
            self._send(conn, framestreams.control(framestreams.FINISH))
            self._close(conn)
            return False
        return True

    def _send(self, conn: _Connection, data: bytes) -> None:
        try:
            conn.sock.setblocking(True)
            conn.sock.settimeout(1.0)
            conn.sock.sendall(data)
            conn.sock.setblocking(False)
        except OSError:
            self._close(conn)

    def _close(self, conn: _Connection) -> None:
        if self.connections.pop(conn.sock, None) is not None:
            self.selector.unregister(conn.sock)
            conn.sock.close()


def _keep_alive(sock: socket.socket) -> None:
    """Probe a silent TCP peer after a minute, so a dead one is closed in two."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    for option, value in (("TCP_KEEPIDLE", 60), ("TCP_KEEPINTVL", 10), ("TCP_KEEPCNT", 6)):
        if hasattr(socket, option):  # Linux; elsewhere the system's defaults
            sock.setsockopt(socket.IPPROTO_TCP, getattr(socket, option), value)


def _listen(endpoint: str) -> socket.socket:
    """A listening socket for ``unix:PATH`` or ``ADDR:PORT``."""
    if endpoint.startswith("unix:"):
        path = Path(endpoint[len("unix:") :])
        if path.exists() and stat.S_ISSOCK(path.stat().st_mode):
            path.unlink()  # left by a dnsmon that did not stop cleanly
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.bind(str(path))
        os.chmod(path, SOCKET_MODE)
    else:
        host, _, port = endpoint.rpartition(":")
        host = host.strip("[]")
        sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, int(port)))
    sock.listen(16)
    sock.setblocking(False)
    return sock
