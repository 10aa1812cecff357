"""``WorkflowEntrypoint``: the base class users subclass, with ``self.env`` and ``self.ctx``."""

from __future__ import annotations

import asyncio
from typing import Any, Awaitable

__all__ = ["ExecutionContext", "WorkflowEntrypoint"]


class ExecutionContext:
    """The ``ctx`` a Worker or Workflow gets: ``wait_until`` keeps a background task alive."""

    def __init__(self) -> None:
        self._pending: set[asyncio.Future[Any]] = set()

    def wait_until(self, awaitable: Awaitable[Any]) -> None:
        """Run ``awaitable`` in the background (``ctx.waitUntil`` on Cloudflare)."""
        future = asyncio.ensure_future(awaitable)
        self._pending.add(future)
        future.add_done_callback(self._pending.discard)

    waitUntil = wait_until


class WorkflowEntrypoint:
    """Subclass this and define ``async def run(self, event, step)``.

    ``self.env`` holds the bindings (other workflows, vars); ``self.ctx`` is the execution
    context. The value ``run`` returns becomes the instance's output.
    """

    ctx: ExecutionContext
    env: Any

    def __init__(self, ctx: ExecutionContext, env: Any) -> None:
        self.ctx = ctx
        self.env = env

    async def run(self, event: Any, step: Any) -> Any:
        """The workflow body; subclasses must override it."""
        raise NotImplementedError(
            f"{type(self).__name__} must define `async def run(self, event, step)`"
        )
