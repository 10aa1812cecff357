"""Architecture rules, checked on the source: no import cycles among cfwf_emulator's modules at run
time (imports under ``if TYPE_CHECKING:`` are not followed)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "cfwf_emulator"
INSIDE = ("engine", "store")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _typing_only(tree: ast.AST) -> set[int]:
    """ids of the nodes inside ``if TYPE_CHECKING:`` blocks (imports only type checkers run)."""
    hidden: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            hidden.update(id(inner) for part in node.body for inner in ast.walk(part))
    return hidden


def imports_of(path: Path) -> set[str]:
    """The cfwf_emulator modules ``path`` imports when it runs, at module level or inside functions.

    Imports under ``if TYPE_CHECKING:`` are left out: only type checkers follow them.
    """
    name = module_name(path)
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    found = set()
    tree = ast.parse(path.read_text(encoding="utf-8"))
    typing_only = _typing_only(tree)
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            target = ".".join(base + ([node.module] if node.module else []))
            if node.module is None or not node.level and not target.startswith("cfwf_emulator"):
                targets = [f"{target}.{alias.name}" if target else alias.name for alias in node.names]
            else:
                targets = [target]
            found.update(t for t in targets if t.startswith("cfwf_emulator"))
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.startswith("cfwf_emulator"))
    return found


def test_no_import_cycles() -> None:
    files = {module_name(p): p for p in PACKAGE.rglob("*.py") if "examples" not in p.parts}
    graph = {name: {t for t in imports_of(path) if t in files and t != name} for name, path in files.items()}
    cycles: list[list[str]] = []
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:  # Tarjan's strongly connected components
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in graph[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for name in sorted(graph):
        if name not in index:
            visit(name)
    assert cycles == [], f"import cycles among cfwf_emulator modules: {cycles}"


def test_the_cycle_check_sees_imports() -> None:
    """Guards against a vacuous pass: the emulator module is seen importing the engine."""
    assert "cfwf_emulator.engine.core" in imports_of(PACKAGE / "emulator.py")
    assert "cfwf_emulator.errors" in imports_of(PACKAGE / "workers" / "__init__.py")
    assert "cfwf_emulator.engine.core" not in imports_of(PACKAGE / "engine" / "run.py")  # typing only
