"""Stand-in for ``pyodide.ffi``, outside Cloudflare's Pyodide runtime.

``to_js`` converts as Pyodide does, into the Python values the emulator uses for JavaScript
ones: lists and tuples become arrays (lists), dicts become ``Map``s (dicts) or, with
``dict_converter=Object.fromEntries``, plain objects (attribute-readable dicts), nested to
``depth``. So ``create(params=to_js(payload, dict_converter=Object.fromEntries))`` gives the
workflow the same ``event["payload"]`` as on Cloudflare. (The ``pyodide-py`` stub's ``to_js``
returns its argument unchanged, so a tuple inside would be refused where Cloudflare accepts it.)
Other names raise :class:`~cfwf_emulator.runtime.NotEmulatedError`.
"""

from __future__ import annotations

from typing import Any, Callable, NoReturn

from ..errors import not_emulated

__all__ = [
    "IN_BROWSER",
    "ConversionError",
    "JsException",
    "JsProxy",
    "create_once_callable",
    "create_proxy",
    "destroy_proxies",
    "to_js",
]

#: False: this is not Pyodide.
IN_BROWSER = False


class JsProxy:
    """The type of JavaScript values seen from Python; the emulator's JS values are plain Python values."""


class JsException(Exception):
    """An error thrown by JavaScript code."""


class ConversionError(Exception):
    """A value could not be converted between Python and JavaScript."""


def to_js(
    obj: Any,
    /,
    *,
    depth: int = -1,
    pyproxies: Any = None,
    create_pyproxies: bool = True,
    dict_converter: "Callable[[Any], Any] | None" = None,
    default_converter: "Callable[[Any, Callable[[Any], Any], Callable[[Any, Any], None]], Any] | None" = None,
) -> Any:
    """Convert ``obj`` as Pyodide's ``to_js`` does (see the module docstring)."""
    cache: dict[int, Any] = {}

    def remember(source: Any, converted: Any) -> None:
        cache[id(source)] = converted

    def convert(value: Any, level: int = 0) -> Any:
        if depth >= 0 and level >= depth:
            return value
        if id(value) in cache:
            return cache[id(value)]
        if isinstance(value, (list, tuple)):
            return [convert(item, level + 1) for item in value]
        if isinstance(value, dict):
            entries = [[key, convert(item, level + 1)] for key, item in value.items()]
            return dict_converter(entries) if dict_converter is not None else dict(entries)
        if isinstance(value, (set, frozenset)):
            return {convert(item, level + 1) for item in value}
        if value is None or isinstance(value, (bool, int, float, str, bytes)):
            return value
        if default_converter is not None:
            return default_converter(value, lambda inner: convert(inner, level + 1), remember)
        if not create_pyproxies:
            raise ConversionError(f"cannot convert {type(value).__name__} to JavaScript without a proxy")
        return value

    return convert(obj)


def create_proxy(obj: Any, /, **_options: Any) -> Any:
    """A proxy for ``obj``: here ``obj`` itself (Python values cross unchanged in-process)."""
    return obj


def create_once_callable(obj: Callable[..., Any], /, **_options: Any) -> Callable[..., Any]:
    """``obj`` itself (in-process, a callable needs no proxy)."""
    return obj


def destroy_proxies(pyproxies: Any, /) -> None:
    """Nothing to destroy in-process."""


def __getattr__(name: str) -> NoReturn:
    not_emulated("pyodide.ffi", name, __all__)
