"""YAML with line numbers: plain Python data plus the line of every key path.

PyYAML's composed nodes carry start marks; walking them ourselves lets every config error
name the exact line of the key at fault.
"""

from __future__ import annotations

from typing import Any

import yaml

Path = tuple[str | int, ...]


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
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text


def load_with_lines(text: str) -> tuple[Any, dict[Path, int]]:
    """Parse YAML text into data and a map from key path to 1-based line."""
    lines: dict[Path, int] = {}
    try:
        events = yaml.parse(text, Loader=_LOADER)
        builder = _Builder(events, lines)
        return builder.document(), lines
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 1
        raise YamlSyntaxError(line, str(exc.problem or exc)) from exc
    except yaml.YAMLError as exc:
        raise YamlSyntaxError(1, str(exc)) from exc


# libyaml's parser is many times faster on large configs; the pure one is the fallback.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
# Plain scalars starting with any other character can only be strings in YAML 1.1, so
# they skip PyYAML's regex-based resolver, which dominates load time on large configs.
_MAYBE_TYPED = set("0123456789+-.~<=yYnNtTfFoO")


class _Builder:
    """Builds plain data from parser events, recording the line of every key path.

    Working from events rather than composed nodes halves the time on large configs.
    """

    def __init__(self, events: Any, lines: dict[Path, int]) -> None:
        self.events = iter(events)
        self.lines = lines
        self.anchors: dict[str, Any] = {}
        self.loader = yaml.SafeLoader("")

    def document(self) -> Any:
        value = None
        for event in self.events:
            if isinstance(event, yaml.DocumentStartEvent):
                value = self.value(next(self.events), ())
                break
        return value

    def value(self, event: Any, path: Path) -> Any:
        self.lines.setdefault(path, event.start_mark.line + 1)
        if isinstance(event, yaml.ScalarEvent):
            result = self.scalar(event)
        elif isinstance(event, yaml.MappingStartEvent):
            result = self.mapping(path)
        elif isinstance(event, yaml.SequenceStartEvent):
            result = self.sequence(path)
        elif isinstance(event, yaml.AliasEvent):
            if event.anchor not in self.anchors:  # PyYAML's composer refuses these too
                line = event.start_mark.line + 1 if event.start_mark else 1
                raise YamlSyntaxError(line, f"found undefined alias {event.anchor!r}")
            return self.anchors[event.anchor]
        else:
            raise YamlSyntaxError(event.start_mark.line + 1, f"unexpected {type(event).__name__}")
        if getattr(event, "anchor", None):
            self.anchors[event.anchor] = result
        return result

    def scalar(self, event: yaml.ScalarEvent) -> Any:
        plain = event.implicit[0] and not event.style
        if event.tag not in (None, "!"):
            tag = event.tag
        elif not plain or (event.value and event.value[0] not in _MAYBE_TYPED):
            return event.value
        else:
            tag = self.loader.resolve(yaml.ScalarNode, event.value, event.implicit)
        construct = self.loader.yaml_constructors.get(tag)
        if construct is None:
            line = event.start_mark.line + 1 if event.start_mark else 1
            raise YamlSyntaxError(line, f"unsupported tag {tag}")
        return construct(self.loader, yaml.ScalarNode(tag, event.value, style=event.style))

    def sequence(self, path: Path) -> list[Any]:
        items: list[Any] = []
        for event in self.events:
            if isinstance(event, yaml.SequenceEndEvent):
                return items
            items.append(self.value(event, (*path, len(items))))
        return items

    def mapping(self, path: Path) -> dict[Any, Any]:
        result: dict[Any, Any] = {}
        for event in self.events:
            if isinstance(event, yaml.MappingEndEvent):
                return result
            is_scalar = isinstance(event, yaml.ScalarEvent)
            key = self.scalar(event) if is_scalar else self.value(event, (*path, "?"))
            key_path = (*path, str(key))
            line = event.start_mark.line + 1
            if key in result:
                # PyYAML silently keeps the last of duplicate keys; config refuses them instead.
                raise YamlSyntaxError(line, f"{path_text(key_path)}: duplicate key")
            self.lines[key_path] = line
            result[key] = self.value(next(self.events), key_path)
        return result
