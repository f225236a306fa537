"""The alert rules, their unit tests, and the example Prometheus and Alertmanager configs.

promtool checks the rules and runs dnsmon-alerts.test.yml, where every alert is shown
firing with its exact labels and annotations and staying silent when it should.
"""

from __future__ import annotations

import ipaddress
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
DASHBOARDS = ROOT / "dashboards"
RULES = DASHBOARDS / "dnsmon-alerts.yml"
RULE_TESTS = DASHBOARDS / "dnsmon-alerts.test.yml"
PROMETHEUS_CONFIG = DASHBOARDS / "prometheus.yml"
ALERTMANAGER_CONFIG = ROOT / "deploy" / "alertmanager.example.yml"

# SPEC.md: "Alert rules in dashboards/ cover at least: …", one alert per item.
SPEC_ALERTS = {
    "DnsmonServiceDown": "a service down",
    "DnsmonServiceDegraded": "a service degraded for a while",
    "DnsmonBackupUnusable": "a backup unusable",
    "DnsmonBackupSharesFateWithCriticalService": "a backup sharing fate with its critical service",
    "DnsmonCacheRunwayShort": "cache runway short",
    "DnsmonNameSingleHealthyServer": "a name down to one healthy server",
    "DnsmonAnswersInconsistent": "answers differing between servers for longer than a TTL",
    "DnsmonZoneSerialsInconsistent": "zone serials inconsistent",
    "DnsmonStale": "the monitor itself stale",
    "DnsmonDown": "the monitor itself down",
    "DnsmonConfigReloadFailed": "a failed config reload",
    "DnsmonRoundOverrun": "probe rounds overrunning their interval",
}
SEVERITIES = {"critical", "warning", "info"}

needs_promtool = pytest.mark.skipif(shutil.which("promtool") is None, reason="no promtool")
needs_amtool = pytest.mark.skipif(shutil.which("amtool") is None, reason="no amtool")


def run(*command: str, cwd: Path = DASHBOARDS) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, check=False)


def rules() -> list[dict[str, Any]]:
    groups = yaml.safe_load(RULES.read_text(encoding="utf-8"))["groups"]
    return [rule for group in groups for rule in group["rules"]]


@needs_promtool
def test_alert_rules_pass_promtool_check() -> None:
    result = run("promtool", "check", "rules", RULES.name)
    assert result.returncode == 0, result.stdout + result.stderr


@needs_promtool
def test_every_alert_passes_its_unit_tests() -> None:
    result = run("promtool", "test", "rules", RULE_TESTS.name)
    assert result.returncode == 0, result.stdout + result.stderr


@needs_promtool
def test_example_prometheus_config_passes_promtool_check() -> None:
    result = run("promtool", "check", "config", PROMETHEUS_CONFIG.name)
    assert result.returncode == 0, result.stdout + result.stderr
    assert RULES.name in result.stdout, "the config must load the dnsmon alert rules"


@needs_promtool
def test_optional_tls_and_basic_auth_block_is_valid_once_uncommented(tmp_path: Path) -> None:
    text = PROMETHEUS_CONFIG.read_text(encoding="utf-8")
    start = text.index("\n", text.index("# --- optional: TLS and basic auth ---")) + 1
    end = text.index("# --- end of optional block ---")
    block = re.sub(r"(?m)^([ \t]*)# ", r"\1", text[start:end])
    for name in ("dnsmon-ca.crt", "dnsmon-password"):
        (tmp_path / name).write_text("placeholder\n")
        block = block.replace(f"/etc/prometheus/{name}", str(tmp_path / name))
    (tmp_path / "prometheus.yml").write_text(text[:start] + block + text[end:])
    shutil.copy(RULES, tmp_path / RULES.name)
    result = run("promtool", "check", "config", "prometheus.yml", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    job = yaml.safe_load((tmp_path / "prometheus.yml").read_text())["scrape_configs"][0]
    assert job["scheme"] == "https" and job["basic_auth"]["username"]


def test_every_alert_spec_asks_for_is_defined() -> None:
    defined = {rule["alert"] for rule in rules() if "alert" in rule}
    missing = set(SPEC_ALERTS) - defined
    assert not missing, f"alerts missing: {sorted(missing)}"


def test_every_alert_tells_on_call_how_bad_and_what_to_do() -> None:
    for rule in rules():
        severity = rule["labels"]["severity"]
        # A templated severity picks among the words outside its {{ … }} actions.
        choices = set(re.findall(r"}}(\w+){{", severity)) if "{{" in severity else {severity}
        assert choices and choices <= SEVERITIES, (rule["alert"], severity)
        for annotation in ("summary", "description", "runbook"):
            assert rule["annotations"].get(annotation, "").strip(), (rule["alert"], annotation)


def test_the_page_for_a_critical_service_goes_out_at_once() -> None:
    pages = [
        rule
        for rule in rules()
        if rule["alert"] == "DnsmonServiceDown" and rule["labels"]["severity"] == "critical"
    ]
    assert pages and all(
        'criticality="critical"' in rule["expr"] and "for" not in rule for rule in pages
    )


def test_every_alert_is_tested_firing_and_silent() -> None:
    tests = yaml.safe_load(RULE_TESTS.read_text(encoding="utf-8"))
    assert tests["rule_files"] == [RULES.name]
    firing, silent = set(), set()
    for group in tests["tests"]:
        for case in group.get("alert_rule_test", []):
            (firing if case["exp_alerts"] else silent).add(case["alertname"])
            for alert in case["exp_alerts"]:
                assert alert["exp_annotations"], f"{case['alertname']}: annotations unchecked"
    defined = {rule["alert"] for rule in rules()}
    assert defined - firing == set(), "never shown firing"
    assert defined - silent == set(), "never shown staying silent"


def test_scrape_targets_and_alertmanagers_are_loopback_ip_literals() -> None:
    """Prometheus must not resolve the names of what watches the DNS through that DNS."""
    config = yaml.safe_load(PROMETHEUS_CONFIG.read_text(encoding="utf-8"))
    groups = [g for job in config["scrape_configs"] for g in job["static_configs"]]
    groups += [g for am in config["alerting"]["alertmanagers"] for g in am["static_configs"]]
    for group in groups:
        for target in group["targets"]:
            host = target.rpartition(":")[0].strip("[]")
            assert ipaddress.ip_address(host).is_loopback, target
    sites = [g["labels"]["site"] for job in config["scrape_configs"] for g in job["static_configs"]]
    assert len(sites) > 1, "an example with several sites"
    assert all(job["job_name"].startswith("dnsmon") for job in config["scrape_configs"])


@needs_amtool
def test_example_alertmanager_config_passes_amtool() -> None:
    result = run("amtool", "check-config", ALERTMANAGER_CONFIG.name, cwd=ALERTMANAGER_CONFIG.parent)
    assert result.returncode == 0, result.stdout + result.stderr


@needs_amtool
@pytest.mark.parametrize(
    ("severity", "receiver"),
    [("critical", "on-call-pager"), ("warning", "operations-queue"), ("info", "service-owners")],
)
def test_alertmanager_routes_each_severity(severity: str, receiver: str) -> None:
    result = run(
        "amtool", "config", "routes", "test", "--config.file", ALERTMANAGER_CONFIG.name,
        f"severity={severity}", "alertname=DnsmonServiceDown", "service=ehr",
        cwd=ALERTMANAGER_CONFIG.parent,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.split() == [receiver]


def test_alertmanager_receivers_are_ip_literals() -> None:
    config = yaml.safe_load(ALERTMANAGER_CONFIG.read_text(encoding="utf-8"))
    for receiver in config["receivers"]:
        for hook in receiver.get("webhook_configs", []):
            host = re.match(r"https?://\[?([^/\]]+?)\]?(?::\d+)?/", hook["url"])
            assert host and ipaddress.ip_address(host.group(1)).is_loopback, hook["url"]
