"""Minimal ``Request`` / ``Response`` with the call shapes of Cloudflare's Python Workers SDK."""

from __future__ import annotations

import builtins
import json as _json
from typing import Any, Iterator, Mapping
from urllib.parse import urlsplit

__all__ = ["Headers", "Request", "Response"]

HeadersInit = "Mapping[str, str] | Iterable[tuple[str, str]] | Headers | None"


class Headers:
    """Case-insensitive HTTP headers (``headers["Content-Type"]``, ``headers.get(...)``)."""

    def __init__(self, init: Any = None) -> None:
        self._items: dict[str, tuple[str, str]] = {}
        if init is None:
            return
        pairs = init.items() if isinstance(init, (Mapping, Headers)) else init
        for name, value in pairs:
            self.set(str(name), str(value))

    def set(self, name: str, value: str) -> None:
        """Replace the header ``name``."""
        self._items[name.lower()] = (name, str(value))

    def get(self, name: str, default: str | None = None) -> str | None:
        """The header's value, or ``default``."""
        item = self._items.get(name.lower())
        return default if item is None else item[1]

    def has(self, name: str) -> bool:
        """Whether the header is present."""
        return name.lower() in self._items

    def items(self) -> list[tuple[str, str]]:
        """``(name, value)`` pairs, names as first given."""
        return list(self._items.values())

    def __getitem__(self, name: str) -> str:
        item = self._items.get(name.lower())
        if item is None:
            raise KeyError(name)
        return item[1]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._items

    def __iter__(self) -> Iterator[str]:
        return (name for name, _ in self._items.values())

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return f"Headers({dict(self.items())!r})"


def _to_bytes(body: Any) -> bytes:
    if body is None:
        return b""
    if isinstance(body, bytes):
        return body
    if isinstance(body, (bytearray, memoryview)):
        return bytes(body)
    if isinstance(body, str):
        return body.encode()
    raise TypeError(
        f"a body must be str or bytes, got {type(body).__name__}; use Response.json(...) for data"
    )


class _Body:
    _body: bytes

    async def text(self) -> str:
        """The body decoded as UTF-8."""
        return self._body.decode()

    async def json(self) -> Any:
        """The body parsed as JSON."""
        return _json.loads(self._body.decode() or "null")

    async def bytes(self) -> builtins.bytes:
        """The raw body."""
        return self._body

    async def arrayBuffer(self) -> builtins.bytes:  # noqa: N802 - the JavaScript name
        """The raw body (JavaScript name)."""
        return self._body


def _json_response(cls: Any, data: Any, status: int = 200, headers: Any = None) -> "Response":
    """``Response.json(data, status=200, headers=None)``: a JSON response."""
    response: Response = cls(_json.dumps(data, default=_json_default), status=status, headers=headers)
    response.headers.set("Content-Type", "application/json")
    return response


class _ClassOrInstance:
    """``Response.json(data)`` builds a response; ``await response.json()`` reads one."""

    def __init__(self, on_class: Any, on_instance: Any) -> None:
        self.on_class = on_class
        self.on_instance = on_instance

    def __get__(self, instance: Any, owner: Any) -> Any:
        if instance is None:
            return self.on_class.__get__(owner, type(owner))
        return self.on_instance.__get__(instance, owner)


class Request(_Body):
    """An incoming HTTP request: ``url``, ``method``, ``headers``, ``await json()/text()``."""

    def __init__(self, url: str, method: str = "GET", headers: Any = None, body: Any = None) -> None:
        parts = urlsplit(url)
        if not parts.scheme:
            url = "http://localhost" + (url if url.startswith("/") else "/" + url)
        self.url = url
        self.method = method.upper()
        self.headers = Headers(headers)
        self._body = _to_bytes(body)

    def __repr__(self) -> str:
        return f"<Request {self.method} {self.url}>"


class Response(_Body):
    """An HTTP response: ``Response(body, status=200, headers=None)`` or ``Response.json(data)``."""

    def __init__(self, body: Any = None, status: int = 200, headers: Any = None, *, statusText: str = "") -> None:  # noqa: N803
        if isinstance(status, bool) or not isinstance(status, int) or not 200 <= status <= 599:
            raise ValueError(f"Response status must be an int from 200 to 599, got {status!r}")
        self.status = status
        self.status_text = statusText
        self.headers = Headers(headers)
        self._body = _to_bytes(body)
        if isinstance(body, str) and not self.headers.has("content-type"):
            self.headers.set("Content-Type", "text/plain;charset=UTF-8")

    @property
    def ok(self) -> bool:
        """Whether the status is 2xx."""
        return 200 <= self.status < 300

    @property
    def body(self) -> bytes:
        """The raw body."""
        return self._body

    json = _ClassOrInstance(_json_response, _Body.json)

    @classmethod
    def redirect(cls, url: str, status: int = 302) -> "Response":
        """A redirect to ``url``."""
        if status not in (301, 302, 303, 307, 308):
            raise ValueError(f"redirect status must be 301, 302, 303, 307 or 308, got {status}")
        return cls(None, status=status, headers={"Location": url})

    def __repr__(self) -> str:
        return f"<Response {self.status}>"


def _json_default(value: Any) -> Any:
    if hasattr(value, "isoformat"):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")
