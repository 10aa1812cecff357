"""What every ``/cdn-cgi/`` request passes first: the Host/Origin guard and the body limits.

The guard is miniflare's: a ``Host`` whose host name is not loopback is refused (a DNS-rebinding
page cannot reach the API under its own name), and so is an ``Origin`` that is not (a cross-site
page cannot drive the API from a visitor's browser). Bodies are read up to :data:`MAX_BODY`
bytes and JSON up to :data:`MAX_DEPTH` levels, so a request cannot exhaust memory or the stack.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

from starlette.requests import Request

from .envelope import INVALID, ApiError

__all__ = ["LOOPBACK_HOSTS", "MAX_BODY", "MAX_DEPTH", "check_host", "json_depth", "parse_json", "read_body"]

#: Host names the API answers to (besides the address the server is bound to, when not a wildcard).
LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "[::1]", "::1"})
#: The largest request body the API reads: 16 MiB.
MAX_BODY = 16 * 1024 * 1024
#: The deepest JSON the API accepts (objects and arrays nested in one another).
MAX_DEPTH = 128


def _host_name(host: str) -> str:
    """The host name of a ``Host`` header value (``[::1]:8787`` -> ``[::1]``)."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[: host.find("]") + 1] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def check_host(request: Request, allowed: frozenset[str]) -> str | None:
    """None when the request may pass; else the text of the ``403`` answer."""
    if _host_name(request.headers.get("host", "")) not in allowed:
        return "Invalid Host header"
    origin = request.headers.get("origin")
    if origin is not None:
        try:
            parts = urlsplit(origin)
            name = parts.hostname
        except ValueError:
            return "Invalid Origin header"
        if parts.scheme not in ("http", "https") or name is None:
            return "Invalid Origin header"
        if name not in allowed and f"[{name}]" not in allowed:
            return "Invalid Origin header"
    return None


async def read_body(request: Request, limit: int = MAX_BODY) -> bytes:
    """The request body, refusing (``413``) one larger than ``limit`` before reading it all."""
    declared = request.headers.get("content-length")
    too_big = ApiError(
        413, INVALID, f"Request body too large: the limit is {limit} bytes ({limit // (1024 * 1024)} MiB); send less"
    )
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise too_big
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_big
        chunks.append(chunk)
    return b"".join(chunks)


def json_depth(value: Any) -> int:
    """How deeply objects and arrays nest in ``value`` (0 for a scalar), without recursion."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is None:
            continue
        deepest = max(deepest, depth)
        stack.extend((child, depth + 1) for child in children)
    return deepest


def parse_json(body: bytes) -> Any:
    """``body`` parsed as JSON; ``400`` for malformed JSON or JSON nested deeper than :data:`MAX_DEPTH`."""
    too_deep = ApiError(
        400, INVALID, f"JSON request body nested too deeply: the limit is {MAX_DEPTH} levels of objects and arrays"
    )
    try:
        value = json.loads(body)
    except RecursionError:
        raise too_deep from None
    except ValueError:
        raise ApiError(400, INVALID, "Invalid JSON request body") from None
    if json_depth(value) > MAX_DEPTH:
        raise too_deep
    return value
