"""``dnsmon watch``: a live terminal view for the upgrade window.

Each round refreshes services by state (with cache runways counting down between
rounds), the servers, and what changed since watching began. On a terminal it is a
rich live view that fits 80 columns; elsewhere it prints plain lines, one block a round:
the round's line (its time, how many services are up, degraded and down, and the causes),
each cause's summary and commands, and the changes it brought.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from monitor.outputs.render import STYLES, few, runway_text
from monitor.outputs.report import exit_code, state_index
from monitor.serving.rounds import Monitor

MAX_CHANGES = 8
MAX_CAUSES = 4


@dataclass
class WatchState:
    """What the view shows: the last report, when it came, and the changes seen."""

    report: dict[str, Any] | None = None
    received: float = 0.0
    changes: list[str] = field(default_factory=list)
    rounds: int = 0

    def update(self, report: dict[str, Any], now: float) -> list[str]:
        """Take a new round; return the changes it brought."""
        new = []
        if self.report is not None:
            old, cur = state_index(self.report), state_index(report)
            stamp = time.strftime("%H:%M:%S", time.localtime(now))
            for key, (state, why) in cur.items():
                if key in old and old[key][0] != state and key[0] != "name":
                    reason = f" ({why})" if why else ""
                    new.append(f"{stamp} {key[0]} {key[1]}: {old[key][0]} → {state}{reason}")
        self.report, self.received, self.rounds = report, now, self.rounds + 1
        self.changes.extend(new)
        return new


def view(state: WatchState, now: float) -> Group:
    """The whole screen for the current state."""
    report = state.report
    if report is None:
        return Group(Text("dnsmon watch: first round running…"))
    age = now - state.received
    head = Text(f"{report['site']}  ")
    head.append(report["status"].upper(), style=STYLES[report["status"]])
    clock = report["started_at"][11:19]  # HH:MM:SS of the ISO time, to fit 80 columns
    head.append(f"  round {state.rounds} at {clock} UTC ({age:.0f}s ago)")
    return Group(
        head, _causes(report), _clocks(report, age), _services(report, age), _servers(report),
        _changes(state),
    )  # fmt: skip


def _clocks(report: dict[str, Any], age: float) -> Text:
    """The clocks running: secondaries' copies and signatures before a fault, resolver
    caches after a fix; counted down between rounds."""
    text = Text()
    for zone in report.get("zones", []):
        for key, what in (("expires_in_seconds", "secondaries' copies expire"),
                          ("signatures_expire_in_seconds", "signatures expire")):  # fmt: skip
            left = zone.get(key)
            if left is not None and (key == "expires_in_seconds" or left < WEEK):
                text.append("clock: ", style="bold yellow")
                text.append(f"{zone['name']}: {what} in {_left(left, age)}\n")
    for service in report["services"]:
        if service.get("runway_rose"):
            text.append("clock: ", style="bold yellow")
            text.append(f"{service['name']}: runway rose: {service['runway_rose']}\n")
        if service.get("recovery_seconds") is not None:
            text.append("clock: ", style="bold green")
            left = _left(service["recovery_seconds"], age)
            text.append(f"{service['name']}: back for everyone in {left} (resolver caches)\n")
    return text


WEEK = 7 * 86400


def _left(seconds: float, age: float) -> str:
    return runway_text(max(0, int(seconds - age)))


def _causes(report: dict[str, Any]) -> Text:
    """What is wrong, first: each cause in one line, since when it holds."""
    text = Text()
    for cause in report.get("causes", [])[:MAX_CAUSES]:
        since = f" (since {cause['since'][11:16]} UTC)" if cause.get("since") else ""
        text.append("cause: ", style="bold red")
        text.append(f"{cause['summary']}{since}\n")
    more = len(report.get("causes", [])) - MAX_CAUSES
    if more > 0:
        text.append(f"… and {more} more (dnsmon check for all)\n")
    return text


def _services(report: dict[str, Any], age: float) -> Table:
    table = Table(box=None, pad_edge=False, expand=False, show_edge=False)
    table.add_column("service", no_wrap=True, max_width=24)
    table.add_column("state", no_wrap=True)
    table.add_column("runway", no_wrap=True)
    table.add_column("backups", max_width=30)
    for s in report["services"]:
        runway = ""
        if s["runway_seconds"] is not None:
            runway = runway_text(max(0, int(s["runway_seconds"] - age)))
        bad = [f"{b['name']} {b['status']}" for b in s["backups"] if b["status"] != "usable"]
        table.add_row(
            s["name"], Text(s["status"], style=STYLES[s["status"]]), runway, ", ".join(bad)
        )
    return table


def _servers(report: dict[str, Any]) -> Text:
    line = Text("servers: ")
    for server in report["servers"]:  # the report says which servers answered at all
        ok = server["answered"]
        line.append(f"{server['name']} ", style="green" if ok else "bold red")
        line.append("up  " if ok else "DOWN  ")
    return line


def _changes(state: WatchState) -> Text:
    recent = state.changes[-MAX_CHANGES:]
    text = Text(f"changes since watching began: {len(state.changes)}\n")
    for change in recent:
        text.append(f"  {change}\n")
    return text


def plain_line(report: dict[str, Any]) -> str:
    """A round in one line for a pipe or a log: ``10:31:02 UTC dc-north degraded: 8 up,
    2 degraded (ehr, sso), 0 down; causes: server_silent resolver-a``, at the round's
    start, in UTC as the live view and the causes tell time."""
    counts = []
    for state in ("up", "degraded", "down"):
        names = [s["name"] for s in report["services"] if s["status"] == state]
        which = f" ({few(names)})" if names and state != "up" else ""
        counts.append(f"{len(names)} {state}{which}")
    clock = report["started_at"][11:19]  # HH:MM:SS of the ISO time
    line = f"{clock} UTC {report['site']} {report['status']}: "
    line += ", ".join(counts)
    causes = [f"{c['kind']} {c['target']}" for c in report.get("causes", [])]
    if causes:
        line += f"; causes: {few(causes, MAX_CAUSES)}"
    return line


def run(monitor: Monitor, console: Console, rounds: int | None = None) -> int:
    """Watch until Ctrl-C (or ``rounds`` rounds); returns the last round's exit code."""
    state = WatchState()
    interval = monitor.config.defaults.interval
    try:
        if console.is_terminal:
            _live(monitor, console, state, interval, rounds)
        else:
            _plain(monitor, console, state, interval, rounds)
    except KeyboardInterrupt:
        console.print("stopped watching")
    return exit_code(state.report) if state.report else 3


def _live(monitor: Monitor, console: Console, state: WatchState, interval: float,
          rounds: int | None) -> None:  # fmt: skip
    with Live(view(state, time.time()), console=console, auto_refresh=False,
              screen=False, transient=False) as live:  # fmt: skip
        while rounds is None or state.rounds < rounds:
            state.update(monitor.run_round().report, time.time())
            next_round = time.monotonic() + interval
            while time.monotonic() < next_round and (rounds is None or state.rounds < rounds):
                live.update(view(state, time.time()), refresh=True)
                time.sleep(min(1.0, max(0.0, next_round - time.monotonic())))
            live.update(view(state, time.time()), refresh=True)


def _plain(monitor: Monitor, console: Console, state: WatchState, interval: float,
           rounds: int | None) -> None:  # fmt: skip
    while rounds is None or state.rounds < rounds:
        report = monitor.run_round().report
        changes = state.update(report, time.time())
        console.print(plain_line(report), soft_wrap=True)
        for cause in report.get("causes", []):
            console.print(f"  cause: {cause['summary']}", soft_wrap=True)
            for command in cause.get("commands", []):
                console.print(f"    run: {command}", soft_wrap=True)
        for change in changes:
            console.print(f"  {change}", soft_wrap=True)  # log lines are not wrapped
        if rounds is None or state.rounds < rounds:
            time.sleep(interval)
