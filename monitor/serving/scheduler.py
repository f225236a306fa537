"""The exporter's heart: a round every interval, the latest report, and config reloads.

Rounds never overlap: a slow round delays the next and is counted as an overrun. Each
round's queries are spread over most of the interval instead of sent in a burst, and the
round's metrics are rendered as soon as it ends, so scrapes never wait for a round.

A watchdog notices when rounds stop, because their thread died or because none has
finished for far longer than the config allows: ``check_health`` then says why (for
``/-/healthy``), and the log says so once, with the exception or the stuck stack.
"""

from __future__ import annotations

import os
import sys
import threading
import time
import traceback
from dataclasses import dataclass
from typing import Any

from monitor import config as config_module
from monitor.config import Config, ConfigError
from monitor.judging import lint
from monitor.outputs import alerts, logs, metrics
from monitor.outputs import learned as learned_output
from monitor.outputs.logs import LOGGER
from monitor.serving import memory
from monitor.serving.alertmanager import AlertSender
from monitor.serving.learning import LiveLearning
from monitor.serving.rounds import Monitor

DAYS = 7  # learn's window, as the verb's default
SPREAD_FRACTION = 0.5  # of the interval left after the worst-case timeouts
STALL_INTERVALS = 3  # rounds count as stopped after this many intervals without one …
STALL_PASSES = 2  # … plus this many passes of every query's timeouts (plan, then chains)
SETTLE_QUIET, SETTLE_MOST = 0.5, 5.0  # a reload waits for a file being written (seconds)
WATCHDOG_SECONDS = 1.0


@dataclass(frozen=True)
class Published:
    """What readers see: the last round's report and its rendered metrics.

    Only these outlive the round: its raw answers and judged health are dropped as soon
    as they are rendered, so two rounds' worth never sit in memory at once.
    """

    report: dict[str, Any]
    exposition: metrics.Exposition
    finished_at: float


class Scheduler:
    """Runs rounds on a thread; readers call ``latest()``; ``reload()`` swaps the config."""

    def __init__(self, config_path: str, status_url: str = "") -> None:
        self.config_path = config_path
        self.status_url = status_url  # where alerts point people: the status page
        memory.one_heap()
        self.monitor = Monitor(config_module.load(config_path), continuous=True)
        memory.settle()
        self.sender = _sender(self.monitor.config)
        self.learning = _learning(self.monitor.config)
        self.totals = metrics.Totals()
        self.collections = memory.RoundCollections()
        self.reload_state = metrics.ReloadState()
        self._latest: Published | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._reloading = threading.Lock()
        self._thread = _rounds_thread(self._loop)
        self._watchdog = threading.Thread(target=self._watch, name="dnsmon-watchdog", daemon=True)
        self._progress = time.monotonic()  # when a round last finished, or rounds started
        self._first = 0.0  # how long the first round may take at the most (``start``)
        self._death: str | None = None  # why the rounds thread ended, if it did
        self._last_error: str | None = None  # the last round's exception, if it failed
        self._unhealthy: str | None = None  # what the log was last told

    def start(self) -> None:
        self._progress = time.monotonic()
        self._first = first_round_seconds(self.monitor)
        interval = self.monitor.config.defaults.interval
        if self._first > interval:
            LOGGER.warning(
                "the first round may take longer than the interval; /-/healthy allows it",
                extra={"first_round_seconds": round(self._first), "interval_seconds": interval},
            )
        self._thread.start()
        self._watchdog.start()
        self.sender.start()
        if self.learning is not None:
            self.learning.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        self.sender.stop()
        if self.learning is not None:
            self.learning.stop()  # and write what was learned

    def health(self) -> str | None:
        """None while rounds run; otherwise why they have stopped."""
        if self._stop.is_set() or self._thread.ident is None:
            return None  # stopping, or not started
        if not self._thread.is_alive():
            return f"the rounds thread has stopped: {self._death or 'for an unknown reason'}"
        d = self.monitor.config.defaults
        limit = STALL_INTERVALS * d.interval + STALL_PASSES * d.timeout * d.attempts
        if self.latest() is None:  # the first round asks every chain and shape it learns
            limit += self._first
        quiet = time.monotonic() - self._progress
        if quiet <= limit:
            return None
        reason = f"no round has finished for {quiet:.0f} s (allowed: {limit:.0f} s)"
        return reason + (f"; the last one failed: {self._last_error}" if self._last_error else "")

    def check_health(self) -> str | None:
        """``health()``, logging each change between running and stopped once."""
        problem = self.health()
        with self._lock:
            was, self._unhealthy = self._unhealthy, problem
        if problem and not was:
            extra = {"reason": problem}
            if self._thread.is_alive() and self._thread.ident is not None:
                extra["stack"] = _stack_of(self._thread.ident)
            LOGGER.error("rounds have stopped; /-/healthy fails until they run again", extra=extra)
        elif was and not problem:
            LOGGER.info("rounds run again; /-/healthy is OK", extra={"was": was})
        return problem

    def _watch(self) -> None:
        while not self._stop.wait(WATCHDOG_SECONDS):
            self.check_health()
            if self.collections.resume_if_over(self.monitor.config.defaults.interval):
                LOGGER.warning("a round has run longer than its interval; collecting again")

    def latest(self) -> Published | None:
        with self._lock:
            return self._latest

    def reload(self) -> str | None:
        """Re-read the config; on error keep the old one and return the error text.

        A rounds thread that died is restarted; a reload that cannot restart it fails,
        even with a good config.
        """
        with self._reloading:
            try:
                config = self._settled_config()
            except ConfigError as exc:
                self.reload_state.successful = False
                LOGGER.error(
                    "config reload failed; keeping the running config", extra={"error": str(exc)}
                )
                return str(exc)
            changed = config.fingerprint != self.monitor.config.fingerprint
            findings: list[lint.Finding] = []
            if changed:
                monitor = Monitor(config, continuous=True)
                findings = lint.reload_findings(self.monitor.config, config, monitor.graph)
                monitor.succeed(self.monitor)
                self.monitor = monitor
                self._replace_sender(config)
                self._relearn(config)
                self.totals.forget_except(config)
                self.collections.settle_due = True  # when the round holding the old one ends
            problem = self._restart_rounds()
            self.reload_state.successful = problem is None
            if problem is not None:
                LOGGER.error("config reload failed: rounds do not run", extra={"error": problem})
                return problem
            self.reload_state.success_timestamp = time.time()
            LOGGER.info("config reloaded", extra=_reloaded(self.config_path, config, changed))
            if changed:
                for finding in findings:  # warnings, not refusals: the reload stands
                    fields = {"finding": finding["kind"], "subject": finding["subject"]}
                    LOGGER.warning(finding["message"], extra=fields)
                self._wake.set()  # probe the new config now rather than after a whole interval
            return None

    def _settled_config(self) -> Config:
        """The config once the file has been left alone for a moment: an editor or a
        deploy tool writing it in place could otherwise be caught between two writes,
        with a file that parses (cut at a line) and holds half the services. Waits for
        the file to go unmodified for ``SETTLE_QUIET`` seconds, at most ``SETTLE_MOST``."""
        give_up = time.monotonic() + SETTLE_MOST
        while True:
            try:
                age = time.time() - os.stat(self.config_path).st_mtime
            except OSError:
                age = SETTLE_QUIET  # unreadable: load() says why
            if age >= SETTLE_QUIET:
                return config_module.load(self.config_path)
            if time.monotonic() >= give_up:
                raise ConfigError([f"{self.config_path}: still being written "
                                   f"{SETTLE_MOST:.0f} s later; not reloaded"])  # fmt: skip
            time.sleep(min(SETTLE_QUIET - age, SETTLE_QUIET) + 0.01)

    def _restart_rounds(self) -> str | None:
        """Start a new rounds thread if the old one died; why rounds cannot run, if so."""
        if self._stop.is_set() or self._thread.ident is None:
            return None
        if self._thread.is_alive():
            stalled = self.health()
            if stalled:  # a slow round ends some time; the new config applies from then on
                LOGGER.warning(
                    "rounds are stalled; the new config applies once the running round ends",
                    extra={"reason": stalled},
                )
            return None
        died = self._death
        self._death, self._last_error = None, None
        self._progress = time.monotonic()
        old, self._thread = self._thread, _rounds_thread(self._loop)
        try:
            self._thread.start()
        except RuntimeError as exc:  # no thread can be started: out of memory or tasks
            self._thread, self._death = old, f"{died}; restarting it failed: {exc}"
            return f"the rounds thread stopped ({died}) and could not be restarted: {exc}"
        LOGGER.warning("rounds restarted by the reload", extra={"stopped_by": died})
        return None

    def _loop(self) -> None:
        try:
            self._rounds()
        except BaseException as exc:  # whatever ends the thread is told, then it ends
            self._death = f"{type(exc).__name__}: {exc}"
            LOGGER.critical("the rounds thread died; no more rounds", exc_info=exc)

    def _rounds(self) -> None:
        next_start = time.monotonic()
        while not self._stop.is_set():
            monitor = self.monitor
            interval = monitor.config.defaults.interval
            # The first round is not spread out, so /-/ready and the first scrape come soon.
            first = self.latest() is None
            try:
                with self.collections.round():
                    self.run_once(monitor, spread=0.0 if first else _spread(monitor))
            except Exception as exc:  # a bug in one round must not stop the exporter
                self._last_error = f"{type(exc).__name__}: {exc}"
                LOGGER.exception("round failed")
            memory.release()  # what the round and its collection freed, back to the system
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
        learned = self.learning.learned(monitor.graph) if self.learning is not None else None
        if learned is not None:
            outcome.report["learned"] = learned_output.report(
                DAYS, learned.sources, learned.findings
            )
        view = metrics.RoundView(
            monitor.graph, outcome.health, results, finished, outcome.round.duration_seconds,
            outcome.causes, outcome.memory, outcome.facts, learned, outcome.round.started_at,
        )  # fmt: skip
        exposition = metrics.render(metrics.RoundCollector(view, self.totals))
        published = Published(outcome.report, exposition, finished)
        previous = self.latest()
        with self._lock:
            self._latest = published
        self._progress, self._last_error = time.monotonic(), None
        logs.log_round(previous.report if previous else None, outcome.report)
        hold = monitor.config.defaults.interval  # down in two rounds running before a page
        self.sender.update(alerts.build(outcome.report, self.status_url, hold))
        del previous
        LOGGER.debug(
            "round done",
            extra={"seconds": round(outcome.round.duration_seconds, 3),
                   "metrics_cpu_seconds": round(exposition.cpu_seconds, 4)},
        )  # fmt: skip
        return published

    def _relearn(self, config: Config) -> None:
        """New owners for what is learned; new sockets need a restart (they are the
        resolvers' to connect to, and moving them under a running resolver loses data)."""
        if self.learning is None:
            self.learning = _learning(config)
            if self.learning is not None:
                self.learning.start()
            return
        if config.learning.dnstap != self.learning.listener.endpoints:
            LOGGER.warning("learning.dnstap changed; it applies when dnsmon restarts")
        self.learning.reconfigure(config)

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


def first_round_seconds(monitor: Monitor) -> float:
    """The longest the first round can take: the busiest server's queries at its pace,
    asked twice (the plan, then the chains and shapes it learns), each pass ending with a
    query's every attempt timing out."""
    d = monitor.config.defaults
    per_server: dict[tuple[str, int], int] = {}
    for query in monitor.queries_for(None):
        key = (query.server.address, query.server.port)
        per_server[key] = per_server.get(key, 0) + 1
    busiest = max(per_server.values(), default=0)
    return STALL_PASSES * (busiest / d.max_qps_per_server + d.timeout * d.attempts)


def _reloaded(path: str, config: Config, changed: bool) -> dict[str, Any]:
    """The fields of a successful reload's log line: whether the file changed (a reload
    of the same file is told too, so whoever sent SIGHUP sees it was read), and what the
    config now holds."""
    return {
        "config": path, "changed": str(changed).lower(), "fingerprint": config.fingerprint,
        "services": len(config.services), "names": len(config.names),
        "servers": len(config.servers),
    }  # fmt: skip


def _rounds_thread(target: Any) -> threading.Thread:
    return threading.Thread(target=target, name="dnsmon-rounds", daemon=True)


def _stack_of(ident: int) -> str:
    """Where a (stuck) thread is now, as a traceback reads."""
    frame = sys._current_frames().get(ident)
    return "".join(traceback.format_stack(frame)).rstrip() if frame else ""


def _learning(config: Config) -> LiveLearning | None:
    learning = config.learning
    return LiveLearning(config) if learning.dnstap or learning.state else None


def _sender(config: Config) -> AlertSender:
    return AlertSender(config.alerting.alertmanagers, config.defaults.interval)


def _spread(monitor: Monitor) -> float:
    d = monitor.config.defaults
    return max(0.0, d.interval - d.timeout * d.attempts) * SPREAD_FRACTION
