"""R2 (``env.BUCKET``) as a Cloudflare Python Worker calls it, stored in a directory.

Each object is two files under ``<directory>/objects/``: the body and a JSON sidecar with its
metadata, both named by the SHA-256 of the key, so no key (``"../x"``, ``"/etc/passwd"``, ...)
can name a path outside the directory. No symbolic link inside the directory is followed: every
operation opens the bucket directory, ``objects`` and the file each relative to the last with
``O_NOFOLLOW``, and a link (or other non-regular file) raises :class:`R2StorageError`.
Errors carry R2's text and code:
``put: Your metadata headers exceed the maximum allowed metadata size. (10012)``.
"""

from __future__ import annotations

import base64
import binascii
import errno
import hashlib
import json
import os
import stat
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from email.utils import format_datetime
from pathlib import Path
from typing import Any, Callable

from ..errors import ConfigError
from ..serialization import utc_from_ms
from .kv import JsArray, JsBytes, JsObject, as_bytes, merge_options, parse_json, refuse_lone_surrogate

__all__ = ["R2Bucket", "R2Checksums", "R2Error", "R2Object", "R2ObjectBody", "R2StorageError"]

MAX_KEY_BYTES = 1024
MAX_METADATA_BYTES = 8192
MAX_LIST_LIMIT = 1000
MAX_DELETE_KEYS = 1000
MAX_VALUE_BYTES = 5 * 1024**3 - 5 * 1024**2

_HTTP_FIELDS = {
    "contentType": "content-type",
    "contentLanguage": "content-language",
    "contentDisposition": "content-disposition",
    "contentEncoding": "content-encoding",
    "cacheControl": "cache-control",
    "cacheExpiry": "expires",
}
_HASHES = {"md5": "MD5", "sha1": "SHA-1", "sha256": "SHA-256", "sha384": "SHA-384", "sha512": "SHA-512"}
_STORAGE_CLASSES = ("Standard", "InfrequentAccess")
_INCLUDE = ("httpMetadata", "customMetadata")
_BODY_USED = (
    "Body has already been used. It can only be used once. Use tee() first if you need to read it twice."
)


class R2Error(Exception):
    """An R2 call failed as on Cloudflare: ``<action>: <message> (<code>)``; ``code`` is R2's v4 code."""

    def __init__(self, action: str, message: str, code: int) -> None:
        super().__init__(f"{action}: {message} ({code})")
        self.action = action
        self.code = code


class R2StorageError(ConfigError):
    """A bucket's directory holds a symbolic link (or another non-regular file) where an object
    file or directory belongs, or lost a file it kept; nothing was read, written or deleted
    through a link."""


def _invalid_name(action: str) -> R2Error:
    return R2Error(action, "The specified object name is not valid.", 10020)


def _validate_key(action: str, key: Any) -> str:
    if not isinstance(key, str):
        raise TypeError(f"R2 {action}(): the key must be a str, got {type(key).__name__}")
    try:
        encoded = key.encode("utf-8")
    except UnicodeEncodeError:
        raise _invalid_name(action) from None
    if len(encoded) > MAX_KEY_BYTES:
        raise _invalid_name(action)
    return key


def _ms_from_datetime(value: datetime) -> float:
    aware = value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    return aware.timestamp() * 1000.0


class R2Checksums:
    """The checksums R2 keeps for an object: ``md5`` always, others if given at ``put``.

    Each is ``bytes`` (an ``ArrayBuffer`` on Cloudflare) or ``None``; ``toJSON()`` gives hex.
    """

    def __init__(self, hexes: dict[str, str]) -> None:
        self._hexes = dict(hexes)

    def _get(self, name: str) -> JsBytes | None:
        value = self._hexes.get(name)
        return None if value is None else JsBytes(bytes.fromhex(value))

    @property
    def md5(self) -> JsBytes | None:
        """The MD5 digest."""
        return self._get("md5")

    @property
    def sha1(self) -> JsBytes | None:
        """The SHA-1 digest, if one was given at ``put``."""
        return self._get("sha1")

    @property
    def sha256(self) -> JsBytes | None:
        """The SHA-256 digest, if one was given at ``put``."""
        return self._get("sha256")

    @property
    def sha384(self) -> JsBytes | None:
        """The SHA-384 digest, if one was given at ``put``."""
        return self._get("sha384")

    @property
    def sha512(self) -> JsBytes | None:
        """The SHA-512 digest, if one was given at ``put``."""
        return self._get("sha512")

    def toJSON(self) -> JsObject:  # noqa: N802 - JavaScript's name
        """``{"md5": "<hex>", ...}`` for the digests present."""
        return JsObject(self._hexes)

    def __repr__(self) -> str:
        return f"R2Checksums({self._hexes!r})"


class R2Object:
    """An object's metadata, as ``head()``, ``put()`` and ``list()`` return it."""

    def __init__(
        self,
        record: dict[str, Any],
        *,
        include: tuple[str, ...] = _INCLUDE,
        range_: JsObject | None = None,
    ) -> None:
        self.key: str = record["key"]
        self.version: str = record["version"]
        self.size: int = record["size"]
        self.etag: str = record["etag"]
        self.httpEtag: str = f'"{record["etag"]}"'
        self.uploaded: datetime = utc_from_ms(record["uploaded"])
        self.checksums = R2Checksums(record["checksums"])
        self.storageClass: str = record.get("storageClass", "Standard")
        self.ssecKeyMd5: str | None = None
        self.range: JsObject | None = range_
        self.httpMetadata: JsObject | None = (
            _http_metadata_out(record["httpMetadata"]) if "httpMetadata" in include else None
        )
        self.customMetadata: JsObject | None = (
            JsObject(record["customMetadata"]) if "customMetadata" in include else None
        )

    def __repr__(self) -> str:
        return f"<{type(self).__name__} key={self.key!r} size={self.size} etag={self.etag!r}>"

    def writeHttpMetadata(self, headers: Any) -> None:  # noqa: N802 - JavaScript's name
        """Copy ``httpMetadata`` into ``headers`` (anything with ``set(name, value)``, or a dict)."""
        metadata: dict[str, Any] = self.httpMetadata or {}
        for field, header in _HTTP_FIELDS.items():
            value = metadata.get(field)
            if value is None:
                continue
            text = format_datetime(value.replace(tzinfo=timezone.utc), usegmt=True) if isinstance(
                value, datetime
            ) else str(value)
            setter = getattr(headers, "set", None)
            if callable(setter) and not isinstance(headers, dict):
                setter(header, text)
            else:
                headers[header] = text

    write_http_metadata = writeHttpMetadata


class R2ObjectBody(R2Object):
    """An object with its body, as ``get()`` returns it; the body can be read once."""

    def __init__(
        self, record: dict[str, Any], data: bytes, *, range_: JsObject | None = None
    ) -> None:
        super().__init__(record, range_=range_)
        self._data = data
        self._used = False

    @property
    def body(self) -> JsBytes:
        """The body's bytes (a ``ReadableStream`` on Cloudflare; reading it here does not use it up)."""
        return JsBytes(self._data)

    @property
    def bodyUsed(self) -> bool:  # noqa: N802 - JavaScript's name
        """Whether ``text()``/``json()``/``arrayBuffer()``/``bytes()`` already read the body."""
        return self._used

    def _take(self) -> bytes:
        if self._used:
            raise TypeError(_BODY_USED)
        self._used = True
        return self._data

    async def arrayBuffer(self) -> JsBytes:  # noqa: N802 - JavaScript's name
        """The body as bytes."""
        return JsBytes(self._take())

    async def bytes(self) -> JsBytes:
        """The body as bytes (JavaScript's ``bytes()``, a ``Uint8Array``)."""
        return JsBytes(self._take())

    async def text(self) -> str:
        """The body decoded as UTF-8 (invalid bytes become U+FFFD, as in JavaScript)."""
        return self._take().decode("utf-8", "replace")

    async def json(self) -> Any:
        """The body parsed as JSON (objects read as attributes too)."""
        return parse_json(self._take().decode("utf-8", "replace"))


def _http_metadata_in(action: str, value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    opts = merge_options(f"{action}() httpMetadata", value, {}, _HTTP_FIELDS)
    stored: dict[str, Any] = {}
    for field, item in opts.items():
        if item is None:
            continue
        if field == "cacheExpiry":
            if not isinstance(item, datetime):
                raise TypeError(f"httpMetadata.cacheExpiry must be a datetime, got {item!r}")
            stored[field] = _ms_from_datetime(item)
        elif not isinstance(item, str):
            raise TypeError(f"httpMetadata.{field} must be a str, got {item!r}")
        else:
            refuse_lone_surrogate(f"R2 {action}(): httpMetadata.{field}", item)
            stored[field] = item
    return stored


def _http_metadata_out(stored: dict[str, Any]) -> JsObject:
    out = JsObject()
    for field, item in stored.items():
        out[field] = utc_from_ms(item) if field == "cacheExpiry" else item
    return out


def _custom_metadata_in(value: Any) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise TypeError(f"customMetadata must be a dict of str to str, got {type(value).__name__}")
    for name, item in value.items():
        if not isinstance(name, str) or not isinstance(item, str):
            raise TypeError(
                f"customMetadata must map str to str; {name!r}: {item!r} is not (convert it with str())"
            )
        refuse_lone_surrogate(f"R2 customMetadata name {name!r}", name)
        refuse_lone_surrogate(f"R2 customMetadata[{name!r}]", item)
    return dict(value)


def _digest_in(action: str, name: str, value: Any) -> bytes:
    if isinstance(value, str):
        try:
            return bytes.fromhex(value)
        except ValueError:
            raise TypeError(f"{action}(): {name} must be a hex string or bytes, got {value!r}") from None
    raw = as_bytes(value)
    if raw is None:
        raise TypeError(f"{action}(): {name} must be a hex string or bytes, got {type(value).__name__}")
    return raw


def _conditional_passes(record: dict[str, Any] | None, only_if: dict[str, Any]) -> bool:
    etag_matches = only_if.get("etagMatches")
    etag_not = only_if.get("etagDoesNotMatch")
    before = only_if.get("uploadedBefore")
    after = only_if.get("uploadedAfter")
    if record is None:
        return etag_matches is None and after is None
    etag = record["etag"]

    def matches(pattern: Any) -> bool:
        wanted = pattern if isinstance(pattern, (list, tuple)) else [pattern]
        return any(str(item).strip('"') in (etag, "*") for item in wanted)

    if_match = None if etag_matches is None else matches(etag_matches)
    if if_match is False:
        return False
    if_none = None if etag_not is None else not matches(etag_not)
    if if_none is False:
        return False
    uploaded = float(record["uploaded"])
    if if_match is not True and isinstance(before, datetime) and uploaded > _ms_from_datetime(before):
        return False
    if if_none is not True and isinstance(after, datetime) and uploaded < _ms_from_datetime(after):
        return False
    return True


def _only_if(action: str, value: Any) -> dict[str, Any] | None:
    if value is None:
        return None
    conditions = merge_options(
        f"{action}() onlyIf",
        value,
        {},
        ("etagMatches", "etagDoesNotMatch", "uploadedBefore", "uploadedAfter"),
    )
    for name, item in conditions.items():
        if item is None:
            continue
        if name.startswith("uploaded"):
            if not isinstance(item, datetime):
                raise TypeError(f"{action}(): onlyIf.{name} must be a datetime, got {item!r}")
        elif not (
            isinstance(item, str)
            or (isinstance(item, (list, tuple)) and all(isinstance(etag, str) for etag in item))
        ):
            raise TypeError(f"{action}(): onlyIf.{name} must be an etag (str) or a list of etags, got {item!r}")
    return conditions


def _sort_key(name: str) -> bytes:
    return name.encode("utf-8")


# Reach files relative to directory descriptors when the platform can (POSIX), so that a link
# swapped in between two steps is refused too; elsewhere check each path with lstat first.
_DIR_FD = (
    {os.open, os.unlink, os.rename} <= os.supports_dir_fd
    and os.scandir in os.supports_fd
    and hasattr(os, "O_NOFOLLOW")
    and hasattr(os, "O_DIRECTORY")
)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_BINARY = getattr(os, "O_BINARY", 0)
_OPEN_DIRECTORY = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | _NOFOLLOW | _CLOEXEC
# O_NONBLOCK: opening a FIFO planted in place of a body must not wait for a writer.
_OPEN_READ = os.O_RDONLY | _NOFOLLOW | getattr(os, "O_NONBLOCK", 0) | _CLOEXEC | _BINARY
_OPEN_NEW = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | _CLOEXEC | _BINARY


class _ObjectFiles:
    """The files in ``<directory>/objects``, reached without following any link on the way."""

    def __init__(self, binding: str, directory: Path) -> None:
        self.binding = binding
        self.directory = directory
        self.objects = directory / "objects"

    def _refused(self, path: Path, what: str) -> R2StorageError:
        return R2StorageError(
            f"R2 bucket {self.binding}: {path} {what}; cfwf-emulator uses only regular files and "
            "directories inside a store directory and never follows a link, so nothing was read, "
            f"written or deleted through it. Remove it: the bucket keeps its objects as regular "
            f"files directly in {self.objects}."
        )

    def _not_a_directory(self, path: Path, error: OSError | None = None) -> R2StorageError:
        if path.is_symlink() or (error is not None and error.errno == errno.ELOOP):
            return self._refused(path, "is a symbolic link")
        reason = f" ({error.strerror})" if error is not None else ""
        return self._refused(path, f"is not a directory the bucket can use{reason}")

    def create(self) -> None:
        """Make the bucket directory and ``objects`` if missing; refuse links in their place."""
        for path in (self.directory, self.objects):
            if path.is_symlink():
                raise self._not_a_directory(path)
            path.mkdir(parents=True, exist_ok=True)
        self.check()

    @contextmanager
    def _opened(self) -> Iterator[int | None]:
        """The ``objects`` directory, opened without following links (``None``: check paths)."""
        if not _DIR_FD:
            for path in (self.directory, self.objects):
                if path.is_symlink() or not path.is_dir():
                    raise self._not_a_directory(path)
            yield None
            return
        try:
            root = os.open(self.directory, _OPEN_DIRECTORY)
        except OSError as exc:
            raise self._not_a_directory(self.directory, exc) from None
        try:
            objects = os.open("objects", _OPEN_DIRECTORY, dir_fd=root)
        except OSError as exc:
            raise self._not_a_directory(self.objects, exc) from None
        finally:
            os.close(root)
        try:
            yield objects
        finally:
            os.close(objects)

    def check(self) -> None:
        """Refuse now if the bucket directory or ``objects`` is no longer a real directory."""
        with self._opened():
            pass

    def read(self, name: str) -> bytes:
        """The content of the regular file ``name``; a link or anything else is refused."""
        path = self.objects / name
        with self._opened() as directory:
            try:
                if directory is None:
                    if path.is_symlink():
                        raise OSError(errno.ELOOP, "symbolic link")
                    handle = os.open(path, _OPEN_READ)
                else:
                    handle = os.open(name, _OPEN_READ, dir_fd=directory)
            except OSError as exc:
                if exc.errno == errno.ELOOP or path.is_symlink():
                    raise self._refused(path, "is a symbolic link") from None
                raise R2StorageError(
                    f"R2 bucket {self.binding}: {path} cannot be read ({exc.strerror}); the bucket "
                    "directory was changed outside cfwf-emulator. Put the object again or delete it."
                ) from None
            with os.fdopen(handle, "rb") as stream:
                if not stat.S_ISREG(os.fstat(stream.fileno()).st_mode):
                    raise self._refused(path, "is not a regular file")
                return stream.read()

    def write(self, name: str, data: bytes) -> None:
        """Replace ``name`` with a new file holding ``data`` (a link there is replaced, not followed)."""
        temporary = f".tmp-{uuid.uuid4().hex}"
        with self._opened() as directory:
            if directory is None:
                handle = os.open(self.objects / temporary, _OPEN_NEW, 0o600)
            else:
                handle = os.open(temporary, _OPEN_NEW, 0o600, dir_fd=directory)
            try:
                with os.fdopen(handle, "wb") as stream:
                    stream.write(data)
                if directory is None:
                    os.replace(self.objects / temporary, self.objects / name)
                else:
                    os.replace(temporary, name, src_dir_fd=directory, dst_dir_fd=directory)
            except BaseException:
                self._unlink(directory, temporary)
                raise

    def _unlink(self, directory: int | None, name: str) -> None:
        try:
            if directory is None:
                os.unlink(self.objects / name)
            else:
                os.unlink(name, dir_fd=directory)
        except FileNotFoundError:
            pass

    def remove(self, *names: str) -> None:
        """Delete the files (a link is removed itself, never its target); missing ones are fine."""
        with self._opened() as directory:
            for name in names:
                self._unlink(directory, name)

    def records(self) -> Iterator[tuple[str, Any]]:
        """Each regular ``*.json`` file's name stem and parsed content (unreadable ones skipped)."""
        with self._opened() as directory:
            with os.scandir(self.objects if directory is None else directory) as entries:
                names = [
                    entry.name
                    for entry in entries
                    if entry.name.endswith(".json") and entry.is_file(follow_symlinks=False)
                ]
        for name in names:
            try:
                record = json.loads(self.read(name).decode("utf-8"))
            except (R2StorageError, ValueError):
                continue  # a link, or not ours: not an object of this bucket
            yield name[: -len(".json")], record


class R2Bucket:
    """One R2 bucket binding, stored under ``directory`` (created if missing).

    ``now_ms`` (optional) gives the time in epoch milliseconds for ``uploaded``; by default the
    wall clock.
    """

    def __init__(
        self,
        binding: str,
        directory: Path,
        *,
        now_ms: Callable[[], float] | None = None,
    ) -> None:
        self.binding = binding
        self.directory = Path(directory)
        self._files = _ObjectFiles(binding, self.directory)
        self._files.create()
        self._now_ms = now_ms if now_ms is not None else (lambda: time.time() * 1000.0)
        self._index: dict[str, dict[str, Any]] = {}
        for stem, record in self._files.records():
            if isinstance(record, dict) and isinstance(record.get("key"), str):
                if stem == self._name(record["key"]):
                    self._index[record["key"]] = record

    def __repr__(self) -> str:
        return f"<R2Bucket {self.binding!r} at {str(self.directory)!r}>"

    # -- files --------------------------------------------------------------------------------

    @staticmethod
    def _name(key: str) -> str:
        return hashlib.sha256(key.encode("utf-8")).hexdigest()

    def _files_of(self, key: str) -> tuple[str, str]:
        """The names of the body and metadata files of ``key`` in ``objects``."""
        name = self._name(key)
        return f"{name}.bin", f"{name}.json"

    # -- operations ---------------------------------------------------------------------------

    async def head(self, key: Any, /) -> R2Object | None:
        """The object's metadata, or ``None`` if there is no such key."""
        _validate_key("head", key)
        self._files.check()
        record = self._index.get(key)
        return None if record is None else R2Object(record)

    async def get(self, key: Any, options: Any = None, /, **kwargs: Any) -> R2Object | None:
        """The object with its body, or ``None``.

        Options: ``onlyIf`` (``etagMatches``, ``etagDoesNotMatch``, ``uploadedBefore``,
        ``uploadedAfter``; when it fails the result is an ``R2Object`` without body) and
        ``range`` (``{"offset", "length"}`` or ``{"suffix"}``).
        """
        opts = merge_options("get", options, kwargs, ("onlyIf", "range", "ssecKey"))
        _validate_key("get", key)
        if opts.get("ssecKey") is not None:
            raise NotImplementedError("cfwf-emulator does not emulate R2 SSE-C (ssecKey)")
        only_if = _only_if("get", opts.get("onlyIf"))
        self._files.check()
        record = self._index.get(key)
        if record is None:
            return None
        if only_if is not None and not _conditional_passes(record, only_if):
            return R2Object(record)
        data = self._files.read(self._files_of(key)[0])
        range_value = opts.get("range")
        if range_value is None:
            return R2ObjectBody(record, data)
        offset, length = self._range("get", range_value, len(data))
        return R2ObjectBody(
            record, data[offset : offset + length], range_=JsObject(offset=offset, length=length)
        )

    @staticmethod
    def _range(action: str, value: Any, size: int) -> tuple[int, int]:
        spec = merge_options(f"{action}() range", value, {}, ("offset", "length", "suffix"))
        for name, item in spec.items():
            if item is not None and (isinstance(item, bool) or not isinstance(item, int) or item < 0):
                raise TypeError(f"range.{name} must be a non-negative int, got {item!r}")
        suffix = spec.get("suffix")
        if suffix is not None:
            if "offset" in spec or "length" in spec:
                raise TypeError("range: give either suffix, or offset and/or length")
            length = min(suffix, size)
            return size - length, length
        offset = spec.get("offset") or 0
        if offset > size or (offset == size and size > 0):
            raise R2Error(action, "The requested range is not satisfiable", 10039)
        length = spec.get("length")
        available = size - offset
        return offset, available if length is None else min(length, available)

    async def put(self, key: Any, value: Any, options: Any = None, /, **kwargs: Any) -> R2Object | None:
        """Store ``value`` (str, bytes-like or ``None`` for empty) and return its ``R2Object``.

        Options: ``httpMetadata`` (``contentType``, ``contentLanguage``, ``contentDisposition``,
        ``contentEncoding``, ``cacheControl``, ``cacheExpiry``), ``customMetadata`` (str to str),
        one of ``md5``/``sha1``/``sha256``/``sha384``/``sha512`` (hex or bytes, verified),
        ``onlyIf`` (when it fails nothing is stored and the result is ``None``), ``storageClass``.
        """
        opts = merge_options(
            "put",
            options,
            kwargs,
            ("httpMetadata", "customMetadata", "onlyIf", "storageClass", "ssecKey", *_HASHES),
        )
        _validate_key("put", key)
        if opts.get("ssecKey") is not None:
            raise NotImplementedError("cfwf-emulator does not emulate R2 SSE-C (ssecKey)")
        if value is None:
            data = b""
        elif isinstance(value, str):
            refuse_lone_surrogate("R2 put(): the value", value)
            data = value.encode("utf-8")
        else:
            raw = as_bytes(value)
            if raw is None:
                raise TypeError(
                    "R2 put() accepts str, bytes, bytearray, memoryview or None as the value; got "
                    f"{type(value).__name__}. Store other values as text: json.dumps(value)."
                )
            data = raw
        http_metadata = _http_metadata_in("put", opts.get("httpMetadata"))
        custom_metadata = _custom_metadata_in(opts.get("customMetadata"))
        storage_class = opts.get("storageClass") or "Standard"
        if storage_class not in _STORAGE_CLASSES:
            raise TypeError(f"put(): storageClass must be one of {', '.join(_STORAGE_CLASSES)}")
        given = [name for name in _HASHES if opts.get(name) is not None]
        if len(given) > 1:
            raise TypeError("You cannot specify multiple hashing algorithms.")
        md5 = hashlib.md5(data).hexdigest()
        checksums = {"md5": md5}
        for name in given:
            provided = _digest_in("put", name, opts[name])
            actual = hashlib.new(name, data).digest()
            if provided != actual:
                raise R2Error(
                    "put",
                    f"The {_HASHES[name]} checksum you specified did not match what we received.\n"
                    f"You provided a {_HASHES[name]} checksum with value: {provided.hex()}\n"
                    f"Actual {_HASHES[name]} was: {actual.hex()}",
                    10037,
                )
            checksums[name] = actual.hex()
        metadata_size = sum(len(k.encode()) + len(v.encode()) for k, v in custom_metadata.items())
        metadata_size += sum(len(str(v).encode()) for v in http_metadata.values())
        if metadata_size > MAX_METADATA_BYTES:
            raise R2Error("put", "Your metadata headers exceed the maximum allowed metadata size.", 10012)
        if len(data) > MAX_VALUE_BYTES:
            raise R2Error("put", "Your proposed upload exceeds the maximum allowed object size.", 100100)
        only_if = _only_if("put", opts.get("onlyIf"))
        if only_if is not None and not _conditional_passes(self._index.get(key), only_if):
            return None
        record: dict[str, Any] = {
            "key": key,
            "version": uuid.uuid4().hex,
            "size": len(data),
            "etag": md5,
            "uploaded": float(int(self._now_ms())),
            "httpMetadata": http_metadata,
            "customMetadata": custom_metadata,
            "checksums": checksums,
            "storageClass": storage_class,
        }
        body, sidecar = self._files_of(key)
        self._files.write(body, data)
        self._files.write(sidecar, json.dumps(record, ensure_ascii=False).encode("utf-8"))
        self._index[key] = record
        return R2Object(record)

    async def delete(self, keys: Any, /) -> None:
        """Delete one key or a list of up to 1000 keys; missing keys are not an error."""
        names = list(keys) if isinstance(keys, (list, tuple)) else [keys]
        if len(names) > MAX_DELETE_KEYS:
            raise R2Error("delete", f"You can delete at most {MAX_DELETE_KEYS} keys at once.", 10029)
        for name in names:
            _validate_key("delete", name)
        self._files.check()
        for name in names:
            if self._index.pop(name, None) is not None:
                self._files.remove(*self._files_of(name))

    async def list(self, options: Any = None, /, **kwargs: Any) -> JsObject:
        """Objects in key order: ``list(prefix=None, limit=1000, cursor=None, delimiter=None, include=None)``.

        Also ``startAfter``. Returns ``{"objects": [R2Object], "truncated", "cursor"? (only when
        truncated), "delimitedPrefixes": [...]}``; each delimited prefix counts toward
        ``limit``. ``include`` (``["httpMetadata", "customMetadata"]``) says which metadata the
        objects carry; left out, those attributes are ``None``.
        """
        opts = merge_options(
            "list", options, kwargs, ("prefix", "limit", "cursor", "delimiter", "startAfter", "include")
        )
        limit = opts.get("limit")
        if limit is None:
            limit = MAX_LIST_LIMIT
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIST_LIMIT:
            raise R2Error("list", "MaxKeys params must be positive integer <= 1000.", 10022)
        prefix = opts.get("prefix") or ""
        delimiter = opts.get("delimiter") or None
        for name in ("prefix", "delimiter", "startAfter", "cursor"):
            item = opts.get(name)
            if item is not None and not isinstance(item, str):
                raise TypeError(f"list(): {name} must be a str, got {type(item).__name__}")
            if item is not None:
                refuse_lone_surrogate(f"R2 list(): {name}", item)
        include_raw = opts.get("include") or ()
        if isinstance(include_raw, str) or not isinstance(include_raw, (list, tuple)):
            raise TypeError('list(): include must be a list such as ["httpMetadata", "customMetadata"]')
        for item in include_raw:
            if item not in _INCLUDE:
                raise TypeError(f'list(): unknown include value {item!r}; allowed: "httpMetadata", "customMetadata"')
        include = tuple(include_raw)
        self._files.check()
        floor: bytes | None = None
        start_after = opts.get("startAfter")
        if start_after:
            floor = _sort_key(start_after)
        cursor = opts.get("cursor")
        if cursor:
            after = _decode_cursor(cursor)
            floor = after if floor is None or after > floor else floor
        names = sorted((name for name in self._index if name.startswith(prefix)), key=_sort_key)
        if floor is not None:
            names = [name for name in names if _sort_key(name) > floor]
        objects = JsArray()
        prefixes = JsArray()
        consumed = 0
        last = ""
        while consumed < len(names) and len(objects) + len(prefixes) < limit:
            name = names[consumed]
            rest = name[len(prefix) :]
            cut = rest.find(delimiter) if delimiter else -1
            if cut >= 0:
                group = prefix + rest[: cut + len(delimiter or "")]
                prefixes.append(group)
                while consumed < len(names) and names[consumed].startswith(group):
                    last = names[consumed]
                    consumed += 1
            else:
                objects.append(R2Object(self._index[name], include=include))
                last = name
                consumed += 1
        result = JsObject(objects=objects, truncated=consumed < len(names))
        if consumed < len(names):
            result["cursor"] = _encode_cursor(_sort_key(last))
        result["delimitedPrefixes"] = prefixes
        return result

    async def createMultipartUpload(self, *args: Any, **kwargs: Any) -> Any:  # noqa: N802
        """Not emulated: raises ``NotImplementedError``."""
        raise NotImplementedError("cfwf-emulator does not emulate R2 multipart uploads; use put()")

    async def resumeMultipartUpload(self, *args: Any, **kwargs: Any) -> Any:  # noqa: N802
        """Not emulated: raises ``NotImplementedError``."""
        raise NotImplementedError("cfwf-emulator does not emulate R2 multipart uploads; use put()")


def _encode_cursor(after: bytes) -> str:
    return base64.urlsafe_b64encode(b"r21:" + after).decode("ascii").rstrip("=")


def _decode_cursor(cursor: str) -> bytes:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
    except (binascii.Error, ValueError):
        raw = b""
    if not raw.startswith(b"r21:"):
        raise R2Error("list", "The provided cursor is not valid; pass back the cursor list() returned.", 10029)
    return raw[4:]
