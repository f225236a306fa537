"""``serve`` learning live: dnstap from the sockets into aggregates, kept across restarts.

The dnstap thread decodes and attributes each message (``learning``); rounds read what
was learned at most once a minute (the findings) for metrics, the report and the status
page. The aggregates are written to ``learning.state`` (beside it, then renamed) at least
once a minute and when ``serve`` stops, and read back when it starts. No client address
is kept anywhere: not in the state file, a metric or a log.
"""

from __future__ import annotations

import json
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from monitor.config import Config
from monitor.judging import learned as learned_module
from monitor.judging.graph import Graph
from monitor.judging.learned import Finding
from monitor.learning.aggregate import Aggregates
from monitor.learning.learner import Learner
from monitor.learning.messages import Malformed, SourceStats
from monitor.learning.readers import dnstap
from monitor.outputs.logs import LOGGER
from monitor.serving.dnstap import Listener

SAVE_SECONDS = 60.0
JUDGE_SECONDS = 60.0  # findings worked out at most this often (they walk every key)
DAYS = 7


@dataclass(frozen=True)
class Learned:
    """What rounds read: the findings, what each source gave, and queries from backups
    said to need no DNS."""

    findings: list[Finding] = field(default_factory=list)
    sources: list[SourceStats] = field(default_factory=list)
    dns_free_queries: dict[tuple[str, str], int] = field(default_factory=dict)


class LiveLearning:
    """The dnstap listener, the learner and the state file of one ``serve``."""

    def __init__(self, config: Config) -> None:
        self.state = Path(config.learning.state) if config.learning.state else None
        self.learner = Learner(config, self._load())
        self.sources = {e: SourceStats(e, "dnstap") for e in config.learning.dnstap}
        self.lock = threading.Lock()
        self._saving = threading.Lock()
        self.listener = Listener(config.learning.dnstap, self._frame, self._damage)
        self._stop = threading.Event()
        self._saver = threading.Thread(target=self._save_often, name="dnsmon-learned", daemon=True)
        self._judged: tuple[float, int, Learned] | None = None  # when, keys then, what

    def start(self) -> None:
        self.listener.start()
        self._saver.start()

    def stop(self) -> None:
        self._stop.set()
        self.listener.stop()
        self.save()

    def reconfigure(self, config: Config) -> None:
        """A reloaded config: new owners, the same aggregates and counts."""
        with self.lock:
            self.learner = Learner(config, self.learner.learned)
            self._judged = None

    # --- the dnstap thread -----------------------------------------------------------------

    def _frame(self, source: str, frame: bytes) -> None:
        item = dnstap.decode(frame)
        with self.lock:
            stats = self.sources.setdefault(source, SourceStats(source, "dnstap"))
            if isinstance(item, Malformed):
                stats.malformed += 1
            else:  # a question waits for its answer, as in a file (no flush: never ends)
                self.learner.take(item, stats)

    def _damage(self, source: str) -> None:
        with self.lock:
            self.sources.setdefault(source, SourceStats(source, "dnstap")).malformed += 1
        LOGGER.warning("a dnstap sender sent something else; closed", extra={"source": source})

    # --- what rounds read ----------------------------------------------------------------

    def learned(self, graph: Graph, now: float | None = None) -> Learned:
        """The counts now, and the findings: worked out again when a new name or owner
        was heard, else at most once a minute (they walk every key)."""
        now = time.monotonic() if now is None else now
        with self.lock:
            aggregates = self.learner.learned
            keys = len(aggregates.seen)
            judged = self._judged
            if judged is None or judged[1] != keys or now - judged[0] >= JUDGE_SECONDS:
                found = learned_module.findings(graph, aggregates, DAYS)
                judged = self._judged = (now, keys, Learned(found))
            free = learned_module.dns_free_queries(graph, aggregates)
            sources = [SourceStats(**vars(s)) for s in self.sources.values()]
        return Learned(judged[2].findings, sources, free)

    # --- the state file --------------------------------------------------------------------

    def _load(self) -> Aggregates:
        if self.state is None or not self.state.exists():
            return Aggregates()
        try:
            return Aggregates.from_json(json.loads(self.state.read_text()))
        except (OSError, ValueError) as exc:
            LOGGER.error("learning state unreadable; starting afresh", extra={
                "state": str(self.state), "error": str(exc)})  # fmt: skip
            return Aggregates()

    def save(self) -> None:
        """Write the aggregates beside the state file, then rename it into place."""
        if self.state is None:
            return
        with self.lock:
            data = json.dumps(self.learner.learned.as_json(), separators=(",", ":"))
        temporary = self.state.with_name(self.state.name + ".new")
        try:
            with self._saving:  # the minute's save and the one at stop, one at a time
                temporary.write_text(data)
                os.replace(temporary, self.state)
        except OSError as exc:
            LOGGER.error("cannot write the learning state", extra={
                "state": str(self.state), "error": exc.strerror or str(exc)})  # fmt: skip

    def _save_often(self) -> None:
        while not self._stop.wait(SAVE_SECONDS):
            self.save()
