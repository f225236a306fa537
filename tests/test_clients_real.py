"""As the clients see it, against real resolvers: dnsmon's lookup verdict and time for a
group of glibc clients, held to what glibc's own getent gets in the same test.

Each test runs real Unbound or BIND on port 53 of addresses of their own (where glibc
asks), a real Knot behind them, then ``dnsmon check`` with a client group listing the
resolvers in the order getent's resolv.conf does (glibc defaults: timeout 5, attempts 2).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from clientlookup import Lookup, lookup, require_getent
from dnsmon_cli import check, services
from servers import LOOPBACK, BindResolver, Knot, Server, StartServer, Unbound, free_port
from zones import AD, AD_DC, MANY, REGION, REVERSE, ad_zone

pytestmark = pytest.mark.integration

EHR = f"ehr-db.{REGION}"
WARDS_ALL = f"{MANY}.{REGION}"
DC1 = f"dc1.{AD}"
TOLERANCE = 1.0  # seconds: dnsmon's replayed time against getent's measured one


@pytest.fixture(autouse=True)
def _getent() -> None:
    require_getent()


def server(name: str, found: Server, role: Any = "recursive", **extra: Any) -> dict[str, Any]:
    return {"name": name, "address": found.address, "port": found.port, "role": role, **extra}


def probes(
    tmp_path: Path, resolvers: list[dict[str, Any]], authority: Knot | None, names: list[str],
    *, group: dict[str, Any] | None = None,
) -> Path:  # fmt: skip
    """A probes.yaml with the wards (glibc) asking these resolvers in this order, and one
    service per name."""
    servers = list(resolvers)
    if authority is not None:
        servers.append(server("ns1", authority, "authoritative", zones=[REGION, REVERSE]))
    document = {
        "version": 1, "site": "ward-test",
        "defaults": {"interval": "10s", "timeout": "1s", "attempts": 2},
        "servers": servers,
        "clients": [{"name": "wards", "resolvers": [r["name"] for r in resolvers],
                     "stub": "glibc", **(group or {})}],
        "names": [{"name": n} for n in names],
        "services": [{"name": n.split(".")[0], "depends_on": [n]} for n in names],
    }  # fmt: skip
    path = tmp_path / "probes.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def verdict(report: dict[str, Any], name: str) -> dict[str, Any]:
    """The wards' lookup of ``name`` in a report."""
    entry = next(n for n in report["names"] if n["name"] == name)
    [found] = [x for x in entry["lookups"] if x["client"] == "wards"]
    return found


def held_to(found: dict[str, Any], measured: Lookup) -> None:
    """dnsmon's lookup says what glibc got: an answer or none, and about when."""
    assert (found["result"] != "fails") == measured.found, (found, measured)
    assert abs(found["seconds"] - measured.seconds) <= TOLERANCE, (found, measured)


def causes(report: dict[str, Any]) -> list[tuple[str, str]]:
    return [(c["kind"], c["target"]) for c in report["causes"]]


def two_resolvers(
    tmp_path: Path, authority: Knot, resolver: Callable[..., Unbound], name: str = EHR,
    a: dict[str, Any] | None = None, b: dict[str, Any] | None = None,
) -> tuple[Unbound, Unbound, Path]:  # fmt: skip
    """resolver-a and resolver-b (with these Unbound options), and a config whose wards
    ask them in that order for ``name``."""
    first, second = resolver(**(a or {})), resolver(**(b or {}))
    entries = [server("resolver-a", first), server("resolver-b", second)]
    return first, second, probes(tmp_path, entries, authority, [name])


def both_ways(
    config: Path, name: str, servers: list[Server]
) -> tuple[Lookup, int, dict[str, Any], dict[str, Any]]:
    """glibc's getent lookup, then ``dnsmon check``: what was measured, the exit code,
    the report and the wards' replayed lookup of ``name``."""
    measured = lookup(name, servers)
    code, report = check(config)
    return measured, code, report, verdict(report, name)


def test_healthy_resolvers_are_ok_for_the_wards(
    tmp_path: Path, authority: Knot, resolver: Callable[..., Unbound]
) -> None:
    a, b, config = two_resolvers(tmp_path, authority, resolver)
    measured, code, report, found = both_ways(config, EHR, [a, b])
    assert (code, found["result"], found["answered_by"]) == (0, "ok", "resolver-a")
    held_to(found, measured)
    ehr = report["services"][0]
    assert (ehr["people"], ehr["clients"][0]["status"]) == ("working", "up")


def test_a_hung_first_resolver_makes_every_lookup_wait_five_seconds(
    tmp_path: Path, authority: Knot, resolver: Callable[..., Unbound]
) -> None:
    a, b, config = two_resolvers(tmp_path, authority, resolver)
    a.pause()
    measured, code, report, found = both_ways(config, EHR, [a, b])
    assert measured.found and measured.seconds > 4.5
    assert (found["result"], found["answered_by"]) == ("slow", "resolver-b")
    assert found["path"].startswith("resolver-a silent 5 s, resolver-b ok")
    held_to(found, measured)
    assert code == 1 and services(report) == {"ehr-db": "degraded"}
    [cause] = report["causes"]
    assert (cause["kind"], cause["target"]) == ("server_silent", "resolver-a")
    assert cause["summary"].endswith("; every lookup from wards waits 5 s")


def test_a_stopped_first_resolver_costs_the_clients_nothing(
    tmp_path: Path, authority: Knot, resolver: Callable[..., Unbound]
) -> None:
    a, b, config = two_resolvers(tmp_path, authority, resolver)
    a.stop()  # its port is closed: glibc moves on at once
    measured, code, report, found = both_ways(config, EHR, [a, b])
    assert found["result"] == "ok"
    held_to(found, measured)
    assert causes(report) == [("server_unreachable", "resolver-a")]


def test_an_nxdomain_from_the_first_resolver_is_down_for_the_wards(
    tmp_path: Path, authority: Knot, resolver: Callable[..., Unbound]
) -> None:
    a, b, config = two_resolvers(tmp_path, authority, resolver, a={"nxdomain": [EHR]})
    measured, code, report, found = both_ways(config, EHR, [a, b])
    assert not measured.found
    assert (found["result"], found["answered_by"]) == ("fails", "resolver-a")
    held_to(found, measured)
    assert code == 2 and report["services"][0]["people"] == "use_backups"
    assert causes(report) == [("negative_answer", "resolver-a")]


def test_a_refusing_resolver_is_refused_and_the_wards_move_on(
    tmp_path: Path, authority: Knot, resolver: Callable[..., Unbound]
) -> None:
    refuse = {"access_control": {"127.0.0.0/8": "refuse"}}
    a, b, config = two_resolvers(tmp_path, authority, resolver, a=refuse)
    measured, code, report, found = both_ways(config, EHR, [a, b])
    held_to(found, measured)
    assert found["result"] == "ok" and found["answered_by"] == "resolver-b"
    a_result = next(r for r in report["names"][0]["results"] if r["server"] == "resolver-a")
    assert a_result["result"] == "refused"  # a reply with no question section
    assert causes(report) == [("refused", "resolver-a")]
    assert report["services"][0]["people"] == "working"


def test_a_large_answer_with_tcp_off_fails_for_the_wards(
    tmp_path: Path, authority: Knot, resolver: Callable[..., Unbound]
) -> None:
    no_tcp = {"tcp": False}
    a, b, config = two_resolvers(tmp_path, authority, resolver, WARDS_ALL, no_tcp, no_tcp)
    measured, code, report, found = both_ways(config, WARDS_ALL, [a, b])
    assert not measured.found
    assert found["result"] == "fails"
    held_to(found, measured)
    name = next(n for n in report["names"] if n["name"] == WARDS_ALL)
    assert name["status"] == "healthy"  # dnsmon's own EDNS answers fit in 1232 bytes
    assert code == 2
    assert set(causes(report)) == {("tcp_unavailable", "resolver-a"),
                                   ("tcp_unavailable", "resolver-b")}  # fmt: skip


def test_a_broken_view_for_the_wards_address_is_down(
    tmp_path: Path, authority: Knot, start_server: StartServer
) -> None:
    """BIND with views by source address: the wards' view is broken, the one dnsmon's
    own address lands in works."""
    port = free_port()
    split = start_server(BindResolver({REGION: [authority], REVERSE: [authority]},
                                      client_facing=True, broken_view_clients=["self"],
                                      also_listen=[(LOOPBACK, port)]))  # fmt: skip
    wards = split.address  # glibc here asks it from this address
    entry = {"name": "resolver-a", "address": LOOPBACK, "port": port, "role": "recursive"}
    config = probes(tmp_path, [entry], authority, [EHR], group={"source": wards})
    measured, code, report, found = both_ways(config, EHR, [split])
    assert not measured.found
    assert found["result"] == "fails"
    held_to(found, measured)
    name = next(n for n in report["names"] if n["name"] == EHR)
    own = next(r for r in name["results"] if r["server"] == "resolver-a" and "client" not in r)
    assert own["result"] == "ok"  # dnsmon's own address gets the working view
    assert code == 2 and services(report) == {"ehr-db": "down"}
    assert causes(report) == [("view_differs", f"{EHR} A")]


def test_an_ad_style_server_whose_zone_did_not_load(
    tmp_path: Path, authority: Knot, start_server: StartServer
) -> None:
    """One BIND, a resolver for the wards and the authority for its AD zone, with a
    broken zone file: the zone is not loaded, not unreachable."""
    dc1 = start_server(BindResolver({REGION: [authority], REVERSE: [authority]},
                                    client_facing=True, primary_zones={AD: ad_zone()}))  # fmt: skip
    entry = server("dc1", dc1, ["recursive", "authoritative"], zones=[AD])
    config = probes(tmp_path, [entry], authority, [DC1, EHR])
    code, report = check(config)
    assert code == 0 and verdict(report, DC1)["result"] == "ok"
    assert lookup(DC1, [dc1]).addresses == (AD_DC,)
    dc1.break_zone(AD)
    measured, code, report, found = both_ways(config, DC1, [dc1])
    assert not measured.found
    assert found["result"] == "fails"
    held_to(found, measured)
    assert verdict(report, EHR)["result"] == "ok"  # it still resolves the rest
    assert code == 2 and services(report) == {"dc1": "down", "ehr-db": "up"}
    assert causes(report) == [("zone_not_loaded", AD)]
