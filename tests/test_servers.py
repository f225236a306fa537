"""The integration test servers themselves: they start, answer, misbehave and stop."""

from __future__ import annotations

import os
import socket
from collections.abc import Callable

import dns.exception
import dns.flags
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
import pytest
import yaml
from servers import (
    LOOPBACK,
    Bind,
    HostileResponder,
    Knot,
    StartServer,
    TestRegion,
    Unbound,
    ask,
)
from zones import BIG_TXT_STRINGS, DEFAULT_SERIAL, EHR_DB, REGION, region_zone, region_zones

pytestmark = pytest.mark.integration


def answers(response: dns.message.Message) -> list[str]:
    return sorted(rdata.to_text() for rrset in response.answer for rdata in rrset)


@pytest.mark.parametrize("kind", [Knot, Bind])
def test_authoritative_answers_soa_with_configured_serial(
    kind: type[Knot] | type[Bind], start_server: StartServer
) -> None:
    server = start_server(kind(region_zones(serial=2026120199)))
    response = server.query(REGION, "SOA")
    assert response.flags & dns.flags.AA
    assert server.serial() == 2026120199


def test_region_serves_the_zone_everywhere(region: TestRegion) -> None:
    assert region.ns1.serial() == region.ns2.serial() == DEFAULT_SERIAL
    for name, server in region.servers.items():
        response = server.query("ehr-db.region.internal", "A")
        assert answers(response) == [EHR_DB], name
        reverse = server.query("15.1.20.127.in-addr.arpa", "PTR")
        assert answers(reverse) == ["ehr-db.region.internal."], name


def test_resolvers_answer_recursively_through_their_stubs(region: TestRegion) -> None:
    for resolver in region.resolvers.values():
        response = resolver.query("www.region.internal", "A")
        assert response.flags & dns.flags.RA
        assert answers(response) == sorted([EHR_DB, "ehr-db.region.internal."])
        assert resolver.stats()["total.num.queries"] >= 1


def test_nodata_and_nxdomain(region: TestRegion) -> None:
    for name, server in region.servers.items():
        nodata = server.query("v4only.region.internal", "AAAA")
        assert (nodata.rcode(), nodata.answer) == (dns.rcode.NOERROR, []), name
        assert nodata.authority[0].rdtype == dns.rdatatype.SOA, name
        missing = server.query("no-such-host.region.internal", "A")
        assert missing.rcode() == dns.rcode.NXDOMAIN, name


def test_big_txt_is_truncated_over_udp_and_complete_over_tcp(region: TestRegion) -> None:
    for name, server in region.servers.items():
        udp = server.query("big.region.internal", "TXT", payload=1232)
        assert udp.flags & dns.flags.TC, name
        tcp = server.query("big.region.internal", "TXT", tcp=True)
        assert not tcp.flags & dns.flags.TC, name
        strings = [s.decode() for s in tcp.answer[0][0].strings]
        assert strings == BIG_TXT_STRINGS, name


def test_unbound_refuse_zones(region: TestRegion, start_server: StartServer) -> None:
    resolver = start_server(
        Unbound({REGION: [region.ns1, region.ns2]}, refuse_zones=["lab.region.internal"])
    )
    assert resolver.query("lab.region.internal").rcode() == dns.rcode.REFUSED
    assert answers(resolver.query("ehr-db.region.internal")) == [EHR_DB]
    resolver.flush()
    assert answers(resolver.query("ehr-db.region.internal")) == [EHR_DB]


def test_bind_refuse_zones(start_server: StartServer) -> None:
    server = start_server(Bind(region_zones(), refuse_zones=[REGION]))
    assert server.query("ehr-db.region.internal").rcode() == dns.rcode.REFUSED
    assert server.query("15.1.20.127.in-addr.arpa", "PTR").rcode() == dns.rcode.NOERROR


def _bindable(port: int) -> bool:
    """Whether a new server could bind this port for UDP and TCP now."""
    try:
        with (
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp,
            socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp,
        ):
            udp.bind((LOOPBACK, port))
            tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            tcp.bind((LOOPBACK, port))
            tcp.listen()
        return True
    except OSError:
        return False


@pytest.mark.parametrize("kind", [Knot, Bind])
def test_stop_frees_the_port_and_restart_reuses_it(
    kind: type[Knot] | type[Bind], start_server: StartServer
) -> None:
    server = start_server(kind(region_zones()))
    server.query(REGION, "SOA", tcp=True)
    pid, port = server.pid, server.port
    assert pid is not None and not _bindable(port)
    server.stop()
    assert not server.running and server.pid is None
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    assert _bindable(port)
    server.restart()
    assert server.port == port and server.pid != pid
    assert server.serial() == DEFAULT_SERIAL


def test_resolver_stop_frees_the_port(region: TestRegion, start_server: StartServer) -> None:
    resolver = start_server(Unbound({REGION: [region.ns1]}))
    resolver.query("ehr-db.region.internal")
    resolver.stop()
    assert _bindable(resolver.port)
    with pytest.raises(dns.exception.Timeout):
        ask(resolver, "ehr-db.region.internal", timeout=0.3)


@pytest.mark.parametrize("kind", [Knot, Bind])
def test_set_zone_serves_the_new_content(
    kind: type[Knot] | type[Bind], start_server: StartServer
) -> None:
    server = start_server(kind(region_zones()))
    pid = server.pid
    server.set_zone(REGION, region_zone(DEFAULT_SERIAL + 1, overrides={"ehr-db": "A 127.20.1.99"}))
    assert server.serial() == DEFAULT_SERIAL + 1
    assert answers(server.query("ehr-db.region.internal")) == ["127.20.1.99"]
    if kind is Knot:
        assert server.pid == pid  # reloaded in place


def test_region_set_zone_makes_serials_differ(
    make_region: Callable[..., TestRegion],
) -> None:
    region = make_region(serials={"ns2": DEFAULT_SERIAL - 1})
    assert (region.ns1.serial(), region.ns2.serial()) == (DEFAULT_SERIAL, DEFAULT_SERIAL - 1)
    region.set_zone("ns1", DEFAULT_SERIAL + 5, overrides={"lab": None})
    assert region.ns1.query("lab.region.internal").rcode() == dns.rcode.NXDOMAIN
    region.reset()
    assert region.ns1.serial() == DEFAULT_SERIAL
    assert region.ns1.query("lab.region.internal").rcode() == dns.rcode.NOERROR


def test_probes_yaml_lists_every_server(region: TestRegion) -> None:
    document = yaml.safe_load(region.probes_yaml(defaults={"timeout": "500ms"}))
    ports = {s["name"]: s["port"] for s in document["servers"]}
    assert ports == {name: server.port for name, server in region.servers.items()}
    assert document["defaults"]["timeout"] == "500ms"
    assert {s["name"] for s in document["services"]} == {"sso", "ehr"}


def _raw_exchange(responder: HostileResponder) -> tuple[dns.message.Message, bytes]:
    query = dns.message.make_query("ehr-db.region.internal", "A")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(2)
        sock.sendto(query.to_wire(), (responder.address, responder.port))
        return query, sock.recv(65535)


def test_hostile_garbage_never_parses(hostile: Callable[..., HostileResponder]) -> None:
    responder = hostile("garbage")
    for _ in range(20):
        _, wire = _raw_exchange(responder)
        with pytest.raises(dns.exception.FormError):
            dns.message.from_wire(wire)
    with pytest.raises(dns.exception.FormError):
        ask(responder, "ehr-db.region.internal", timeout=1)


def test_hostile_wrong_id(hostile: Callable[..., HostileResponder]) -> None:
    responder = hostile("wrong_id")
    query, wire = _raw_exchange(responder)
    response = dns.message.from_wire(wire)
    assert response.flags & dns.flags.QR and response.id != query.id
    assert not query.is_response(response)


def test_hostile_truncated_and_tcp_refused(hostile: Callable[..., HostileResponder]) -> None:
    responder = hostile("truncated", tcp=True)
    response = ask(responder, "ehr-db.region.internal", timeout=1)
    assert response.flags & dns.flags.TC and not response.answer
    with pytest.raises(ConnectionRefusedError):
        ask(responder, "ehr-db.region.internal", tcp=True, timeout=1)


def test_hostile_silent_and_servfail(hostile: Callable[..., HostileResponder]) -> None:
    responder = hostile("silent", tcp=True)
    with pytest.raises(dns.exception.Timeout):
        ask(responder, "ehr-db.region.internal", timeout=0.3)
    with pytest.raises(dns.exception.Timeout):
        ask(responder, "ehr-db.region.internal", tcp=True, timeout=0.3)
    responder.mode = "servfail"
    assert ask(responder, "ehr-db.region.internal").rcode() == dns.rcode.SERVFAIL
    assert ask(responder, "ehr-db.region.internal", tcp=True).rcode() == dns.rcode.SERVFAIL
    assert responder.queries == 4
