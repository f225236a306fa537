"""Structured logs: logfmt (the Prometheus ecosystem's default) or JSON, one line an event."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime

LOGGER = logging.getLogger("dnsmon")
_RESERVED = set(vars(logging.LogRecord("", 0, "", 0, "", None, None)))


def _fields(record: logging.LogRecord) -> dict[str, object]:
    fields: dict[str, object] = {
        "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
        "level": record.levelname.lower(),
        "msg": record.getMessage(),
    }
    fields.update({k: v for k, v in vars(record).items() if k not in _RESERVED})
    return fields


class LogfmtFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return " ".join(f"{k}={_logfmt_value(v)}" for k, v in _fields(record).items())


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return json.dumps(_fields(record), default=str)


def _logfmt_value(value: object) -> str:
    text = str(value)
    if text == "" or any(c in text for c in ' "=\n\t\\'):
        # Quoted like go-logfmt: escapes and control characters only, UTF-8 as it is.
        return json.dumps(text, ensure_ascii=False)
    return text


def setup(fmt: str = "logfmt", level: str = "info") -> logging.Logger:
    """Send dnsmon's logs to stderr in ``fmt`` (logfmt or json)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else LogfmtFormatter())
    LOGGER.handlers[:] = [handler]
    LOGGER.setLevel(level.upper())
    LOGGER.propagate = False
    return LOGGER
