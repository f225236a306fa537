"""Never a false "up", against real resolvers and zones: each way real DNS hides a fault.

Unbound and BIND keep answering from expired cache once the authority is gone; a CNAME
leads into a zone whose only server dies; a bad zone load deletes a record the caches
still hold; an old server refuses EDNS; a child zone is delegated to a server dnsmon is
not told about; a "resolver" has lost recursion. Each test drives ``dnsmon check`` as an
operator would and asserts the verdict, exit code, result, runway and EDE they would read.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from dnsmon_cli import check, dnsmon, results, services
from responders import ZoneResponder
from servers import (
    Bind,
    BindResolver,
    DelegatedRegion,
    Knot,
    Nsd,
    Server,
    StartServer,
    TestRegion,
    Unbound,
)
from zones import (
    CROSS_ZONE_CNAME,
    EHR_DB,
    OTHER,
    OTHER_APP,
    REGION,
    SUB_APP,
    other_zone,
    region_zone,
)

pytestmark = pytest.mark.integration
TTL = 3  # short: caches run out within the test
WINDOW = 8  # serve-stale window: stale answers for this long after the TTL
FAST = {"interval": "5s", "timeout": "1s", "attempts": 1}
EHR_DB_NAME = f"ehr-db.{REGION}"


def entry(name: str, server: Server, role: str = "recursive", **extra: Any) -> dict[str, Any]:
    return {"name": name, "address": server.address, "port": server.port, "role": role, **extra}


def write(path: Path, servers: list[dict[str, Any]], names: list[dict[str, Any]],
          service_needs: list[str]) -> Path:  # fmt: skip
    document = {
        "version": 1, "site": "test-site", "defaults": FAST, "servers": servers,
        "names": names,
        "services": [{"name": "ehr", "criticality": "critical", "depends_on": service_needs,
                      "backups": [{"name": "paper", "description": "Paper forms",
                                   "depends_on": []}]}],
    }  # fmt: skip
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def poll(config: Path, until: Callable[[dict[str, Any]], bool], what: str,
         deadline: float = 20.0) -> tuple[int, dict[str, Any]]:  # fmt: skip
    """``check`` again and again until ``until(report)``; never a fixed sleep."""
    end = time.monotonic() + deadline
    while True:
        code, report = check(config)
        if until(report):
            return code, report
        if time.monotonic() > end:
            raise AssertionError(f"not within {deadline:.0f}s: {what}\n{report}")
        time.sleep(0.3)


def result_is(server: str, result: str, name: str = EHR_DB_NAME) -> Callable[[dict], bool]:
    return lambda report: results(report, name)[server]["result"] == result


# --- stale answers ----------------------------------------------------------------------------


def stale_region(make_region: Callable[..., TestRegion]) -> TestRegion:
    options = {"serve_expired_ttl": WINDOW, "max_rtt_ms": 500}
    return make_region(ttl=TTL, resolver_options=options)


def test_unbound_serving_stale_is_degraded_never_up_then_down(
    make_region: Callable[..., TestRegion], tmp_path: Path
) -> None:
    region = stale_region(make_region)
    servers = [entry("resolver-a", region.resolver_a, serve_stale=f"{WINDOW}s"),
               entry("resolver-b", region.resolver_b),
               entry("ns1", region.ns1, "authoritative", zones=[REGION]),
               entry("ns2", region.ns2, "authoritative", zones=[REGION])]  # fmt: skip
    names = [{"name": EHR_DB_NAME, "expect": [EHR_DB]}]
    config = write(tmp_path / "probes.yaml", servers, names, [EHR_DB_NAME])
    assert check(config)[0] == 0  # warm both caches
    region.ns1.stop()
    region.ns2.stop()

    code, report = poll(config, result_is("resolver-a", "stale"), "resolver-a answers stale")
    assert (code, services(report)) == (1, {"ehr": "degraded"})
    stale = results(report, EHR_DB_NAME)["resolver-a"]
    assert stale["ede"] == [{"code": 3, "name": "Stale Answer", "text": ""}]
    assert stale["answers"] == [EHR_DB]
    [ehr] = report["services"]
    assert ehr["runway_seconds"] is not None and 0 <= ehr["runway_seconds"] <= TTL + WINDOW
    zone = next(z for z in report["zones"] if z["name"] == REGION)
    assert zone["dark"] is True
    assert report["causes"][0]["kind"] == "zone_dark"

    # resolver-b has no serve_stale in the config: how long it lasts is said to be unknown.
    code, report = poll(config, result_is("resolver-b", "stale"), "resolver-b answers stale")
    assert code == 1
    reasons = report["services"][0]["reasons"]
    assert any("resolver-b serves expired answers for an unknown time" in r for r in reasons)

    # Once the stale window has passed too, the service is down.
    code, report = poll(config, lambda r: services(r) == {"ehr": "down"}, "ehr down", 25)
    assert code == 2


def test_impact_imagines_stale_answers_as_check_then_sees_them(
    make_region: Callable[..., TestRegion], tmp_path: Path
) -> None:
    region = stale_region(make_region)
    servers = [entry(n, s, serve_stale=f"{WINDOW}s") for n, s in region.resolvers.items()]
    servers += [
        entry(n, s, "authoritative", zones=[REGION]) for n, s in region.authoritative.items()
    ]
    names = [{"name": EHR_DB_NAME, "expect": [EHR_DB]}]
    config = write(tmp_path / "probes.yaml", servers, names, [EHR_DB_NAME])
    imagined = dnsmon(config, "impact", "--fail", "server:ns1", "--fail", "server:ns2",
                      "--format", "json")  # fmt: skip
    # Two moments: stale answers first, then nothing; it exits on the worse.
    holding, expired = imagined.json["moments"]
    assert (holding["moment"], holding["status"]) == ("caches_holding", "degraded")
    assert (expired["moment"], expired["status"]) == ("caches_expired", "down")
    assert expired["after_seconds"] == WINDOW
    assert imagined.code == 2, imagined.stdout
    assert services(imagined.json) == {"ehr": "down"}
    check(config)  # warm
    region.ns1.stop()
    region.ns2.stop()
    code, report = poll(config, result_is("resolver-b", "stale"), "stale answers")
    assert (code, report["status"]) == (1, holding["status"])
    assert holding["services"] == {"down": [], "degraded": ["ehr"]}
    # Once the stale window has passed, check sees what impact's later moment said.
    code, report = poll(config, lambda r: services(r) == {"ehr": "down"}, "ehr down", 25)
    assert (code, report["status"]) == (imagined.code, expired["status"])
    assert expired["services"] == {"down": ["ehr"], "degraded": []}


def test_bind_serving_stale_says_so_and_is_degraded(
    start_server: StartServer, tmp_path: Path
) -> None:
    ns1 = start_server(Knot({REGION: region_zone(ttl=TTL)}))
    resolver = start_server(BindResolver({REGION: [ns1]}, max_stale_ttl=WINDOW))
    servers = [entry("resolver-a", resolver, serve_stale=f"{WINDOW}s"),
               entry("ns1", ns1, "authoritative", zones=[REGION])]  # fmt: skip
    config = write(tmp_path / "probes.yaml", servers, [{"name": EHR_DB_NAME}], [EHR_DB_NAME])
    assert check(config)[0] == 0
    ns1.stop()
    code, report = poll(config, result_is("resolver-a", "stale"), "BIND answers stale")
    assert (code, services(report)) == (1, {"ehr": "degraded"})
    [ede] = results(report, EHR_DB_NAME)["resolver-a"]["ede"]
    assert (ede["code"], ede["text"]) == (3, "stale data prioritized over lookup")
    code, _ = poll(config, lambda r: services(r) == {"ehr": "down"}, "ehr down", 25)
    assert code == 2


# --- CNAME chains into another zone ---------------------------------------------------------


def test_a_cname_into_a_dark_zone_is_not_up(start_server: StartServer, tmp_path: Path) -> None:
    ns1 = start_server(Knot({REGION: region_zone(ttl=TTL, overrides=CROSS_ZONE_CNAME)}))
    ns3 = start_server(Nsd({OTHER: other_zone(ttl=TTL)}))
    resolver = start_server(Unbound({REGION: [ns1], OTHER: [ns3]}, max_rtt_ms=500))
    servers = [entry("resolver-a", resolver),
               entry("ns1", ns1, "authoritative", zones=[REGION]),
               entry("ns3", ns3, "authoritative", zones=[OTHER])]  # fmt: skip
    app = f"ehr-app.{REGION}"
    config = write(tmp_path / "probes.yaml", servers, [{"name": app, "expect": [OTHER_APP]}], [app])
    code, report = check(config)
    assert code == 0, report
    name = next(n for n in report["names"] if n["name"] == app)
    assert name["chain"] == [f"app.{OTHER}"]
    asked = results(report, app)["ns3"]
    assert (asked["qname"], asked["result"]) == (f"app.{OTHER}", "ok")

    ns3.stop()
    code, report = check(config)
    assert (code, services(report)) == (1, {"ehr": "degraded"})  # caches still answer
    assert report["services"][0]["runway_seconds"] is not None
    assert next(z for z in report["zones"] if z["name"] == OTHER)["dark"] is True
    assert report["causes"][0]["target"] == OTHER
    code, _ = poll(config, lambda r: services(r) == {"ehr": "down"}, "ehr down once cached out")
    assert code == 2


# --- a bad zone load --------------------------------------------------------------------------


def test_a_record_deleted_everywhere_starts_the_runway_before_anything_fails(
    make_region: Callable[..., TestRegion], tmp_path: Path
) -> None:
    region = make_region(ttl=30)
    config = region.write_probes(tmp_path / "probes.yaml")
    assert check(config)[0] == 0  # warm
    for server in ("ns1", "ns2"):
        region.set_zone(server, serial=2026112602, overrides={"ehr-db": None})
    code, report = check(config)
    assert code == 1
    ehr = next(s for s in report["services"] if s["name"] == "ehr")
    assert ehr["status"] == "degraded" and ehr["runway_seconds"] is not None
    assert 0 < ehr["runway_seconds"] <= 30
    [cause] = [c for c in report["causes"] if c["kind"] == "record_changed"]
    assert cause["target"] == f"{EHR_DB_NAME} A" and "ehr" in cause["services"]


# --- old servers, delegations, lost recursion ------------------------------------------------


def test_a_server_refusing_edns_is_asked_without_it(tmp_path: Path) -> None:
    with ZoneResponder("formerr_edns") as old:
        servers = [entry("old", old, "authoritative", zones=[REGION])]
        config = write(tmp_path / "probes.yaml", servers,
                       [{"name": EHR_DB_NAME, "expect": [EHR_DB]}], [EHR_DB_NAME])  # fmt: skip
        code, report = check(config)
        assert (code, services(report)) == (0, {"ehr": "up"}), report
        assert results(report, EHR_DB_NAME)["old"]["result"] == "ok"
        [facts] = report["servers"]
        assert (facts["answered"], facts["edns"]) == (True, False)
        assert any("does not speak EDNS" in note for note in report["notes"])
        assert old.plain_queries >= 2  # the name and the zone's serial, without EDNS


def test_a_delegated_child_zone_is_up_and_the_parent_is_not_silent(tmp_path: Path) -> None:
    with DelegatedRegion(ttl=30) as region:
        app = f"app.sub.{REGION}"
        servers = [entry("resolver", region.resolver),
                   entry("parent", region.parent, "authoritative", zones=[REGION])]  # fmt: skip
        config = write(tmp_path / "probes.yaml", servers, [{"name": app, "expect": [SUB_APP]}],
                       [app])  # fmt: skip
        code, report = check(config)
        assert (code, services(report)) == (0, {"ehr": "up"}), report
        parent = results(report, app)["parent"]
        assert (parent["result"], parent["referral"]) == ("ok", f"sub.{REGION}")
        assert all(s["answered"] for s in report["servers"])
        assert any(f"sub.{REGION} is delegated by parent" in n for n in report["notes"])

        # Told about the child's server, dnsmon asks it instead of the parent.
        servers.append(entry("child", region.child, "authoritative", zones=[f"sub.{REGION}"]))
        write(config, servers, [{"name": app, "expect": [SUB_APP]}], [app])
        code, report = check(config)
        assert code == 0
        assert set(results(report, app)) == {"resolver", "child"}


def test_a_resolver_that_lost_recursion_does_not_count(
    start_server: StartServer, tmp_path: Path
) -> None:
    bind = start_server(Bind({REGION: region_zone()}))  # authoritative, recursion off
    servers = [entry("resolver-a", bind)]  # …but listed as the clients' resolver
    config = write(tmp_path / "probes.yaml", servers, [{"name": EHR_DB_NAME}], [EHR_DB_NAME])
    code, report = check(config)
    assert (code, services(report)) == (2, {"ehr": "down"})
    result = results(report, EHR_DB_NAME)["resolver-a"]
    assert result["result"] == "error" and "recursion not available" in result["detail"]
    assert report["servers"][0]["recursion_available"] is False
