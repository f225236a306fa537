"""probes.yaml: every rule of SPEC.md, each broken once, with the exact message people read.

One file per invalid config lives in tests/configs/, named for its error. Messages are
asserted whole: file, line, key path and words, because that is what an operator acts on.
"""

from __future__ import annotations

from pathlib import Path

import dns.rdata
import dns.rdataclass
import dns.rdatatype
import pytest
from config_cases import BOUNDED, MANY_ERRORS_FIRST, MANY_ERRORS_LAST, MINIMAL

from monitor.config import DEFAULTS, ConfigError, Defaults, load, parse, parse_duration
from monitor.config.answers import answer_text
from monitor.states import Role, Transport

CONFIGS = Path(__file__).parent / "configs"
EXAMPLE = Path(__file__).parent.parent / "probes.yaml"


@pytest.fixture
def in_configs(monkeypatch: pytest.MonkeyPatch) -> None:
    """Load from tests/configs by bare file name, so messages name the file as users see it."""
    monkeypatch.chdir(CONFIGS)


def errors_of(filename: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load(filename)
    assert str(caught.value) == "\n".join(caught.value.errors)
    return caught.value.errors


def errors_in(text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse(text)
    return caught.value.errors


INVALID = [
    (
        "unknown_key.yaml",
        "unknown_key.yaml:3: defaults.intervall: unknown key (did you mean 'interval'?)",
    ),
    ("wrong_type.yaml", "wrong_type.yaml:5: servers[0].port: expected a port number, got a string"),
    (
        "wrong_type_depends_on.yaml",
        "wrong_type_depends_on.yaml:10: services[0].depends_on: expected a list, got a string",
    ),
    (
        "bad_duration.yaml",
        "bad_duration.yaml:3: defaults.timeout: '2 seconds' is not a duration like 500ms, 2s or 1m",
    ),
    (
        "zero_attempts.yaml",
        "zero_attempts.yaml:3: defaults.attempts: must be greater than zero, got 0",
    ),
    (
        "duplicate_server.yaml",
        "duplicate_server.yaml:6: servers[1].name: duplicate server name 'resolver-a'",
    ),
    (
        "duplicate_name.yaml",
        "duplicate_name.yaml:8: names[1].name: duplicate name 'ehr-db.region.internal' with type A",
    ),
    (
        "duplicate_service.yaml",
        "duplicate_service.yaml:11: services[1].name: duplicate service name 'ehr'",
    ),
    (
        "duplicate_backup.yaml",
        "duplicate_backup.yaml:14: services[0].backups[1].name:"
        " duplicate backup name 'paper-forms'",
    ),
    ("duplicate_yaml_key.yaml", "duplicate_yaml_key.yaml:5: servers[0].address: duplicate key"),
    (
        "unknown_dependency.yaml",
        "unknown_dependency.yaml:10: services[0].depends_on[0]: 'ehr-db' is not a listed name"
        " (did you mean 'ehr-db.region.internal'?)",
    ),
    (
        "unknown_service_dependency.yaml",
        "unknown_service_dependency.yaml:12: services[1].depends_on[1]: 'service:ssso' is not a"
        " service (did you mean 'service:sso'?)",
    ),
    (
        "self_dependency.yaml",
        "self_dependency.yaml:10: services[0].depends_on[1]: a service cannot depend on itself",
    ),
    (
        "dependency_cycle.yaml",
        "dependency_cycle.yaml:10: services[0].depends_on: dependency cycle: ehr → sso → lab → ehr",
    ),
    (
        "hostname_address.yaml",
        "hostname_address.yaml:4: servers[0].address: 'resolver-a.region.internal' is not an IP"
        " literal; dnsmon never resolves the servers it watches",
    ),
    (
        "bad_ipv6_address.yaml",
        "bad_ipv6_address.yaml:4: servers[0].address: '::1::2' is not an IP literal;"
        " dnsmon never resolves the servers it watches",
    ),
    (
        "address_with_port.yaml",
        "address_with_port.yaml:4: servers[0].address: '127.83.1.1:53' holds a port: write the"
        " address as `address: 127.83.1.1` and the port as `port: 53`",
    ),
    (
        "address_with_port_ipv6.yaml",
        "address_with_port_ipv6.yaml:4: servers[0].address: '[::1]:5301' holds a port: write"
        " the address as `address: '::1'` and the port as `port: 5301`",
    ),
    (
        "duration_without_unit.yaml",
        "duration_without_unit.yaml:3: defaults.interval: 15 has no unit: write `15s` for"
        " seconds (or use ms, m, h or d)",
    ),
    (
        "port_out_of_range.yaml",
        "port_out_of_range.yaml:5: servers[0].port: 65536 is not a port number (1-65535)",
    ),
    (
        "unknown_role.yaml",
        "unknown_role.yaml:5: servers[0].role: 'resolver' is not one of: recursive, authoritative",
    ),
    (
        "authoritative_without_zones.yaml",
        "authoritative_without_zones.yaml:5: servers[1].zones: an authoritative server must list"
        " the zones it serves",
    ),
    (
        "expect_a_with_ipv6.yaml",
        "expect_a_with_ipv6.yaml:8: names[0].expect[0]: '::1' is not a valid A answer:"
        " not an IPv4 address",
    ),
    (
        "expect_aaaa_with_ipv4.yaml",
        "expect_aaaa_with_ipv4.yaml:8: names[0].expect[0]: '127.0.0.1' is not a valid AAAA"
        " answer: not an IPv6 address",
    ),
    (
        "expect_mx_without_priority.yaml",
        "expect_mx_without_priority.yaml:8: names[0].expect[0]: 'mail.region.internal' is not a"
        " valid MX answer: expecting an integer",
    ),
    (
        "expect_srv_malformed.yaml",
        "expect_srv_malformed.yaml:8: names[0].expect[0]: '0 100 ldap1.region.internal' is not a"
        " valid SRV answer: expecting an integer",
    ),
    (
        "unknown_name_server.yaml",
        "unknown_name_server.yaml:8: names[0].servers[0]: 'resolver-b' is not a listed server"
        " (did you mean 'resolver-a'?)",
    ),
    (
        "no_servers.yaml",
        "no_servers.yaml:2: servers: is required and must list at least one entry",
    ),
    ("yaml_syntax.yaml", "yaml_syntax.yaml:4: did not find expected '-' indicator"),
    ("undefined_alias.yaml", "undefined_alias.yaml:10: found undefined alias 'ehr-names'"),
    (
        "client_resolver_not_recursive.yaml",
        "client_resolver_not_recursive.yaml:6: clients[0].resolvers[1]: 'ns1' is not a resolver"
        " (role: recursive): clients cannot look names up through it",
    ),
    (
        "client_unknown_group.yaml",
        "client_unknown_group.yaml:10: services[0].clients[0]: 'ward' is not a client group"
        " (did you mean 'wards'?)",
    ),
    (
        "client_bad_stub.yaml",
        "client_bad_stub.yaml:6: clients[0].stub: 'windows10' is not one of: glibc, musl,"
        " windows, systemd-resolved",
    ),
    (
        "client_source_family.yaml",
        "client_source_family.yaml:5: clients[0].resolvers[0]: 'resolver-a' (127.0.0.1) cannot"
        " be asked from the source ::1: another address family",
    ),
    ("role_twice.yaml", "role_twice.yaml:4: servers[0].role: names a role twice"),
    ("empty.yaml", "empty.yaml:1: empty config"),
    ("comments_only.yaml", "comments_only.yaml:1: empty config"),
    *BOUNDED,
]


@pytest.mark.usefixtures("in_configs")
@pytest.mark.parametrize(("filename", "message"), INVALID, ids=[f for f, _ in INVALID])
def test_invalid_config_is_refused_with_file_line_and_key(filename: str, message: str) -> None:
    assert errors_of(filename) == [message]


def test_every_invalid_config_file_has_a_case() -> None:
    tested = {f for f, _ in INVALID} | {"several_errors.yaml", "many_errors.yaml"}
    assert {p.name for p in CONFIGS.glob("*.yaml")} == tested


@pytest.mark.usefixtures("in_configs")
def test_missing_file_is_reported_by_name() -> None:
    assert errors_of("nosuch.yaml") == [
        "nosuch.yaml: cannot read: No such file or directory"
        " (give the file with --config FILE or $DNSMON_CONFIG)"
    ]


@pytest.mark.usefixtures("in_configs")
def test_every_error_is_reported_at_once_in_file_order() -> None:
    # services come first in this file, so their cross-reference error must sort first too
    assert errors_of("several_errors.yaml") == [
        "several_errors.yaml:3: services[0].depends_on[1]: 'service:sso' is not a service",
        "several_errors.yaml:5: defaults.interval: 'soon' is not a duration like 500ms, 2s or 1m",
        "several_errors.yaml:6: defaults.attempts: must be greater than zero, got -1",
        "several_errors.yaml:10: servers[0].port: 0 is not a port number (1-65535)",
        "several_errors.yaml:11: servers[0].weight: unknown key",
        "several_errors.yaml:15: names[0].expect[0]: '127.20.1.15' is not a valid AAAA answer:"
        " not an IPv6 address",
    ]


@pytest.mark.usefixtures("in_configs")
def test_a_flood_of_errors_shows_the_first_hundred_and_counts_the_rest() -> None:
    errors = errors_of("many_errors.yaml")
    assert len(errors) == 101
    assert (errors[0], errors[-1]) == (MANY_ERRORS_FIRST, MANY_ERRORS_LAST)


def test_misspelt_service_dependency_is_not_offered_the_service_itself() -> None:
    errors = errors_in(MINIMAL + "services:\n  - name: ehr\n    depends_on: [service:billing]\n")
    assert errors == [
        "probes.yaml:8: services[0].depends_on[0]: 'service:billing' is not a service"
    ]


def test_service_named_without_prefix_suggests_the_prefix() -> None:
    text = MINIMAL + "services:\n  - name: sso\n    depends_on: []\n"
    text += "  - name: ehr\n    depends_on: [sso]\n"
    assert errors_in(text) == [
        "probes.yaml:10: services[1].depends_on[0]: 'sso' is not a listed name"
        " (did you mean 'service:sso'?)"
    ]


def test_a_service_or_backup_without_depends_on_is_refused_with_how_to_say_no_dns() -> None:
    """A routine nobody wrote the DNS of is never taken as needing none."""
    text = MINIMAL + "services:\n  - name: ehr\n    backups:\n      - name: paper\n"
    assert errors_in(text) == [
        "probes.yaml:7: services[0]: depends_on is required: list the DNS names (or"
        " service:NAME) it needs, or write depends_on: [] if it needs no DNS at all",
        "probes.yaml:9: services[0].backups[0]: depends_on is required: list the DNS names"
        " (or service:NAME) it needs, or write depends_on: [] if it needs no DNS at all",
    ]


def test_unsupported_version_and_wrong_site_type() -> None:
    assert errors_in("version: 2\nsite: 5\n" + MINIMAL) == [
        "probes.yaml:1: version: unsupported version 2; expected 1",
        "probes.yaml:2: site: expected a string, got a number",
    ]


def test_missing_sections_are_required() -> None:
    assert errors_in("site: dc-north\n") == [
        "probes.yaml:1: servers: is required and must list at least one entry",
        "probes.yaml:1: names: is required and must list at least one entry",
    ]


def test_recursive_server_with_zones_is_refused() -> None:
    text = MINIMAL.replace("127.0.0.1\n", "127.0.0.1\n    zones: [region.internal]\n", 1)
    assert errors_in(text) == [
        "probes.yaml:4: servers[0].zones: only authoritative servers serve zones"
    ]


def test_unknown_record_type_is_refused() -> None:
    assert errors_in(MINIMAL + "    type: AAA\n") == [
        "probes.yaml:6: names[0].type: 'AAA' is not one of: A AAAA CNAME MX NS PTR SOA SRV TXT"
    ]


def test_minimal_config_gets_every_default() -> None:
    config = parse(MINIMAL)
    assert config.defaults == Defaults(30.0, 2.0, 2, Transport.UDP, 200.0)
    assert config.defaults == DEFAULTS
    [server] = config.servers
    assert (server.port, server.role, server.zones) == (53, Role.RECURSIVE, ())
    [name] = config.names
    assert (name.type, name.expect, name.servers) == ("A", None, None)
    assert config.services == ()


def test_given_defaults_override_only_what_they_name() -> None:
    config = parse("defaults:\n  timeout: 500ms\n  transport: tcp\n" + MINIMAL)
    assert config.defaults == Defaults(30.0, 0.5, 2, Transport.TCP, 200.0)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("500ms", 0.5), ("2s", 2.0), ("1m", 60.0), ("1m30s", 90.0), ("1h", 3600.0)],
)
def test_durations(text: str | int, seconds: float) -> None:
    assert parse_duration(text) == seconds
    config = parse(f"defaults:\n  interval: 2h\n  timeout: {text}\n" + MINIMAL)
    assert config.defaults.timeout == seconds


def test_a_number_without_a_unit_is_refused_but_zero() -> None:
    # Seconds or hours? Only the writer knows; 0 is the same in every unit.
    assert errors_in(f"defaults:\n  interval: 1h\n  warn_before: 72\n{MINIMAL}") == [
        "probes.yaml:3: defaults.warn_before: 72 has no unit: write `72s` for seconds"
        " (or use ms, m, h or d)"
    ]
    assert parse(f"defaults:\n  warn_before: 0\n{MINIMAL}").defaults.warn_before == 0


def test_an_interval_under_a_second_is_refused() -> None:
    assert errors_in(f"defaults:\n  interval: 500ms\n{MINIMAL}") == [
        "probes.yaml:2: defaults.interval: '500ms' is shorter than 1s, the shortest interval"
        " dnsmon takes: probing more than once a second only adds load to the servers being"
        " watched"
    ]


def test_days_are_durations_too() -> None:
    assert parse_duration("3d") == 3 * 86400 and parse_duration("1d12h") == 1.5 * 86400


@pytest.mark.parametrize("text", ["0s", "-1s", "2 seconds", "1w", "", "s", True, 30, 1.5])
def test_not_durations(text: object) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


@pytest.mark.parametrize(
    ("written", "address"),
    [
        ("'::1'", "::1"),
        ("::1", "::1"),
        ("fd00::53", "fd00::53"),
        ("2001:DB8:0:0::1", "2001:db8::1"),
    ],
)
def test_ipv6_server_addresses_are_accepted(written: str, address: str) -> None:
    config = parse(MINIMAL.replace("127.0.0.1", written))
    assert config.servers[0].address == address


def test_names_and_zones_are_normalised() -> None:
    config = parse(
        "servers:\n"
        "  - name: ns1\n"
        "    address: 127.0.0.1\n"
        "    role: authoritative\n"
        "    zones: [Region.Internal.]\n"
        "names:\n"
        "  - name: EHR-DB.Region.Internal.\n"
        "    type: a\n"
        "services:\n"
        "  - name: ehr\n"
        "    depends_on: [ehr-db.REGION.internal.]\n"
    )
    assert config.servers[0].zones == ("region.internal",)
    assert (config.names[0].name, config.names[0].type) == ("ehr-db.region.internal", "A")


def expect_of(rdtype: str, *written: str) -> frozenset[str] | None:
    items = ", ".join(f'"{w}"' for w in written)
    config = parse(MINIMAL + f"    type: {rdtype}\n    expect: [{items}]\n")
    return config.names[0].expect


@pytest.mark.parametrize(
    ("rdtype", "written", "same_as"),
    [
        ("AAAA", "::0001", "::1"),
        ("AAAA", "2001:DB8::1", "2001:db8::1"),
        ("MX", "10 mail.region.internal", "10 mail.region.internal."),
        ("SRV", "0 100 389 ldap1.region.internal", "0 100 389 ldap1.region.internal."),
        ("CNAME", "ehr-app.region.internal", "ehr-app.region.internal."),
    ],
)
def test_expect_is_normalised(rdtype: str, written: str, same_as: str) -> None:
    assert expect_of(rdtype, written) == expect_of(rdtype, same_as)


@pytest.mark.parametrize(
    ("rdtype", "written", "served"),
    [
        ("A", "127.20.1.15", "127.20.1.15"),
        ("AAAA", "::0001", "::1"),
        ("MX", "10 mail.region.internal", "10 mail.region.internal."),
        ("SRV", "0 100 389 ldap1.region.internal", "0 100 389 ldap1.region.internal."),
        ("TXT", "v=DMARC1; p=reject", '"v=DMARC1; p=reject"'),
    ],
)
def test_expect_matches_what_a_server_answers(rdtype: str, written: str, served: str) -> None:
    rdata = dns.rdata.from_text(dns.rdataclass.IN, dns.rdatatype.from_text(rdtype), served)
    assert expect_of(rdtype, written) == {answer_text(rdata)}


def test_expect_ignores_the_case_of_names_in_answers() -> None:
    served = dns.rdata.from_text(dns.rdataclass.IN, dns.rdatatype.MX, "10 Mail.Region.Internal.")
    assert expect_of("MX", "10 mail.region.internal") == {answer_text(served)}


def test_yaml_anchors_and_aliases_repeat_a_list() -> None:
    config = parse(
        MINIMAL + "services:\n"
        "  - name: ehr\n"
        "    depends_on: &ehr [ehr-db.region.internal]\n"
        "    backups:\n"
        "      - {name: ehr-standby, depends_on: *ehr}\n"
    )
    [service] = config.services
    assert service.backups[0].depends_on == service.depends_on == ("ehr-db.region.internal",)


def test_single_expect_value_need_not_be_a_list() -> None:
    config = parse(MINIMAL + "    expect: 127.20.1.15\n")
    assert config.names[0].expect == frozenset({"127.20.1.15"})


def test_the_example_probes_yaml_loads_cleanly() -> None:
    config = load(EXAMPLE)
    assert config.site == "dc-north"
    names = {n.name: n for n in config.names}
    assert names["ehr-db.region.internal"].expect == frozenset({"127.20.1.15"})
    services = {s.name: s for s in config.services}
    assert "service:sso" in services["ehr"].depends_on
    assert any(not b.depends_on for b in services["ehr"].backups)
    assert all(s.address.startswith("127.") or s.address == "::1" for s in config.servers)


def test_same_text_gives_same_fingerprint_and_a_change_another() -> None:
    assert parse(MINIMAL).fingerprint == parse(MINIMAL).fingerprint
    assert parse(MINIMAL).fingerprint != parse(MINIMAL + "    type: AAAA\n").fingerprint


def test_what_is_probed_has_a_fingerprint_that_alerting_and_words_leave_alone() -> None:
    base = MINIMAL + "services:\n  - {name: ehr, depends_on: [ehr-db.region.internal]}\n"
    probed = parse(base).probe_fingerprint
    alike = [
        base + "alerting:\n  alertmanagers: [http://127.0.0.1:9093]\n",
        base + "learning:\n  state: /var/lib/dnsmon/learned.json\n",
        base.replace("{name: ehr,", "{name: ehr, description: The record,") + "# a comment\n",
    ]
    assert [parse(text).probe_fingerprint for text in alike] == [probed] * 3
    assert parse(MINIMAL + "    type: AAAA\n").probe_fingerprint != parse(MINIMAL).probe_fingerprint
    assert parse(base + "defaults:\n  timeout: 1s\n").probe_fingerprint != probed


def test_broken_entries_do_not_hide_cross_reference_errors() -> None:
    text = (
        "servers:\n"
        "  - {name: r1, address: 127.0.0.1}\n"
        "  - {name: r1, address: 127.0.0.2}\n"
        "  - {name: r2, address: not-an-ip}\n"
        "names:\n"
        "  - {name: a.region.internal, servers: [r9]}\n"
        "  - {name: b.region.internal, type: BOGUS}\n"
        "  - {name: c.region.internal, servers: [r2]}\n"
        "services:\n"
        "  - {name: s1, depends_on: ['service:s2', b.region.internal]}\n"
        "  - {name: s2, depends_on: ['service:s1']}\n"
    )
    with pytest.raises(ConfigError) as caught:
        parse(text, "multi.yaml")
    assert caught.value.errors == [
        "multi.yaml:3: servers[1].name: duplicate server name 'r1'",
        "multi.yaml:4: servers[2].address: 'not-an-ip' is not an IP literal; "
        "dnsmon never resolves the servers it watches",
        "multi.yaml:6: names[0].servers[0]: 'r9' is not a listed server",
        "multi.yaml:7: names[1].type: 'BOGUS' is not one of: A AAAA CNAME MX NS PTR SOA SRV TXT",
        "multi.yaml:10: services[0].depends_on: dependency cycle: s1 → s2 → s1",
    ]
