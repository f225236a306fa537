"""Messages in, aggregates out: attribution, the noise told apart at once, and what each
source gave."""

from __future__ import annotations

import time
from collections.abc import Iterable
from pathlib import Path

from monitor.config import Config
from monitor.learning import readers
from monitor.learning.aggregate import Aggregates
from monitor.learning.messages import CANARY_PREFIX, REVERSE, Malformed, Message, SourceStats
from monitor.learning.owners import Owners

MAX_WAITING = 1000  # questions held per source while it has shown no answer
EARLIEST = 631_152_000.0  # 1990-01-01: no resolver's log is older
DAY = 86400.0


class Learner:
    """Attributes each message to its owners and counts it; keeps no client address."""

    def __init__(self, config: Config, learned: Aggregates | None = None) -> None:
        self.owners = Owners(config)
        self.learned = learned if learned is not None else Aggregates()
        self._answered: set[str] = set()  # sources that log answers: their questions repeat
        # Questions of a source that has shown no answer yet: counted only if none comes.
        self._questions: dict[str, list[Message]] = {}

    def read(self, items: Iterable[Message | Malformed], stats: SourceStats) -> None:
        """Every message of one source, to its end."""
        for item in items:
            if isinstance(item, Malformed):
                stats.malformed += 1
            else:
                self.take(item, stats)
        self.flush(stats)

    def read_files(self, paths: Iterable[str | Path]) -> list[SourceStats]:
        """Each file to its end, its format told from its content; what each gave. Raises
        OSError or UnknownFormat for a file that cannot be read at all."""
        stats = []
        for path in paths:
            name, items = readers.read(path)
            stats.append(SourceStats(str(path), name))
            self.read(items, stats[-1])
        return stats

    def take(self, message: Message, stats: SourceStats) -> None:
        """Count one message of a source; attribute and keep it where it belongs. A
        question logged apart from its answer waits: where the source logs answers, they
        are counted instead. A time that cannot be (not finite, before 1990, more than a
        day ahead of this clock) is damage: one such would move the window of days."""
        if not EARLIEST <= message.time <= time.time() + DAY:
            stats.malformed += 1
            return
        if message.query_only:
            if stats.source not in self._answered:
                waiting = self._questions.setdefault(stats.source, [])
                waiting.append(message)
                if len(waiting) >= MAX_WAITING:  # a source that logs questions only
                    self.flush(stats)
            return
        if stats.source not in self._answered:
            self._answered.add(stats.source)
            self._questions.pop(stats.source, None)
        self._count(message, stats)

    def flush(self, stats: SourceStats) -> None:
        """Count the questions still waiting for an answer that the source never logs."""
        for message in self._questions.pop(stats.source, []):
            self._count(message, stats)

    def _count(self, message: Message, stats: SourceStats) -> None:
        stats.messages += 1
        stats.newest = max(stats.newest, message.time)
        canary = message.name.split(".", 1)[0].startswith(CANARY_PREFIX)
        found = None if message.own or canary else self.owners.of(message.client)
        owners = found or ()
        if found is None or message.name.endswith(REVERSE):
            stats.noise += 1  # reverse lookups are still kept: reported as noise
        elif owners:
            stats.kept += 1
        else:
            stats.foreign += 1
        for owner in owners:
            self.learned.add(owner, message)
