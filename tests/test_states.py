"""The state rules of SPEC.md, judged from results built by hand: no network, no clock.

A small region: two resolvers, two authoritative servers for region.internal, and a vendor
name outside any zone we serve. Each test breaks something and reads the verdict the way
an operator would: which names, services and backups are still fine, and for how long.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from monitor.config import Config, parse
from monitor.judging import graph as graph_module
from monitor.judging.health import Health, judge
from monitor.outputs import report
from monitor.probing import plan
from monitor.probing.results import ProbeResult, Round
from monitor.states import BackupState, NameState, Result, ServiceState, SharedFate

REGION = parse(
    """\
site: dc-north
servers:
  - {name: resolver-a, address: 127.0.0.1, port: 5301}
  - {name: resolver-b, address: 127.0.0.1, port: 5302}
  - {name: ns1, address: 127.0.0.1, port: 5311, role: authoritative, zones: [region.internal]}
  - {name: ns2, address: 127.0.0.1, port: 5312, role: authoritative, zones: [region.internal]}
names:
  - {name: _ldap._tcp.region.internal, type: SRV}
  - {name: ehr-db.region.internal, type: A, expect: [127.20.1.15]}
  - {name: ehr-app.region.internal, type: A}
  - {name: ehr-ro.region.internal, type: A}
  - {name: lab.region.internal, type: A}
  - {name: ris.region.internal, type: A, servers: [ns1]}
  - {name: archive.vendor.internal, type: A}
services:
  - name: sso
    criticality: critical
    depends_on: [_ldap._tcp.region.internal]
  - name: ehr
    criticality: critical
    depends_on: [ehr-db.region.internal, ehr-app.region.internal, service:sso]
    backups:
      - {name: ehr-standby, depends_on: [ehr-db.region.internal]}
      - {name: ehr-readonly, depends_on: [ehr-ro.region.internal]}
      - {name: vendor-archive, depends_on: [archive.vendor.internal]}
      - {name: paper-forms, depends_on: []}
  - name: pharmacy
    criticality: high
    depends_on: [service:ehr]
  - name: lab
    criticality: high
    depends_on: [lab.region.internal]
"""
)
RESOLVERS = ("resolver-a", "resolver-b")
AUTHORITATIVES = ("ns1", "ns2")
EVERY_SERVER = RESOLVERS + AUTHORITATIVES
ZONE = "region.internal"
EHR_DB = "ehr-db.region.internal"
LDAP = "_ldap._tcp.region.internal"

Results = dict[tuple[str, str, str], ProbeResult]


def all_ok(config: Config = REGION, ttl: int = 300, serial: int = 2026112601) -> Results:
    """Every query of one round answered correctly."""
    out: Results = {}
    for query in plan.build(config):
        if query.type == "SOA":
            out[query.key] = ProbeResult(query, Result.OK, 0.001, ttl, ("soa",), serial=serial)
        else:
            answers = tuple(sorted(query.expect or {"127.20.1.1"}))
            out[query.key] = ProbeResult(query, Result.OK, 0.001, ttl, answers)
    return out


def change(results: Results, name: str, servers: tuple[str, ...], **fields: object) -> Results:
    """Change the results of ``name`` (any type) on ``servers``."""
    matched = [k for k in results if k[0] == name and k[2] in servers]
    assert matched, f"nothing asked of {name} on {servers}"
    for key in matched:
        results[key] = replace(results[key], **fields)  # type: ignore[arg-type]
    return results


def fail(
    results: Results, name: str, servers: tuple[str, ...], result: Result = Result.TIMEOUT
) -> Results:
    return change(results, name, servers, result=result, ttl=None, answers=(), rtt_seconds=None)


def fail_servers(results: Results, *servers: str) -> Results:
    """Every query to these servers times out, SOA included."""
    for key, found in results.items():
        if key[2] in servers:
            results[key] = replace(found, result=Result.TIMEOUT, ttl=None, answers=())
    return results


def verdict(results: Results, config: Config = REGION) -> Health:
    return judge(graph_module.build(config), Round(0.0, results=results))


def service_states(health: Health) -> dict[str, ServiceState]:
    return {name: s.state for name, s in health.services.items()}


def backup_states(health: Health, service: str = "ehr") -> dict[str, BackupState]:
    return {b.name: b.state for b in health.services[service].backups}


def exit_code_of(results: Results, config: Config = REGION) -> int:
    graph = graph_module.build(config)
    return report.exit_code(
        report.build(config, graph, judge(graph, Round(0.0, results=results)), 0.0, 0.1)
    )


# --- names ---------------------------------------------------------------------------------

T, S, R, W, N = (
    Result.TIMEOUT,
    Result.SERVFAIL,
    Result.REFUSED,
    Result.WRONG_ANSWER,
    Result.NXDOMAIN,
)
NAME_CASES = [  # the last figure is redundancy: resolvers answering ok, the clients' view
    ("every server ok", {}, NameState.HEALTHY, 2),
    ("one authoritative times out", {"ns1": T}, NameState.DEGRADED, 2),
    ("both authoritatives fail", {"ns1": T, "ns2": S}, NameState.DEGRADED, 2),
    ("one resolver servfails", {"resolver-a": S}, NameState.DEGRADED, 1),
    ("only one resolver left", {"resolver-a": T, "ns1": R, "ns2": T}, NameState.DEGRADED, 1),
    ("resolvers fail, authoritatives fine", {"resolver-a": T, "resolver-b": S},
     NameState.FAILING, 0),
    ("wrong answer from both resolvers", {"resolver-a": W, "resolver-b": W},
     NameState.FAILING, 0),
    ("nxdomain everywhere", dict.fromkeys(EVERY_SERVER, N), NameState.FAILING, 0),
]  # fmt: skip


@pytest.mark.parametrize(
    ("failures", "state", "healthy_servers"),
    [case[1:] for case in NAME_CASES],
    ids=[case[0] for case in NAME_CASES],
)
def test_name_state(failures: dict[str, Result], state: NameState, healthy_servers: int) -> None:
    results = all_ok()
    for server, result in failures.items():
        fail(results, EHR_DB, (server,), result)
    name = verdict(results).names[(EHR_DB, "A")]
    assert (name.state, name.healthy_servers, len(name.results)) == (state, healthy_servers, 4)


AUTHORITATIVE_ONLY_CASES = [
    ({}, NameState.HEALTHY),
    ({"ns2": T}, NameState.DEGRADED),
    ({"ns1": S}, NameState.DEGRADED),
    ({"ns1": T, "ns2": R}, NameState.FAILING),
]


@pytest.mark.parametrize(("failures", "state"), AUTHORITATIVE_ONLY_CASES)
def test_name_asked_only_of_authoritatives_is_judged_by_them(
    failures: dict[str, Result], state: NameState
) -> None:
    results = all_ok()
    assert {k[2] for k in results if k[0] == "ris.region.internal"} == set(AUTHORITATIVES)
    for server, result in failures.items():
        fail(results, "ris.region.internal", (server,), result)
    assert verdict(results).names[("ris.region.internal", "A")].state is state


def test_servers_that_disagree_make_a_name_inconsistent_but_not_unhealthy() -> None:
    results = change(all_ok(), "ehr-app.region.internal", ("resolver-b",), answers=("127.20.1.99",))
    name = verdict(results).names[("ehr-app.region.internal", "A")]
    assert (name.state, name.consistent) == (NameState.HEALTHY, False)
    assert exit_code_of(results) == 1  # a warning, not a state change


def test_a_failing_server_does_not_count_as_disagreeing() -> None:
    results = fail(all_ok(), "ehr-app.region.internal", ("resolver-b",))
    assert verdict(results).names[("ehr-app.region.internal", "A")].consistent is True


# --- services ------------------------------------------------------------------------------


def test_everything_answering_means_every_service_up() -> None:
    health = verdict(all_ok())
    assert set(service_states(health).values()) == {ServiceState.UP}
    assert all(s.runway_seconds is None and not s.reasons for s in health.services.values())


def test_degraded_name_degrades_its_service_and_those_that_need_it() -> None:
    results = fail(all_ok(), "ehr-app.region.internal", ("resolver-a",))
    health = verdict(results)
    assert service_states(health) == {
        "sso": ServiceState.UP,
        "ehr": ServiceState.DEGRADED,
        "pharmacy": ServiceState.DEGRADED,
        "lab": ServiceState.UP,
    }
    assert health.services["ehr"].reasons == (
        "ehr-app.region.internal A: resolver-a timeout",
        # Clients (glibc, resolver-a first) wait out its timeout before asking resolver-b.
        "ehr-app.region.internal A from clients: every lookup waits 5 s (resolver-a silent 5 s,"
        " resolver-b ok)",
    )
    assert health.services["pharmacy"].reasons == ("needs service ehr, which is degraded",)


def test_failing_name_takes_down_every_service_that_needs_it_transitively() -> None:
    results = fail(all_ok(), LDAP, RESOLVERS, Result.SERVFAIL)
    health = verdict(results)
    assert service_states(health) == {
        "sso": ServiceState.DOWN,
        "ehr": ServiceState.DOWN,
        "pharmacy": ServiceState.DOWN,
        "lab": ServiceState.UP,
    }
    assert health.services["ehr"].reasons == ("needs service sso, which is down",)


def test_the_worst_dependency_wins() -> None:
    results = fail(all_ok(), "ehr-app.region.internal", ("resolver-a",))
    fail(results, EHR_DB, RESOLVERS)
    assert verdict(results).services["ehr"].state is ServiceState.DOWN


def test_failed_authoritatives_show_cache_runway() -> None:
    results = fail_servers(all_ok(ttl=240), *AUTHORITATIVES)
    change(results, EHR_DB, ("resolver-b",), ttl=180)
    health = verdict(results)
    assert health.zones[ZONE].dark
    assert service_states(health) == dict.fromkeys(
        ["sso", "ehr", "pharmacy", "lab"], ServiceState.DEGRADED
    )
    runways = {name: s.runway_seconds for name, s in health.services.items()}
    # ehr needs ehr-db, cached for 180 s more on resolver-b; pharmacy needs ehr
    assert runways == {"sso": 240, "ehr": 180, "pharmacy": 180, "lab": 240}


def test_runway_counts_only_answers_resolvers_still_serve() -> None:
    results = fail_servers(all_ok(ttl=240), *AUTHORITATIVES)
    fail(results, EHR_DB, ("resolver-b",))  # this cache has already lost it
    change(results, LDAP, ("resolver-a",), ttl=60)
    health = verdict(results)
    assert health.services["sso"].runway_seconds == 60
    assert health.services["lab"].runway_seconds == 240


def test_one_failing_authoritative_leaves_no_runway() -> None:
    results = fail_servers(all_ok(ttl=240), "ns1")
    health = verdict(results)
    assert not health.zones[ZONE].dark
    assert {s.runway_seconds for s in health.services.values()} == {None}
    assert health.services["ehr"].state is ServiceState.DEGRADED  # lost redundancy


def test_soa_failing_everywhere_is_a_dark_zone_even_if_names_still_answer() -> None:
    results = fail(all_ok(ttl=240), ZONE, AUTHORITATIVES)  # only the SOA checks fail
    health = verdict(results)
    assert health.zones[ZONE].dark
    assert health.services["lab"].state is ServiceState.DEGRADED
    assert health.services["lab"].runway_seconds == 240


# --- backups -------------------------------------------------------------------------------


def test_shared_fate_levels_are_known_before_anything_fails() -> None:
    graph = graph_module.build(REGION)
    fates = {b.name: graph.shared_fate("ehr", b.depends_on) for b in graph.services["ehr"].backups}
    assert {name: (f.level, f.shared) for name, f in fates.items()} == {
        "ehr-standby": (SharedFate.NAME, (EHR_DB,)),
        "ehr-readonly": (SharedFate.ZONE, (ZONE,)),
        "vendor-archive": (SharedFate.SERVERS, RESOLVERS),
        "paper-forms": (None, ()),
    }


def test_backup_sharing_a_name_through_a_service_dependency_is_flagged() -> None:
    graph = graph_module.build(REGION)
    assert graph.shared_fate("ehr", (LDAP,)).level is SharedFate.NAME  # ehr needs sso's name


def test_backups_usable_while_everything_answers() -> None:
    health = verdict(all_ok())
    assert set(backup_states(health).values()) == {BackupState.USABLE}
    fates = {b.name: b.fate.level for b in health.services["ehr"].backups}
    assert fates["vendor-archive"] is SharedFate.SERVERS


def test_backups_sharing_fate_with_a_down_service_are_at_risk() -> None:
    results = fail(all_ok(), LDAP, RESOLVERS)  # sso down takes ehr down
    health = verdict(results)
    assert health.services["ehr"].state is ServiceState.DOWN
    assert backup_states(health) == {
        "ehr-standby": BackupState.AT_RISK,
        "ehr-readonly": BackupState.AT_RISK,
        "vendor-archive": BackupState.AT_RISK,
        "paper-forms": BackupState.USABLE,
    }
    [readonly] = [b for b in health.services["ehr"].backups if b.name == "ehr-readonly"]
    assert readonly.reasons == ("shares zone with ehr, which is down",)


def test_backup_needing_the_failing_name_is_unusable() -> None:
    results = fail(all_ok(), EHR_DB, RESOLVERS)
    states = backup_states(verdict(results))
    assert states["ehr-standby"] is BackupState.UNUSABLE
    assert states["ehr-readonly"] is BackupState.AT_RISK
    assert states["paper-forms"] is BackupState.USABLE


def test_backup_with_a_degraded_name_is_at_risk_while_its_service_is_up() -> None:
    results = fail(all_ok(), "ehr-ro.region.internal", ("ns1",))
    health = verdict(results)
    assert health.services["ehr"].state is ServiceState.UP
    assert backup_states(health)["ehr-readonly"] is BackupState.AT_RISK
    assert exit_code_of(results) == 1  # a backup at risk is a warning


def test_backup_in_another_zone_survives_a_dark_region_zone_but_is_at_risk() -> None:
    results = fail_servers(all_ok(), *AUTHORITATIVES)
    states = backup_states(verdict(results))
    assert states["vendor-archive"] is BackupState.AT_RISK  # shares the resolvers only
    assert states["ehr-readonly"] is BackupState.AT_RISK  # served from cache, runway running


def test_backup_without_dns_stays_usable_when_everything_fails() -> None:
    health = verdict(fail_servers(all_ok(), *EVERY_SERVER))
    assert set(service_states(health).values()) == {ServiceState.DOWN}
    assert backup_states(health) == {
        "ehr-standby": BackupState.UNUSABLE,
        "ehr-readonly": BackupState.UNUSABLE,
        "vendor-archive": BackupState.UNUSABLE,
        "paper-forms": BackupState.USABLE,
    }


BACKUP_ON_LATER_SERVICE = parse(
    """\
servers:
  - {name: resolver-a, address: 127.0.0.1}
names:
  - {name: ehr-db.region.internal}
  - {name: lab.region.internal}
services:
  - name: ehr
    depends_on: [ehr-db.region.internal]
    backups:
      - {name: lab-printout, description: Results printed at the lab, depends_on: [service:lab]}
  - name: lab
    depends_on: [lab.region.internal]
"""
)


def test_backup_needing_a_service_that_is_down_is_unusable() -> None:
    results = fail(all_ok(BACKUP_ON_LATER_SERVICE), "lab.region.internal", ("resolver-a",))
    health = verdict(results, BACKUP_ON_LATER_SERVICE)
    assert health.services["lab"].state is ServiceState.DOWN
    assert backup_states(health) == {"lab-printout": BackupState.UNUSABLE}


# --- exit codes ----------------------------------------------------------------------------


def test_exit_code_0_when_all_up() -> None:
    assert exit_code_of(all_ok()) == 0


def test_exit_code_1_when_degraded() -> None:
    assert exit_code_of(fail(all_ok(), "lab.region.internal", ("ns2",))) == 1


def test_exit_code_1_when_up_with_zone_serials_drifting_apart() -> None:
    results = change(all_ok(), ZONE, ("ns2",), serial=2026112602)
    graph = graph_module.build(REGION)
    health = judge(graph, Round(0.0, results=results))
    built = report.build(REGION, graph, health, 0.0, 0.1)
    assert built["status"] == "up"
    assert built["warnings"] == [
        "zone region.internal: serials differ (ns1 2026112601, ns2 2026112602)"
    ]
    assert report.exit_code(built) == 1


def test_exit_code_2_when_something_is_down() -> None:
    assert exit_code_of(fail(all_ok(), "lab.region.internal", RESOLVERS)) == 2


def test_exit_code_2_when_a_name_no_service_needs_fails() -> None:
    results = fail(all_ok(), "ris.region.internal", AUTHORITATIVES)
    assert exit_code_of(results) == 2
