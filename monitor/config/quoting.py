"""Values quoted in config errors, short and safe whatever the file holds.

An error message quotes what the user wrote so they can find it; it must never grow with
the value. An alias bomb's value, a 5,000-digit number or a megabyte of text is shown as
at most ``LIMIT`` characters, and control characters are escaped so a message cannot
drive the terminal of whoever reads it.
"""

from __future__ import annotations

import itertools
import math
import reprlib
from typing import Any

LIMIT = 60  # characters of a quoted value
ELLIPSIS = "…"
# Python refuses to print integers longer than this many digits (3.11's int_max_str_digits
# is 4300); anything near it is no setting anyone meant, so it is described, not printed.
_MAX_INT_DIGITS = 40


def clip(text: str, limit: int = LIMIT) -> str:
    """``text`` cut to ``limit`` characters, ending in an ellipsis when cut."""
    return text if len(text) <= limit else text[: limit - 1] + ELLIPSIS


def quote(value: Any, limit: int = LIMIT) -> str:
    """``repr``-like text of a config value, at most ``limit`` characters (plus quotes)."""
    if isinstance(value, str):
        return repr(clip(value, limit))
    return clip(_SHORT.repr(value), limit)


def key_text(key: Any) -> str:
    """A mapping key as one part of a key path: strings as written, anything else quoted."""
    return key if isinstance(key, str) else quote(key)


def printable_key(part: str) -> str:
    """A key path part for a message: short, with control characters escaped."""
    part = clip(part)
    return part if part.isprintable() else repr(part)[1:-1]


def int_text(value: int) -> str:
    """An integer as digits, or described by its length when it is absurdly long."""
    size = abs(value)
    if size < 10**_MAX_INT_DIGITS:
        return str(value)
    digits = int(math.log10(size)) + 1
    return f"a {digits}-digit number"


class _Short(reprlib.Repr):
    """``reprlib`` bounded on every axis: a few items per level, a few levels deep, so a
    value shared a billion times through aliases costs no more to show than a small one."""

    def __init__(self) -> None:
        super().__init__()
        self.maxlevel = 3
        self.maxlist = self.maxtuple = self.maxdict = self.maxset = self.maxfrozenset = 4
        self.maxstring = self.maxother = LIMIT

    def repr_int(self, x: int, level: int) -> str:
        return int_text(x)

    def repr_str(self, x: str, level: int) -> str:
        return repr(clip(x))

    def repr_dict(self, x: dict[Any, Any], level: int) -> str:
        # reprlib sorts every key first; a mapping is shown in file order, a few keys only.
        if not x:
            return "{}"
        if level <= 0:
            return "{...}"
        items = [
            f"{self.repr1(k, level - 1)}: {self.repr1(v, level - 1)}"
            for k, v in itertools.islice(x.items(), self.maxdict)
        ]
        more = ", ..." if len(x) > self.maxdict else ""
        return "{" + ", ".join(items) + more + "}"


_SHORT = _Short()
