"""The JSON codec that step results, params, events and outputs cross, as they do on Cloudflare.

Every value that Cloudflare would persist or send over RPC goes through :func:`encode` once and
comes back through :func:`decode` as a fresh copy (dicts with attribute access, tuples as lists),
on the first pass as well as on replay, so code cannot tell the two apart.
"""

from __future__ import annotations

import inspect
import json
from datetime import datetime, timedelta, timezone
from typing import Any

__all__ = [
    "AttrDict",
    "NotSerialisable",
    "RpcTypeError",
    "decode",
    "encode",
    "iso_from_ms",
    "utc_from_ms",
]

_DATETIME_TAG = "__cfwf_datetime_ms__"


class AttrDict(dict[str, Any]):
    """A dict whose keys can also be read as attributes (``event.payload``), like Cloudflare's JsDict."""

    __slots__ = ()

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    def __setattr__(self, name: str, value: Any) -> None:
        self[name] = value


class NotSerialisable(TypeError):
    """A value has a type that cannot be persisted (a JavaScript structured clone would fail)."""


class RpcTypeError(TypeError):
    """Cloudflare's Python SDK refuses to send this type over RPC (tuples, bytearrays, awaitables)."""


def _default(value: object) -> Any:
    if isinstance(value, datetime):
        aware = value if value.tzinfo else value.replace(tzinfo=timezone.utc)
        return {_DATETIME_TAG: aware.timestamp() * 1000.0}
    raise NotSerialisable(
        f"{type(value).__name__} is not serialisable; return JSON-like data (None, bool, int, "
        "float, str, list, dict) or datetime"
    )


_ENCODER = json.JSONEncoder(
    ensure_ascii=False, separators=(",", ":"), default=_default, check_circular=True
)


def _refuse_rpc_types(value: Any) -> None:
    """Raise what the SDK's ``python_to_rpc`` raises for tuples, bytearrays and awaitables."""
    stack = [value]
    seen: set[int] = set()
    while stack:
        item = stack.pop()
        if isinstance(item, (dict, list)):
            if id(item) in seen:
                continue  # shared or circular; json.dumps reports a cycle
            seen.add(id(item))
        if isinstance(item, dict):
            stack.extend(child for child in item.values() if not isinstance(child, (str, int, float)))
        elif isinstance(item, list):
            stack.extend(child for child in item if not isinstance(child, (str, int, float)))
        elif isinstance(item, (tuple, bytearray)):
            raise RpcTypeError(f"{type(item)} cannot be sent over RPC.")
        elif inspect.isawaitable(item):
            raise RpcTypeError(f"Awaitable {type(item)} cannot be sent over RPC.")


def encode(value: Any) -> str:
    """Compact JSON text of ``value``, as Cloudflare's Python SDK would send it over RPC.

    Non-str dict keys become strings (as JavaScript objects' keys do); ``datetime`` is kept
    (naive means UTC). Raises :class:`RpcTypeError` for tuples and bytearrays, as the SDK does,
    and :class:`NotSerialisable` for anything a structured clone cannot carry.
    """
    kind = type(value)
    if kind is int:  # what the encoder writes for an int, without its machinery (every counter step)
        return int.__repr__(value)
    if value is None or isinstance(value, (int, float, bool)):
        return _ENCODER.encode(value)
    _refuse_rpc_types(value)
    try:
        text = _ENCODER.encode(value)
    except RecursionError:
        raise NotSerialisable("the value is nested too deeply to be stored") from None
    except (ValueError, TypeError) as exc:
        if isinstance(exc, NotSerialisable):
            raise
        raise NotSerialisable(str(exc)) from None
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            # a lone surrogate (valid in a JavaScript string): keep it, escaped
            text = _ASCII_ENCODER.encode(value)
    return text


_ASCII_ENCODER = json.JSONEncoder(ensure_ascii=True, separators=(",", ":"), default=_default)


def _object_hook(pairs: dict[str, Any]) -> Any:
    if len(pairs) == 1 and _DATETIME_TAG in pairs:
        return utc_from_ms(pairs[_DATETIME_TAG])
    return AttrDict(pairs)


def decode(text: str) -> Any:
    """A fresh Python value from JSON text; dicts come back as :class:`AttrDict`, dates as naive UTC."""
    return _DECODER.decode(text)


#: ``json.loads`` with a hook builds a decoder per call: one, shared, reads the same values.
_DECODER = json.JSONDecoder(object_hook=_object_hook)


_EPOCH = datetime(1970, 1, 1)
_MIN_MS = (datetime.min - _EPOCH).total_seconds() * 1000.0
_MAX_MS = (datetime.max - _EPOCH).total_seconds() * 1000.0


def utc_from_ms(ms: float) -> datetime:
    """A naive UTC ``datetime`` from epoch milliseconds, as Cloudflare's Python runtime gives it.

    Times beyond what ``datetime`` can show (a retry delay of thousands of years, say) are
    clamped to year 1 or 9999 rather than failing.
    """
    if ms >= _MAX_MS:
        return datetime.max
    if ms <= _MIN_MS:
        return datetime.min
    return _EPOCH + timedelta(milliseconds=ms)


def iso_from_ms(ms: float | None) -> str | None:
    """An ISO-8601 UTC string with milliseconds (``2026-01-01T00:00:00.000Z``), as the REST API shows."""
    if ms is None:
        return None
    m = utc_from_ms(ms)
    return (
        f"{m.year:04d}-{m.month:02d}-{m.day:02d}T{m.hour:02d}:{m.minute:02d}:{m.second:02d}."
        f"{m.microsecond // 1000:03d}Z"
    )
