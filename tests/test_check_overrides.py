"""An ad hoc round asked differently: ``check --timeout``, ``--attempts`` and ``--server``.

During an upgrade an operator wants one quick answer ("does resolver-a still answer
everything?") without editing probes.yaml. The overrides make a changed config for the
one round; the end-to-end tests ask in-process nameservers on loopback, one of them
silent, through the real ``dnsmon`` command.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from dnsmon_cli import check, dnsmon, results
from silent_region import silent_resolver_region

from monitor.config import overrides, parse
from monitor.config.overrides import OverrideError
from tests.nameserver import TestNameserver
from tests.rounds import CONFIG


@pytest.fixture
def region(tmp_path: Path) -> Iterator[tuple[Path, TestNameserver]]:
    with silent_resolver_region(tmp_path) as made:
        yield made


def test_a_short_timeout_makes_the_round_with_a_silent_server_fast(region) -> None:
    config, _ = region
    code, report = check(config, "--timeout", "200ms", "--attempts", "1")
    assert code == 2  # pacs, asked of resolver-b only, is down
    # The config would wait 3 s twice for resolver-b; the override waits 200 ms once.
    assert report["duration_seconds"] < 0.2 * 1 + 0.6
    assert results(report, "ehr-db.region.internal")["resolver-b"]["result"] == "timeout"
    assert results(report, "ehr-db.region.internal")["resolver-a"]["result"] == "ok"


def test_attempts_is_how_often_a_silent_server_is_asked(region) -> None:
    config, silent = region
    check(config, "--timeout", "50ms", "--attempts", "1")
    once = silent.queries
    check(config, "--timeout", "50ms", "--attempts", "3")
    assert once > 0
    assert silent.queries - once == 3 * once


def test_server_limits_the_round_to_the_servers_named(region) -> None:
    config, silent = region
    code, report = check(config, "--server", "resolver-a", "--timeout", "1s")
    assert code == 0, report
    assert silent.queries == 0
    assert {r["server"] for n in report["names"] for r in n["results"]} == {"resolver-a"}
    assert [s["name"] for s in report["services"]] == ["ehr"]
    assert report["notes"] == [
        "--server resolver-a: not asked this round, as no chosen server is asked them: "
        "pacs.region.internal A",
        "--server resolver-a: left out, as none of their names is asked: pacs",
    ]


def test_an_unknown_server_is_a_usage_error_listing_the_servers(region) -> None:
    config, _ = region
    run = dnsmon(config, "check", "--server", "resolver-c")
    assert run.code == 3
    assert run.stdout == ""
    assert "'resolver-c' is not a listed server" in run.stderr
    assert "the servers are: resolver-a, resolver-b" in run.stderr


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["--timeout", "soon"], "'soon' is not a duration"),
        (["--timeout", "0.1ms"], "shorter than 1ms"),
        (["--attempts", "0"], "0 is less than 1"),
        (["--attempts", "11"], "11 is more than 10"),
    ],
)
def test_an_override_out_of_the_configs_bounds_exits_3(region, args, said) -> None:
    config, _ = region
    run = dnsmon(config, "check", *args)
    assert run.code == 3, run.stderr
    assert said in run.stderr


def test_snapshot_takes_the_same_overrides(region, tmp_path: Path) -> None:
    config, silent = region
    saved = tmp_path / "before.json"
    run = dnsmon(config, "snapshot", "-o", str(saved), "--server", "resolver-a")
    assert run.code == 0, run.stderr
    assert silent.queries == 0
    snapshot = json.loads(saved.read_text())
    assert [n["name"] for n in snapshot["names"]] == ["ehr-db.region.internal"]


# --- the changed config itself, without the network ------------------------------------


def test_timeout_and_attempts_replace_the_configs_defaults() -> None:
    changed = overrides.with_attempts(overrides.with_timeout(CONFIG, "500ms"), 1)
    assert (changed.defaults.timeout, changed.defaults.attempts) == (0.5, 1)
    assert changed.defaults.interval == CONFIG.defaults.interval
    assert changed.fingerprint == CONFIG.fingerprint  # the same questions are asked


def test_one_authoritative_server_keeps_the_names_of_its_zones() -> None:
    restricted = overrides.only_servers(CONFIG, ["ns1"])
    config = restricted.config
    assert [s.name for s in config.servers] == ["ns1"]
    assert [n.name for n in config.names] == [
        "ehr-db.region.internal", "ehr-app.region.internal", "ehr-copy.backup.internal",
    ]  # fmt: skip
    assert restricted.names == ("lab.other.internal A",)  # ns3's zone, asked of no resolver
    assert restricted.services == ("lab",)
    [ehr] = config.services
    assert [b.name for b in ehr.backups] == ["ehr-copy", "paper"]  # paper needs no DNS
    assert config.server("ns1").port == 5311
    with pytest.raises(KeyError):
        config.server("resolver-a")  # not remembered from the whole config
    assert config.fingerprint != CONFIG.fingerprint


def test_a_service_that_needs_only_a_left_out_service_is_left_out_too() -> None:
    config = parse(
        "servers:\n"
        "  - {name: r1, address: 127.0.0.1}\n"
        "  - {name: r2, address: 127.0.0.2}\n"
        "names:\n"
        "  - {name: ldap.region.internal, servers: [r2]}\n"
        "  - {name: ehr.region.internal}\n"
        "services:\n"
        "  - {name: sso, depends_on: [ldap.region.internal]}\n"
        "  - {name: portal, depends_on: ['service:sso']}\n"
        "  - {name: ehr, depends_on: [ehr.region.internal, 'service:sso'],\n"
        "     backups: [{name: sso-copy, depends_on: ['service:sso']}]}\n"
    )
    restricted = overrides.only_servers(config, ["r1"])
    assert restricted.services == ("sso", "portal", "ehr/sso-copy")
    [ehr] = restricted.config.services
    assert ehr.depends_on == ("ehr.region.internal",) and ehr.backups == ()


def test_no_name_left_to_ask_is_an_error() -> None:
    config = parse(
        "servers: [{name: r1, address: 127.0.0.1}, {name: r2, address: 127.0.0.2}]\n"
        "names: [{name: ehr.region.internal, servers: [r1]}]\n"
    )
    with pytest.raises(OverrideError, match="no listed name is asked of r2"):
        overrides.only_servers(config, ["r2"])
