"""HTTP for the exporter: /metrics, /api/status, the status page, health and reload.

No endpoint takes a target, name or query from the request: dnsmon asks only what its
config lists, so it can never be used as an open DNS proxy.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Awaitable, Callable, Mapping
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
from monitor.outputs import jsontext, metrics
from monitor.outputs.statuspage import status_page
from monitor.serving.alertmanager import AlertmanagerCollector, AlertSender
from monitor.serving.httpserver import (
    DEFAULT_LIMITS,
    HttpServer,
    Limits,
    Request,
    Response,
    plain,
)
from monitor.serving.scheduler import Published, Scheduler
from monitor.serving.webconfig import WebConfig

DEFAULT_LISTEN = "127.0.0.1:9953"
MAX_WAITING_CHECKS = 8  # bcrypt checks queued on the workers at once; more get a 503
# The status page has no script and loads nothing: anything injected into it is inert.
PAGE_POLICY = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src 'none'; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'none'"
)
PAGE_HEADERS = (("Content-Security-Policy", PAGE_POLICY), ("Referrer-Policy", "no-referrer"))
JSON = "application/json"


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


Offload = Callable[..., Awaitable[Any]]


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


class Server(HttpServer):
    """dnsmon's endpoints on the hardened HTTP server (see httpserver.py for its limits)."""

    def __init__(
        self, listen: str, scheduler: Scheduler, web: WebConfig, limits: Limits = DEFAULT_LIMITS,
        allowed_hosts: tuple[str, ...] = (),
    ) -> None:  # fmt: skip
        self.scheduler = scheduler
        self.web = web
        address = parse_listen(listen)
        hosts = HostCheck(allowed_hosts, _loopback(address[0]))
        routes = Routes(scheduler, web, self.offload, hosts)
        super().__init__(address, routes, web.tls, limits)


class HostCheck:
    """Which ``Host`` a request may name: the DNS-rebinding guard. A page of another site
    whose name its owner points at 127.0.0.1 reaches dnsmon on loopback from the operator's
    browser as that site, and may read the answers; the ``Host`` it sends is that name.

    An IP literal and ``localhost`` are always served; other names only when listed
    (``--allowed-host``). Without a list, a listener on loopback serves no other name, and
    one on another address serves any (a host's own names are many and unknown here)."""

    def __init__(self, allowed: tuple[str, ...], loopback: bool) -> None:
        self.allowed = frozenset(h.lower().rstrip(".") for h in allowed)
        self.strict = bool(allowed) or loopback

    def refuses(self, host_header: str) -> str:
        """Why a request naming ``host_header`` is refused, or ""."""
        host = _host_name(host_header)
        if not self.strict or host == "localhost" or host in self.allowed or _is_ip(host):
            return ""
        return (f"refused: this dnsmon does not answer to the name {host!r} (a page of "
                f"another site?); serve it with --allowed-host {host}")  # fmt: skip


def _host_name(header: str) -> str:
    """``[::1]:9953`` → ``::1``; ``dnsmon.internal:9953`` → ``dnsmon.internal``."""
    header = header.strip().lower()
    if header.startswith("["):
        return header[1:].partition("]")[0]
    return header.rpartition(":")[0] if header.count(":") == 1 else header.rstrip(".")


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


# What a web page can send another site without asking it first (a "simple" request):
# a form post with one of these bodies. dnsmon's reload takes none of them.
_FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data", "text/plain")


def cross_site(headers: Mapping[str, str]) -> str:
    """Why a POST is refused as another site's (a page in an operator's browser posting
    to dnsmon on loopback), or "" for curl, Prometheus' tooling and same-origin posts."""
    if headers.get("sec-fetch-site", "") in ("cross-site", "same-site"):
        return "refused: a reload from another site's page"
    origin = headers.get("origin")
    if origin is not None and origin != "null" and not _same_origin(origin, headers):
        return "refused: a reload from another origin"
    if origin == "null":
        return "refused: a reload from an opaque origin"
    kind = headers.get("content-type", "").split(";")[0].strip().lower()
    if kind in _FORM_TYPES:
        return f"refused: a reload takes no {kind} body (what a page's form sends)"
    return ""


def _same_origin(origin: str, headers: Mapping[str, str]) -> bool:
    host = headers.get("host", "")
    return origin.split("://", 1)[-1].rstrip("/").lower() == host.lower()


class Routes:
    """What each path answers. Only ``POST /-/reload`` reads a body, and only after the
    client is authorized; nothing reads a target from the request."""

    def __init__(
        self, scheduler: Scheduler, web: WebConfig, offload: Offload,
        hosts: HostCheck | None = None,
    ) -> None:  # fmt: skip
        self.scheduler = scheduler
        self.web = web
        self.offload = offload
        self.hosts = hosts or HostCheck((), loopback=False)
        self._checking = 0  # password checks waiting or running (on the loop's thread only)
        self.process_registry = _process_registry(scheduler.reload_state, lambda: scheduler.sender)
        self._rendered: dict[str, tuple[Published, bytes]] = {}  # per round, on first use
        self._get: dict[str, Callable[[Request], Response]] = {
            "/metrics": self._metrics,
            "/api/status": self._status,
            "/-/healthy": self._healthy,
            "/-/ready": self._ready,
            "/": self._page,
        }

    async def respond(self, request: Request) -> Response:
        if request.method not in ("GET", "HEAD", "POST"):
            return plain(405, "method not allowed", ("Allow", "GET, HEAD, POST"))
        refused = self.hosts.refuses(request.headers.get("host", ""))
        if refused:
            return plain(421, refused)
        authorized = await self._authorized(request.headers.get("authorization"))
        if authorized is None:
            return plain(503, "too many password checks waiting; try again", ("Retry-After", "1"))
        if not authorized:
            return Response(401, headers=(("WWW-Authenticate", 'Basic realm="dnsmon"'),))
        if request.method == "POST":
            return await self._post(request)
        route = self._get.get(request.path)
        return route(request) if route else plain(404, "not found")

    async def _authorized(self, header: str | None) -> bool | None:
        """True or False; None when too many checks wait already (answered 503 at once:
        a flood of new wrong passwords must not queue a good client's first check behind
        it for longer than a scrape waits; a client checked once is answered from memory)."""
        quick = self.web.cached(header)
        if quick is not None:
            return quick
        if self._checking >= MAX_WAITING_CHECKS:
            return None
        self._checking += 1
        try:
            return await self.offload(self.web.authorized, header)  # bcrypt: off the loop
        finally:
            self._checking -= 1

    async def _post(self, request: Request) -> Response:
        if request.path != "/-/reload":
            return plain(404, "not found")
        refused = cross_site(request.headers)
        if refused:
            return plain(403, refused)
        await request.read_body()  # reload takes none: a small one is read and dropped
        error = await self.offload(self.scheduler.reload)
        if error is None:
            return plain(200, "config reloaded")
        return plain(500, f"config reload failed:\n{error}")

    def _metrics(self, request: Request) -> Response:
        latest = self.scheduler.latest()
        process = generate_latest(self.process_registry)
        vary = (("Vary", "Accept-Encoding"),)
        if latest is None:
            return Response(200, process, CONTENT_TYPE_LATEST, vary)
        if "gzip" in request.headers.get("accept-encoding", ""):
            # The round's part was compressed once; only the small process part is new.
            body = latest.exposition.gzipped_with(process)
            return Response(200, body, CONTENT_TYPE_LATEST, (*vary, ("Content-Encoding", "gzip")))
        return Response(200, latest.exposition.text_with(process), CONTENT_TYPE_LATEST, vary)

    def _status(self, request: Request) -> Response:
        latest = self.scheduler.latest()
        if latest is None:
            return Response(503, b'{"error": "no round has finished yet"}\n', JSON)
        body = self._once(latest, "status", lambda: jsontext.dumps(latest.report, False))
        return Response(200, body, JSON)

    def _healthy(self, request: Request) -> Response:
        problem = self.scheduler.check_health()
        return plain(503, f"unhealthy: {problem}") if problem else plain(200, "OK")

    def _ready(self, request: Request) -> Response:
        if self.scheduler.latest() is None:
            return plain(503, "not ready: no round has finished yet")
        return plain(200, "OK")

    def _page(self, request: Request) -> Response:
        latest = self.scheduler.latest()
        site = self.scheduler.monitor.config.site
        if latest is None:
            page = status_page(None, site).encode()
        else:
            page = self._once(latest, "page", lambda: status_page(latest.report, site).encode())
        return Response(200, page, "text/html; charset=utf-8", PAGE_HEADERS)

    def _once(self, latest: Published, key: str, render: Callable[[], bytes]) -> bytes:
        """Render a round's JSON or page once, on first request, and serve those bytes."""
        cached = self._rendered.get(key)
        if cached is None or cached[0] is not latest:
            cached = self._rendered[key] = (latest, render())
        return cached[1]
