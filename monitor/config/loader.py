"""probes.yaml → the dataclasses of ``model``.

Every problem is collected with its file, line and key path, and all of them are raised
together as one ``ConfigError``: nothing is probed from a config that does not load.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from monitor.config import rules
from monitor.config.answers import canonical_rdata
from monitor.config.model import Alerting, Backup, Config, Defaults, Name, Server, Service
from monitor.config.suggest import did_you_mean
from monitor.config.yamlsource import Path as KeyPath
from monitor.config.yamlsource import YamlSyntaxError, load_with_lines, path_text
from monitor.states import RECORD_TYPES, Criticality, Role, Transport


class ConfigError(Exception):
    """A config that cannot be used; ``errors`` lists every problem, one line each."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("\n".join(errors))
        self.errors = errors


def load(path: str | Path) -> Config:
    """Read and validate a probes.yaml file; raises ConfigError with every problem."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        hint = " (give the file with --config FILE or $DNSMON_CONFIG)"
        raise ConfigError([f"{path}: cannot read: {exc.strerror or exc}{hint}"]) from exc
    return parse(text, str(path))


def parse(text: str, source: str = "probes.yaml") -> Config:
    """Validate config text; ``source`` names the file in error messages."""
    try:
        data, lines = load_with_lines(text)
    except YamlSyntaxError as exc:
        raise ConfigError([f"{source}:{exc.line}: {exc.message}"]) from exc
    if data is None:  # an empty file, or one with only comments
        raise ConfigError([f"{source}:1: empty config"])
    checker = _Checker(source, lines)
    config = checker.config(data)
    fingerprint = hashlib.sha256(text.encode()).hexdigest()[:16]
    if config is not None:
        config = replace(config, fingerprint=fingerprint)
        checker.errors.extend(checker.located(rules.check(config, checker.dropped)))
    if checker.errors or config is None:
        raise ConfigError(_by_line(checker.errors))
    return config


def _by_line(errors: list[str]) -> list[str]:
    """Errors in file order, which is how people fix them."""

    def line(error: str) -> int:
        parts = error.split(":", 2)
        return int(parts[1]) if len(parts) > 2 and parts[1].isdigit() else 0

    return sorted(errors, key=line)


_DURATION = re.compile(r"^(?:(\d+(?:\.\d+)?)(ms|s|m|h))+$")
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(value: object, allow_zero: bool = False) -> float:
    """``500ms``, ``2s``, ``1m30s`` or a bare number of seconds → seconds."""
    if isinstance(value, bool):
        raise ValueError("expected a duration like 500ms, 2s or 1m")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str) and _DURATION.match(value.strip()):
        parts = _DURATION_PART.findall(value.strip())
        seconds = sum(float(n) * _UNIT_SECONDS[u] for n, u in parts)
    else:
        raise ValueError(f"{value!r} is not a duration like 500ms, 2s or 1m")
    if seconds < 0 or (seconds == 0 and not allow_zero):
        raise ValueError("must be greater than zero")
    return seconds


class _Checker:
    """Turns raw YAML data into dataclasses while collecting located errors."""

    def __init__(self, source: str, lines: dict[KeyPath, int]) -> None:
        self.source = source
        self.lines = lines
        self.errors: list[str] = []
        # Names of entries too broken to build, by section: references to them are not
        # reported again as unknown, so all errors show at once without false ones.
        self.dropped: dict[str, set[str]] = {"servers": set(), "names": set(), "services": set()}

    def error(self, path: KeyPath, message: str) -> None:
        line = self._line(path)
        where = f"{path_text(path)}: " if path else ""
        self.errors.append(f"{self.source}:{line}: {where}{message}")

    def located(self, problems: list[rules.Problem]) -> list[str]:
        out = []
        for path, message in problems:
            where = f"{path_text(path)}: " if path else ""
            out.append(f"{self.source}:{self._line(path)}: {where}{message}")
        return out

    def _line(self, path: KeyPath) -> int:
        while path and path not in self.lines:
            path = path[:-1]
        return self.lines.get(path, 1)

    def mapping(self, value: Any, path: KeyPath, allowed: set[str]) -> dict[str, Any] | None:
        if not isinstance(value, dict):
            self.error(path, f"expected a mapping, got {_kind(value)}")
            return None
        for key in value:
            if key not in allowed:
                hint = did_you_mean(str(key), allowed)
                self.error((*path, str(key)), f"unknown key{hint}")
        return value

    def typed(self, value: Any, path: KeyPath, kind: type | tuple[type, ...], label: str) -> Any:
        if isinstance(value, bool) and kind is not bool or not isinstance(value, kind):
            self.error(path, f"expected {label}, got {_kind(value)}")
            return None
        return value

    def choice(self, value: Any, path: KeyPath, enum: Any) -> Any:
        try:
            return enum(value)
        except ValueError:
            options = ", ".join(e.value for e in enum)
            self.error(path, f"{value!r} is not one of: {options}")
            return None

    def string_list(self, value: Any, path: KeyPath) -> tuple[str, ...]:
        if not isinstance(value, list):
            self.error(path, f"expected a list, got {_kind(value)}")
            return ()
        return tuple(
            item
            for i, item in enumerate(value)
            if self.typed(item, (*path, i), str, "a string") is not None
        )

    def config(self, data: Any) -> Config | None:
        allowed = {"version", "site", "defaults", "servers", "names", "services", "alerting"}
        top = self.mapping(data, (), allowed)
        if top is None:
            return None
        if top.get("version", 1) != 1:
            self.error(("version",), f"unsupported version {top.get('version')!r}; expected 1")
        site = self.typed(top.get("site", "default"), ("site",), str, "a string") or "default"
        defaults = self.defaults(top.get("defaults", {}))
        servers = self.items(top.get("servers"), ("servers",), self.server, required=True)
        names = self.items(top.get("names"), ("names",), self.name, required=True)
        services = self.items(top.get("services", []), ("services",), self.service)
        alerting = self.alerting(top.get("alerting", {}))
        return Config(
            site, defaults, servers, names, services, source=self.source, alerting=alerting
        )

    def alerting(self, value: Any) -> Alerting:
        raw = self.mapping(value, ("alerting",), {"alertmanagers"}) or {}
        path: KeyPath = ("alerting", "alertmanagers")
        urls = self.string_list(raw.get("alertmanagers", []), path)
        return Alerting(
            tuple(u for i, u in enumerate(urls) if self.alertmanager_url(u, (*path, i)))
        )

    def alertmanager_url(self, url: str, path: KeyPath) -> bool:
        """An http(s) URL whose host is an IP literal: alerts about DNS must not need DNS."""
        parsed = urlsplit(url)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            self.error(path, f"{url!r} is not an http:// or https:// URL")
            return False
        try:
            ipaddress.ip_address(parsed.hostname)
            parsed.port  # noqa: B018  (raises on a bad port)
        except ValueError:
            self.error(
                path,
                f"{url!r}: the host must be an IP literal; dnsmon never resolves names to "
                "send alerts about DNS",
            )
            return False
        return True

    def items(self, value: Any, path: KeyPath, build: Any, required: bool = False) -> tuple:
        if required and (value is None or value == []):
            self.error(path, "is required and must list at least one entry")
            return ()
        if not isinstance(value, list):
            self.error(path, f"expected a list, got {_kind(value)}")
            return ()
        built = [build(item, (*path, i)) for i, item in enumerate(value)]
        for item, made in zip(value, built, strict=True):
            if made is None and isinstance(item, dict) and isinstance(item.get("name"), str):
                name = item["name"].lower().rstrip(".")
                self.dropped.setdefault(str(path[-1]), set()).add(name)
        return tuple(replace(b, index=i) for i, b in enumerate(built) if b is not None)

    def defaults(self, value: Any) -> Defaults:
        fields = {"interval", "timeout", "attempts", "transport", "max_qps_per_server"}
        raw = self.mapping(value, ("defaults",), fields) or {}
        result: dict[str, Any] = {}
        for key in ("interval", "timeout"):
            if key in raw:
                result[key] = self.duration(raw[key], ("defaults", key))
        if "attempts" in raw:
            result["attempts"] = self.positive(raw["attempts"], ("defaults", "attempts"), int)
        if "max_qps_per_server" in raw:
            path = ("defaults", "max_qps_per_server")
            result["max_qps_per_server"] = self.positive(raw["max_qps_per_server"], path, float)
        if "transport" in raw:
            result["transport"] = self.choice(
                raw["transport"], ("defaults", "transport"), Transport
            )
        return Defaults(**{k: v for k, v in result.items() if v is not None})

    def duration(self, value: Any, path: KeyPath, allow_zero: bool = False) -> float | None:
        try:
            return parse_duration(value, allow_zero)
        except ValueError as exc:
            self.error(path, str(exc))
            return None

    def positive(self, value: Any, path: KeyPath, kind: type) -> Any:
        label = "a whole number" if kind is int else "a number"
        accepted: tuple[type, ...] = (int,) if kind is int else (int, float)
        number = self.typed(value, path, accepted, f"{label} greater than zero")
        if number is not None and number <= 0:
            self.error(path, f"must be greater than zero, got {number}")
            return None
        return kind(number) if number is not None else None

    def server(self, value: Any, path: KeyPath) -> Server | None:
        allowed = {"name", "address", "port", "role", "zones", "serve_stale"}
        raw = self.mapping(value, path, allowed)
        if raw is None:
            return None
        name = self.required_string(raw, path, "name")
        address = self.address(raw.get("address"), (*path, "address"))
        port = raw.get("port", 53)
        if self.typed(port, (*path, "port"), int, "a port number") is not None:
            if not 0 < port < 65536:
                self.error((*path, "port"), f"{port} is not a port number (1-65535)")
        role = self.choice(raw.get("role", "recursive"), (*path, "role"), Role)
        zones = tuple(
            z.lower().rstrip(".") for z in self.string_list(raw.get("zones", []), (*path, "zones"))
        )
        if role is Role.AUTHORITATIVE and not zones:
            self.error((*path, "zones"), "an authoritative server must list the zones it serves")
        if role is Role.RECURSIVE and zones:
            self.error((*path, "zones"), "only authoritative servers serve zones")
        serve_stale = self.serve_stale(raw, path, role)
        if name is None or address is None or role is None:
            return None
        port = port if isinstance(port, int) else 53
        return Server(name, address, port, role, zones, serve_stale)

    def serve_stale(self, raw: dict, path: KeyPath, role: Role | None) -> float | None:
        if "serve_stale" not in raw:
            return None
        if role is Role.AUTHORITATIVE:
            self.error((*path, "serve_stale"), "only resolvers (role: recursive) serve stale")
            return None
        # 0 says "serves nothing stale", which is known; unset means unknown.
        return self.duration(raw["serve_stale"], (*path, "serve_stale"), allow_zero=True)

    def required_string(self, raw: dict, path: KeyPath, key: str) -> str | None:
        if key not in raw:
            self.error(path, f"{key} is required")
            return None
        value = self.typed(raw[key], (*path, key), str, "a string")
        if value is not None and not value.strip():
            self.error((*path, key), "must not be empty")
            return None
        return value

    def address(self, value: Any, path: KeyPath) -> str | None:
        if value is None:
            self.error(path, "address is required")
            return None
        try:
            return str(ipaddress.ip_address(str(value)))
        except ValueError:
            self.error(
                path,
                f"{value!r} is not an IP literal; dnsmon never resolves the servers it watches",
            )
            return None

    def name(self, value: Any, path: KeyPath) -> Name | None:
        raw = self.mapping(value, path, {"name", "type", "expect", "servers"})
        if raw is None:
            return None
        name = self.required_string(raw, path, "name")
        rdtype = str(raw.get("type", "A")).upper()
        if rdtype not in RECORD_TYPES:
            self.error(
                (*path, "type"), f"{raw.get('type')!r} is not one of: {' '.join(RECORD_TYPES)}"
            )
            return None
        expect = None
        if "expect" in raw:
            expect = self.expect(raw["expect"], (*path, "expect"), rdtype)
        servers = None
        if "servers" in raw:
            servers = self.string_list(raw["servers"], (*path, "servers"))
        if name is None:
            return None
        return Name(name.lower().rstrip("."), rdtype, expect, servers)

    def expect(self, value: Any, path: KeyPath, rdtype: str) -> frozenset[str] | None:
        if not isinstance(value, list):
            value = [value]
        texts = set()
        for i, item in enumerate(value):
            try:
                texts.add(canonical_rdata(rdtype, str(item)))
            except ValueError as exc:
                self.error((*path, i), f"{item!r} is not a valid {rdtype} answer: {exc}")
        return frozenset(texts)

    def service(self, value: Any, path: KeyPath) -> Service | None:
        allowed = {"name", "description", "criticality", "depends_on", "backups"}
        raw = self.mapping(value, path, allowed)
        if raw is None:
            return None
        name = self.required_string(raw, path, "name")
        description = self.text(raw, path, "description")
        criticality = self.choice(
            raw.get("criticality", "normal"), (*path, "criticality"), Criticality
        )
        depends_on = self.string_list(raw.get("depends_on", []), (*path, "depends_on"))
        backups = self.items(raw.get("backups", []), (*path, "backups"), self.backup)
        if name is None or criticality is None:
            return None
        return Service(name, description, criticality, depends_on, backups)

    def backup(self, value: Any, path: KeyPath) -> Backup | None:
        raw = self.mapping(value, path, {"name", "description", "depends_on", "instructions"})
        if raw is None:
            return None
        name = self.required_string(raw, path, "name")
        description = self.text(raw, path, "description")
        instructions = self.text(raw, path, "instructions")
        depends_on = self.string_list(raw.get("depends_on", []), (*path, "depends_on"))
        if name is None:
            return None
        return Backup(name, description, depends_on, instructions)

    def text(self, raw: dict, path: KeyPath, key: str) -> str:
        """An optional free-text field, "" when absent or wrong (the error is recorded)."""
        return self.typed(raw.get(key, ""), (*path, key), str, "a string") or ""


def _kind(value: Any) -> str:
    if value is None:
        return "nothing"
    kinds = {dict: "a mapping", list: "a list", str: "a string", bool: "a boolean"}
    kinds |= {int: "a number", float: "a number"}
    return kinds.get(type(value), f"a {type(value).__name__}")
