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
    try:
        node = yaml.compose(text, Loader=_LOADER)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 1
        raise YamlSyntaxError(line, str(exc.problem or exc)) from exc
    except yaml.YAMLError as exc:
        raise YamlSyntaxError(1, str(exc)) from exc
    lines: dict[Path, int] = {}
    if node is None:
        return None, lines
    return _convert(node, (), lines, yaml.SafeLoader("")), lines


# libyaml's composer is many times faster on large configs; the pure one is the fallback.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _convert(node: yaml.Node, path: Path, lines: dict[Path, int], loader: yaml.SafeLoader) -> Any:
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        return _convert_mapping(node, path, lines, loader)
    if isinstance(node, yaml.SequenceNode):
        return [_convert(item, (*path, i), lines, loader) for i, item in enumerate(node.value)]
    # Scalars: PyYAML's own constructors resolve ints, bools, nulls and strings.
    return loader.yaml_constructors[node.tag](loader, node)


def _convert_mapping(
    node: yaml.MappingNode, path: Path, lines: dict[Path, int], loader: yaml.SafeLoader
) -> dict:
    result: dict[Any, Any] = {}
    for key_node, value_node in node.value:
        key = _convert(key_node, path, {}, loader)
        key_path = (*path, str(key))
        lines[key_path] = key_node.start_mark.line + 1
        if key in result:
            # PyYAML silently keeps the last of duplicate keys; config refuses them instead.
            raise YamlSyntaxError(lines[key_path], f"{path_text(key_path)}: duplicate key")
        result[key] = _convert(value_node, key_path, lines, loader)
    return result
