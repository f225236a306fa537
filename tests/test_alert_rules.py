"""The alert rules, their unit tests, and the example Prometheus and Alertmanager configs.

promtool checks the rules and runs dnsmon-alerts.test.yml, where every alert is shown
firing with its exact labels and annotations and staying silent when it should. A real
Alertmanager, fed the example config, shows that an alert dnsmon pushes itself and the
Prometheus rule's alert of the same name arrive in one notification.
"""

from __future__ import annotations

import ipaddress
import json
import re
import shutil
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from servers import free_port

ROOT = Path(__file__).resolve().parent.parent
DASHBOARDS = ROOT / "dashboards"
RULES = DASHBOARDS / "dnsmon-alerts.yml"
RULE_TESTS = DASHBOARDS / "dnsmon-alerts.test.yml"
REGION_RULES = DASHBOARDS / "dnsmon-region.yml"  # many sites, joined in one Prometheus
REGION_TESTS = DASHBOARDS / "dnsmon-region.test.yml"
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
    "DnsmonZoneDark": "a zone dark",
    "DnsmonAuthorityUnreachable": "resolvers unable to reach the authority",
    "DnsmonStaleAnswers": "resolvers answering stale",
    "DnsmonWatchdog": "an always-firing watchdog",
}
SEVERITIES = {"critical", "warning", "info"}
WATCHDOG = "DnsmonWatchdog"  # severity "none": for a heartbeat receiver, never a person
# Alerts about dnsmon itself rather than about the DNS it watches: no `cause` annotation.
ABOUT_DNSMON = {"DnsmonStale", "DnsmonDown", "DnsmonConfigReloadFailed", "DnsmonRoundOverrun"}
# `dnsmon serve` pushes these to Alertmanager itself (SPEC.md), labelled so; the rules of
# the same name must land in the same Alertmanager group.
PUSHED = {
    "DnsmonServiceDown": {"alertname", "severity", "site", "service"},
    "DnsmonBackupUnusable": {"alertname", "severity", "site", "service", "backup"},
    "DnsmonZoneDark": {"alertname", "severity", "site", "zone"},
    "DnsmonCacheRunwayShort": {"alertname", "severity", "site", "service"},
}
# Labels only one of the two paths carries: the rules' job and criticality, and the
# external labels Prometheus adds (monitor, in dashboards/prometheus.yml).
ONE_PATH_ONLY = {"job", "instance", "criticality", "monitor"}

needs_promtool = pytest.mark.skipif(shutil.which("promtool") is None, reason="no promtool")
needs_amtool = pytest.mark.skipif(shutil.which("amtool") is None, reason="no amtool")


def run(*command: str, cwd: Path = DASHBOARDS) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, check=False)


def rules() -> list[dict[str, Any]]:
    """The alerting rules (recording rules left out)."""
    groups = yaml.safe_load(RULES.read_text(encoding="utf-8"))["groups"]
    return [rule for group in groups for rule in group["rules"] if "alert" in rule]


@needs_promtool
@pytest.mark.parametrize("rules", [RULES, REGION_RULES], ids=lambda p: p.name)
def test_alert_rules_pass_promtool_check(rules: Path) -> None:
    result = run("promtool", "check", "rules", rules.name)
    assert result.returncode == 0, result.stdout + result.stderr


@needs_promtool
@pytest.mark.parametrize("tests", [RULE_TESTS, REGION_TESTS], ids=lambda p: p.name)
def test_every_alert_passes_its_unit_tests(tests: Path) -> None:
    result = run("promtool", "test", "rules", tests.name)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_region_alert_is_tested_firing_and_silent() -> None:
    tests = yaml.safe_load(REGION_TESTS.read_text(encoding="utf-8"))
    firing, silent = set(), set()
    for group in tests["tests"]:
        for case in group.get("alert_rule_test", []):
            (firing if case["exp_alerts"] else silent).add(case["alertname"])
    groups = yaml.safe_load(REGION_RULES.read_text(encoding="utf-8"))["groups"]
    defined = {rule["alert"] for group in groups for rule in group["rules"] if "alert" in rule}
    assert defined == firing == silent, (defined, firing, silent)


def test_a_region_wide_fault_holds_back_the_per_site_alerts_of_the_same_fault() -> None:
    config = yaml.safe_load(ALERTMANAGER_CONFIG.read_text(encoding="utf-8"))
    [rule] = [r for r in config["inhibit_rules"]
              if r["source_matchers"] == ['alertname="DnsmonFaultEverywhere"']]  # fmt: skip
    assert rule["equal"] == ["fault"]
    held = rule["target_matchers"][0].split("=~")[1].strip('"')
    for name in ("DnsmonServiceDown", "DnsmonServiceDegraded", "DnsmonBackupUnusable",
                 "DnsmonCacheRunwayShort"):  # fmt: skip
        assert re.fullmatch(held, name), name
    assert not re.fullmatch(held, "DnsmonFaultFromSomeSites")


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
        if rule["alert"] == WATCHDOG:
            assert severity == "none"
            continue
        # A templated severity picks among the words outside its {{ … }} actions.
        choices = set(re.findall(r"}}(\w+){{", severity)) if "{{" in severity else {severity}
        assert choices and choices <= SEVERITIES, (rule["alert"], severity)
        for annotation in ("summary", "description", "runbook"):
            assert rule["annotations"].get(annotation, "").strip(), (rule["alert"], annotation)


def test_the_page_for_a_critical_service_waits_two_rounds_only() -> None:
    """One lost packet pages nobody; a real outage pages within about a minute."""
    pages = [
        rule
        for rule in rules()
        if rule["alert"] == "DnsmonServiceDown" and rule["labels"]["severity"] == "critical"
    ]
    assert pages and all(
        'criticality="critical"' in rule["expr"] and rule.get("for") == "1m" for rule in pages
    )
    assert all(rule.get("for") for rule in rules() if rule["alert"] == "DnsmonServiceDown")


def test_a_dark_zone_pages_within_a_round() -> None:
    (dark,) = [rule for rule in rules() if rule["alert"] == "DnsmonZoneDark"]
    assert "dnsmon_zone_dark" in dark["expr"] and dark["labels"]["severity"] == "critical"
    assert dark.get("for", "0s") in ("0s", "30s")


def test_authority_unreachable_leaves_dark_zones_to_their_own_alert() -> None:
    unreachable = [rule for rule in rules() if rule["alert"] == "DnsmonAuthorityUnreachable"]
    assert unreachable
    for rule in unreachable:
        assert "dnsmon_zone_reach" in rule["expr"]
        assert re.search(r"unless on \([^)]*\bzone\b[^)]*\)\s*max without \(instance\) "
                         r"\(dnsmon_zone_dark\) == 1", rule["expr"]), rule["expr"]  # fmt: skip
        assert rule.get("for") == "1m"


def test_stale_answers_count_the_stale_result_and_ede_3_and_19() -> None:
    (stale,) = [rule for rule in rules() if rule["alert"] == "DnsmonStaleAnswers"]
    assert 'dnsmon_probe_results_total{result="stale"}' in stale["expr"]
    assert 'dnsmon_probe_ede_total{code=~"3|19"}' in stale["expr"]


def test_answers_inconsistent_waits_for_the_longest_ttl_not_a_fixed_time() -> None:
    (rule,) = [rule for rule in rules() if rule["alert"] == "DnsmonAnswersInconsistent"]
    assert "dnsmon_name_answers_consistent_since_timestamp_seconds" in rule["expr"]
    assert "max_over_time(dnsmon_probe_ttl_seconds[1h])" in rule["expr"]
    assert "for" not in rule, "the wait is the TTL's, measured from dnsmon's since"


def test_degraded_does_not_claim_nobody_notices_while_a_zone_is_dark() -> None:
    (rule,) = [rule for rule in rules() if rule["alert"] == "DnsmonServiceDegraded"]
    text = rule["annotations"]["description"]
    assert "dnsmon_zone_dark" in text
    dark, _, calm = text.partition("{{ else }}")
    assert "notice" in calm and "nobody notices" not in dark.lower()


def test_the_watchdog_always_fires_for_a_heartbeat_receiver() -> None:
    (watchdog,) = [rule for rule in rules() if rule["alert"] == WATCHDOG]
    assert watchdog["expr"].strip() == "vector(1)" and "for" not in watchdog
    assert watchdog["labels"] == {"severity": "none"}
    assert "dead man's switch" in watchdog["annotations"]["description"]


def test_alerts_about_dns_carry_the_cause_in_plain_words() -> None:
    for rule in rules():
        cause = rule["annotations"].get("cause", "")
        if rule["alert"] in ABOUT_DNSMON | {WATCHDOG}:
            assert not cause, rule["alert"]
            continue
        assert "dnsmon_cause_info" in cause and ".Labels.summary" in cause, rule["alert"]
        # Per site (and job): a target without a site label matches site="".
        assert "site=%q" in cause and "$labels.site" in cause, rule["alert"]


def test_rules_of_alerts_dnsmon_pushes_keep_the_labels_alertmanager_groups_by() -> None:
    for name, labels in PUSHED.items():
        same = [rule for rule in rules() if rule["alert"] == name]
        assert same, f"dnsmon pushes {name}: a rule of that name must exist"
        kept = labels - {"alertname", "severity"}
        for rule in same:
            for dropped in re.findall(r"without \(([^)]*)\)", rule["expr"]):
                assert not kept & {d.strip() for d in dropped.split(",")}, (name, dropped)
            for grouped in re.findall(r"\bby \(([^)]*)\)", rule["expr"]):
                assert kept <= {g.strip() for g in grouped.split(",")}, (name, grouped)
            assert not kept & set(rule["labels"]), name


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
    assert defined - silent == {WATCHDOG}, "never shown staying silent"


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


def _routes(route: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield route
    for child in route.get("routes", []):
        yield from _routes(child)


@needs_amtool
def test_alertmanager_sends_the_watchdog_to_its_heartbeat_receiver_every_minute() -> None:
    result = run(
        "amtool", "config", "routes", "test", "--config.file", ALERTMANAGER_CONFIG.name,
        f"alertname={WATCHDOG}", "severity=none", cwd=ALERTMANAGER_CONFIG.parent,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.split() == ["heartbeat"]
    config = yaml.safe_load(ALERTMANAGER_CONFIG.read_text(encoding="utf-8"))
    (route,) = [r for r in config["route"]["routes"] if r["receiver"] == "heartbeat"]
    assert route["repeat_interval"] == "1m" and route["group_interval"] == "1m"
    assert not route.get("continue")
    for rule in config.get("inhibit_rules", []):
        assert WATCHDOG not in json.dumps(rule), "never inhibit the watchdog"


def test_alertmanager_groups_and_routes_by_labels_both_alert_paths_carry() -> None:
    """A pushed alert lacks job, criticality and Prometheus's external labels: grouping
    or routing by them would notify it apart from the rule's alert of the same name."""
    config = yaml.safe_load(ALERTMANAGER_CONFIG.read_text(encoding="utf-8"))
    for route in _routes(config["route"]):
        if any(WATCHDOG in matcher for matcher in route.get("matchers", [])):
            continue  # Prometheus's own, never pushed by dnsmon
        assert not set(route.get("group_by", [])) & ONE_PATH_ONLY, route
        for matcher in route.get("matchers", []):
            assert re.match(r"(severity|alertname)\b", matcher), matcher
    for rule in config.get("inhibit_rules", []):
        assert not set(rule.get("equal", [])) & ONE_PATH_ONLY - {"instance"}, rule


def _http(url: str, body: Any = None) -> Any:
    """GET (or POST ``body`` as JSON to) Alertmanager's API; its JSON answer, if any."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=5) as response:
        if response.headers.get_content_type() != "application/json":
            return None
        return json.loads(response.read())


@pytest.mark.skipif(
    shutil.which("prometheus-alertmanager") is None, reason="no prometheus-alertmanager"
)
def test_a_pushed_alert_and_the_rules_alert_share_one_alertmanager_group(tmp_path: Path) -> None:
    """The example config, in a real Alertmanager on loopback: for each alert dnsmon
    pushes itself, its own copy and the Prometheus rule's (here from two sites) arrive in
    one group, so in one notification; the watchdog goes to the heartbeat alone."""
    config = yaml.safe_load(ALERTMANAGER_CONFIG.read_text(encoding="utf-8"))
    closed = f"http://127.0.0.1:{free_port()}/"  # nothing listens: no notification leaves
    for receiver in config["receivers"]:
        for hook in receiver.get("webhook_configs", []):
            hook["url"] = closed
    (tmp_path / "alertmanager.yml").write_text(yaml.safe_dump(config))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    prometheus = {"job": "dnsmon", "monitor": "dnsmon-example"}
    cases = {  # alertname: (receiver, dnsmon's own labels, the rule's extra labels)
        "DnsmonServiceDown": ("on-call-pager",
                              {"severity": "critical", "service": "ehr"},
                              {"criticality": "critical"}),
        "DnsmonBackupUnusable": ("operations-queue",
                                 {"severity": "warning", "service": "lab", "backup": "lab-fax"},
                                 {}),
        "DnsmonZoneDark": ("on-call-pager",
                           {"severity": "critical", "zone": "region.internal"}, {}),
        "DnsmonCacheRunwayShort": ("operations-queue",
                                   {"severity": "warning", "service": "pharmacy"},
                                   {"criticality": "high"}),
    }  # fmt: skip
    assert set(cases) == set(PUSHED)
    alerts = [{"labels": {"alertname": WATCHDOG, "severity": "none", **prometheus}}]
    for name, (_, own, extra) in cases.items():
        pushed = {"alertname": name, "site": "dc-north", **own}
        assert set(pushed) == PUSHED[name]
        alerts.append({"labels": pushed, "annotations": {"cause": "ns1 and ns2 stopped"}})
        for site in ("dc-north", "dc-south"):
            labels = {**pushed, **prometheus, **extra, "site": site}
            alerts.append({"labels": labels, "annotations": {"cause": "ns1 and ns2 stopped"}})
    binary = shutil.which("prometheus-alertmanager")
    assert binary
    log = (tmp_path / "alertmanager.log").open("wb")
    process = subprocess.Popen(
        [binary, f"--config.file={tmp_path / 'alertmanager.yml'}",
         f"--storage.path={tmp_path / 'data'}", f"--web.listen-address=127.0.0.1:{port}",
         "--cluster.listen-address="],
        cwd=tmp_path, stdout=log, stderr=log,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                _http(f"{url}/-/ready")
                break
            except OSError:
                assert time.monotonic() < deadline, (tmp_path / "alertmanager.log").read_text()
                time.sleep(0.1)
        _http(f"{url}/api/v2/alerts", alerts)
        # Alertmanager's dispatcher groups what was posted a moment later, not at once.
        deadline = time.monotonic() + 10
        while True:
            groups = _http(f"{url}/api/v2/alerts/groups")
            if sum(len(g["alerts"]) for g in groups) >= len(alerts):
                break
            assert time.monotonic() < deadline, groups
            time.sleep(0.1)
    finally:
        process.terminate()
        process.wait(timeout=10)
        log.close()
    by_name: dict[str, list[dict[str, Any]]] = {}
    for group in groups:
        by_name.setdefault(group["labels"]["alertname"], []).append(group)
    for name, (receiver, _, _) in cases.items():
        (group,) = by_name[name]  # one group: one notification
        assert group["receiver"]["name"] == receiver, name
        assert len(group["alerts"]) == 3, name  # dnsmon's own, and the rule's from 2 sites
        assert sum("job" not in alert["labels"] for alert in group["alerts"]) == 1, name
    (watchdog,) = by_name[WATCHDOG]
    assert watchdog["receiver"]["name"] == "heartbeat" and len(watchdog["alerts"]) == 1
