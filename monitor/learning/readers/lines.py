"""What the text formats share: lines read leniently, and times as logs write them."""

from __future__ import annotations

import calendar
import datetime
import re
import time
from collections.abc import Iterator
from typing import BinaryIO

from monitor.learning.messages import Malformed

MAX_LINE = 65536  # bytes: a longer "line" is not a log line (cut, and counted malformed)
_MONTHS = {m: i for i, m in enumerate("Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split(), 1)}
_BSD = re.compile(r"([A-Z][a-z]{2}) +(\d{1,2}) (\d\d):(\d\d):(\d\d)")


def text_lines(stream: BinaryIO) -> Iterator[str | None]:
    """Each line as text, without its end; None for one that is not text or too long."""
    for raw in stream:
        if len(raw) > MAX_LINE:
            yield None
            continue
        try:
            yield raw.decode("utf-8").rstrip("\r\n")
        except UnicodeDecodeError:
            yield None


def matches(
    stream: BinaryIO, pattern: re.Pattern[str], anywhere: bool = False
) -> Iterator[re.Match[str] | Malformed]:
    """The lines ``pattern`` matches (at their start, or ``anywhere``), as matches; a line
    that is not text is Malformed; the log's other lines are skipped."""
    find = pattern.search if anywhere else pattern.match
    for line in text_lines(stream):
        if line is None:
            yield Malformed("a line that is not text")
        elif (found := find(line)) is not None:
            yield found


def bsd_time(text: str, now: float | None = None) -> float | None:
    """``Dec 06 15:10:14``, local time without a year (Unbound's log-time-ascii, syslog):
    the latest such moment that is not more than a day in the future."""
    found = _BSD.match(text)
    if found is None or found.group(1) not in _MONTHS:
        return None
    now = time.time() if now is None else now
    month, day = _MONTHS[found.group(1)], int(found.group(2))
    hour, minute, second = (int(found.group(i)) for i in (3, 4, 5))
    year = time.localtime(now).tm_year
    for candidate in (year, year - 1):
        try:
            moment = time.mktime((candidate, month, day, hour, minute, second, 0, 0, -1))
        except (OverflowError, ValueError):
            return None
        if moment <= now + 86400:
            return moment
    return None


def utc_time(year: int, month: int, day: int, clock: str) -> float:
    """Seconds since the epoch of a UTC date and ``HH:MM:SS[.fff]``; ValueError for a
    day that does not exist."""
    datetime.date(year, month, day)  # timegm and mktime would roll 13/13 into next year
    hours, minutes, seconds = clock.split(":")
    whole = calendar.timegm((year, month, day, int(hours), int(minutes), 0, 0, 0, 0))
    return whole + float(seconds)


def local_time(year: int, month: int, day: int, clock: str) -> float:
    """Seconds since the epoch of a local date and ``HH:MM:SS[.fff]`` (no zone written);
    ValueError for a day that does not exist."""
    datetime.date(year, month, day)
    hours, minutes, seconds = clock.split(":")
    whole = time.mktime((year, month, day, int(hours), int(minutes), 0, 0, 0, -1))
    return whole + float(seconds)


def month_number(name: str) -> int:
    """``Dec`` → 12; ValueError for anything else."""
    if name not in _MONTHS:
        raise ValueError(f"{name!r} is not a month")
    return _MONTHS[name]


def name_text(written: str) -> str:
    """A name as logs write it, as the config does: lower case, no final dot."""
    return written.rstrip(".").lower()
