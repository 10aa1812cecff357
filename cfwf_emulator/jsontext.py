"""Compact JSON text of the engine's own JSON-ready data, with one C encoder made once.

``json.JSONEncoder(...).encode`` builds its C encoder anew for every dict or list it writes (about
a microsecond: a fifth of the cost of a step's row). :func:`compact` uses one, built when this
module is imported, and writes exactly the same text as
``json.dumps(value, separators=(",", ":"), ensure_ascii=False)``.

It is for data the engine builds (records, attempts, log entries, events already checked when they
were sent), which cannot hold a reference cycle: it does not look for one, and a value nested too
deeply (or circular) raises ``ValueError``, as the standard encoder does for a cycle.
"""

from __future__ import annotations

import json
import json.encoder
from typing import Any, Callable

__all__ = ["compact", "strings"]

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
