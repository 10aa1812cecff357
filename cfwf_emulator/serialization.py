"""The JSON codec that step results, params, events and outputs cross, as they do on Cloudflare.

Every value that Cloudflare would persist or send over RPC goes through :func:`encode` once and
comes back through :func:`decode` as a fresh copy (dicts with attribute access, tuples as lists),
on the first pass as well as on replay, so code cannot tell the two apart.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

__all__ = ["AttrDict", "NotSerialisable", "decode", "encode", "utc_from_ms", "iso_from_ms"]


class AttrDict(dict[str, Any]):
    """A dict whose keys can also be read as attributes (``event.payload``), like Cloudflare's JsDict."""

    __slots__ = ()

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


class NotSerialisable(TypeError):
    """A value has a type that cannot be persisted (only JSON-like values can)."""


def _reject(value: object) -> Any:
    raise NotSerialisable(
        f"{type(value).__name__} is not serialisable; return JSON-like data "
        "(None, bool, int, float, str, list, tuple, dict with str keys)"
    )


_ENCODER = json.JSONEncoder(
    ensure_ascii=False, separators=(",", ":"), default=_reject, check_circular=True
)


def _check_keys(value: Any) -> None:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            for key, child in item.items():
                if not isinstance(key, str):
                    raise NotSerialisable(
                        f"dict key {key!r} ({type(key).__name__}) is not serialisable; "
                        "dict keys must be str"
                    )
                if isinstance(child, (dict, list, tuple)):
                    stack.append(child)
        elif isinstance(item, (list, tuple)):
            stack.extend(child for child in item if isinstance(child, (dict, list, tuple)))


def encode(value: Any) -> str:
    """Compact JSON text of ``value``, or :class:`NotSerialisable` saying which part is wrong."""
    if value is None or isinstance(value, (str, int, float, bool)):
        return _ENCODER.encode(value)
    _check_keys(value)
    try:
        return _ENCODER.encode(value)
    except ValueError as exc:
        raise NotSerialisable(str(exc)) from None


def decode(text: str) -> Any:
    """A fresh Python value from JSON text; dicts come back as :class:`AttrDict`."""
    return json.loads(text, object_hook=AttrDict)


def utc_from_ms(ms: float) -> datetime:
    """A naive UTC ``datetime`` from epoch milliseconds, as Cloudflare's Python runtime gives it."""
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).replace(tzinfo=None)


def iso_from_ms(ms: float | None) -> str | None:
    """An ISO-8601 UTC string with milliseconds (``2026-01-01T00:00:00.000Z``), as the REST API shows."""
    if ms is None:
        return None
    moment = datetime.fromtimestamp(ms / 1000, tz=timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
