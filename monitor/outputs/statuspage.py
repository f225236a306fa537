"""The status page at ``/``: what is down and why, backups, runways, in plain words.

Self-contained HTML: no script, font or style sheet from anywhere else, so it still
renders when the DNS it reports on is gone.
"""

from __future__ import annotations

from html import escape
from typing import Any

from monitor.outputs.render import runway_text

STYLE = (
    "body{font-family:sans-serif;margin:1.5em;max-width:72em}"
    "table{border-collapse:collapse;width:100%}td,th{padding:4px 8px;text-align:left;"
    "vertical-align:top;border-bottom:1px solid #ddd}"
    ".down,.unusable,.failing{background:#f8c8c8}.degraded,.at_risk{background:#fbeeb8}"
    ".up,.usable,.healthy{background:#d4f0d4}.state{font-weight:bold}"
    "ul{margin:0;padding-left:1.2em}small{color:#555}"
)


def status_page(report: dict[str, Any] | None, site: str) -> str:
    """The whole page for the latest report (None before the first round)."""
    status = f": {report['status']}" if report else ""
    title = f"dnsmon {escape(site)}{status}"
    body = _waiting() if report is None else _body(report)
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        "<meta http-equiv='refresh' content='10'>"
        f"<title>{title}</title><style>{STYLE}</style></head>"
        f"<body><h1>{title}</h1>{body}"
        "<p><small><a href='/metrics'>metrics</a> · <a href='/api/status'>JSON report</a>"
        "</small></p></body></html>"
    )


def _waiting() -> str:
    return "<p>Waiting for the first probe round…</p>"


def _body(report: dict[str, Any]) -> str:
    when = f"<p><small>last round {escape(report['started_at'])}, "
    when += f"{report['duration_seconds']:.2f}s; this page refreshes every 10 s</small></p>"
    rows = "".join(_service_row(s) for s in report["services"])
    table = (
        f"<table><tr><th>service</th><th>state</th><th>why</th><th>backups</th></tr>{rows}</table>"
    )
    return when + table + _warnings(report["warnings"])


def _service_row(service: dict[str, Any]) -> str:
    state = escape(service["status"])
    runway = service.get("runway_seconds")
    if runway is not None:
        state += f"<br><small>cache runway {runway_text(runway)}</small>"
    why = "".join(f"<li>{escape(r)}</li>" for r in service["reasons"])
    backups = "".join(_backup_item(b) for b in service["backups"]) or "<li>none</li>"
    name = escape(service["name"])
    described = f"{name}<br><small>{escape(service.get('description', ''))}</small>"
    return (
        f"<tr class='{escape(service['status'])}'><td>{described}</td>"
        f"<td class='state'>{state}</td><td><ul>{why}</ul></td><td><ul>{backups}</ul></td></tr>"
    )


def _backup_item(backup: dict[str, Any]) -> str:
    fate = f" — shares {escape(backup['shared_fate'])}" if backup["shared_fate"] else ""
    return (
        f"<li class='{escape(backup['status'])}'>{escape(backup['name'])}: "
        f"{escape(backup['status'])}{fate}</li>"
    )


def _warnings(warnings: list[str]) -> str:
    if not warnings:
        return ""
    items = "".join(f"<li>{escape(w)}</li>" for w in warnings)
    return f"<h2>Warnings</h2><ul>{items}</ul>"
