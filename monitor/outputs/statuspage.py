"""The status page at ``/``: what people should do, what broke, since when.

Written for the people on the wards as much as for the operators. Its first screen, on
a phone too, says what people should do (nothing; prepare the backups, with the time
left; use them, with their instructions), the cause in plain words and the first thing
to do. Then, for each service its users feel, in the config's own words, the backup
routines that still work (with their instructions) and the ones that do not, and why;
the cache runway as a large countdown; services with a fault nobody feels yet, for the
operators; the technical detail folded away.

Self-contained HTML: no script, font, image or style sheet from anywhere else, so it
still renders when the DNS it reports on is gone. It reloads itself every 10 seconds.
Every string from the config or from answers is escaped.
"""

from __future__ import annotations

import time
from html import escape
from typing import Any

from monitor.outputs.learned import TITLES, finding_line
from monitor.outputs.render import runway_text
from monitor.outputs.report import epoch_of

REFRESH_SECONDS = 10
STYLE = (
    "*{box-sizing:border-box}"
    "body{font-family:system-ui,sans-serif;margin:0;color:#111;background:#fafafa;"
    "line-height:1.4;font-size:17px}"
    "main{max-width:60em;margin:0 auto;padding:0 1em 2em}"
    "header{padding:.8em 1em;color:#fff}header h1{margin:.1em 0;font-size:1.45em}"
    "header p{margin:.2em 0}header small{color:#f4f4f4}"
    "#people{font-size:1.25em;font-weight:bold;margin:.4em 0}"
    "#first-step{background:#fff;color:#111;padding:.5em .7em;margin:.5em 0}"
    "#headline-cause{font-size:.95em}"
    ".status-up{background:#1f7a1f}.status-degraded{background:#b36b00}"
    ".status-down{background:#b00020}"
    ".status-degraded.people-working{background:#35576b}"  # a fault nobody feels: calm
    "h2{margin:1em 0 .4em;font-size:1.2em}h3{margin:.6em 0 .3em;font-size:1.05em}"
    ".cause{margin:.4em 0;padding:.6em .8em;background:#fff;border-left:6px solid #b00020}"
    ".service{background:#fff;margin:1em 0;padding:.8em 1em;border-left:8px solid #999}"
    ".service.down{border-color:#b00020}.service.degraded{border-color:#b36b00}"
    ".countdown{font-size:2.2em;font-weight:bold;display:block}"
    ".runway{background:#fff4e0;padding:.6em .8em;margin:.6em 0}"
    ".backups{margin:.3em 0;padding-left:1.3em}.backups li{margin:.5em 0}"
    ".usable b{color:#1f7a1f}.at_risk b{color:#b36b00}.unusable b{color:#b00020}"
    ".instructions{margin:.2em 0;padding:.4em .6em;background:#eef6ee}"
    ".ok-list{padding-left:1.3em}"
    "details{margin:1.5em 0;background:#fff;padding:.6em 1em}summary{cursor:pointer}"
    "table{border-collapse:collapse;width:100%;font-size:.85em}"
    "td,th{padding:3px 6px;text-align:left;vertical-align:top;border-bottom:1px solid #ddd;"
    "overflow-wrap:anywhere}"
    "small,.muted{color:#555}"
)
STATE_WORDS = {"up": "working", "degraded": "degraded", "down": "down"}
FATE_WORDS = {
    "name": "the same DNS name",
    "zone": "the same DNS zone",
    "authoritative": "the same DNS servers",
    "servers": "the same DNS resolvers",
}


def status_page(report: dict[str, Any] | None, site: str) -> str:
    """The whole page for the latest report (None before the first round)."""
    status = report["status"] if report else "unknown"
    title = f"dnsmon {site}: {STATE_WORDS.get(status, 'waiting for the first round')}"
    body = _waiting(site) if report is None else _body(report)
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<meta http-equiv='refresh' content='{REFRESH_SECONDS}'>"
        f"<title>{escape(title)}</title><style>{STYLE}</style></head>"
        f"<body>{body}</body></html>"
    )


def _waiting(site: str) -> str:
    return (
        f"<header class='status-degraded'><h1 id='headline'>dnsmon {escape(site)}: "
        "waiting for the first probe round…</h1></header><main></main>"
    )


def _body(report: dict[str, Any]) -> str:
    return (
        _header(report)
        + "<main>"
        + "".join(_service(s, report) for s in _felt(report))
        + _causes(report)
        + _unfelt(report)
        + _working(report)
        + _technical(report)
        + _footer(report)
        + "</main>"
    )


def headline(report: dict[str, Any]) -> str:
    """One short sentence that counts: ``2 of 10 services are down, 1 degraded``."""
    services = report["services"]
    down = sum(1 for s in services if s["status"] == "down")
    degraded = sum(1 for s in services if s["status"] == "degraded")
    if not down and not degraded:
        return "All services are working"
    first, rest = (down, "down") if down else (degraded, "degraded")
    verb = "is" if first == 1 else "are"
    told = f"{first} of {len(services)} service{'' if len(services) == 1 else 's'} {verb} {rest}"
    return f"{told}, {degraded} degraded" if down and degraded else told


PEOPLE_ORDER = {"use_backups": 2, "prepare": 1, "working": 0}


def people_state(report: dict[str, Any]) -> str:
    """What the page tells people to do: the most urgent of any service's."""
    states = [s.get("people", "working") for s in report["services"]]
    return max(states, key=PEOPLE_ORDER.__getitem__, default="working")


def _felt(report: dict[str, Any]) -> list[dict[str, Any]]:
    """The services whose users feel it: down for some, or only on caches running out."""
    return [s for s in report["services"] if s.get("people", "working") != "working"]


def _header(report: dict[str, Any]) -> str:
    status = report["status"]
    people = people_state(report)
    cause = _headline_causes(report) if status != "up" else ""
    told, step = _what_people_do(report, people)
    return (
        f"<header class='status-{escape(status)} people-{escape(people)}'>"
        f"<p>{escape(report['site'])} · {STATE_WORDS.get(status, status)}</p>"
        f"<h1 id='headline'>{escape(headline(report))}</h1>"
        f"<p id='people' data-people='{escape(people)}'>{escape(told)}</p>{cause}"
        f"<p id='first-step'>{escape(step)}</p>"
        f"<p><small>checked {escape(_clock(report['started_at']))}; this page refreshes "
        f"every {REFRESH_SECONDS} s</small></p></header>"
    )


MAX_FELT = 5  # failing names listed under a countdown
HEADLINE_CAUSES = 3  # the rest are listed under "What is wrong"


def _headline_causes(report: dict[str, Any]) -> str:
    """The faults behind the headline, each named (two dark zones are two faults)."""
    causes = report.get("causes") or []
    if not causes:
        return ""
    told = " ".join(escape(c["summary"].rstrip(".") + ".") for c in causes[:HEADLINE_CAUSES])
    more = len(causes) - HEADLINE_CAUSES
    if more > 0:
        told += f" <small>({more} more below)</small>"
    return f"<p id='headline-cause'>{told}</p>"


def _what_people_do(report: dict[str, Any], people: str) -> tuple[str, str]:
    """(what people should do, the first thing to do) in their words."""
    felt = _felt(report)
    if people == "working":
        step = "Nothing to do: every service works for the people who use it."
        if report["status"] != "up":
            step += " The IT team is told of a fault that nobody feels yet."
        return "Everything works for its users", step
    if people == "prepare":
        service = min((s for s in felt if s.get("runway_seconds") is not None),
                      key=lambda s: s["runway_seconds"], default=felt[0])  # fmt: skip
        label = service.get("description") or service["name"]
        left = service.get("runway_seconds")
        until = ""
        if left is not None:
            until = f" for about {runway_text(left)} more (until {_clock_after(report, left)})"
        told = f"Get ready: {label} works only from DNS caches{until}"
        return told, _first_backup(service, "Get ready to use")
    down = [s for s in felt if s.get("people") == "use_backups"]
    told = (f"Use the backup routines for {len(down)} service"
            f"{'' if len(down) == 1 else 's'}")  # fmt: skip
    back = [s["recovery_seconds"] for s in down if s.get("recovery_seconds") is not None]
    if back and len(back) == len(down):  # fixed at the source: caches still remember
        told += f" until about {_clock_after(report, max(back))}, when DNS caches forget the fault"
    return told, _first_backup(down[0], "Now")


def _clock_after(report: dict[str, Any], seconds: float) -> str:
    """The local time ``seconds`` after the round began: ``14:05``."""
    return time.strftime("%H:%M", time.localtime(epoch_of(report["started_at"]) + seconds))


def _first_backup(service: dict[str, Any], how: str) -> str:
    """The first backup that works for ``service``, with its instructions."""
    label = service.get("description") or service["name"]
    usable = [b for b in service["backups"] if b["status"] != "unusable"]
    usable.sort(key=lambda b: b["status"] != "usable")
    if not usable:
        return f"{label}: no backup routine that still works is on record."
    backup = usable[0]
    what = backup.get("description") or backup["name"]
    instructions = backup.get("instructions") or ""
    return f"{label}: {how}: {what}." + (f" {instructions}" if instructions else "")


def _causes(report: dict[str, Any]) -> str:
    causes = report.get("causes") or []
    if not causes:
        return ""
    items = "".join(
        f"<li class='cause' data-kind='{escape(c['kind'])}'>{escape(c['summary'])}"
        + _since(c.get("since"))
        + (
            f"<br><small>affects {escape(', '.join(c['services']))}</small>"
            if c["services"]
            else ""
        )
        + "</li>"
        for c in causes
    )
    return f"<section id='causes'><h2>What is wrong</h2><ul class='ok-list'>{items}</ul></section>"


def _since(since: str | None) -> str:
    return f" <small>(since {escape(_clock(since))})</small>" if since else ""


def _service(service: dict[str, Any], report: dict[str, Any]) -> str:
    state = service["status"]
    label = escape(service.get("description") or service["name"])
    name = escape(service["name"])
    return (
        f"<article class='service {escape(state)}' id='service-{name}'>"
        f"<h2>{label} <small>({name})</small> is {STATE_WORDS.get(state, escape(state))}"
        f"{_since(service.get('since'))}</h2>"
        f"{_runway(service, report)}{_recovery(service, report)}{_what_to_do(service)}</article>"
    )


def _recovery(service: dict[str, Any], report: dict[str, Any], tag: str = "p") -> str:
    """When people get it back: the fault is fixed, but resolver caches remember it."""
    seconds = service.get("recovery_seconds")
    if seconds is None:
        return ""
    return (
        f"<{tag} class='recovery'>The fault is fixed, but some computers still get it from "
        f"DNS caches for about <span id='recovery-{escape(service['name'])}'>"
        f"{escape(runway_text(seconds))}</span> more: back for everyone by about "
        f"{escape(_clock_after(report, seconds))}.</{tag}>"
    )


def _runway(service: dict[str, Any], report: dict[str, Any]) -> str:
    seconds = service.get("runway_seconds")
    if seconds is None or service["status"] == "down":  # down already: no time left to tell
        return ""
    follows = service.get("runway_follows")
    rose = service.get("runway_rose")
    return (
        "<div class='runway'>Still answered (from DNS caches, or a secondary's copy of the "
        "zone), but only for"
        f"<span class='countdown' id='runway-{escape(service['name'])}'>"
        f"{escape(runway_text(seconds))}</span>"
        f"until about {escape(_clock_after(report, seconds))}; "
        "after that it stops unless the DNS is fixed."
        + (f"<br><small>The time left is that of {escape(follows)}.</small>" if follows else "")
        + (
            f"<br><small class='rose'>Longer than before: {escape(rose)}.</small>" if rose else ""
        )  # fmt: skip
        + f"{_failing_already(service)}</div>"
    )


def _failing_already(service: dict[str, Any]) -> str:
    """The faults already felt behind a countdown: a resolver failing its names."""
    cache = (
        "only cached answers left",
        "serves expired answers for an unknown time",
        "serve expired answers for an unknown time",
    )  # what a countdown says already
    felt = [r for r in service["reasons"] if not any(c in r for c in cache)]
    if not felt:
        return ""
    items = "".join(f"<li>{escape(r)}</li>" for r in felt[:MAX_FELT])
    more = f"<li>… and {len(felt) - MAX_FELT} more</li>" if len(felt) > MAX_FELT else ""
    return f"<br><small>Already failing:</small><ul class='felt'>{items}{more}</ul>"


def _what_to_do(service: dict[str, Any]) -> str:
    backups = service["backups"]
    if not backups:
        return "<p><b>No backup routine is on record for this service.</b></p>"
    order = {"usable": 0, "at_risk": 1, "unusable": 2}
    items = "".join(
        _backup(b, service["name"]) for b in sorted(backups, key=lambda b: order[b["status"]])
    )
    return f"<h3>What to do</h3><ol class='backups'>{items}</ol>"


def _backup(backup: dict[str, Any], service: str) -> str:
    label = escape(backup.get("description") or backup["name"])
    state = backup["status"]
    if state == "usable":
        verdict = "works"
    elif state == "at_risk":
        verdict = "works for now, but may fail too"
    else:
        verdict = "does not work now"
    why = _why(backup, service) if state != "usable" else ""
    instructions = backup.get("instructions") or ""
    told = (
        f"<p class='instructions'>{escape(instructions)}</p>"
        if instructions and state != "unusable"
        else ""
    )
    ident = f"backup-{escape(service)}-{escape(backup['name'])}"
    return (
        f"<li class='backup {escape(state)}' id='{ident}'>"
        f"<b>{label}</b> <small>({escape(backup['name'])})</small> {verdict}{why}{told}</li>"
    )


def _why(backup: dict[str, Any], service: str) -> str:
    """Why a backup is at risk or unusable, in plain words."""
    level = backup.get("shared_fate")
    if level in FATE_WORDS and backup["status"] == "at_risk":
        shared = ", ".join(backup.get("shared", []))
        return f": it needs {FATE_WORDS[level]} as {escape(service)} ({escape(shared)})"
    failing = [r.split(":", 1)[0] for r in backup.get("reasons", []) if ":" in r]
    if failing:
        return f": it needs {escape(failing[0])}, which does not answer correctly now"
    if level in FATE_WORDS:
        return f": it needs {FATE_WORDS[level]} as {escape(service)}"
    return ""


def _unfelt(report: dict[str, Any]) -> str:
    """Services degraded for the operators while their users feel nothing yet."""
    quiet = [s for s in report["services"] if s["status"] != "up" and s not in _felt(report)]
    if not quiet:
        return ""
    items = "".join(
        f"<li id='service-{escape(s['name'])}' class='service-unfelt'>"
        f"{escape(s.get('description') or s['name'])} <small>({escape(s['name'])})</small>"
        f"{_since(s.get('since'))}<br><small>{escape('; '.join(s['reasons'][:2]))}</small>"
        f"{_recovery(s, report, 'small')}</li>"
        for s in quiet
    )
    return (
        "<section id='unfelt'><h2>Working for their users, with a fault for the IT team"
        f"</h2><ul class='ok-list'>{items}</ul></section>"
    )


def _working(report: dict[str, Any]) -> str:
    up = [s for s in report["services"] if s["status"] == "up"]
    if not up:
        return ""
    items = "".join(
        f"<li id='service-{escape(s['name'])}' class='service-up'>"
        f"{escape(s.get('description') or s['name'])} <small>({escape(s['name'])})</small>"
        f"{_since(s.get('since'))}{_recovery(s, report, 'small')}</li>"
        for s in up
    )
    return f"<section id='working'><h2>Working</h2><ul class='ok-list'>{items}</ul></section>"


def _technical(report: dict[str, Any]) -> str:
    rows = "".join(
        f"<tr><td>{escape(n['name'])} {escape(n['type'])}</td><td>{escape(n['status'])}</td>"
        f"<td>{escape(r['server'])}{' → ' + escape(r['qname']) if r.get('qname') else ''}</td>"
        f"<td>{escape(r['result'])}</td><td>{escape(', '.join(r['answers']))}</td>"
        f"<td>{escape('; '.join(str(e['code']) + ' ' + e['name'] for e in r.get('ede', [])))}</td>"
        f"<td>{escape(r.get('detail', ''))}</td></tr>"
        for n in report["names"]
        for r in n["results"]
        if n["status"] != "healthy" and r["result"] != "ok"
    )
    names = (
        "<table><tr><th>name</th><th>state</th><th>server</th><th>result</th><th>answers</th>"
        f"<th>EDE</th><th>detail</th></tr>{rows}</table>"
        if rows
        else "<p>Every name answers ok on every server.</p>"
    )
    dark = "DARK — no authoritative server answers; "
    zones = "".join(
        f"<li>{escape(z['name'])}: {dark if z.get('dark') else ''}"
        f"serials {escape(', '.join(f'{s} {v}' for s, v in z['serials'].items()))}</li>"
        for z in report["zones"]
    )
    warnings = "".join(f"<li>{escape(w)}</li>" for w in report.get("warnings", []))
    return (
        "<details id='technical'><summary>Technical detail: names, servers, answers</summary>"
        f"{names}<h3>Zones</h3><ul>{zones}</ul>"
        + (f"<h3>Warnings</h3><ul>{warnings}</ul>" if warnings else "")
        + _learned(report)
        + "</details>"
    )


def _learned(report: dict[str, Any]) -> str:
    """What the resolvers' traffic shows that the map does not say (``learning``)."""
    learned = report.get("learned")
    if not learned:
        return ""
    found = [f for f in learned["findings"] if f["kind"] != "noise"]
    items = "".join(
        f"<li class='learned {escape(f['kind'])}'>{escape(TITLES[f['kind']])}: "
        f"{escape(finding_line(f))}</li>"
        for f in found
    )
    told = items or "<li>The map holds what the resolvers' traffic shows.</li>"
    return f"<h3 id='learned'>Learned from the resolvers' traffic</h3><ul>{told}</ul>"


def _footer(report: dict[str, Any]) -> str:
    tracking = report.get("tracking_since")
    known = (
        f"dnsmon has watched since {escape(_clock(tracking))}; it knows nothing older. "
        if tracking
        else ""
    )
    return (
        f"<p class='muted'><small>{known}Round at {escape(report['started_at'])}, "
        f"{report['duration_seconds']:.2f} s. "
        "<a href='/metrics'>metrics</a> · <a href='/api/status'>JSON report</a></small></p>"
    )


def _clock(iso: str) -> str:
    """``03:02`` in the server's local time, with the date when it is not today."""
    moment = time.localtime(epoch_of(iso))
    if time.strftime("%Y-%m-%d", moment) == time.strftime("%Y-%m-%d"):
        return time.strftime("%H:%M", moment)
    return time.strftime("%Y-%m-%d %H:%M", moment)
