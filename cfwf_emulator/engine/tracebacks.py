"""The Python traceback of a failed attempt, kept for the person debugging it.

Cloudflare keeps only ``{"name", "message"}`` of a step error, and so does the emulator's
status; the traceback is an emulator extension, stored on the attempt record under
``"traceback"`` (JSON text, never more than :data:`MAX_TRACEBACK_CHARS`) and shown by the pytest
failure report and the demo. It starts at the user's own code: the engine's frames that called
the step's callback are left out.
"""

from __future__ import annotations

import traceback
from pathlib import Path
from types import TracebackType

__all__ = ["MAX_TRACEBACK_CHARS", "format_failure"]

#: The most characters of a traceback kept (16 KiB): its head and tail, the middle cut.
MAX_TRACEBACK_CHARS = 16 * 1024

_PACKAGE = Path(__file__).resolve().parents[1]
_USER_CODE = (_PACKAGE / "examples",)  # shipped examples are user code, not the engine's


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


def format_failure(exc: BaseException) -> str | None:
    """``exc``'s traceback from the user's code on, size-capped; None when no user code raised it
    (a mocked error, a timeout, a result the engine refused)."""
    tb = _user_part(exc.__traceback__)
    if tb is None:
        return None
    try:
        lines = traceback.format_exception(type(exc), exc, tb)
    except Exception as problem:  # noqa: BLE001 - a str() that raises must not fail the step
        return f"(the traceback could not be formatted: {type(problem).__name__})"
    return _capped("".join(lines))
