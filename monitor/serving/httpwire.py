"""HTTP/1.1 on the wire: one connection's bytes, read only on demand and parsed by h11.

``Channel`` never reads ahead: it asks the transport for one buffer, then pauses it until
the server wants more. Whatever a client sends beyond that waits in its own socket.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from http import HTTPStatus
from typing import Any

import h11

# Sent with every response, the server's own errors included.
COMMON_HEADERS = (("X-Content-Type-Options", "nosniff"), ("Cache-Control", "no-store"))
WRITE_SLICE = 64 * 1024  # a slow reader never makes the transport copy more than this


class Channel(asyncio.BufferedProtocol):
    """One connection's transport, read on demand: one buffer at most, then paused."""

    def __init__(self, chunk: int) -> None:
        self._buffer = bytearray(chunk)
        self._data = b""
        self._eof = False
        self._lost = False
        self._paused = False
        self._readable: asyncio.Future[None] | None = None
        self._writable: asyncio.Future[None] | None = None
        self.transport: asyncio.Transport | None = None
        self.on_lost: Callable[[], object] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.pause_reading()

    def get_buffer(self, sizehint: int) -> bytearray:
        return self._buffer

    def buffer_updated(self, nbytes: int) -> None:
        self._data += self._buffer[:nbytes]
        if self.transport is not None:
            self.transport.pause_reading()
        _wake(self._readable)

    def eof_received(self) -> bool:
        self._eof = True
        _wake(self._readable)
        return True  # keep the socket open for the answer; closed by close()

    def connection_lost(self, exc: Exception | None) -> None:
        self._lost = self._eof = True
        _wake(self._readable)
        _wake(self._writable)
        if self.on_lost is not None:
            self.on_lost()

    def pause_writing(self) -> None:
        self._paused = True

    def resume_writing(self) -> None:
        self._paused = False
        _wake(self._writable)

    async def read(self) -> bytes:
        """The next bytes from the client; b"" once it has closed its side."""
        if not self._data and not self._eof and self.transport is not None:
            self._readable = asyncio.get_running_loop().create_future()
            self.transport.resume_reading()
            try:
                await self._readable
            finally:
                self._readable = None
        data, self._data = self._data, b""
        return data

    async def write(self, chunks: Iterable[bytes]) -> None:
        for chunk in chunks:
            view = memoryview(chunk)
            for start in range(0, len(view), WRITE_SLICE):
                if self._lost or self.transport is None:
                    raise ConnectionResetError("the client went away")
                self.transport.write(view[start : start + WRITE_SLICE])
                while self._paused and not self._lost:
                    self._writable = asyncio.get_running_loop().create_future()
                    try:
                        await self._writable
                    finally:
                        self._writable = None

    def close(self, linger: float) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()
            asyncio.get_running_loop().call_later(linger, self.abort)

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()


def _wake(future: asyncio.Future[None] | None) -> None:
    if future is not None and not future.done():
        future.set_result(None)


async def next_event(conn: h11.Connection, channel: Channel) -> Any:
    """The next h11 event, reading from the client only when h11 needs more."""
    while True:
        event = conn.next_event()
        if event is h11.NEED_DATA:
            conn.receive_data(await channel.read())
            continue
        return None if isinstance(event, h11.ConnectionClosed) else event


def request_headers(event: h11.Request) -> dict[str, str]:
    headers: dict[str, str] = {}
    for name, value in event.headers:
        key, text = name.decode("latin-1"), value.decode("latin-1")
        headers[key] = f"{headers[key]}, {text}" if key in headers else text
    return headers


def head_size(event: h11.Request) -> int:
    return (
        len(event.method) + len(event.target) + sum(len(n) + len(v) + 4 for n, v in event.headers)
    )


def body_pending(conn: h11.Connection) -> bool:
    """Whether the client sent a body nobody read (then the connection must close)."""
    try:
        while conn.their_state is h11.SEND_BODY:
            if conn.next_event() is h11.NEED_DATA:
                return True
    except h11.RemoteProtocolError:
        return True
    return conn.their_state is not h11.DONE


def raw_response(status: int, text: str) -> bytes:
    """An answer outside h11's state machine: for requests it could not parse."""
    body = f"{text}\n".encode()
    head = [f"HTTP/1.1 {status} {HTTPStatus(status).phrase}",
            "Content-Type: text/plain; charset=utf-8", f"Content-Length: {len(body)}",
            *(f"{k}: {v}" for k, v in COMMON_HEADERS), "Connection: close"]  # fmt: skip
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body
