"""What ``serve`` logs between two rounds: one line per change, at a level that fits it."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from monitor.outputs.logs import LOGGER, log_round


def report(at: str, causes: list[dict[str, Any]], status: str = "degraded") -> dict[str, Any]:
    service = {"name": "ehr", "status": status, "reasons": [], "runway_seconds": None,
               "backups": []}  # fmt: skip
    return {"started_at": at, "status": status, "services": [service], "causes": causes,
            "names": [], "zones": []}  # fmt: skip


def cause(since: str) -> dict[str, Any]:
    return {"kind": "other", "target": "ns1", "since": since, "services": ["ehr"],
            "summary": "ns1 fails 3 queries of 6"}  # fmt: skip


@pytest.fixture
def logged(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG, logger=LOGGER.name)
    return caplog


def test_a_cause_found_is_a_warning_and_one_that_lasted_a_round_says_so(logged) -> None:
    calm = report("2026-12-06T10:00:00Z", [], "up")
    straddled = report("2026-12-06T10:00:15Z", [cause("2026-12-06T10:00:15Z")])
    log_round(calm, straddled)
    log_round(straddled, report("2026-12-06T10:00:30Z", [], "up"))
    found = [r for r in logged.records if r.getMessage().startswith("cause found")]
    cleared = [r for r in logged.records if r.getMessage().startswith("cause cleared")]
    assert [r.levelname for r in found] == ["WARNING"]
    assert [r.getMessage() for r in cleared] == [
        "cause cleared after one round (seen while a change was under way): other ns1"
    ]
    assert not [r for r in logged.records if r.levelno >= logging.ERROR]


def test_a_cause_that_held_clears_plainly(logged) -> None:
    held = cause("2026-12-06T10:00:00Z")
    log_round(report("2026-12-06T10:00:15Z", [held]), report("2026-12-06T10:00:30Z", [], "up"))
    assert [r.getMessage() for r in logged.records if "cleared" in r.getMessage()] == [
        "cause cleared: other ns1"
    ]


def test_a_service_going_down_stays_an_error(logged) -> None:
    log_round(report("2026-12-06T10:00:00Z", [], "up"), report("2026-12-06T10:00:15Z", [], "down"))
    assert [r.levelname for r in logged.records if "service ehr" in r.getMessage()] == ["ERROR"]
