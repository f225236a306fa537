"""The report for people: what is down and why first, then degraded, then up."""

from __future__ import annotations

import re
from typing import Any, Protocol

from rich.console import Console
from rich.text import Text

from monitor.config import Config
from monitor.judging.causes.world import duration_words
from monitor.states import TROUBLE, ServiceState

_COLOURS = {"good": "green", "warning": "yellow", "bad": "bold red"}
# Keyed by the state enums, which are strings, so report values index it directly.
STYLES: dict[str, str] = {state: _COLOURS[level] for state, level in TROUBLE.items()}
ORDER = (ServiceState.DOWN, ServiceState.DEGRADED, ServiceState.UP)
PEOPLE_WORDS = {
    "working": "working, nothing to do",
    "prepare": "prepare the backups",
    "use_backups": "use the backups",
}


class Printer(Protocol):
    """Where a report is printed: a rich ``Console``, or a ``Page`` of one."""

    def print(self, *objects: Any, **options: Any) -> None: ...


def page() -> Page:
    """A page for a command's whole output, printed when its ``with`` block ends.

    rich's cost is per ``print`` call: it checks the terminal, its size and the
    environment, then renders. At 10,000 services (160,000 lines) that was 8 of
    ``impact``'s 16 seconds; this console asks about the terminal once.
    """
    probe = Console()
    return Page(
        Console(
            highlight=False,
            soft_wrap=True,
            force_terminal=probe.is_terminal,
            width=probe.width,
            height=probe.height,
        )
    )


class Page:
    """Gathers the lines of text it is given and prints them at once, as one text.

    Without colours (output to a file or a pipe) the lines' plain text is written as
    it is: rich's own plain rendering, which splits a large text into lines again, costs
    seconds at 160,000 lines and gives the same characters (a test holds it to that).
    """

    def __init__(self, console: Console) -> None:
        self.console = console
        self._lines: list[Text] = []

    def print(self, *objects: Any, **options: Any) -> None:
        if options or len(objects) > 1 or (objects and not isinstance(objects[0], Text)):
            self._flush()  # anything but a line of text, in its turn
            self.console.print(*objects, **options)
        else:
            self._lines.append(objects[0] if objects else Text())

    def _flush(self) -> None:
        if not self._lines:
            return
        lines, self._lines = self._lines, []
        if self.console.color_system is None and not self.console.record:
            self.console.file.write("".join(f"{_plain(line)}\n" for line in lines))
            self.console.file.flush()
        else:
            self.console.print(Text("\n").join(lines))

    def __enter__(self) -> Page:
        return self

    def __exit__(self, *exc: object) -> None:
        self._flush()


def _plain(line: Text) -> str:
    """A line as rich prints it without colours: control codes are already gone (``Text``
    strips them), tabs expanded to columns of 8 as rich does."""
    if "\t" not in line.plain:
        return line.plain
    expanded = line.copy()
    expanded.expand_tabs(8)
    return expanded.plain


def render(report: dict[str, Any], console: Printer) -> None:
    """Print a report (from ``report.build``) to a rich console: the verdict, the causes,
    then services by state, names, zones and warnings."""
    console.print(headline(report))
    causes(report, console)
    for state in ORDER:
        services = [s for s in report["services"] if s["status"] == state]
        if services:
            console.print()
            console.print(Text(f"{state.upper()} ({len(services)})", style=STYLES[state]))
            for service in services:
                _service(service, console, detailed=state != "up")
    _names(report, console)
    _zones(report, console)
    _warnings(report, console)


def few(names: list[str], shown: int = 8) -> str:
    """``a, b, c, … (40 in all)``: a list people can read in one line."""
    if len(names) <= shown:
        return ", ".join(names)
    return f"{', '.join(names[:shown])}, … ({len(names)} in all)"


def headline(report: dict[str, Any]) -> Text:
    """The first line, which is all a Nagios or Icinga overview shows: say who is down."""
    head = Text(f"dnsmon {report['site']} ")
    head.append(report["status"].upper(), style=STYLES[report["status"]])
    for state in ("down", "degraded"):
        names = [s["name"] for s in report["services"] if s["status"] == state]
        if names:
            head.append(f" - {state}: {few(names)}")
    if report.get("causes") and report["status"] != "up":
        head.append(f" - {report['causes'][0]['summary']}")
    if "assumed_failures" in report:
        head.append(f" (what-if: {', '.join(report['assumed_failures'])} failed; nothing probed)")
    else:
        head.append(f" (round at {report['started_at']}, {report['duration_seconds']:.2f}s)")
    return head


def causes(report: dict[str, Any], console: Printer) -> None:
    """The faults behind it all, most affected services first."""
    found = report.get("causes", [])
    if not found:
        return
    what = "IMAGINED CAUSES" if "assumed_failures" in report else "CAUSES"
    console.print()
    console.print(Text(f"{what} ({len(found)})", style="bold"))
    for cause in found:
        line = Text(f"  {cause['summary']}")
        if cause["services"]:
            line.append(f"  [{', '.join(cause['services'])}]", style="bold")
        console.print(line)
        for command in cause.get("commands", []):
            console.print(Text(f"    run: {command}", style="cyan"))


def _service(service: dict[str, Any], console: Printer, detailed: bool) -> None:
    line = Text(f"  {service['name']}", style="bold")
    line.append(f" [{service['criticality']}]")
    if service.get("description"):
        line.append(f" {service['description']}")
    if service.get("runway_seconds") is not None:
        line.append(f"  cache runway {runway_text(service['runway_seconds'])}", style="yellow")
    if service.get("recovery_seconds") is not None:
        line.append(f"  back for everyone in {runway_text(service['recovery_seconds'])}",
                    style="green")  # fmt: skip
    if detailed and service.get("people"):
        line.append(f"  people: {PEOPLE_WORDS[service['people']]}")
    console.print(line)
    if service.get("runway_rose"):
        console.print(Text(f"      runway rose: {service['runway_rose']}", style="yellow"))
    if detailed:
        for view in service.get("clients", []):
            if view["status"] != "up":
                slowest = view["lookup_seconds"]
                took = f", slowest lookup {slowest:.1f} s" if slowest is not None else ""
                console.print(Text(f"      as {view['client']} look it up: {view['status']}{took}"))
        _reasons(service["reasons"], console, "      ")
    for backup in service["backups"]:
        _backup(backup, console, detailed)


def _backup(backup: dict[str, Any], console: Printer, detailed: bool) -> None:
    line = Text("    backup ")
    line.append(backup["name"], style="bold")
    line.append(": ")
    line.append(backup["status"], style=STYLES[backup["status"]])
    if backup["shared_fate"]:
        shared = ", ".join(backup.get("shared", []))
        line.append(f"  shares {backup['shared_fate']} with its service ({shared})")
    console.print(line)
    if detailed or backup["status"] != "usable":
        _reasons(backup.get("reasons", []), console, "        ")


# ``ehr-db.region.internal A: …`` or ``ehr-db.region.internal A from wards: …``: a reason
# about one name (names hold no spaces, record types are upper case).
_NAME_REASON = re.compile(r"(?P<key>\S+ [A-Z]+)(?P<rest>(?: from \S+)?: .*)", re.DOTALL)


def _reasons(reasons: list[str], console: Printer, indent: str) -> None:
    """Each name once: its servers' answers first, then, indented under it, what else is
    said of it (answered from cache alone, how a client group's lookup fares)."""
    by_name: dict[str, list[str]] = {}
    for reason in reasons:
        found = _NAME_REASON.fullmatch(reason)
        key = found["key"] if found else reason
        by_name.setdefault(key, []).append(reason)
    for key, said in by_name.items():
        console.print(Text(f"{indent}{said[0]}"))
        for more in said[1:]:
            rest = more[len(key) :].removeprefix(": ").lstrip()
            console.print(Text(f"{indent}  {rest}"))


def _names(report: dict[str, Any], console: Printer) -> None:
    bad = [n for n in report["names"] if n["status"] != "healthy"]
    healthy = len(report["names"]) - len(bad)
    felt = [n for n in report["names"] if n["status"] == "healthy" and _felt(n)]
    console.print()
    console.print(Text(f"NAMES: {healthy} of {len(report['names'])} healthy"))
    for name in bad + felt:
        line = Text(f"  {name['name']} {name['type']}: ")
        line.append(name["status"], style=STYLES[name["status"]])
        if name.get("chain"):
            line.append(f"  (CNAME → {' → '.join(name['chain'])})")
        console.print(line)
        for result in name["results"]:
            if result["result"] != "ok":
                console.print(Text(f"      {result_line(result)}"))
        for found in _felt(name):
            console.print(Text(f"      {lookup_line(found)}"))


def _felt(name: dict[str, Any]) -> list[dict[str, Any]]:
    """The clients' lookups of a name that are slow or fail."""
    return [found for found in name.get("lookups", []) if found["result"] != "ok"]


def lookup_line(found: dict[str, Any]) -> str:
    """``lookup from wards: slow, 5.0 s (resolver-a silent 5 s, resolver-b ok)``."""
    return (f"lookup from {found['client']}: {found['result']}, {found['seconds']:.1f} s "
            f"({found['path']})")  # fmt: skip


def result_line(result: dict[str, Any]) -> str:
    """``ns3 (for app.other.internal): timeout (no answer after 2 attempts)``; an answer
    to a question asked the clients' way says whose and how."""
    asked = f" (for {result['qname']})" if result.get("qname") else ""
    if result.get("client"):
        asked += f" (asked as {result['client']} ask: {result['asked']})"
    detail = f" ({result['detail']})" if result.get("detail") else ""
    return f"{result['server']}{asked}: {result['result']}{detail}"


def _zones(report: dict[str, Any], console: Printer) -> None:
    for zone in report["zones"]:
        serials = ", ".join(
            f"{s} {v if v is not None else '-'}" for s, v in zone["serials"].items()
        )
        mark = "" if zone["consistent"] else "  serials differ"
        if zone.get("dark"):
            mark += "  DARK: no authoritative server answers"
        unreached = sorted(s for s, ok in zone.get("reach", {}).items() if not ok)
        if unreached:
            mark += f"  not reached by {', '.join(unreached)}"
        console.print(Text(f"ZONE {zone['name']}: {serials}{mark}"))


def _warnings(report: dict[str, Any], console: Printer) -> None:
    if report["warnings"]:
        console.print()
        console.print(Text(f"WARNINGS ({len(report['warnings'])})", style="yellow"))
        for warning in report["warnings"]:
            console.print(Text(f"  {warning}"))
    if report.get("notes"):
        console.print()
        console.print(Text(f"NOTES ({len(report['notes'])}): what dnsmon cannot see", style="dim"))
        for note in report["notes"]:
            console.print(Text(f"  {note}", style="dim"))


def runway_text(seconds: int) -> str:
    """``4m 10s``: how long cached answers still hide a dark zone."""
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes}m {secs:02d}s" if minutes else f"{secs}s"


VERDICT_WORDS = {"go": ("GO", "green"), "go_with_warnings": ("GO WITH WARNINGS", "yellow"),
                 "no_go": ("NO-GO", "bold red")}  # fmt: skip


def render_preflight(found: dict[str, Any], console: Printer) -> None:
    """``preflight``'s verdict, its reasons, the rollback time and what to run."""
    words, style = VERDICT_WORDS[found["verdict"]]
    window = duration_words(found["window_seconds"])
    console.print(Text(f"{words}: {' and '.join(found['changes'])} for {window}", style=style))
    for reason in found["reasons"]:
        mark = "NO-GO  " if reason["level"] == "no_go" else "warning"
        console.print(Text(f"  {mark} {reason['text']}"))
    if found["rollback_seconds"] is not None:
        console.print(Text(f"rollback reaches every cached client after "
                           f"{duration_words(found['rollback_seconds'])}: "
                           f"{'; '.join(found['rollback'][:3])}"))  # fmt: skip
    console.print(Text(f"snapshot saved to {found['snapshot']}"))
    console.print(Text(f"during the change: {found['commands'][0]}"))
    console.print(Text(f"after the change:  {found['commands'][1]}"))


def render_diff(diff: dict[str, Any], console: Printer) -> None:
    """A snapshot diff for people: what broke first, then what changed."""
    if not diff["same_config"]:
        console.print(Text("note: the snapshots come from different configs", style="yellow"))
    if not diff["changed"]:
        console.print(Text("no changes", style="green"))
    # Services first, then backups and names, then single answers: the verdict leads.
    changes = sorted(diff["states"], key=lambda c: _KIND_ORDER[c["kind"]]) + diff["results"]
    broke = [c for c in changes if c.get("fails")]
    _section(console, "BROKE", broke, "bold red", _change_line)
    worse = [c for c in changes if c["worse"] and not c.get("fails")]
    _section(console, "WORSE", worse, "yellow", _change_line)
    better = [c for c in changes if not c["worse"]]
    _section(console, "CHANGED STATE", better, "green", _change_line)
    _section(console, "ANSWERS CHANGED", diff["answers"], "yellow", _answer_line)
    _section(console, "SERIALS CHANGED", diff["serials"], "yellow", _serial_line)
    _section(console, "TTLS CHANGED", diff["ttls"], "yellow", _ttl_line)
    _section(console, "NOT COMPARABLE", diff["not_comparable"], "yellow", str)


_KIND_ORDER = {"service": 0, "backup": 1, "name": 2}


def _section(console: Printer, title: str, items: list[Any], style: str, line: Any) -> None:
    if not items:
        return
    console.print(Text(f"{title} ({len(items)})", style=style))
    for item in items:
        console.print(Text(f"  {line(item)}"))


def _change_line(c: dict[str, Any]) -> str:
    """``ehr-db A on ns1: 127.20.1.15 → 127.20.1.77, now wrong_answer``: a changed result
    shows the answers before and after; a changed state, the states."""
    if "server" in c:
        before = _answers_text(c.get("answers_before", []))
        after = _answers_text(c.get("answers_after", []))
        return f"{c['name']} {c['type']} on {c['server']}: {before} → {after}, now {c['after']}"
    return f"{c['kind']} {c['name']}: {c['before']} → {c['after']}"


def _answers_text(answers: list[str]) -> str:
    return ", ".join(answers) if answers else "no answer"


def _answer_line(c: dict[str, Any]) -> str:
    before, after = ", ".join(c["before"]) or "-", ", ".join(c["after"]) or "-"
    return f"{c['name']} {c['type']} on {c['server']}: {before} → {after}"


def _serial_line(c: dict[str, Any]) -> str:
    return f"zone {c['zone']} on {c['server']}: {c['before']} → {c['after']}"


def _ttl_line(c: dict[str, Any]) -> str:
    note = "  (lowered: raise it back after the change)" if c["after"] < c["before"] else ""
    return f"{c['name']} {c['type']} on {c['server']}: {c['before']} → {c['after']}{note}"


def render_lint(config: Config, found: list[dict[str, Any]], console: Printer) -> None:
    """Findings for people, grouped by kind."""
    console.print(
        Text(
            f"{config.source}: valid ({len(config.servers)} servers, {len(config.names)} names, "
            f"{len(config.services)} services)"
        )
    )
    if not found:
        console.print(Text("no findings", style="green"))
        return
    kind = None
    for finding in found:
        if finding["kind"] != kind:
            kind = finding["kind"]
            count = sum(1 for f in found if f["kind"] == kind)
            console.print()
            console.print(Text(f"{kind.replace('_', ' ').upper()} ({count})", style="yellow"))
        console.print(Text(f"  {finding['message']}"))
