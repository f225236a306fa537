"""``check --format nagios``: what a Nagios, Icinga or Zabbix agent reads from dnsmon.

The output follows the monitoring-plugin guidelines: a status line whose word matches the
exit code, performance data after ``|`` in the ``'label'=value[UOM];warn;crit;min;max``
grammar, and long text one line per failing service, cause and warning.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from dnsmon_cli import dnsmon
from hypothesis import given
from hypothesis import strategies as st
from nagios_grammar import Perfdata, parse_perfdata, report_of
from silent_region import silent_resolver_region

from monitor.outputs import nagios
from monitor.outputs.report import exit_code
from tests.rounds import healthy_round, silence


def plugin_output(report: dict[str, Any]) -> tuple[str, Perfdata, list[str]]:
    """The status text, the parsed performance data and the long text lines."""
    output = nagios.render(report)
    assert output.endswith("\n")
    first, *rest = output[:-1].split("\n")
    assert first.count("|") == 1, first
    status, data = first.split(" | ")
    assert not any("|" in line for line in rest), rest
    for line in [first, *rest]:
        assert line.isprintable(), repr(line)
    return status, parse_perfdata(data), rest


def test_all_up_says_ok_with_every_service_counted() -> None:
    report = report_of(healthy_round())
    status, perf, long_text = plugin_output(report)
    assert status == "DNSMON OK - all 2 services up"
    assert perf["services_up"]["value"] == "2" and perf["services_up"]["max"] == "2"
    assert perf["services_down"]["value"] == "0"
    assert perf["healthy_servers"]["value"] == "5" and perf["healthy_servers"]["max"] == "5"
    assert perf["round_duration"]["unit"] == "s"
    assert long_text == []


def test_a_dark_zone_is_a_warning_with_the_services_cache_runway_graphed() -> None:
    report = report_of(silence(healthy_round(), "ns1", "ns2"))
    status, perf, long_text = plugin_output(report)
    assert exit_code(report) == 1
    assert status.startswith("DNSMON WARNING - 1 degraded (ehr); zone_dark region.internal")
    assert perf["runway_ehr"]["value"] == "300" and perf["runway_ehr"]["unit"] == "s"
    assert "runway_lab" not in perf  # only while a runway exists, as the metric
    assert perf["servers_answering"]["value"] == "3"
    assert perf["names_degraded"]["value"] == "3"
    assert long_text[0].startswith("ehr degraded (critical): ehr-app.region.internal A: ns1")
    assert long_text[0].endswith("cached answers run out in 300 s")
    assert "cause zone_dark: ns1 and ns2, the only authoritative servers" in long_text[1]


def test_silent_resolvers_are_critical_naming_what_is_down_and_why() -> None:
    report = report_of(silence(healthy_round(), "resolver-a", "resolver-b"))
    status, perf, long_text = plugin_output(report)
    assert exit_code(report) == 2
    assert status == (
        "DNSMON CRITICAL - 2 down (ehr, lab); server_silent resolver-a, server_silent resolver-b"
    )
    assert perf["services_down"] == {**perf["services_down"], "value": "2", "crit": "0"}
    assert perf["healthy_servers"]["value"] == "3"  # the authoritative servers still answer
    # Clients wait out both resolvers: the slowest lookup is over the 1 s that is "slow".
    assert float(perf["lookup_max_clients"]["value"] or 0) > 1
    assert perf["lookup_max_clients"]["warn"] == "1"
    assert [line.split(":")[0] for line in long_text[:2]] == [
        "ehr down (critical)",
        "lab down (normal)",
    ]


def test_warnings_alone_are_a_warning_that_says_how_many() -> None:
    report = report_of(healthy_round())
    report["warnings"] = ["ehr-db.region.internal A: only resolver-a answers ok"]
    status, _, long_text = plugin_output(report)
    assert status == "DNSMON WARNING - all 2 services up; 1 warning"
    assert long_text == ["warning: ehr-db.region.internal A: only resolver-a answers ok"]


def test_a_lookup_budget_is_the_critical_threshold_and_no_lookup_is_undetermined() -> None:
    report = report_of(healthy_round())
    report["clients"] = [
        {**report["clients"][0], "lookup_budget": 2.5},
        {**report["clients"][0], "name": "lab-analysers"},
    ]
    _, perf, _ = plugin_output(report)
    assert perf["lookup_max_clients"]["crit"] == "2.5"
    assert perf["lookup_max_lab-analysers"]["value"] == "U"


def test_unknown_says_why_on_the_first_line_and_the_rest_below() -> None:
    said = nagios.unknown("invalid config", ["probes.yaml:3: a | b", "probes.yaml:5: c\td"])
    assert said == ("DNSMON UNKNOWN - invalid config\nprobes.yaml:3: a / b\nprobes.yaml:5: c d\n")


BASE = report_of(silence(healthy_round(), "ns1", "ns2"))


@given(
    names=st.lists(st.text(min_size=1, max_size=30), min_size=1, max_size=6),
    runways=st.lists(st.none() | st.integers(0, 10**9), min_size=6, max_size=6),
    clients=st.lists(st.text(min_size=1, max_size=20), max_size=3),
    budget=st.none() | st.floats(0.001, 3600, allow_nan=False),
    seconds=st.floats(0, 10**6, allow_nan=False),
)
def test_performance_data_parses_whatever_the_names(
    names: list[str],
    runways: list[int | None],
    clients: list[str],
    budget: float | None,
    seconds: float,
) -> None:
    """Service and client names are anything probes.yaml holds: quotes, '=', '|', spaces,
    line breaks, other scripts. The performance data still parses, one label each."""
    report = copy.deepcopy(BASE)
    template = report["services"][0]
    report["services"] = [
        {**template, "name": name, "runway_seconds": runway}
        for name, runway in zip(names, runways, strict=False)
    ]
    report["clients"] = [{**report["clients"][0], "name": c, "lookup_budget": budget}
                         for c in clients]  # fmt: skip
    for name in report["names"]:
        name["lookups"] = [{**name["lookups"][0], "client": c, "seconds": seconds}
                           for c in clients]  # fmt: skip
    status, perf, _ = plugin_output(report)
    runways_given = sum(1 for _, r in zip(names, runways, strict=False) if r is not None)
    assert sum(1 for label in perf if label.startswith("runway_")) == runways_given
    assert sum(1 for label in perf if label.startswith("lookup_")) == 2 * len(set(clients))
    assert status.startswith("DNSMON WARNING - ")


# --- the real command, against in-process nameservers -------------------------------------


def test_check_as_a_nagios_plugin_against_a_silent_resolver(tmp_path: Path) -> None:
    with silent_resolver_region(tmp_path) as (config, _):
        run = dnsmon(config, "check", "--format", "nagios", "--timeout", "200ms")
    assert run.code == 2, run.stderr
    first, *long_text = run.stdout.splitlines()
    status, data = first.split(" | ")
    assert status == ("DNSMON CRITICAL - 1 down (pacs), 1 degraded (ehr); server_silent resolver-b")
    perf = parse_perfdata(data)
    assert perf["servers_answering"]["value"] == "1"
    assert long_text[0] == "pacs down (normal): pacs.region.internal A: resolver-b timeout"


def test_a_bad_config_is_unknown_on_stdout_for_nagios(tmp_path: Path) -> None:
    config = tmp_path / "probes.yaml"
    config.write_text("servers: [{name: r, address: resolver.example}]\nnames: []\n")
    run = dnsmon(config, "check", "--format", "nagios")
    assert run.code == 3
    first = run.stdout.splitlines()[0]
    assert first.startswith("DNSMON UNKNOWN - invalid config: ")
    assert "is not an IP literal" in first
    assert "Traceback" not in run.stdout + run.stderr


def test_a_missing_config_is_unknown_on_stdout_for_nagios(tmp_path: Path) -> None:
    run = dnsmon(tmp_path / "absent.yaml", "check", "--format", "nagios")
    assert run.code == 3
    assert run.stdout.startswith("DNSMON UNKNOWN - invalid config: ")
    assert "absent.yaml" in run.stdout
