"""Config errors: one line each, file and line first, and never more than people can read.

A broken file can hold a million mistakes (a sed gone wrong, an alias repeating a typo);
``Errors`` keeps the first ``MAX_SHOWN`` in file order and counts the rest, so memory and
output stay small whatever the file holds.
"""

from __future__ import annotations

import heapq

MAX_SHOWN = 100  # errors shown; the rest are counted in one closing line


class ConfigError(Exception):
    """A config that cannot be used; ``errors`` lists every problem, one line each."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("\n".join(errors))
        self.errors = errors


class Errors:
    """Located errors of one file: the first ``MAX_SHOWN`` by line kept, all counted."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.count = 0
        # A max-heap on (line, order) of the errors kept: the last in file order on top.
        self._kept: list[tuple[int, int, str]] = []

    def __bool__(self) -> bool:
        return self.count > 0

    def add(self, line: int, message: str) -> None:
        """Record ``message`` (without file and line) as found on ``line``."""
        self.count += 1
        entry = (-line, -self.count, message)
        if len(self._kept) < MAX_SHOWN:
            heapq.heappush(self._kept, entry)
        elif entry > self._kept[0]:  # earlier in the file than the last one kept
            heapq.heapreplace(self._kept, entry)

    def lines(self) -> list[str]:
        """``file:line: message`` in file order, then how many more there are."""
        kept = sorted((-line, -order, message) for line, order, message in self._kept)
        out = [f"{self.source}:{line}: {message}" for line, _, message in kept]
        hidden = self.count - len(kept)
        if hidden:
            last = kept[-1][0]
            out.append(
                f"{self.source}:{last}: and {hidden:,} more error{'s' if hidden > 1 else ''} "
                "from here on, not shown; fix these first"
            )
        return out

    def raise_if_any(self) -> None:
        if self.count:
            raise ConfigError(self.lines())
