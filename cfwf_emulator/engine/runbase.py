"""A run's shared machinery: its state, journal writes, parking on timers, pause gates and step
boundaries. :mod:`.waits` (sleeps, event waits), :mod:`.retries` (failed attempts) and :mod:`.run`
(``step.do`` and the instance task) build on :class:`RunBase`.
"""

from __future__ import annotations

import asyncio
import dis
import functools
import types
import weakref
from typing import Any, Awaitable, Callable, Concatenate, Coroutine, Generator, NoReturn, ParamSpec, TypeVar, cast

from ..errors import WorkflowTimeoutError
from ..hooks import StepContext
from ..store.base import KEEPS_RECORDS, SharedCommit, group_commit
from ..store.sqlite import StoreError
from .host import RunHost
from .instance import LiveInstance
from .records import StepRecord

__all__ = ["ENGINE_SIGNALS", "PROCESS_EXITS", "InstanceAbort", "RunBase", "RunClosed", "StorageAbort", "journaled_step", "may_suspend", "run_to_end"]


class InstanceAbort(BaseException):
    """Ends the whole instance as errored with ``error``; user code cannot catch it."""

    def __init__(self, error: dict[str, Any]) -> None:
        super().__init__(error["message"])
        self.error = error


class StorageAbort(BaseException):
    """A journal write failed: the run stops (user code cannot catch it); disk keeps the last good state."""

    def __init__(self, error: StoreError) -> None:
        super().__init__(str(error))
        self.error = error


class RunClosed(BaseException):
    """A step was called by a task left over from a run that has already ended."""


#: Ctrl-C and ``sys.exit()``: raised by user code, they stop the process, never fail an attempt.
PROCESS_EXITS = (KeyboardInterrupt, SystemExit)
#: The engine's own signals passing through user code: never an attempt failure either.
ENGINE_SIGNALS = (InstanceAbort, RunClosed, StorageAbort)

_P = ParamSpec("_P")
_T = TypeVar("_T")
_R = TypeVar("_R", bound="RunBase")


def journaled_step(
    method: "Callable[Concatenate[_R, _P], Coroutine[Any, Any, _T]]",
) -> "Callable[Concatenate[_R, _P], Coroutine[Any, Any, _T]]":
    """A step method (``do``, ``sleep``, ...): its outcome reaches the workflow before it is durable.

    The workflow code between two steps is deterministic and has no side effects (the Rules of
    Workflows), so nothing it does can reveal an outcome that a crash could still lose. The
    outcome's commit is shared with whatever comes next: the next attempt's start (committed
    before its callback runs, :meth:`Run._attempt`), a sleep or event wait (committed before it
    parks), the end of ``run`` (the instance's final status is written at once, with it) or the
    group commit at the event loop's next turn, whichever is first. One commit per step.
    """

    async def wrapper(self: _R, /, *args: _P.args, **kwargs: _P.kwargs) -> _T:
        try:
            return await method(self, *args, **kwargs)
        except PROCESS_EXITS as exc:
            self._process_exit(exc)
            raise

    functools.update_wrapper(wrapper, method)
    return wrapper


@types.coroutine
def _resumed(inner: "Generator[Any, Any, Any] | Coroutine[Any, Any, Any]", yielded: Any) -> Generator[Any, Any, Any]:
    """``await`` the rest of ``inner``, an awaitable's iterator that already yielded ``yielded``."""
    while True:
        try:
            yield yielded
        except BaseException as exc:  # thrown in by the task (a cancellation): pass it on
            try:
                yielded = inner.throw(exc)
            except StopIteration as stop:
                return stop.value
            continue
        return (yield from cast("Generator[Any, Any, Any]", inner))  # types.coroutine: a coroutine too


@types.coroutine
def run_to_end(coro: "Coroutine[Any, Any, Any]", box: list[Any]) -> Generator[Any, Any, None]:
    """Await ``coro`` and append its result to ``box``: stepped with ``next(runner, default)``,
    a coroutine that returns without suspending costs no ``StopIteration`` caught in Python (a
    ``coro.send(None)`` does); one that suspends goes on as :func:`_resumed`'s ``inner``."""
    box.append((yield from coro))


_YIELD_VALUE = dis.opmap["YIELD_VALUE"]
#: Whether a coroutine of a code object can suspend, by code object (a dict lookup on every step).
SUSPENDS: dict[types.CodeType, bool] = {}
_SUSPENDS_KEPT = 4096


def may_suspend(code: types.CodeType) -> bool:
    """Whether a coroutine running ``code`` can suspend: only at a ``YIELD_VALUE`` (``await``,
    ``async for``, ``async with``). One that cannot is awaited directly: it returns before the
    clock can pass, so it needs neither :func:`run_to_end` nor a timeout timer. Remembered in
    :data:`SUSPENDS`."""
    suspends = any(instruction.opcode == _YIELD_VALUE for instruction in dis.get_instructions(code))
    if len(SUSPENDS) >= _SUSPENDS_KEPT:  # code made by exec() again and again: start over
        SUSPENDS.clear()
    SUSPENDS[code] = suspends
    return suspends


class _InFlight:
    """``with run._attempt_in_flight():`` counts an attempt in flight (re-entrant: a counter)."""

    __slots__ = ("run",)

    def __init__(self, run: "RunBase") -> None:
        self.run = run

    def __enter__(self) -> None:
        run = self.run
        run.in_flight += 1
        run.engine.refresh_activity(run.live)

    def __exit__(self, *exc_info: object) -> None:
        run = self.run
        run.in_flight -= 1
        run.engine.refresh_activity(run.live)


class RunBase:
    """The engine side of one ``run`` invocation: state and the helpers every kind of step uses."""

    def __init__(self, engine: RunHost, live: "LiveInstance") -> None:
        self.engine = engine
        self._scheduler = engine.scheduler
        self._step_name_length = live.workflow.limits.step_name_length
        self.live = live
        self.record = live.record
        self.counters: dict[tuple[str, str], int] = {}
        self.do_calls = 0
        self.in_flight = 0
        self._in_flight_scope: _InFlight | None = None  # made when first needed (not on the straight path)
        self.parked = 0
        self.closed = False
        self.aborted: dict[str, Any] | None = None
        #: A KeyboardInterrupt/SystemExit that already left the event loop from a task of the
        #: workflow's own.
        self.escaped: BaseException | None = None
        self._unsaved_new_step: StepRecord | None = None
        self._loop = asyncio.get_running_loop()
        grouped = group_commit(engine.store)
        self._save_deferred = None if grouped is None else grouped.save_step_deferred
        self._unflushed: asyncio.Future[None] | None = None
        #: The store keeps the record objects themselves: writing a step already in
        #: ``record.steps`` changes nothing (:data:`~cfwf_emulator.store.base.KEEPS_RECORDS`).
        self._keeps_records = KEEPS_RECORDS in engine.store.capabilities

    def _process_exit(self, exc: BaseException) -> None:
        """User code of a step raised ``KeyboardInterrupt`` or ``SystemExit`` (``exc``), which goes on."""
        if asyncio.current_task() is not self.live.task:
            # a task of the workflow's own (asyncio.gather): the exception leaves the event loop
            # from that task; stop the whole run now, and let it not leave a second time when
            # it reaches run() through the gather
            self.escaped = exc
            self.engine.interrupted(self.live, self)

    def _save(self, record: Any, step: StepRecord, *, header: bool = False) -> None:
        """Journal a step; a storage failure stops the run where user code cannot swallow it."""
        try:
            if self._save_deferred is not None:
                self._unflushed = self._save_deferred(record, step, header=header)
            else:
                self.engine.store.save_step(record, step, header=header)
        except StoreError as exc:
            raise StorageAbort(exc) from None

    async def _flush(self) -> None:
        """Wait until this run's journal writes are committed (a commit shared with other runs).

        Commits happen in order, so waiting for the batch of the run's latest write covers every
        earlier one, also those of concurrent steps of the same run.
        """
        batch = self._unflushed
        if batch is not None:
            try:
                if type(batch) is SharedCommit:
                    await batch  # one event-loop turn less than through a shield
                else:
                    await asyncio.shield(batch)
            except StoreError as exc:
                raise StorageAbort(exc) from None
            finally:
                self._scheduler.progress += 1

    def _check_open(self) -> None:
        if self.closed:
            raise RunClosed()

    def abort(self, error: dict[str, Any]) -> NoReturn:
        """End the instance as errored with ``error``, whatever ``run`` does with the exception."""
        self.aborted = error
        self.closed = True
        raise InstanceAbort(error)

    def _next_count(self, kind: str, name: str) -> int:
        key = (kind, name)
        count = self.counters.get(key, 0) + 1
        self.counters[key] = count
        return count

    def _new_step(
        self,
        kind: str,
        name: str,
        count: int,
        state: str,
        *,
        save: bool = True,
        start_ms: float | None = None,
        **fields: Any,
    ) -> StepRecord:
        record = self.record
        start = self.engine.now() if start_ms is None else start_ms
        step = StepRecord(kind, name, count, record.next_seq, start, state, **fields)
        record.next_seq += 1
        record.steps[step.key] = step
        if save:
            self._save(record, step, header=True)
        else:
            self._unsaved_new_step = step
        return step

    def _attempt_in_flight(self) -> "_InFlight":
        """An attempt is in flight from its journaled start until its outcome is journaled.

        Pause and hibernation wait while any attempt is in flight: stopping the run in between
        would leave an attempt that never ran (or whose outcome was known) looking interrupted
        on replay, burning a retry. (A plain class, not ``@contextmanager``: it is on every step.)
        """
        scope = self._in_flight_scope
        if scope is None:
            # through a proxy: a reference back to the run would be a cycle (see WorkflowStep._release)
            scope = self._in_flight_scope = _InFlight(cast("RunBase", weakref.proxy(self)))
        return scope

    def _may_hibernate(self, deadline: float) -> bool:
        threshold = self.engine.hibernate_after_ms
        return (
            threshold is not None
            and deadline - self.engine.now() >= threshold
            and self.in_flight == 0
            and self.parked == 0
            and self.live.run is self
            and not self.live.pause_pending
        )

    async def _hibernate(self, wake_at: float) -> None:
        """Drop this run from memory; the engine replays the instance at ``wake_at`` or on an event."""
        self.engine.hibernate(self.live, wake_at)
        await self._halt()

    async def _park(self, deadline: float) -> None:
        """Wait, as a blocked instance, until the clock reaches ``deadline``."""
        if deadline <= self.engine.now():
            self._check_open()
            return
        await self._flush()  # what the wait follows (a sleep's start, a failed attempt) is durable first
        self._check_open()
        if self._may_hibernate(deadline):
            await self._hibernate(deadline)
        future: asyncio.Future[None] = self._loop.create_future()

        def wake() -> None:
            if not future.done():
                future.set_result(None)

        timer = self.engine.scheduler.call_at(deadline, wake)
        self.parked += 1
        self.engine.refresh_activity(self.live)
        try:
            await future
        finally:
            timer.cancel()
            self.parked -= 1
            self._scheduler.progress += 1
            self.engine.refresh_activity(self.live)
        self._check_open()

    async def _halt(self) -> None:
        """Stop here: the engine has cancelled this run (pause); wait for the cancellation."""
        await self._loop.create_future()

    async def _attempt_gate(self) -> None:
        """Block new attempts while a pause is pending."""
        live = self.live
        while live.pause_pending:
            if live.pause_gate is None or live.pause_gate.done():
                live.pause_gate = self._loop.create_future()
            await asyncio.shield(live.pause_gate)
            self._scheduler.progress += 1
        self._check_open()

    async def _after_attempt(self) -> None:
        """After an attempt: if a pause is pending and nothing else is in flight, pause now."""
        live = self.live
        if live.pause_pending and self.in_flight == 0 and live.run is self:
            self.engine.finish_pause(live)
            await self._halt()
        self._check_open()

    async def _step_boundary(self) -> None:
        """A step finished for good; with ``hibernate="always"``, or once its workflow's class was
        replaced, the instance is replayed now."""
        await self._after_attempt()
        if (
            (self.engine.replay_every_step or self.live.replay_pending)
            and self.in_flight == 0
            and self.parked == 0
            and self.live.run is self
        ):
            self.live.replay_pending = False
            self.engine.replay_now(self.live)
            await self._halt()

    async def _with_timeout(self, awaitable: Awaitable[Any], timeout_ms: float) -> Any:
        """Await ``awaitable``; past ``timeout_ms`` of clock time, cancel it and raise a timeout."""
        inner = awaitable.__await__()
        deadline = self.engine.now() + timeout_ms
        try:
            yielded = inner.send(None)
        except StopIteration as stop:
            return stop.value
        return await self._resume_with_timeout(inner, yielded, deadline, timeout_ms)

    async def _resume_with_timeout(
        self, inner: "Generator[Any, Any, Any] | Coroutine[Any, Any, Any]", yielded: Any, deadline: float, timeout_ms: float
    ) -> Any:
        """Go on awaiting ``inner``, which has suspended once (yielding ``yielded``); at ``deadline``
        cancel it and raise a timeout of ``timeout_ms``.

        The timer is armed only now: an ``async def`` that returns without suspending never gives
        the clock a chance to pass, so it costs no timer.
        """
        task = asyncio.current_task()
        assert task is not None
        fired = False

        def expire() -> None:
            nonlocal fired
            fired = True
            task.cancel()

        timer = self._scheduler.call_at(deadline, expire)
        try:
            return await _resumed(inner, yielded)
        except asyncio.CancelledError:
            if fired and task.uncancel() == 0:
                raise WorkflowTimeoutError.after(timeout_ms) from None
            raise
        finally:
            timer.cancel()

    def _step_context(self, step: StepRecord, attempt: int) -> StepContext:
        """What :data:`~cfwf_emulator.hooks.current_step` holds while this attempt's user code runs."""
        return StepContext(self.record.workflow, self.record.id, step.name, step.count, attempt)
