"""The config file as text: read within a size limit, UTF-8 or refused with its line.

Only a regular file is read: ``--config /dev/zero`` or a FIFO is refused at once, a 10 GB
log given by mistake costs no more than the limit, and a byte that is not UTF-8 is a
config error on its line, not an internal error.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from monitor.config.errors import ConfigError

# 16 MiB holds well over 100,000 names, far beyond any region's internal DNS. Reading no
# more than this, and building no more than ``yamlsource.MAX_VALUES``, keeps a load within
# a few hundred MB and seconds (measured: 233 MB and 2.7 s for 16 MiB of list items).
MAX_BYTES = 16 * 1024 * 1024


def read(path: Path) -> str:
    """The text of the config at ``path``; ConfigError if unreadable, not a regular file,
    too big or not UTF-8."""
    try:
        # Opened without blocking: a FIFO with no writer would hold the caller (and every
        # reload, and the stop signal's wait) for ever. Only a regular file is read.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        with os.fdopen(fd, "rb") as file:
            mode = os.fstat(file.fileno()).st_mode
            if not stat.S_ISREG(mode):
                kind = "a FIFO" if stat.S_ISFIFO(mode) else "a directory" if stat.S_ISDIR(
                    mode) else "a device or socket"  # fmt: skip
                raise ConfigError([f"{path}: not a regular file ({kind}): give the config "
                                   "file itself"])  # fmt: skip
            data = file.read(MAX_BYTES + 1)
    except OSError as exc:
        hint = " (give the file with --config FILE or $DNSMON_CONFIG)"
        raise ConfigError([f"{path}: cannot read: {exc.strerror or exc}{hint}"]) from exc
    if len(data) > MAX_BYTES:
        raise ConfigError([f"{path}:1: {too_big()}"])
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = _line(data, exc.start)
        raise ConfigError([f"{path}:{line}: {_not_utf8(data, exc.start)}"]) from exc
    # Newlines as reading in text mode gives them, so the fingerprint is what it was.
    return text.replace("\r\n", "\n").replace("\r", "\n")


def too_big() -> str:
    return f"the file is larger than {MAX_BYTES // 2**20} MiB, the most a config may be"


def check_text(text: str, source: str) -> bytes:
    """``text`` as UTF-8, for text handed over directly rather than read from a file."""
    try:
        data = text.encode("utf-8")
    except UnicodeEncodeError as exc:
        line = text.count("\n", 0, exc.start) + 1
        code = f"U+{ord(text[exc.start]):04X}"
        message = f"{source}:{line}: character {code} cannot be written in UTF-8"
        raise ConfigError([message]) from exc
    if len(data) > MAX_BYTES:
        raise ConfigError([f"{source}:1: {too_big()}"])
    return data


def _line(data: bytes, offset: int) -> int:
    return data.count(b"\n", 0, offset) + 1


def _not_utf8(data: bytes, offset: int) -> str:
    column = offset - data.rfind(b"\n", 0, offset)
    return (
        f"byte 0x{data[offset]:02x} in column {column} is not UTF-8 "
        "(a file saved as Latin-1 or Windows-1252?); save it as UTF-8"
    )
