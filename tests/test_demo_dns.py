"""The embedded demo DNS servers behave like real ones, and the example region stays whole.

Every server here listens on 127.0.0.1, port 0; every query is a real dnspython query.
"""

from __future__ import annotations

import ipaddress
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import dns.flags
import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdata
import dns.rdatatype
import dns.zone
import pytest
import yaml

from monitor.demo.authoritative import AuthoritativeServer, DnsServer, load_demo_zones
from monitor.demo.resolver import CachingResolver

REPO = Path(__file__).resolve().parent.parent
LOOPBACK = "127.0.0.1"
CLIENT_TIMEOUT = 2.0

SHORT_TTL_ZONE = """
$ORIGIN short.test.
$TTL 2
@     IN SOA ns1 hostmaster 1 3600 600 86400 2
      IN NS  ns1
ns1   IN A   127.30.0.1
app   IN A   127.30.0.10
"""


def ask(
    server: DnsServer, name: str, rdtype: str, tcp: bool = False, **query_options: object
) -> dns.message.Message:
    """One real query to `server` over UDP (or TCP), as any DNS client would send it."""
    query = dns.message.make_query(name, rdtype, **query_options)  # type: ignore[arg-type]
    send = dns.query.tcp if tcp else dns.query.udp
    return send(query, LOOPBACK, timeout=CLIENT_TIMEOUT, port=server.port)


def answers(response: dns.message.Message, rdtype: str) -> set[str]:
    """The texts of every record of `rdtype` in the answer section."""
    wanted = dns.rdatatype.from_text(rdtype)
    return {rr.to_text() for rrset in response.answer if rrset.rdtype == wanted for rr in rrset}


def answer_ttl(response: dns.message.Message) -> int:
    return min(rrset.ttl for rrset in response.answer)


def wait_until(condition: Callable[[], bool], timeout: float) -> bool:
    """Poll `condition` until it holds or `timeout` passes; never a blind sleep."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return condition()


@pytest.fixture(scope="module")
def authoritative() -> Iterator[AuthoritativeServer]:
    with AuthoritativeServer(load_demo_zones(), LOOPBACK, 0) as server:
        yield server


@pytest.fixture
def short_ttl_pair() -> Iterator[tuple[AuthoritativeServer, CachingResolver]]:
    zone = dns.zone.from_text(SHORT_TTL_ZONE, "short.test", relativize=False)
    upstream = AuthoritativeServer([zone], LOOPBACK, 0)
    upstream.start()
    resolver = CachingResolver([(LOOPBACK, upstream.port)], LOOPBACK, 0)
    resolver.start()
    yield upstream, resolver
    resolver.stop()
    upstream.stop()


# --- the authoritative server ---------------------------------------------------------


def test_demo_zones_are_found_in_the_package() -> None:
    origins = {str(zone.origin) for zone in load_demo_zones()}
    assert origins == {"region.internal.", "20.127.in-addr.arpa."}


def test_authoritative_answers_match_the_zone(authoritative: AuthoritativeServer) -> None:
    response = ask(authoritative, "ehr-db.region.internal", "A")
    assert response.rcode() == dns.rcode.NOERROR
    assert response.flags & dns.flags.AA
    assert answers(response, "A") == {"127.20.1.15"}
    assert answers(ask(authoritative, "_ldap._tcp.region.internal", "SRV"), "SRV") == {
        "0 100 389 ldap1.region.internal.",
        "0 100 389 ldap2.region.internal.",
    }
    assert answers(ask(authoritative, "region.internal", "MX"), "MX") == {
        "10 mail.region.internal.",
        "20 mail2.region.internal.",
    }
    assert answers(ask(authoritative, "50.4.20.127.in-addr.arpa", "PTR"), "PTR") == {
        "ct1.region.internal."
    }
    assert answers(ask(authoritative, "_kerberos.region.internal", "TXT"), "TXT") == {
        '"REGION.INTERNAL"'
    }


def test_alias_is_answered_with_the_cname_and_its_target(
    authoritative: AuthoritativeServer,
) -> None:
    response = ask(authoritative, "ehr.region.internal", "A")
    assert answers(response, "CNAME") == {"ehr-app.region.internal."}
    assert answers(response, "A") == {"127.20.1.10", "127.20.1.11"}


def test_unknown_name_is_nxdomain_with_the_soa(authoritative: AuthoritativeServer) -> None:
    response = ask(authoritative, "no-such-host.region.internal", "A")
    assert response.rcode() == dns.rcode.NXDOMAIN
    assert response.flags & dns.flags.AA
    assert [rrset.rdtype for rrset in response.authority] == [dns.rdatatype.SOA]
    assert response.authority[0].ttl == 30  # min(SOA TTL, SOA minimum), RFC 2308


def test_missing_type_is_nodata_with_the_soa(authoritative: AuthoritativeServer) -> None:
    response = ask(authoritative, "ehr-db.region.internal", "AAAA")
    assert response.rcode() == dns.rcode.NOERROR
    assert response.answer == []
    assert [rrset.rdtype for rrset in response.authority] == [dns.rdatatype.SOA]


def test_empty_non_terminal_is_nodata_not_nxdomain(authoritative: AuthoritativeServer) -> None:
    response = ask(authoritative, "_tcp.region.internal", "SRV")
    assert response.rcode() == dns.rcode.NOERROR
    assert response.answer == []


def test_name_outside_the_zones_is_refused(authoritative: AuthoritativeServer) -> None:
    response = ask(authoritative, "www.outside.test", "A")
    assert response.rcode() == dns.rcode.REFUSED
    assert not response.flags & dns.flags.AA


def test_edns_is_echoed(authoritative: AuthoritativeServer) -> None:
    assert ask(authoritative, "lab.region.internal", "A", use_edns=0).edns == 0
    assert ask(authoritative, "lab.region.internal", "A").edns == -1


def test_big_answer_is_truncated_over_udp_and_whole_over_tcp(
    authoritative: AuthoritativeServer,
) -> None:
    over_udp = ask(authoritative, "big.region.internal", "TXT")
    assert over_udp.flags & dns.flags.TC
    assert over_udp.answer == []
    small_edns = ask(authoritative, "big.region.internal", "TXT", use_edns=0, payload=512)
    assert small_edns.flags & dns.flags.TC
    over_tcp = ask(authoritative, "big.region.internal", "TXT", tcp=True)
    assert not over_tcp.flags & dns.flags.TC
    assert len(answers(over_tcp, "TXT")) == 5


def test_big_answer_fits_a_large_edns_payload(authoritative: AuthoritativeServer) -> None:
    response = ask(authoritative, "big.region.internal", "TXT", use_edns=0, payload=1232)
    assert not response.flags & dns.flags.TC
    assert len(answers(response, "TXT")) == 5


def test_garbage_does_not_kill_the_server(authoritative: AuthoritativeServer) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(CLIENT_TIMEOUT)
        sock.sendto(b"\x00", (LOOPBACK, authoritative.port))  # too short to answer at all
        sock.sendto(b"\x12\x34\x01\x00" + b"\xff" * 20, (LOOPBACK, authoritative.port))
        reply, _ = sock.recvfrom(512)
    assert reply[:2] == b"\x12\x34"
    assert reply[3] & 0x0F == dns.rcode.FORMERR
    assert ask(authoritative, "lab.region.internal", "A").rcode() == dns.rcode.NOERROR


def test_failure_modes_and_recovery() -> None:
    with AuthoritativeServer(load_demo_zones(), LOOPBACK, 0) as server:
        server.fail("servfail")
        assert ask(server, "lab.region.internal", "A").rcode() == dns.rcode.SERVFAIL
        server.fail("refused")
        assert ask(server, "lab.region.internal", "A").rcode() == dns.rcode.REFUSED
        server.fail("timeout")
        with pytest.raises(dns.exception.Timeout):
            query = dns.message.make_query("lab.region.internal", "A")
            dns.query.udp(query, LOOPBACK, timeout=0.3, port=server.port)
        server.recover()
        assert ask(server, "lab.region.internal", "A").rcode() == dns.rcode.NOERROR
        with pytest.raises(ValueError):
            server.fail("explode")


def test_serial_and_records_can_be_changed() -> None:
    with AuthoritativeServer(load_demo_zones(), LOOPBACK, 0) as server:
        server.set_serial("region.internal", 2026112602)
        soa = ask(server, "region.internal", "SOA")
        assert soa.answer[0][0].serial == 2026112602
        server.set_record("ehr-db.region.internal", "A", ["127.20.1.99"])
        assert answers(ask(server, "ehr-db.region.internal", "A"), "A") == {"127.20.1.99"}
        server.set_record("ehr-db.region.internal", "A", [])
        assert ask(server, "ehr-db.region.internal", "A").rcode() == dns.rcode.NXDOMAIN


def test_stop_frees_the_port_at_once() -> None:
    server = AuthoritativeServer(load_demo_zones(), LOOPBACK, 0)
    server.start()
    port = server.port
    assert port != 0
    started = time.monotonic()
    server.stop()
    assert time.monotonic() - started < 1.0
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        udp.bind((LOOPBACK, port))
    again = AuthoritativeServer(load_demo_zones(), LOOPBACK, port)
    again.start()  # binds TCP and UDP on the very same port
    again.stop()


# --- the caching resolver -------------------------------------------------------------


def test_resolver_hands_out_a_decreasing_ttl(authoritative: AuthoritativeServer) -> None:
    with CachingResolver([(LOOPBACK, authoritative.port)], LOOPBACK, 0) as resolver:
        first = ask(resolver, "ehr-db.region.internal", "A")
        time.sleep(1.1)  # the TTL counts whole seconds: one must pass
        second = ask(resolver, "ehr-db.region.internal", "A")
    assert first.flags & dns.flags.RA and not first.flags & dns.flags.AA
    assert answers(second, "A") == {"127.20.1.15"}
    assert answer_ttl(first) == 60
    assert answer_ttl(second) < answer_ttl(first)


def test_resolver_tries_the_next_upstream(authoritative: AuthoritativeServer) -> None:
    dead = AuthoritativeServer(load_demo_zones(), LOOPBACK, 0)
    with dead:
        dead.fail("servfail")
        upstreams = [(LOOPBACK, dead.port), (LOOPBACK, authoritative.port)]
        with CachingResolver(upstreams, LOOPBACK, 0) as resolver:
            response = ask(resolver, "lab.region.internal", "A")
    assert answers(response, "A") == {"127.20.3.10"}


def test_resolver_answers_from_cache_until_expiry_then_servfails(
    short_ttl_pair: tuple[AuthoritativeServer, CachingResolver],
) -> None:
    upstream, resolver = short_ttl_pair
    assert answers(ask(resolver, "app.short.test", "A"), "A") == {"127.30.0.10"}
    upstream.fail("timeout")
    cached = ask(resolver, "app.short.test", "A")
    assert answers(cached, "A") == {"127.30.0.10"}
    assert answer_ttl(cached) <= 2

    def servfails() -> bool:
        return ask(resolver, "app.short.test", "A").rcode() == dns.rcode.SERVFAIL

    assert wait_until(servfails, timeout=4.0)
    upstream.recover()
    assert answers(ask(resolver, "app.short.test", "A"), "A") == {"127.30.0.10"}


def test_resolver_caches_negative_answers(
    short_ttl_pair: tuple[AuthoritativeServer, CachingResolver],
) -> None:
    upstream, resolver = short_ttl_pair
    assert ask(resolver, "gone.short.test", "A").rcode() == dns.rcode.NXDOMAIN
    upstream.fail("timeout")
    assert ask(resolver, "gone.short.test", "A").rcode() == dns.rcode.NXDOMAIN


def test_resolver_can_be_told_to_fail_and_recover(
    short_ttl_pair: tuple[AuthoritativeServer, CachingResolver],
) -> None:
    _, resolver = short_ttl_pair
    resolver.fail("refused")
    assert ask(resolver, "app.short.test", "A").rcode() == dns.rcode.REFUSED
    resolver.recover()
    assert ask(resolver, "app.short.test", "A").rcode() == dns.rcode.NOERROR


# --- the example region: probes.yaml and the zone files never drift apart ---------------


def example_config() -> Any:
    with open(REPO / "probes.yaml", encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def canonical(rdtype: str, text: object) -> str:
    """An `expect` entry as dnspython prints that record: names relative to the root."""
    rdata = dns.rdata.from_text("IN", rdtype, str(text), origin=dns.name.root)
    return rdata.to_text()


def test_every_example_name_resolves_as_expected(authoritative: AuthoritativeServer) -> None:
    for entry in example_config()["names"]:
        response = ask(authoritative, entry["name"], entry["type"], tcp=True)
        found = answers(response, entry["type"])
        assert response.rcode() == dns.rcode.NOERROR, entry
        assert found, f"{entry['name']} {entry['type']} has no records in the demo zones"
        if "expect" in entry:
            assert found == {canonical(entry["type"], value) for value in entry["expect"]}, entry


def test_every_dependency_of_the_example_is_listed() -> None:
    config = example_config()
    names = {entry["name"] for entry in config["names"]}
    services = {service["name"] for service in config["services"]}
    for service in config["services"]:
        routines = [service, *service.get("backups", [])]
        for dependency in (dep for routine in routines for dep in routine["depends_on"]):
            if dependency.startswith("service:"):
                assert dependency.removeprefix("service:") in services, dependency
            else:
                assert dependency in names, dependency


def test_example_servers_and_records_stay_on_loopback() -> None:
    for server in example_config()["servers"]:
        assert ipaddress.ip_address(server["address"]).is_loopback
    for zone in load_demo_zones():
        for _, _, rdata in zone.iterate_rdatas("A"):
            assert ipaddress.ip_address(rdata.to_text()).is_loopback
        for _, _, rdata in zone.iterate_rdatas("AAAA"):
            assert ipaddress.ip_address(rdata.to_text()).is_loopback
