"""Structured logs: logfmt (the Prometheus ecosystem's default) or JSON, one line an event."""

from __future__ import annotations

import json
import logging
import sys
import threading
import traceback
from datetime import UTC, datetime
from typing import Any

from monitor.outputs.render import few
from monitor.outputs.report import state_index
from monitor.states import GOOD_STATES, ServiceState

LOGGER = logging.getLogger("dnsmon")
_RESERVED = set(vars(logging.LogRecord("", 0, "", 0, "", None, None)))


def _fields(record: logging.LogRecord) -> dict[str, object]:
    fields: dict[str, object] = {
        "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
        "level": record.levelname.lower(),
        "msg": record.getMessage(),
    }
    fields.update({k: v for k, v in vars(record).items() if k not in _RESERVED})
    if record.exc_info and record.exc_info[1] is not None:
        # The exception in fields of the line, never as a raw traceback after it.
        exc = record.exc_info[1]
        fields.setdefault("error", f"{type(exc).__name__}: {exc}")
        fields.setdefault("traceback", "".join(traceback.format_exception(exc)).rstrip())
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
    """Send dnsmon's logs to stderr in ``fmt`` (logfmt or json).

    asyncio's own messages (the HTTP server's event loop) and any exception that ends a
    thread go the same way, so nothing reaches stderr as a raw traceback.
    """
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else LogfmtFormatter())
    LOGGER.handlers[:] = [handler]
    LOGGER.setLevel(level.upper())
    LOGGER.propagate = False
    loop_logger = logging.getLogger("asyncio")
    loop_logger.handlers[:] = [handler]
    loop_logger.setLevel("DEBUG" if level.upper() == "DEBUG" else "WARNING")
    loop_logger.propagate = False
    threading.excepthook = _thread_died
    return LOGGER


def _thread_died(args: threading.ExceptHookArgs) -> None:
    if args.exc_type is SystemExit or args.exc_value is None:
        return
    name = args.thread.name if args.thread else "?"
    exc_info = (args.exc_type, args.exc_value, args.exc_traceback)
    LOGGER.error(f"thread {name} died", exc_info=exc_info, extra={"thread_name": name})


def log_round(before: dict[str, Any] | None, after: dict[str, Any]) -> None:
    """One line per change of a service, backup, name or cause; none per query.

    A service going down is an error, anything else going bad a warning, recovery info.
    The first round is told in one line: what is wrong, and why.
    """
    if before is None:
        _first_round(after)
        return
    old = state_index(before)
    for key, (state, why) in state_index(after).items():
        was = old.get(key, ("unknown", ""))[0]
        if was != state:
            kind, name = key
            _log_at(kind, state)(
                f"{kind} {name} {was} → {state}",
                extra={"kind": kind, "subject": name, "from": was, "to": state, "reason": why},
            )
    _log_causes(before, after)
    _log_rises(before, after)


def _log_rises(before: dict[str, Any], after: dict[str, Any]) -> None:
    """A runway that ends later than it did says why, once."""
    old = {s["name"]: s.get("runway_rose") for s in before["services"]}
    for service in after["services"]:
        rose = service.get("runway_rose")
        if rose and rose != old.get(service["name"]):
            LOGGER.info(
                f"runway of {service['name']} rose to {service['runway_seconds']}s: {rose}",
                extra={"kind": "service", "subject": service["name"],
                       "runway_seconds": service["runway_seconds"]},
            )  # fmt: skip


def _log_at(kind: str, state: str) -> Any:
    if kind == "service" and state == ServiceState.DOWN:
        return LOGGER.error
    return LOGGER.info if state in GOOD_STATES else LOGGER.warning


def _first_round(report: dict[str, Any]) -> None:
    by_state: dict[str, list[str]] = {}
    for service in report["services"]:
        by_state.setdefault(service["status"], []).append(service["name"])
    parts = [f"{len(v)} {k} ({few(v)})" for k, v in sorted(by_state.items()) if k != "up"]
    status = report["status"]
    log = (
        LOGGER.error
        if status == "down"
        else LOGGER.warning
        if status == "degraded"
        else LOGGER.info
    )
    causes = [c["summary"] for c in report.get("causes", [])]
    log(
        f"first round: {status}" + (f"; {'; '.join(parts)}" if parts else ""),
        extra={"status": status, "services": len(report["services"]),
               "up": len(by_state.get("up", [])), "causes": " | ".join(causes)},
    )  # fmt: skip


def _log_causes(before: dict[str, Any], after: dict[str, Any]) -> None:
    """A new cause is a warning, never an error: one found in a round that straddled a
    server dying or coming back may be gone the next round (a service going down is the
    error line). One that cleared after a single round says so."""
    old = {(c["kind"], c["target"]): c for c in before.get("causes", [])}
    new = {(c["kind"], c["target"]): c for c in after.get("causes", [])}
    for key, cause in new.items():
        if key not in old:
            log = LOGGER.warning if cause["services"] else LOGGER.info
            services = ",".join(cause["services"])
            fields = {"kind": key[0], "target": key[1], "services": services}
            log(f"cause found: {cause['summary']}", extra=fields)
    for key in sorted(old.keys() - new.keys()):
        brief = old[key].get("since") == before.get("started_at")
        what = " after one round (seen while a change was under way)" if brief else ""
        LOGGER.info(f"cause cleared{what}: {key[0]} {key[1]}",
                    extra={"kind": key[0], "target": key[1]})  # fmt: skip
