"""Frame Streams: the framing dnstap comes in, from a file or a socket.

A stream is frames: a data frame is its length (four bytes, big-endian) and its bytes; a
control frame is a zero length, then its own length, its type and fields (the content
type, ``protobuf:dnstap.Dnstap``). A file holds START, data frames and STOP; a socket
adds the bidirectional handshake (READY ↔ ACCEPT, then START … STOP → FINISH).

Written here rather than taken from the ``fstrm`` package: that one keeps its buffer as
one ``bytes`` that every decoded frame copies the rest of, so reading a file frame by
frame costs the square of its size (measured in the README), and it raises bare
``Exception`` on damage. This decoder keeps an offset into one buffer and compacts it now
and then; damage is a ``Malformed`` that ends the stream, never an error of the caller's.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

from monitor.learning.messages import Malformed

CONTENT_TYPE = b"protobuf:dnstap.Dnstap"
ACCEPT, START, STOP, READY, FINISH = 1, 2, 3, 4, 5
FIELD_CONTENT_TYPE = 1
MAX_FRAME = 1 << 20  # bytes: no dnstap message comes near; more is a damaged stream
CHUNK = 1 << 16
_U32 = struct.Struct("!I")


@dataclass(frozen=True, slots=True)
class Control:
    """A control frame: its type and the content types it names."""

    type: int
    content_types: tuple[bytes, ...] = ()


def control(kind: int, *content_types: bytes) -> bytes:
    """A control frame on the wire (for the handshake's answers)."""
    fields = b"".join(_U32.pack(FIELD_CONTENT_TYPE) + _U32.pack(len(c)) + c for c in content_types)
    body = _U32.pack(kind) + fields
    return _U32.pack(0) + _U32.pack(len(body)) + body


def data_frame(payload: bytes) -> bytes:
    """A data frame on the wire: its length, then its bytes."""
    return _U32.pack(len(payload)) + payload


class Decoder:
    """Frames out of bytes fed in pieces; what is left at the end was cut mid-frame."""

    def __init__(self) -> None:
        self.buffer = bytearray()
        self.offset = 0

    def feed(self, data: bytes) -> None:
        if self.offset > CHUNK:  # drop what was read, now and then, not at every frame
            del self.buffer[: self.offset]
            self.offset = 0
        self.buffer += data

    @property
    def pending(self) -> int:
        """Bytes fed that are not a whole frame yet."""
        return len(self.buffer) - self.offset

    def frames(self) -> Iterator[bytes | Control]:
        """Every whole frame fed so far; raises Malformed on a stream that cannot be read."""
        buffer = self.buffer
        while len(buffer) - self.offset >= 4:
            (length,) = _U32.unpack_from(buffer, self.offset)
            if length == 0:
                found = self._control()
                if found is None:
                    return
                yield found
                continue
            if length > MAX_FRAME:
                raise Malformed(f"a frame of {length:,} bytes: not a Frame Streams stream")
            start = self.offset + 4
            if len(buffer) - start < length:
                return
            self.offset = start + length
            yield bytes(buffer[start : self.offset])

    def _control(self) -> Control | None:
        buffer, at = self.buffer, self.offset
        if len(buffer) - at < 8:
            return None
        (length,) = _U32.unpack_from(buffer, at + 4)
        if not 4 <= length <= MAX_FRAME:
            raise Malformed(f"a control frame of {length:,} bytes")
        if len(buffer) - at - 8 < length:
            return None
        body = bytes(buffer[at + 8 : at + 8 + length])
        self.offset = at + 8 + length
        (kind,) = _U32.unpack_from(body)
        return Control(kind, tuple(_content_types(body[4:])))


def _content_types(fields: bytes) -> Iterator[bytes]:
    at = 0
    while at + 8 <= len(fields):
        kind, size = struct.unpack_from("!II", fields, at)
        value = fields[at + 8 : at + 8 + size]
        if len(value) < size:
            raise Malformed("a control field runs past its frame")
        if kind == FIELD_CONTENT_TYPE:
            yield value
        at += 8 + size


def file_frames(stream: BinaryIO) -> Iterator[bytes | Malformed]:
    """The data frames of a Frame Streams file. A file still being written ends mid-frame,
    and that is not an error; a damaged one yields Malformed and ends."""
    decoder = Decoder()
    while chunk := stream.read(CHUNK):
        decoder.feed(chunk)
        try:
            for frame in decoder.frames():
                if isinstance(frame, Control):
                    if frame.type == START and frame.content_types not in ((), (CONTENT_TYPE,)):
                        yield Malformed(f"content type {frame.content_types[0]!r}, not dnstap")
                        return
                    continue
                yield frame
        except Malformed as exc:
            yield exc
            return


def looks_like(head: bytes) -> bool:
    """A Frame Streams file starts with the START control frame."""
    return len(head) >= 12 and head[:4] == bytes(4) and _U32.unpack_from(head, 8)[0] == START
