"""``dnsmon demo``: the whole product, offline, on a fresh machine.

Embedded DNS servers (written with dnspython, used only here) serve the example
region's zones: two authoritative servers and two caching resolvers on loopback. The
exporter and its status page run as ``serve`` would. Then a planned upgrade is replayed:
ns1, the primary, goes down for its upgrade while dnsmon counts down ns2's copy of the
zone (short SOA timers), the copy expires and ns2 answers SERVFAIL, the resolvers' caches
hide the fault while their runways count down, resolver-b then serves expired answers for
a while (and says so), services and the backups that share their DNS go down, and the DNS
recovers.
Meanwhile the resolvers send dnstap to the exporter, and the traffic of a backup the map
says needs no DNS shows that it does (``learning``); at the end ``dnsmon learn`` finds
the same in the resolvers' dnstap files and prints what to add.
The terminal narrates each step, with the cause and the backups that still work, in
lines under 100 columns; the demo ends by itself.
"""

from __future__ import annotations

import errno
import logging
import signal
import socket
import tempfile
import textwrap
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import click
import dns.zone
import yaml
from rich.console import Console
from rich.text import Text

from monitor.demo.authoritative import AuthoritativeServer, DnsServer, load_demo_zones
from monitor.demo.learning import LearningStory
from monitor.demo.resolver import CachingResolver
from monitor.outputs.logs import LOGGER
from monitor.outputs.render import STYLES, runway_text
from monitor.serving import webconfig
from monitor.serving.scheduler import Scheduler
from monitor.serving.web import Server as HttpServer
from monitor.serving.web import parse_listen

ROUND_INTERVAL = 2.0
# One attempt of 1 s: a server the replay silences holds each query that long, and a
# round must still fit its interval (the example's 2 attempts would take all of it, and
# every round of the outage would overrun). The resolvers give up on a silent upstream
# after 0.4 s, well within it.
DEMO_DEFAULTS = {"interval": f"{ROUND_INTERVAL:g}s", "timeout": "1s", "attempts": 1}
EXPIRED = (
    "Caches have expired: names fail, services go down, and the backups that share "
    "their DNS go down with them."
)
STALE = "resolver-b now answers from expired cache (stale, EDE 3) for {seconds}s more."
MIN_DURATION = 20.0
WIDTH = 99  # narration lines stay under 100 columns
STALE_RESOLVER = "resolver-b"
RESOLVERS = ("resolver-a", "resolver-b")


def example_config_text() -> str:
    """The example probes.yaml shipped inside the package."""
    return resources.files("monitor.demo").joinpath("data/probes.yaml").read_text()


@dataclass
class Step:
    at: float  # seconds into the demo
    title: str
    action: Callable[[], None]


class Demo:
    """The embedded region, the exporter, and the replayed upgrade."""

    def __init__(self, listen: str, duration: float, console: Console) -> None:
        self.listen = listen
        self.duration = max(duration, MIN_DURATION)
        self.console = console
        # Short TTLs and stale window, so caches run out within the demo.
        self.ttl = max(6, int(self.duration * 0.15))
        self.stale = max(4, int(self.duration * 0.1))
        self.servers: dict[str, DnsServer] = {}
        self.tmp = tempfile.TemporaryDirectory(prefix="dnsmon-demo-")
        self.learning = LearningStory(Path(self.tmp.name), ROUND_INTERVAL)
        # Ctrl-C: set by the signal handler, read by the replay. A plain attribute: a lock
        # taken in a handler (Event.set) deadlocks when a second Ctrl-C lands inside it.
        self.interrupted = False

    def start_dns(self) -> dict[str, Any]:
        """Start the four servers (on the example's ports when free); return the config."""
        config = yaml.safe_load(example_config_text())
        refresh, retry, expire = self.soa_timers()
        for name in ("ns1", "ns2"):
            zones = _with_timers(_with_ttl(load_demo_zones(), self.ttl), refresh, retry, expire)
            port = _port_or_free(_entry(config, name)["port"])
            self.servers[name] = AuthoritativeServer(zones, "127.0.0.1", port)
            self.servers[name].start()
        upstreams = [("127.0.0.1", self.servers[n].port) for n in ("ns1", "ns2")]
        for name in RESOLVERS:
            port = _port_or_free(_entry(config, name)["port"])
            stale = self.stale if name == STALE_RESOLVER else 0.0
            self.servers[name] = CachingResolver(upstreams, "127.0.0.1", port, stale_seconds=stale)
            self.servers[name].start()
        for name, server in self.servers.items():
            _entry(config, name)["port"] = server.port
        self.learning.configure(config, {n: self.servers[n] for n in RESOLVERS})
        _entry(config, STALE_RESOLVER)["serve_stale"] = f"{self.stale}s"
        config["defaults"].update(DEMO_DEFAULTS)
        return config

    def soa_timers(self) -> tuple[int, int, int]:
        """SOA refresh, retry and expire short enough that ns2's copy, without ns1 to
        refresh from, expires when the replay darkens the zone (``steps``)."""
        refresh = int(2 * ROUND_INTERVAL)
        upgrade, dark = self.duration * 0.12, self.duration * 0.25
        return refresh, int(ROUND_INTERVAL), refresh + int(dark - upgrade)

    def steps(self) -> list[Step]:
        ns1, ns2 = self.servers["ns1"], self.servers["ns2"]
        dark = self.duration * 0.25
        expired = dark + self.ttl + self.stale + ROUND_INTERVAL
        recovered = max(self.duration * 0.75, expired + ROUND_INTERVAL)
        return [
            Step(self.duration * 0.12, "Planned upgrade begins: ns1, the primary, is taken down "
                 "for its upgrade. ns2 serves on from its copy of the zone, but only until the "
                 "SOA expire after its last refresh: dnsmon counts that down.",
                 lambda: ns1.fail("timeout")),
            Step(dark, "ns2's copy of the zone expires, ns1 being still down: it answers "
                       "SERVFAIL, and no authoritative server answers. The resolvers still "
                       f"answer from cache, for at most {self.ttl}s.",
                 lambda: ns2.fail("servfail")),
            Step(recovered, "The upgrade is rolled back: ns1 and ns2 answer again.",
                 self.recover),
        ]  # fmt: skip

    def recover(self) -> None:
        for name in ("ns1", "ns2"):
            self.servers[name].recover()

    def run(self) -> int:
        LOGGER.setLevel(logging.CRITICAL)  # the narration tells the story, not the log
        try:
            config = self.start_dns()
            path = Path(self.tmp.name) / "probes.yaml"
            path.write_text(yaml.safe_dump(config, sort_keys=False))
            scheduler = Scheduler(str(path))
            http = _http_server(self.listen, scheduler)
        except BaseException:
            self._stop_dns()
            raise
        threading.Thread(
            target=http.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True
        ).start()
        scheduler.start()
        # Ctrl-C only sets a flag: raised wherever the main thread happened to be, it could
        # be lost (as in a finaliser) or skip the servers' shutdown.
        previous = _on_ctrl_c(lambda *_: setattr(self, "interrupted", True))
        try:
            self.learning.start(self.servers["resolver-a"])
            self._intro()
            self._replay(scheduler)
            if self.interrupted:
                self.console.print("demo interrupted")
            else:
                self.learning.stop()
                self._learn_offline(path)
                self._say(None, "demo finished: everything recovered and the servers are "
                          "stopped.", "bold")  # fmt: skip
        finally:
            _on_ctrl_c(previous)
            self.learning.stop()
            scheduler.stop()
            http.shutdown()
            http.server_close()
            self._stop_dns()
        return 0

    def _stop_dns(self) -> None:
        for server in self.servers.values():
            server.stop()
        self.tmp.cleanup()

    def _intro(self) -> None:
        base = f"http://{self.listen}"
        self.console.print(
            Text("dnsmon demo: a planned DNS upgrade in a fictional health region", style="bold")
        )
        ports = ", ".join(f"{n} 127.0.0.1:{s.port}" for n, s in self.servers.items())
        self._say(None, f"embedded DNS servers: {ports}")
        self.console.print(f"status page  {base}/")
        self.console.print(f"metrics      {base}/metrics")
        self.console.print(f"JSON report  {base}/api/status")
        self._say(
            None,
            "the resolvers send dnstap to the exporter (learning.dnstap), and the "
            "ward-list print server and a ward PC look names up from their own addresses",
        )
        self.console.print(
            f"the demo lasts {self.duration:.0f}s and ends by itself (Ctrl-C to stop)\n"
        )

    def _replay(self, scheduler: Scheduler) -> None:
        started = time.monotonic()
        pending = self.steps()
        seen, told = None, _Told()
        while (elapsed := time.monotonic() - started) < self.duration:
            if self.interrupted:
                return
            while pending and elapsed >= pending[0].at:
                step = pending.pop(0)
                step.action()
                self._say(elapsed, step.title, "bold cyan")
            latest = scheduler.latest()
            if latest is not None and latest.finished_at != seen:
                seen = latest.finished_at
                self._narrate(latest.report, elapsed, told)
            time.sleep(0.2)

    def _learn_offline(self, config_path: Path) -> None:
        """What ``dnsmon learn`` makes of the resolvers' dnstap files, fragment and all."""
        summary, fragment = self.learning.offline(config_path)
        self._say(None, summary, "bold magenta")
        for line in fragment.splitlines():
            self.console.print(Text(f"    {line}"[:WIDTH]))

    def _say(self, elapsed: float | None, text: str, style: str = "") -> None:
        """One narration paragraph, wrapped under 100 columns."""
        stamp = f"[{elapsed:5.1f}s] " if elapsed is not None else ""
        lines = textwrap.wrap(text, WIDTH, initial_indent=stamp, subsequent_indent=" " * 10,
                              break_on_hyphens=False)  # fmt: skip
        for line in lines:
            self.console.print(Text(line, style=style))

    def _narrate(self, report: dict[str, Any], elapsed: float, told: _Told) -> None:
        """A round's news: its verdict when it changed, new causes, stale answers, and
        the backups that still work when services go down."""
        if _stale(report) and not told.stale:
            told.stale = True
            self._say(elapsed, STALE.format(seconds=self.stale), "bold cyan")
        if report["status"] == "down" and not told.down:
            told.down = True
            self._say(elapsed, EXPIRED, "bold cyan")
        verdict = _verdict(report)
        if verdict != told.verdict:
            told.verdict = verdict
            self._say(elapsed, verdict, STYLES[report["status"]])
        rose = {s["runway_rose"] for s in report["services"] if s.get("runway_rose")}
        new = sorted(rose - told.rises)
        if new:  # one fault makes many services' runways rise alike: the first tells it
            more = f" (and {len(new) - 1} more like it)" if len(new) > 1 else ""
            self._say(elapsed, f"the runway rose: {new[0]}{more}", "yellow")
        told.rises = rose
        for cause in report.get("causes", []):
            if cause["kind"] + cause["target"] not in told.causes:
                self._say(elapsed, f"cause: {cause['summary']}")
        told.causes = {c["kind"] + c["target"] for c in report.get("causes", [])}
        down = {s["name"] for s in report["services"] if s["status"] == "down"}
        if down - told.down_services:
            self._say(elapsed, _still_working(report, down - told.down_services,
                                              self.learning.uses_dns))  # fmt: skip
        told.down_services = down
        for news in self.learning.news(report):
            self._say(elapsed, news, "bold magenta")


@dataclass
class _Told:
    """What the narration has said already, so each round adds only news."""

    verdict: str = ""
    causes: set[str] = field(default_factory=set)
    down_services: set[str] = field(default_factory=set)
    rises: set[str] = field(default_factory=set)
    stale: bool = False
    down: bool = False


def _verdict(report: dict[str, Any]) -> str:
    """``round: degraded  degraded: ehr, sso, … (10)  runway 5s``: short enough to scan."""
    parts = [f"round: {report['status']}"]
    for state in ("down", "degraded"):
        names = [s["name"] for s in report["services"] if s["status"] == state]
        if names:
            more = f", … ({len(names)})" if len(names) > 5 else ""
            parts.append(f"{state}: {', '.join(names[:5])}{more}")
    copies = [z for z in report.get("zones", []) if (z.get("expires_in_seconds") or 0) > 0]
    for zone in copies:
        parts.append(f"{zone['name']}: copies expire in {runway_text(zone['expires_in_seconds'])}")
    runways = [s["runway_seconds"] for s in report["services"] if s["runway_seconds"] is not None]
    if runways and not copies:  # the service runway is the copies' while they count
        parts.append(f"cache runway {runway_text(min(runways))}")
    return "  ".join(parts)


def _stale(report: dict[str, Any]) -> bool:
    return any(r["result"] == "stale" for n in report["names"] for r in n["results"])


def _still_working(report: dict[str, Any], down: set[str], uses_dns: set[tuple[str, str]]) -> str:
    """For each service that just went down, the backups people can still use; marked
    where the map says a backup needs no DNS and its hosts' traffic says otherwise."""
    told = []
    for service in report["services"]:
        if service["name"] in down:
            usable = [
                b["name"] + (" (by the map; its hosts use DNS)"
                             if (service["name"], b["name"]) in uses_dns else "")
                for b in service["backups"] if b["status"] == "usable"
            ]  # fmt: skip
            told.append(f"{service['name']} → {', '.join(usable) or 'no backup works'}")
    return "still working: " + "; ".join(told)


def _on_ctrl_c(handler: Any) -> Any:
    """Let Ctrl-C call ``handler`` (a signal handler, or a previous one to restore) and
    return the one it replaces; None, changing nothing, off the main thread."""
    if handler is None or threading.current_thread() is not threading.main_thread():
        return None
    return signal.signal(signal.SIGINT, handler)


def _http_server(listen: str, scheduler: Scheduler) -> HttpServer:
    """The status page's listener; a busy port says which, and what to do (exit 3)."""
    try:
        return HttpServer(listen, scheduler, webconfig.WebConfig())
    except OSError as exc:
        host, port = parse_listen(listen)
        if exc.errno != errno.EADDRINUSE:
            raise click.ClickException(
                f"cannot listen on {listen}: {exc.strerror or exc}; "
                "choose an address of this host with --listen ADDR:PORT"
            ) from exc
        free = _free_port_after(host, port)
        instead = f"[{host}]:{free}" if ":" in host else f"{host}:{free}"
        raise click.ClickException(
            f"cannot listen on {listen}: port {port} is already in use, perhaps by another "
            f"dnsmon demo or serve. Stop that, or choose another port with --listen, "
            f"e.g. --listen {instead}"
        ) from exc


def _free_port_after(host: str, busy: int) -> int:
    """A TCP port free on host now, near the busy one if possible, to suggest instead."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    for port in [*range(busy + 1, min(busy + 50, 65536)), 0]:
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            try:
                probe.bind((host, port))
            except OSError:
                continue
            found: int = probe.getsockname()[1]
            return found
    return 0


def _entry(config: dict[str, Any], name: str) -> dict[str, Any]:
    return next(s for s in config["servers"] if s["name"] == name)


def _port_or_free(port: int) -> int:
    """The example's port when it is free for UDP and TCP, else 0 (any free port)."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp, socket.socket() as tcp:
            udp.bind(("127.0.0.1", port))
            tcp.bind(("127.0.0.1", port))
    except OSError:
        return 0
    return port


def _with_timers(
    zones: list[dns.zone.Zone], refresh: int, retry: int, expire: int
) -> list[dns.zone.Zone]:
    """The zones with these SOA timers (the demo's clocks run in seconds, not days)."""
    for zone in zones:
        soa = zone.find_rdataset("@", "SOA")
        old = soa[0]
        soa.clear()
        soa.add(old.replace(refresh=refresh, retry=retry, expire=expire))
    return zones


def _with_ttl(zones: list[dns.zone.Zone], ttl: int) -> list[dns.zone.Zone]:
    for zone in zones:
        for _name, node in zone.nodes.items():
            for rdataset in node.rdatasets:
                rdataset.ttl = min(rdataset.ttl, ttl)
    return zones


def run(listen: str, duration: float, console: Console | None = None) -> int:
    """Run the demo; returns the exit code."""
    return Demo(listen, duration, console or Console(highlight=False, soft_wrap=True)).run()
