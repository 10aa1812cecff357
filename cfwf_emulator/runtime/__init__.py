"""Stand-ins for the modules Cloudflare's Python Workers runtime provides, outside Pyodide.

A Python Workers project imports ``workers`` (Cloudflare's SDK), ``js`` and ``pyodide.ffi``.
The real ones only run inside Cloudflare's Pyodide runtime: in a project's own virtualenv
``workers-runtime-sdk`` and the ``pyodide-py`` stubs are installed, but ``import workers`` fails
there with ``No module named 'js'``. :func:`install` makes those imports resolve to the
emulator's implementations (:mod:`cfwf_emulator.workers`, :mod:`.js`, :mod:`.pyodide_ffi`) in
this process, so the project's code runs unmodified under the emulator.

What it never does: install anything on disk (type checkers and IDEs keep reading the real SDK's
files), act on ``import cfwf_emulator`` alone (only ``Emulator.from_config`` and the pytest
plugin call it), replace a real module that is already imported, or act inside Pyodide, where the
real modules work.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from types import ModuleType

from ..errors import NotEmulatedError

__all__ = ["NotEmulatedError", "install", "installed", "real_runtime"]

#: Attribute that marks a module in ``sys.modules`` as one of the emulator's stand-ins.
MARK = "__cfwf_stand_in__"


def real_runtime() -> bool:
    """True inside Pyodide (Cloudflare's Python Workers runtime), where the real modules run."""
    return sys.platform == "emscripten"


def installed(name: str) -> bool:
    """True if ``sys.modules[name]`` is one of the emulator's stand-ins."""
    return bool(getattr(sys.modules.get(name), MARK, False))


def _find(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def _put(name: str, module: ModuleType) -> bool:
    current = sys.modules.get(name)
    if current is not None:
        return current is module
    setattr(module, MARK, True)
    sys.modules[name] = module
    return True


def _pyodide_package() -> None:
    """Make ``pyodide.ffi`` the stand-in; keep an installed ``pyodide`` stub package for the rest."""
    from . import pyodide_ffi

    if "pyodide.ffi" in sys.modules and not installed("pyodide.ffi"):
        return  # the real module is already in use: leave it
    if not _put("pyodide.ffi", pyodide_ffi):
        return
    package = sys.modules.get("pyodide")
    if package is None and _find("pyodide"):
        package = importlib.import_module("pyodide")  # the stub package; its own imports get the stand-in
    if package is None:
        package = ModuleType("pyodide", "Stand-in for Pyodide's package: only pyodide.ffi is emulated.")
        package.__path__ = []
        _put("pyodide", package)
    package.ffi = pyodide_ffi  # type: ignore[attr-defined]


def install() -> bool:
    """Resolve ``workers``, ``workers.workflows``, ``js`` and ``pyodide.ffi`` to the stand-ins.

    Returns True if ``workers`` is (now) the emulator's. Does nothing inside Pyodide, and never
    replaces a module that is already imported from elsewhere.
    """
    if real_runtime():
        return False
    from .. import workers as stand_in
    from ..workers import workflows
    from . import js

    if "js" not in sys.modules and not _find("js"):
        _put("js", js)
    _pyodide_package()
    ours = _put("workers", stand_in)
    if ours:
        _put("workers.workflows", workflows)
    return ours
