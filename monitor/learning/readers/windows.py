"""Windows DNS Server's debug log (``dns.log``: debug logging of packets, queries, both
directions, UDP and TCP). A question and its answer (each one line, cut here):

    12/6/2026 3:10:14 PM 0E70 PACKET  00000000033397A0 UDP Rcv 10.20.0.5       5b47   Q
        [0001   D   NOERROR] A      (3)ehr(6)region(8)internal(0)
    12/6/2026 3:10:14 PM 0E70 PACKET  00000000033397A0 UDP Snd 10.20.0.5       5b47 R Q
        [8081   DR  NOERROR] A      (3)ehr(6)region(8)internal(0)

A question received (``Rcv``, no ``R``) and the response sent (``Snd R``) to the remote
address, the client; the rcode is in the brackets. What the server sends without ``R``
or receives with it is its own query to a forwarder or another server. Notify and
update packets (opcode N, U) are not lookups. With "details" on, each packet is
followed by its dump, which is skipped (so no CNAME chain is read).

The date is the server's short date format, in its local time: year first
(``2026/12/06``), day first with dots (``06.12.2026``), or with slashes month first
(en-US, Windows' default) until a line shows a day past the 12th first.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import BinaryIO

from monitor.learning.messages import Malformed, Message
from monitor.learning.readers.lines import local_time, matches

_PACKET = re.compile(
    r"(?P<date>\d{1,4}[/.-]\d{1,2}[/.-]\d{1,4}) (?P<clock>\d{1,2}:\d\d:\d\d)(?: (?P<half>[AP]M))?"
    r" [0-9A-Fa-f]+ PACKET +[0-9A-Fa-f]+ (?:UDP|TCP) (?P<dir>Snd|Rcv) (?P<remote>[0-9A-Fa-f.:]+)"
    r" +[0-9A-Fa-f]+ (?P<response>[R ]) (?P<opcode>[QNU?]) \[[0-9A-Fa-f]+ +(?:[ATDR]+ +)?"
    r"(?P<rcode>[A-Z]+)\] +(?P<type>\S+) +(?P<name>\S+)"
)
_LABEL_LENGTH = re.compile(r"\(\d+\)")
_HEAD = re.compile(rb" PACKET +[0-9A-Fa-f]+ (?:UDP|TCP) (?:Snd|Rcv) ")
_YEAR_FIRST = re.compile(r"\d{4}[/.-]")


def looks_like(head: bytes) -> bool:
    return b"DNS Server log file" in head or _HEAD.search(head) is not None


def read(stream: BinaryIO) -> Iterator[Message | Malformed]:
    dates = _Dates()
    for found in matches(stream, _PACKET):  # not the header, nor a packet's dump
        if isinstance(found, Malformed):
            yield found
            continue
        if found["opcode"] != "Q":
            continue  # notify and update
        when = dates.time(found["date"], found["clock"], found["half"])
        if when is None:
            yield Malformed("a packet line without a date dnsmon can read")
            continue
        answered = found["response"] == "R"
        yield Message(
            when, found["remote"], _name(found["name"]), found["type"],
            rcode=found["rcode"] if answered else None,
            own=answered == (found["dir"] == "Rcv"),  # it asked, or was answered
            query_only=not answered,
        )  # fmt: skip


def _name(written: str) -> str:
    """``(3)ehr(6)region(8)internal(0)`` → ``ehr.region.internal``."""
    return _LABEL_LENGTH.sub(".", written).strip(".").lower()


class _Dates:
    """A file's short dates, its order learned from the first day past the 12th."""

    def __init__(self) -> None:
        self.day_first: bool | None = None

    def time(self, date: str, clock: str, half: str | None) -> float | None:
        parts = [int(p) for p in re.split(r"[/.-]", date)]
        if _YEAR_FIRST.match(date):
            year, month, day = parts
        elif "." in date:
            day, month, year = parts
        else:
            if self.day_first is None and max(parts[:2]) > 12:
                self.day_first = parts[0] > 12
            first, second, year = parts
            month, day = (second, first) if self.day_first else (first, second)
        hours, rest = clock.split(":", 1)
        hour = int(hours) % 12 + (12 if half == "PM" else 0) if half else int(hours)
        try:
            return local_time(year + 2000 if year < 100 else year, month, day, f"{hour}:{rest}")
        except (ValueError, OverflowError):
            return None
