"""'Did you mean …?' for misspelt names in config and on the command line."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def did_you_mean(word: str, choices: Iterable[str], prefix: str = "") -> str:
    """A suggestion suffix for a misspelt name, or an empty string; ``prefix`` is shown
    before the suggestion but left out of the comparison."""
    options = sorted(choices)
    close = difflib.get_close_matches(word, options, n=1, cutoff=0.6)
    if not close and word:
        close = [c for c in options if c.startswith(word)]
    return f" (did you mean {prefix + close[0]!r}?)" if close else ""
