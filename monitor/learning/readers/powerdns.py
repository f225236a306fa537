"""PowerDNS Recursor's log with ``quiet=no``: structured (4.8's default) or not.

    … msg="Answer" … qname="billing.region.internal" qtype="A" rcode="3" …
        remote="127.91.0.1:46714" …
    … msg="Question answered from packet cache" … qname="…" qtype="A" remote="…" …
    Dec 06 15:10:17 1 [9/1] TCP question for 'ehr-db.region.internal|A' from 127.90.1.7:49711
    Dec 06 15:10:17 1 [12/1] answer to question 'billing.region.internal|A': …, rcode=3

An answer gives the rcode (a number) but no answer data. Unstructured answers do not
name the client: it is taken from the question with the same query number. An
unstructured packet-cache line names no question, and cannot be counted for one.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import BinaryIO

import dns.rcode

from monitor.learning.messages import Malformed, Message
from monitor.learning.readers.lines import bsd_time, name_text, text_lines

_PAIRS = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')
_QUESTION = re.compile(r"\[(\d+)/\d+\] (?:TCP )?question for '([^'|]+)\|([A-Z0-9]+)' "
                       r"from ([0-9A-Fa-f.:\[\]]+):\d+")  # fmt: skip
_ANSWER = re.compile(r"\[(\d+)/\d+\] answer to question '([^'|]+)\|([A-Z0-9]+)'.*rcode=(\d+)")
_EVENTS = {"Answer": False, "Question answered from packet cache": False, "Question": True}


def looks_like(head: bytes) -> bool:
    return b"PowerDNS Recursor" in head or b'msg="Question"' in head or b"question for '" in head


def read(stream: BinaryIO) -> Iterator[Message | Malformed]:
    asked: dict[str, str] = {}  # unstructured: query number → the client
    for line in text_lines(stream):
        if line is None:
            yield Malformed("a line that is not text")
        elif 'msg="' in line:
            found = _structured(line)
            if found is not None:
                yield found
        else:
            yield from _unstructured(line, asked)


def _structured(line: str) -> Message | Malformed | None:
    pairs = dict(_PAIRS.findall(line))
    event = pairs.get("msg")
    if event not in _EVENTS or "qname" not in pairs:
        return None
    try:
        when = float(pairs["ts"]) if "ts" in pairs else bsd_time(line)
        client = _address(pairs["remote"])
        rcode = _rcode(pairs["rcode"]) if "rcode" in pairs else None
    except (KeyError, ValueError) as exc:
        return Malformed(f"a PowerDNS line that cannot be read: {exc}")
    if when is None:
        return Malformed("a PowerDNS line without a time")
    return Message(when, client, name_text(pairs["qname"]), pairs.get("qtype", "A"), rcode,
                   query_only=_EVENTS[event])  # fmt: skip


def _unstructured(line: str, asked: dict[str, str]) -> Iterator[Message | Malformed]:
    if question := _QUESTION.search(line):
        number, name, rdtype, client = question.groups()
        asked[number] = client.strip("[]")
        if len(asked) > 100_000:  # answers that never came: forget the oldest half
            for stale in list(asked)[:50_000]:
                del asked[stale]
        when = bsd_time(line)
        if when is not None:
            yield Message(when, asked[number], name_text(name), rdtype, query_only=True)
    elif answer := _ANSWER.search(line):
        number, name, rdtype, rcode = answer.groups()
        client, when = asked.pop(number, None), bsd_time(line)
        if client is None or when is None:
            yield Malformed("an answer whose question is not in the log")
            return
        try:
            yield Message(when, client, name_text(name), rdtype, _rcode(rcode))
        except ValueError:
            yield Malformed(f"an rcode that is none: {rcode}")


def _address(remote: str) -> str:
    """``127.90.0.7:52716`` or ``[::1]:52716`` → the address."""
    host, _, _ = remote.rpartition(":")
    return host.strip("[]")


def _rcode(number: str) -> str:
    return dns.rcode.to_text(dns.rcode.Rcode.make(int(number)))
