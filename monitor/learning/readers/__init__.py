"""One reader per traffic format, behind one signature, and the format told from the
content: ``read(path)`` gives the format's name and its messages (or ``Malformed``
records, counted, never fatal). gzip-compressed files are read as they are."""

from __future__ import annotations

import io
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

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
CHUNK = 1 << 16


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
        return io.BufferedReader(_Gunzip(raw), CHUNK)  # type: ignore[return-value]
    return raw  # type: ignore[return-value]


class _Gunzip(io.RawIOBase):
    """gzip, member after member, read as far as it goes: a file still being written (or
    cut) ends where its data does, and says so (``cut``). ``gzip.open`` would raise
    instead, losing the last read's data."""

    def __init__(self, raw: BinaryIO) -> None:
        self.raw = raw
        self.inflate = zlib.decompressobj(wbits=31)
        self.pending = b""
        self.cut = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if not self.pending:
            self.pending = self._more()
        size = min(len(buffer), len(self.pending))
        buffer[:size] = self.pending[:size]
        self.pending = self.pending[size:]
        return size

    def close(self) -> None:
        self.raw.close()
        super().close()

    def _more(self) -> bytes:
        """The next decompressed bytes (at most CHUNK: no bomb fills memory); b"" at the end."""
        while True:
            if self.inflate.unconsumed_tail:
                data = self.inflate.unconsumed_tail
            elif self.inflate.eof:  # the next member, if any
                data = self.inflate.unused_data or self.raw.read(CHUNK)
                if not data:
                    return b""
                self.inflate = zlib.decompressobj(wbits=31)
            else:
                data = self.raw.read(CHUNK)
                if not data:
                    self.cut = True
                    return b""
            found = self.inflate.decompress(data, CHUNK)
            if found:
                return found


def _closing(
    stream: BinaryIO, items: Iterator[Message | Malformed]
) -> Iterator[Message | Malformed]:
    try:
        yield from items
        if getattr(getattr(stream, "raw", None), "cut", False):
            yield Malformed("the compressed file ends early (still being written?)")
    except (EOFError, OSError, zlib.error) as exc:  # a damaged .gz, a bad disk
        yield Malformed(f"the file cannot be read on: {exc}")
    finally:
        stream.close()
