"""Support for the dev server's tests: a small Python Workers project and an in-process server.

The server runs on the test's own event loop (uvicorn, a free loopback port) over an emulator
whose virtual clock moves only when a test advances it, so instances wait where a test wants them.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any, AsyncIterator, Callable

import httpx
import pytest

from cfwf_emulator import Emulator, VirtualClock
from cfwf_emulator.server import API_ROOT, serving

from dev_project import START_MS, write_project  # noqa: E402  (this directory is on sys.path)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """The demo project's directory."""
    return write_project(tmp_path / "project")


@pytest.fixture
def emulator(project: Path) -> Emulator:
    """The demo project's emulator, in memory, on a virtual clock that moves only when told."""
    return Emulator.from_config(project, clock=VirtualClock(START_MS, autojump=False))


class Api:
    """An HTTP client of a running dev server, with the API root as base for ``api_*`` calls."""

    def __init__(self, client: httpx.AsyncClient, url: str) -> None:
        self.client = client
        self.url = url

    async def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """``method`` on ``API_ROOT + path``."""
        return await self.client.request(method, self.url + API_ROOT + path, **kwargs)

    async def ok(self, method: str, path: str, **kwargs: Any) -> Any:
        """The ``result`` of a successful call (asserting the success envelope)."""
        response = await self.request(method, path, **kwargs)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["success"] is True and body["errors"] == [] and body["messages"] == []
        return body["result"]

    async def fails(self, method: str, path: str, status: int, code: int, message: str, **kwargs: Any) -> None:
        """Assert the call fails with exactly this status, code and message, in the failure envelope."""
        response = await self.request(method, path, **kwargs)
        assert response.status_code == status, response.text
        assert response.headers["content-type"].startswith("application/json")
        assert response.json() == {
            "success": False, "errors": [{"code": code, "message": message}], "messages": [], "result": None
        }


@pytest.fixture
def served() -> Callable[[Emulator], contextlib.AbstractAsyncContextManager[Api]]:
    """``async with served(emu) as api``: ``emu`` started and served on a free loopback port."""

    @contextlib.asynccontextmanager
    async def serve(emu: Emulator) -> AsyncIterator[Api]:
        async with emu:
            async with serving(emu, ip="127.0.0.1", port=0) as (url, _):
                async with httpx.AsyncClient(timeout=30) as client:
                    yield Api(client, url)

    return serve
