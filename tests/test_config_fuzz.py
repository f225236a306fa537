"""Whatever a probes.yaml holds, loading it ends quickly, in little memory, and either
gives a Config or refuses it with errors that each start with ``file:line:``.

Inputs: YAML-ish token soup, random bytes, mutations of the example config, alias bombs
and deep nesting. Each example runs under tracemalloc with a peak-memory bound and under
Hypothesis's per-example deadline; a valid config is also linted, since ``lint`` and
``serve`` read whatever the loader lets through.
"""

from __future__ import annotations

import re
import tracemalloc
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from monitor.config import Config, ConfigError, load, parse, yamlsource
from monitor.judging.lint import findings

EXAMPLE = (Path(__file__).parent.parent / "probes.yaml").read_text()
MINIMAL = """\
servers:
  - name: resolver-a
    address: 127.0.0.1
  - {name: ns1, address: 127.0.0.1, port: 5311, role: authoritative, zones: [region.internal]}
names:
  - name: ehr-db.region.internal
    expect: [127.20.1.15]
services:
  - name: ehr
    depends_on: [ehr-db.region.internal]
    backups: [{name: paper, depends_on: []}]
"""
PEAK_BYTES = 48 * 2**20  # traced by tracemalloc, per example: the example config needs ~5
MESSAGE_CHARS = 600  # no error line grows with what the file holds
FUZZ = settings(
    max_examples=150,
    deadline=timedelta(seconds=3),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

TOKENS = [
    *("version: 1\n", "site: ", "defaults:\n", "servers:\n", "names:\n", "services:\n"),
    *("alerting:\n", "  alertmanagers: ", "interval: ", "timeout: ", "attempts: "),
    *("max_qps_per_server: ", "transport: ", "serve_stale: ", "role: ", "zones: "),
    *("depends_on: ", "backups:\n", "expect: ", "type: ", "port: ", "criticality: "),
    *("  ", "    ", "\n", "- ", "  - name: ", "name: ", "address: ", ": ", ", ", "? "),
    *("[", "]", "{", "}", "'", '"', "#", "---\n", "...\n", "|\n", ">\n", "\t", "\r\n"),
    *("&a ", "*a", "&b ", "*b", "<<: ", "!!binary ", "!!timestamp ", "!!int ", "!!float "),
    *("!!map ", "!!seq ", "!!set ", "!!python/object ", "!x ", "%YAML 1.1\n", "%TAG ! x\n"),
    *("127.0.0.1", "::1", "ehr-db.region.internal", "region.internal", "service:ehr"),
    *("resolver-a", "authoritative", "recursive", "A", "SRV", "MX", "TXT", "tcp", "30s"),
    *("0", "-1", "65536", "1e-19", "1.0e-19", ".nan", ".inf", "-.inf", "99999999999h"),
    *("9" * 5000, "0x" + "f" * 300, "0b" + "1" * 500, "2026-13-45", "~", "null", "yes"),
    *("x" * 300, "a..b", "é", "\x00", "\x1b", "\x85", "\ufeff", "\ud800", "=", "@", "`"),
]


def bounded(call: Callable[[], Config]) -> Config | ConfigError:
    """Run ``call`` under tracemalloc; its result or ConfigError, after checking the peak."""
    tracemalloc.start()
    try:
        result: Config | ConfigError = call()
        if isinstance(result, Config):
            findings(result)
    except ConfigError as exc:
        result = exc
    finally:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    assert peak < PEAK_BYTES, f"{peak / 2**20:.1f} MiB traced"
    return result


def assert_config_or_located(result: Config | ConfigError, source: str) -> None:
    if isinstance(result, Config):
        return
    assert result.errors
    located = re.compile(rf"{re.escape(source)}:\d+: \S")
    for message in result.errors:
        assert located.match(message), message[:300]
        assert "\n" not in message and len(message) <= MESSAGE_CHARS, message[:300]


def check_text(text: str) -> None:
    result = bounded(lambda: parse(text))
    event("valid config" if isinstance(result, Config) else "refused")
    assert_config_or_located(result, "probes.yaml")


@pytest.fixture(scope="module")
def config_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz") / "probes.yaml"


@FUZZ
@given(st.lists(st.sampled_from(TOKENS), max_size=80).map("".join))
def test_yaml_ish_text_is_a_config_or_located_errors(text: str) -> None:
    check_text(text)


@FUZZ
@given(st.binary(max_size=3000))
def test_random_bytes_are_a_config_or_located_errors(config_file: Path, data: bytes) -> None:
    config_file.write_bytes(data)
    assert_config_or_located(bounded(lambda: load(config_file)), str(config_file))
    check_text(data.decode("utf-8", errors="surrogateescape"))
    check_text(data.decode("latin-1"))


@st.composite
def mutated(draw: st.DrawFn) -> str:
    """The example or a minimal config with a few lines and tokens changed."""
    lines = draw(st.sampled_from([EXAMPLE, MINIMAL])).split("\n")
    for _ in range(draw(st.integers(1, 6))):
        i = draw(st.integers(0, len(lines) - 1))
        j = draw(st.integers(0, len(lines) - 1))
        op = draw(st.sampled_from(["insert", "replace", "delete", "duplicate", "swap"]))
        if op == "insert":
            at = draw(st.integers(0, len(lines[i])))
            lines[i] = lines[i][:at] + draw(st.sampled_from(TOKENS)) + lines[i][at:]
        elif op == "replace":
            key = lines[i].split(":", 1)[0]
            lines[i] = f"{key}: {draw(st.sampled_from(TOKENS))}"
        elif op == "delete":
            del lines[i]
        elif op == "duplicate":
            lines.insert(j, lines[i])
        else:
            lines[i], lines[j] = lines[j], lines[i]
        if not lines:
            lines = [""]
    return "\n".join(lines)


@FUZZ
@given(mutated())
def test_mutated_valid_configs_are_a_config_or_located_errors(text: str) -> None:
    check_text(text)


ALIAS_TARGETS = {
    "site": "site: HERE\n" + MINIMAL,
    "version": "version: HERE\n" + MINIMAL,
    "role": MINIMAL.replace("address: 127.0.0.1\n", "address: 127.0.0.1\n    role: HERE\n", 1),
    "expect": MINIMAL.replace("expect: [127.20.1.15]", "expect: HERE"),
    "depends_on": MINIMAL.replace("depends_on: [ehr-db.region.internal]", "depends_on: HERE"),
    "backups": MINIMAL.replace("backups: [{name: paper, depends_on: []}]", "backups: HERE"),
    "servers": MINIMAL.replace("servers:\n", "servers: HERE\nx:\n", 1),
    "key": "HERE: 1\n" + MINIMAL,
}


@st.composite
def alias_bombs(draw: st.DrawFn) -> str:
    """Levels of anchors, each a list or mapping of aliases to the one below."""
    depth, fan = draw(st.integers(1, 12)), draw(st.integers(1, 12))
    leaf = draw(st.sampled_from(["lol", "'" + "x" * 1000 + "'", "9" * 90, "{a: b}", "[]"]))
    mapping = draw(st.booleans())
    lines = [f"a0: &a0 [{', '.join([leaf] * fan)}]"]
    for level in range(1, depth):
        refs = [f"k{k}: *a{level - 1}" if mapping else f"*a{level - 1}" for k in range(fan)]
        body = "{" + ", ".join(refs) + "}" if mapping else "[" + ", ".join(refs) + "]"
        lines.append(f"a{level}: &a{level} {body}")
    target = draw(st.sampled_from(sorted(ALIAS_TARGETS)))
    return "\n".join(lines) + "\n" + ALIAS_TARGETS[target].replace("HERE", f"*a{depth - 1}")


@FUZZ
@given(alias_bombs())
def test_alias_bombs_are_refused_within_bounds(text: str) -> None:
    check_text(text)


@st.composite
def deep_nesting(draw: st.DrawFn) -> str:
    """Flow or block collections nested up to thousands deep, where a value belongs."""
    depth = draw(st.integers(1, 5000))
    style = draw(st.sampled_from(["list", "map", "block", "mixed"]))
    if style == "list":
        value = "[" * depth + "]" * depth
    elif style == "map":
        value = "{a: " * depth + "b" + "}" * depth
    elif style == "mixed":
        value = "[{a: " * depth + "b" + "}]" * depth
    else:
        depth = min(depth, 300)  # indentation grows as the square of the depth
        value = "\n" + "".join(f"{'  ' * (i + 1)}- \n" for i in range(depth))[:-1]
    where = draw(st.sampled_from(["site: HERE\n" + MINIMAL, MINIMAL + "x: HERE\n"]))
    return where.replace("HERE", value)


@FUZZ
@given(deep_nesting())
def test_deep_nesting_is_a_config_or_located_errors(text: str) -> None:
    check_text(text)


PLAUSIBLE = [
    *("127.0.0.1", "::1", "resolver-a", "ns1", "region.internal", "ehr-db.region.internal"),
    *("service:ehr", "ehr", "A", "aaaa", "SRV", "recursive", "authoritative", "critical"),
    *("udp", "tcp", "30s", "1m30s", "500ms", "2", "http://127.0.0.1:9093", "http://[::1"),
    *("0 100 389 ldap.region.internal", "10 mail", "v=spf1 -all", '"a" "b"', "a..b", ""),
]
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(10**120), max_value=10**120),
    st.floats(),
    st.text(st.characters(exclude_categories=("Cs",)), max_size=30),
    st.sampled_from(PLAUSIBLE),
    st.dates(),
)
KEYS = [
    *("version", "site", "defaults", "servers", "names", "services", "alerting", "name"),
    *("address", "port", "role", "zones", "serve_stale", "type", "expect", "depends_on"),
    *("backups", "description", "instructions", "criticality", "interval", "timeout"),
    *("attempts", "transport", "max_qps_per_server", "alertmanagers"),
]
VALUES = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(
            st.sampled_from(KEYS) | st.integers() | st.text(max_size=6), inner, max_size=4
        )
    ),
    max_leaves=12,
)


def entries(keys: list[str]) -> st.SearchStrategy[list[dict[str, object]]]:
    """Lists of mappings with the section's own keys, each a plausible or any value."""
    value = st.sampled_from(PLAUSIBLE) | VALUES
    return st.lists(st.dictionaries(st.sampled_from(keys), value, max_size=len(keys)), max_size=4)


CONFIG_SHAPED = st.fixed_dictionaries(
    {
        "servers": entries(["name", "address", "port", "role", "zones", "serve_stale"]),
        "names": entries(["name", "type", "expect", "servers"]),
    },
    optional={
        "version": st.just(1) | VALUES,
        "site": st.sampled_from(PLAUSIBLE) | VALUES,
        "defaults": st.dictionaries(
            st.sampled_from(["interval", "timeout", "attempts", "transport", "max_qps_per_server"]),
            st.sampled_from(PLAUSIBLE) | VALUES,
        ),
        "services": entries(["name", "description", "criticality", "depends_on", "backups"]),
        "alerting": st.dictionaries(st.just("alertmanagers"), VALUES),
    },
)


@FUZZ
@given(CONFIG_SHAPED, st.booleans())
def test_config_shaped_data_of_any_types_is_a_config_or_located_errors(
    data: dict[str, object], flow: bool
) -> None:
    check_text(yaml.safe_dump(data, default_flow_style=flow, allow_unicode=True))


# Scalars PyYAML's resolver turns into other types, and strings that only look like them.
LOOKALIKES = st.sampled_from(
    ["yes", "No", "on", "off", "~", "null", "1e3", "0x1f", "0o17", "1_000", ".inf", "-.NaN",
     "2001-12-14", "12:30:45", "+12", "-0", "0.5", "=", "<<", "127.0.0.1", "ns1", "true"]
)  # fmt: skip


@FUZZ
@given(
    st.recursive(
        SCALARS | LOOKALIKES,
        lambda inner: (
            st.lists(inner, max_size=4)
            | st.dictionaries(st.text(max_size=6) | LOOKALIKES, inner, max_size=4)
        ),
        max_leaves=20,
    ),
    st.booleans(),
)
def test_the_bounded_reader_reads_what_pyyaml_reads(data: object, flow: bool) -> None:
    """With lines or without, dnsmon's own reader builds what ``yaml.safe_load`` builds
    (where both read the document at all)."""
    text = yaml.safe_dump(data, default_flow_style=flow, allow_unicode=True)
    expected = yaml.safe_load(text)
    try:
        ours = yamlsource.load(text)
    except yamlsource.YamlSyntaxError:
        return  # refused on purpose: a limit, a tag or a key dnsmon does not take
    # repr: types must match too (True == 1 == 1.0), and NaN is not equal to itself.
    assert repr(ours) == repr(expected)
    assert repr(yamlsource.load_with_lines(text)[0]) == repr(ours)
