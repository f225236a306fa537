"""Snapshots: one round saved as JSON, and the differences between two of them.

A snapshot is the JSON report itself (``check --format json``) with three fields added;
the report already holds every answer, TTL, serial, state and the config fingerprint, so
a snapshot taken before a planned change and one (or a live round) after it can be
compared answer by answer, and ``jq .services`` works on both alike.

Format (version 1)::

    {"format": "dnsmon-snapshot", "version": 1, "taken_at": "...Z",
     "site": …, "status": …, "services": […], "names": […], "zones": […],
     "config_fingerprint": "…", …the rest of the JSON report}
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from monitor.outputs.jsontext import dumps
from monitor.outputs.report import state_index
from monitor.states import BACKUP_SEVERITY, NAME_SEVERITY, SERVICE_SEVERITY

FORMAT = "dnsmon-snapshot"
VERSION = 1
SEVERITY: dict[str, int] = {
    **{k.value: v for k, v in SERVICE_SEVERITY.items()},
    **{k.value: v for k, v in NAME_SEVERITY.items()},
    **{k.value: v for k, v in BACKUP_SEVERITY.items()},
}


FAILS = 2  # the severity of down, unusable and failing: what no longer works


class SnapshotError(ValueError):
    """A file that is not a dnsmon snapshot this version can read."""


def make(report: dict[str, Any]) -> dict[str, Any]:
    return {"format": FORMAT, "version": VERSION, "taken_at": report["started_at"], **report}


def save(report: dict[str, Any], path: str | Path) -> None:
    """Write the snapshot beside ``path`` and rename it there: a full disk or a crash
    leaves the file that was there whole, never half of a new one."""
    path = Path(path)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent or ".")
    try:
        os.fchmod(handle, 0o644)  # as a file written in place would be (mkstemp makes 0600)
        with os.fdopen(handle, "wb") as file:
            file.write(dumps(make(report)) + b"\n")
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def load(path: str | Path) -> dict[str, Any]:
    """Read a snapshot; raises SnapshotError when it is not one."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise SnapshotError(f"{path}: cannot read snapshot: {exc}") from exc
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise SnapshotError(f"{path}: not a dnsmon snapshot")
    if data.get("version") != VERSION:
        raise SnapshotError(f"{path}: snapshot version {data.get('version')} is not {VERSION}")
    if not all(isinstance(data.get(key), list) for key in ("services", "names", "zones")):
        raise SnapshotError(f"{path}: snapshot has no report (services, names and zones)")
    if not isinstance(data.get("config_fingerprint"), str):
        raise SnapshotError(f"{path}: snapshot has no config_fingerprint")
    problem = _malformed(data)
    if problem:
        raise SnapshotError(f"{path}: not a snapshot dnsmon wrote: {problem}")
    return data


def _malformed(data: dict[str, Any]) -> str:
    """What in a snapshot ``compare`` could not read (a crafted or damaged file), or ""."""
    for i, s in enumerate(data["services"]):
        if not _entry(s, {"name": str, "status": str, "reasons": list, "backups": list}):
            return f"services[{i}]"
        if s["status"] not in SEVERITY or not all(isinstance(r, str) for r in s["reasons"]):
            return f"services[{i}]"
        for j, b in enumerate(s["backups"]):
            ok = _entry(b, {"name": str, "status": str, "reasons": list})
            if (
                not ok
                or b["status"] not in SEVERITY
                or not all(isinstance(r, str) for r in b["reasons"])
            ):
                return f"services[{i}].backups[{j}]"
    for i, n in enumerate(data["names"]):
        if not _entry(n, {"name": str, "type": str, "status": str, "results": list}):
            return f"names[{i}]"
        if n["status"] not in SEVERITY:
            return f"names[{i}].status"
        for j, r in enumerate(n["results"]):
            ok = _entry(r, {"server": str, "result": str, "answers": list})
            if not ok or not isinstance(r.get("ttl"), int | None) or not all(
                isinstance(r.get(k, ""), str) for k in ("role", "asked")):  # fmt: skip
                return f"names[{i}].results[{j}]"
    for i, z in enumerate(data["zones"]):
        if not _entry(z, {"name": str, "serials": dict}) or not all(
            isinstance(v, int | None) for v in z["serials"].values()):  # fmt: skip
            return f"zones[{i}]"
    return ""


def _entry(value: object, fields: dict[str, type]) -> bool:
    return isinstance(value, dict) and all(isinstance(value.get(k), t) for k, t in fields.items())


@dataclass
class Diff:
    """Every difference between two snapshots, grouped as the operator reads them."""

    answers: list[dict[str, Any]] = field(default_factory=list)
    results: list[dict[str, Any]] = field(default_factory=list)
    states: list[dict[str, Any]] = field(default_factory=list)
    serials: list[dict[str, Any]] = field(default_factory=list)
    ttls: list[dict[str, Any]] = field(default_factory=list)
    not_comparable: list[str] = field(default_factory=list)
    same_config: bool = True

    @property
    def broke(self) -> bool:
        """Something that worked before fails now: a service down, a backup unusable, a
        name failing. Worse is not broken: a service gone from up to degraded still works,
        and so does a name that one server of several stopped answering."""
        return any(c["fails"] for c in self.states)

    def exit_code(self) -> int:
        """0 nothing changed, 1 answers, serials, TTLs or states changed, 2 something
        broke."""
        if self.broke:
            return 2
        return 1 if any((self.answers, self.results, self.states, self.serials, self.ttls)) else 0

    def as_json(self) -> dict[str, Any]:
        return {
            "changed": self.exit_code() != 0,
            "broke": self.broke,
            "same_config": self.same_config,
            "answers": self.answers,
            "results": self.results,
            "states": self.states,
            "serials": self.serials,
            "ttls": self.ttls,
            "not_comparable": self.not_comparable,
        }


def compare(before: dict[str, Any], after: dict[str, Any]) -> Diff:
    """Compare two snapshots (``make`` output)."""
    diff = Diff(same_config=before["config_fingerprint"] == after["config_fingerprint"])
    _compare_results(_results(before), _results(after), diff)
    _compare_states(before, after, diff)
    _compare_serials(before, after, diff)
    return diff


def _results(report: dict[str, Any]) -> dict[tuple[str, str, str, str], dict[str, Any]]:
    """Every answer by name, type, who was asked how, and in which role: a machine with
    both roles answers twice, and a question asked the clients' way is one of its own."""
    return {
        (n["name"], n["type"], _asked(r), r.get("role", "")): r
        for n in report["names"]
        for r in n["results"]
    }


def _asked(result: dict[str, Any]) -> str:
    """``resolver-a``, or ``resolver-a (without EDNS)`` for the clients' question."""
    asked = result.get("asked")
    return f"{result['server']} ({asked})" if asked else str(result["server"])


def _compare_results(old: dict, new: dict, diff: Diff) -> None:
    for key in sorted(old.keys() | new.keys()):
        if key not in old or key not in new:
            side = "before" if key in old else "after"
            diff.not_comparable.append(
                f"{key[0]} {key[1]} on {key[2]}: only in the {side} snapshot"
            )
            continue
        a, b = old[key], new[key]
        where = {"name": key[0], "type": key[1], "server": key[2]}
        if a["result"] != b["result"]:
            worse = a["result"] == "ok"
            diff.results.append(
                {**where, "before": a["result"], "after": b["result"], "worse": worse,
                 "answers_before": a["answers"], "answers_after": b["answers"]}
            )  # fmt: skip
        if a["result"] == b["result"] == "ok" and a["answers"] != b["answers"]:
            diff.answers.append({**where, "before": a["answers"], "after": b["answers"]})
        # Resolvers count TTLs down; only an authoritative answer shows the configured TTL.
        if a.get("role") == "authoritative" and None not in (a["ttl"], b["ttl"]):
            if a["ttl"] != b["ttl"]:
                diff.ttls.append({**where, "before": a["ttl"], "after": b["ttl"]})


def _compare_states(old: dict[str, Any], new: dict[str, Any], diff: Diff) -> None:
    a, b = state_index(old), state_index(new)
    for key in sorted(a.keys() & b.keys()):
        was, now = a[key][0], b[key][0]
        if was != now:
            worse = SEVERITY[now] > SEVERITY[was]
            fails = SEVERITY[now] == FAILS and SEVERITY[was] < FAILS
            diff.states.append({"kind": key[0], "name": key[1], "before": was, "after": now,
                                "worse": worse, "fails": fails})  # fmt: skip


def _compare_serials(old: dict[str, Any], new: dict[str, Any], diff: Diff) -> None:
    a = {(z["name"], s): v for z in old["zones"] for s, v in z["serials"].items()}
    b = {(z["name"], s): v for z in new["zones"] for s, v in z["serials"].items()}
    for key in sorted(a.keys() & b.keys()):
        # A server that did not answer has no serial: that shows as a result change.
        if a[key] != b[key] and None not in (a[key], b[key]):
            diff.serials.append(
                {"zone": key[0], "server": key[1], "before": a[key], "after": b[key]}
            )
