"""Loading a config is bounded whatever the file holds: the measured cases behind the limits.

A 13 KB alias bomb once took 3.5 GB and 18 s and printed 700 MB of error; a config with
2,000 misspelt references took two minutes to refuse. Each case here is measured.
"""

from __future__ import annotations

import os
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest
from config_cases import MINIMAL

from monitor.config import ConfigError, load, parse, yamlsource
from monitor.config.reading import MAX_BYTES


def measured(call: Callable[[], object]) -> tuple[list[str], float, int]:
    """The errors ``call`` raises, the seconds it took and its peak traced bytes."""
    tracemalloc.start()
    started = time.perf_counter()
    try:
        with pytest.raises(ConfigError) as caught:
            call()
    finally:
        seconds = time.perf_counter() - started
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    return caught.value.errors, seconds, peak


def errors_in(text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse(text)
    return caught.value.errors


def thirteen_kb_alias_bomb() -> str:
    """A 12,000-character string repeated 9^5 times through aliases, as a server's role."""
    lines = ["version: 1", "s: &s " + "lol" * 4000, "a1: &a1 [" + ", ".join(["*s"] * 9) + "]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]" for i in range(2, 6)]
    return "\n".join(lines) + "\n" + MINIMAL.replace("127.0.0.1\n", "127.0.0.1\n    role: *a5\n")


def test_the_13_kb_alias_bomb_is_refused_in_milliseconds_and_kilobytes() -> None:
    text = thirteen_kb_alias_bomb()
    assert 12_000 < len(text) < 13_000
    errors, seconds, peak = measured(lambda: parse(text))
    assert errors == [
        "probes.yaml:11: alias *a5 takes the values repeated through aliases past 100,000, the"
        " most a config may repeat (this refuses alias bombs); write the values out or alias"
        " smaller parts"
    ]
    assert seconds < 1.0 and peak < 2 * 2**20


def test_aliases_repeating_a_resolver_list_for_many_names_are_fine() -> None:
    text = (
        "servers:\n  - {name: r1, address: 127.0.0.1}\n  - {name: r2, address: 127.0.0.2}\n"
        "names:\n  - {name: first.region.internal, servers: &pair [r1, r2]}\n"
    )
    text += "".join(f"  - {{name: host{i}.region.internal, servers: *pair}}\n" for i in range(500))
    config = parse(text)
    assert len(config.names) == 501 and config.names[-1].servers == ("r1", "r2")


def test_a_config_of_more_values_than_any_region_needs_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(yamlsource, "MAX_VALUES", 1000)
    many = "other:\n" + "".join(f"  - item{i}\n" for i in range(1200)) + MINIMAL
    # The mapping, its key and the list are three values; item 997 is the 1,001st.
    assert errors_in(many) == [
        "probes.yaml:999: more than 1,000 values (keys, list items and what aliases repeat)"
        " by here, the most a config may hold; about 140,000 names fit"
    ]


def test_a_value_quoted_in_an_error_is_cut_to_60_characters() -> None:
    role = "x" * 100_000
    [error] = errors_in(MINIMAL.replace("127.0.0.1\n", f"127.0.0.1\n    role: {role}\n"))
    assert error == (
        "probes.yaml:4: servers[0].role: '" + "x" * 59 + "…' is not one of: recursive,"
        " authoritative"
    )


def test_a_control_character_in_a_key_is_escaped_in_the_message() -> None:
    assert errors_in('"\\e[31mred": 1\n' + MINIMAL) == ["probes.yaml:1: \\x1b[31mred: unknown key"]


def test_a_number_as_an_address_is_not_taken_for_an_ip() -> None:
    assert errors_in(MINIMAL.replace("127.0.0.1", "2130706433")) == [
        "probes.yaml:3: servers[0].address: 2130706433 is not an IP literal; dnsmon never"
        " resolves the servers it watches"
    ]


def test_a_plain_equals_sign_is_text_not_an_unsupported_tag() -> None:
    assert parse("site: =\n" + MINIMAL).site == "="


def test_text_that_cannot_be_utf8_is_located() -> None:
    assert errors_in("site: a\nx: \ud800\n" + MINIMAL) == [
        "probes.yaml:2: character U+D800 cannot be written in UTF-8"
    ]


def test_a_file_over_the_size_limit_is_refused_without_reading_it_all(tmp_path: Path) -> None:
    big = tmp_path / "probes.yaml"
    big.write_bytes(b"# padding\n" * (MAX_BYTES // 10 + 1))
    errors, seconds, peak = measured(lambda: load(big))
    assert errors == [f"{big}:1: the file is larger than 16 MiB, the most a config may be"]
    assert peak < MAX_BYTES * 1.5


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="needs /dev/zero")
def test_an_endless_file_is_refused() -> None:
    errors, seconds, _ = measured(lambda: load("/dev/zero"))
    assert errors == ["/dev/zero: not a regular file (a device or socket): give the config "
                      "file itself"]  # fmt: skip
    assert seconds < 1


def test_a_fifo_with_no_writer_is_refused_at_once(tmp_path: Path) -> None:
    """A FIFO put where probes.yaml was would block the read (and every reload) for good."""
    fifo = tmp_path / "probes.yaml"
    os.mkfifo(fifo)
    errors, seconds, _ = measured(lambda: load(fifo))
    assert errors == [f"{fifo}: not a regular file (a FIFO): give the config file itself"]
    assert seconds < 1


def test_windows_line_endings_load_as_unix_ones(tmp_path: Path) -> None:
    (tmp_path / "unix.yaml").write_text(MINIMAL)
    (tmp_path / "windows.yaml").write_bytes(MINIMAL.replace("\n", "\r\n").encode())
    windows, unix = load(tmp_path / "windows.yaml"), load(tmp_path / "unix.yaml")
    assert replace(windows, source="") == replace(unix, source="")
    assert windows.fingerprint == unix.fingerprint


def test_thousands_of_misspelt_references_are_refused_in_seconds() -> None:
    names = "".join(f"  - {{name: host{i}.region.internal}}\n" for i in range(5000))
    services = "".join(
        f"  - {{name: s{i}, depends_on: [host{i}.regoin.internal]}}\n" for i in range(5000)
    )
    text = MINIMAL.replace("names:\n", "names:\n" + names) + "services:\n" + services
    errors, seconds, _ = measured(lambda: parse(text))
    assert errors[0] == (
        f"probes.yaml:{5007}: services[0].depends_on[0]: 'host0.regoin.internal' is not a"
        " listed name (did you mean 'host0.region.internal'?)"
    )
    assert len(errors) == 101 and errors[-1].endswith("and 4,900 more errors from here on,"
                                                       " not shown; fix these first")  # fmt: skip
    assert seconds < 10


def test_a_long_dependency_cycle_is_found_in_linear_time() -> None:
    services = "".join(
        f"  - {{name: s{i}, depends_on: ['service:s{(i + 1) % 3000}']}}\n" for i in range(3000)
    )
    errors, seconds, _ = measured(lambda: parse(MINIMAL + "services:\n" + services))
    assert errors == [
        "probes.yaml:7: services[0].depends_on: dependency cycle: s0 → s1 → s2 → s3 → s4 → s5"
        " → s6 → s7 → … (2992 more) → s0"
    ]
    assert seconds < 5
