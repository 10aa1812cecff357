"""One run of an instance: ``run(event, step)`` called from the top, each step replayed or executed.

A :class:`Run` is the engine side of the ``step`` object. Each step call gets a journal key
``(kind, name, occurrence)``; a journaled result is returned (a fresh copy) without calling the
callback, anything else executes, is journaled, and only then becomes visible.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import math
import re
from collections import deque
from datetime import datetime, timezone
from typing import (
    TYPE_CHECKING, Any, Awaitable, Callable, Concatenate, Coroutine, NoReturn, ParamSpec, Protocol,
    TypeVar,
)

from ..authoring.entrypoint import ExecutionContext
from ..authoring.event import make_event, make_step_event
from ..authoring.step import WorkflowStep
from ..clock import LATEST_TIME_MS
from ..workers import CURRENT_ENV
from ..durations import DurationError, parse_duration
from ..hooks import StepContext, current_step
from ..errors import (
    NonRetryableError,
    StepError,
    WorkflowFatalError,
    WorkflowTimeoutError,
    error_from_record,
    error_to_record,
    format_ms,
    is_non_retryable,
)
from ..sdk import installed_sdk, tuples_as_lists
from ..serialization import AttrDict, NotSerialisable, RpcTypeError, decode, encode
from ..stepconfig import ResolvedStepConfig, backoff_delay_ms, resolve_step_config
from .modifiers import attempt_override, event_timeout_forced, retry_delay_disabled, sleep_disabled
from ..store.base import group_commit
from ..store.sqlite import StoreError
from .instance import Commit, LiveInstance
from .records import StepRecord
from .tracebacks import format_failure

if TYPE_CHECKING:
    from ..store.base import Store
    from .scheduler import Scheduler

class RunHost(Protocol):
    """What a run needs of its engine (:class:`~cfwf_emulator.engine.core.Engine` is one).

    The runner reaches the engine only through these, so the two modules never import each other.
    """

    store: "Store"
    scheduler: "Scheduler"
    env: Any
    step_defaults: dict[str, Any]
    hibernate_after_ms: float | None
    replay_every_step: bool

    def now(self) -> float:
        """The emulator clock, epoch ms."""

    def mark_started(self, live: LiveInstance) -> None:
        """A run began."""

    def refresh_activity(self, live: LiveInstance) -> None:
        """Re-derive running/waiting from the run's flows."""

    def finish_run(self, live: LiveInstance, run: "Run", *, output: str | None = None, error: dict[str, Any] | None = None) -> None:
        """The run ended with an output or an error."""

    def uncaught_error(self, live: LiveInstance, exc: BaseException) -> dict[str, Any]:
        """The status error for an exception that escaped ``run``."""

    def storage_failed(self, live: LiveInstance, error: Exception) -> None:
        """A write failed mid-run: stop the instance."""

    def interrupted(self, live: LiveInstance, run: "Run") -> None:
        """User code raised KeyboardInterrupt or SystemExit."""

    def release_if_finished(self, live: LiveInstance) -> None:
        """A finished instance may leave memory."""

    def hibernate(self, live: LiveInstance, wake_at: float) -> None:
        """Evict a blocked instance until ``wake_at`` or an event."""

    def replay_now(self, live: LiveInstance) -> None:
        """Stop the run and replay the instance from the top."""

    def finish_pause(self, live: LiveInstance) -> None:
        """Nothing is in flight any more: the instance is paused."""

    def take_buffered_event(self, live: LiveInstance, event_type: str) -> dict[str, Any] | None:
        """Remove and return the oldest buffered event of ``event_type``."""

    def emit_step_start(self, live: LiveInstance, step: StepRecord, committed: Commit = None) -> None:
        """Announce the first attempt of a step."""

    def emit_attempt(
        self, live: LiveInstance, step: StepRecord, attempt: int, error: Any, retry_delay_ms: float | None,
        committed: Commit = None,
    ) -> None:
        """Announce the end of an attempt."""

    def emit_step_end(self, live: LiveInstance, step: StepRecord, committed: Commit = None) -> None:
        """Announce that a step finished for good."""

    def emit_sleep_start(self, live: LiveInstance, step: StepRecord, committed: Commit = None) -> None:
        """Announce a sleep."""

    def emit_sleep_end(self, live: LiveInstance, step: StepRecord, committed: Commit = None) -> None:
        """Announce the end of a sleep."""

    def emit_wait_start(self, live: LiveInstance, step: StepRecord, event_type: str, committed: Commit = None) -> None:
        """Announce an event wait."""

    def emit_wait_end(
        self, live: LiveInstance, step: StepRecord, event_type: str, timed_out: bool, committed: Commit = None
    ) -> None:
        """Announce the end of an event wait."""

__all__ = ["InstanceAbort", "Run", "RunHost", "run_instance"]

EVENT_TYPE = re.compile(r"[a-zA-Z0-9_][a-zA-Z0-9\-_]*\Z")
_CONTROL = re.compile(r"[\x00-\x1f]")
_SURROGATE = re.compile("[\ud800-\udfff]")
DELAY_FUNCTION_TIMEOUT_MS = 5_000.0
INTERRUPTED_ATTEMPT = {
    "name": "WorkflowInternalError",
    "message": "Attempt failed due to internal workflows error",
}


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


def _utf16_length(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _lone_surrogate(text: str) -> bool:
    return not text.isascii() and _SURROGATE.search(text) is not None


def check_step_name(name: object) -> str:
    """Cloudflare's rule: a str of at most 256 UTF-16 units with no control characters."""
    if (
        not isinstance(name, str)
        or _lone_surrogate(name)
        or (len(name) > 128 and _utf16_length(name) > 256)
        or _CONTROL.search(name)
    ):
        raise WorkflowFatalError(
            f'Step name "{name}" exceeds max length (256 chars) or invalid characters found'
        )
    return name


def _require_name(kind: str, name: object) -> str:
    if not isinstance(name, str) or _lone_surrogate(name):
        raise WorkflowFatalError(f"The name of a {kind} must be a str of valid text, got {name!r}")
    return name


def _timestamp_ms(value: object) -> float:
    hint = "pass a datetime (naive means UTC) or a finite number of epoch milliseconds"
    if isinstance(value, datetime):
        aware = value if value.tzinfo else value.replace(tzinfo=timezone.utc)
        return aware.timestamp() * 1000.0
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        try:
            ms = float(value)
        except OverflowError:  # an int too large for a float
            ms = math.inf
        if not math.isfinite(ms):
            raise WorkflowFatalError(f"step.sleep_until needs a finite time, got {value!r}: {hint}")
        return ms
    raise WorkflowFatalError(f"step.sleep_until needs a time, got {value!r}: {hint}")


_P = ParamSpec("_P")
_T = TypeVar("_T")


def _stops_retries(failure: BaseException) -> bool:
    """Whether a failed attempt's error ends the step's retries. A ``NonRetryableError`` the
    user's code raised (it has a traceback; a mocked one does not) does so only from
    workers-runtime-sdk 1.9.0 on: before, it reached the engine as an ordinary Python error."""
    if not is_non_retryable(failure):
        return False
    raised_by_user = isinstance(failure, NonRetryableError) and failure.__traceback__ is not None
    return not raised_by_user or installed_sdk().non_retryable_in_steps


def _durable_before_return(
    method: "Callable[Concatenate[Run, _P], Coroutine[Any, Any, _T]]",
) -> "Callable[Concatenate[Run, _P], Coroutine[Any, Any, _T]]":
    """A step method whose journal writes are durable before the workflow sees its outcome."""

    async def wrapper(self: "Run", /, *args: _P.args, **kwargs: _P.kwargs) -> _T:
        try:
            result = await method(self, *args, **kwargs)
        except Exception:
            await self._flush()
            raise
        except PROCESS_EXITS as exc:
            if asyncio.current_task() is not self.live.task:
                # a task of the workflow's own (asyncio.gather): the exception leaves the event loop
                # from that task; stop the whole run now, and let it not leave a second time when
                # it reaches run() through the gather
                self.escaped = exc
                self.engine.interrupted(self.live, self)
            raise
        await self._flush()
        return result

    functools.update_wrapper(wrapper, method)
    return wrapper



class _InFlight:
    """``with run._attempt_in_flight():`` counts an attempt in flight (re-entrant: a counter)."""

    __slots__ = ("run",)

    def __init__(self, run: "Run") -> None:
        self.run = run

    def __enter__(self) -> None:
        run = self.run
        run.in_flight += 1
        run.engine.refresh_activity(run.live)

    def __exit__(self, *exc_info: object) -> None:
        run = self.run
        run.in_flight -= 1
        run.engine.refresh_activity(run.live)

class Run:
    """The engine side of one ``run`` invocation (the ``step`` object's backend)."""

    def __init__(self, engine: RunHost, live: "LiveInstance") -> None:
        self.engine = engine
        self.live = live
        self.record = live.record
        self.counters: dict[tuple[str, str], int] = {}
        self.do_calls = 0
        self.in_flight = 0
        self._in_flight_scope = _InFlight(self)
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

    # -- shared helpers -------------------------------------------------------------------

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
                await asyncio.shield(batch)
            except StoreError as exc:
                raise StorageAbort(exc) from None

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
        return self._in_flight_scope

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
        self._check_open()

    async def _after_attempt(self) -> None:
        """After an attempt: if a pause is pending and nothing else is in flight, pause now."""
        live = self.live
        if live.pause_pending and self.in_flight == 0 and live.run is self:
            self.engine.finish_pause(live)
            await self._halt()
        self._check_open()

    async def _step_boundary(self) -> None:
        """A step finished for good; with ``hibernate="always"`` the instance is replayed now."""
        await self._after_attempt()
        if (
            self.engine.replay_every_step
            and self.in_flight == 0
            and self.parked == 0
            and self.live.run is self
        ):
            self.engine.replay_now(self.live)
            await self._halt()

    # -- step.do ----------------------------------------------------------------------------

    @_durable_before_return
    async def do(self, name: Any, config: Any, invoke: Callable[[Callable[[], Any]], Any]) -> Any:
        """Execute or replay one ``step.do``."""
        self._check_open()
        limit = self.live.workflow.limits.steps
        self.do_calls += 1
        if self.do_calls > limit:
            raise WorkflowFatalError(
                f"The limit of {limit} steps has been reached. This limit can be changed in your "
                "worker configuration."
            )
        check_step_name(name)
        if config is not None and invoke is None:
            raise WorkflowFatalError(f'Step "{name}" requires a callback function')
        count = self._next_count("do", name)
        step = self.record.steps.get(("do", name, count))
        if step is not None:
            if step.state == "ok":
                assert step.result is not None
                return decode(step.result)
            if step.state == "error":
                assert step.error is not None
                raise error_from_record(step.error)
        resolved = resolve_step_config(name, config, self.engine.step_defaults)
        if step is None:
            # saved together with its first attempt's start: one durable write, not two
            step = self._new_step("do", name, count, "running", save=False, config=resolved.view)
        elif step.attempts and step.attempts[-1]["end"] is None:
            outcome = await self._close_interrupted_attempt(step, resolved)
            if outcome is not None:
                raise outcome
        while True:
            if step.deadline_ms is not None:
                await self._park(step.deadline_ms)
                step.deadline_ms = None
            await self._attempt_gate()
            result = await self._one_attempt(step, resolved, invoke)
            if result is not _RETRY:
                return result

    async def _close_interrupted_attempt(
        self, step: StepRecord, resolved: ResolvedStepConfig
    ) -> Exception | None:
        """An attempt that was in flight when the process stopped counts as failed."""
        attempt = step.attempts[-1]
        attempt.update(end=self.engine.now(), success=False, error=dict(INTERRUPTED_ATTEMPT))
        error = StepError(INTERRUPTED_ATTEMPT["name"], INTERRUPTED_ATTEMPT["message"])
        with self._attempt_in_flight():
            return await self._after_failure(step, resolved, len(step.attempts), error, False)

    async def _one_attempt(
        self, step: StepRecord, resolved: ResolvedStepConfig, invoke: Callable[[Callable[[], Any]], Any]
    ) -> Any:
        """Journal an attempt's start, run it, journal its outcome; then the step's boundary."""
        number = len(step.attempts) + 1
        attempt: dict[str, Any] = {"start": self.engine.now(), "end": None, "success": None, "error": None}
        step.attempts.append(attempt)
        is_new = self._unsaved_new_step is step
        self._unsaved_new_step = None
        engine, live = self.engine, self.live
        self.in_flight += 1  # what _attempt_in_flight() does, inline: this is every step's path
        engine.refresh_activity(live)
        try:
            self._save(self.record, step, header=is_new)
            if is_new:
                engine.emit_step_start(live, step, self._unflushed)
            failure, value, text = await self._attempt(step, resolved, invoke, number)
            outcome: Exception | None = None
            if failure is None:
                now = engine.now()
                attempt.update(end=now, success=True)
                step.state, step.result, step.end_ms = "ok", text, now
                self._save(self.record, step)
                engine.emit_attempt(live, step, number, None, None, self._unflushed)
                engine.emit_step_end(live, step, self._unflushed)
            else:
                attempt.update(end=engine.now(), success=False, error=error_to_record(failure))
                trace = format_failure(failure)
                if trace is not None:
                    attempt["traceback"] = trace  # an emulator extension beside Cloudflare's error
                outcome = await self._after_failure(
                    step, resolved, number, failure, _stops_retries(failure)
                )
        finally:
            self.in_flight -= 1
            engine.refresh_activity(live)
        if failure is None:
            await self._step_boundary()
            return value if type(value) in _IMMUTABLE else decode(text)
        if outcome is not None:
            await self._step_boundary()
            raise outcome
        await self._after_attempt()
        return _RETRY

    async def _attempt(
        self,
        step: StepRecord,
        resolved: ResolvedStepConfig,
        invoke: Callable[[Callable[[], Any]], Any],
        number: int,
    ) -> tuple[BaseException | None, Any, str]:
        """Run attempt ``number`` (or its test override): ``(failure, value, value as JSON)``."""
        engine = self.engine
        override = attempt_override(self.record.modifiers, step.name, step.count, number)
        if override is not None:
            kind, data = override
            if kind == "error":
                return error_from_record(data), None, ""
            if kind == "timeout":
                return WorkflowTimeoutError.after(0), None, ""
            return self._checked_result(step, _MOCKED, data)

        def make_ctx() -> AttrDict:
            return AttrDict(
                step=AttrDict(name=step.name, count=step.count),
                attempt=number,
                config=decode(resolved.view_json),
            )

        await self._flush()
        self._check_open()
        failure: BaseException | None = None
        value: Any = None
        engine.scheduler.enter_busy()
        inside = current_step.set(self._step_context(step, number))
        try:
            value = invoke(make_ctx)
            if type(value) not in _PLAIN and inspect.isawaitable(value):
                value = await self._with_timeout(value, resolved.timeout_ms)
        except asyncio.CancelledError as exc:
            task = asyncio.current_task()
            if task is None or task.cancelling() > 0:
                raise  # the engine is stopping this run (pause, terminate, ...)
            failure = exc  # the callback itself raised it: an ordinary failed attempt
        except ENGINE_SIGNALS + PROCESS_EXITS:
            raise
        except BaseException as exc:  # noqa: BLE001 - any other exception of the callback's own
            failure = exc  # (an Exception, a custom BaseException, GeneratorExit) fails the attempt
        finally:
            current_step.reset(inside)
            engine.scheduler.leave_busy()
        self._check_open()
        if failure is not None:
            return failure, None, ""
        try:
            text = encode(value)
        except RpcTypeError as exc:
            if installed_sdk().refuse_tuples:
                return TypeError(str(exc)), None, ""
            value, text = self._as_to_js_converts(step, value, exc)
            if not text:
                return TypeError(str(exc)), None, ""
        except NotSerialisable:
            self._fail_unserialisable(step)
        return self._checked_result(step, value, text)

    def _as_to_js_converts(self, step: StepRecord, value: Any, refused: RpcTypeError) -> tuple[Any, str]:
        """A result with tuples as an SDK before 1.8.6 sends it (its ``to_js`` makes them
        lists): ``(value, its JSON)``, or ``(value, "")`` when it is refused even so."""
        try:
            converted = tuples_as_lists(value)
            return converted, encode(converted)
        except (RpcTypeError, RecursionError):
            return value, ""
        except NotSerialisable:
            self._fail_unserialisable(step)

    def _step_context(self, step: StepRecord, attempt: int) -> StepContext:
        """What :data:`~cfwf_emulator.hooks.current_step` holds while this attempt's user code runs."""
        return StepContext(self.record.workflow, self.record.id, step.name, step.count, attempt)

    def _checked_result(self, step: StepRecord, value: Any, text: str) -> tuple[StepError | None, Any, str]:
        limit = self.live.workflow.limits.step_result_bytes
        if len(text) > limit // 4 and len(text.encode()) > limit:
            return StepError(
                "WorkflowInternalError",
                f"Step {step.name}-{step.count} output is too large. Maximum allowed size is 1MiB.",
            ), None, ""
        return None, value, text

    def _fail_unserialisable(self, step: StepRecord) -> NoReturn:
        """The step returned what no JSON can hold: the step and the whole instance fail."""
        now = self.engine.now()
        error = {
            "name": "WorkflowFatalError",
            "message": f'Value returned from step "{step.name}" is not serialisable',
        }
        step.attempts[-1].update(end=now, success=False, error=error)
        step.state, step.end_ms, step.error = "error", now, error
        self._save(self.record, step)
        self.abort(
            {
                "name": "WorkflowFatalError",
                "message": "The execution of the Workflow instance was terminated, as the "
                f'step "{step.name}" returned a value which is not serialisable',
            }
        )

    async def _after_failure(
        self,
        step: StepRecord,
        resolved: ResolvedStepConfig,
        number: int,
        failure: BaseException,
        non_retryable: bool,
    ) -> Exception | None:
        """Journal a failed attempt: schedule the retry, or fail the step for good."""
        engine = self.engine
        attempt = step.attempts[-1]
        error = attempt["error"]
        delay: float | None = None
        if not non_retryable and number <= resolved.limit:
            try:
                if retry_delay_disabled(self.record.modifiers, step.name, step.count):
                    delay = 0.0
                else:
                    delay = await self._retry_delay(step, resolved, number, failure)
            except WorkflowFatalError as delay_error:
                error = {"name": "NonRetryableDelayError", "message": str(delay_error)}
                non_retryable = True
        if delay is not None:
            step.deadline_ms = engine.now() + delay
            self._save(self.record, step)
            engine.emit_attempt(self.live, step, number, error, delay, self._unflushed)
            return None
        if non_retryable:
            error = {**error, "nonRetryable": True} if "nonRetryable" not in error else error
        step.state, step.error, step.end_ms = "error", error, engine.now()
        self._save(self.record, step)
        engine.emit_attempt(self.live, step, number, attempt["error"], None, self._unflushed)
        engine.emit_step_end(self.live, step, self._unflushed)
        return error_from_record(error)

    async def _retry_delay(
        self, step: StepRecord, resolved: ResolvedStepConfig, number: int, failure: BaseException
    ) -> float:
        if resolved.delay_fn is None:
            assert resolved.delay_ms is not None
            base = resolved.delay_ms
        else:
            base = await self._call_delay_function(step, resolved, number, failure)
        delay = backoff_delay_ms(base, resolved.backoff, number)
        if not self.engine.now() + delay <= LATEST_TIME_MS:  # also when the delay is infinite
            length = f"{format_ms(delay)}ms" if math.isfinite(delay) else "longer than any time can show"
            raise WorkflowFatalError(
                f'The retry delay of step "{step.name}-{step.count}" after attempt {number} is '
                f"{length}, which ends after the year 9999; lower retries.limit, the delay or "
                "the backoff"
            )
        return delay

    async def _call_delay_function(
        self, step: StepRecord, resolved: ResolvedStepConfig, number: int, failure: BaseException
    ) -> float:
        assert resolved.delay_fn is not None
        label = f'The delay function for step "{step.name}-{step.count}"'
        argument = AttrDict(
            ctx=AttrDict(
                step=AttrDict(name=step.name, count=step.count),
                attempt=number,
                config=decode(resolved.view_json),
            ),
            error=failure,
        )
        self.engine.scheduler.enter_busy()
        inside = current_step.set(self._step_context(step, number))
        try:
            value = resolved.delay_fn(argument)
            if inspect.isawaitable(value):
                value = await self._with_timeout(value, DELAY_FUNCTION_TIMEOUT_MS)
        except WorkflowTimeoutError:
            raise WorkflowFatalError(f"{label} did not return within 5 seconds") from None
        except asyncio.CancelledError as exc:
            task = asyncio.current_task()
            if task is None or task.cancelling() > 0:
                raise  # the engine is stopping this run
            raise WorkflowFatalError(f"{label} threw an error: {exc!r}") from None
        except ENGINE_SIGNALS + PROCESS_EXITS:
            raise
        except BaseException as exc:  # noqa: BLE001 - reported as the step's final error
            raise WorkflowFatalError(f"{label} threw an error: {exc}") from None
        finally:
            current_step.reset(inside)
            self.engine.scheduler.leave_busy()
        try:
            return parse_duration(value)
        except DurationError:
            raise WorkflowFatalError(
                f"{label} returned an invalid delay value (expected a number of ms or a duration "
                'string like "30 seconds")'
            ) from None

    async def _with_timeout(self, awaitable: Awaitable[Any], timeout_ms: float) -> Any:
        """Await ``awaitable``; past ``timeout_ms`` of clock time, cancel it and raise a timeout."""
        task = asyncio.current_task()
        assert task is not None
        fired = False

        def expire() -> None:
            nonlocal fired
            fired = True
            task.cancel()

        timer = self.engine.scheduler.call_at(self.engine.now() + timeout_ms, expire)
        try:
            return await awaitable
        except asyncio.CancelledError:
            if fired and task.uncancel() == 0:
                raise WorkflowTimeoutError.after(timeout_ms) from None
            raise
        finally:
            timer.cancel()

    # -- sleeps ---------------------------------------------------------------------------

    @_durable_before_return
    async def sleep(self, name: Any, duration: Any) -> None:
        """Execute or replay one ``step.sleep``."""
        self._check_open()
        _require_name("sleep", name)
        try:
            ms = parse_duration(duration, what=f'sleep duration for "{name}"')
        except DurationError as exc:
            raise WorkflowFatalError(str(exc)) from None
        self._check_sleep_length(name, ms)
        count = self._next_count("sleep", name)
        step = self.record.steps.get(("sleep", name, count))
        if step is not None and step.state == "ok":
            return
        if step is None:
            now = self.engine.now()
            deadline = self._deadline(f'The sleep "{name}"', now + ms)
            step = self._new_step("sleep", name, count, "waiting", start_ms=now, deadline_ms=deadline)
            self.engine.emit_sleep_start(self.live, step, self._unflushed)
        await self._finish_sleep(step)

    @_durable_before_return
    async def sleep_until(self, name: Any, timestamp: Any) -> None:
        """Execute or replay one ``step.sleep_until``; a past target is an error only the first time."""
        self._check_open()
        _require_name("sleep", name)
        target = _timestamp_ms(timestamp)
        count = self._next_count("sleep", name)
        step = self.record.steps.get(("sleep", name, count))
        if step is not None and step.state == "ok":
            return
        if step is None:
            now = self.engine.now()
            if target < now:
                raise StepError("Error", "You can't sleep until a time in the past, time-traveler")
            self._check_sleep_length(name, target - now)
            self._deadline(f'The sleep "{name}"', target)
            step = self._new_step("sleep", name, count, "waiting", start_ms=now, deadline_ms=target)
            self.engine.emit_sleep_start(self.live, step, self._unflushed)
        await self._finish_sleep(step)

    @staticmethod
    def _deadline(what: str, deadline: float) -> float:
        """``deadline``, unless it is later than any time the emulator can show."""
        if not deadline <= LATEST_TIME_MS:
            raise WorkflowFatalError(
                f"{what} would end after 9999-12-31T23:59:59.999Z, the last time the emulator can "
                "show; make it shorter"
            )
        return deadline

    def _check_sleep_length(self, name: str, ms: float) -> None:
        maximum = self.live.workflow.limits.max_sleep_ms
        if ms > maximum:
            raise WorkflowFatalError(
                f'The sleep "{name}" lasts {format_ms(ms)}ms, longer than the maximum of '
                f"{format_ms(maximum)}ms (365 days); use a shorter sleep or several in a row"
            )

    async def _finish_sleep(self, step: StepRecord) -> None:
        assert step.deadline_ms is not None
        deadline = step.deadline_ms
        if sleep_disabled(self.record.modifiers, step.name, step.count):
            deadline = min(deadline, self.engine.now())
        await self._park(deadline)
        step.state, step.end_ms, step.deadline_ms = "ok", self.engine.now(), None
        self._save(self.record, step)
        self.engine.emit_sleep_end(self.live, step, self._unflushed)
        await self._step_boundary()

    # -- events ---------------------------------------------------------------------------

    @_durable_before_return
    async def wait_for_event(self, name: Any, event_type: Any, timeout: Any) -> Any:
        """Execute or replay one ``step.wait_for_event``."""
        self._check_open()
        _require_name("wait_for_event", name)
        check_event_type(event_type, WorkflowFatalError)
        timeout_ms = self._event_timeout(name, timeout)
        count = self._next_count("waitForEvent", name)
        step = self.record.steps.get(("waitForEvent", name, count))
        if step is not None and step.state == "ok":
            return _event_from_result(step)
        if step is not None and step.state == "error":
            assert step.error is not None
            raise error_from_record(step.error)
        if step is None:
            now = self.engine.now()
            deadline = self._deadline(f'The event wait "{name}"', now + timeout_ms)
            step = self._new_step(
                "waitForEvent",
                name,
                count,
                "waiting",
                start_ms=now,
                deadline_ms=deadline,
                config={"type": event_type, "timeout": timeout},
            )
            self.engine.emit_wait_start(self.live, step, event_type, self._unflushed)
        return await self._receive(step, event_type)

    def _event_timeout(self, name: str, timeout: Any) -> float:
        limits = self.live.workflow.limits
        try:
            ms = parse_duration(timeout, what=f'timeout of the event wait "{name}"')
        except DurationError as exc:
            raise WorkflowFatalError(str(exc)) from None
        if not limits.min_event_timeout_ms <= ms <= limits.max_event_timeout_ms:
            raise WorkflowFatalError(
                f'The timeout of the event wait "{name}" is {format_ms(ms)}ms; it must be between '
                "1 second and 365 days"
            )
        return ms

    async def _receive(self, step: StepRecord, event_type: str) -> Any:
        engine = self.engine
        assert step.deadline_ms is not None
        forced = event_timeout_forced(self.record.modifiers, step.name, step.count)
        while True:
            event = None if forced else engine.take_buffered_event(self.live, event_type)
            if event is not None:
                result = (
                    f'{{"type":{encode(event_type)},"timestamp":{encode(event["ms"])},'
                    f'"payload":{event["payload"]}}}'
                )
                step.state, step.result, step.end_ms, step.deadline_ms = "ok", result, engine.now(), None
                self._save(self.record, step, header=True)
                engine.emit_wait_end(self.live, step, event_type, False, self._unflushed)
                await self._step_boundary()
                return _event_from_result(step)
            if forced or engine.now() >= step.deadline_ms:
                assert step.config is not None
                timeout_ms = parse_duration(step.config["timeout"])
                error = error_to_record(WorkflowTimeoutError.after(timeout_ms))
                step.state, step.error, step.end_ms, step.deadline_ms = "error", error, engine.now(), None
                self._save(self.record, step)
                engine.emit_wait_end(self.live, step, event_type, True, self._unflushed)
                await self._step_boundary()
                raise error_from_record(error)
            await self._wait_for_delivery(step.deadline_ms, event_type)

    async def _wait_for_delivery(self, deadline: float, event_type: str) -> None:
        if self._may_hibernate(deadline):
            await self._hibernate(deadline)
        future: asyncio.Future[None] = self._loop.create_future()
        waiters = self.live.waiters.setdefault(event_type, deque())
        waiters.append(future)

        def expire() -> None:
            if not future.done():
                future.set_result(None)

        timer = self.engine.scheduler.call_at(deadline, expire)
        self.parked += 1
        self.engine.refresh_activity(self.live)
        try:
            await future
        finally:
            timer.cancel()
            try:
                waiters.remove(future)
            except ValueError:
                pass
            self.parked -= 1
            self.engine.refresh_activity(self.live)
        self._check_open()


_RETRY = object()
_MOCKED = object()  # the value of a mocked step result: only its JSON text exists
_IMMUTABLE = frozenset({int, float, str, bool, type(None)})
_PLAIN = _IMMUTABLE | {dict, list}


def _event_from_result(step: StepRecord) -> Any:
    assert step.result is not None
    data = decode(step.result)
    return make_step_event(data["type"], encode(data["payload"]), data["timestamp"])


def check_event_type(event_type: object, error: Callable[[str], Exception]) -> str:
    """Production's rule for event types: at most 100 of ``[a-zA-Z0-9_-]``, not starting with ``-``."""
    if (
        not isinstance(event_type, str)
        or len(event_type) > 100
        or not EVENT_TYPE.match(event_type)
    ):
        raise error(
            f"Event type {event_type!r} is invalid: use 1-100 letters, digits, '_' or '-', "
            "not starting with '-' (no dots or spaces)"
        )
    return event_type


async def run_instance(engine: RunHost, live: "LiveInstance") -> None:
    """The task body of an instance: one ``run`` invocation and its outcome."""
    record = live.record
    run = Run(engine, live)
    live.run = run
    env_token = CURRENT_ENV.set(engine.env)
    step_token = current_step.set(None)  # an instance started from inside a step runs outside it
    try:
        engine.mark_started(live)
        workflow = live.workflow
        entrypoint = workflow.cls(ExecutionContext(), engine.env)
        event = make_event(record.params, record.created_ms, record.id, workflow.name, record.schedule)
        step = WorkflowStep(
            run,
            implicit_dependencies=workflow.compat.implicit_dependencies,
            compatibility=workflow.compat,
            call_form=workflow.step_call_form,
        )
        result = await entrypoint.run(event, step)
        if run.aborted is not None:
            return
        try:
            output = encode(result)
        except RpcTypeError as exc:
            engine.finish_run(live, run, error={"name": "TypeError", "message": str(exc)})
        except NotSerialisable as exc:
            engine.finish_run(
                live,
                run,
                error={
                    "name": "WorkflowFatalError",
                    "message": f"The value returned by run() is not serialisable: {exc}",
                },
            )
        else:
            engine.finish_run(live, run, output=output)
    except StorageAbort as abort:
        engine.storage_failed(live, abort.error)
    except (RunClosed, InstanceAbort):
        pass
    except StoreError as exc:
        engine.storage_failed(live, exc)
    except PROCESS_EXITS as exc:
        if exc is run.escaped:
            return  # it stopped the event loop already, from the task that raised it
        engine.interrupted(live, run)
        task = asyncio.current_task()
        if task is not None:  # it goes on to stop the event loop: the task's exception is seen
            task.add_done_callback(_retrieve)
        raise
    except BaseException as exc:  # noqa: BLE001 - an uncaught error ends the instance
        task = asyncio.current_task()
        if isinstance(exc, asyncio.CancelledError) and (task is None or task.cancelling() > 0):
            return  # the engine stopped this run (pause, terminate, hibernation, shutdown)
        try:  # anything else, a custom BaseException or a CancelledError run() raised included
            engine.finish_run(live, run, error=engine.uncaught_error(live, exc))
        except StoreError as store_error:
            engine.storage_failed(live, store_error)
    finally:
        current_step.reset(step_token)
        CURRENT_ENV.reset(env_token)
        if run.aborted is not None:
            try:
                engine.finish_run(live, run, error=run.aborted)
            except StoreError as store_error:
                engine.storage_failed(live, store_error)
        run.closed = True
        if live.run is run:
            live.run = None
            engine.release_if_finished(live)


def _retrieve(task: "asyncio.Task[None]") -> None:
    """Mark a finished instance task's exception as seen: a ``KeyboardInterrupt`` or
    ``SystemExit`` it raised already went on to stop the event loop."""
    if not task.cancelled():
        task.exception()
