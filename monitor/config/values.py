"""Durations and numbers in probes.yaml, and the bounds every setting must stay within.

A value out of its bounds is refused with why, in the operator's words: a 10-billion-hour
interval would only crash the round thread later, and a timeout of 1e-19 s would make
every query fail.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from monitor.config.quoting import quote

_DURATION = re.compile(r"^(?:(\d+(?:\.\d+)?)(ms|s|m|h|d))+$")
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
# Longer text is no duration anyone wrote; not matching it keeps the regex linear.
_MAX_DURATION_TEXT = 40
DAY = 86400.0


@dataclass(frozen=True)
class Bounds:
    """The range a setting accepts, and why, said to the operator who left it."""

    low: float
    high: float
    too_low: str
    too_high: str
    unit: str = ""  # "" for a duration, else what the number counts ("queries a second")


INTERVAL = Bounds(
    1.0,
    DAY,
    "probing more than once a second only adds load to the servers being watched",
    "a monitor that probes less than once a day warns too late to act on",
)
TIMEOUT = Bounds(
    0.001,
    DAY,
    "no server answers that fast, so every query would time out",
    "a query must be answered or given up within the round that asks it",
)
SERVE_STALE = Bounds(
    0.0,
    30 * DAY,
    "",
    "RFC 8767 suggests 1 to 3 days; leave serve_stale out if you do not know it",
)
ATTEMPTS = Bounds(
    1,
    10,
    "",
    "each attempt waits a whole timeout, so a dead server would hold every round",
    "attempts",
)
MAX_QPS = Bounds(
    1,
    1_000_000,
    "slower than that, a round of a hundred queries would take minutes",
    "no DNS server answers one monitor that fast; the limit is there to protect them",
    "queries a second",
)


def parse_duration(value: object, allow_zero: bool = False) -> float:
    """``500ms``, ``2s``, ``1m30s``, ``3d`` → seconds.

    Raises ValueError for anything else, including negative, infinite or NaN values and
    a number without a unit (but 0, which is the same in every unit).
    """
    seconds = _seconds(value)
    if seconds < 0 or (seconds == 0 and not allow_zero):
        raise ValueError("must be greater than zero")
    return seconds


def _seconds(value: object) -> float:
    not_duration = ValueError(f"{quote(value)} is not a duration like 500ms, 2s or 1m")
    if isinstance(value, bool):
        raise ValueError("expected a duration like 500ms, 2s or 1m")
    if isinstance(value, int | float):
        seconds = _float(value)
        if math.isfinite(seconds) and seconds > 0:
            raise ValueError(_no_unit(value))
    elif isinstance(value, str) and _is_duration(value.strip()):
        parts = _DURATION_PART.findall(value.strip())
        seconds = sum(float(n) * _UNIT_SECONDS[u] for n, u in parts)
    else:
        raise not_duration
    if not math.isfinite(seconds):
        raise not_duration
    return seconds


def _no_unit(value: int | float) -> str:
    """Why a number is no duration: it could be seconds or hours; the hint says how the
    seconds would be written."""
    written = f"{value:g}s" if isinstance(value, float) else f"{value}s"
    if not _is_duration(written):  # 1e-19 has no form with a unit worth suggesting
        return f"{quote(value)} has no unit; write a duration like 500ms, 2s or 1m"
    return f"{quote(value)} has no unit: write `{written}` for seconds (or use ms, m, h or d)"


def _is_duration(text: str) -> bool:
    return len(text) <= _MAX_DURATION_TEXT and _DURATION.match(text) is not None


def _float(value: int | float) -> float:
    try:
        return float(value)
    except OverflowError:  # an integer beyond any float: no finite duration
        return math.inf


def out_of_bounds(value: object, number: float, bounds: Bounds, what: str) -> str | None:
    """Why ``number`` (as the user wrote it: ``value``) is outside ``bounds``, or None."""
    if number < bounds.low:
        limit, side, reason = bounds.low, 0, bounds.too_low
    elif number > bounds.high:
        limit, side, reason = bounds.high, 1, bounds.too_high
    else:
        return None
    if bounds.unit:
        than, most = ("less", "more")[side], f"the {('minimum', 'maximum')[side]} for {what}"
    else:
        than, most = ("shorter", "longer")[side], f"the {('shortest', 'longest')[side]} {what}"
    because = f": {reason}" if reason else ""
    return f"{quote(value)} is {than} than {show(limit, bounds)}, {most} dnsmon takes{because}"


def show(number: float, bounds: Bounds) -> str:
    """A bound as the operator would write it: ``1s``, ``24h``, ``10 attempts``."""
    if bounds.unit:
        return f"{number:,.0f}" if number == int(number) else f"{number:,g}"
    return format_duration(number)


def format_duration(seconds: float) -> str:
    """Seconds as probes.yaml writes them: ``500ms``, ``30s``, ``1m30s``, ``720h``."""
    if seconds < 1:
        return f"{seconds * 1000:g}ms"
    hours, rest = divmod(seconds, 3600)
    minutes, rest = divmod(rest, 60)
    parts = [f"{hours:g}h" if hours else "", f"{minutes:g}m" if minutes else ""]
    parts.append(f"{round(rest, 3):g}s" if rest or not any(parts) else "")
    return "".join(parts)


CLIENT_TIMEOUT = Bounds(
    0.001,
    60.0,
    "no resolver answers that fast, so every lookup would fail",
    "no stub waits that long for one server (glibc stops at 30s)",
)
CLIENT_ATTEMPTS = Bounds(
    1,
    10,
    "",
    "no stub tries a server that often (glibc stops at 5)",
    "attempts",
)
LOOKUP_BUDGET = Bounds(
    0.001,
    3600.0,
    "no lookup is that fast",
    "an application that waits an hour for a name needs no budget",
)
WARN_BEFORE = Bounds(
    0.0,
    365 * DAY,
    "",
    "a warning a year ahead is no warning anyone acts on",
)
