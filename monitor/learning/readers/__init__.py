"""One reader per traffic format, behind one signature, and the format told from the
content: ``read(path)`` gives the format's name and its messages (or ``Malformed``
records, counted, never fatal). gzip-compressed files are read as they are."""

from __future__ import annotations

import gzip
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

from monitor.learning.messages import Malformed, Message
from monitor.learning.readers import (
    bind,
    dnstap,
    framestreams,
    powerdns,
    unbound,
    windows,
    zeek,
)

Reader = Callable[[BinaryIO], Iterator[Message | Malformed]]
PEEK = 4096  # bytes read to tell the format


class UnknownFormat(ValueError):
    """A file that is none of the formats dnsmon reads."""


# (name, does the file's head look like it, reader): tried in order.
FORMATS: list[tuple[str, Callable[[bytes], bool], Reader]] = [
    ("dnstap", framestreams.looks_like, dnstap.read),
    ("zeek-tsv", zeek.looks_like_tsv, zeek.read_tsv),
    ("zeek-json", zeek.looks_like_json, zeek.read_json),
    ("unbound", unbound.looks_like, unbound.read),
    ("bind-querylog", bind.looks_like, bind.read),
    ("powerdns", powerdns.looks_like, powerdns.read),
    ("windows-debug", windows.looks_like, windows.read),
]


def read(path: str | Path) -> tuple[str, Iterator[Message | Malformed]]:
    """(format, messages) of one file; raises OSError, UnknownFormat."""
    stream = _open(Path(path))
    head = stream.peek(PEEK)[:PEEK]  # type: ignore[attr-defined]
    for name, recognises, reader in FORMATS:
        if recognises(head):
            return name, _closing(stream, reader(stream))
    stream.close()
    raise UnknownFormat(f"{path}: not dnstap, nor a query or reply log dnsmon knows")


def _open(path: Path) -> BinaryIO:
    raw = path.open("rb")
    if raw.peek(2)[:2] == b"\x1f\x8b":
        return gzip.open(raw)  # type: ignore[return-value]
    return raw  # type: ignore[return-value]


def _closing(
    stream: BinaryIO, items: Iterator[Message | Malformed]
) -> Iterator[Message | Malformed]:
    try:
        yield from items
    finally:
        stream.close()
