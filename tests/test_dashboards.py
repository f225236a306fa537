"""The Grafana dashboard, the alert rules' metrics and the deploy files.

A dashboard panel or an alert that names a metric dnsmon does not export shows nothing
and fires never, silently. So every metric name in every query is checked against what
the exporter really builds: a collector over a round of a tiny real config.
"""

from __future__ import annotations

import ipaddress
import json
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import bcrypt
import pytest
import yaml

from monitor import config as config_module
from monitor.judging import graph as graph_module
from monitor.judging import health, impact
from monitor.learning.messages import SourceStats
from monitor.outputs import metrics
from monitor.serving import web, webconfig
from monitor.serving.learning import Learned

ROOT = Path(__file__).resolve().parent.parent
DASHBOARD = ROOT / "dashboards" / "grafana-dnsmon.json"
ALERT_RULES = ROOT / "dashboards" / "dnsmon-alerts.yml"
DEPLOY = ROOT / "deploy"
METRIC = re.compile(r"\b(?:dnsmon|process)_[a-z_]+\b")

TINY_CONFIG = """\
version: 1
site: test
servers:
  - {name: resolver-a, address: 127.0.0.1, port: 5301, role: recursive}
  - {name: ns1, address: 127.0.0.1, port: 5311, role: authoritative, zones: [region.internal]}
names:
  - {name: ehr-db.region.internal, type: A, expect: [127.20.1.15]}
  - {name: ehr-ro.region.internal, type: A}
services:
  - name: ehr
    criticality: critical
    depends_on: [ehr-db.region.internal]
    backups:
      - {name: ehr-readonly, depends_on: [ehr-ro.region.internal]}
      - {name: paper-forms, depends_on: []}
"""

SUFFIXES = {
    "counter": ("_total",),
    "histogram": ("_bucket", "_sum", "_count"),
    "summary": ("", "_sum", "_count"),
    "info": ("_info",),
}


def _names_of(family: Any) -> Iterator[str]:
    for suffix in SUFFIXES.get(family.type, ("",)):
        yield family.name + suffix


@pytest.fixture(scope="module")
def exported() -> set[str]:
    """Every sample name the exporter can serve, from its own collectors."""
    config = config_module.parse(TINY_CONFIG)
    graph = graph_module.build(config)
    imagined = impact.imagine(graph, [])
    judged = health.judge(graph, imagined)
    # As serve learns from traffic (learning: dnstap): the learned_* families too.
    learned = Learned(sources=[SourceStats("unix:/run/dnsmon/dnstap.sock", "dnstap")])
    view = metrics.RoundView(
        graph,
        judged,
        list(imagined.results.values()),
        finished_at=time.time(),
        duration=0.1,
        learned=learned,
    )
    collector = metrics.RoundCollector(view, metrics.Totals())
    names = {name for family in collector.collect() for name in _names_of(family)}
    # Process metrics, dnsmon_build_info, the reload gauges and the Alertmanager counter
    # come from the web server's own registry, rendered per scrape. A family counts even
    # with no sample yet (no Alertmanager is configured here).
    for family in web._process_registry(metrics.ReloadState()).collect():
        names.update(_names_of(family))
    return names


@pytest.fixture(scope="module")
def dashboard() -> dict[str, Any]:
    return json.loads(DASHBOARD.read_text(encoding="utf-8"))


def _panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for panel in dashboard["panels"]:
        yield panel
        yield from panel.get("panels", [])  # panels inside collapsed rows


def _queries(dashboard: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(where, PromQL) for every query: panel targets, annotations, variables."""
    for panel in _panels(dashboard):
        for target in panel.get("targets", []):
            yield f"panel {panel['title']!r} {target['refId']}", target["expr"]
    for annotation in dashboard["annotations"]["list"]:
        if "expr" in annotation:
            yield f"annotation {annotation['name']!r}", annotation["expr"]
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query":
            yield f"variable {variable['name']!r}", variable["query"]["query"]


def _as_promql(expr: str) -> str:
    """A Grafana query as plain PromQL: its variables replaced by what Grafana sends."""
    for variable, value in (("$__rate_interval", "2m"), ("$__interval", "30s")):
        expr = expr.replace(variable, value)
    expr = re.sub(r"\$\{?\w+\}?", ".*", expr)
    # label_values(METRIC, LABEL) is Grafana's, not PromQL: its METRIC is the query.
    match = re.fullmatch(r"label_values\((.*),\s*\w+\)", expr, re.DOTALL)
    return match.group(1) if match else expr


# --- The dashboard -------------------------------------------------------------------


def test_dashboard_is_grafana_json_with_its_variables(dashboard: dict[str, Any]) -> None:
    assert dashboard["schemaVersion"] == 39
    assert dashboard["uid"] and dashboard["title"]
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    for name in ("site", "instance", "service"):
        assert variables[name]["type"] == "query", name
        assert variables[name]["datasource"]["uid"] == "${datasource}", name
    ids = [panel["id"] for panel in _panels(dashboard)]
    assert len(ids) == len(set(ids)), "panel ids must be unique"


def test_every_panel_has_a_title_and_queries(dashboard: dict[str, Any]) -> None:
    for panel in _panels(dashboard):
        assert panel.get("title"), panel
        if panel["type"] == "row":
            continue
        assert panel.get("targets"), f"panel {panel['title']!r} has no queries"
        for target in panel["targets"]:
            assert target.get("expr", "").strip(), f"panel {panel['title']!r}: empty query"


def test_every_panel_asks_the_chosen_datasource(dashboard: dict[str, Any]) -> None:
    for panel in _panels(dashboard):
        if panel["type"] == "row":
            continue
        assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == "${datasource}", panel["title"]


def test_panels_filter_by_site_and_instance(dashboard: dict[str, Any]) -> None:
    for where, expr in _queries(dashboard):
        if where.startswith("panel"):
            for selector in re.findall(r"\b(?:dnsmon|process)_[a-z_]+\{([^}]*)\}", expr):
                assert 'site=~"$site"' in selector, f"{where}: {expr}"
                assert 'instance=~"$instance"' in selector, f"{where}: {expr}"


def test_dashboard_shows_what_an_operator_needs(dashboard: dict[str, Any]) -> None:
    used = {m for _, expr in _queries(dashboard) for m in METRIC.findall(expr)}
    needed = {
        "dnsmon_service_status",  # service states
        "dnsmon_backup_status",  # backups …
        "dnsmon_backup_shared_fate",  # … and shared fate
        "dnsmon_service_runway_seconds",  # cache runway
        "dnsmon_name_healthy_servers",  # names with a single healthy server
        "dnsmon_probe_success",  # probe success by server
        "dnsmon_server_up",
        "dnsmon_server_query_duration_seconds_bucket",  # latency heatmap and quantiles
        "dnsmon_zone_serial",
        "dnsmon_round_duration_seconds",
        "dnsmon_last_round_timestamp_seconds",  # staleness
        "dnsmon_config_last_reload_successful",
        "dnsmon_zone_dark",  # zones whose every authoritative server fails
        "dnsmon_zone_reach",  # resolvers that answer but cannot reach the authority
        "dnsmon_probe_ede_total",  # Extended DNS Errors, stale answers among them
        "dnsmon_cause_info",  # the causes in plain words
        "dnsmon_service_status_since_timestamp_seconds",
        "dnsmon_name_answers_consistent_since_timestamp_seconds",  # against the TTL
        "dnsmon_alertmanager_notifications_total",  # dnsmon's own path to Alertmanager
    }
    assert needed <= used, f"not on the dashboard: {sorted(needed - used)}"


def test_every_dnsmon_metric_is_somewhere_on_the_dashboard(
    dashboard: dict[str, Any], exported: set[str]
) -> None:
    used = {m for _, expr in _queries(dashboard) for m in METRIC.findall(expr)}
    derived = re.compile(r"_(sum|count)$")  # a histogram's bucket series stand for it
    missing = {m for m in exported if m.startswith("dnsmon_") and not derived.search(m)} - used
    assert not missing, f"exported but shown nowhere: {sorted(missing)}"


def test_dashboard_queries_name_only_exported_metrics(
    dashboard: dict[str, Any], exported: set[str]
) -> None:
    unknown = [
        f"{where}: {name}"
        for where, expr in _queries(dashboard)
        for name in METRIC.findall(expr)
        if name not in exported
    ]
    assert not unknown, "metrics dnsmon does not export:\n" + "\n".join(unknown)


def assert_valid_promql(dashboard: dict[str, Any], tmp_path: Path) -> None:
    """promtool parses each query as a recording rule, Grafana's variables filled in."""
    rules = [
        {"record": f"dashboard:query_{i}", "expr": _as_promql(expr)}
        for i, (_, expr) in enumerate(_queries(dashboard))
    ]
    path = tmp_path / "dashboard-queries.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    run = subprocess.run(
        ["promtool", "check", "rules", str(path)], capture_output=True, text=True, check=False
    )
    assert run.returncode == 0, run.stdout + run.stderr


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool not installed")
def test_dashboard_queries_are_valid_promql(dashboard: dict[str, Any], tmp_path: Path) -> None:
    assert_valid_promql(dashboard, tmp_path)


# --- The alert rules -----------------------------------------------------------------


def test_alert_rules_name_only_exported_metrics(exported: set[str]) -> None:
    """Expressions, and the queries and hints in labels and annotations."""
    groups = yaml.safe_load(ALERT_RULES.read_text(encoding="utf-8"))["groups"]
    unknown = []
    for rule in (rule for group in groups for rule in group["rules"]):
        texts = [rule["expr"], *rule.get("labels", {}).values()]
        texts += rule.get("annotations", {}).values()
        unknown += [
            f"{rule['alert']}: {name}"
            for text in texts
            for name in METRIC.findall(text)
            if name not in exported
        ]
    assert not unknown, "metrics dnsmon does not export:\n" + "\n".join(unknown)


# --- Deploy files --------------------------------------------------------------------

IPV4 = re.compile(r"(?<![\w.])(\d{1,3}(?:\.\d{1,3}){3})(?:/\d+)?(?![\w.])")
IPV6_IN_BRACKETS = re.compile(r"\[([0-9A-Fa-f:]*:[0-9A-Fa-f:]*)\]")


@pytest.mark.parametrize(
    "path",
    sorted([*DEPLOY.iterdir(), *(ROOT / "dashboards").iterdir()]),
    ids=lambda p: f"{p.parent.name}/{p.name}",
)
def test_examples_use_only_loopback_addresses(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    for found in IPV4.findall(text) + IPV6_IN_BRACKETS.findall(text):
        assert ipaddress.ip_address(found).is_loopback, f"{path.name}: {found}"


def _unit_with(executable: str) -> str:
    unit = (DEPLOY / "dnsmon.service").read_text(encoding="utf-8")
    return unit.replace("/opt/dnsmon/bin/dnsmon", executable)


def test_systemd_unit_is_hardened() -> None:
    unit = (DEPLOY / "dnsmon.service").read_text(encoding="utf-8")
    settings = {
        tuple(line.split("=", 1))
        for line in unit.splitlines()
        if "=" in line and not line.startswith("#")
    }
    for wanted in [
        ("DynamicUser", "yes"),
        ("ProtectSystem", "strict"),
        ("ProtectHome", "yes"),
        ("NoNewPrivileges", "yes"),
        ("PrivateTmp", "yes"),
        ("PrivateDevices", "yes"),
        ("RestrictAddressFamilies", "AF_INET AF_INET6 AF_UNIX"),
        ("CapabilityBoundingSet", ""),
        ("SystemCallFilter", "@system-service"),
        ("MemoryDenyWriteExecute", "yes"),
        ("ReadOnlyPaths", "/etc/dnsmon"),
        ("ExecReload", "/bin/kill -HUP $MAINPID"),
        ("Restart", "on-failure"),
        (
            "ExecStart",
            "/opt/dnsmon/bin/dnsmon --config /etc/dnsmon/probes.yaml serve --listen 127.0.0.1:9953",
        ),
    ]:
        assert wanted in settings, wanted


def _healthcheck_command() -> list[str]:
    """The HEALTHCHECK's CMD, its continuation lines joined."""
    text = (DEPLOY / "Containerfile").read_text(encoding="utf-8").replace("\\\n", " ")
    healthcheck = re.search(r"^HEALTHCHECK .*CMD (\[.*\])$", text, re.M)
    assert healthcheck, "no HEALTHCHECK"
    command: list[str] = json.loads(healthcheck.group(1))
    return command


def test_containerfile_runs_unprivileged_and_checks_health() -> None:
    text = (DEPLOY / "Containerfile").read_text(encoding="utf-8")
    assert re.search(r"^FROM python:3\.11-slim\b", text, re.M)
    assert re.search(r"^RUN pip install \.", text, re.M)
    users = re.findall(r"^USER (\S+)", text, re.M)
    assert users and users[-1].split(":")[0] not in ("root", "0")
    assert re.search(r"^EXPOSE 9953$", text, re.M)
    command = _healthcheck_command()
    assert command[0].startswith("python") and "/-/healthy" in command[-1]


def test_healthcheck_one_liner_tells_healthy_from_down() -> None:
    """The container's HEALTHCHECK program, run against a stand-in dnsmon on loopback."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Healthy(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            self.send_response(200 if self.path == "/-/healthy" else 404)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    command = _healthcheck_command()
    command[0] = sys.executable
    server = ThreadingHTTPServer(("127.0.0.1", 0), Healthy)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        listen = f"127.0.0.1:{server.server_address[1]}"
        up = subprocess.run(command, env={"DNSMON_LISTEN": listen}, capture_output=True)
        assert up.returncode == 0, up.stderr
    finally:
        server.shutdown()
        server.server_close()
    down = subprocess.run(command, env={"DNSMON_LISTEN": listen}, capture_output=True)
    assert down.returncode != 0


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl not installed")
def test_web_config_example_is_read_by_dnsmon(tmp_path: Path) -> None:
    """With a real certificate and a real hash in place, dnsmon accepts the example."""
    example = yaml.safe_load((DEPLOY / "web-config.example.yml").read_text(encoding="utf-8"))
    tls = example["tls_server_config"]
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=dnsmon", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(tmp_path / tls["key_file"]), "-out", str(tmp_path / tls["cert_file"])],
        check=True,
        capture_output=True,
    )  # fmt: skip
    (user,) = example["basic_auth_users"]
    assert "REPLACE" in example["basic_auth_users"][user], "ship a placeholder, not a hash"
    example["basic_auth_users"][user] = bcrypt.hashpw(b"s3cret", bcrypt.gensalt(4)).decode()
    path = tmp_path / "web-config.yml"
    path.write_text(yaml.safe_dump(example))

    loaded = webconfig.load(str(path))

    assert loaded.tls is not None
    good = "Basic " + __import__("base64").b64encode(f"{user}:s3cret".encode()).decode()
    bad = "Basic " + __import__("base64").b64encode(f"{user}:wrong".encode()).decode()
    assert loaded.authorized(good) and not loaded.authorized(bad)
