"""What glibc 2.36's stub resolver really gets from real servers (tests/clientlookup.py),
the yardstick dnsmon's verdicts are held to.

Every resolver here listens on port 53 of an address of its own (client_facing=True),
since glibc asks nowhere else; glibc's defaults are timeout:5 attempts:2.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import dns.flags
import dns.message
import dns.rcode
import pytest
from clientlookup import (
    FOUND,
    MAXNS,
    NOT_FOUND,
    Lookup,
    host_resolver_untouched,
    lookup,
    require_getent,
    resolv_conf,
)
from servers import (
    LOOPBACK,
    OWN_ADDRESS,
    BindResolver,
    HostileMode,
    HostileResponder,
    Knot,
    StartServer,
    Unbound,
    ask,
    claim_address,
    claimed_addresses,
    find_binary,
    release_address,
)
from zones import (
    AD,
    AD_DC,
    EHR_DB,
    LAB,
    MANY,
    MANY_A,
    REGION,
    REVERSE,
    ad_zone,
)

pytestmark = pytest.mark.integration

EHR = f"ehr-db.{REGION}"
WARDS_ALL = f"{MANY}.{REGION}"
# Everything that is not a timeout takes a few milliseconds; this leaves room for a
# loaded machine.
FAST = 0.5
GLIBC_TIMEOUT = 5.0  # resolv.conf's default timeout:5


@pytest.fixture(autouse=True)
def _getent() -> None:
    require_getent()


def why(result: Lookup) -> str:
    return (
        f"rc={result.returncode} {result.seconds:.3f}s stdout={result.stdout!r} "
        f"stderr={result.stderr!r}\n{result.resolv_conf}"
    )


def queries(server: Unbound) -> float:
    return server.stats()["total.num.queries"]


def test_lookup_gets_the_answer_and_leaves_the_host_alone(
    resolver: Callable[..., Unbound],
) -> None:
    before = Path("/etc/resolv.conf").read_bytes(), Path("/etc/nsswitch.conf").read_bytes()
    a, b = resolver(), resolver()
    result = lookup(EHR, [a, b])
    assert result.returncode == FOUND, why(result)
    assert result.addresses == (EHR_DB,)
    assert result.seconds < FAST, why(result)
    # Also as bare addresses and (address, 53) pairs.
    assert lookup(f"lab.{REGION}", [a.address, (b.address, 53)]).addresses == (LAB,)
    assert (Path("/etc/resolv.conf").read_bytes(), Path("/etc/nsswitch.conf").read_bytes()) == (
        before
    )
    assert host_resolver_untouched()


def test_resolv_conf_and_what_glibc_cannot_do() -> None:
    text = resolv_conf(["127.80.0.1", ("127.80.0.2", 53)], timeout=1, attempts=3, rotate=True)
    assert text == (
        "nameserver 127.80.0.1\nnameserver 127.80.0.2\noptions timeout:1 attempts:3 rotate\n"
    )
    with pytest.raises(ValueError, match="port 53 only"):
        lookup(EHR, [(LOOPBACK, 5353)])
    with pytest.raises(ValueError, match=f"1 to {MAXNS}"):
        lookup(EHR, ["127.80.0.1"] * (MAXNS + 1))


def test_client_facing_addresses_are_given_back(authority: Knot, start_server: StartServer) -> None:
    server = start_server(Unbound({REGION: [authority]}, client_facing=True))
    assert server.port == 53
    assert server.address.startswith("127.80.")
    assert server.address in claimed_addresses()
    server.close()
    assert server.address not in claimed_addresses()
    on_lo = subprocess.run(
        [find_binary("ip"), "-o", "addr", "show", "dev", "lo"], capture_output=True, text=True
    ).stdout
    assert f"{server.address}/32" not in on_lo


def test_killed_resolver_a_costs_nothing(resolver: Callable[..., Unbound]) -> None:
    a, b = resolver(), resolver()
    a.stop()  # port unreachable: glibc moves on at once
    result = lookup(EHR, [a, b])
    assert result.returncode == FOUND, why(result)
    assert result.addresses == (EHR_DB,)
    assert result.seconds < FAST, why(result)


def test_paused_resolver_a_costs_the_whole_timeout(resolver: Callable[..., Unbound]) -> None:
    a, b = resolver(), resolver()
    a.pause()  # silent: glibc waits out timeout:5 before asking b
    result = lookup(EHR, [a, b])
    assert result.returncode == FOUND, why(result)
    assert result.addresses == (EHR_DB,)
    assert GLIBC_TIMEOUT - 0.1 < result.seconds < GLIBC_TIMEOUT + 0.6, why(result)


def test_nxdomain_from_resolver_a_is_final(resolver: Callable[..., Unbound]) -> None:
    a, b = resolver(nxdomain=[EHR]), resolver()
    assert ask(a, EHR, payload=None).rcode() == dns.rcode.NXDOMAIN
    assert ask(b, EHR, payload=None).rcode() == dns.rcode.NOERROR
    asked_a, asked_b = queries(a), queries(b)
    result = lookup(EHR, [a, b])
    assert result.returncode == NOT_FOUND, why(result)
    assert result.addresses == ()
    assert result.seconds < FAST, why(result)
    assert queries(a) == asked_a + 1
    assert queries(b) == asked_b  # never asked
    # b counts what glibc asks it (the check above can fail).
    assert lookup(EHR, [b]).found
    assert queries(b) == asked_b + 1


def test_servfail_from_resolver_a_falls_through_at_once(
    resolver: Callable[..., Unbound], start_server: StartServer
) -> None:
    upstream = HostileResponder("servfail").start()
    try:
        a = start_server(Unbound({REGION: [upstream]}, client_facing=True))
        b = resolver()
        assert ask(a, EHR, payload=None).rcode() == dns.rcode.SERVFAIL
        result = lookup(EHR, [a, b])
    finally:
        upstream.stop()
    assert result.returncode == FOUND, why(result)
    assert result.addresses == (EHR_DB,)
    assert result.seconds < FAST, why(result)


def test_refused_without_question_falls_through_at_once(
    resolver: Callable[..., Unbound],
) -> None:
    a = resolver(access_control={"127.0.0.0/8": "refuse"}, extra=["extended-statistics: yes"])
    b = resolver()
    refused = ask(a, EHR, payload=None)
    assert refused.rcode() == dns.rcode.REFUSED
    assert len(refused.question) == 0
    answered = a.stats()["num.answer.rcode.REFUSED"]
    result = lookup(EHR, [a, b])
    assert result.returncode == FOUND, why(result)
    assert result.addresses == (EHR_DB,)
    assert result.seconds < FAST, why(result)
    # glibc did ask a, and took the question-less REFUSED as its answer.
    assert a.stats()["num.answer.rcode.REFUSED"] == answered + 1


def test_over_512_bytes_with_tcp_off_everywhere_finds_nothing(
    resolver: Callable[..., Unbound],
) -> None:
    a, b = resolver(tcp=False), resolver(tcp=False)
    plain = ask(a, WARDS_ALL, payload=None)  # as glibc asks: no EDNS
    assert plain.flags & dns.flags.TC
    assert plain.answer == []  # Unbound truncates to nothing, not to what fits
    with_edns = ask(a, WARDS_ALL)
    assert sorted(rdata.to_text() for rdata in with_edns.answer[0]) == sorted(MANY_A)
    result = lookup(WARDS_ALL, [a, b])
    # TC, then TCP to the same server (refused), then the next server: the same.
    assert result.returncode == NOT_FOUND, why(result)
    assert result.addresses == ()
    assert result.seconds < FAST, why(result)


def test_over_512_bytes_needs_tcp_or_edns0(resolver: Callable[..., Unbound]) -> None:
    no_tcp, with_tcp = resolver(tcp=False), resolver()
    for servers, options in (
        ([with_tcp], ()),  # TC, then TCP
        ([no_tcp, with_tcp], ()),  # TC, TCP refused, then the next server over TCP
        ([no_tcp], ("edns0",)),  # 1232-byte UDP answers: no truncation
    ):
        result = lookup(WARDS_ALL, servers, options=options)
        assert result.returncode == FOUND, why(result)
        assert sorted(result.addresses) == sorted(MANY_A), why(result)
        assert result.seconds < FAST, why(result)


def test_split_horizon_breaks_only_the_wards_view(
    authority: Knot, start_server: StartServer
) -> None:
    split = start_server(
        BindResolver(
            {REGION: [authority], REVERSE: [authority]},
            client_facing=True,
            broken_view_clients=[OWN_ADDRESS],
        )
    )
    wards = split.address  # glibc on this machine asks it from this address
    assert split.view_clients == [wards]
    # dnspython from the default view's source, and from the wards' source.
    from_default = ask(split, EHR, payload=None, source=LOOPBACK)
    assert from_default.rcode() == dns.rcode.NOERROR
    assert [rdata.to_text() for rdata in from_default.answer[0]] == [EHR_DB]
    assert ask(split, EHR, payload=None, source=wards).rcode() == dns.rcode.SERVFAIL
    assert ask(split, EHR, payload=None).rcode() == dns.rcode.SERVFAIL  # kernel picks wards
    result = lookup(EHR, [split])
    assert result.returncode == NOT_FOUND, why(result)
    assert result.addresses == ()
    assert result.seconds < FAST, why(result)


def _rcodes(server: BindResolver, names: list[tuple[str, str]]) -> dict[str, str]:
    """{'NAME TYPE RD|noRD': 'RCODE' (+' AA')} for each name, with and without RD."""
    seen = {}
    for name, rdtype in names:
        for rd in (True, False):
            response: dns.message.Message = ask(server, name, rdtype, recursion=rd)
            aa = " AA" if response.flags & dns.flags.AA else ""
            key = f"{name} {rdtype} {'RD' if rd else 'noRD'}"
            seen[key] = dns.rcode.to_text(response.rcode()) + aa
    return seen


def test_ad_style_bind_with_its_zone_broken(authority: Knot, start_server: StartServer) -> None:
    ad = start_server(
        BindResolver(
            {REGION: [authority], REVERSE: [authority]},
            client_facing=True,
            primary_zones={AD: ad_zone()},
        )
    )
    names = [(f"dc1.{AD}", "A"), (AD, "SOA")]
    assert _rcodes(ad, names) == {
        f"dc1.{AD} A RD": "NOERROR AA",
        f"dc1.{AD} A noRD": "NOERROR AA",
        f"{AD} SOA RD": "NOERROR AA",
        f"{AD} SOA noRD": "NOERROR AA",
    }
    assert lookup(f"dc1.{AD}", [ad]).addresses == (AD_DC,)

    ad.break_zone(AD)
    assert "has 0 SOA records" in ad.log(20000)
    # Not loaded: SERVFAIL for its own zone with or without RD (it never falls back to
    # forwarding the parent region.internal), while recursion for the rest still works.
    assert _rcodes(ad, names) == {
        f"dc1.{AD} A RD": "SERVFAIL",
        f"dc1.{AD} A noRD": "SERVFAIL",
        f"{AD} SOA RD": "SERVFAIL",
        f"{AD} SOA noRD": "SERVFAIL",
    }
    assert ask(ad, EHR).rcode() == dns.rcode.NOERROR
    broken = lookup(f"dc1.{AD}", [ad])
    assert broken.returncode == NOT_FOUND, why(broken)
    assert broken.seconds < FAST, why(broken)
    assert lookup(EHR, [ad]).addresses == (EHR_DB,)

    ad.set_primary_zone(AD, ad_zone(serial=2026112602))
    assert lookup(f"dc1.{AD}", [ad]).addresses == (AD_DC,)


@pytest.mark.parametrize(("mode", "found"), [("formerr", False), ("notimp", True)])
def test_formerr_from_resolver_a_is_final_and_notimp_falls_through(
    resolver: Callable[..., Unbound], mode: HostileMode, found: bool
) -> None:
    """glibc 2.36 leaves a server at once after SERVFAIL, REFUSED and NOTIMP, but takes
    FORMERR as its answer (res_send.c does not list it): the lookup fails."""
    address = claim_address()
    try:
        with HostileResponder(mode, address=address, port=53) as a:
            b = resolver()
            result = lookup(EHR, [a.address, b])
    finally:
        release_address(address)
    assert result.found is found, why(result)
    assert result.seconds < FAST, why(result)
