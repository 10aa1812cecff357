"""Compact JSON text of the engine's own JSON-ready data, with one C encoder made once.

``json.JSONEncoder(...).encode`` builds its C encoder anew for every dict or list it writes (about
a microsecond: a fifth of the cost of a step's row). :func:`compact` uses one, built when this
module is imported, and writes exactly the same text as
``json.dumps(value, separators=(",", ":"), ensure_ascii=False)``.

It is for data the engine builds (records, attempts, log entries, events already checked when they
were sent), which cannot hold a reference cycle: it does not look for one, and a value nested too
deeply (or circular) raises ``ValueError``, as the standard encoder does for a cycle.

The texts a store builds field by field (a step's row, an instance's header, log entries) use
:func:`number` and :func:`compact_same` for their fields and :func:`storable` for the whole: the
same text as ``compact`` of the whole value.
"""

from __future__ import annotations

import json
import json.encoder
from typing import Any, Callable

__all__ = ["compact", "compact_same", "number", "storable", "strings"]

_reference = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)
#: The JSON text of a str (``compact`` of a str, without the call).
strings: Callable[[str], str] = json.encoder.encode_basestring
_strings = strings


def _build() -> Callable[[Any, int], Any] | None:
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:  # an interpreter without the C accelerator
        return None
    try:
        encoder: Callable[[Any, int], Any] = make(None, _reference.default, _strings, None, ":", ",", False, False, True)
    except TypeError:  # its signature changed: the standard path writes the same text
        return None
    return encoder


_encoder = _build()


def compact(value: Any) -> str:
    """``json.dumps(value, separators=(",", ":"), ensure_ascii=False)``, faster.

    ``TypeError`` for a value JSON cannot hold, ``ValueError`` for one nested too deeply.
    """
    if type(value) is str:
        return _strings(value)
    if _encoder is None:
        return _reference.encode(value)
    try:
        return "".join(_encoder(value, 0))
    except RecursionError:
        raise ValueError("the value is nested too deeply (or circular) to be written as JSON") from None


def number(value: Any) -> str:
    """``compact(value)`` for a time or a count (a float, an int or None), without the encoder
    for the usual ones: a finite float, an int, None."""
    kind = type(value)
    if kind is float and value - value == 0.0:  # finite (inf and nan have JSON names of their own)
        return float.__repr__(value)
    if kind is int:
        return int.__repr__(value)
    return "null" if value is None else compact(value)


_last_same: list[Any] = [None, "null"]


def compact_same(value: Any) -> str:
    """``compact(value)``, kept for the last object asked about: for a value that is the same
    object time after time and never changed in place (a step's resolved config, written with
    each of its rows and log entries)."""
    if value is not _last_same[0]:
        _last_same[0], _last_same[1] = value, compact(value)
    return str(_last_same[1])


def storable(text: str, value: Callable[[], Any]) -> str:
    """``text`` (JSON built with ``ensure_ascii=False``) if UTF-8 can hold it, else ``value()``
    written with every non-ASCII character escaped: a lone surrogate (in an error message, say)
    is valid in JSON escaped, not in UTF-8 text."""
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            return json.dumps(value(), separators=(",", ":"), ensure_ascii=True)
    return text
