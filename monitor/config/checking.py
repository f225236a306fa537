"""Checks of single values in raw YAML data, each failure recorded with its line.

``loader`` builds the config's sections from these; every message quotes the value at
fault through ``quoting``, so no message grows with what the file holds.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Callable, Iterable
from enum import Enum
from typing import Any

import dns.exception
import dns.name

from monitor.config.errors import Errors
from monitor.config.quoting import clip, key_text, quote
from monitor.config.suggest import did_you_mean
from monitor.config.values import Bounds, out_of_bounds, parse_duration
from monitor.config.yamlsource import Path, path_text

Problem = tuple[Path, str]
# Names of letters, digits, '-', '_' and '*' in labels of up to 63 need no closer look;
# anything else is parsed by dnspython, which knows every rule.
_PLAIN_NAME = re.compile(r"(?:[A-Za-z0-9_*-]{1,63}\.)*[A-Za-z0-9_*-]{1,63}\.?\Z")
_MAX_PLAIN_NAME = 253


class Checker:
    """Turns raw YAML values into checked ones while collecting located errors."""

    def __init__(self, source: str, lines: Callable[[], dict[Path, int]]) -> None:
        """``lines`` gives the line of every key path; asked at the first error only."""
        self.source = source
        self._lines_of = lines
        self.errors = Errors(source)

    @functools.cached_property
    def lines(self) -> dict[Path, int]:
        return self._lines_of()

    def error(self, path: Path, message: str) -> None:
        where = f"{path_text(path)}: " if path else ""
        self.errors.add(self._line(path), f"{where}{message}")

    def report(self, problems: Iterable[Problem]) -> None:
        """Record problems found on the built config (``rules``) at their lines."""
        for path, message in problems:
            self.error(path, message)

    def _line(self, path: Path) -> int:
        while path and path not in self.lines:
            path = path[:-1]
        return self.lines.get(path, 1)

    def mapping(self, value: Any, path: Path, allowed: set[str]) -> dict[Any, Any] | None:
        if not isinstance(value, dict):
            self.error(path, f"expected a mapping, got {kind_of(value)}")
            return None
        for key in value:
            if key not in allowed:
                text = key_text(key)
                self.error((*path, text), f"unknown key{did_you_mean(text, allowed)}")
        return value

    def typed(self, value: Any, path: Path, kind: type | tuple[type, ...], label: str) -> Any:
        if isinstance(value, bool) and kind is not bool or not isinstance(value, kind):
            self.error(path, f"expected {label}, got {kind_of(value)}")
            return None
        return value

    def choice(self, value: Any, path: Path, enum: type[Enum]) -> Any:
        options = ", ".join(e.value for e in enum)
        if not isinstance(value, str):  # Enum's own error would print the whole value
            self.error(path, f"expected one of: {options}, got {kind_of(value)}")
            return None
        try:
            return enum(value)
        except ValueError:
            self.error(path, f"{quote(value)} is not one of: {options}")
            return None

    def string_list(self, value: Any, path: Path) -> tuple[str, ...]:
        if not isinstance(value, list):
            self.error(path, f"expected a list, got {kind_of(value)}")
            return ()
        return tuple(
            item
            for i, item in enumerate(value)
            if self.typed(item, (*path, i), str, "a string") is not None
        )

    def duration(
        self, value: Any, path: Path, bounds: Bounds, allow_zero: bool = False
    ) -> float | None:
        """Seconds within ``bounds``, or None with the error recorded."""
        try:
            seconds = parse_duration(value, allow_zero)
        except ValueError as exc:
            self.error(path, str(exc))
            return None
        return self._within(value, seconds, path, bounds)

    def number(self, value: Any, path: Path, kind: type, bounds: Bounds) -> Any:
        """A whole number (``kind`` int) or any number greater than zero, within bounds."""
        label = "a whole number" if kind is int else "a number"
        accepted: tuple[type, ...] = (int,) if kind is int else (int, float)
        number = self.typed(value, path, accepted, f"{label} greater than zero")
        if number is None:
            return None
        if isinstance(number, float) and math.isnan(number):
            self.error(path, f"expected {label} greater than zero, got {quote(number)}")
            return None
        if number <= 0:
            self.error(path, f"must be greater than zero, got {quote(number)}")
            return None
        number = self._within(value, number, path, bounds)
        return None if number is None else kind(number)

    def _within(self, value: Any, number: float, path: Path, bounds: Bounds) -> Any:
        problem = out_of_bounds(value, number, bounds, str(path[-1]))
        if problem:
            self.error(path, problem)
            return None
        return number

    def dns_name(self, value: str, path: Path) -> str | None:
        """``value`` lower-cased without its final dot, if it is a name DNS can carry."""
        if len(value) <= _MAX_PLAIN_NAME and _PLAIN_NAME.match(value):
            return value.lower().rstrip(".")
        try:
            dns.name.from_text(value, origin=dns.name.root)
        except dns.exception.DNSException as exc:
            reason = clip(str(exc).rstrip(".") or type(exc).__name__, 120)
            self.error(path, f"{quote(value)} is not a DNS name: {reason[:1].lower()}{reason[1:]}")
            return None
        return value.lower().rstrip(".")

    def required_string(self, raw: dict[Any, Any], path: Path, key: str) -> str | None:
        if key not in raw:
            self.error(path, f"{key} is required")
            return None
        value = self.typed(raw[key], (*path, key), str, "a string")
        if value is not None and not value.strip():
            self.error((*path, key), "must not be empty")
            return None
        return value

    def text(self, raw: dict[Any, Any], path: Path, key: str) -> str:
        """An optional free-text field, "" when absent or wrong (the error is recorded)."""
        return self.typed(raw.get(key, ""), (*path, key), str, "a string") or ""


def kind_of(value: Any) -> str:
    """What a value is, in words: ``a list``, ``a number``, ``nothing``."""
    if value is None:
        return "nothing"
    kinds = {dict: "a mapping", list: "a list", str: "a string", bool: "a boolean"}
    kinds |= {int: "a number", float: "a number", bytes: "binary data"}
    return kinds.get(type(value), f"a {type(value).__name__}")
