"""The region dashboard, and the Prometheus configs of a deployment with many sites.

One dnsmon per site, joined in one Prometheus by the rules of dashboards/dnsmon-region.yml.
The region dashboard reads those rules' series: a name no rule records, or a metric dnsmon
does not export, shows an empty panel and says nothing is wrong. So every name in every
query is checked against the rule files and the exporter's own collectors (the fixture of
test_dashboards.py), and promtool evaluates the panels that tell a server's fault from a
path's over a made-up region of five sites. The central and the per-site Prometheus
configs pass `promtool check config`, their commented alternatives too, and name every
target by IP address.
"""

from __future__ import annotations

import ipaddress
import json
import re
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
import test_dashboards
import yaml
from test_dashboards import METRIC, _as_promql, _panels, _queries

# The fixture of every sample name the exporter can serve, from its own collectors.
exported = test_dashboards.exported

ROOT = Path(__file__).resolve().parent.parent
DASHBOARDS = ROOT / "dashboards"
REGION_DASHBOARD = DASHBOARDS / "grafana-dnsmon-region.json"
SITE_DASHBOARD = DASHBOARDS / "grafana-dnsmon.json"
REGION_RULES = DASHBOARDS / "dnsmon-region.yml"
ALERT_RULES = DASHBOARDS / "dnsmon-alerts.yml"
DEPLOY = ROOT / "deploy"
REGION_CONFIG = DEPLOY / "prometheus-region.yml"
SITE_CONFIG = DEPLOY / "prometheus-site.yml"

RULE = re.compile(r"\bdnsmon:[a-z_:]*[a-z_]")
# What is left of PromQL once strings, selectors' braces, ranges and label lists are gone.
IDENTIFIER = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*")
KEYWORDS = {"and", "or", "unless", "bool", "offset"}
# The region rules' names (what the region dashboard exists to show).
REGION_SERIES = {
    "dnsmon:site_reporting",
    "dnsmon:sites_reporting:count",
    "dnsmon:cause_site",
    "dnsmon:cause_sites:count",
    "dnsmon:service_state:site",
    "dnsmon:service_state:worst",
    "dnsmon:service_state:best",
    "dnsmon:server_up:sites",
    "dnsmon:server_down:sites",
}

needs_promtool = pytest.mark.skipif(shutil.which("promtool") is None, reason="no promtool")


@pytest.fixture(scope="module")
def dashboard() -> dict[str, Any]:
    return json.loads(REGION_DASHBOARD.read_text(encoding="utf-8"))


def _recorded() -> set[str]:
    """Every series the rule files record, the region's and the one-site alerts'."""
    names = set()
    for path in (REGION_RULES, ALERT_RULES):
        groups = yaml.safe_load(path.read_text(encoding="utf-8"))["groups"]
        names |= {rule["record"] for group in groups for rule in group["rules"] if "record" in rule}
    return names


def _series_names(expr: str) -> set[str]:
    """The metric and rule names a query selects (a rough PromQL reading, enough here)."""
    expr = re.sub(r'"(?:[^"\\]|\\.)*"', "", _as_promql(expr))  # strings: label values
    expr = re.sub(r"\{[^}]*\}", " ", expr)  # label matchers
    expr = re.sub(r"\[[^\]]*\]", " ", expr)  # ranges
    expr = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", expr)
    names = set()
    for match in IDENTIFIER.finditer(expr):
        if expr[match.end() :].lstrip().startswith("("):
            continue  # a function or an aggregation
        if match.group() not in KEYWORDS:
            names.add(match.group())
    return names


def _panel(dashboard: dict[str, Any], title: str) -> dict[str, Any]:
    (panel,) = [p for p in _panels(dashboard) if p["title"] == title]
    return panel


def _expr(dashboard: dict[str, Any], title: str, ref: str = "A") -> str:
    (target,) = [t for t in _panel(dashboard, title)["targets"] if t["refId"] == ref]
    return str(target["expr"])


# --- The dashboard -------------------------------------------------------------------


def test_region_dashboard_is_grafana_json_like_the_one_site_dashboard(
    dashboard: dict[str, Any],
) -> None:
    one_site = json.loads(SITE_DASHBOARD.read_text(encoding="utf-8"))
    assert dashboard["schemaVersion"] == one_site["schemaVersion"]
    assert dashboard["title"] and dashboard["uid"] and dashboard["uid"] != one_site["uid"]
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    site_variables = {v["name"]: v for v in one_site["templating"]["list"]}
    assert variables["datasource"] == site_variables["datasource"]
    site = variables["site"]
    assert site["type"] == "query" and site["multi"] and site["includeAll"]
    assert site["datasource"]["uid"] == "${datasource}"
    assert re.search(
        r"label_values\((up|dnsmon:site_reporting)\b.*, site\)", site["query"]["query"]
    )
    ids = [panel["id"] for panel in _panels(dashboard)]
    assert len(ids) == len(set(ids)), "panel ids must be unique"


def test_every_panel_has_a_title_and_asks_the_chosen_datasource(dashboard: dict[str, Any]) -> None:
    for panel in _panels(dashboard):
        assert panel.get("title"), panel
        if panel["type"] == "row":
            continue
        assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
        assert panel.get("targets"), f"panel {panel['title']!r} has no queries"
        for target in panel["targets"]:
            assert target.get("expr", "").strip(), f"panel {panel['title']!r}: empty query"
            assert target["datasource"]["uid"] == "${datasource}", panel["title"]


def test_panels_filter_by_the_chosen_jobs(dashboard: dict[str, Any]) -> None:
    for where, expr in _queries(dashboard):
        if where.startswith("panel"):
            for selector in re.findall(r"\{([^}]*)\}", expr):
                if "{{" not in selector:
                    assert 'job=~"$job"' in selector, f"{where}: {expr}"


def test_site_by_cause_table_makes_sites_columns(dashboard: dict[str, Any]) -> None:
    def makes_sites_columns(panel: dict[str, Any]) -> bool:
        return any(
            step["id"] == "groupingToMatrix"
            and step["options"]["columnField"] == "site"
            and step["options"]["rowField"] in ("fault", "kind", "target")
            for step in panel.get("transformations", [])
        )

    tables = [
        panel
        for panel in _panels(dashboard)
        if panel["type"] == "table"
        and makes_sites_columns(panel)
        and any("dnsmon:cause_site{" in t["expr"] for t in panel["targets"])
    ]
    assert tables, "no table of dnsmon:cause_site with a column per site"
    for panel in tables:  # one frame of labels, as the matrix needs
        assert [(t["format"], t["instant"]) for t in panel["targets"]] == [("table", True)]


def test_dashboard_shows_every_region_rule(dashboard: dict[str, Any]) -> None:
    used = {name for _, expr in _queries(dashboard) for name in RULE.findall(expr)}
    assert REGION_SERIES <= used, f"not on the dashboard: {sorted(REGION_SERIES - used)}"
    timelines = [
        panel
        for panel in _panels(dashboard)
        if panel["type"] == "state-timeline"
        and any("dnsmon:service_state:site" in t["expr"] for t in panel["targets"])
    ]
    assert timelines, "no state-timeline of each service per site"


def test_service_states_read_up_degraded_down(dashboard: dict[str, Any]) -> None:
    """0, 1 and 2 (dnsmon:service_state:*) read as words wherever a state is shown."""
    for panel in _panels(dashboard):
        exprs = " ".join(t["expr"] for t in panel.get("targets", []))
        if "dnsmon:service_state:" not in exprs:
            continue
        mappings = list(panel["fieldConfig"]["defaults"].get("mappings", []))
        for override in panel["fieldConfig"]["overrides"]:
            for prop in override["properties"]:
                mappings += prop["value"] if prop["id"] == "mappings" else []
        texts = {
            value: option["text"]
            for mapping in mappings
            if mapping["type"] == "value"
            for value, option in mapping["options"].items()
        }
        assert texts == {"0": "up", "1": "degraded", "2": "down"}, panel["title"]


def test_every_rule_the_dashboard_reads_is_defined(dashboard: dict[str, Any]) -> None:
    recorded = _recorded()
    unknown = [
        f"{where}: {name}"
        for where, expr in _queries(dashboard)
        for name in RULE.findall(expr)
        if name not in recorded
    ]
    assert not unknown, "rules dnsmon-region.yml does not record:\n" + "\n".join(unknown)


def test_every_metric_the_dashboard_reads_is_exported(
    dashboard: dict[str, Any], exported: set[str]
) -> None:
    """dnsmon's metrics, the rules' series, and `up` (Prometheus's own): nothing else."""
    known = exported | _recorded() | {"up"}
    unknown = [
        f"{where}: {name}"
        for where, expr in _queries(dashboard)
        for name in _series_names(expr) | set(METRIC.findall(expr))
        if name not in known
    ]
    assert not unknown, "neither exported by dnsmon nor recorded:\n" + "\n".join(unknown)


@needs_promtool
def test_dashboard_queries_are_valid_promql(dashboard: dict[str, Any], tmp_path: Path) -> None:
    test_dashboards.assert_valid_promql(dashboard, tmp_path)


# A made-up region: four sites report, clinic-east fell silent after ten minutes. ns1 is
# silent from every site (its own fault), ns2 from dc-north only (a path's). ehr is down
# from dc-north, degraded from dc-south, up elsewhere.
REPORTING = {"dc-north": "127.0.0.1", "dc-south": "127.0.0.2", "city-hall": "127.0.0.3",
             "lab": "127.0.0.4"}  # fmt: skip
STATE = {"dc-north": "down", "dc-south": "degraded", "city-hall": "up", "lab": "up"}


def _region_series() -> list[dict[str, str]]:
    def series(name: str, site: str, values: str, **labels: str) -> dict[str, str]:
        address = REPORTING.get(site, "[::1]")
        labels = {"job": "dnsmon", "instance": f"{address}:9953", "site": site, **labels}
        inner = ", ".join(f'{key}="{value}"' for key, value in labels.items())
        return {"series": f"{name}{{{inner}}}", "values": values}

    found = [
        series("up", "clinic-east", "1x20 0x20"),
        series("dnsmon_last_round_timestamp_seconds", "clinic-east", "0+30x20 stale"),
    ]
    for site in REPORTING:
        found.append(series("up", site, "1x40"))
        # A round every 30 s: a site reports while its last round is recent.
        found.append(series("dnsmon_last_round_timestamp_seconds", site, "0+30x40"))
        found.append(series("dnsmon_cause", site, "1x40", kind="server_silent", target="ns1"))
        if site == "dc-north":
            found.append(series("dnsmon_cause", site, "1x40", kind="server_silent", target="ns2"))
        for status in ("up", "degraded", "down"):
            value = "1x40" if STATE[site] == status else "0x40"
            found.append(series("dnsmon_service_status", site, value, service="ehr",
                                criticality="critical", status=status))  # fmt: skip
        found.append(series("dnsmon_server_up", site, "0x40", server="ns1", role="authoritative"))
        ns2 = "0x40" if site == "dc-north" else "1x40"
        found.append(series("dnsmon_server_up", site, ns2, server="ns2", role="authoritative"))
    return found


def _samples(name: str, rows: Sequence[tuple[dict[str, str], float]]) -> list[dict[str, Any]]:
    return [
        {
            "labels": name + "{" + ", ".join(f'{k}="{v}"' for k, v in sorted(labels.items())) + "}",
            "value": value,
        }
        for labels, value in rows
    ]


@needs_promtool
def test_panels_tell_the_servers_fault_from_a_paths(
    dashboard: dict[str, Any], tmp_path: Path
) -> None:
    """promtool evaluates the region rules and the dashboard's queries over the made-up
    region, as Grafana would send them with every job and site chosen."""
    job = {"job": "dnsmon"}
    ns1 = {**job, "fault": "server_silent ns1"}
    ns2 = {**job, "fault": "server_silent ns2"}
    cause = {"kind": "server_silent"}
    matrix = _samples(
        "dnsmon:cause_site",
        [({**ns1, **cause, "target": "ns1", "site": site}, 1) for site in REPORTING]
        + [({**ns2, **cause, "target": "ns2", "site": "dc-north"}, 1)],
    ) + _samples("", [({**job, "fault": "(site reports)", "site": site}, 0) for site in REPORTING])
    ehr = {**job, "service": "ehr"}
    ns1_server = {**job, "server": "ns1", "role": "authoritative"}
    ns2_server = {**job, "server": "ns2", "role": "authoritative"}
    expected = {
        ("Sites reporting", "A"): _samples("dnsmon:sites_reporting:count", [(job, 4)]),
        ("Sites reporting", "B"): _samples("", [(job, 1)]),  # clinic-east
        ("Sites", "A"): _samples(
            "", [({**job, "site": s}, 1) for s in REPORTING] + [({**job, "site": "clinic-east"}, 0)]
        ),
        ("Causes by site", "A"): matrix,
        ("Where each cause is seen", "A"): _samples("", [(ns1, 4), (ns2, 1)]),
        ("Where each cause is seen", "B"): _samples("", [(ns1, 4), (ns2, 4)]),
        ("Where each cause is seen", "C"): _samples("", [(ns1, 1), (ns2, 0.25)]),
        ("Services: worst and best site", "A"): _samples("", [(ehr, 2)]),
        ("Services: worst and best site", "B"): _samples("", [(ehr, 0)]),
        ("Servers: sites finding them answering", "A"): _samples(
            "", [(ns1_server, 0), (ns2_server, 3)]
        ),
        ("Servers: sites finding them answering", "B"): _samples(
            "", [(ns1_server, 4), (ns2_server, 1)]
        ),
    }
    tests = [
        {"expr": _as_promql(_expr(dashboard, title, ref)), "eval_time": "15m", "exp_samples": rows}
        for (title, ref), rows in expected.items()
    ]
    shutil.copy(REGION_RULES, tmp_path / REGION_RULES.name)
    unit = {
        "rule_files": [REGION_RULES.name],
        "evaluation_interval": "30s",
        "tests": [{"interval": "30s", "input_series": _region_series(), "promql_expr_test": tests}],
    }
    (tmp_path / "region.test.yml").write_text(yaml.safe_dump(unit, sort_keys=False))
    run = subprocess.run(
        ["promtool", "test", "rules", "region.test.yml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 0, run.stdout + run.stderr


# --- The central and the per-site Prometheus -----------------------------------------

OPTIONAL_BLOCKS = {
    REGION_CONFIG: "federation",
    SITE_CONFIG: "remote write",
}


def _uncommented(path: Path) -> str:
    """The config with its optional block (`# --- NAME ---` … `# --- end of NAME ---`)
    uncommented."""
    name = OPTIONAL_BLOCKS[path]
    text = path.read_text(encoding="utf-8")
    start = text.index("\n", text.index(f"# --- {name} ---")) + 1
    end = text.index(f"# --- end of {name} ---")
    return text[:start] + re.sub(r"(?m)^([ \t]*)# ?", r"\1", text[start:end]) + text[end:]


def _check_config(text: str, where: Path) -> subprocess.CompletedProcess[str]:
    (where / "prometheus.yml").write_text(text)
    return subprocess.run(
        ["promtool", "check", "config", "prometheus.yml"],
        cwd=where,
        capture_output=True,
        text=True,
        check=False,
    )


@needs_promtool
@pytest.mark.parametrize("path", [REGION_CONFIG, SITE_CONFIG], ids=lambda p: p.name)
def test_configs_pass_promtool_check(path: Path) -> None:
    run = subprocess.run(
        ["promtool", "check", "config", path.name],
        cwd=path.parent,
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    if path == REGION_CONFIG:  # the rule files are found, and checked, beside the config
        for rules in (ALERT_RULES, REGION_RULES):
            assert f"Checking ../dashboards/{rules.name}" in run.stdout, run.stdout


@needs_promtool
@pytest.mark.parametrize("path", [REGION_CONFIG, SITE_CONFIG], ids=lambda p: p.name)
def test_optional_blocks_are_valid_once_uncommented(path: Path, tmp_path: Path) -> None:
    where = tmp_path / "deploy"
    where.mkdir()
    (tmp_path / "dashboards").mkdir()
    for rules in (ALERT_RULES, REGION_RULES):
        shutil.copy(rules, tmp_path / "dashboards" / rules.name)
    run = _check_config(_uncommented(path), where)
    assert run.returncode == 0, run.stdout + run.stderr


def _addresses(config: dict[str, Any]) -> list[str]:
    """Every host this Prometheus would reach: targets, Alertmanagers, remote write."""
    groups = [g for job in config.get("scrape_configs", []) for g in job["static_configs"]]
    alerting = config.get("alerting", {}).get("alertmanagers", [])
    groups += [g for manager in alerting for g in manager["static_configs"]]
    hosts = [target.rpartition(":")[0] for g in groups for target in g["targets"]]
    for remote in config.get("remote_write", []):
        host = re.match(r"https?://(\[[^\]]+\]|[^/:]+)", remote["url"])
        assert host, remote["url"]
        hosts.append(host.group(1))
    return [host.strip("[]") for host in hosts]


@pytest.mark.parametrize("path", [REGION_CONFIG, SITE_CONFIG], ids=lambda p: p.name)
def test_every_address_is_an_ip_literal(path: Path) -> None:
    """Prometheus must not resolve the names of what watches the DNS through that DNS."""
    for text in (path.read_text(encoding="utf-8"), _uncommented(path)):
        hosts = _addresses(yaml.safe_load(text))
        assert hosts
        for host in hosts:
            assert ipaddress.ip_address(host).is_loopback, f"{path.name}: {host}"


def test_region_config_scrapes_each_site_with_its_label_and_loads_both_rule_files() -> None:
    config = yaml.safe_load(REGION_CONFIG.read_text(encoding="utf-8"))
    assert config["rule_files"] == [f"../dashboards/{ALERT_RULES.name}",
                                    f"../dashboards/{REGION_RULES.name}"]  # fmt: skip
    assert config["alerting"]["alertmanagers"]
    (job,) = config["scrape_configs"]
    assert job["job_name"].startswith("dnsmon")  # the rules match jobs named "dnsmon…"
    sites = [group["labels"]["site"] for group in job["static_configs"]]
    assert len(sites) == len(set(sites)) > 1


def test_federation_fetches_dnsmon_and_its_up_under_their_own_labels() -> None:
    config = yaml.safe_load(_uncommented(REGION_CONFIG))
    (federation,) = [job for job in config["scrape_configs"] if job["metrics_path"] == "/federate"]
    assert federation["honor_labels"] is True
    assert federation["params"]["match[]"] == ['{job="dnsmon"}']
    # Its own `up` is a site Prometheus's: were the job named "dnsmon…", the region rules
    # (up{job=~"dnsmon.*"}) would count it as a site reporting.
    assert not re.fullmatch("dnsmon.*", federation["job_name"])


def test_site_config_scrapes_its_dnsmon_as_the_region_federates_it() -> None:
    config = yaml.safe_load(SITE_CONFIG.read_text(encoding="utf-8"))
    assert "external_labels" not in config.get("global", {})
    assert not config.get("rule_files"), "the rules run once, in the region"
    (job,) = config["scrape_configs"]
    assert job["job_name"] == "dnsmon"  # what the region's match[] asks for
    assert all(group["labels"]["site"] for group in job["static_configs"])
    remote = yaml.safe_load(_uncommented(SITE_CONFIG))["remote_write"]
    (keep,) = remote[0]["write_relabel_configs"]
    assert keep["action"] == "keep" and re.fullmatch(keep["regex"], "dnsmon")
