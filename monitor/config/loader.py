"""probes.yaml → the dataclasses of ``model``.

Every problem is collected with its file, line and key path, and all of them are raised
together as one ``ConfigError``: nothing is probed from a config that does not load.
"""

from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from monitor.config import fingerprint, reading, rules, sections, values, yamlsource
from monitor.config.answers import canonical_rdata
from monitor.config.checking import Checker, kind_of
from monitor.config.errors import ConfigError
from monitor.config.model import Alerting, Backup, Config, Defaults, Name, Server, Service
from monitor.config.quoting import clip, quote
from monitor.config.values import parse_duration
from monitor.config.yamlsource import Path as KeyPath
from monitor.config.yamlsource import YamlSyntaxError
from monitor.states import RECORD_TYPES, Criticality, Role, Software, Transport

__all__ = ["ConfigError", "load", "parse", "parse_duration"]


def load(path: str | Path) -> Config:
    """Read and validate a probes.yaml file; raises ConfigError with every problem."""
    path = Path(path)
    return parse(reading.read(path), str(path))


def parse(text: str, source: str = "probes.yaml") -> Config:
    """Validate config text; ``source`` names the file in error messages.

    Bounded in time and memory whatever ``text`` holds; every error is a ConfigError
    whose lines start with ``source:line:``.
    """
    data = reading.check_text(text, source)
    try:
        raw = yamlsource.load(text)
    except YamlSyntaxError as exc:
        raise ConfigError([f"{source}:{exc.line}: {exc.message}"]) from exc
    if raw is None:  # an empty file, or one with only comments
        raise ConfigError([f"{source}:1: empty config"])
    # Lines are read only for an error: the text is parsed again, with them.
    checker = _Checker(source, lambda: yamlsource.load_with_lines(text)[1])
    config = checker.config(raw)
    if config is not None:
        config = replace(config, fingerprint=hashlib.sha256(data).hexdigest()[:16])
        checker.report(rules.check(config, checker.dropped))
    if checker.errors or config is None:
        raise ConfigError(checker.errors.lines())
    return replace(config, probe_fingerprint=fingerprint.probed(raw))


class _Checker(Checker):
    """Turns raw YAML data into the config's dataclasses while collecting located errors."""

    def __init__(self, source: str, lines: Callable[[], dict[KeyPath, int]]) -> None:
        super().__init__(source, lines)
        # Names of entries too broken to build, by section: references to them are not
        # reported again as unknown, so all errors show at once without false ones.
        self.dropped: dict[str, set[str]] = {"servers": set(), "names": set(), "services": set()}

    def config(self, data: Any) -> Config | None:
        allowed = {
            "version", "site", "defaults", "servers", "names", "services", "alerting",
            "clients", "learning",
        }  # fmt: skip
        top = self.mapping(data, (), allowed)
        if top is None:
            return None
        if top.get("version", 1) != 1:
            version = quote(top.get("version"))
            self.error(("version",), f"unsupported version {version}; expected 1")
        site = self.typed(top.get("site", "default"), ("site",), str, "a string") or "default"
        defaults = self.defaults(top.get("defaults", {}))
        servers = self.items(top.get("servers"), ("servers",), self.server, required=True)
        names = self.items(top.get("names"), ("names",), self.name, required=True)
        services = self.items(top.get("services", []), ("services",), self.service)
        alerting = self.alerting(top.get("alerting", {}))
        clients = self.items(
            top.get("clients", []), ("clients",), lambda v, p: sections.client_group(self, v, p)
        )
        learning = sections.learning(self, top.get("learning", {}))
        return Config(
            site, defaults, servers, names, services, source=self.source, alerting=alerting,
            clients=clients, learning=learning,
        )  # fmt: skip

    def alerting(self, value: Any) -> Alerting:
        raw = self.mapping(value, ("alerting",), {"alertmanagers"}) or {}
        path: KeyPath = ("alerting", "alertmanagers")
        urls = self.string_list(raw.get("alertmanagers", []), path)
        return Alerting(
            tuple(u for i, u in enumerate(urls) if self.alertmanager_url(u, (*path, i)))
        )

    def alertmanager_url(self, url: str, path: KeyPath) -> bool:
        """An http(s) URL whose host is an IP literal: alerts about DNS must not need DNS."""
        try:
            parsed = urlsplit(url)
            host = parsed.hostname
        except ValueError:  # e.g. an unclosed [ in the host
            host = None
        if not host or parsed.scheme not in ("http", "https"):
            self.error(path, f"{quote(url)} is not an http:// or https:// URL")
            return False
        try:
            ipaddress.ip_address(host)
            parsed.port  # noqa: B018  (raises on a bad port)
        except ValueError:
            self.error(
                path,
                f"{quote(url)}: the host must be an IP literal; dnsmon never resolves names to "
                "send alerts about DNS",
            )
            return False
        return True

    def items(self, value: Any, path: KeyPath, build: Any, required: bool = False) -> tuple:
        if required and (value is None or value == []):
            self.error(path, "is required and must list at least one entry")
            return ()
        if not isinstance(value, list):
            self.error(path, f"expected a list, got {kind_of(value)}")
            return ()
        built = [build(item, (*path, i)) for i, item in enumerate(value)]
        for item, made in zip(value, built, strict=True):
            if made is None and isinstance(item, dict) and isinstance(item.get("name"), str):
                name = item["name"].lower().rstrip(".")
                self.dropped.setdefault(str(path[-1]), set()).add(name)
        return tuple(b for b in built if b is not None)

    def defaults(self, value: Any) -> Defaults:
        fields = {
            "interval", "timeout", "attempts", "transport", "max_qps_per_server", "warn_before"
        }  # fmt: skip
        raw = self.mapping(value, ("defaults",), fields) or {}
        result: dict[str, Any] = {}
        bounds = {"interval": values.INTERVAL, "timeout": values.TIMEOUT}
        for key in ("interval", "timeout"):
            if key in raw:
                result[key] = self.duration(raw[key], ("defaults", key), bounds[key])
        if "attempts" in raw:
            path = ("defaults", "attempts")
            result["attempts"] = self.number(raw["attempts"], path, int, values.ATTEMPTS)
        if "max_qps_per_server" in raw:
            path = ("defaults", "max_qps_per_server")
            result["max_qps_per_server"] = self.number(
                raw["max_qps_per_server"], path, float, values.MAX_QPS
            )
        if "warn_before" in raw:
            result["warn_before"] = self.duration(
                raw["warn_before"], ("defaults", "warn_before"), values.WARN_BEFORE, True
            )
        if "transport" in raw:
            result["transport"] = self.choice(
                raw["transport"], ("defaults", "transport"), Transport
            )
        defaults = Defaults(**{k: v for k, v in result.items() if v is not None})
        interval_refused = "interval" in raw and result["interval"] is None
        if result.get("timeout") is not None and not interval_refused:
            self.timeout_fits(raw["timeout"], defaults, "interval" in raw)
        return defaults

    def timeout_fits(self, written: Any, defaults: Defaults, interval_given: bool) -> None:
        """A written timeout longer than the interval can never be waited out in a round.

        The default timeout is not held against a short interval: the operator did not
        write it, and ``lint`` says when timeouts and attempts overrun the interval.
        """
        if defaults.timeout > defaults.interval:
            interval = values.format_duration(defaults.interval)
            whose = "the interval" if interval_given else "the default interval"
            self.error(
                ("defaults", "timeout"),
                f"{quote(written)} is longer than {whose} ({interval}): a query must be "
                "answered or given up within the round that asks it",
            )

    def server(self, value: Any, path: KeyPath) -> Server | None:
        allowed = {
            "name", "address", "port", "role", "zones", "serve_stale", "primary", "software"
        }  # fmt: skip
        raw = self.mapping(value, path, allowed)
        if raw is None:
            return None
        name = self.required_string(raw, path, "name")
        address = self.address(raw.get("address"), (*path, "address"))
        port = self.port(raw.get("port", 53), (*path, "port"))
        roles = self.roles(raw.get("role", "recursive"), (*path, "role"))
        zones = self.zones(raw.get("zones", []), (*path, "zones"))
        if roles and Role.AUTHORITATIVE in roles and not raw.get("zones"):
            self.error((*path, "zones"), "an authoritative server must list the zones it serves")
        if roles == (Role.RECURSIVE,) and zones:
            self.error((*path, "zones"), "only authoritative servers serve zones")
        serve_stale = self.serve_stale(raw, path, roles)
        primary = self.primary(raw, path, roles)
        software = None
        if "software" in raw:
            software = self.choice(raw["software"], (*path, "software"), Software)
        if name is None or address is None or not roles:
            return None
        return Server(
            name, address, port, roles[0], zones, serve_stale, _index(path), roles, primary,
            software,
        )  # fmt: skip

    def roles(self, value: Any, path: KeyPath) -> tuple[Role, ...]:
        """``recursive``, ``authoritative``, or both as a list (an AD-style server);
        recursive first whatever the order written."""
        if isinstance(value, list):
            if not value:
                self.error(path, "must name at least one role")
                return ()
            found = [self.choice(v, (*path, i), Role) for i, v in enumerate(value)]
            if None in found:
                return ()
            if len(set(found)) != len(found):
                self.error(path, "names a role twice")
                return ()
            return tuple(r for r in Role if r in found)
        role = self.choice(value, path, Role)
        return (role,) if role is not None else ()

    def primary(self, raw: dict, path: KeyPath, roles: tuple[Role, ...]) -> bool:
        if "primary" not in raw:
            return False
        flag = self.typed(raw["primary"], (*path, "primary"), bool, "true or false")
        if flag and Role.AUTHORITATIVE not in roles:
            self.error((*path, "primary"), "only an authoritative server is a zone's primary")
        return bool(flag)

    def port(self, value: Any, path: KeyPath) -> int:
        if self.typed(value, path, int, "a port number") is None:
            return 53
        if not 0 < value < 65536:
            self.error(path, f"{quote(value)} is not a port number (1-65535)")
        return int(value)

    def zones(self, value: Any, path: KeyPath) -> tuple[str, ...]:
        zones = self.string_list(value, path)
        checked = (self.dns_name(z, (*path, i)) for i, z in enumerate(zones))
        return tuple(z for z in checked if z is not None)

    def serve_stale(self, raw: dict, path: KeyPath, roles: tuple[Role, ...]) -> float | None:
        if "serve_stale" not in raw:
            return None
        if roles == (Role.AUTHORITATIVE,):
            self.error((*path, "serve_stale"), "only resolvers (role: recursive) serve stale")
            return None
        # 0 says "serves nothing stale", which is known; unset means unknown.
        return self.duration(
            raw["serve_stale"], (*path, "serve_stale"), values.SERVE_STALE, allow_zero=True
        )

    def address(self, value: Any, path: KeyPath) -> str | None:
        if value is None:
            self.error(path, "address is required")
            return None
        try:  # only text: ipaddress would take a number as an address too
            return str(ipaddress.ip_address(value if isinstance(value, str) else "-"))
        except ValueError:
            pass
        with_port = _address_and_port(value)
        if with_port is not None:
            address, port = with_port
            written = f"'{address}'" if ":" in address else address  # YAML reads it as text
            self.error(
                path,
                f"{quote(value)} holds a port: write the address as `address: {written}` "
                f"and the port as `port: {port}`",
            )
            return None
        self.error(
            path,
            f"{quote(value)} is not an IP literal; dnsmon never resolves the servers it watches",
        )
        return None

    def name(self, value: Any, path: KeyPath) -> Name | None:
        raw = self.mapping(value, path, {"name", "type", "expect", "servers"})
        if raw is None:
            return None
        name = self.required_string(raw, path, "name")
        rdtype = self.record_type(raw.get("type", "A"), (*path, "type"))
        if rdtype is None:
            return None
        expect = None
        if "expect" in raw:
            expect = self.expect(raw["expect"], (*path, "expect"), rdtype)
        servers = None
        if "servers" in raw:
            servers = self.string_list(raw["servers"], (*path, "servers"))
        name = self.dns_name(name, (*path, "name")) if name is not None else None
        if name is None:
            return None
        return Name(name, rdtype, expect, servers, _index(path))

    def record_type(self, value: Any, path: KeyPath) -> str | None:
        rdtype = value.upper() if isinstance(value, str) else None
        if rdtype not in RECORD_TYPES:
            self.error(path, f"{quote(value)} is not one of: {' '.join(RECORD_TYPES)}")
            return None
        return rdtype

    def expect(self, value: Any, path: KeyPath, rdtype: str) -> frozenset[str] | None:
        if not isinstance(value, list):
            value = [value]
        texts = set()
        for i, item in enumerate(value):
            if isinstance(item, list | dict):
                self.error((*path, i), f"expected an answer, got {kind_of(item)}")
                continue
            try:
                texts.add(canonical_rdata(rdtype, str(item)))
            except ValueError as exc:
                reason = clip(str(exc), 120)
                self.error((*path, i), f"{quote(item)} is not a valid {rdtype} answer: {reason}")
        return frozenset(texts)

    def service(self, value: Any, path: KeyPath) -> Service | None:
        allowed = {
            "name", "description", "criticality", "depends_on", "backups", "clients", "hosts"
        }  # fmt: skip
        raw = self.mapping(value, path, allowed)
        if raw is None:
            return None
        name = self.required_string(raw, path, "name")
        description = self.text(raw, path, "description")
        criticality = self.choice(
            raw.get("criticality", "normal"), (*path, "criticality"), Criticality
        )
        depends_on = self.depends_on(raw, path)
        backups = self.items(raw.get("backups", []), (*path, "backups"), self.backup)
        clients = None
        if "clients" in raw:
            clients = self.string_list(raw["clients"], (*path, "clients"))
        hosts = sections.address_blocks(self, raw.get("hosts", []), (*path, "hosts"))
        if name is None or criticality is None:
            return None
        return Service(
            name, description, criticality, depends_on, backups, _index(path), clients, hosts
        )

    def depends_on(self, raw: dict, path: KeyPath) -> tuple[str, ...]:
        """What a service or backup needs. Never assumed: a routine nobody wrote the DNS
        of is the one that fails unseen, so "needs no DNS" is said, as ``[]``."""
        if "depends_on" not in raw:
            self.error(path, "depends_on is required: list the DNS names (or service:NAME) "
                       "it needs, or write depends_on: [] if it needs no DNS at all")  # fmt: skip
            return ()
        return self.string_list(raw["depends_on"], (*path, "depends_on"))

    def backup(self, value: Any, path: KeyPath) -> Backup | None:
        allowed = {"name", "description", "depends_on", "instructions", "hosts"}
        raw = self.mapping(value, path, allowed)
        if raw is None:
            return None
        name = self.required_string(raw, path, "name")
        description = self.text(raw, path, "description")
        instructions = self.text(raw, path, "instructions")
        depends_on = self.depends_on(raw, path)
        hosts = sections.address_blocks(self, raw.get("hosts", []), (*path, "hosts"))
        if name is None:
            return None
        return Backup(name, description, depends_on, instructions, _index(path), hosts)


def _address_and_port(value: Any) -> tuple[str, int] | None:
    """``127.0.0.1:53`` or ``[::1]:53``, as an address and a port; None for anything
    else (a bare IPv6 address has colons too, and is taken before this is asked)."""
    if not isinstance(value, str):
        return None
    host, colon, port = value.strip().rpartition(":")
    if not colon or not port.isascii() or not port.isdigit() or not 0 < int(port) < 65536:
        return None
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif ":" in host:
        return None  # ``::1:53`` is an IPv6 address or nothing: not a guess to make
    try:
        return str(ipaddress.ip_address(host)), int(port)
    except ValueError:
        return None


def _index(path: KeyPath) -> int:
    """An entry's position in the file's list: the last part of its path."""
    return int(path[-1])
