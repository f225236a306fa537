"""The JSON report as a monitoring plugin's output, for Nagios, Icinga and Zabbix. Pure.

One status line, ``DNSMON CRITICAL - 1 down (pacs), 2 degraded (ehr, sso); zone_dark
region.internal``, then `` | `` and the performance data; then one line per failing
service, cause and warning (the plugin's long text). The grammar is that of the
monitoring-plugin guidelines (nagios-plugins.org/doc/guidelines.html#PLUGOUTPUT):
``'label'=value[UOM];[warn];[crit];[min];[max]``, separated by spaces.

The performance data stays bounded whatever the config's size: counts, one runway per
service that has one, and the slowest and the mean replayed lookup per client group.
Where dnsmon's own judgement sets the state, the thresholds say the same (a degraded
service is a warning, a lookup over its group's budget critical), so a graph's lines
agree with the status word.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from monitor.judging.clients import SLOW_AFTER
from monitor.outputs.report import EXIT_UNKNOWN, exit_code

PREFIX = "DNSMON"
STATUS_WORDS = {0: "OK", 1: "WARNING", 2: "CRITICAL", EXIT_UNKNOWN: "UNKNOWN"}
SHOWN = 5  # names listed in the status line before "+N more"
REASONS_SHOWN = 3  # a failing service's reasons on its long-text line
LONG_LINES = 20  # causes and warnings each, in the long text


def render(report: dict[str, Any]) -> str:
    """The plugin output for ``report``, ending in a newline; its exit code is
    ``exit_code(report)``, which the status word names."""
    word = STATUS_WORDS[exit_code(report)]
    first = f"{PREFIX} {word} - {summary(report)} | {' '.join(perfdata(report))}"
    return "\n".join([first, *long_text(report)]) + "\n"


def unknown(message: str, details: Sequence[str] = ()) -> str:
    """``DNSMON UNKNOWN - message``, and ``details`` one a line: what the plugin says when
    it cannot judge (a bad config, bad usage); its exit code is 3."""
    lines = [f"{PREFIX} {STATUS_WORDS[EXIT_UNKNOWN]} - {text(message)}"]
    return "\n".join(lines + [text(d) for d in details]) + "\n"


# --- the status line ----------------------------------------------------------------


def summary(report: dict[str, Any]) -> str:
    """What is wrong, shortest first: services down and degraded, then the causes."""
    services = report["services"]
    parts = [
        f"{len(found)} {state} ({_listed(s['name'] for s in found)})"
        for state in ("down", "degraded")
        if (found := [s for s in services if s["status"] == state])
    ]
    if not parts:
        parts.append(_quiet_services(report))
    said = ", ".join(parts)
    causes = [f"{c['kind']} {c['target']}" for c in report["causes"]]
    if causes:
        said += f"; {_listed(causes, SHOWN // 2 + 1)}"
    if report["warnings"] and not causes:
        count = len(report["warnings"])
        said += f"; {count} warning{'s' if count > 1 else ''}"
    return text(said)


def _quiet_services(report: dict[str, Any]) -> str:
    """No service down or degraded: all up, or names that no service needs are not."""
    count = len(report["services"])
    said = f"all {count} services up" if count != 1 else "1 service up"
    if report["status"] != "up":
        bad = [f"{n['name']} {n['type']}" for n in report["names"] if n["status"] != "healthy"]
        said += f"; names not healthy: {_listed(bad)}"
    return said


def _listed(items: Iterable[str], shown: int = SHOWN) -> str:
    found = list(items)
    more = f", +{len(found) - shown} more" if len(found) > shown else ""
    return ", ".join(found[:shown]) + more


# --- the performance data -------------------------------------------------------------


def perfdata(report: dict[str, Any]) -> list[str]:
    """Every ``'label'=value…`` of ``report``, labels unique."""
    entries = [*_counts(report), *_servers(report), *_runways(report), *_lookups(report)]
    entries.append(("round_duration", report["duration_seconds"], "s", None, None, 0, None))
    seen: set[str] = set()
    out = []
    for name, value, unit, warn, crit, low, high in entries:
        shown = label(name)
        while shown in seen:  # two names that only differ in what a label cannot hold
            name += "_"
            shown = label(name)
        seen.add(shown)
        fields = [_number(v) for v in (warn, crit, low, high)]
        # "U", undetermined: a client group none of whose lookups this round replayed.
        measured = f"{number}{unit}" if (number := _number(value)) else "U"
        out.append(f"{shown}={measured};{';'.join(fields)}".rstrip(";"))
    return out


Entry = tuple[str, float | None, str, float | None, float | None, float | None, float | None]


def _counts(report: dict[str, Any]) -> Iterator[Entry]:
    services = [s["status"] for s in report["services"]]
    total = len(services)
    yield ("services_up", services.count("up"), "", None, None, 0, total)
    # "0" as a threshold: anything above none is a warning, or critical.
    yield ("services_degraded", services.count("degraded"), "", 0, None, 0, total)
    yield ("services_down", services.count("down"), "", None, 0, 0, total)
    names = [n["status"] for n in report["names"]]
    for state in ("healthy", "degraded", "failing"):
        yield (f"names_{state}", names.count(state), "", None, None, 0, len(names))


def _servers(report: dict[str, Any]) -> Iterator[Entry]:
    """Servers that answered at all, and those whose every answer this round was ok."""
    servers = report["servers"]
    answering = {s["name"] for s in servers if s["answered"]}
    failed = {r["server"] for n in report["names"] for r in n["results"] if r["result"] != "ok"}
    total = len(servers)
    yield ("servers_answering", len(answering), "", None, None, 0, total)
    yield ("healthy_servers", len(answering - failed), "", None, None, 0, total)


def _runways(report: dict[str, Any]) -> Iterator[Entry]:
    for service in report["services"]:
        if service["runway_seconds"] is not None:
            yield (f"runway_{service['name']}", service["runway_seconds"], "s", None, None, 0, None)


def _lookups(report: dict[str, Any]) -> Iterator[Entry]:
    """The slowest and the mean replayed lookup of each client group: slow is a warning,
    over the group's budget critical, as the groups' verdicts are."""
    times: dict[str, list[float]] = {g["name"]: [] for g in report["clients"]}
    for name in report["names"]:
        for lookup in name["lookups"]:
            times.setdefault(lookup["client"], []).append(lookup["seconds"])
    budgets = {g["name"]: g["lookup_budget"] for g in report["clients"]}
    for client, seconds in times.items():
        slowest = max(seconds) if seconds else None
        mean = sum(seconds) / len(seconds) if seconds else None
        budget = budgets.get(client)
        yield (f"lookup_max_{client}", slowest, "s", SLOW_AFTER, budget, 0, None)
        yield (f"lookup_avg_{client}", mean, "s", None, None, 0, None)


def label(name: str) -> str:
    """A label as the guidelines allow it: quoted, a quote doubled, and none of ``=``,
    the ``|`` that starts performance data, or a line break in it."""
    kept = "".join("_" if c in "=|" or not c.isprintable() else c for c in name) or "_"
    return "'" + kept.replace("'", "''") + "'"


def _number(value: float | None) -> str:
    """A value in ``[-0-9.]``: no exponent, no trailing zeros; empty when not given."""
    if value is None or not math.isfinite(value):
        return ""
    if isinstance(value, int) or float(value).is_integer():
        return str(int(value))
    return f"{value:.6f}".rstrip("0").rstrip(".")


# --- the long text ---------------------------------------------------------------------


def long_text(report: dict[str, Any]) -> list[str]:
    """One line per service that is not up, then each cause and each warning."""
    lines = [_service_line(s) for s in report["services"] if s["status"] != "up"]
    lines += [f"cause {c['kind']}: {c['summary']}" for c in report["causes"][:LONG_LINES]]
    lines += [f"warning: {w}" for w in report["warnings"][:LONG_LINES]]
    return [text(line) for line in lines]


def _service_line(service: dict[str, Any]) -> str:
    reasons = service["reasons"]
    parts = list(reasons[:REASONS_SHOWN])
    if len(reasons) > REASONS_SHOWN:
        parts.append(f"+{len(reasons) - REASONS_SHOWN} more")
    if service["runway_seconds"] is not None:
        parts.append(f"cached answers run out in {service['runway_seconds']} s")
    said = "; ".join(parts)
    head = f"{service['name']} {service['status']} ({service['criticality']})"
    return f"{head}: {said}" if said else head


def text(line: str) -> str:
    """A line of plugin output: no ``|`` (it would start performance data) and no line
    breaks or control characters."""
    return "".join(" " if not c.isprintable() else "/" if c == "|" else c for c in line)
