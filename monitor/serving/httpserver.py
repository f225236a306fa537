"""A small HTTP/1.1 server on asyncio for anything on the network to reach: h11 parses
requests, and this module bounds everything a client can make the process hold.

- A real listen backlog, and at most ``max_connections`` connections at once. Beyond
  that the connection idle the longest is closed to make room; when none is idle, the
  newcomer gets a 503 and is closed. accept() never spins on a full file table: a failed
  accept pauses the listener for a moment.
- A request's head must arrive whole within ``head_seconds`` (also the keep-alive idle
  time), a TLS handshake within ``handshake_seconds``, and a response must be taken
  within ``response_seconds``. A slow or silent client holds a socket, never a thread.
- The socket is read on demand, one buffer of ``read_chunk`` bytes at a time. A body is
  read only when the application asks for it, once it knows the method and path take
  one, and never beyond ``max_body`` bytes.
- Malformed requests get a 400 and the connection is closed. Nothing raises past a
  connection; errors go to dnsmon's structured log, never as raw tracebacks.
"""

from __future__ import annotations

import asyncio
import resource
import socket
import ssl
import threading
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any, Protocol, TypeVar

import h11

from monitor.outputs.logs import LOGGER
from monitor.serving.httpwire import (
    COMMON_HEADERS,
    Channel,
    body_pending,
    head_size,
    next_event,
    raw_response,
    request_headers,
)

T = TypeVar("T")
FD_RESERVE = 64  # file descriptors kept for probing, logs and Alertmanager posts
WARN_EVERY_SECONDS = 10.0


@dataclass(frozen=True)
class Limits:
    backlog: int = 1024  # the kernel caps it at net.core.somaxconn
    max_connections: int = 512  # and at most half the soft RLIMIT_NOFILE
    head_seconds: float = 5.0
    handshake_seconds: float = 5.0
    response_seconds: float = 30.0
    tls_shutdown_seconds: float = 2.0
    max_head: int = 8 * 1024
    max_body: int = 4 * 1024
    read_chunk: int = 8 * 1024
    workers: int = 4  # threads for slow work: bcrypt checks, config reloads
    accept_pause_seconds: float = 0.5


DEFAULT_LIMITS = Limits()


class HttpError(Exception):
    """Ends a request with ``status``; the connection is closed after the answer."""

    def __init__(self, status: int, text: str) -> None:
        super().__init__(text)
        self.status = status
        self.text = text


@dataclass
class Request:
    method: str
    path: str  # without the query, which no endpoint reads
    headers: dict[str, str]  # lower-case names; repeated headers joined with ", "
    read_body: Callable[[], Awaitable[bytes]]  # at most Limits.max_body; raises HttpError
    peer: str = ""


@dataclass
class Response:
    status: int
    body: bytes = b""
    content_type: str = "text/plain; charset=utf-8"
    headers: tuple[tuple[str, str], ...] = ()


class App(Protocol):
    async def respond(self, request: Request) -> Response: ...


def plain(status: int, text: str, *headers: tuple[str, str]) -> Response:
    return Response(status, f"{text}\n".encode(), headers=headers)


class HttpServer:
    """Binds at construction (so a busy port fails at once); serves in ``serve_forever``
    until ``shutdown`` is called from another thread, like socketserver's servers."""

    def __init__(
        self,
        address: tuple[str, int],
        app: App,
        tls: ssl.SSLContext | None = None,
        limits: Limits | None = None,
    ) -> None:
        self.app = app
        self.tls = tls
        self.limits = limits = limits or DEFAULT_LIMITS
        self.max_connections = _connection_cap(limits.max_connections)
        family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.socket = socket.socket(family, socket.SOCK_STREAM)
        try:
            self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            self.socket.bind(address)
            self.socket.listen(limits.backlog)
            self.socket.setblocking(False)
        except OSError:
            self.socket.close()
            raise
        self.server_address = self.socket.getsockname()
        self._pool = ThreadPoolExecutor(limits.workers, thread_name_prefix="dnsmon-http")
        self._connections: dict[_Connection, None] = {}
        self._warned: dict[str, tuple[float, int]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._quit: asyncio.Event | None = None
        self._stopping = threading.Event()
        self._stopped = threading.Event()
        self._stopped.set()

    # --- lifecycle -------------------------------------------------------------------

    def serve_forever(self, poll_interval: float = 0.5) -> None:
        """Serve until ``shutdown``; ``poll_interval`` is accepted for compatibility."""
        self._stopped.clear()
        try:
            asyncio.run(self._serve())
        finally:
            self._loop = None
            self._stopped.set()

    def shutdown(self) -> None:
        """Stop ``serve_forever`` and wait until it has returned."""
        self._stopping.set()
        loop, quit_ = self._loop, self._quit
        if loop is not None and quit_ is not None:
            try:
                loop.call_soon_threadsafe(quit_.set)
            except RuntimeError:  # the loop has just closed
                pass
        self._stopped.wait()

    def server_close(self) -> None:
        self.socket.close()
        self._pool.shutdown(wait=False, cancel_futures=True)

    async def offload(self, work: Callable[..., T], *args: Any) -> T:
        """Run blocking ``work`` on the server's few worker threads."""
        return await asyncio.get_running_loop().run_in_executor(self._pool, work, *args)

    async def _serve(self) -> None:
        loop = asyncio.get_running_loop()
        loop.set_exception_handler(_loop_error)
        self._quit = asyncio.Event()
        self._loop = loop
        if self._stopping.is_set():
            return
        acceptor = loop.create_task(self._accept())
        try:
            await self._quit.wait()
        finally:
            acceptor.cancel()
            tasks = [acceptor, *(c.task for c in self._connections if c.task)]
            for connection in list(self._connections):
                connection.close()
            await asyncio.wait(tasks, timeout=1.0)

    # --- accepting -------------------------------------------------------------------

    async def _accept(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            try:
                sock, peer = await loop.sock_accept(self.socket)
            except OSError as exc:  # EMFILE, ENFILE, ENOBUFS: wait, never spin
                self._warn("http accept failed; pausing the listener", error=str(exc))
                await asyncio.sleep(self.limits.accept_pause_seconds)
                continue
            if len(self._connections) >= self.max_connections and not self._evict_idlest():
                self._warn("http connection refused: every connection is busy",
                           max_connections=self.max_connections)  # fmt: skip
                _refuse_busy(sock, self.tls is not None)
                continue
            connection = _Connection(_peer(peer), idle_since=loop.time())
            self._connections[connection] = None
            connection.task = loop.create_task(self._connection(sock, connection))
            # Let evicted connections close their sockets before the next accept, and
            # never starve the connections already open of the loop.
            await asyncio.sleep(0)

    def _evict_idlest(self) -> bool:
        """Close the connection waiting longest for a request, to make room."""
        idle = [c for c in self._connections if c.idle_since is not None]
        if not idle:
            return False
        victim = min(idle, key=lambda c: c.idle_since or 0.0)
        LOGGER.debug("http connection closed to make room", extra={"peer": victim.peer})
        victim.close()
        del self._connections[victim]
        return True

    async def _connection(self, sock: socket.socket, connection: _Connection) -> None:
        loop = asyncio.get_running_loop()
        channel = Channel(self.limits.read_chunk)
        connection.channel = channel
        # A connection counts until its socket is closed, not only while it is served.
        channel.on_lost = lambda: self._connections.pop(connection, None)
        tls: dict[str, Any] = {}
        if self.tls is not None:
            tls = {
                "ssl": self.tls,
                "ssl_handshake_timeout": self.limits.handshake_seconds,
                "ssl_shutdown_timeout": self.limits.tls_shutdown_seconds,
            }
        clean = False
        try:
            async with asyncio.timeout(self.limits.handshake_seconds + 1.0):
                await loop.connect_accepted_socket(lambda: channel, sock, **tls)
            await self._exchange(channel, connection)
            clean = True
        except (OSError, TimeoutError, EOFError) as exc:  # resets, TLS failures, slow clients
            reason = str(exc) or type(exc).__name__
            LOGGER.debug("http connection closed", extra={"peer": connection.peer, "why": reason})
        except Exception as exc:
            LOGGER.warning("http connection failed", exc_info=exc,
                           extra={"peer": connection.peer})  # fmt: skip
        finally:
            connection.idle_since = 0.0  # closing: the first to go when room is needed
            if clean:  # the last answer is flushed, but never waited for longer than this
                channel.close(linger=self.limits.tls_shutdown_seconds + 1.0)
            else:
                channel.abort()
            if channel.transport is None:
                sock.close()
                self._connections.pop(connection, None)

    # --- one connection's requests ------------------------------------------------------

    async def _exchange(self, channel: Channel, connection: _Connection) -> None:
        loop = asyncio.get_running_loop()
        conn = h11.Connection(h11.SERVER, max_incomplete_event_size=self.limits.max_head)
        while True:
            connection.idle_since = loop.time()
            try:
                async with asyncio.timeout(self.limits.head_seconds):
                    event = await next_event(conn, channel)
            except TimeoutError:
                LOGGER.debug("http client too slow; closed", extra={"peer": connection.peer})
                return
            except h11.RemoteProtocolError as exc:
                await self._reject(channel, conn, connection.peer, str(exc))
                return
            connection.idle_since = None
            if not isinstance(event, h11.Request):
                return  # the client closed the connection
            if not await self._handle(conn, channel, event, connection.peer):
                return
            conn.start_next_cycle()

    async def _handle(
        self, conn: h11.Connection, channel: Channel, event: h11.Request, peer: str
    ) -> bool:
        """Answer one request; whether the connection can take another."""
        started = time.monotonic()
        method = event.method.decode("ascii")
        path = event.target.decode("latin-1").split("?", 1)[0]
        headers = request_headers(event)
        close = False
        try:
            if head_size(event) > self.limits.max_head:
                raise HttpError(400, "request head too large")
            body = self._body_reader(conn, channel, headers)
            response = await self.app.respond(Request(method, path, headers, body, peer))
        except HttpError as exc:
            response, close = plain(exc.status, exc.text), True
        except h11.RemoteProtocolError as exc:
            response, close = plain(400, f"bad request: {exc}"), True
        except (OSError, TimeoutError):
            raise  # the client is gone or too slow: nothing to answer
        except Exception as exc:
            LOGGER.warning("http request failed", exc_info=exc,
                           extra={"method": method, "path": path})  # fmt: skip
            response, close = plain(500, "internal error; see dnsmon's log"), True
        close = close or body_pending(conn)
        await self._send(conn, channel, response, method == "HEAD", close)
        LOGGER.debug(
            "http request",
            extra={"method": method, "path": path, "status": response.status, "peer": peer,
                   "seconds": round(time.monotonic() - started, 4)},
        )  # fmt: skip
        return conn.our_state is h11.DONE and conn.their_state is h11.DONE

    def _body_reader(
        self, conn: h11.Connection, channel: Channel, headers: dict[str, str]
    ) -> Callable[[], Awaitable[bytes]]:
        async def read_body() -> bytes:
            if conn.their_state is not h11.SEND_BODY:
                return b""
            if "transfer-encoding" in headers:
                raise HttpError(411, "a request body needs a Content-Length")
            if int(headers.get("content-length", "0")) > self.limits.max_body:
                raise HttpError(413, f"request body larger than {self.limits.max_body} bytes")
            if conn.client_is_waiting_for_100_continue:
                await channel.write(
                    [conn.send(h11.InformationalResponse(status_code=100, headers=[]))]
                )
            parts: list[bytes] = []
            async with asyncio.timeout(self.limits.head_seconds):
                while (event := await next_event(conn, channel)) is not None:
                    if isinstance(event, h11.EndOfMessage):
                        return b"".join(parts)
                    if not isinstance(event, h11.Data):
                        raise HttpError(400, "incomplete request body")
                    parts.append(event.data)
            raise HttpError(400, "incomplete request body")

        return read_body

    async def _send(
        self, conn: h11.Connection, channel: Channel, response: Response, head: bool, close: bool
    ) -> None:
        headers = [
            ("Content-Type", response.content_type),
            ("Content-Length", str(len(response.body))),
            *COMMON_HEADERS,
            *response.headers,
        ]
        if close:
            headers.append(("Connection", "close"))
        reason = HTTPStatus(response.status).phrase.encode()
        chunks = [conn.send(h11.Response(status_code=response.status, headers=headers,
                                         reason=reason))]  # fmt: skip
        if response.body and not head:
            chunks += conn.send_with_data_passthrough(h11.Data(data=response.body)) or []
        chunks.append(conn.send(h11.EndOfMessage()))
        async with asyncio.timeout(self.limits.response_seconds):
            await channel.write(c for c in chunks if c)

    async def _reject(self, channel: Channel, conn: h11.Connection, peer: str, why: str) -> None:
        """A 400 for a request h11 could not parse; then the connection is closed."""
        LOGGER.debug("http bad request", extra={"peer": peer, "why": why})
        if conn.our_state not in (h11.IDLE, h11.SEND_RESPONSE):
            return
        text = "request head too large" if "buffer too long" in why else f"bad request: {why}"
        async with asyncio.timeout(self.limits.response_seconds):
            await channel.write([raw_response(400, text)])

    def _warn(self, message: str, **fields: object) -> None:
        """At most one line per message every WARN_EVERY_SECONDS, with what it left out."""
        now = time.monotonic()
        last, skipped = self._warned.get(message, (0.0, 0))
        if now - last < WARN_EVERY_SECONDS:
            self._warned[message] = (last, skipped + 1)
            return
        self._warned[message] = (now, 0)
        LOGGER.warning(message, extra={**fields, "suppressed": skipped})


@dataclass(eq=False)
class _Connection:
    peer: str
    idle_since: float | None = None  # None while a request is being answered
    task: asyncio.Task[None] | None = None
    channel: Channel | None = field(default=None, repr=False)

    def close(self) -> None:
        if self.channel is not None:
            self.channel.abort()
        if self.task is not None:
            self.task.cancel()


_BUSY = raw_response(503, "too many connections; try again shortly")


def _refuse_busy(sock: socket.socket, tls: bool) -> None:
    """A plain 503 when every connection is busy (a TLS client just sees the close)."""
    try:
        if not tls:
            sock.setblocking(False)
            sock.send(_BUSY)
    except OSError:
        pass
    finally:
        sock.close()


def _peer(address: Any) -> str:
    if isinstance(address, tuple) and len(address) >= 2:
        host, port = address[0], address[1]
        return f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"
    return str(address)


def _connection_cap(wanted: int) -> int:
    """``wanted``, but at most half the file descriptors the process may open (after a
    reserve), so idle clients can never starve the probes of sockets."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return wanted
    return max(16, min(wanted, (soft - FD_RESERVE) // 2))


def _loop_error(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    """asyncio's own reports: a client's misbehaviour at debug, anything else a warning."""
    exc = context.get("exception")
    message = f"http: {context.get('message', 'event loop error')}"
    if exc is None or isinstance(exc, OSError):
        LOGGER.debug(message, extra={"error": str(exc or "")})
    else:
        LOGGER.warning(message, exc_info=exc)
