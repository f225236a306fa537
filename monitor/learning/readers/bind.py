"""BIND's query log (``querylog yes``, the ``queries`` category), any ``print-time``.

    06-Dec-2026 15:10:14.453 client @0x7ff5394fe098 127.90.0.7#57398 (ehr-db.region.internal):
        query: ehr-db.region.internal IN A +E(0) (127.0.0.1)
    2026-12-06T15:10:17.005Z queries: info: client @0x7fdea5231098 127.90.0.7#50549 (…):
        query: … IN A +E(0) (127.0.0.1)

(one line each).

It names the client and the question, never the rcode or the answer: every line is a
message with no rcode. Times are local unless written with a ``Z``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import BinaryIO

from monitor.learning.messages import Malformed, Message
from monitor.learning.readers.lines import (
    bsd_time,
    local_time,
    matches,
    month_number,
    name_text,
    utc_time,
)

_QUERY = re.compile(
    r"client (?:@0x[0-9a-f]+ )?(?P<client>[0-9A-Fa-f.:]+)#\d+(?: \([^)]*\))?: "
    r"(?:view \S+: )?query: (?P<name>\S+) (?P<class>[A-Z0-9]+) (?P<type>[A-Z0-9]+) [+-]"
)
_LEGACY = re.compile(r"(\d\d)-([A-Z][a-z]{2})-(\d{4}) (\d\d:\d\d:\d\d(?:\.\d+)?)")
_ISO = re.compile(r"(\d{4})-(\d\d)-(\d\d)T(\d\d:\d\d:\d\d(?:\.\d+)?)(Z?)")


def looks_like(head: bytes) -> bool:
    return re.search(rb"client (?:@0x[0-9a-f]+ )?[0-9A-Fa-f.:]+#\d+.*: query: ", head) is not None


def read(stream: BinaryIO) -> Iterator[Message | Malformed]:
    for found in matches(stream, _QUERY, anywhere=True):
        if isinstance(found, Malformed):
            yield found
            continue
        when = _time(found.string)
        if when is None:
            yield Malformed("a query line without a time dnsmon can read")
            continue
        yield Message(when, found["client"], name_text(found["name"]), found["type"])


def _time(line: str) -> float | None:
    try:
        if legacy := _LEGACY.match(line):
            day, month, year, clock = legacy.groups()
            return local_time(int(year), month_number(month), int(day), clock)
        if iso := _ISO.match(line):
            year, month, day, clock, zulu = iso.groups()
            when = (int(year), int(month), int(day), clock)
            return utc_time(*when) if zulu else local_time(*when)
    except (ValueError, OverflowError):
        return None
    return bsd_time(line)  # through syslog: "Dec 06 15:10:14 host named[…]: client …"
