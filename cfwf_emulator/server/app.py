"""The dev server's ASGI application: the guard, the Local Explorer API and the Worker's fetch."""

from __future__ import annotations

import json
import sys
from importlib import resources
from typing import Any, Callable

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.types import Receive, Scope, Send

from ..emulator import Emulator
from .envelope import UNCAUGHT, ApiError, cors, failure, not_routed, preflight
from .explorer import Explorer
from .extensions import Extensions
from .guard import LOOPBACK_HOSTS, check_host
from .project_info import ProjectInfo
from .ui import Dashboard
from .worker import WorkerBridge

__all__ = ["API_ROOT", "DevServerApp", "create_app", "openapi_document"]

#: Where the Local Explorer API is served.
API_ROOT = "/cdn-cgi/local/explorer/api"


def openapi_document() -> dict[str, Any]:
    """The OpenAPI 3.0.3 document of the API this server serves (the workflows part of Cloudflare's)."""
    text = resources.files(__package__).joinpath("openapi.json").read_text(encoding="utf-8")
    document: dict[str, Any] = json.loads(text)
    return document


def _log(line: str) -> None:
    print(f"[cfwf] {line}", flush=True)


class DevServerApp:
    """ASGI app: ``/cdn-cgi/*`` is guarded; the API under :data:`API_ROOT`; the rest goes to the Worker."""

    def __init__(
        self, emu: Emulator, info: ProjectInfo, *, allowed_hosts: frozenset[str], log: Callable[[str], None] = _log
    ) -> None:
        self.explorer = Explorer(emu, info)
        self.extensions = Extensions(emu)
        self.dashboard = Dashboard()
        self.worker = WorkerBridge(emu, log)
        self.allowed_hosts = allowed_hosts
        self.openapi = openapi_document()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        request = Request(scope, receive)
        response = await self.answer(request)
        await response(scope, receive, send)

    async def answer(self, request: Request) -> Response:
        """The response to ``request``."""
        # the decoded path as the server received it: ``request.url`` goes through a URL parser,
        # which drops tabs and line breaks (an instance id "\r" would become the listing's path)
        path: str = request.scope["path"]
        if not path.startswith("/cdn-cgi/"):
            return await self.worker(request)
        refused = check_host(request, self.allowed_hosts)
        if refused is not None:
            return PlainTextResponse(refused, status_code=403)
        if path == API_ROOT or path.startswith(API_ROOT + "/"):
            return cors(request, await self.api(request, path[len(API_ROOT):]))
        if self.dashboard.handles(path):
            return self.dashboard(request)
        return not_routed()

    async def api(self, request: Request, path: str) -> Response:
        """An API request; ``path`` is relative to :data:`API_ROOT`."""
        if request.method == "OPTIONS":
            return preflight(request)
        if path in ("", "/"):
            return JSONResponse(self.openapi) if request.method == "GET" else not_routed()
        routed = self.explorer.route(request.method, path.rstrip("/") or "/")
        routed = routed or self.extensions.route(request.method, path.rstrip("/"))
        if routed is None:
            return not_routed()
        handler, params = routed
        try:
            return await handler(request, params)
        except ApiError as exc:
            return failure(exc)
        except Exception as exc:  # a bug of ours: answer with the envelope, and say it on the console
            print(f"[cfwf] {request.method} {request.url.path} failed: {exc!r}", file=sys.stderr, flush=True)
            return failure(ApiError(500, UNCAUGHT, f"{type(exc).__name__}: {exc}"))


async def create_app(emu: Emulator, *, host: str = "127.0.0.1", log: Callable[[str], None] = _log) -> DevServerApp:
    """The ASGI app serving ``emu`` (started here if it is not); ``host`` is the address it is bound to."""
    info = await ProjectInfo.of(emu)
    allowed = LOOPBACK_HOSTS
    if host not in ("0.0.0.0", "::", ""):
        allowed = allowed | {host.lower(), f"[{host.lower()}]"}
    return DevServerApp(emu, info, allowed_hosts=allowed, log=log)
