"""Error types a workflow author or a host can meet, with Cloudflare's names and texts.

Errors raised *inside* a step cross the step boundary the way they do on Cloudflare's Python
runtime: ``TypeError``, ``ValueError`` and :class:`NonRetryableError` keep their class, anything
else arrives in ``run`` as a :class:`StepError` that keeps the original class name in ``.name``.
"""

from __future__ import annotations

import difflib
from typing import Any, Iterable, NoReturn

__all__ = [
    "ConfigError",
    "ConfigWarning",
    "NonRetryableError",
    "StalledError",
    "StepError",
    "WorkflowError",
    "WorkflowFatalError",
    "WorkflowTimeoutError",
    "NotEmulatedError",
    "error_to_record",
    "error_from_record",
    "not_emulated",
]


class WorkflowError(Exception):
    """An API call on a binding or an instance was refused (bad id, unknown instance, ...).

    ``code`` is Cloudflare's machine-readable code, such as ``"instance.not_found"``; ``str(e)``
    is ``"(<code>) <message>"`` as on Cloudflare.
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"({code}) {message}")
        self.code = code
        self.message = message


class NonRetryableError(Exception):
    """Raise inside a step to stop its retries at once (``workers.workflows.NonRetryableError``).

    Uncaught in ``run`` it ends the instance ``errored``. ``name`` mirrors the optional second
    argument of the JavaScript class.
    """

    def __init__(self, message: str = "", name: str = "NonRetryableError") -> None:
        super().__init__(message)
        self.name = name


class StepError(Exception):
    """An exception that crossed the step boundary and lost its Python class on the way.

    On Cloudflare only ``TypeError``, ``ValueError`` and ``NonRetryableError`` survive the trip
    from a step back into ``run``; every other exception arrives as a generic error. ``name`` is
    the original class name and ``str(e)`` the original message, so ``e.name == "MyError"`` is
    the portable way to tell errors apart.
    """

    def __init__(self, name: str, message: str) -> None:
        super().__init__(message)
        self.name = name
        self.message = message


class WorkflowTimeoutError(StepError):
    """A step attempt or an event wait ran out of time: ``Execution timed out after <ms>ms``."""

    def __init__(self, message: str) -> None:
        super().__init__("WorkflowTimeoutError", message)

    @classmethod
    def after(cls, timeout_ms: float) -> "WorkflowTimeoutError":
        """The error for a timeout of ``timeout_ms`` milliseconds, with Cloudflare's text."""
        return cls(f"Execution timed out after {format_ms(timeout_ms)}ms")


class WorkflowFatalError(StepError):
    """The engine refused a step call (bad name, bad config, step limit reached, ...)."""

    def __init__(self, message: str) -> None:
        super().__init__("WorkflowFatalError", message)


class ConfigError(Exception):
    """A wrangler configuration or an emulator option is invalid; the message says how to fix it."""


class StalledError(RuntimeError):
    """``Emulator.drive_until`` gave up: its condition is not met and nothing can progress any more.

    No step callback is running, nothing in the event loop is ready, and no timer is left that
    could change an instance (with the virtual clock: none at all). Send the event an instance
    waits for, resume it, or change what you wait for.
    """


class ConfigWarning(UserWarning):
    """A wrangler configuration has a non-fatal problem (an unknown key, a step limit above
    production's, a missing ``python_workers`` flag, cron ``schedules`` that are not run).

    ``Emulator.from_config`` emits one per finding; the message starts with
    ``<file>:<line>:<col>: <key>:``. Turn them into errors with
    ``-W error::cfwf_emulator.ConfigWarning`` (or ``filterwarnings`` in pytest's config).
    """


def quoted(text: str) -> str:
    """``text`` in double quotes for a message, or its ``repr`` when it has characters a terminal
    cannot show (a lone surrogate, NUL, a newline), so the message itself stays printable."""
    return f'"{text}"' if text.isprintable() else repr(text)


def did_you_mean(name: str, candidates: Iterable[str], *, n: int = 3) -> str:
    """``" (did you mean 'a' or 'b'?)"`` for the candidates closest to ``name``, or ``""``."""
    close = difflib.get_close_matches(name, sorted(set(candidates)), n=n, cutoff=0.6)
    if not close:
        return ""
    shown = [f"'{candidate}'" for candidate in close]
    listed = shown[0] if len(shown) == 1 else f"{', '.join(shown[:-1])} or {shown[-1]}"
    return f" (did you mean {listed}?)"


def format_ms(value: float) -> str:
    """Milliseconds as JavaScript prints a number: ``1000`` not ``1000.0``."""
    if float(value).is_integer():
        return str(int(value))
    return repr(float(value))


_KEEPS_CLASS: dict[str, type[Exception]] = {"TypeError": TypeError, "ValueError": ValueError}


def error_to_record(exc: BaseException) -> dict[str, Any]:
    """The ``{"name", "message"}`` record kept in the journal and shown in ``status()``."""
    if isinstance(exc, (StepError, NonRetryableError)):
        return {"name": exc.name, "message": str(exc)}
    return {"name": type(exc).__name__, "message": str(exc)}


def error_from_record(record: dict[str, Any]) -> Exception:
    """Rebuild the exception ``run`` sees at the ``await`` of a failed step.

    Rebuilt from the journal record on the first pass and on replay alike, so both behave the same.
    """
    name = str(record.get("name", "Error"))
    message = str(record.get("message", ""))
    kept = _KEEPS_CLASS.get(name)
    if kept is not None:
        return kept(message)
    if name == "NonRetryableError" or record.get("nonRetryable"):
        return NonRetryableError(message, name)
    if name == "WorkflowTimeoutError":
        return WorkflowTimeoutError(message)
    if name == "WorkflowFatalError":
        return WorkflowFatalError(message)
    return StepError(name, message)


def is_non_retryable(exc: BaseException) -> bool:
    """Cloudflare's test: the name is NonRetryableError, or the message starts with it."""
    if isinstance(exc, NonRetryableError):
        return True
    name = getattr(exc, "name", None)
    return name == "NonRetryableError" or str(exc).startswith("NonRetryableError")


class NotEmulatedError(ImportError):
    """A name of ``workers``, ``js`` or ``pyodide.ffi`` that only Cloudflare's runtime provides.

    An ``ImportError``, so ``from js import fetch`` reports this message rather than Python's
    generic "cannot import name".
    """


def not_emulated(module: str, name: str, provided: "list[str]") -> NoReturn:
    """Raise the error for ``module.name``; dunder and private names get a plain AttributeError."""
    if name.startswith("_"):
        raise AttributeError(f"module {module!r} has no attribute {name!r}")
    raise NotEmulatedError(
        f"{module}.{name} is not emulated by cfwf-emulator (it needs Cloudflare's Pyodide runtime). "
        f"Emulated names in {module}: {', '.join(provided)}. Keep code that needs {module}.{name} "
        "out of the code paths your tests run, or open an issue asking for it.",
        name=module,
    )
