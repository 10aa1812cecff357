"""Offline emulations of the Cloudflare bindings workflow steps call: KV, D1 and R2.

Each takes the call shapes of a Cloudflare Python Worker (Pyodide): JavaScript method names,
positional arguments, and Python keyword arguments as the one trailing options object. Bindings
of other kinds are :class:`UnsupportedBinding` placeholders that raise a clear error when used.
"""

from __future__ import annotations

from .d1 import D1Database, D1Error, D1PreparedStatement, D1TypeError
from .kv import JsArray, JsBytes, JsObject, KVError, KVNamespace
from .r2 import R2Bucket, R2Checksums, R2Error, R2Object, R2ObjectBody, R2StorageError
from .unsupported import UnsupportedBinding, UnsupportedBindingError

__all__ = [
    "D1Database",
    "D1Error",
    "D1PreparedStatement",
    "D1TypeError",
    "JsArray",
    "JsBytes",
    "JsObject",
    "KVError",
    "KVNamespace",
    "R2Bucket",
    "R2Checksums",
    "R2Error",
    "R2Object",
    "R2ObjectBody",
    "R2StorageError",
    "UnsupportedBinding",
    "UnsupportedBindingError",
]
