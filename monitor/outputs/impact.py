"""``impact``'s two moments and its summary: what a what-if says at a glance. Pure.

A what-if over ten thousand services cannot be read line by line (its full text is
160,000 lines), so ``impact`` prints a summary by default: each moment's verdict and
counts, then, for the worse moment, the causes (most services first), the services by
state (critical first) and the backups by state; ``--detail`` gives the full report.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

from monitor.judging.causes.world import duration_words

SHOWN = 8  # service names listed per line; the rest are counted
NAMED_WARNING = re.compile(r"^\S+ [A-Z0-9]+: ")  # "ehr-db.region.internal A: …"
STATES = ("down", "degraded", "up")


def moment(report: dict[str, Any], name: str, after_seconds: float | None) -> dict[str, Any]:
    """One moment of a what-if: its verdict, counts, and the services in each state."""
    counts = Counter(s["status"] for s in report["services"])
    return {
        "moment": name,
        "after_seconds": after_seconds,
        "status": report["status"],
        "counts": {state: counts.get(state, 0) for state in STATES},
        "services": {
            state: [s["name"] for s in report["services"] if s["status"] == state]
            for state in STATES
            if state != "up"
        },  # fmt: skip
    }


def when(m: dict[str, Any]) -> str:
    """``while resolver caches last`` / ``once the names' TTLs and up to 60 minutes of
    serve-stale have run out``: the moment in words."""
    if m["moment"] == "caches_holding":
        return "while resolver caches last"
    after = m["after_seconds"]
    if after is None:
        return "once resolver caches expire (the names' TTLs)"
    return f"once the names' TTLs and up to {duration_words(after)} of serve-stale have run out"


def worse(moments: list[dict[str, Any]], codes: list[int]) -> int:
    """Which moment is worse (its index): by exit code (``codes``), then by services
    down, then degraded; on a tie, the later."""
    order = [(codes[i], m["counts"]["down"], m["counts"]["degraded"], i)
             for i, m in enumerate(moments)]  # fmt: skip
    return max(order)[-1]


def headline(report: dict[str, Any], moments: list[dict[str, Any]]) -> list[str]:
    """What fails, and each moment's verdict and counts: the summary's first lines."""
    targets = " and ".join(report["assumed_failures"])
    verb = "fails" if len(report["assumed_failures"]) == 1 else "fail"
    lines = [f"If {targets} {verb} (what-if; nothing probed):"]
    for m in moments:
        lines.append(f"  {when(m)}: {m['status'].upper()}  {_counts(m['counts'])}")
    return lines


def summary(report: dict[str, Any], moments: list[dict[str, Any]]) -> str:
    """The what-if in a screenful, whatever the size of the map; ``report`` is the
    worse moment's (``report["moment"]``)."""
    lines = headline(report, moments)
    worse = next((m for m in moments if m["moment"] == report.get("moment")), moments[-1])
    told = when(worse)
    lines += ["", f"{told[0].upper()}{told[1:]}:"]
    lines += _causes(report)
    for state in ("down", "degraded"):
        names = worse["services"][state]
        if names:
            lines.append(f"{state.upper()} ({len(names):,}), critical first: {_few(names)}")
    lines += _backups(report)
    lines.append("Every service, backup and name: add --detail.")
    return "\n".join(lines)


def _counts(counts: dict[str, int]) -> str:
    total = sum(counts.values())
    parts = [f"{counts[s]:,} {s}" for s in STATES if counts[s]]
    return f"{', '.join(parts)} (of {total:,} services)"


def _causes(report: dict[str, Any]) -> list[str]:
    causes = report.get("causes") or []
    if not causes:
        return []
    lines = [f"CAUSES ({len(causes)}), most services first"]
    for cause in causes:
        affected = cause["services"]
        lines.append(f"  {cause['summary']}")
        if affected:
            lines.append(f"    {len(affected):,} service{'s' if len(affected) != 1 else ''}: "
                         f"{_few(affected)}")  # fmt: skip
    return lines


def _backups(report: dict[str, Any]) -> list[str]:
    counts = Counter(b["status"] for s in report["services"] for b in s["backups"])
    if not counts:
        return []
    order = ("unusable", "at_risk", "usable")
    return ["BACKUPS: " + ", ".join(f"{counts[s]:,} {s.replace('_', ' ')}" for s in order
                                    if counts[s])]  # fmt: skip


def _few(names: list[str]) -> str:
    shown = ", ".join(names[:SHOWN])
    return shown + (f", … and {len(names) - SHOWN:,} more" if len(names) > SHOWN else "")


def without_names(report: dict[str, Any]) -> None:
    """Leave out of a what-if judged by classes of names (``judging.classes``) what
    would name a class's stand-in instead of the name itself: each service's, client
    group's and backup's reasons, and a backup's shared names and fate level (whether
    it shares fate at all, and so its state, is the same), what a runway follows, and
    the warnings about single names (``ehr-db.region.internal A: only …``)."""
    report["warnings"] = [w for w in report.get("warnings", []) if not NAMED_WARNING.match(w)]
    for service in report["services"]:
        for key in ("reasons", "runway_follows", "runway_rose"):
            service.pop(key, None)
        for view in service.get("clients", []):
            view.pop("reasons", None)
        for backup in service["backups"]:
            for key in ("reasons", "shared", "shared_fate"):
                backup.pop(key, None)
