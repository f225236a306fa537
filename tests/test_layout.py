"""The package's folders follow the data, and imports run one way: down the pipeline.

config → probing → learning → judging → outputs → serving → demo → cli. A module may import from
its own stage or an earlier one, never from a later one, so there are no cycles between
stages and a newcomer can read the code in the order the data flows.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "monitor"
# The shared vocabulary (states) sits below every stage; the CLI above all of them.
STAGES = [
    "states", "config", "probing", "learning", "judging", "outputs", "serving", "demo", "cli"
]  # fmt: skip


def _stage(module: str) -> int | None:
    """The rank of a ``monitor.…`` module, or None for the package root itself."""
    parts = module.split(".")
    if parts[0] != "monitor" or len(parts) < 2:
        return None
    return STAGES.index(parts[1]) if parts[1] in STAGES else None


def _module_name(path: Path) -> str:
    relative = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(relative.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path) -> list[tuple[int, str]]:
    """Every ``monitor`` module a file imports, anywhere in it (functions included)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "monitor":
                found += [(node.lineno, f"monitor.{alias.name}") for alias in node.names]
            elif node.module.startswith("monitor."):
                found.append((node.lineno, node.module))
        elif isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if a.name.startswith("monitor")]
    return found


def test_every_module_lives_in_a_stage() -> None:
    loose = [
        p.name for p in PACKAGE.glob("*.py") if p.stem not in STAGES and p.name != "__init__.py"
    ]
    assert loose == [], f"modules outside the pipeline's folders: {loose}"


def test_no_module_imports_from_a_later_stage() -> None:
    wrong = []
    for path in sorted(PACKAGE.rglob("*.py")):
        own = _stage(_module_name(path))
        if own is None:
            continue
        for line, imported in _imports(path):
            theirs = _stage(imported)
            if theirs is not None and theirs > own:
                wrong.append(f"{path.relative_to(PACKAGE.parent)}:{line} imports {imported}")
    assert wrong == [], "imports against the data flow:\n" + "\n".join(wrong)


def test_no_import_cycles_between_modules() -> None:
    edges: dict[str, set[str]] = {}
    for path in PACKAGE.rglob("*.py"):
        name = _module_name(path)
        edges[name] = {m for _, m in _imports(path) if m != name}
    cycles = []
    for start in edges:
        stack, seen = [(start, [start])], set()
        while stack:
            node, trail = stack.pop()
            for nxt in edges.get(node, ()):
                if nxt == start:
                    cycles.append(" → ".join([*trail, start]))
                elif nxt not in seen:
                    seen.add(nxt)
                    stack.append((nxt, [*trail, nxt]))
    # A package's __init__ re-exporting its own modules is not a cycle in the data flow.
    cycles = [c for c in cycles if not _only_package_reexports(c)]
    assert cycles == [], "import cycles:\n" + "\n".join(sorted(set(cycles)))


def _only_package_reexports(cycle: str) -> bool:
    members = cycle.split(" → ")
    packages = [m for m in members if (PACKAGE.parent / m.replace(".", "/")).is_dir()]
    return bool(packages) and all(
        m in packages or any(m.startswith(p + ".") for p in packages) for m in members
    )
