"""``serve`` sends its own alerts to a real Alertmanager, with no Prometheus anywhere.

The story an on-call person lives: both resolvers go away, the health record goes down,
Alertmanager holds DnsmonServiceDown with the cause in plain words and keeps receiving
it while it lasts; the resolvers come back and the alert resolves. An Alertmanager that
is down costs failed posts and retries, never a probe round.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from alertmanager import Alertmanager, Webhook, shipped_config
from exporter import Exporter, wait_until
from servers import TestRegion, free_port

from monitor.outputs import alerts

pytestmark = pytest.mark.integration


def write_config(region: TestRegion, path: Path, alertmanagers: list[str]) -> Path:
    text = region.probes_yaml(defaults={"interval": "1s", "timeout": "500ms", "attempts": 1})
    text += "alerting:\n  alertmanagers:\n" + "".join(f"    - {url}\n" for url in alertmanagers)
    path.write_text(text)
    return path


def sent(exporter: Exporter, url: str, result: str) -> float:
    value = exporter.metrics().value(
        "dnsmon_alertmanager_notifications_total", alertmanager=url, result=result
    )
    return value or 0.0


def test_alerts_reach_alertmanager_repeat_while_down_and_resolve(
    region: TestRegion, tmp_path: Path
) -> None:
    with Webhook() as hook, Alertmanager(tmp_path, hook) as am:
        config = write_config(region, tmp_path / "probes.yaml", [am.url])
        with Exporter(config, tmp_path) as exporter:
            exporter.wait_for_metric(
                "dnsmon_service_status", 1.0, service="ehr", criticality="critical", status="up"
            )
            assert am.firing() == []
            try:
                region.resolver_a.stop()
                region.resolver_b.stop()
                [down] = wait_until(
                    lambda: [a for a in am.firing("DnsmonServiceDown")
                             if a["labels"]["service"] == "ehr"],
                    "DnsmonServiceDown for ehr in Alertmanager", 30, am.log,
                )  # fmt: skip
                assert down["labels"] == {
                    "alertname": "DnsmonServiceDown",
                    "severity": "critical",
                    "site": "test-site",
                    "service": "ehr",
                    "fault": "server_unreachable resolver-a",  # Alertmanager groups by it
                }
                assert "resolver-a" in down["annotations"]["cause"]
                assert "Paper forms" in down["annotations"]["description"]
                assert down["generatorURL"] == f"http://{exporter.listen}/"
                # Re-sent while it lasts: more posts succeed, the alert stays active.
                before = sent(exporter, am.url, "success")
                wait_until(lambda: sent(exporter, am.url, "success") >= before + 2,
                           "two more posts", 20)  # fmt: skip
                assert am.firing("DnsmonServiceDown")
                wait_until(lambda: hook.alerts("firing"), "a firing notification", 20)
            finally:
                region.reset()
            wait_until(lambda: not am.firing("DnsmonServiceDown"), "the alert resolved", 30, am.log)
            wait_until(
                lambda: [a for a in hook.alerts("resolved")
                         if a["labels"]["alertname"] == "DnsmonServiceDown"],
                "a resolved notification", 30,
            )  # fmt: skip
            assert sent(exporter, am.url, "failure") == 0


def test_one_dead_cause_is_one_notification_with_the_shipped_alertmanager_config(
    region: TestRegion, tmp_path: Path
) -> None:
    """Both resolvers stop: sso and ehr go down by the same fault. The shipped config
    groups by fault, so the pager gets one DnsmonServiceDown notification for both,
    where grouping by service had sent one per service."""
    with Webhook() as hook, Alertmanager(tmp_path, hook, shipped_config(hook)) as am:
        config = write_config(region, tmp_path / "probes.yaml", [am.url])
        with Exporter(config, tmp_path) as exporter:
            exporter.wait_for_metric(
                "dnsmon_service_status", 1.0, service="ehr", criticality="critical", status="up"
            )
            try:
                region.resolver_a.stop()
                region.resolver_b.stop()
                wait_until(lambda: len(am.firing("DnsmonServiceDown")) == 2,
                           "DnsmonServiceDown for ehr and sso", 30, am.log)  # fmt: skip
                wait_until(lambda: _notified(hook, "DnsmonServiceDown"), "a page", 20)
                time.sleep(2.5)  # two more group intervals: a second group would be sent
                report = json.loads(exporter.get("/api/status").body)
            finally:
                region.reset()
    pages = _notified(hook, "DnsmonServiceDown")
    assert {p["groupLabels"]["fault"] for p in pages} == {alerts.fault_of(
        report["causes"], "ehr")["fault"]}  # fmt: skip
    assert len({p["groupKey"] for p in pages}) == 1, pages
    assert sorted(a["labels"]["service"] for a in pages[-1]["alerts"]) == ["ehr", "sso"]
    assert pages[0]["receiver"] == "on-call-pager"


def _notified(hook: Webhook, alertname: str) -> list[dict]:
    """The notifications whose group is of ``alertname``."""
    return [n for n in hook.notifications if n["groupLabels"].get("alertname") == alertname]


def test_an_alertmanager_that_is_down_costs_retries_not_rounds(
    region: TestRegion, tmp_path: Path
) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    config = write_config(region, tmp_path / "probes.yaml", [dead])
    with Exporter(config, tmp_path) as exporter:
        region.resolver_a.stop()  # something to alert about: ehr degraded, not down
        try:
            first = exporter.wait_for_fresh_round()
            wait_until(lambda: sent(exporter, dead, "failure") >= 2, "failed posts", 20)
            later = exporter.wait_for_fresh_round()
            stamp = "dnsmon_last_round_timestamp_seconds"
            assert (later.value(stamp) or 0) > (first.value(stamp) or 0)
            assert sent(exporter, dead, "success") == 0
            assert "alertmanager notification failed" in exporter.log()
        finally:
            region.reset()


def test_report_alerts_name_the_backups_that_still_work() -> None:
    report = {
        "site": "north", "started_at": "2026-11-27T03:00:00Z",
        "causes": [{"kind": "zone_dark", "target": "region.internal", "services": ["ehr"],
                    "summary": "ns1 and ns2, the only authoritative servers of region.internal, "
                               "do not answer", "since": "2026-11-27T02:58:00Z"}],
        "zones": [{"name": "region.internal", "dark": True}],
        "services": [{
            "name": "ehr", "description": "Electronic health record", "criticality": "critical",
            "status": "degraded", "since": "2026-11-27T02:58:00Z", "runway_seconds": 250,
            "backups": [
                {"name": "paper", "description": "Paper forms", "status": "usable",
                 "instructions": "Red folder at each nurses' station"},
                {"name": "readonly", "status": "unusable", "reasons": ["needs ehr-ro A"]},
            ],
        }],
    }  # fmt: skip
    raised = {a.name: a for a in alerts.build(report)}
    assert set(raised) == {"DnsmonZoneDark", "DnsmonCacheRunwayShort", "DnsmonBackupUnusable"}
    runway = dict(raised["DnsmonCacheRunwayShort"].annotations)
    # 03:00:00 + 250 s: the time, as the rule tells it from the same round's numbers.
    assert runway["summary"].startswith(
        "Electronic health record (ehr) goes down at about 03:04 UTC"
    )
    assert dict(raised["DnsmonCacheRunwayShort"].labels)["fault"] == "zone_dark region.internal"
    assert "Red folder" in runway["description"]
    dark = raised["DnsmonZoneDark"]
    assert dict(dark.labels) == {"alertname": "DnsmonZoneDark", "severity": "critical",
                                 "site": "north", "zone": "region.internal"}  # fmt: skip
    assert dark.as_json(0)["startsAt"] == "2026-11-27T02:58:00.000000Z"


def test_a_pushed_service_down_alert_says_how_each_client_group_sees_it() -> None:
    report = {
        "site": "north", "started_at": "2026-11-27T03:00:00Z",
        "causes": [{"kind": "negative_answer", "target": "resolver-a", "services": ["ehr"],
                    "summary": "resolver-a answers NXDOMAIN for ehr-db.region.internal A, which "
                               "resolver-b resolves: clients that ask it first fail and never "
                               "ask another", "since": "2026-11-27T02:58:00Z"}],
        "zones": [],
        "services": [{
            "name": "ehr", "description": "Electronic health record", "criticality": "critical",
            "status": "down", "since": "2026-11-27T02:58:00Z", "runway_seconds": None,
            "backups": [],
            "clients": [
                {"client": "wards", "status": "down", "lookup_seconds": 0.001, "reasons": [
                    "ehr-db.region.internal A from wards: resolver-a answers NXDOMAIN, which "
                    "glibc takes as final"]},
                {"client": "labs", "status": "up", "lookup_seconds": 0.001, "reasons": []},
            ],
        }],
    }  # fmt: skip
    [down] = alerts.build(report)
    told = dict(down.annotations)
    assert told["clients"] == (
        "wards: down (ehr-db.region.internal A from wards: resolver-a answers NXDOMAIN, which"
        " glibc takes as final)"
    )
    assert told["cause"].startswith("resolver-a answers NXDOMAIN")


def test_a_wall_clock_stepped_back_neither_holds_back_nor_misdates_a_page() -> None:
    """ehr went down in an earlier round dated 03:10; the clock was then stepped back an
    hour, so this round says 02:10: ehr has been down a round, and pages, from 02:10."""
    report = {
        "site": "north", "started_at": "2026-11-27T02:10:00Z", "causes": [], "zones": [],
        "services": [{"name": "ehr", "criticality": "critical", "status": "down",
                      "since": "2026-11-27T03:10:00Z", "runway_seconds": None,
                      "backups": []}],
    }  # fmt: skip
    [down] = alerts.build(report, hold_seconds=30)
    assert down.name == "DnsmonServiceDown"
    assert down.as_json(0)["startsAt"] == "2026-11-27T02:10:00.000000Z"


def test_the_sender_paces_itself_by_the_monotonic_clock() -> None:
    """A wall clock an hour behind the last send does not hold back the next one."""
    from monitor.serving.alertmanager import AlertSender

    wall = [10_000.0]
    tick = [50.0]
    sender = AlertSender(("http://127.0.0.1:9",), 30.0, clock=lambda: wall[0],
                         tick=lambda: tick[0])  # fmt: skip
    target = sender.targets[0]
    target.sent_version, target.sent_at = sender._snapshot.version, 50.0
    wall[0] -= 3600.0  # stepped back
    tick[0] += 31.0  # a little over an interval later, really
    assert sender._due(target, sender.tick())
