"""Workers KV (``env.MY_KV``) as a Cloudflare Python Worker calls it, kept in memory.

Calls take the shapes Pyodide produces: positional JavaScript arguments, and Python keyword
arguments as the one trailing options object, so ``await env.KV.put("k", "v", expirationTtl=60)``
is JavaScript's ``put("k", "v", {expirationTtl: 60})``. Option names stay camelCase. Limits and
error texts are production's (``KV PUT failed: 400 Invalid expiration_ttl of 30. Expiration TTL
must be at least 60.``); expirations follow the emulator clock, so they pass in virtual time.

This module also holds :class:`JsObject`, :class:`JsArray` and :class:`JsBytes`, the shapes in
which every resource here hands JavaScript values back to Python code.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from typing import Any, Callable, Iterable

from ..serialization import AttrDict

__all__ = [
    "JsArray",
    "JsBytes",
    "JsObject",
    "KVError",
    "KVNamespace",
    "KVListResult",
    "to_js_value",
]

MAX_KEY_BYTES = 512
MAX_VALUE_BYTES = 25 * 1024 * 1024
MAX_METADATA_BYTES = 1024
MIN_TTL_SECONDS = 60
MAX_LIST_LIMIT = 1000
MAX_BULK_KEYS = 100
_GET_TYPES = ("text", "json", "arrayBuffer", "stream")
_INT32_MIN = -(2**31)
_INT32_MAX = 2**31 - 1


# --------------------------------------------------------------------------------------------
# JavaScript values as Python sees them


class JsObject(AttrDict):
    """A JavaScript object handed to Python: a dict whose keys also read as attributes.

    On Cloudflare a binding's result is a ``JsProxy`` (``result.results``, ``row.name``,
    ``result.to_py()``); this dict supports those spellings as well as ``result["results"]``.
    """

    __slots__ = ()

    def to_py(self) -> dict[str, Any]:
        """A deep copy made of plain ``dict`` and ``list`` (Pyodide's ``JsProxy.to_py()``)."""
        return {key: _plain(value) for key, value in dict.items(self)}


class JsArray(list[Any]):
    """A JavaScript array handed to Python: a list that also has Pyodide's ``to_py()``."""

    __slots__ = ()

    def to_py(self) -> list[Any]:
        """A deep copy made of plain ``dict`` and ``list`` (Pyodide's ``JsProxy.to_py()``)."""
        return [_plain(value) for value in self]


class JsBytes(bytes):
    """An ``ArrayBuffer`` handed to Python: ``bytes`` that also has ``to_bytes()`` and ``byteLength``."""

    def to_bytes(self) -> bytes:
        """The content as plain ``bytes`` (Pyodide's ``JsBuffer.to_bytes()``)."""
        return bytes(self)

    def to_py(self) -> bytes:
        """The content as plain ``bytes``."""
        return bytes(self)

    @property
    def byteLength(self) -> int:  # noqa: N802 - JavaScript's name
        """The length in bytes, as JavaScript's ``ArrayBuffer.byteLength``."""
        return len(self)


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _plain(child) for key, child in dict.items(value)}
    if isinstance(value, list):
        return [_plain(child) for child in value]
    if isinstance(value, JsBytes):
        return bytes(value)
    return value


def to_js_value(value: Any) -> Any:
    """``value`` with every dict made a :class:`JsObject` and every list a :class:`JsArray`."""
    if isinstance(value, dict):
        return JsObject((key, to_js_value(child)) for key, child in dict.items(value))
    if isinstance(value, (list, tuple)):
        return JsArray(to_js_value(child) for child in value)
    return value


def _reject_constant(name: str) -> Any:
    raise ValueError(f'Unexpected token "{name}" in JSON')


def parse_json(text: str) -> Any:
    """``JSON.parse`` for Python: objects become :class:`JsObject`, arrays :class:`JsArray`."""
    return to_js_value(json.loads(text, parse_constant=_reject_constant))


def stringify_json(value: Any, what: str) -> str:
    """``JSON.stringify`` for Python values; ``TypeError`` naming ``what`` if it cannot be."""
    try:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{what} must be JSON-serialisable: {exc}") from None


def merge_options(
    method: str, options: Any, kwargs: dict[str, Any], allowed: Iterable[str]
) -> dict[str, Any]:
    """The one JavaScript options object: a positional dict and/or keyword arguments.

    Unknown names raise ``TypeError`` (Cloudflare would silently ignore them, so a snake_case
    spelling like ``expiration_ttl`` would quietly do nothing in production).
    """
    merged: dict[str, Any] = {}
    if options is not None:
        if not isinstance(options, dict):
            raise TypeError(
                f"{method}: options must be a dict or keyword arguments, got {type(options).__name__}"
            )
        merged.update(options)
    merged.update(kwargs)
    allowed_names = tuple(allowed)
    unknown = [name for name in merged if name not in allowed_names]
    if unknown:
        hints = []
        for name in unknown:
            camel = _camel(str(name))
            if camel != name and camel in allowed_names:
                hints.append(f"{name!r} (Cloudflare spells it {camel!r})")
            else:
                hints.append(repr(name))
        raise TypeError(
            f"{method}: unknown option(s) {', '.join(hints)}; allowed: {', '.join(allowed_names)}. "
            "Cloudflare would silently ignore it."
        )
    return merged


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def as_bytes(value: Any) -> bytes | None:
    """``value`` as ``bytes`` if it is ``bytes``, ``bytearray`` or ``memoryview``, else ``None``."""
    if isinstance(value, bytes):
        return bytes(value)
    if isinstance(value, (bytearray, memoryview)):
        return bytes(value)
    return None


# --------------------------------------------------------------------------------------------
# KV


class KVError(Exception):
    """A KV operation failed as it would on Cloudflare: ``KV <OP> failed: <status> <text>``."""

    def __init__(self, operation: str, status: int, text: str) -> None:
        super().__init__(f"KV {operation} failed: {status} {text}")
        self.operation = operation
        self.status = status


class KVListResult(JsObject):
    """The result of ``list()``: ``keys`` reads as the list of keys, as on Cloudflare.

    ``result.keys`` (attribute, as Python Workers code writes it) and ``result["keys"]`` give the
    list; calling ``result.keys()`` still gives the dict's key view.
    """

    __slots__ = ()

    def __getattribute__(self, name: str) -> Any:
        if name == "keys" and dict.__contains__(self, "keys"):
            return dict.__getitem__(self, "keys")
        return super().__getattribute__(name)


class _KeyList(JsArray):
    """The ``keys`` list of a :class:`KVListResult`; calling it gives the owner's dict keys."""

    __slots__ = ("_listing",)
    _listing: "KVListResult | None"

    def __call__(self) -> Any:
        owner = getattr(self, "_listing", None)
        if owner is None:
            raise TypeError("'list' object is not callable")
        return dict.keys(owner)


class _Entry:
    __slots__ = ("value", "expiration", "metadata")

    def __init__(self, value: bytes, expiration: int | None, metadata: str | None) -> None:
        self.value = value
        self.expiration = expiration  # epoch seconds
        self.metadata = metadata  # JSON text

    def expired(self, now_ms: float) -> bool:
        return self.expiration is not None and self.expiration * 1000 <= now_ms


def _utf8_len(text: str) -> int:
    return len(text.encode("utf-8", "surrogatepass"))


def lone_surrogate(text: str) -> int:
    """The index of the first lone surrogate in ``text`` (which UTF-8 cannot encode), or -1."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        return exc.start
    return -1


def refuse_lone_surrogate(what: str, text: str) -> None:
    """``TypeError`` if ``text`` has a lone surrogate: Cloudflare would store U+FFFD in its place."""
    at = lone_surrogate(text)
    if at >= 0:
        raise TypeError(
            f"{what} has a lone surrogate (U+{ord(text[at]):04X} at index {at}), which is not valid "
            "UTF-8; Cloudflare would silently store U+FFFD in its place. Fix the text, for example "
            "with text.encode('utf-8', 'replace').decode('utf-8')."
        )


def js_int(what: str, value: Any) -> int:
    """``value`` as the Workers runtime turns a number option into a 32-bit integer.

    NaN and the infinities become 0 and fractions are cut toward zero, as in the runtime; beyond
    the 32-bit range it raises the runtime's ``TypeError``. Non-numbers raise ``TypeError``.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{what} must be a number, got {value!r}")
    if isinstance(value, float) and not math.isfinite(value):
        return 0
    number = int(value)
    if not _INT32_MIN <= number <= _INT32_MAX:
        error = TypeError(
            f"Value out of range. Must be between {_INT32_MIN} and {_INT32_MAX} (inclusive)."
        )
        error.add_note(f"cfwf-emulator: {what} was {value!r}; the Workers runtime takes a 32-bit integer here.")
        raise error
    return number


def _non_finite_note(error: Exception, name: str, value: Any) -> Exception:
    if isinstance(value, float) and not math.isfinite(value):
        error.add_note(
            f"cfwf-emulator: {name}={value!r}; the Workers runtime passes NaN and the infinities on as 0."
        )
    return error


def _sort_key(name: str) -> bytes:
    return name.encode("utf-8", "surrogatepass")


def _validate_key(operation: str, key: Any) -> str:
    if not isinstance(key, str):
        raise TypeError(f"KV {operation.lower()}(): the key must be a str, got {type(key).__name__}")
    if key == "":
        raise TypeError("Key name cannot be empty.")
    if key == ".":
        raise TypeError('"." is not allowed as a key name.')
    if key == "..":
        raise TypeError('".." is not allowed as a key name.')
    refuse_lone_surrogate(f"KV {operation.lower()}(): the key", key)
    length = _utf8_len(key)
    if length > MAX_KEY_BYTES:
        raise KVError(
            operation,
            414,
            f"UTF-8 encoded length of {length} exceeds key length limit of {MAX_KEY_BYTES}.",
        )
    return key


def entry_record(entry: _Entry) -> dict[str, Any]:
    """One entry as JSON-serialisable data (the value base64-encoded)."""
    record: dict[str, Any] = {"value": base64.b64encode(entry.value).decode("ascii")}
    if entry.expiration is not None:
        record["expiration"] = entry.expiration
    if entry.metadata is not None:
        record["metadata"] = json.loads(entry.metadata)
    return record


def entry_from_record(record: Any) -> _Entry:
    """The entry :func:`entry_record` made; ``ValueError`` saying what is wrong if it is not one."""
    if not isinstance(record, dict):
        raise ValueError(f"expected an object with a base64 value, got {type(record).__name__}")
    try:
        value = base64.b64decode(str(record["value"]), validate=True)
    except KeyError:
        raise ValueError("it has no value") from None
    except binascii.Error as exc:
        raise ValueError(f"its value is not base64 ({exc})") from None
    expiration = record.get("expiration")
    if expiration is not None and (
        isinstance(expiration, bool)
        or not isinstance(expiration, (int, float))
        or not math.isfinite(expiration)
    ):
        raise ValueError(f"its expiration {expiration!r} is not a number of seconds")
    metadata = record.get("metadata")
    metadata_text = None if metadata is None else stringify_json(metadata, "metadata")
    return _Entry(value, None if expiration is None else int(expiration), metadata_text)


class KVNamespace:
    """One KV namespace binding, in memory, with expirations on the emulator clock.

    ``now_ms`` returns the current time in epoch milliseconds (the emulator's clock, virtual in
    tests). Values are stored as bytes; ``dump()``/``load()`` move the whole state as JSON data.
    Subclasses persist it by overriding ``_store_entry``/``_remove_entry`` (each write) and may
    report keys they cannot read through ``_check_readable``/``_unreadable_names``.
    """

    def __init__(self, binding: str, now_ms: Callable[[], float]) -> None:
        self.binding = binding
        self._now_ms = now_ms
        self._entries: dict[str, _Entry] = {}

    def __repr__(self) -> str:
        return f"<KVNamespace {self.binding!r}>"

    # -- helpers ------------------------------------------------------------------------------

    def _store_entry(self, key: str, entry: _Entry) -> None:
        """Keep ``entry`` under ``key`` (a persistent namespace saves it first)."""
        self._entries[key] = entry

    def _remove_entry(self, key: str) -> None:
        """Forget ``key`` (a persistent namespace deletes its saved copy first)."""
        self._entries.pop(key, None)

    def _check_readable(self, key: str) -> None:
        """Raise if the value of ``key`` exists but cannot be read (a corrupt saved copy)."""

    def _unreadable_names(self) -> Iterable[str]:
        """Keys that exist but cannot be read; ``list()`` names them."""
        return ()

    def _live(self, key: str) -> _Entry | None:
        self._check_readable(key)
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry.expired(self._now_ms()):
            del self._entries[key]
            return None
        return entry

    def _purge(self) -> None:
        now = self._now_ms()
        expired = [key for key, entry in self._entries.items() if entry.expired(now)]
        for key in expired:
            del self._entries[key]

    @staticmethod
    def _read_options(method: str, type_or_options: Any, kwargs: dict[str, Any]) -> tuple[str, Any]:
        if isinstance(type_or_options, str):
            options = merge_options(method, None, kwargs, ("type", "cacheTtl"))
            options.setdefault("type", type_or_options)
        else:
            options = merge_options(method, type_or_options, kwargs, ("type", "cacheTtl"))
        value_type = options.get("type")
        if value_type is None:
            value_type = "text"
        cache_ttl = options.get("cacheTtl")
        return value_type, cache_ttl

    @staticmethod
    def _check_cache_ttl(operation: str, cache_ttl: Any) -> None:
        if cache_ttl is None:
            return
        seconds = js_int("cacheTtl (seconds)", cache_ttl)
        if seconds < MIN_TTL_SECONDS:
            raise _non_finite_note(
                KVError(
                    operation,
                    400,
                    f"Invalid cache_ttl of {seconds}. Cache TTL must be at least {MIN_TTL_SECONDS}.",
                ),
                "cacheTtl",
                cache_ttl,
            )

    @staticmethod
    def _check_type(value_type: Any) -> str:
        if value_type not in _GET_TYPES:
            raise TypeError(
                'Unknown response type. Possible types are "text", "arrayBuffer", "json", and "stream".'
            )
        if value_type == "stream":
            raise NotImplementedError(
                'cfwf-emulator does not emulate KV get(type="stream") (a ReadableStream); '
                'use "arrayBuffer" (bytes) or "text" instead.'
            )
        return str(value_type)

    @staticmethod
    def _decode(value: bytes, value_type: str) -> Any:
        if value_type == "arrayBuffer":
            return JsBytes(value)
        text = value.decode("utf-8", "replace")
        if value_type == "json":
            return parse_json(text)
        return text

    def _bulk(self, keys: Any, value_type: str, cache_ttl: Any, with_metadata: bool) -> dict[str, Any]:
        if value_type not in ("text", "json"):
            raise KVError("GET_BULK", 400, f'"{value_type}" is not a valid type. Use "json" or "text"')
        self._check_cache_ttl("GET_BULK", cache_ttl)
        names = list(keys)
        if len(names) > MAX_BULK_KEYS:
            raise KVError("GET_BULK", 400, f"You can request a maximum of {MAX_BULK_KEYS} keys")
        result: dict[str, Any] = {}
        for name in names:
            _validate_key("GET_BULK", name)
            entry = self._live(name)
            value = None if entry is None else self._decode(entry.value, value_type)
            if with_metadata:
                metadata = None if entry is None or entry.metadata is None else parse_json(entry.metadata)
                result[name] = JsObject(value=value, metadata=metadata)
            else:
                result[name] = value
        return result

    # -- reads --------------------------------------------------------------------------------

    async def get(self, key: Any, type_or_options: Any = None, /, **options: Any) -> Any:
        """The value of ``key`` or ``None``: ``get(key)``, ``get(key, "json")``, ``get(key, type="json")``.

        Types: ``"text"`` (default, ``str``), ``"json"`` (parsed; objects read as attributes
        too), ``"arrayBuffer"`` (bytes). ``cacheTtl`` is validated (at least 60) and ignored.
        A list of keys reads up to 100 keys at once (``"text"`` or ``"json"``) into a dict.
        """
        value_type, cache_ttl = self._read_options("get", type_or_options, options)
        if isinstance(key, (list, tuple)):
            return self._bulk(key, str(value_type), cache_ttl, with_metadata=False)
        _validate_key("GET", key)
        self._check_cache_ttl("GET", cache_ttl)
        checked = self._check_type(value_type)
        entry = self._live(key)
        if entry is None:
            return None
        return self._decode(entry.value, checked)

    async def getWithMetadata(  # noqa: N802 - JavaScript's name
        self, key: Any, type_or_options: Any = None, /, **options: Any
    ) -> Any:
        """``{"value", "metadata", "cacheStatus": None}`` for ``key`` (``value`` as for ``get``)."""
        value_type, cache_ttl = self._read_options("getWithMetadata", type_or_options, options)
        if isinstance(key, (list, tuple)):
            return self._bulk(key, str(value_type), cache_ttl, with_metadata=True)
        _validate_key("GET", key)
        self._check_cache_ttl("GET", cache_ttl)
        checked = self._check_type(value_type)
        entry = self._live(key)
        if entry is None:
            return JsObject(value=None, metadata=None, cacheStatus=None)
        metadata = None if entry.metadata is None else parse_json(entry.metadata)
        return JsObject(
            value=self._decode(entry.value, checked), metadata=metadata, cacheStatus=None
        )

    get_with_metadata = getWithMetadata

    async def list(self, options: Any = None, /, **kwargs: Any) -> KVListResult:
        """Keys in UTF-8 byte order: ``list(prefix=None, limit=1000, cursor=None)``.

        Returns ``{"keys": [{"name", "expiration"?, "metadata"?}], "list_complete",
        "cursor"? (only while not complete), "cacheStatus": None}``.
        """
        opts = merge_options("list", options, kwargs, ("prefix", "limit", "cursor"))
        prefix = opts.get("prefix")
        limit = opts.get("limit")
        cursor = opts.get("cursor")
        if prefix is not None:
            if not isinstance(prefix, str):
                raise TypeError(f"list(): prefix must be a str, got {type(prefix).__name__}")
            refuse_lone_surrogate("KV list(): the prefix", prefix)
            length = _utf8_len(prefix)
            if length > MAX_KEY_BYTES:
                raise KVError(
                    "GET",
                    414,
                    f"UTF-8 encoded length of {length} exceeds key length limit of {MAX_KEY_BYTES}.",
                )
        count = MAX_LIST_LIMIT
        if limit is not None:
            wanted = js_int("list(): limit", limit)
            if wanted > MAX_LIST_LIMIT:
                raise KVError(
                    "GET",
                    400,
                    f"Invalid key_count_limit of {wanted}. "
                    f"Please specify an integer less than {MAX_LIST_LIMIT}.",
                )
            if wanted >= 1:  # Cloudflare's runtime drops a limit of 0 or less: the default applies
                count = wanted
        after: bytes | None = None
        if cursor is not None and cursor != "":
            after = _decode_cursor(cursor)
        self._purge()
        names = sorted(
            (
                name
                for name in {*self._entries, *self._unreadable_names()}
                if prefix is None or name.startswith(prefix)
            ),
            key=_sort_key,
        )
        if after is not None:
            names = [name for name in names if _sort_key(name) > after]
        page = names[:count]
        keys = _KeyList()
        for name in page:
            item = JsObject(name=name)
            entry = self._entries.get(name)
            if entry is None:  # unreadable: reading it raises, saying why
                keys.append(item)
                continue
            if entry.expiration is not None:
                item["expiration"] = entry.expiration
            if entry.metadata is not None:
                item["metadata"] = parse_json(entry.metadata)
            keys.append(item)
        result = KVListResult(keys=keys, list_complete=len(names) <= count)
        if len(names) > count:
            result["cursor"] = _encode_cursor(_sort_key(page[-1]))
        result["cacheStatus"] = None
        keys._listing = result
        return result

    # -- writes -------------------------------------------------------------------------------

    async def put(self, key: Any, value: Any, options: Any = None, /, **kwargs: Any) -> None:
        """Store ``value`` (str or bytes-like) under ``key``.

        Options: ``expirationTtl`` (seconds from now, at least 60), ``expiration`` (epoch
        seconds, at least 60 s ahead), ``metadata`` (JSON-serialisable, at most 1024 bytes).
        """
        opts = merge_options("put", options, kwargs, ("expiration", "expirationTtl", "metadata"))
        _validate_key("PUT", key)
        if isinstance(value, str):
            refuse_lone_surrogate("KV put(): the value", value)
            data = value.encode("utf-8")
        else:
            raw = as_bytes(value)
            if raw is None:
                raise TypeError(
                    "KV put() accepts only strings, ArrayBuffers, ArrayBufferViews, and "
                    f"ReadableStreams as values; got {type(value).__name__}. "
                    "Store other values as text: json.dumps(value), and read them back with "
                    'get(key, type="json").'
                )
            data = raw
        now_seconds = math.floor(self._now_ms() / 1000)
        expiration = self._expiration(opts, now_seconds)
        metadata_text: str | None = None
        if opts.get("metadata") is not None:
            metadata_text = stringify_json(opts["metadata"], "KV put() metadata")
            length = _utf8_len(metadata_text)
            if length > MAX_METADATA_BYTES:
                raise KVError(
                    "PUT", 413, f"Metadata length of {length} exceeds limit of {MAX_METADATA_BYTES}."
                )
        if len(data) > MAX_VALUE_BYTES:
            raise KVError("PUT", 413, f"Value length of {len(data)} exceeds limit of {MAX_VALUE_BYTES}.")
        self._store_entry(key, _Entry(data, expiration, metadata_text))

    @staticmethod
    def _expiration(opts: dict[str, Any], now_seconds: int) -> int | None:
        """The expiration (epoch seconds) ``put`` options ask for; numbers are 32-bit integers,
        as the Workers runtime passes them on (NaN and the infinities as 0)."""
        ttl_raw = opts.get("expirationTtl")
        if ttl_raw is not None:
            ttl = js_int("KV put(): expirationTtl (seconds)", ttl_raw)
            if ttl <= 0:
                text = f"Invalid expiration_ttl of {ttl}. Please specify integer greater than 0."
                raise _non_finite_note(KVError("PUT", 400, text), "expirationTtl", ttl_raw)
            if ttl < MIN_TTL_SECONDS:
                raise KVError(
                    "PUT",
                    400,
                    f"Invalid expiration_ttl of {ttl}. Expiration TTL must be at least {MIN_TTL_SECONDS}.",
                )
            return now_seconds + ttl
        expiration_raw = opts.get("expiration")
        if expiration_raw is None:
            return None
        expiration = js_int("KV put(): expiration (epoch seconds)", expiration_raw)
        if expiration <= now_seconds:
            text = (
                f"Invalid expiration of {expiration}. Please specify integer greater than the current "
                "number of seconds since the UNIX epoch."
            )
            raise _non_finite_note(KVError("PUT", 400, text), "expiration", expiration_raw)
        if expiration < now_seconds + MIN_TTL_SECONDS:
            raise KVError(
                "PUT",
                400,
                f"Invalid expiration of {expiration}. Expiration times must be at least "
                f"{MIN_TTL_SECONDS} seconds in the future.",
            )
        return expiration

    async def delete(self, key: Any, /) -> None:
        """Remove ``key``; removing a missing key is not an error."""
        _validate_key("DELETE", key)
        self._remove_entry(key)

    # -- persistence --------------------------------------------------------------------------

    def dump(self) -> dict[str, Any]:
        """The whole live state as JSON-serialisable data (values base64-encoded)."""
        self._purge()
        entries = {name: entry_record(self._entries[name]) for name in sorted(self._entries, key=_sort_key)}
        return {"version": 1, "binding": self.binding, "entries": entries}

    def load(self, data: dict[str, Any]) -> None:
        """Replace the state with one made by :meth:`dump`."""
        if not isinstance(data, dict) or not isinstance(data.get("entries"), dict):
            raise ValueError('KVNamespace.load() expects the dict made by dump(): {"entries": {...}}')
        loaded: dict[str, _Entry] = {}
        for name, record in data["entries"].items():
            if not isinstance(name, str):
                raise ValueError(f"KVNamespace.load(): bad key {name!r}")
            try:
                loaded[name] = entry_from_record(record)
            except (TypeError, ValueError) as exc:
                raise ValueError(f"KVNamespace.load(): bad entry for {name!r}: {exc}") from None
        self._entries = loaded


def _encode_cursor(after: bytes) -> str:
    return base64.urlsafe_b64encode(b"kv1:" + after).decode("ascii").rstrip("=")


def _decode_cursor(cursor: Any) -> bytes:
    if not isinstance(cursor, str):
        raise TypeError(f"list(): cursor must be a str, got {type(cursor).__name__}")
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
    except (binascii.Error, ValueError):
        raw = b""
    if not raw.startswith(b"kv1:"):
        raise KVError("GET", 400, f"Invalid cursor {cursor!r}; pass back the cursor list() returned.")
    return raw[4:]
