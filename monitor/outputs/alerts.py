"""The alerts ``serve`` sends to Alertmanager itself, built from a round's report. Pure.

A second path that needs neither Prometheus nor DNS: a service down, a backup unusable,
a zone dark, a cache runway running short, signatures or secondaries' copies about to
expire. They carry the same alert names and the labels ``alertname``, ``severity``,
``site`` and ``service`` (``backup`` or ``zone`` where they concern one) as the
Prometheus rules in ``dashboards/``, so Alertmanager groups the two into one
notification, and the cause in plain words as an annotation.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from monitor.outputs.report import epoch_of

RUNWAY_SHORT_SECONDS = 600  # the threshold of the DnsmonCacheRunwayShort rule
SIGNATURES_SHORT_SECONDS = 86400  # the threshold of the DnsmonSignaturesExpiring rule
COPIES_SHORT_SECONDS = 86400  # the threshold of the DnsmonZoneCopiesExpiring rule
PAGING = {"critical", "high"}  # criticalities whose services page when they go down


@dataclass(frozen=True)
class Alert:
    """One alert as Alertmanager's v2 API takes it (``/api/v2/alerts``)."""

    labels: tuple[tuple[str, str], ...]
    annotations: tuple[tuple[str, str], ...] = ()
    starts_at: float = 0.0
    generator_url: str = field(default="", compare=False)

    @property
    def name(self) -> str:
        return dict(self.labels)["alertname"]

    def as_json(self, ends_at: float) -> dict[str, Any]:
        body: dict[str, Any] = {
            "labels": dict(self.labels),
            "annotations": dict(self.annotations),
            "startsAt": _iso(self.starts_at),
            "endsAt": _iso(ends_at),
        }
        if self.generator_url:
            body["generatorURL"] = self.generator_url
        return body


def build(report: dict[str, Any], status_url: str = "", hold_seconds: float = 0.0) -> list[Alert]:
    """Every alert a report raises, firing now. A service must have been down for
    ``hold_seconds`` (a round, in ``serve``) before it pages: one lost packet pages nobody,
    as the Prometheus rule's ``for: 1m`` does."""
    started = epoch_of(report["started_at"])
    causes = report.get("causes", [])
    site = report["site"]
    found: list[Alert] = []
    for service in report["services"]:
        found += _service_alerts(service, site, causes, started, hold_seconds)
    for zone in report.get("zones", []):
        if zone.get("dark"):
            found.append(_zone_dark(zone, site, causes, started))
        left = zone.get("signatures_expire_in_seconds")
        if left is not None and left < SIGNATURES_SHORT_SECONDS:
            found.append(_zone_clock(SIGNATURES, zone, left, site, causes, started))
        left = zone.get("expires_in_seconds")
        if left is not None and left < COPIES_SHORT_SECONDS:
            found.append(_zone_clock(COPIES, zone, left, site, causes, started))
    return [Alert(a.labels, a.annotations, a.starts_at, status_url) for a in found]


def _service_alerts(
    service: dict[str, Any], site: str, causes: list[dict[str, Any]], started: float, hold: float
) -> list[Alert]:
    name, state = service["name"], service["status"]
    raw = epoch_of(service["since"]) if service.get("since") else started
    since = min(raw, started)  # Alertmanager takes no start after the round that saw it
    why = _causes_of(causes, name)
    fault = fault_of(causes, name)
    out = []
    label = service.get("description") or name
    # A since after the round began is an earlier round under a wall clock stepped back
    # since: held as long as any earlier round's state.
    if state == "down" and (started - raw >= hold or raw > started):
        severity = "critical" if service["criticality"] in PAGING else "warning"
        out.append(_alert(
            "DnsmonServiceDown", severity, site, since, {"service": name, **fault},
            summary=f"{label} ({name}) is down, seen from {site}",
            cause=why, description=_usable_backups(service), clients=_as_clients_see(service),
        ))  # fmt: skip
    runway = service.get("runway_seconds")
    if runway is not None and runway < RUNWAY_SHORT_SECONDS and state != "down":
        severity = "critical" if service["criticality"] == "critical" else "warning"
        out.append(_alert(
            "DnsmonCacheRunwayShort", severity, site, started, {"service": name, **fault},
            summary=f"{label} ({name}) goes down at about {runway_end(started, runway)} "
            "when resolver caches (or a secondary's copy of its zone) run out",
            cause=why, description=_usable_backups(service),
        ))  # fmt: skip
    for backup in service["backups"]:
        if backup["status"] == "unusable":
            severity = "critical" if state == "down" else "warning"
            b_since = epoch_of(backup["since"]) if backup.get("since") else started
            out.append(_alert(
                "DnsmonBackupUnusable", severity, site, b_since,
                {"service": name, "backup": backup["name"], **fault},
                summary=f"backup {backup['name']} of {name} does not work, seen from {site}",
                cause=why, description="; ".join(backup.get("reasons", [])),
            ))  # fmt: skip
    return out


def _zone_dark(zone: dict[str, Any], site: str, causes: list[dict[str, Any]], at: float) -> Alert:
    mine = [c for c in causes if c["kind"] == "zone_dark" and c["target"] == zone["name"]]
    summary = mine[0]["summary"] if mine else f"no authoritative server of {zone['name']} answers"
    since = epoch_of(mine[0]["since"]) if mine and mine[0].get("since") else at
    return _alert(
        "DnsmonZoneDark", "critical", site, since, {"zone": zone["name"]},
        summary=f"zone {zone['name']} is dark, seen from {site}", cause=summary,
        description="resolvers answer its names from cache only, until their caches run out",
    )  # fmt: skip


@dataclass(frozen=True)
class _Clock:
    """A zone's clock as an alert says it."""

    alertname: str
    kinds: tuple[str, ...]  # the causes whose summaries it carries
    what: str  # "the DNSSEC signatures of {zone}"
    then: str  # what happens when it runs out


SIGNATURES = _Clock(
    "DnsmonSignaturesExpiring", ("signatures_expiring", "dnssec"),
    "the DNSSEC signatures of {zone}",
    "then every validating resolver answers SERVFAIL for every name in {zone}: re-sign the zone",
)  # fmt: skip
COPIES = _Clock(
    "DnsmonZoneCopiesExpiring", ("zone_expiring", "zone_expired"),
    "the secondaries' copies of {zone}",
    "then the secondaries answer SERVFAIL for every name in {zone}: bring its primary back "
    "(or mend the transfers) before then",
)  # fmt: skip


def _zone_clock(
    clock: _Clock, zone: dict[str, Any], left: int, site: str, causes: list[dict[str, Any]],
    at: float,
) -> Alert:  # fmt: skip
    when = f"expire in {_duration(left)}" if left > 0 else f"expired {_duration(-left)} ago"
    mine = [c["summary"] for c in causes if c["target"] == zone["name"]
            and c["kind"] in clock.kinds]  # fmt: skip
    return _alert(
        clock.alertname, "critical", site, at, {"zone": zone["name"]},
        summary=f"{clock.what.format(zone=zone['name'])} {when}, seen from {site}",
        cause="; ".join(mine), description=clock.then.format(zone=zone["name"]),
    )  # fmt: skip


def _duration(seconds: int) -> str:
    """``2 h 5 min``, ``4 min 10 s``: the time left, as the runway alert says it."""
    hours, rest = divmod(seconds, 3600)
    return f"{hours} h {rest // 60} min" if hours else f"{rest // 60} min {rest % 60} s"


def _alert(
    alertname: str, severity: str, site: str, since: float, extra: dict[str, str], **notes: str
) -> Alert:
    labels = {"alertname": alertname, "severity": severity, "site": site, **extra}
    annotations = {k: v for k, v in notes.items() if v}
    return Alert(tuple(sorted(labels.items())), tuple(sorted(annotations.items())), since)


def _causes_of(causes: Iterable[dict[str, Any]], service: str) -> str:
    return "; ".join(c["summary"] for c in causes if service in c["services"])


def fault_of(causes: Iterable[dict[str, Any]], service: str) -> dict[str, str]:
    """``{"fault": "server_silent ns1"}``: the oldest cause that affects ``service``
    (in one round, the one that explains the most services), as the rules take it from
    ``dnsmon_service_cause``. Alertmanager groups by it, so one dead server is one
    notification however many services it touches; a newer cause never displaces it,
    so the alert keeps its identity while it lasts. Empty when no cause names it."""
    mine = [c for c in causes if service in c["services"]]  # most services first
    if not mine:
        return {}
    first = min(mine, key=lambda c: c.get("since") or "~")  # ISO times sort; None last
    return {"fault": f"{first['kind']} {first['target']}"}


def runway_end(started: float, runway: int) -> str:
    """``14:05 UTC``: when a runway ends, from the round's start in whole seconds, as
    ``dnsmon_service_runway_end_timestamp_seconds`` has it for the rules."""
    return datetime.fromtimestamp(int(started) + runway, UTC).strftime("%H:%M UTC")


def _as_clients_see(service: dict[str, Any]) -> str:
    """``wards: down (ehr-db.region.internal A from wards: resolver-a answers NXDOMAIN…)``."""
    told = []
    for view in service.get("clients", []):
        if view["status"] != "up":
            why = f" ({view['reasons'][0]})" if view["reasons"] else ""
            told.append(f"{view['client']}: {view['status']}{why}")
    return "; ".join(told)


def _usable_backups(service: dict[str, Any]) -> str:
    usable = [b for b in service["backups"] if b["status"] == "usable"]
    if not usable:
        return "no backup routine of it works now"
    told = [
        f"{b.get('description') or b['name']}"
        + (f": {b['instructions']}" if b.get("instructions") else "")
        for b in usable
    ]
    return "usable backups: " + " | ".join(told)


def _iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
