"""The config's newer sections: client groups, the learning listener, address lists.

Built by the loader's checker, like every other section: each problem recorded with its
file, line and key path.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from monitor.config import values
from monitor.config.checking import Checker
from monitor.config.model import ClientGroup, Learning
from monitor.config.quoting import quote
from monitor.config.yamlsource import Path
from monitor.states import Stub

CLIENT_KEYS = {
    "name", "resolvers", "stub", "timeout", "attempts", "rotate", "source", "lookup_budget",
    "networks",
}  # fmt: skip


def client_group(checker: Checker, value: Any, path: Path) -> ClientGroup | None:
    """One entry of ``clients:``; None (with the errors recorded) when it cannot be built."""
    raw = checker.mapping(value, path, CLIENT_KEYS)
    if raw is None:
        return None
    name = checker.required_string(raw, path, "name")
    resolvers = _resolvers(checker, raw, path)
    stub = checker.choice(raw.get("stub", "glibc"), (*path, "stub"), Stub)
    timeout = attempts = budget = None
    if "timeout" in raw:
        timeout = checker.duration(raw["timeout"], (*path, "timeout"), values.CLIENT_TIMEOUT)
    if "attempts" in raw:
        bounds = values.CLIENT_ATTEMPTS
        attempts = checker.number(raw["attempts"], (*path, "attempts"), int, bounds)
    if "lookup_budget" in raw:
        budget = checker.duration(
            raw["lookup_budget"], (*path, "lookup_budget"), values.LOOKUP_BUDGET
        )
    rotate = checker.typed(raw.get("rotate", False), (*path, "rotate"), bool, "true or false")
    source = None
    if "source" in raw:
        source = ip_literal(checker, raw["source"], (*path, "source"), "a source address")
    networks = address_blocks(checker, raw.get("networks", []), (*path, "networks"))
    if name is None or stub is None or not resolvers:
        return None
    return ClientGroup(
        name, resolvers, stub, timeout, attempts, bool(rotate), source, budget, networks,
        int(path[-1]),
    )  # fmt: skip


def _resolvers(checker: Checker, raw: dict[Any, Any], path: Path) -> tuple[str, ...]:
    where = (*path, "resolvers")
    if "resolvers" not in raw:
        checker.error(path, "resolvers is required: the servers these clients ask, in order")
        return ()
    listed = checker.string_list(raw["resolvers"], where)
    if not listed and isinstance(raw["resolvers"], list):
        checker.error(where, "must list at least one resolver")
    return listed


def ip_literal(checker: Checker, value: Any, path: Path, what: str) -> str | None:
    """An IPv4 or IPv6 address written as such; dnsmon resolves no names of its own."""
    try:  # only text: ipaddress would take a number as an address too
        return str(ipaddress.ip_address(value if isinstance(value, str) else "-"))
    except ValueError:
        checker.error(path, f"{quote(value)} is not an IP literal ({what})")
        return None


def address_blocks(checker: Checker, value: Any, path: Path) -> tuple[str, ...]:
    """Addresses or networks (``10.20.0.0/16``), as written, each checked."""
    blocks = []
    for i, text in enumerate(checker.string_list(value, path)):
        try:
            blocks.append(str(ipaddress.ip_network(text, strict=False)))
        except ValueError:
            checker.error((*path, i), f"{quote(text)} is not an address or a network like "
                          "10.20.0.0/16")  # fmt: skip
    return tuple(blocks)


def learning(checker: Checker, value: Any) -> Learning:
    """``learning:``: where resolvers send dnstap (``unix:PATH`` or ``ADDR:PORT``), and the
    state file."""
    raw = checker.mapping(value, ("learning",), {"dnstap", "state"}) or {}
    path: Path = ("learning", "dnstap")
    listeners = [
        text
        for i, text in enumerate(checker.string_list(raw.get("dnstap", []), path))
        if _listener(checker, text, (*path, i))
    ]
    state = None
    if "state" in raw:
        state = checker.typed(raw["state"], ("learning", "state"), str, "a file path")
    return Learning(tuple(listeners), state)


def _listener(checker: Checker, text: str, path: Path) -> bool:
    if text.startswith("unix:") and len(text) > len("unix:"):
        return True
    host, _, port = text.rpartition(":")
    try:
        ipaddress.ip_address(host.strip("[]"))
        valid_port = port.isdigit() and 0 < int(port) < 65536
    except ValueError:
        valid_port = False
    if not valid_port:
        checker.error(path, f"{quote(text)} is neither unix:PATH nor ADDR:PORT with an IP "
                      "literal")  # fmt: skip
    return valid_port
