"""Stand-in for Pyodide's ``js`` module (JavaScript's globals), outside Cloudflare's runtime.

Provides the globals Cloudflare's Python Workflows docs and examples use: ``Object``
(``Object.fromEntries`` for ``to_js(..., dict_converter=Object.fromEntries)``), ``JSON`` and
``console``. JavaScript objects are represented by Python values: an object is a dict whose keys
can also be read as attributes, an array a list. Any other global raises
:class:`~cfwf_emulator.runtime.NotEmulatedError` naming it.
"""

from __future__ import annotations

import json as _json
import sys
from typing import Any, Iterable, NoReturn

from ..serialization import AttrDict
from ..errors import not_emulated

__all__ = ["JSON", "Object", "console"]


class _Object:
    """JavaScript's ``Object`` constructor: the static methods that work on plain objects."""

    @staticmethod
    def fromEntries(entries: Iterable[Any]) -> AttrDict:
        """A new object from ``[key, value]`` pairs; keys become strings, as in JavaScript."""
        result = AttrDict()
        for entry in entries:
            key, value = list(entry)[:2]
            result[_property_key(key)] = value
        return result

    @staticmethod
    def entries(obj: Any) -> list[list[Any]]:
        """``[[key, value], ...]`` of an object."""
        return [[key, value] for key, value in dict(obj).items()]

    @staticmethod
    def keys(obj: Any) -> list[str]:
        """The keys of an object."""
        return [str(key) for key in dict(obj)]

    @staticmethod
    def values(obj: Any) -> list[Any]:
        """The values of an object."""
        return list(dict(obj).values())

    @staticmethod
    def assign(target: Any, *sources: Any) -> Any:
        """Copy the properties of ``sources`` onto ``target``; returns ``target``."""
        for source in sources:
            target.update(source)
        return target

    def new(self) -> AttrDict:
        """``Object.new()``: an empty object."""
        return AttrDict()

    def __getattr__(self, name: str) -> NoReturn:
        not_emulated("js.Object", name, ["fromEntries", "entries", "keys", "values", "assign", "new"])


def _property_key(key: Any) -> str:
    if isinstance(key, bool):
        return "true" if key else "false"
    if isinstance(key, float) and key.is_integer():
        return str(int(key))
    return key if isinstance(key, str) else str(key)


class _JSON:
    """JavaScript's ``JSON``: ``stringify`` and ``parse``."""

    @staticmethod
    def stringify(value: Any, replacer: Any = None, space: Any = None) -> str:
        """Compact JSON text, as ``JSON.stringify`` writes it (``space`` indents)."""
        if replacer is not None:
            not_emulated("js.JSON.stringify", "replacer", ["value", "space"])
        indent = space if isinstance(space, (int, str)) and space else None
        separators = (",", ":") if indent is None else (",", ": ")
        return _json.dumps(value, ensure_ascii=False, separators=separators, indent=indent, allow_nan=False)

    @staticmethod
    def parse(text: str) -> Any:
        """The value of JSON ``text``; objects come back as attribute-readable dicts."""
        return _json.loads(text, object_hook=AttrDict)

    def __getattr__(self, name: str) -> NoReturn:
        not_emulated("js.JSON", name, ["stringify", "parse"])


class _Console:
    """JavaScript's ``console``: each method prints its arguments to standard error."""

    def _print(self, level: str, *args: Any) -> None:
        text = " ".join(str(arg) for arg in args)
        print(text if level == "log" else f"[{level}] {text}", file=sys.stderr)

    def log(self, *args: Any) -> None:
        """``console.log``."""
        self._print("log", *args)

    def info(self, *args: Any) -> None:
        """``console.info``."""
        self._print("info", *args)

    def warn(self, *args: Any) -> None:
        """``console.warn``."""
        self._print("warn", *args)

    def error(self, *args: Any) -> None:
        """``console.error``."""
        self._print("error", *args)

    def debug(self, *args: Any) -> None:
        """``console.debug``."""
        self._print("debug", *args)

    def __getattr__(self, name: str) -> NoReturn:
        not_emulated("js.console", name, ["log", "info", "warn", "error", "debug"])


#: ``from js import Object``
Object = _Object()
#: ``from js import JSON``
JSON = _JSON()
#: ``from js import console``
console = _Console()


def __getattr__(name: str) -> NoReturn:
    not_emulated("js", name, __all__)
