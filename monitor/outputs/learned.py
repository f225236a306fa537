"""What ``learn`` prints: the findings as JSON or text, and the YAML fragment to add.

The fragment holds the ``names:`` entries to add and, per service and backup, its
``depends_on`` as it would read with them (merged by name). The config file itself is
never changed: people read the fragment and decide.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import yaml
from rich.text import Text

from monitor.judging.graph import Graph
from monitor.judging.learned import Finding, owner_text
from monitor.learning.messages import SourceStats
from monitor.outputs.render import Printer

TITLES = {
    "dns_free_backup_resolves": "Backups said to need no DNS that use it",
    "broken_dependency": "Dependencies already broken",
    "unmapped": "Names resolved that the map lacks",
    "unused": "Mapped names nobody resolved",
    "noise": "Noise (told apart, nothing to do)",
}
TO_ADD = frozenset({"unmapped", "dns_free_backup_resolves"})


def report(days: int, sources: Iterable[SourceStats], found: list[Finding]) -> dict[str, Any]:
    """``learn --format json``."""
    return {"days": days, "sources": [s.as_json() for s in sources], "findings": found}


def render(built: dict[str, Any], console: Printer) -> None:
    """The findings for people, the headline kind first."""
    sources = built["sources"]
    total = {k: sum(s[k] for s in sources) for k in ("messages", "kept", "foreign", "noise",
                                                       "malformed")}  # fmt: skip
    console.print(Text(
        f"learn: {len(sources)} source{'s' if len(sources) != 1 else ''}, "
        f"{total['messages']:,} messages ({total['kept']:,} kept, {total['foreign']:,} from "
        f"clients in no hosts or networks, {total['noise']:,} noise, {total['malformed']:,} "
        f"malformed); the last {built['days']} days"
    ))  # fmt: skip
    for source in sources:
        console.print(Text(f"  {source['source']}: {source['format']}, "
                           f"{source['messages']:,} messages"))  # fmt: skip
    if not built["findings"]:
        console.print(Text("nothing found: the map holds what the traffic shows", style="green"))
    for kind, title in TITLES.items():
        mine = [f for f in built["findings"] if f["kind"] == kind]
        if mine:
            console.print()
            style = "bold red" if kind == "dns_free_backup_resolves" else "yellow"
            console.print(Text(f"{title.upper()} ({len(mine)})", style=style))
            for f in mine:
                console.print(Text(f"  {finding_line(f)}"))


def finding_line(f: Finding) -> str:
    """``backup paper of ehr: print.region.internal A, 14 times, last 2026-12-06T10:00Z``."""
    what = f"{owner_text(f)}: {f['name']} {f['type']}"
    if f["kind"] == "unused":
        days = f["days_heard"]
        return (f"{what}, not resolved in the window, though its hosts asked other names on"
                f" {days} day{'s' if days != 1 else ''}")  # fmt: skip
    rcodes = ", ".join(f"{k} {v}" for k, v in f["rcodes"].items()) or "rcode not logged"
    chain = f" (→ {' → '.join(f['cnames'])})" if f["cnames"] else ""
    noise = f" [{f['noise'].replace('_', ' ')}]" if f.get("noise") else ""
    times = "once" if f["count"] == 1 else f"{f['count']:,} times"
    return (f"{what}{chain}, {times} ({rcodes}), "
            f"last {f['last_seen']}{noise}")  # fmt: skip


def fragment(graph: Graph, found: list[Finding]) -> str:
    """YAML to add to probes.yaml: new names, and each owner's depends_on with them."""
    adding = [f for f in found if f["kind"] in TO_ADD]
    names = sorted({(f["name"], f["type"]) for f in adding} - set(graph.names))
    services: dict[str, dict[str, Any]] = {}
    for f in (f for f in adding if f["service"]):
        spec = graph.services[f["service"]]
        entry = services.setdefault(spec.name, {"name": spec.name})
        if f["backup"] is None:
            entry["depends_on"] = _merged(entry.get("depends_on", spec.depends_on), f["name"])
        else:
            backups = entry.setdefault("backups", {})
            backup = next(b for b in spec.backups if b.name == f["backup"])
            current = backups.get(backup.name, backup.depends_on)
            backups[backup.name] = _merged(current, f["name"])
    document: dict[str, Any] = {}
    if names:
        document["names"] = [{"name": n, "type": t} for n, t in names]
    if services:
        document["services"] = [_service(entry) for entry in services.values()]
    header = "# From dnsmon learn: add these entries; depends_on as it would read with them.\n"
    asked_by_groups = sorted({f"{f['name']} {f['type']} ({f['client']})" for f in adding
                              if f["client"]})  # fmt: skip
    if asked_by_groups:
        header += "# Asked by client groups; add each to the service that needs it:\n"
        header += "".join(f"#   {line}\n" for line in asked_by_groups)
    if not document:
        return header + "# nothing to add\n"
    return header + yaml.safe_dump(document, sort_keys=False, default_flow_style=None)


def _merged(current: Iterable[str], name: str) -> list[str]:
    merged = list(current)
    return merged if name in merged else [*merged, name]


def _service(entry: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"name": entry["name"]}
    if "depends_on" in entry:
        out["depends_on"] = list(entry["depends_on"])
    if "backups" in entry:
        out["backups"] = [{"name": n, "depends_on": list(d)} for n, d in entry["backups"].items()]
    return out
