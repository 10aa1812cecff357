"""The error for a runtime name the emulator does not provide."""

from __future__ import annotations

from typing import NoReturn

__all__ = ["NotEmulatedError", "not_emulated"]


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
