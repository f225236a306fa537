"""Run the real ``dnsmon`` command as a user would, and read what it says."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

COMMAND = [sys.executable, "-c", "from monitor.cli import main; main()"]


@dataclass
class Run:
    code: int
    stdout: str
    stderr: str

    @property
    def json(self) -> Any:
        return json.loads(self.stdout)


def dnsmon(config: Path | str | None, *args: str, timeout: float = 60) -> Run:
    """``dnsmon [--config CONFIG] ARGS…`` in a subprocess."""
    prefix = ["--config", str(config)] if config is not None else []
    done = subprocess.run(
        [*COMMAND, *prefix, *args], capture_output=True, text=True, timeout=timeout
    )
    return Run(done.returncode, done.stdout, done.stderr)


def check(config: Path, *args: str) -> tuple[int, dict[str, Any]]:
    """``dnsmon check --format json``: the exit code and the report."""
    run = dnsmon(config, "check", "--format", "json", *args)
    assert run.code in (0, 1, 2), run.stderr
    return run.code, run.json


def services(report: dict[str, Any]) -> dict[str, str]:
    return {s["name"]: s["status"] for s in report["services"]}


def backups(report: dict[str, Any]) -> dict[str, str]:
    return {
        f"{s['name']}/{b['name']}": b["status"] for s in report["services"] for b in s["backups"]
    }


def results(report: dict[str, Any], name: str, rdtype: str = "A") -> dict[str, dict[str, Any]]:
    """server → result entry for one name."""
    entry = next(n for n in report["names"] if n["name"] == name and n["type"] == rdtype)
    return {r["server"]: r for r in entry["results"]}


def name_status(report: dict[str, Any], name: str, rdtype: str = "A") -> str:
    return next(n["status"] for n in report["names"] if n["name"] == name and n["type"] == rdtype)
