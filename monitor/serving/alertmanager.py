"""Sending ``serve``'s own alerts to Alertmanager's v2 API, on a thread of its own.

Each round hands the alerts it raises to ``AlertSender.update``, which only swaps a
snapshot and returns: probing never waits on an Alertmanager. The sender posts the
latest snapshot to every configured Alertmanager, re-sends while alerts stay active
(their ``endsAt`` a few intervals ahead, as Prometheus does), sends cleared ones once
more with ``endsAt`` now so they resolve, and retries a failing Alertmanager with
exponential backoff. URLs are IP literals and no proxy is used: nothing here needs DNS.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector

from monitor.outputs.alerts import Alert
from monitor.outputs.logs import LOGGER

POST_TIMEOUT_SECONDS = 5.0
BACKOFF_START_SECONDS = 1.0
BACKOFF_MAX_SECONDS = 60.0
RESOLVED_ROUNDS = 3  # a cleared alert is sent this many more times, in case one is lost
MIN_RESEND_SECONDS = 5.0  # never post the same snapshot more often than this


@dataclass
class _Target:
    url: str
    backoff: float = 0.0
    next_attempt: float = 0.0
    sent_version: int = -1
    sent_at: float = 0.0


@dataclass
class _Snapshot:
    firing: dict[tuple[tuple[str, str], ...], Alert] = field(default_factory=dict)
    resolved: dict[tuple[tuple[str, str], ...], tuple[Alert, float, int]] = field(
        default_factory=dict
    )  # labels → (alert, when it cleared, rounds left to send it)
    version: int = 0


class AlertSender:
    """Keeps Alertmanager told of the alerts ``serve`` raises; see the module's docstring."""

    def __init__(
        self,
        urls: tuple[str, ...],
        interval: float,
        clock: Callable[[], float] = time.time,
        tick: Callable[[], float] = time.monotonic,
    ) -> None:
        self.targets = [_Target(url) for url in urls]
        self.interval = interval
        self.clock = clock  # wall time: only what Alertmanager reads (endsAt)
        self.tick = tick  # when to send and resend: a wall clock stepped back must not stall it
        self.counts: dict[tuple[str, str], int] = {}
        for url in urls:
            self.counts[(url, "success")] = self.counts[(url, "failure")] = 0
        self._snapshot = _Snapshot()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="dnsmon-alerts", daemon=True)

    def start(self) -> None:
        if self.targets:
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()

    def adopt(self, previous: AlertSender) -> None:
        """Take over what ``previous`` knew is firing and resolving (after a reload)."""
        with previous._lock:
            self._snapshot = previous._snapshot

    def update(self, alerts: list[Alert]) -> None:
        """This round's firing alerts; returns at once."""
        now = self.clock()
        with self._lock:
            old = self._snapshot
            firing = {a.labels: a for a in alerts}
            resolved = {
                labels: (alert, cleared, rounds - 1)
                for labels, (alert, cleared, rounds) in old.resolved.items()
                if rounds > 1 and labels not in firing
            }
            for labels, alert in old.firing.items():
                if labels not in firing:
                    resolved[labels] = (alert, now, RESOLVED_ROUNDS)
            self._snapshot = _Snapshot(firing, resolved, old.version + 1)
        self._wake.set()

    def payload(self) -> list[dict[str, object]]:
        """What is sent now: firing alerts valid for a few rounds, resolved ones ended."""
        now = self.clock()
        valid_until = now + 4 * max(self.interval, 60.0)
        with self._lock:
            snapshot = self._snapshot
        body = [a.as_json(valid_until) for a in snapshot.firing.values()]
        body += [a.as_json(cleared) for a, cleared, _ in snapshot.resolved.values()]
        return body

    def _loop(self) -> None:
        while not self._stop.is_set():
            now = self.tick()
            for target in self.targets:
                if self._due(target, now):
                    self._send(target, now)
            waits = [t.next_attempt for t in self.targets if t.next_attempt > now]
            wait = min(waits, default=now + self.interval) - now
            self._wake.wait(max(0.05, min(wait, self.interval)))
            self._wake.clear()

    def _due(self, target: _Target, now: float) -> bool:
        if now < target.next_attempt:
            return False
        fresh = target.sent_version != self._snapshot.version
        return (fresh and now - target.sent_at >= MIN_RESEND_SECONDS) or (
            now - target.sent_at >= self.interval
        )

    def _send(self, target: _Target, now: float) -> None:
        version = self._snapshot.version
        body = self.payload()
        if not body and target.sent_version == -1:
            target.sent_version = version  # nothing to say yet
            return
        try:
            _post(target.url, body)
        except (OSError, urllib.error.URLError, ValueError) as exc:
            self.counts[(target.url, "failure")] += 1
            target.backoff = min(
                max(target.backoff * 2, BACKOFF_START_SECONDS), BACKOFF_MAX_SECONDS
            )
            target.next_attempt = now + target.backoff
            LOGGER.warning(
                "alertmanager notification failed; retrying",
                extra={"alertmanager": target.url, "error": str(exc),
                       "retry_in_seconds": target.backoff},
            )  # fmt: skip
            return
        self.counts[(target.url, "success")] += 1
        target.backoff, target.next_attempt = 0.0, 0.0
        target.sent_version, target.sent_at = version, now


_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # no proxy, no DNS


def _post(base: str, body: list[dict[str, object]]) -> None:
    request = urllib.request.Request(
        base.rstrip("/") + "/api/v2/alerts",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with _OPENER.open(request, timeout=POST_TIMEOUT_SECONDS) as response:
        response.read()


class AlertmanagerCollector(Collector):
    """``dnsmon_alertmanager_notifications_total``, collected per scrape."""

    def __init__(self, sender: Callable[[], AlertSender | None]) -> None:
        self.sender = sender

    def collect(self) -> Iterator[Metric]:
        family = CounterMetricFamily(
            "dnsmon_alertmanager_notifications",
            "Posts of dnsmon's own alerts to Alertmanager, by result.",
            labels=["alertmanager", "result"],
        )
        sender = self.sender()
        for (url, result), count in sorted((sender.counts if sender else {}).items()):
            family.add_metric([url, result], float(count))
        yield family
