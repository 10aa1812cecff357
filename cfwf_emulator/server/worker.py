"""Ordinary paths: the request goes to the project's Worker ``fetch`` (``emu.fetch``), one log line each."""

from __future__ import annotations

import sys
import time
import traceback
from typing import Callable

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from ..emulator import Emulator
from ..errors import ConfigError
from ..workers.http import Request as WorkerRequest
from .envelope import ApiError
from .guard import read_body

__all__ = ["MAX_WORKER_BODY", "WorkerBridge"]

#: The largest request body passed to the Worker: 100 MiB (Cloudflare's Free and Pro plans' limit).
MAX_WORKER_BODY = 100 * 1024 * 1024


class WorkerBridge:
    """Calls the Worker's fetch for a Starlette request and answers with what it returned."""

    def __init__(self, emu: Emulator, log: Callable[[str], None]) -> None:
        self.emu = emu
        self.log = log

    async def __call__(self, request: Request) -> Response:
        """The Worker's answer to ``request`` (``500`` with the error when the handler fails)."""
        began = time.perf_counter()
        response = await self._answer(request)
        elapsed = (time.perf_counter() - began) * 1000
        path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        self.log(f"{request.method} {path} {response.status_code} ({elapsed:.0f}ms)")
        return response

    async def _answer(self, request: Request) -> Response:
        try:
            body = await read_body(request, MAX_WORKER_BODY)
        except ApiError as exc:
            return PlainTextResponse(exc.message, status_code=exc.status)
        headers = [(name, value) for name, value in request.headers.items()]
        forwarded = WorkerRequest(str(request.url), method=request.method, headers=headers, body=body)
        try:
            answer = await self.emu.fetch(forwarded)
        except ConfigError as exc:
            return PlainTextResponse(f"{exc}\n", status_code=500)
        except Exception:  # the user's handler failed: show it as wrangler dev does
            text = traceback.format_exc()
            print(text, file=sys.stderr, flush=True)
            return PlainTextResponse(f"Worker threw an exception:\n{text}", status_code=500)
        return Response(answer.body, status_code=answer.status, headers=dict(answer.headers.items()))
