"""The Python traceback of a failed attempt, kept for the person debugging it.

Cloudflare keeps only ``{"name", "message"}`` of a step error, and so does the emulator's
status; the traceback is an emulator extension, stored on the attempt record under
``"traceback"`` (JSON text, never more than :data:`MAX_TRACEBACK_CHARS`) and shown by the pytest
failure report and the demo. It starts at the user's own code: the engine's frames that called
the step's callback are left out.
"""

from __future__ import annotations

import functools
import traceback
from collections import OrderedDict
from pathlib import Path
from types import TracebackType

__all__ = ["MAX_TRACEBACK_CHARS", "format_failure"]

#: The most characters of a traceback kept (16 KiB): its head and tail, the middle cut.
MAX_TRACEBACK_CHARS = 16 * 1024

_PACKAGE = Path(__file__).resolve().parents[1]
_USER_CODE = (_PACKAGE / "examples",)  # shipped examples are user code, not the engine's


@functools.lru_cache(maxsize=1024)
def _is_engine_frame(filename: str) -> bool:
    path = Path(filename)
    if not path.is_absolute():
        return False
    return path.is_relative_to(_PACKAGE) and not any(path.is_relative_to(user) for user in _USER_CODE)


def _user_part(tb: TracebackType | None) -> TracebackType | None:
    """The traceback from the first frame outside the engine on (None when there is none)."""
    while tb is not None and _is_engine_frame(tb.tb_frame.f_code.co_filename):
        tb = tb.tb_next
    return tb


def _capped(text: str) -> str:
    if len(text) <= MAX_TRACEBACK_CHARS:
        return text
    head = MAX_TRACEBACK_CHARS // 4
    tail = MAX_TRACEBACK_CHARS - head - 64
    cut = len(text) - head - tail
    return f"{text[:head]}\n... ({cut} characters cut) ...\n{text[-tail:]}"


def _frames(tb: TracebackType | None) -> tuple[tuple[object, int, int], ...]:
    """Each frame's code, line and instruction (the carets under a line depend on it)."""
    frames = []
    while tb is not None:
        frames.append((tb.tb_frame.f_code, tb.tb_lineno, tb.tb_lasti))
        tb = tb.tb_next
    return tuple(frames)


#: The formatted frames of a traceback, by its frames (see :func:`_frames`): a step
#: retried with the same failure has them formatted once, which costs far more than an
#: attempt's own bookkeeping.
_STACKS: "OrderedDict[tuple[tuple[object, int, int], ...], str]" = OrderedDict()
_CACHED = 256


def _stack(tb: TracebackType) -> str:
    key = _frames(tb)
    text = _STACKS.get(key)
    if text is None:
        text = _STACKS[key] = "".join(traceback.StackSummary.extract(traceback.walk_tb(tb)).format())
        if len(_STACKS) > _CACHED:
            _STACKS.popitem(last=False)
    else:
        _STACKS.move_to_end(key)
    return text


def _formatted(exc: BaseException, tb: TracebackType) -> str:
    if exc.__cause__ is not None or (exc.__context__ is not None and not exc.__suppress_context__):
        return "".join(traceback.format_exception(type(exc), exc, tb))  # a chain: rare, not cached
    head = "Traceback (most recent call last):\n"
    return head + _stack(tb) + _last_line(exc)


def _last_line(exc: BaseException) -> str:
    """``module.Type: message`` (and any notes), as ``traceback`` ends a traceback."""
    cls = type(exc)
    if issubclass(cls, SyntaxError) or getattr(exc, "__notes__", None):
        return "".join(traceback.format_exception_only(cls, exc))
    name = cls.__qualname__ if cls.__module__ in ("builtins", "__main__") else f"{cls.__module__}.{cls.__qualname__}"
    message = str(exc)
    return f"{name}: {message}\n" if message else f"{name}\n"


def format_failure(exc: BaseException) -> str | None:
    """``exc``'s traceback from the user's code on, size-capped; None when no user code raised it
    (a mocked error, a timeout, a result the engine refused)."""
    tb = _user_part(exc.__traceback__)
    if tb is None:
        return None
    try:
        return _capped(_formatted(exc, tb))
    except Exception as problem:  # noqa: BLE001 - a str() that raises must not fail the step
        return f"(the traceback could not be formatted: {type(problem).__name__})"
