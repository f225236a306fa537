"""``dnsmon check`` against real servers: Knot and BIND authoritative, Unbound resolvers.

Each test is a situation an operator meets; each fault is injected for real.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from dnsmon_cli import backups, check, name_status, results, services
from servers import Unbound

EHR_DB = "ehr-db.region.internal"


@pytest.fixture
def probes(region, tmp_path: Path):
    """Write a probes.yaml for the shared region; reset the region afterwards."""

    def write(**kwargs) -> Path:
        return region.write_probes(tmp_path / "probes.yaml", **kwargs)

    yield write
    region.reset()


def test_all_healthy_is_up_with_exit_0(probes):
    code, report = check(probes())
    assert code == 0
    assert report["status"] == "up"
    assert services(report) == {"sso": "up", "ehr": "up"}
    assert backups(report) == {"ehr/ehr-readonly": "usable", "ehr/paper-forms": "usable"}
    ehr = results(report, EHR_DB)
    assert set(ehr) == {"resolver-a", "resolver-b", "ns1", "ns2"}
    assert all(r["result"] == "ok" and r["answers"] == ["127.20.1.15"] for r in ehr.values())
    assert report["zones"][0]["serials"] == {"ns1": 2026112601, "ns2": 2026112601}


def test_one_resolver_stopped_is_degraded(region, probes):
    region.resolver_a.stop()
    code, report = check(probes())
    assert code == 1
    assert services(report) == {"sso": "degraded", "ehr": "degraded"}
    assert results(report, EHR_DB)["resolver-a"]["result"] == "timeout"
    assert results(report, EHR_DB)["resolver-b"]["result"] == "ok"
    assert any("resolver-a timeout" in r for r in report["services"][0]["reasons"])


def test_every_resolver_stopped_is_down(region, probes):
    region.resolver_a.stop()
    region.resolver_b.stop()
    code, report = check(probes())
    assert code == 2
    assert report["status"] == "down"
    assert services(report) == {"sso": "down", "ehr": "down"}
    assert backups(report)["ehr/ehr-readonly"] == "unusable"
    assert backups(report)["ehr/paper-forms"] == "usable"


def test_missing_name_is_nxdomain(probes):
    names = [{"name": "gone.region.internal", "type": "A"}]
    code, report = check(probes(names=names, services=[]))
    assert code == 2
    assert {r["result"] for r in results(report, "gone.region.internal").values()} == {"nxdomain"}


def test_missing_type_is_nodata(probes):
    names = [{"name": EHR_DB, "type": "AAAA"}]
    _, report = check(probes(names=names, services=[]))
    assert {r["result"] for r in results(report, EHR_DB, "AAAA").values()} == {"nodata"}


def test_unexpected_answer_is_wrong_answer(probes):
    names = [{"name": EHR_DB, "type": "A", "expect": ["127.20.1.99"]}]
    code, report = check(probes(names=names, services=[]))
    assert code == 2
    entry = results(report, EHR_DB)["resolver-a"]
    assert entry["result"] == "wrong_answer"
    assert entry["answers"] == ["127.20.1.15"]


def test_resolver_that_cannot_reach_the_zone_gives_servfail(region, probes, start_server):
    # Knot does not serve broken.internal, so this Unbound gets REFUSED and says SERVFAIL.
    broken = start_server(Unbound({"broken.internal": [region.ns1]}))
    extra = [{"name": "resolver-c", "address": broken.address, "port": broken.port}]
    names = [{"name": "host.broken.internal", "type": "A", "servers": ["resolver-c"]}]
    _, report = check(probes(names=names, services=[], extra_servers=extra))
    assert results(report, "host.broken.internal")["resolver-c"]["result"] == "servfail"


def test_resolver_acl_gives_refused(probes, start_server, region):
    refusing = start_server(
        Unbound({"region.internal": [region.ns1]}, refuse_zones=["region.internal"])
    )
    extra = [{"name": "resolver-c", "address": refusing.address, "port": refusing.port}]
    names = [{"name": EHR_DB, "type": "A", "servers": ["resolver-c"]}]
    _, report = check(probes(names=names, services=[], extra_servers=extra))
    assert results(report, EHR_DB)["resolver-c"]["result"] == "refused"


def test_big_txt_is_retried_over_tcp(probes):
    names = [{"name": "big.region.internal", "type": "TXT"}]
    code, report = check(probes(names=names, services=[]))
    assert code == 0
    for entry in results(report, "big.region.internal", "TXT").values():
        assert entry["result"] == "ok"
        assert sum(len(a) for a in entry["answers"]) > 1232


def test_differing_serials_are_a_warning(make_region, tmp_path):
    region = make_region(serials={"ns2": 2026112500})
    code, report = check(region.write_probes(tmp_path / "probes.yaml"))
    assert code == 1
    zone = next(z for z in report["zones"] if z["name"] == "region.internal")
    assert zone["serials"] == {"ns1": 2026112601, "ns2": 2026112500}
    assert zone["consistent"] is False
    assert any("serials differ" in w for w in report["warnings"])


@pytest.mark.parametrize("mode", ["garbage", "wrong_id", "truncated"])
def test_hostile_server_is_an_error_not_a_crash(probes, hostile, mode):
    bad = hostile(mode)
    extra = [{"name": "resolver-x", "address": "127.0.0.1", "port": bad.port}]
    code, report = check(probes(extra_servers=extra))
    assert code == 1  # the other resolvers still answer: degraded, not down
    entry = results(report, EHR_DB)["resolver-x"]
    assert entry["result"] == "error", entry
    assert name_status(report, EHR_DB) == "degraded"


def test_service_filter_asks_only_what_the_service_needs(probes):
    code, report = check(probes(), "--service", "sso")
    assert code == 0
    assert services(report) == {"sso": "up"}
    assert {n["name"] for n in report["names"]} == {"_ldap._tcp.region.internal"}


def test_round_with_dead_servers_is_bounded_by_timeouts(region, probes):
    for server in region.servers.values():
        server.stop()
    code, report = check(probes())
    assert code == 2
    # timeout 1s × 2 attempts, whatever the number of dead servers
    assert report["duration_seconds"] < 1 * 2 + 1.0
