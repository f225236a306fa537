"""Configs that once crashed, hung or ate memory, each refused now with its exact message.

One file each in tests/configs/; ``test_config`` loads them through the library and
``test_cli_config`` through the real ``dnsmon lint``, which must exit 3. ``MINIMAL`` is
the smallest valid config, for tests that change one thing about it.
"""

from __future__ import annotations

MINIMAL = """\
servers:
  - name: resolver-a
    address: 127.0.0.1
names:
  - name: ehr-db.region.internal
"""

BOUNDED = [
    (
        "alias_bomb.yaml",
        "alias_bomb.yaml:7: alias *a4 takes the values repeated through aliases past 100,000,"
        " the most a config may repeat (this refuses alias bombs); write the values out or"
        " alias smaller parts",
    ),
    (
        "invalid_utf8.yaml",
        "invalid_utf8.yaml:2: byte 0xe5 in column 10 is not UTF-8 (a file saved as Latin-1 or"
        " Windows-1252?); save it as UTF-8",
    ),
    (
        "huge_integer.yaml",
        "huge_integer.yaml:5: '" + "9" * 59 + "…': a number 5,000 characters long; no setting"
        " takes one that long (quote it if it is text)",
    ),
    (
        "deep_nesting.yaml",
        "deep_nesting.yaml:2: nested deeper than 32 levels; probes.yaml needs no more than 6",
    ),
    (
        "complex_key.yaml",
        "complex_key.yaml:10: services[0]: a key must be plain text, not a list or mapping",
    ),
    (
        "interval_too_long.yaml",
        "interval_too_long.yaml:3: defaults.interval: '99999999999h' is longer than 24h, the"
        " longest interval dnsmon takes: a monitor that probes less than once a day warns too"
        " late to act on",
    ),
    (
        "interval_too_short.yaml",
        "interval_too_short.yaml:3: defaults.interval: 1e-19 has no unit; write a duration"
        " like 500ms, 2s or 1m",
    ),
    (
        "timeout_too_short.yaml",
        "timeout_too_short.yaml:3: defaults.timeout: '0.1ms' is shorter than 1ms, the shortest"
        " timeout dnsmon takes: no server answers that fast, so every query would time out",
    ),
    (
        "timeout_longer_than_interval.yaml",
        "timeout_longer_than_interval.yaml:4: defaults.timeout: '15s' is longer than the"
        " interval (10s): a query must be answered or given up within the round that asks it",
    ),
    (
        "duration_nan.yaml",
        "duration_nan.yaml:3: defaults.timeout: nan is not a duration like 500ms, 2s or 1m",
    ),
    (
        "too_many_attempts.yaml",
        "too_many_attempts.yaml:3: defaults.attempts: 1000 is more than 10, the maximum for"
        " attempts dnsmon takes: each attempt waits a whole timeout, so a dead server would"
        " hold every round",
    ),
    (
        "infinite_qps.yaml",
        "infinite_qps.yaml:3: defaults.max_qps_per_server: inf is more than 1,000,000, the"
        " maximum for max_qps_per_server dnsmon takes: no DNS server answers one monitor that"
        " fast; the limit is there to protect them",
    ),
    (
        "serve_stale_too_long.yaml",
        "serve_stale_too_long.yaml:5: servers[0].serve_stale: '9000h' is longer than 720h, the"
        " longest serve_stale dnsmon takes: RFC 8767 suggests 1 to 3 days; leave serve_stale"
        " out if you do not know it",
    ),
    (
        "name_label_too_long.yaml",
        "name_label_too_long.yaml:6: names[0].name: 'ehr-db-" + "x" * 52 + "…' is not a DNS"
        " name: a DNS label is > 63 octets long",
    ),
    (
        "zone_empty_label.yaml",
        "zone_empty_label.yaml:9: servers[1].zones[0]: 'region..internal' is not a DNS name:"
        " a DNS label is empty",
    ),
    (
        "control_character.yaml",
        "control_character.yaml:2: '\\x1b' is not allowed in YAML (control characters are not"
        " allowed); write it as an escape in double quotes",
    ),
    ("scalar_with_map_tag.yaml", "scalar_with_map_tag.yaml:2: unsupported tag '!!map'"),
    ("bad_timestamp.yaml", "bad_timestamp.yaml:2: '2026-13-45' is not a valid timestamp"),
    (
        "two_documents.yaml",
        "two_documents.yaml:8: a second YAML document (---); probes.yaml is one document",
    ),
    (
        "alertmanager_unclosed_bracket.yaml",
        "alertmanager_unclosed_bracket.yaml:9: alerting.alertmanagers[0]: 'http://[::1:9093'"
        " is not an http:// or https:// URL",
    ),
    (
        "service_chain_too_long.yaml",
        "service_chain_too_long.yaml:9: services[0].depends_on: starts a chain of 101"
        " services, each depending on the next; dnsmon follows at most 100 (are some service:"
        " entries pointing the wrong way?)",
    ),
]

# 150 misspelt references: the first 100 in file order, then how many more.
MANY_ERRORS_FIRST = (
    "many_errors.yaml:11: services[0].depends_on[0]: 'ehr-db0.region.internal' is not a"
    " listed name (did you mean 'ehr-db.region.internal'?)"
)
MANY_ERRORS_LAST = (
    "many_errors.yaml:110: and 50 more errors from here on, not shown; fix these first"
)
