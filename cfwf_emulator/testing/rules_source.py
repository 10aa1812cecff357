"""Source-level helpers of the rules checker: where user code is, which step a line calls, which
``except`` clauses surround an awaited step, and what a "never awaited" warning points at.

Private to :mod:`cfwf_emulator.testing.rules`; nothing here is public API.
"""

from __future__ import annotations

import ast
import asyncio
import builtins
import functools
import io
import os
import re
import sysconfig
import tokenize
import types
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from ..authoring.step import WorkflowStep
from ..engine.run import Run
from ..errors import NonRetryableError, StepError, WorkflowFatalError, WorkflowTimeoutError

__all__ = [
    "DeadHandler",
    "SourceLocation",
    "UnawaitedCoroutine",
    "UserFrame",
    "current_user_frames",
    "dead_handlers",
    "innermost_location",
    "parse_unawaited",
    "short_path",
    "stack_user_frames",
    "task_user_frames",
]

_PACKAGE = Path(__file__).resolve().parent.parent
_EXAMPLES = _PACKAGE / "examples"
_STDLIB = Path(sysconfig.get_paths()["stdlib"]).resolve()
_THIRD_PARTY_INTERNALS = (f"{os.sep}pluggy{os.sep}", f"{os.sep}_pytest{os.sep}", f"{os.sep}pytest_cfwf{os.sep}")

#: What can reach ``run`` when a step fails: the classes that survive the boundary, and the
#: generic class everything else becomes. A handler that catches none of them never sees a step error.
ARRIVING_CLASSES: tuple[type[BaseException], ...] = (
    StepError,
    WorkflowTimeoutError,
    WorkflowFatalError,
    TypeError,
    ValueError,
    NonRetryableError,
)
_CATCHING_NAMES = frozenset(
    {"Exception", "BaseException", "StepError", "WorkflowTimeoutError", "WorkflowFatalError",
     "TypeError", "ValueError", "NonRetryableError"}
)


@dataclass(frozen=True)
class SourceLocation:
    """A line of user code."""

    filename: str
    lineno: int
    function: str = ""

    def __str__(self) -> str:
        return f"{short_path(self.filename)}:{self.lineno}"


@dataclass(frozen=True)
class UserFrame:
    """A frame of user code on the way to a step call, with the names visible there."""

    location: SourceLocation
    namespace: dict[str, Any] = field(compare=False, hash=False, repr=False)


def short_path(filename: str) -> str:
    """``filename`` relative to the working directory when it is below it."""
    try:
        relative = os.path.relpath(filename)
    except ValueError:  # pragma: no cover - another drive on Windows
        return filename
    return filename if relative.startswith("..") else relative


@functools.lru_cache(maxsize=512)
def is_user_file(filename: str) -> bool:
    """Whether ``filename`` holds user code (not the emulator, the standard library or pytest)."""
    if not filename or filename.startswith("<"):
        return False
    path = Path(filename).resolve()
    if path.is_relative_to(_EXAMPLES):
        return True
    if path.is_relative_to(_PACKAGE) or any(marker in str(path) for marker in _THIRD_PARTY_INTERNALS):
        return False
    installed = "site-packages" in path.parts or "dist-packages" in path.parts
    return installed or not path.is_relative_to(_STDLIB)


def _exception_names(frame: types.FrameType) -> dict[str, Any]:
    """The frame's globals, plus exception classes defined locally (kept small: no frame refs)."""
    local = {
        key: value
        for key, value in frame.f_locals.items()
        if isinstance(value, type) and issubclass(value, BaseException)
    }
    if not local:
        return frame.f_globals
    return {**frame.f_globals, **local}


def _user_frame(frame: types.FrameType) -> UserFrame | None:
    code = frame.f_code
    if not is_user_file(code.co_filename):
        return None
    return UserFrame(SourceLocation(code.co_filename, frame.f_lineno, code.co_name), _exception_names(frame))


def stack_user_frames(frame: types.FrameType | None) -> list[UserFrame]:
    """User frames on the running stack from ``frame`` outwards, innermost first (up to the event loop)."""
    found: list[UserFrame] = []
    while frame is not None:
        module = frame.f_globals.get("__name__", "")
        if isinstance(module, str) and (module == "asyncio" or module.startswith("asyncio.")):
            break
        user = _user_frame(frame)
        if user is not None:
            found.append(user)
        frame = frame.f_back
    return found


class _Here(Exception):
    """Raised and caught at once: its traceback holds the running frame."""


def current_user_frames() -> list[UserFrame]:
    """User frames on the running stack, innermost first (up to the event loop).

    The running frame comes from the traceback of an exception raised and caught here, the
    documented way to hold a frame (``inspect.stack()`` gives the same frames but reads the
    source file of each, some 0.6 ms a call at the depth of a test run).
    """
    try:
        raise _Here()
    except _Here as here:
        frame = here.__traceback__.tb_frame if here.__traceback__ is not None else None
    try:
        return stack_user_frames(frame)
    finally:
        del frame  # a frame that refers to itself would wait for the cycle collector


def task_user_frames(task: "asyncio.Task[Any] | None") -> list[UserFrame]:
    """User frames of a suspended task, following what each coroutine awaits; innermost first."""
    found: list[UserFrame] = []
    seen: set[int] = set()
    current: Any = task.get_coro() if task is not None else None
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        frame = getattr(current, "cr_frame", None) or getattr(current, "gi_frame", None)
        if isinstance(frame, types.FrameType):
            user = _user_frame(frame)
            if user is not None:
                found.append(user)
        following = getattr(current, "cr_await", None)
        if following is None:
            following = getattr(current, "gi_yieldfrom", None)
        if following is None and isinstance(current, asyncio.Task):
            following = current.get_coro()
        current = following
    found.reverse()
    return found


def innermost_location(frames: list[UserFrame]) -> SourceLocation | None:
    """The innermost user location of ``frames`` (as returned by the two functions above)."""
    return frames[0].location if frames else None


# -- except clauses around awaited steps ------------------------------------------------------


@dataclass(frozen=True)
class _Handler:
    lineno: int
    names: tuple[str, ...]
    text: str


@dataclass(frozen=True)
class _TryBlock:
    body_start: int
    body_end: int
    handlers: tuple[_Handler, ...]


def _dotted(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = _dotted(node.value)
        return None if base is None else f"{base}.{node.attr}"
    return None


@functools.lru_cache(maxsize=128)
def _parse(filename: str) -> ast.Module | None:
    try:
        return ast.parse(Path(filename).read_text(encoding="utf-8"), filename)
    except (OSError, SyntaxError, ValueError):
        return None


@functools.lru_cache(maxsize=128)
def _try_blocks(filename: str) -> tuple[_TryBlock, ...]:
    tree = _parse(filename)
    if tree is None:
        return ()
    blocks = []
    for node in ast.walk(tree):
        if not isinstance(node, (ast.Try, ast.TryStar)) or not node.handlers:
            continue
        handlers = []
        for handler in node.handlers:
            if handler.type is None:
                names: tuple[str, ...] = ()
            else:
                items = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
                names = tuple(_dotted(item) or "?" for item in items)
            text = "except" if handler.type is None else f"except {ast.unparse(handler.type)}"
            handlers.append(_Handler(handler.lineno, names, text))
        end = max((stmt.end_lineno or stmt.lineno) for stmt in node.body)
        blocks.append(_TryBlock(node.body[0].lineno, end, tuple(handlers)))
    return tuple(blocks)


def _resolve(name: str, namespace: dict[str, Any]) -> Any:
    head, *rest = name.split(".")
    value = namespace.get(head, getattr(builtins, head, None))
    for part in rest:
        value = getattr(value, part, None)
    return value


@dataclass(frozen=True)
class DeadHandler:
    """An ``except`` clause around an awaited step that can never catch that step's errors."""

    location: SourceLocation
    text: str
    class_names: tuple[str, ...]
    injectable: str
    """The class name to inject to show it (a custom class), or ``"TimeoutError"`` for a timeout."""


def _catches(name: str, value: Any) -> bool:
    """Whether ``except <name>`` matches some error that can arrive from a step."""
    if isinstance(value, type) and issubclass(value, BaseException):
        return any(issubclass(arriving, value) for arriving in ARRIVING_CLASSES)
    return name.rsplit(".", 1)[-1] in _CATCHING_NAMES


def _kind(name: str, value: Any) -> str | None:
    """``"custom"`` (a class of the user's), ``"timeout"`` (``TimeoutError``), else None."""
    if isinstance(value, type) and issubclass(value, BaseException):
        if value is TimeoutError:
            return "timeout"
        return None if value.__module__ == "builtins" else "custom"
    return None if hasattr(builtins, name.rsplit(".", 1)[-1]) else "custom"


def dead_handlers(frames: list[UserFrame], *, step_can_raise_custom: bool) -> list[DeadHandler]:
    """``except`` clauses enclosing any of ``frames`` that no error arriving from a step can match.

    Only user-defined exception classes (when the step runs user code) and ``TimeoutError`` are
    reported; other built-in classes may legitimately be meant for code that runs in ``run``.
    """
    found: list[DeadHandler] = []
    seen: set[tuple[str, int]] = set()
    for frame in frames:
        filename, line = frame.location.filename, frame.location.lineno
        for block in _try_blocks(filename):
            if not block.body_start <= line <= block.body_end:
                continue
            for handler in block.handlers:
                if not handler.names or (filename, handler.lineno) in seen:
                    continue
                values = [_resolve(name, frame.namespace) for name in handler.names]
                if any(_catches(name, value) for name, value in zip(handler.names, values)):
                    continue
                kinds = {name: _kind(name, value) for name, value in zip(handler.names, values)}
                custom = [name for name, kind in kinds.items() if kind == "custom"]
                if custom and step_can_raise_custom:
                    injectable = custom[0].rsplit(".", 1)[-1]
                elif "timeout" in kinds.values():
                    injectable = "TimeoutError"
                else:
                    continue
                seen.add((filename, handler.lineno))
                found.append(
                    DeadHandler(
                        SourceLocation(filename, handler.lineno, frame.location.function),
                        handler.text,
                        tuple(name.rsplit(".", 1)[-1] for name in handler.names),
                        injectable,
                    )
                )
    return found


# -- "coroutine ... was never awaited" --------------------------------------------------------

def _decorated_step_qualname() -> str:
    """The qualified name of the coroutine function a ``@step.do`` decorator makes (it runs the
    step when awaited; decorating calls no runner)."""
    step = WorkflowStep(cast(Any, None), implicit_dependencies=True)
    return str(step.do("name")(lambda: None).__qualname__)


#: The step methods' coroutines, by the qualified name a "never awaited" warning shows.
_STEP_COROUTINES = {
    Run.do.__qualname__: "step.do(...)",
    Run.sleep.__qualname__: "step.sleep(...)",
    Run.sleep_until.__qualname__: "step.sleep_until(...)",
    Run.wait_for_event.__qualname__: "step.wait_for_event(...)",
}
_DECORATED_WRAPPER = _decorated_step_qualname()
_NEVER_AWAITED = re.compile(r"coroutine '([^']+)' was never awaited")
_ORIGIN_FRAME = re.compile(r'File "([^"]+)", line (\d+), in ([^\n]+)\n(?: {4}([^\n]*)\n?)?')
_STEP_METHODS = ("do", "sleep", "sleep_until", "wait_for_event")


@dataclass(frozen=True)
class UnawaitedCoroutine:
    """A coroutine created by user code and never awaited."""

    what: str
    """``step.do(...)``, ``a @step.do function``, or the coroutine's qualified name."""
    is_step: bool
    location: SourceLocation | None
    source: str | None
    step_name: str | None


def parse_unawaited(message: str) -> UnawaitedCoroutine | None:
    """Read a ``RuntimeWarning`` "coroutine ... was never awaited" (with origin tracking on).

    Returns None when the coroutine was not created by user code.
    """
    match = _NEVER_AWAITED.search(message)
    if match is None:
        return None
    qualname = match.group(1)
    location: SourceLocation | None = None
    source: str | None = None
    for frame in _ORIGIN_FRAME.finditer(message):
        if is_user_file(frame.group(1)):
            location = SourceLocation(frame.group(1), int(frame.group(2)), frame.group(3).strip())
            source = _strip_comment(frame.group(4) or "") or None
    if location is None:
        return None
    if qualname in _STEP_COROUTINES:
        what, is_step = _STEP_COROUTINES[qualname], True
    elif qualname == _DECORATED_WRAPPER:
        what, is_step = "a @step.do function", True
    else:
        what, is_step = f"coroutine {qualname}()", False
    name = step_name_at(location.filename, location.lineno) if is_step else None
    return UnawaitedCoroutine(what, is_step, location, source, name)


def _strip_comment(line: str) -> str:
    """A source line without its trailing ``# comment`` (when the ``#`` is not inside a string)."""
    line = line.strip()
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(line).readline))
    except (tokenize.TokenError, SyntaxError):
        return line
    for token in tokens:
        if token.type == tokenize.COMMENT:
            return line[: token.start[1]].rstrip()
    return line


def _literal(node: ast.expr | None) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return ast.unparse(node)
    return None


def _decorated_step_name(tree: ast.Module, function: str) -> str | None:
    for node in ast.walk(tree):
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) or node.name != function:
            continue
        for decorator in node.decorator_list:
            if (
                isinstance(decorator, ast.Call)
                and isinstance(decorator.func, ast.Attribute)
                and decorator.func.attr == "do"
            ):
                if decorator.args:
                    return _literal(decorator.args[0]) or function
                for keyword in decorator.keywords:
                    if keyword.arg == "name":
                        return _literal(keyword.value) or function
                return function
    return None


def step_name_at(filename: str, lineno: int) -> str | None:
    """The name of the step called on line ``lineno`` of ``filename``, when it can be read."""
    tree = _parse(filename)
    if tree is None:
        return None
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call) or not node.lineno <= lineno <= (node.end_lineno or node.lineno):
            continue
        func = node.func
        if isinstance(func, ast.Attribute) and func.attr in _STEP_METHODS and node.args:
            name = _literal(node.args[0])
            if name is not None:
                return name
        if isinstance(func, ast.Name):
            name = _decorated_step_name(tree, func.id)
            if name is not None:
                return name
    return None
