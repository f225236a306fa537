"""One DNS question over TCP, as a non-blocking state machine the round's event loop drives.

connect → send the length-prefixed query → read the two-byte length and the reply. The
loop calls ``step`` when the socket is ready and ``expired`` against the attempt's deadline:
a server that accepts and then trickles its reply a byte at a time is cut off at the
deadline like one that never answers, and no thread ever waits on a slow server.
"""

from __future__ import annotations

import errno
import selectors
import socket
from dataclasses import dataclass, field
from enum import Enum


class Stage(Enum):
    CONNECTING = "connecting"
    SENDING = "sending"
    RECEIVING = "receiving"
    DONE = "done"


class TcpFailed(Exception):
    """The exchange failed before a whole reply arrived; the message says how."""


@dataclass(eq=False)
class Exchange:
    """A query's wire on its way over one TCP connection, and what came back so far."""

    address: str
    port: int
    wire: bytes
    started: float
    deadline: float
    source: str | None = None  # the local address to connect from; None: any
    sock: socket.socket = field(init=False)
    stage: Stage = field(default=Stage.CONNECTING, init=False)
    out: bytes = field(default=b"", init=False)
    received: bytearray = field(default_factory=bytearray, init=False)

    def open(self) -> None:
        """Start connecting; raises TcpFailed when even that fails at once."""
        family = socket.AF_INET6 if ":" in self.address else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.setblocking(False)
        self.out = len(self.wire).to_bytes(2, "big") + self.wire
        try:
            if self.source is not None:
                self.sock.bind((self.source, 0))
        except OSError as exc:
            self.close()
            raise TcpFailed(f"TCP failed: {exc.strerror or exc}") from exc
        code = self.sock.connect_ex((self.address, self.port))
        if code not in (0, errno.EINPROGRESS, errno.EWOULDBLOCK):
            self.close()
            raise TcpFailed(f"TCP failed: {errno.errorcode.get(code, code)}")

    @property
    def events(self) -> int:
        """What the loop should wait for on this socket now."""
        return selectors.EVENT_READ if self.stage is Stage.RECEIVING else selectors.EVENT_WRITE

    def step(self) -> bytes | None:
        """Advance on a ready socket; the reply once it is whole, else None."""
        if self.stage is Stage.CONNECTING:
            code = self.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if code:
                raise TcpFailed(f"TCP failed: {errno.errorcode.get(code, code)}")
            self.stage = Stage.SENDING
        if self.stage is Stage.SENDING:
            self._send()
            return None
        return self._receive()

    def _send(self) -> None:
        try:
            sent = self.sock.send(self.out)
        except BlockingIOError:
            return
        except OSError as exc:
            raise TcpFailed(f"TCP failed: {exc.strerror or exc}") from exc
        self.out = self.out[sent:]
        if not self.out:
            self.stage = Stage.RECEIVING

    def _receive(self) -> bytes | None:
        try:
            chunk = self.sock.recv(65537)
        except BlockingIOError:
            return None
        except OSError as exc:
            raise TcpFailed(f"TCP failed: {exc.strerror or exc}") from exc
        if not chunk:
            raise TcpFailed("TCP connection closed before the reply was complete")
        self.received += chunk
        if len(self.received) < 2:
            return None
        size = int.from_bytes(self.received[:2], "big")
        if len(self.received) < 2 + size:
            return None
        self.stage = Stage.DONE
        return bytes(self.received[2 : 2 + size])

    def why_late(self) -> str:
        """What had happened when the deadline passed."""
        if self.stage is Stage.RECEIVING and self.received:
            size = int.from_bytes(self.received[:2], "big") if len(self.received) >= 2 else 0
            return f"the reply came too slowly ({len(self.received) - 2} of {size} bytes)"
        if self.stage is Stage.RECEIVING:
            return "connected, but no reply"
        return "no TCP connection"

    def close(self) -> None:
        self.sock.close()
