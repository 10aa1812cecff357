"""A stand-in for Cloudflare's ``workers`` package, so unmodified Worker code imports here.

``from workers import WorkflowEntrypoint, WorkerEntrypoint, Response, Request`` and
``from workers.workflows import NonRetryableError`` resolve to these classes once
:func:`install` has run (``Emulator.from_config`` and the pytest plugin call it), but only when no
real ``workers`` package is importable.
"""

from __future__ import annotations

import importlib.util
import sys
from typing import Any

from ..authoring.entrypoint import ExecutionContext, WorkflowEntrypoint
from ..errors import NonRetryableError
from .http import Headers, Request, Response

__all__ = [
    "ExecutionContext",
    "Headers",
    "NonRetryableError",
    "Request",
    "Response",
    "WorkerEntrypoint",
    "WorkflowEntrypoint",
    "install",
]


class WorkerEntrypoint:
    """Subclass this and define ``async def fetch(self, request)``; ``self.env``, ``self.ctx`` are set."""

    ctx: ExecutionContext
    env: Any

    def __init__(self, ctx: ExecutionContext, env: Any) -> None:
        self.ctx = ctx
        self.env = env


def install() -> bool:
    """Make ``import workers`` give this package unless a real one is importable; True if installed."""
    current = sys.modules.get("workers")
    if current is not None:
        return current is sys.modules[__name__]
    if importlib.util.find_spec("workers") is not None:
        return False
    from . import workflows

    sys.modules["workers"] = sys.modules[__name__]
    sys.modules["workers.workflows"] = workflows
    return True
