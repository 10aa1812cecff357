"""A stand-in for Cloudflare's ``workers`` package, so unmodified Worker code imports here.

``from workers import WorkflowEntrypoint, WorkerEntrypoint, Response, Request`` and
``from workers.workflows import NonRetryableError`` resolve to these classes once
:func:`cfwf_emulator.runtime.install` has run (``Emulator.from_config`` and the pytest plugin call it), outside Pyodide
even when Cloudflare's real SDK (``workers-runtime-sdk``) is installed, since it can only run
inside Pyodide. Names of the real SDK that are not emulated raise
:class:`~cfwf_emulator.runtime.NotEmulatedError` naming them.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any

from ..authoring.entrypoint import ExecutionContext, WorkflowEntrypoint
from ..errors import NonRetryableError, not_emulated
from . import workflows  # noqa: F401 - loaded with the package: `workers.workflows` must never reach __getattr__
from .http import Headers, Request, Response

#: The env of the emulator whose code is running (set around runs and fetches).
CURRENT_ENV: ContextVar[Any] = ContextVar("cfwf_current_env", default=None)

__all__ = [
    "CURRENT_ENV",
    "DurableObject",
    "ExecutionContext",
    "Headers",
    "NonRetryableError",
    "Request",
    "Response",
    "WorkerEntrypoint",
    "WorkflowEntrypoint",
    "env",
    "handler",
]


class WorkerEntrypoint:
    """Subclass this and define ``async def fetch(self, request)``; ``self.env``, ``self.ctx`` are set."""

    ctx: ExecutionContext
    env: Any

    def __init__(self, ctx: ExecutionContext, env: Any) -> None:
        self.ctx = ctx
        self.env = env


class DurableObject:
    """Base class of Durable Objects, so modules defining them import; the emulator does not run them."""

    ctx: Any
    env: Any

    def __init__(self, ctx: Any, env: Any) -> None:
        self.ctx = ctx
        self.env = env


class _CurrentEnv:
    """``from workers import env``: the bindings of the emulator running the current code."""

    def __getattr__(self, name: str) -> Any:
        return getattr(self._env(), name)

    def __getitem__(self, name: str) -> Any:
        return self._env()[name]

    def __repr__(self) -> str:
        current = CURRENT_ENV.get()
        return f"<workers.env {current!r}>"

    @staticmethod
    def _env() -> Any:
        current = CURRENT_ENV.get()
        if current is None:
            raise RuntimeError(
                "workers.env is only available while a workflow step, run() or a fetch handler runs "
                "under the emulator; use self.env in your classes"
            )
        return current


env = _CurrentEnv()


def handler(func: Any) -> Any:
    """``@handler`` on a legacy ``on_fetch``: the SDK converts JavaScript arguments; here they are Python already."""
    return func


def __getattr__(name: str) -> Any:
    not_emulated("workers", name, [n for n in __all__ if n != "CURRENT_ENV"])
