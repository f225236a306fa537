"""The clients' part of probes.yaml: client groups, a server with both roles, and the
keys the third revision added, as an operator writes them."""

from __future__ import annotations

import pytest

from monitor.config import DEFAULT_CLIENTS, ConfigError, parse
from monitor.probing import plan
from monitor.states import Role, Software, Stub

SERVERS = """\
servers:
  - {name: resolver-a, address: 127.0.0.1, port: 5301}
  - {name: resolver-b, address: 127.0.0.1, port: 5302}
  - {name: dc1, address: 127.0.0.1, port: 5321, role: [authoritative, recursive],
     zones: [ad.region.internal], software: windows}
  - {name: ns1, address: 127.0.0.1, port: 5311, role: authoritative,
     zones: [region.internal], primary: true}
"""
NAMES = """\
names:
  - name: ehr-db.region.internal
  - name: dc.ad.region.internal
"""


def test_a_client_group_keeps_its_order_and_settings() -> None:
    config = parse(SERVERS + NAMES + """\
clients:
  - name: wards
    resolvers: [resolver-b, resolver-a]
    stub: musl
    timeout: 3s
    attempts: 3
    rotate: true
    source: 127.81.0.2
    lookup_budget: 2s
    networks: [10.20.0.0/16, 10.21.0.7]
""")  # fmt: skip
    (group,) = config.clients
    assert group.resolvers == ("resolver-b", "resolver-a")
    assert (group.stub, group.timeout, group.attempts, group.rotate) == (Stub.MUSL, 3.0, 3, True)
    assert (group.source, group.lookup_budget) == ("127.81.0.2", 2.0)
    assert group.networks == ("10.20.0.0/16", "10.21.0.7/32")
    assert config.client_groups() == (group,)


def test_without_clients_one_glibc_group_asks_every_resolver_in_order() -> None:
    (group,) = parse(SERVERS + NAMES).client_groups()
    assert group.name == DEFAULT_CLIENTS
    assert group.resolvers == ("resolver-a", "resolver-b", "dc1")
    assert (group.stub, group.timeout, group.attempts, group.rotate) == (
        Stub.GLIBC, None, None, False,
    )  # fmt: skip


def test_a_server_with_both_roles_is_one_entry_asked_each_way() -> None:
    config = parse(SERVERS + NAMES)
    dc1 = config.server("dc1")
    assert dc1.roles == (Role.RECURSIVE, Role.AUTHORITATIVE)
    assert dc1.recursive and dc1.authoritative and dc1.software is Software.WINDOWS
    queries = [q for q in plan.build(config) if q.server.name == "dc1"]
    asked = {(q.name, q.type, q.recursion) for q in queries}
    # Every name as a resolver; its own zone's names and SOA without recursion too.
    assert asked == {
        ("ehr-db.region.internal", "A", True),
        ("dc.ad.region.internal", "A", True),
        ("dc.ad.region.internal", "A", False),
        ("ad.region.internal", "SOA", False),
    }
    assert len({q.key for q in queries}) == len(queries)  # each filed apart


def test_primary_and_software_and_learning_are_read() -> None:
    config = parse(SERVERS + NAMES + """\
defaults:
  warn_before: 48h
learning:
  dnstap: [unix:/run/dnsmon/dnstap.sock, 127.0.0.1:6000]
  state: /var/lib/dnsmon/learned.json
services:
  - name: ehr
    depends_on: [ehr-db.region.internal]
    clients: []
    hosts: [10.30.1.0/28]
    backups:
      - {name: ro, depends_on: [], hosts: [10.20.0.0/16]}
""")  # fmt: skip
    assert config.server("ns1").primary and not config.server("dc1").primary
    assert config.defaults.warn_before == 48 * 3600
    assert config.learning.dnstap == ("unix:/run/dnsmon/dnstap.sock", "127.0.0.1:6000")
    assert config.services[0].hosts == ("10.30.1.0/28",)
    assert config.services[0].backups[0].hosts == ("10.20.0.0/16",)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ("clients:\n  - {name: wards}\n",
         "probes.yaml:12: clients[0]: resolvers is required: the servers these clients ask, "
         "in order"),
        ("clients:\n  - {name: wards, resolvers: [resolver-a, resolver-a]}\n",
         "probes.yaml:12: clients[0].resolvers[1]: 'resolver-a' is listed twice"),
        ("clients:\n  - {name: wards, resolvers: [resolver-c]}\n",
         "probes.yaml:12: clients[0].resolvers[0]: 'resolver-c' is not a listed server "
         "(did you mean 'resolver-b'?)"),
        ("clients:\n  - {name: w, resolvers: [resolver-a], timeout: 2m}\n",
         "probes.yaml:12: clients[0].timeout: '2m' is longer than 1m, the longest timeout "
         "dnsmon takes: no stub waits that long for one server (glibc stops at 30s)"),
        ("clients:\n  - {name: w, resolvers: [resolver-a], source: wards.internal}\n",
         "probes.yaml:12: clients[0].source: 'wards.internal' is not an IP literal "
         "(a source address)"),
        ("learning:\n  dnstap: [resolver-a:6000]\n",
         "probes.yaml:12: learning.dnstap[0]: 'resolver-a:6000' is neither unix:PATH nor "
         "ADDR:PORT with an IP literal"),
    ],
)  # fmt: skip
def test_a_broken_client_setting_names_its_line_and_key(extra: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse(SERVERS + NAMES + extra)
    assert caught.value.errors == [message]


def test_primary_on_a_resolver_is_refused() -> None:
    text = SERVERS.replace("port: 5302}", "port: 5302, primary: true}") + NAMES
    with pytest.raises(ConfigError) as caught:
        parse(text)
    assert caught.value.errors == [
        "probes.yaml:3: servers[1].primary: only an authoritative server is a zone's primary"
    ]


def test_lint_says_which_resolvers_a_glibc_group_never_asks() -> None:
    from monitor.judging.lint import findings

    more = "  - {name: r3, address: 127.0.0.1, port: 5303}\n"
    more += "  - {name: r4, address: 127.0.0.1, port: 5304}\n"
    four = SERVERS.replace("servers:\n", "servers:\n" + more)
    config = parse(four + NAMES + """\
clients:
  - {name: wards, resolvers: [resolver-a, resolver-b, r3, r4]}
  - {name: windows, resolvers: [resolver-a, resolver-b, r3, r4], stub: windows}
""")  # fmt: skip
    unused = [f for f in findings(config) if f["kind"] == "client_resolvers_unused"]
    assert [f["message"] for f in unused] == [
        "client group wards lists 4 resolvers, but glibc asks only the first 3: r4 never "
        "helps these clients"
    ]


def test_lint_says_when_this_host_cannot_ask_from_a_groups_source() -> None:
    from monitor.judging.lint import findings

    config = parse(SERVERS + NAMES + """\
clients:
  - {name: here, resolvers: [resolver-a], source: 127.0.0.1}
  - {name: elsewhere, resolvers: [resolver-a], source: 192.0.2.7}
""")  # fmt: skip
    found = [f for f in findings(config) if f["kind"] == "client_source_not_here"]
    assert [f["subject"] for f in found] == ["elsewhere"]
    assert "cannot ask from 192.0.2.7" in found[0]["message"]
