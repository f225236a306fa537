"""Which configs are the same for what dnsmon asks and how it judges the answers.

``diff`` compares two snapshots answer by answer, and warns when they come from
different configs: then an answer can have changed because the question did. Settings
that change neither the questions nor the verdicts — where alerts go, where traffic is
learned from, the words shown to people, the machines ``learn`` attributes queries to —
and the file's comments and layout are left out, so a snapshot taken before an
``alerting:`` change compares with one taken after it without a warning.
"""

from __future__ import annotations

import hashlib
from typing import Any

import orjson

# Top-level sections for ``serve`` alone, and keys of the entries below that say nothing
# about what is asked or judged.
NOT_PROBED = {"alerting", "learning"}
NOT_PROBED_IN = {
    "services": {"description", "hosts"},
    "backups": {"description", "instructions", "hosts"},
    "clients": {"networks"},
}


def probed(raw: dict[str, Any]) -> str:
    """A short hash of the config data that decides what is asked and how it is judged."""
    kept = {key: _without(key, value) for key, value in raw.items() if key not in NOT_PROBED}
    data = orjson.dumps(kept, option=orjson.OPT_SORT_KEYS, default=str)
    return hashlib.sha256(data).hexdigest()[:16]


def _without(section: str, value: Any) -> Any:
    """``value`` with the keys of its entries that are not probed left out."""
    dropped = NOT_PROBED_IN.get(section)
    if dropped is None or not isinstance(value, list):
        return value
    return [_entry(entry, dropped) for entry in value]


def _entry(entry: Any, dropped: set[str]) -> Any:
    if not isinstance(entry, dict):
        return entry
    return {k: _without(k, v) for k, v in entry.items() if k not in dropped}
