"""HTTP for the exporter: /metrics, /api/status, the status page, health and reload.

No endpoint takes a target, name or query from the request: dnsmon asks only what its
config lists, so it can never be used as an open DNS proxy.
"""

from __future__ import annotations

import json
import socket
import ssl
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import (
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    CollectorRegistry,
    Info,
    generate_latest,
)
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from monitor import __version__
from monitor.outputs import metrics
from monitor.outputs.logs import LOGGER
from monitor.outputs.statuspage import status_page
from monitor.serving.alertmanager import AlertmanagerCollector, AlertSender
from monitor.serving.scheduler import Scheduler
from monitor.serving.webconfig import WebConfig

DEFAULT_LISTEN = "127.0.0.1:9953"
TLS_HANDSHAKE_SECONDS = 10.0


def _process_registry(
    reload_state: metrics.ReloadState,
    sender: Callable[[], AlertSender | None] = lambda: None,
) -> CollectorRegistry:
    """Process, platform, build info, reload state and Alertmanager posts: small, and
    changing between rounds, so rendered per scrape."""
    registry = CollectorRegistry(auto_describe=True)
    registry.register(metrics.ReloadCollector(reload_state))
    registry.register(AlertmanagerCollector(sender))
    registry.register(PROCESS_COLLECTOR)
    registry.register(PLATFORM_COLLECTOR)
    Info("dnsmon_build", "dnsmon version.", registry=registry).info({"version": __version__})
    return registry


def parse_listen(text: str) -> tuple[str, int]:
    """``127.0.0.1:9953`` or ``[::1]:9953`` → (host, port); hosts must be IP literals."""
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError(f"{text!r} is not ADDR:PORT")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    try:
        socket.inet_pton(socket.AF_INET6 if ":" in host else socket.AF_INET, host)
    except OSError as exc:
        raise ValueError(f"{host!r} is not an IP literal") from exc
    return host, int(port)


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, listen: str, scheduler: Scheduler, web: WebConfig) -> None:
        host, port = parse_listen(listen)
        self.address_family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.scheduler = scheduler
        self.web = web
        self.process_registry = _process_registry(scheduler.reload_state, lambda: scheduler.sender)
        super().__init__((host, port), Handler)
        if web.tls is not None:
            self.socket = web.tls.wrap_socket(
                self.socket, server_side=True, do_handshake_on_connect=False
            )

    def finish_request(self, request: Any, client_address: Any) -> None:
        # The TLS handshake runs here, in the connection's own thread: done on accept, one
        # client that connects and never speaks would stall every other scrape.
        if isinstance(request, ssl.SSLSocket):
            try:
                request.settimeout(TLS_HANDSHAKE_SECONDS)
                request.do_handshake()
                request.settimeout(None)
            except OSError as exc:  # ssl.SSLError and timeouts too
                LOGGER.debug("tls handshake failed", extra={"error": str(exc)})
                return
        super().finish_request(request, client_address)


class Handler(BaseHTTPRequestHandler):
    server: Server
    protocol_version = "HTTP/1.1"
    timeout = 30  # seconds an idle keep-alive connection may hold a handler thread

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        LOGGER.debug("http " + format % args)

    def do_GET(self) -> None:  # noqa: N802
        if not self._authorized():
            return
        path = self.path.split("?", 1)[0]
        routes = {
            "/metrics": self._metrics,
            "/api/status": self._status,
            "/-/healthy": lambda: self._send(200, b"OK\n", "text/plain"),
            "/-/ready": self._ready,
            "/": self._page,
        }
        routes.get(path, lambda: self._send(404, b"not found\n", "text/plain"))()

    def do_HEAD(self) -> None:  # noqa: N802
        self.do_GET()

    def do_POST(self) -> None:  # noqa: N802
        if not self._authorized():
            return
        self.rfile.read(int(self.headers.get("Content-Length") or 0) or 0)  # keep-alive in step
        if self.path.split("?", 1)[0] != "/-/reload":
            self._send(404, b"not found\n", "text/plain")
            return
        error = self.server.scheduler.reload()
        if error is None:
            self._send(200, b"config reloaded\n", "text/plain")
        else:
            self._send(500, f"config reload failed:\n{error}\n".encode(), "text/plain")

    def _authorized(self) -> bool:
        if self.server.web.authorized(self.headers.get("Authorization")):
            return True
        self.send_response(401)
        self.send_header("WWW-Authenticate", 'Basic realm="dnsmon"')
        self.send_header("Content-Length", "0")
        self.end_headers()
        return False

    def _metrics(self) -> None:
        latest = self.server.scheduler.latest()
        process = generate_latest(self.server.process_registry)
        gzip_ok = "gzip" in self.headers.get("Accept-Encoding", "")
        if latest is None:
            body = process
        elif gzip_ok:
            # The round's part was compressed once; only the small process part is new.
            body = latest.exposition.gzipped_with(process)
            self._send(200, body, CONTENT_TYPE_LATEST, encoding="gzip")
            return
        else:
            body = latest.exposition.text_with(process)
        self._send(200, body, CONTENT_TYPE_LATEST)

    def _status(self) -> None:
        latest = self.server.scheduler.latest()
        if latest is None:
            self._send(503, b'{"error": "no round has finished yet"}\n', "application/json")
            return
        self._send(200, json.dumps(latest.outcome.report).encode(), "application/json")

    def _ready(self) -> None:
        if self.server.scheduler.latest() is None:
            self._send(503, b"not ready: no round has finished yet\n", "text/plain")
        else:
            self._send(200, b"OK\n", "text/plain")

    def _page(self) -> None:
        latest = self.server.scheduler.latest()
        report = latest.outcome.report if latest else None
        site = self.server.scheduler.monitor.config.site
        self._send(200, status_page(report, site).encode(), "text/html; charset=utf-8")

    def _send(self, code: int, body: bytes, content_type: str, encoding: str = "") -> None:
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        if encoding:
            self.send_header("Content-Encoding", encoding)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
