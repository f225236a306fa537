"""The exporter's heart: a round every interval, the latest outcome, and config reloads.

Rounds never overlap: a slow round delays the next and is counted as an overrun. Each
round's queries are spread over most of the interval instead of sent in a burst, and the
round's metrics are rendered as soon as it ends, so scrapes never wait for a round.
"""

from __future__ import annotations

import ctypes
import threading
import time
from dataclasses import dataclass
from typing import Any

from monitor import config as config_module
from monitor.config import Config, ConfigError
from monitor.outputs import alerts, logs, metrics
from monitor.outputs.logs import LOGGER
from monitor.serving.alertmanager import AlertSender
from monitor.serving.rounds import Monitor, Outcome

SPREAD_FRACTION = 0.5  # of the interval left after the worst-case timeouts


@dataclass(frozen=True)
class Published:
    """What readers see: the last outcome and its rendered metrics."""

    outcome: Outcome
    exposition: metrics.Exposition
    finished_at: float


class Scheduler:
    """Runs rounds on a thread; readers call ``latest()``; ``reload()`` swaps the config."""

    def __init__(self, config_path: str, status_url: str = "") -> None:
        self.config_path = config_path
        self.status_url = status_url  # where alerts point people: the status page
        self.monitor = Monitor(config_module.load(config_path), continuous=True)
        self.sender = _sender(self.monitor.config)
        self.totals = metrics.Totals()
        self.reload_state = metrics.ReloadState()
        self._latest: Published | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="dnsmon-rounds", daemon=True)

    def start(self) -> None:
        self._thread.start()
        self.sender.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        self.sender.stop()

    def latest(self) -> Published | None:
        with self._lock:
            return self._latest

    def reload(self) -> str | None:
        """Re-read the config; on error keep the old one and return the error text."""
        try:
            config = config_module.load(self.config_path)
        except ConfigError as exc:
            self.reload_state.successful = False
            LOGGER.error(
                "config reload failed; keeping the running config", extra={"error": str(exc)}
            )
            return str(exc)
        self.reload_state.successful = True
        self.reload_state.success_timestamp = time.time()
        if config.fingerprint == self.monitor.config.fingerprint:
            return None  # unchanged: keep the running monitor and its schedule
        monitor = Monitor(config, continuous=True)
        monitor.succeed(self.monitor)
        self.monitor = monitor
        self._replace_sender(config)
        self.totals.forget_except(config)
        LOGGER.info("config reloaded", extra={"fingerprint": config.fingerprint})
        self._wake.set()  # probe the new config now rather than after a whole interval
        return None

    def _loop(self) -> None:
        next_start = time.monotonic()
        while not self._stop.is_set():
            monitor = self.monitor
            interval = monitor.config.defaults.interval
            # The first round is not spread out, so /-/ready and the first scrape come soon.
            first = self.latest() is None
            try:
                self.run_once(monitor, spread=0.0 if first else _spread(monitor))
            except Exception:  # a bug in one round must not stop the exporter; it is logged
                LOGGER.exception("round failed")
            next_start += interval
            now = time.monotonic()
            if now > next_start:
                self.totals.overruns += 1
                LOGGER.warning("round overran its interval", extra={"interval": interval})
                next_start = now
            self._wake.wait(max(0.0, next_start - now))
            if self._wake.is_set():
                self._wake.clear()
                next_start = time.monotonic()

    def run_once(self, monitor: Monitor, spread: float = 0.0) -> Published:
        """One round, judged, logged and rendered; published for readers."""
        outcome = monitor.run_round(spread=spread)
        results = list(outcome.round.results.values())
        self.totals.add(outcome.health, results)
        finished = time.time()
        view = metrics.RoundView(
            monitor.graph, outcome.health, results, finished, outcome.round.duration_seconds,
            outcome.causes, outcome.memory,
        )  # fmt: skip
        exposition = metrics.render(metrics.RoundCollector(view, self.totals))
        published = Published(outcome, exposition, finished)
        previous = self.latest()
        with self._lock:
            self._latest = published
        logs.log_round(previous.outcome.report if previous else None, outcome.report)
        hold = monitor.config.defaults.interval  # down in two rounds running before a page
        self.sender.update(alerts.build(outcome.report, self.status_url, hold))
        del previous
        _release_memory()
        LOGGER.debug(
            "round done",
            extra={"seconds": round(outcome.round.duration_seconds, 3),
                   "metrics_cpu_seconds": round(exposition.cpu_seconds, 4)},
        )  # fmt: skip
        return published

    def _replace_sender(self, config: Config) -> None:
        """New Alertmanagers, or a new interval: a new sender that keeps the counts and
        what is firing, so nothing is resolved or re-announced by a reload alone."""
        old = self.sender
        urls = config.alerting.alertmanagers
        if tuple(t.url for t in old.targets) == urls and old.interval == config.defaults.interval:
            return
        new = _sender(config)
        new.counts.update({k: v for k, v in old.counts.items() if k[0] in urls})
        new.adopt(old)
        old.stop()
        self.sender = new
        new.start()


def _sender(config: Config) -> AlertSender:
    return AlertSender(config.alerting.alertmanagers, config.defaults.interval)


def _release_memory() -> None:
    """Hand the previous round's freed memory back to the system (glibc only).

    A round allocates and frees tens of megabytes of short-lived strings; without a
    trim, glibc keeps them in the heap and the exporter's resident size creeps up.
    """
    if _LIBC is not None:
        _LIBC.malloc_trim(0)


def _load_libc() -> Any:
    try:
        libc = ctypes.CDLL("libc.so.6")
        return libc if hasattr(libc, "malloc_trim") else None
    except OSError:
        return None


_LIBC = _load_libc()


def _spread(monitor: Monitor) -> float:
    d = monitor.config.defaults
    return max(0.0, d.interval - d.timeout * d.attempts) * SPREAD_FRACTION
