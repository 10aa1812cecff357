"""Cron triggers: a workflow's ``schedules`` and the Worker's ``triggers.crons``.

A workflow schedule firing at ``T`` (epoch ms) creates the instance ``<cron>-<T>`` with no params
and ``event["schedule"] = {"cron", "scheduledTime": T}``; a repeated firing of the same cron at
the same time finds that id taken and creates nothing. A trigger cron runs the Worker's
``scheduled(controller, env, ctx)`` handler with ``controller.cron`` and
``controller.scheduledTime``.

With :meth:`CronTable.start` the table arms a *weak* timer per cron on the scheduler (see
:meth:`~cfwf_emulator.engine.scheduler.Scheduler.call_at`): a firing never counts as pending
work, so ``run_until_idle`` returns, but advancing the clock past it fires it, in order.
"""

from __future__ import annotations

import asyncio
import inspect
import warnings
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Callable

from ..authoring.entrypoint import ExecutionContext
from ..cron import CronExpression, parse_cron
from ..errors import ConfigError
from ..validation import check_crons
from ..workers import CURRENT_ENV
from .core import Engine
from .scheduler import Scheduler, Timer

__all__ = ["CronTable", "ScheduledController"]


@dataclass
class ScheduledController:
    """The ``controller`` a ``scheduled()`` handler gets: ``cron``, ``scheduledTime`` (epoch ms), ``type``."""

    cron: str
    scheduledTime: int  # noqa: N815 - Cloudflare's name
    type: str = "scheduled"
    retry: bool = field(default=True, repr=False)

    def no_retry(self) -> None:
        """Ask not to retry this run if it fails (the emulator never retries a handler)."""
        self.retry = False

    noRetry = no_retry


@dataclass
class _Entry:
    expression: CronExpression
    workflow: str | None  # None: the Worker's scheduled() handler


class CronTable:
    """The crons of one emulator, fired on its clock (:meth:`start`) or on demand (:meth:`fire`)."""

    def __init__(self, engine: Engine, scheduler: Scheduler, env: Any) -> None:
        self._engine = engine
        self._scheduler = scheduler
        self._env = env
        self._entries: list[_Entry] = []
        self._handler: Any = None
        self._timers: list[Timer] = []
        self._tasks: set[asyncio.Task[None]] = set()

    def add_workflow(self, workflow: str, crons: "str | list[str] | tuple[str, ...]") -> None:
        """Create an instance of ``workflow`` at each fire time of ``crons``."""
        parsed = check_crons(crons, f"Workflow {workflow!r} schedules")
        self._entries += [_Entry(expression, workflow) for expression in parsed]

    def set_handler(self, handler: Any, crons: "str | list[str] | tuple[str, ...]" = ()) -> None:
        """Run ``handler`` (a ``WorkerEntrypoint`` subclass with ``scheduled``, or an
        ``on_scheduled(controller, env, ctx)`` function) at each fire time of ``crons``."""
        if isinstance(handler, type):
            if not callable(getattr(handler, "scheduled", None)):
                raise ConfigError(f"Worker {handler.__name__} has no scheduled(self, controller, env, ctx) method")
        elif not callable(handler):
            raise ConfigError(f"a scheduled handler must be a WorkerEntrypoint subclass or a function, got {handler!r}")
        parsed = check_crons(crons, "triggers.crons") if crons else []
        self._handler = handler
        self._entries = [e for e in self._entries if e.workflow is not None] + [_Entry(p, None) for p in parsed]

    # -- on the clock ------------------------------------------------------------------------

    def start(self) -> None:
        """Arm every cron's next firing after now on the scheduler."""
        self.stop()
        now = self._engine.now()
        for entry in self._entries:
            self._arm(entry, now)

    def stop(self) -> None:
        """Disarm every cron (a handler run in progress finishes)."""
        for timer in self._timers:
            timer.cancel()
        self._timers = []

    def _arm(self, entry: _Entry, after: float) -> None:
        deadline = entry.expression.next_after(after)

        def fire() -> None:
            self._timers.remove(timer)
            self._fire_one(entry, int(deadline))
            self._arm(entry, deadline)

        timer = self._scheduler.call_at(deadline, fire, weak=True)
        self._timers.append(timer)

    def _fire_one(self, entry: _Entry, scheduled_ms: int) -> str | None:
        if entry.workflow is not None:
            return self._engine.create_scheduled(entry.workflow, entry.expression.text, scheduled_ms)
        task = asyncio.get_running_loop().create_task(self._run_handler(entry.expression.text, scheduled_ms))
        self._tasks.add(task)
        task.add_done_callback(partial(self._handler_done, entry.expression.text, scheduled_ms))
        return None

    def _handler_done(self, cron: str, scheduled_ms: int, task: "asyncio.Task[None]") -> None:
        """A clock-fired handler run ended: one that raised is reported, as Cloudflare logs it."""
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            error = task.exception()
            warnings.warn(
                f"the scheduled() handler raised for cron {cron!r} at {scheduled_ms}: "
                f"{type(error).__name__}: {error}",
                RuntimeWarning,
                stacklevel=1,
            )

    # -- on demand ---------------------------------------------------------------------------

    async def fire(self, cron: str | None, scheduled_ms: int) -> list[tuple[str, str]]:
        """Fire ``cron`` (None: every cron) as if scheduled at ``scheduled_ms``; the instances the
        workflow schedules created, as ``(workflow, id)``. The Worker's handler is awaited: what
        it raises is raised here. A cron no schedule names still runs the handler, as wrangler's
        ``/__scheduled?cron=`` does; with no handler either it is a ``ConfigError``."""
        if cron is not None:
            parse_cron(cron)  # a ValueError saying what is wrong
        entries = [e for e in self._entries if cron is None or e.expression.text == cron]
        if cron is not None and self._handler is not None and not any(e.workflow is None for e in entries):
            entries.append(_Entry(parse_cron(cron), None))
        if not entries and cron is None:
            raise ConfigError(
                "nothing to fire: no workflow has schedules and there are no triggers.crons; add some, or "
                "pass cron=... to run the Worker's scheduled() handler"
            )
        if not entries:
            known = ", ".join(sorted({repr(e.expression.text) for e in self._entries})) or "none"
            raise ConfigError(
                f"no schedule fires on cron {cron!r} and there is no scheduled() handler; configured crons: {known}"
            )
        created: list[tuple[str, str]] = []
        for entry in entries:
            if entry.workflow is None:
                await self._run_handler(entry.expression.text, scheduled_ms)
                continue
            made = self._engine.create_scheduled(entry.workflow, entry.expression.text, scheduled_ms)
            if made is not None:
                created.append((entry.workflow, made))
        return created

    async def _run_handler(self, cron: str, scheduled_ms: int) -> None:
        controller = ScheduledController(cron, scheduled_ms)
        ctx = ExecutionContext()
        token = CURRENT_ENV.set(self._env)
        self._scheduler.enter_busy()  # virtual time waits for the handler
        try:
            handler: Callable[..., Any] = self._handler
            if isinstance(handler, type):
                result = handler(ctx, self._env).scheduled(controller, self._env, ctx)
            else:
                result = handler(controller, self._env, ctx)
            if inspect.isawaitable(result):
                await result
        finally:
            self._scheduler.leave_busy()
            CURRENT_ENV.reset(token)
