"""Architecture rules, checked on the source: no import cycles among cfwf_emulator's modules, at run
time or through imports only type checkers follow (``if TYPE_CHECKING:``), and the doors (everything outside
the engine and the store: bindings, testing API, rules checker, plugin, CLI, server) reach no
private attribute of the engine, the store, the emulator or the bindings: they use the public
API (``emu.api``)."""

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


def imports_of(path: Path, *, typing: bool = False) -> set[str]:
    """The cfwf_emulator modules ``path`` imports when it runs, at module level or inside functions.

    Imports under ``if TYPE_CHECKING:`` are left out unless ``typing``: only type checkers follow them.
    """
    name = module_name(path)
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    found = set()
    tree = ast.parse(path.read_text(encoding="utf-8"))
    typing_only = set() if typing else _typing_only(tree)
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


def import_cycles(*, typing: bool) -> list[list[str]]:
    """The strongly connected groups of cfwf_emulator modules importing each other."""
    files = {module_name(p): p for p in PACKAGE.rglob("*.py") if "examples" not in p.parts}
    graph = {
        name: {t for t in imports_of(path, typing=typing) if t in files and t != name} for name, path in files.items()
    }
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
    return cycles


def test_no_import_cycles() -> None:
    assert import_cycles(typing=False) == []


def test_no_import_cycles_through_typing_only_imports() -> None:
    """Type checkers follow ``if TYPE_CHECKING:`` imports: a cycle there still ties modules together."""
    assert import_cycles(typing=True) == []


def test_the_cycle_check_sees_imports() -> None:
    """Guards against a vacuous pass: the emulator module is seen importing the engine."""
    assert "cfwf_emulator.engine.core" in imports_of(PACKAGE / "emulator.py")
    assert "cfwf_emulator.errors" in imports_of(PACKAGE / "workers" / "__init__.py")
    assert "cfwf_emulator.engine.core" not in imports_of(PACKAGE / "engine" / "run.py", typing=True)
    assert "cfwf_emulator.store.base" not in imports_of(PACKAGE / "engine" / "host.py")  # typing only
    assert "cfwf_emulator.store.base" in imports_of(PACKAGE / "engine" / "host.py", typing=True)


# -- doors reach no private attribute of the engine ---------------------------------------------

#: Where the engine's private names live: a door may not touch them.
ENGINE_FILES = [p for p in PACKAGE.rglob("*.py") if p.relative_to(PACKAGE).parts[0] in INSIDE] + [
    PACKAGE / "emulator.py",
    PACKAGE / "bindings.py",
]


def is_door(path: Path) -> bool:
    """Everything that talks to the engine from outside: cfwf_emulator outside engine/ and store/
    (examples aside), and the pytest plugin."""
    parts = path.relative_to(ROOT).parts
    if parts[0] == "pytest_plugin":
        return True
    return parts[0] == "cfwf_emulator" and "examples" not in parts and (len(parts) == 2 or parts[1] not in INSIDE)


def private_names_defined(path: Path) -> set[str]:
    """``_name`` methods and attributes (assigned) defined in ``path``; dunders aside."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            name = node.name
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
            name = node.attr
        else:
            continue
        if name.startswith("_") and not name.startswith("__"):
            names.add(name)
    return names


def private_reaches(doors: "list[Path] | None" = None) -> list[str]:
    """Each ``x._name`` in a door (``x`` not self/cls) naming a private of an engine file other
    than the door itself, and every ``._getframe`` (frame inspection)."""
    defined: dict[str, set[Path]] = {}
    for path in ENGINE_FILES:
        for name in private_names_defined(path):
            defined.setdefault(name, set()).add(path)
    if doors is None:
        doors = [p for p in list(PACKAGE.rglob("*.py")) + list((ROOT / "pytest_plugin").rglob("*.py")) if is_door(p)]
    found = []
    for path in doors:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Attribute) or not node.attr.startswith("_") or node.attr.startswith("__"):
                continue
            if isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"):
                continue
            owners = defined.get(node.attr, set()) - {path}
            if owners or node.attr == "_getframe":
                shown = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path.name
                found.append(f"{shown}:{node.lineno} .{node.attr}")
    return found


def test_doors_reach_no_private_attribute_of_the_engine() -> None:
    assert private_reaches() == []


def test_the_reach_check_sees_a_reach(tmp_path: Path) -> None:
    """Guards against a vacuous pass: a door reaching ``emu._engine`` or a frame is reported."""
    door = tmp_path / "probe.py"
    door.write_text("import sys\ndef probe(emu):\n    return emu._engine, sys._getframe(), self_ok()\n", encoding="utf-8")
    assert private_reaches([door]) == ["probe.py:3 ._engine", "probe.py:3 ._getframe"]


def test_idle_detection_reads_no_private_state_of_asyncio() -> None:
    """The scheduler knows the loop is quiet from the engine's own progress marks, not by peeking
    at the event loop's ready queue (``loop._ready``), which other event loops do not have."""
    reaches = []
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            named = node.attr if isinstance(node, ast.Attribute) else node.value if isinstance(node, ast.Constant) else None
            if named in ("_ready", "_scheduled", "_fut_waiter"):
                reaches.append(f"{path.relative_to(ROOT)}:{node.lineno} {named}")
    assert reaches == []
