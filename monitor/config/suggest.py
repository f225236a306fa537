"""'Did you mean …?' for misspelt names in config and on the command line."""

from __future__ import annotations

import bisect
import difflib
from collections.abc import Iterable

from monitor.config.quoting import quote

# With many choices only those sharing the longest start or end with the word are compared
# closely: a typo leaves most of a name as it was, and comparing every one of 20,000
# names would take a second per suggestion.
NEIGHBOURS = 40


def did_you_mean(word: str, choices: Iterable[str], prefix: str = "") -> str:
    """A suggestion suffix for a misspelt name, or an empty string; ``prefix`` is shown
    before the suggestion but left out of the comparison."""
    return Suggester(choices)(word, prefix)


class Suggester:
    """``did_you_mean`` over one set of choices, asked many times: sorted once, and
    suggesting for the first ``budget`` words only, so a file with 100,000 misspelt
    references is refused as fast as one with a few."""

    def __init__(self, choices: Iterable[str], budget: int | None = None) -> None:
        self.options = sorted(choices)
        self.budget = budget
        self._backwards: list[str] | None = None

    def __call__(self, word: str, prefix: str = "", exclude: str | None = None) -> str:
        """A suggestion suffix for ``word``; ``exclude`` is never suggested."""
        if self.budget is not None:
            if self.budget <= 0:
                return ""
            self.budget -= 1
        near = [c for c in self._shortlist(word) if c != exclude]
        close = difflib.get_close_matches(word, near, n=1, cutoff=0.6)
        if not close and word:
            close = [c for c in self.options if c.startswith(word) and c != exclude][:1]
        return f" (did you mean {quote(prefix + close[0])}?)" if close else ""

    def _shortlist(self, word: str) -> list[str]:
        """The options nearest to ``word`` in sorted order from its start and its end."""
        if len(self.options) <= 4 * NEIGHBOURS:
            return self.options
        if self._backwards is None:
            self._backwards = sorted(option[::-1] for option in self.options)
        near = set(_around(word, self.options))
        near.update(option[::-1] for option in _around(word[::-1], self._backwards))
        return sorted(near)


def _around(word: str, ordered: list[str]) -> list[str]:
    middle = bisect.bisect_left(ordered, word)
    return ordered[max(0, middle - NEIGHBOURS // 2) : middle + NEIGHBOURS // 2]
