"""Unbound's log with ``log-replies`` (and ``log-queries``), tagged
(``log-tag-queryreply``) or not, times in epoch seconds or ``log-time-ascii``.

    [1796569813] unbound[21095:0] info: 127.91.0.1 billing.region.internal. A IN NXDOMAIN
        0.000050 0 103
    Dec 06 15:10:14 unbound[21099:0] reply: 127.90.0.7 ehr-app.region.internal. A IN NOERROR
        0.000129 0 92

(one line each).

A reply gives the client, the question and the rcode, but no answer data (no CNAME
chain). A question line (``query:``, or an info line that stops after the class) is
counted only where the log holds no replies.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import BinaryIO

from monitor.learning.messages import Malformed, Message
from monitor.learning.readers.lines import bsd_time, matches, name_text

_LINE = re.compile(
    r"(?:\[(?P<epoch>\d+)\]|(?P<ascii>[A-Z][a-z]{2} +\d{1,2} \d\d:\d\d:\d\d)) "
    r"\S+\[\d+:\d+\] (?P<tag>info|query|reply): "
    r"(?P<client>[0-9A-Fa-f.:]+) (?P<name>\S+) (?P<type>[A-Z0-9]+) (?P<class>[A-Z0-9]+)"
    r"(?: (?P<rcode>[A-Z]+) [\d.]+ [01] \d+)?$"
)
_UNBOUND = re.compile(rb"unbound\[\d+:\d+\]")


def looks_like(head: bytes) -> bool:
    return _UNBOUND.search(head) is not None


def read(stream: BinaryIO) -> Iterator[Message | Malformed]:
    for found in matches(stream, _LINE):  # Unbound's own notices share the file
        if isinstance(found, Malformed):
            yield found
            continue
        if found["tag"] == "query" and found["rcode"]:
            yield Malformed("a query line with an rcode")
            continue
        when = float(found["epoch"]) if found["epoch"] else bsd_time(found["ascii"])
        if when is None:
            yield Malformed("a time that cannot be read")
            continue
        rcode = found["rcode"]
        yield Message(when, found["client"], name_text(found["name"]), found["type"], rcode,
                      query_only=rcode is None)  # fmt: skip
