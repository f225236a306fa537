"""The integration test servers themselves: they start, answer, misbehave and stop."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable

import dns.edns
import dns.exception
import dns.flags
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
import pytest
import yaml
from responders import NO_REACHABLE_AUTHORITY, STALE, ZoneResponder
from servers import (
    LOOPBACK,
    STALE_REPLY_TTL,
    Bind,
    BindResolver,
    DelegatedRegion,
    HostileResponder,
    Knot,
    Nsd,
    Server,
    StartServer,
    TestRegion,
    Unbound,
    ask,
)
from zones import (
    BIG_TXT_STRINGS,
    CROSS_ZONE_CNAME,
    DEFAULT_SERIAL,
    EHR_DB,
    OTHER,
    OTHER_APP,
    REGION,
    REVERSE,
    SUB,
    SUB_APP,
    SUB_SERVER,
    other_zone,
    region_zone,
    region_zones,
)

pytestmark = pytest.mark.integration


def answers(response: dns.message.Message) -> list[str]:
    return sorted(rdata.to_text() for rrset in response.answer for rdata in rrset)


@pytest.mark.parametrize("kind", [Knot, Bind, Nsd])
def test_authoritative_answers_soa_with_configured_serial(
    kind: type[Knot] | type[Bind] | type[Nsd], start_server: StartServer
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


@pytest.mark.parametrize("kind", [Knot, Bind, Nsd])
def test_stop_frees_the_port_and_restart_reuses_it(
    kind: type[Knot] | type[Bind] | type[Nsd], start_server: StartServer
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


@pytest.mark.parametrize("kind", [Knot, Bind, Nsd])
def test_set_zone_serves_the_new_content(
    kind: type[Knot] | type[Bind] | type[Nsd], start_server: StartServer
) -> None:
    server = start_server(kind(region_zones()))
    pid = server.pid
    server.set_zone(REGION, region_zone(DEFAULT_SERIAL + 1, overrides={"ehr-db": "A 127.20.1.99"}))
    assert server.serial() == DEFAULT_SERIAL + 1
    assert answers(server.query("ehr-db.region.internal")) == ["127.20.1.99"]
    if kind in (Knot, Nsd):
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


# --- Stale answers, EDE, delegations, cross-zone chains, quirky responders ---


def edes(response: dns.message.Message) -> list[tuple[int, str | None]]:
    return [(int(o.code), o.text) for o in response.options if isinstance(o, dns.edns.EDEOption)]


def poll(
    server: Server, qname: str, done: Callable[[dns.message.Message], bool], within: float
) -> tuple[dns.message.Message, float]:
    """Ask until `done(response)`; that response and the slowest answer seen (s)."""
    deadline = time.monotonic() + within
    slowest = 0.0
    while True:
        started = time.monotonic()
        response = ask(server, qname, timeout=2)
        slowest = max(slowest, time.monotonic() - started)
        if done(response):
            return response, slowest
        assert time.monotonic() < deadline, f"{server!r} still answers {response}"
        time.sleep(0.1)


def is_stale(response: dns.message.Message) -> bool:
    return any(code == dns.edns.EDECode.STALE_ANSWER for code, _ in edes(response))


def is_servfail(response: dns.message.Message) -> bool:
    return response.rcode() == dns.rcode.SERVFAIL


def _check_stale_then_servfail(
    resolver: Unbound | BindResolver, authority: Server, ttl: int, stale_for: int
) -> str | None:
    """Cache a name, stop its authority, and see it served stale (at once, TTL 30, EDE 3)
    until `stale_for` seconds past expiry, then fail with SERVFAIL (at once, no EDE).
    The stale answer's EDE text."""
    name = "ehr-db.region.internal"
    assert answers(resolver.query(name)) == [EHR_DB]
    authority.stop()
    stale, slowest = poll(resolver, name, is_stale, within=ttl + 2)
    assert (stale.rcode(), answers(stale)) == (dns.rcode.NOERROR, [EHR_DB])
    assert stale.answer[0].ttl == STALE_REPLY_TTL
    assert slowest < 0.5
    canary = resolver.query("never-cached.region.internal")  # the authority is gone
    assert (canary.rcode(), edes(canary)) == (dns.rcode.SERVFAIL, [])
    failed, slowest = poll(resolver, name, is_servfail, within=stale_for + 2)
    assert edes(failed) == [] and slowest < 1.5
    return edes(stale)[0][1]


def test_unbound_serves_expired_answers_with_ede_3(start_server: StartServer) -> None:
    authority = start_server(Knot(region_zones(ttl=2)))
    resolver = start_server(Unbound({REGION: [authority]}, serve_expired_ttl=4, max_rtt_ms=500))
    text = _check_stale_then_servfail(resolver, authority, ttl=2, stale_for=4)
    assert not text  # Unbound 1.17 sends EDE 3 with no text


def test_unbound_max_rtt_makes_an_unreachable_authority_a_quick_servfail(
    start_server: StartServer,
) -> None:
    authority = start_server(Knot(region_zones()))
    resolver = start_server(Unbound({REGION: [authority]}, max_rtt_ms=500, ede=True))
    authority.stop()
    started = time.monotonic()
    response = ask(resolver, "ehr-db.region.internal", timeout=3)
    assert time.monotonic() - started < 1.5
    assert (response.rcode(), edes(response)) == (dns.rcode.SERVFAIL, [])


def test_bind_resolver_answers_through_forwarders(
    region: TestRegion, start_server: StartServer
) -> None:
    resolver = start_server(
        BindResolver({REGION: [region.ns1, region.ns2], REVERSE: [region.ns1, region.ns2]})
    )
    response = resolver.query("www.region.internal")
    assert response.flags & dns.flags.RA and not response.flags & dns.flags.AA
    assert answers(response) == sorted([EHR_DB, "ehr-db.region.internal."])
    assert answers(resolver.query("15.1.20.127.in-addr.arpa", "PTR")) == ["ehr-db.region.internal."]
    assert resolver.query("no-such-host.region.internal").rcode() == dns.rcode.NXDOMAIN


def test_bind_resolver_serves_stale_answers_with_ede_3(start_server: StartServer) -> None:
    authority = start_server(Knot(region_zones(ttl=2)))
    resolver = start_server(BindResolver({REGION: [authority]}, max_stale_ttl=4))
    text = _check_stale_then_servfail(resolver, authority, ttl=2, stale_for=4)
    assert text == "stale data prioritized over lookup"


def test_nsd_binds_another_loopback_address(start_server: StartServer) -> None:
    first = start_server(Knot(region_zones()))
    second = start_server(Nsd(region_zones(DEFAULT_SERIAL + 1), first.port, address=SUB_SERVER))
    assert (second.address, second.port) == (SUB_SERVER, first.port)
    assert (first.serial(), second.serial()) == (DEFAULT_SERIAL, DEFAULT_SERIAL + 1)


def test_paused_server_is_silent_until_resumed(start_server: StartServer) -> None:
    server = start_server(Nsd(region_zones()))
    server.pause()
    with pytest.raises(dns.exception.Timeout):
        ask(server, REGION, "SOA", timeout=0.3)
    server.resume()
    assert server.serial() == DEFAULT_SERIAL


def test_delegated_region_refers_and_resolves() -> None:
    with DelegatedRegion() as region:
        assert (region.parent.address, region.child.address) == (LOOPBACK, SUB_SERVER)
        assert region.parent.port == region.child.port == region.port
        referral = region.parent.query(f"app.{SUB}", recursion=False)
        assert referral.rcode() == dns.rcode.NOERROR and not referral.answer
        assert not referral.flags & dns.flags.AA
        ns = referral.find_rrset(
            referral.authority, dns.name.from_text(SUB), dns.rdataclass.IN, dns.rdatatype.NS
        )
        assert [r.to_text() for r in ns] == [f"ns.{SUB}."]
        assert answers(region.child.query(f"app.{SUB}")) == [SUB_APP]
        resolved = region.resolver.query(f"app.{SUB}")
        assert answers(resolved) == [SUB_APP] and resolved.flags & dns.flags.RA
        assert answers(region.resolver.query("ehr-db.region.internal")) == [EHR_DB]


def test_cname_chain_across_zones_fails_without_the_second_zone(
    start_server: StartServer,
) -> None:
    region_server = start_server(Knot({REGION: region_zone(ttl=2, overrides=CROSS_ZONE_CNAME)}))
    other_server = start_server(Nsd({OTHER: other_zone(ttl=2)}))
    resolver = start_server(
        Unbound({REGION: [region_server], OTHER: [other_server]}, max_rtt_ms=500)
    )
    name = "ehr-app.region.internal"
    assert answers(resolver.query(name)) == sorted([OTHER_APP, f"app.{OTHER}."])
    other_server.stop()
    poll(resolver, name, is_servfail, within=4)
    assert answers(resolver.query("ehr-db.region.internal")) == [EHR_DB]


# The in-process quirky responders (responders.py).

NAME = "ehr-db.region.internal"


@pytest.mark.parametrize(
    ("mode", "rcode"), [("formerr_edns", dns.rcode.FORMERR), ("notimp_edns", dns.rcode.NOTIMP)]
)
def test_responder_rejecting_edns_answers_plain_queries(mode: str, rcode: int) -> None:
    with ZoneResponder(mode) as old_box:  # type: ignore[arg-type]
        rejected = ask(old_box, NAME)
        assert (rejected.rcode(), rejected.edns, rejected.answer) == (rcode, -1, [])
        plain = ask(old_box, NAME, payload=None)
        assert plain.rcode() == dns.rcode.NOERROR and plain.flags & dns.flags.AA
        assert answers(plain) == [EHR_DB]
        over_tcp = ask(old_box, NAME, tcp=True)
        assert over_tcp.rcode() == rcode
        assert (old_box.queries, old_box.edns_queries, old_box.plain_queries) == (3, 2, 1)
        assert [r.tcp for r in old_box.received] == [False, False, True]


def test_responder_badvers() -> None:
    with ZoneResponder("badvers") as responder:
        response = ask(responder, NAME)
        assert (response.rcode(), response.edns, response.answer) == (dns.rcode.BADVERS, 0, [])
        assert answers(ask(responder, NAME, payload=None)) == [EHR_DB]


def test_responder_ede_servfail_and_stale() -> None:
    with ZoneResponder("ede", **NO_REACHABLE_AUTHORITY) as failing:
        response = ask(failing, NAME)
        assert response.rcode() == dns.rcode.SERVFAIL and response.flags & dns.flags.RA
        assert edes(response) == [(22, "No Reachable Authority")]
        failing.mode = "plain"
        assert answers(ask(failing, NAME)) == [EHR_DB]
    with ZoneResponder("ede", **STALE) as stale:
        response = ask(stale, NAME)
        assert response.rcode() == dns.rcode.NOERROR and answers(response) == [EHR_DB]
        assert response.flags & dns.flags.RA and not response.flags & dns.flags.AA
        assert response.answer[0].ttl == 30 and edes(response) == [(3, "Stale Answer")]
    many = [(3, "Stale Answer"), (22, None)]
    with ZoneResponder("ede", rcode=dns.rcode.NOERROR, ede=many) as responder:
        assert edes(ask(responder, NAME)) == many


def test_responder_without_recursion() -> None:
    with ZoneResponder("no_recursion") as lost:
        inside = ask(lost, NAME)
        assert inside.flags & dns.flags.AA and not inside.flags & dns.flags.RA
        assert answers(inside) == [EHR_DB]
        outside = ask(lost, "example.com")
        assert outside.rcode() == dns.rcode.REFUSED and not outside.flags & dns.flags.RA
        assert all(r.rd for r in lost.received)


def test_responder_referral_and_truncation() -> None:
    with ZoneResponder("referral") as parent:
        referral = ask(parent, f"deep.app.{SUB}", recursion=False)
        assert referral.rcode() == dns.rcode.NOERROR and not referral.answer
        assert not referral.flags & dns.flags.AA
        assert [r.to_text() for r in referral.authority] == [f"{SUB}. 300 IN NS ns.{SUB}."]
        assert [r.to_text() for r in referral.additional] == [f"ns.{SUB}. 300 IN A {SUB_SERVER}"]
        assert answers(ask(parent, NAME)) == [EHR_DB]
        assert ask(parent, "big.region.internal", "TXT").flags & dns.flags.TC
        complete = ask(parent, "big.region.internal", "TXT", tcp=True)
        assert [s.decode() for s in complete.answer[0][0].strings] == BIG_TXT_STRINGS
