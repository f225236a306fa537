"""YAML with line numbers: plain Python data plus the line of every key path.

Data is built from PyYAML's parser events, so every config error can name the exact line
of the key at fault, and so loading stays bounded whatever the file holds: values
repeated through aliases are counted as they are built (an alias bomb is refused long
before it could fill memory), nesting has a depth limit, and anything PyYAML would fail
on deep inside (a 5,000-digit number, a bad timestamp, a list as a key) becomes a
``YamlSyntaxError`` with its line.
"""

from __future__ import annotations

from typing import Any

import yaml

from monitor.config.quoting import clip, key_text, printable_key, quote

Path = tuple[str | int, ...]

# probes.yaml needs 6 levels at most (services[0].backups[1].depends_on[2]); the rest is
# room for flow style and mistakes. Deeper nesting is refused before Python's own
# recursion limit could turn it into an internal error.
MAX_DEPTH = 32
TOO_DEEP = f"nested deeper than {MAX_DEPTH} levels; probes.yaml needs no more than 6"
# Values that aliases may repeat in all. Repeating a list of resolvers for every name of
# a large config stays far below; the "billion laughs" file multiplies beyond it within
# a few lines, and is refused as soon as it does.
MAX_ALIASED_VALUES = 100_000
# Values in all (keys, scalars, lists and mappings, aliases counted as what they repeat):
# a config of 100,000 names holds about 700,000. The cap bounds a load to a few hundred
# MB even for a file of nothing but one-letter list items.
MAX_VALUES = 1_000_000
# A number that long is no setting anyone meant, and Python refuses to print integers
# over 4,300 digits; refusing them keeps every later message printable.
MAX_NUMBER_LENGTH = 100

_SCALAR_TAGS = {
    f"tag:yaml.org,2002:{name}"
    for name in ("null", "bool", "int", "float", "str", "timestamp", "binary")
}
_NUMBER_TAGS = {"tag:yaml.org,2002:int", "tag:yaml.org,2002:float"}
_STR_TAG = "tag:yaml.org,2002:str"


class YamlSyntaxError(Exception):
    """The file is not valid YAML; carries the line of the first problem."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.message = message


def path_text(path: Path) -> str:
    """Render a key path as users read it: ``services[3].depends_on[1]``."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{printable_key(part)}" if text else printable_key(part)
    return text


def load(text: str) -> Any:
    """Parse YAML text into data, as bounded as ``load_with_lines`` and a quarter faster:
    a valid config needs no lines, and an invalid one can be read again for them."""
    return _build(text, None)


def load_with_lines(text: str) -> tuple[Any, dict[Path, int]]:
    """Parse YAML text into data and a map from key path to 1-based line."""
    lines: dict[Path, int] = {}
    return _build(text, lines), lines


def _build(text: str, lines: dict[Path, int] | None) -> Any:
    try:
        return _Builder(yaml.parse(text, Loader=_LOADER), lines).document()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 1
        problem = _first_line(str(exc.problem or exc))
        if "maximum nesting depth" in problem:  # PyYAML 6.0.4's own limit, met first
            problem = TOO_DEEP
        raise YamlSyntaxError(line, problem) from exc
    except yaml.reader.ReaderError as exc:
        raise YamlSyntaxError(_reader_line(text, exc.position), _reader_problem(exc)) from exc
    except yaml.YAMLError as exc:
        raise YamlSyntaxError(1, _first_line(str(exc))) from exc


# libyaml's parser is many times faster on large configs; the pure one is the fallback.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
# Plain scalars starting with any other character can only be strings in YAML 1.1, so
# they skip PyYAML's regex-based resolver, which dominates load time on large configs.
_MAYBE_TYPED = set("0123456789+-.~<=yYnNtTfFoO")


def _first_line(message: str) -> str:
    return clip(message.strip().split("\n", 1)[0], 200) or "not valid YAML"


def _reader_line(text: str, position: int) -> int:
    """The line of a reader error: libyaml counts bytes of UTF-8, PyYAML characters."""
    if _LOADER is yaml.SafeLoader:
        return text.count("\n", 0, position) + 1
    return text.encode("utf-8")[:position].count(b"\n") + 1


def _reader_problem(exc: yaml.reader.ReaderError) -> str:
    character = exc.character if isinstance(exc.character, int) else 0
    shown = quote(chr(character)) if 0 <= character < 0x110000 else "a character"
    return f"{shown} is not allowed in YAML ({exc.reason}); write it as an escape in double quotes"


class _Builder:
    """Builds plain data from parser events, recording the line of every key path.

    Working from events rather than composed nodes halves the time on large configs.
    """

    def __init__(self, events: Any, lines: dict[Path, int] | None) -> None:
        self.events = iter(events)
        self.track = lines is not None  # else no lines are recorded
        self.lines: dict[Path, int] = lines if lines is not None else {}
        self.anchors: dict[str, tuple[Any, int]] = {}  # anchor → (value, values inside)
        self.values = 0  # built so far, each alias counted as everything it repeats
        self.aliased = 0  # of which repeated through aliases
        self.depth = 0
        self.loader = yaml.SafeLoader("")

    def document(self) -> Any:
        value = None
        for event in self.events:
            if isinstance(event, yaml.DocumentStartEvent):
                value = self.value(next(self.events), ())
                break
        for event in self.events:
            if isinstance(event, yaml.DocumentStartEvent):
                raise YamlSyntaxError(
                    _line(event), "a second YAML document (---); probes.yaml is one document"
                )
        return value

    def value(self, event: Any, path: Path) -> Any:
        kind = type(event)
        if self.track and path not in self.lines:
            self.lines[path] = event.start_mark.line + 1
        if kind is yaml.AliasEvent:
            return self.alias(event)
        start = self.values
        self.values += 1
        if self.values > MAX_VALUES:
            self.count(event, 0)  # says how many is too many, on this line
        if kind is yaml.ScalarEvent:
            result = self.scalar(event)
        elif kind is yaml.MappingStartEvent or kind is yaml.SequenceStartEvent:
            result = self.collection(event, path)
        else:
            raise YamlSyntaxError(_line(event), f"unexpected {kind.__name__}")
        if event.anchor:
            self.anchors[event.anchor] = (result, self.values - start)
        return result

    def alias(self, event: yaml.AliasEvent) -> Any:
        """The anchored value, shared, not copied; counted as every value it repeats."""
        if event.anchor not in self.anchors:  # PyYAML's composer refuses these too
            raise YamlSyntaxError(_line(event), f"found undefined alias {quote(event.anchor)}")
        value, size = self.anchors[event.anchor]
        self.count(event, size)
        self.aliased += size
        if self.aliased > MAX_ALIASED_VALUES:
            raise YamlSyntaxError(
                _line(event),
                f"alias *{printable_key(event.anchor)} takes the values repeated through "
                f"aliases past {MAX_ALIASED_VALUES:,}, the most a config may repeat "
                "(this refuses alias bombs); write the values out or alias smaller parts",
            )
        return value

    def count(self, event: Any, values: int = 1) -> None:
        self.values += values
        if self.values > MAX_VALUES:
            raise YamlSyntaxError(
                _line(event),
                f"more than {MAX_VALUES:,} values (keys, list items and what aliases "
                "repeat) by here, the most a config may hold; about 140,000 names fit",
            )

    def collection(self, event: Any, path: Path) -> Any:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise YamlSyntaxError(
                _line(event),
                TOO_DEEP,
            )
        is_mapping = isinstance(event, yaml.MappingStartEvent)
        result = self.mapping(path) if is_mapping else self.sequence(path)
        self.depth -= 1
        return result

    def scalar(self, event: yaml.ScalarEvent) -> Any:
        tag, value = event.tag, event.value
        if tag is None or tag == "!":
            if event.style or not event.implicit[0] or (value and value[0] not in _MAYBE_TYPED):
                return value  # quoted, or plain text no resolver could make anything else
            tag = self.loader.resolve(yaml.ScalarNode, value, event.implicit)
            # A string as it stands (most such are names), or '=' and '<<', which resolve
            # to tags only keys may have.
            if tag == _STR_TAG or tag not in _SCALAR_TAGS:
                return value
        elif tag not in _SCALAR_TAGS:
            raise YamlSyntaxError(_line(event), f"unsupported tag {quote(_short_tag(tag))}")
        return self.construct(event, tag)

    def construct(self, event: yaml.ScalarEvent, tag: str) -> Any:
        """A typed scalar; a value its tag cannot take is an error on its line."""
        kind = tag.rsplit(":", 1)[-1]
        if tag in _NUMBER_TAGS and len(event.value) > MAX_NUMBER_LENGTH:
            raise YamlSyntaxError(
                _line(event),
                f"{quote(event.value)}: a number {len(event.value):,} characters long; "
                "no setting takes one that long (quote it if it is text)",
            )
        node = yaml.ScalarNode(tag, event.value, style=event.style)
        try:
            return self.loader.yaml_constructors[tag](self.loader, node)
        except Exception as exc:  # PyYAML's constructors fail in many ways ('!!timestamp')
            raise YamlSyntaxError(
                _line(event), f"{quote(event.value)} is not a valid {kind}"
            ) from exc

    def sequence(self, path: Path) -> list[Any]:
        items: list[Any] = []
        end = yaml.SequenceEndEvent
        for event in self.events:
            if type(event) is end:
                return items
            items.append(self.value(event, (*path, len(items))))
        return items

    def mapping(self, path: Path) -> dict[Any, Any]:
        result: dict[Any, Any] = {}
        end, scalar = yaml.MappingEndEvent, yaml.ScalarEvent
        for event in self.events:
            kind = type(event)
            if kind is end:
                return result
            key = self.scalar(event) if kind is scalar else self.key(event, path)
            key_path = (*path, key if type(key) is str else key_text(key))
            if key in result:
                # PyYAML silently keeps the last of duplicate keys; config refuses them instead.
                raise YamlSyntaxError(_line(event), f"{path_text(key_path)}: duplicate key")
            if self.track:
                self.lines[key_path] = event.start_mark.line + 1
            self.values += 1
            if self.values > MAX_VALUES:
                self.count(event, 0)
            result[key] = self.value(next(self.events), key_path)
        return result

    def key(self, event: Any, path: Path) -> Any:
        """A mapping key: written out, never a list, a mapping or an alias."""
        if not isinstance(event, yaml.ScalarEvent):
            what = "an alias" if isinstance(event, yaml.AliasEvent) else "a list or mapping"
            where = f"{path_text(path)}: " if path else ""
            raise YamlSyntaxError(_line(event), f"{where}a key must be plain text, not {what}")
        return self.scalar(event)


def _short_tag(tag: str) -> str:
    """``!!map`` as people write it, rather than ``tag:yaml.org,2002:map``."""
    standard = "tag:yaml.org,2002:"
    return "!!" + tag[len(standard) :] if tag.startswith(standard) else tag


def _line(event: Any) -> int:
    mark = getattr(event, "start_mark", None)
    return mark.line + 1 if mark is not None else 1
