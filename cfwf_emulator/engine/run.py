"""One run of an instance: ``run(event, step)`` called from the top, each step replayed or executed.

A :class:`Run` is the engine side of the ``step`` object. Each step call gets a journal key
``(kind, name, occurrence)``; a journaled result is returned (a fresh copy) without calling the
callback, anything else executes, is journaled, and only then becomes visible.
"""

from __future__ import annotations

import asyncio
import inspect
from functools import partial
from types import CoroutineType
from typing import Any, Callable, NoReturn

from ..authoring.entrypoint import ExecutionContext
from ..authoring.event import make_event
from ..authoring.step import WorkflowStep
from ..errors import StepError, WorkflowFatalError, WorkflowTimeoutError, error_from_record
from ..hooks import StepContext, current_step
from ..sdk import installed_sdk, tuples_as_lists
from ..serialization import AttrDict, NotSerialisable, RpcTypeError, decode, encode
from ..stepconfig import ResolvedStepConfig, resolve_step_config
from ..store.sqlite import StoreError
from ..validation import check_step_name
from ..workers import CURRENT_ENV
from .host import RunHost
from .instance import LiveInstance
from .modifiers import attempt_override
from .records import StepRecord
from .retries import Retries, stops_retries
from .runbase import ENGINE_SIGNALS, PROCESS_EXITS, InstanceAbort, RunClosed, StorageAbort, SUSPENDS, may_suspend, run_to_end
from .waits import Waits

__all__ = ["InstanceAbort", "Run", "RunHost", "run_instance"]

_RETRY = object()
_MOCKED = object()  # the value of a mocked step result: only its JSON text exists
_IMMUTABLE = frozenset({int, float, str, bool, type(None)})
_PLAIN = _IMMUTABLE | {dict, list}
_PASSES_ON = ENGINE_SIGNALS + PROCESS_EXITS
_RETURNED = object()  # what next() gives when a callback's coroutine returned without suspending


class Run(Waits, Retries):
    """The engine side of one ``run`` invocation (the ``step`` object's backend)."""

    async def do(self, name: Any, config: Any, invoke: Callable[[Callable[[], Any]], Any]) -> Any:
        """Execute or replay one ``step.do``.

        The straight path (a new step's first attempt: no replay, no pending pause, no test
        override) runs here in one coroutine, the callback's included; anything else (and a
        failed first attempt's retries) goes on in :meth:`_do_general` and :meth:`_attempts`.
        """
        try:
            count = self._do_head(name, config, invoke)
            record, live, engine = self.record, self.live, self.engine
            if ("do", name, count) in record.steps or live.pause_pending or record.modifiers:
                return await self._do_general(name, config, invoke, count)
            resolved = resolve_step_config(name, config, engine.step_defaults)
            self.in_flight += 1  # what _attempt_in_flight() does, inline
            try:
                step, attempt = self._first_attempt_journaled(name, count, resolved)
                if self._unflushed is not None:
                    await self._flush()
                if self.closed:
                    raise RunClosed()
                failure: BaseException | None = None
                scheduler = self._scheduler
                scheduler.enter_busy()
                inside = current_step.set(StepContext(record.workflow, record.id, name, count, 1))
                try:
                    value = invoke(partial(_make_ctx, step, 1, resolved))
                    if type(value) is CoroutineType:  # an async def: run it here until it first suspends
                        suspends = SUSPENDS.get(value.cr_code)
                        if suspends is False or (suspends is None and not may_suspend(value.cr_code)):
                            value = await value  # it has no await: it returns before the clock can pass
                        else:
                            box: list[Any] = []
                            runner = run_to_end(value, box)
                            yielded = next(runner, _RETURNED)
                            if yielded is not _RETURNED:  # the timeout counts from the attempt's start
                                deadline = attempt["start"] + resolved.timeout_ms
                                await self._resume_with_timeout(runner, yielded, deadline, resolved.timeout_ms)
                            value = box[0]
                    elif type(value) not in _PLAIN and inspect.isawaitable(value):
                        value = await self._with_timeout(value, resolved.timeout_ms)
                except BaseException as exc:  # noqa: BLE001 - sorted out by _fails_attempt
                    if not _fails_attempt(exc):
                        raise
                    failure = exc
                finally:
                    current_step.reset(inside)
                    scheduler.leave_busy()
                if self.closed:
                    raise RunClosed()
                if failure is None:
                    failure, value, text = self._encoded(step, value)
                if failure is None:
                    self._succeeded(step, attempt, text)
                else:
                    self._record_failed_attempt(attempt, failure)
                    outcome = await self._after_failure(step, resolved, 1, failure, stops_retries(failure))
            finally:
                self.in_flight -= 1
                if self.parked or record.status != "running":  # else it would change nothing
                    engine.refresh_activity(live)
            if failure is None:
                if live.pause_pending or engine.replay_every_step or live.replay_pending:  # else nothing to do
                    await self._step_boundary()
                if self.closed:
                    raise RunClosed()
                return value if type(value) in _IMMUTABLE else decode(text)
            return await self._after_failed_first(step, resolved, invoke, outcome)
        except PROCESS_EXITS as exc:
            self._process_exit(exc)
            raise

    def _do_head(self, name: Any, config: Any, invoke: Any) -> int:
        """The checks every ``step.do`` passes first; its call count for ``name``."""
        if self.closed:
            raise RunClosed()
        limit = self.live.workflow.limits.steps
        self.do_calls += 1
        if self.do_calls > limit:
            raise WorkflowFatalError(
                f"The limit of {limit} steps has been reached. This limit can be changed in your "
                "worker configuration."
            )
        check_step_name(name, self._step_name_length)
        if config is not None and invoke is None:
            raise WorkflowFatalError(f'Step "{name}" requires a callback function')
        return self._next_count("do", name)

    def _first_attempt_journaled(self, name: str, count: int, resolved: ResolvedStepConfig) -> tuple[StepRecord, dict[str, Any]]:
        """A new step and its first attempt's start: journaled (one write) and logged."""
        engine, live, record = self.engine, self.live, self.record
        if self.parked or record.status != "running":  # else refreshing would change nothing
            engine.refresh_activity(live)
        now = engine.now()
        attempt: dict[str, Any] = {"start": now, "end": None, "success": None, "error": None}
        step = StepRecord("do", name, count, record.next_seq, now, "running", config=resolved.view, attempts=[attempt])
        record.next_seq += 1
        record.steps[("do", name, count)] = step
        if not self._keeps_records:  # (a store that keeps the record objects has it already)
            self._save(record, step, header=True)
        engine.emit_step_start(live, step, self._unflushed)
        return step, attempt

    def _succeeded(self, step: StepRecord, attempt: dict[str, Any], text: str) -> None:
        """The attempt succeeded with ``text``: the step is done, journaled and logged."""
        engine, live, record = self.engine, self.live, self.record
        now = engine.now()
        attempt["end"], attempt["success"] = now, True
        step.state, step.result, step.end_ms = "ok", text, now
        if not self._keeps_records or record.steps.get(step.key) is not step:
            self._save(record, step)
        engine.emit_attempt(live, step, len(step.attempts), None, None, self._unflushed)
        engine.emit_step_end(live, step, self._unflushed)

    async def _after_failed_first(
        self, step: StepRecord, resolved: ResolvedStepConfig, invoke: Callable[[Callable[[], Any]], Any], outcome: Exception | None
    ) -> Any:
        """The straight path's first attempt failed: stop with ``outcome``, or retry as configured."""
        if outcome is not None:
            await self._step_boundary()
            raise outcome
        await self._after_attempt()
        return await self._attempts(step, resolved, invoke)

    async def _do_general(self, name: Any, config: Any, invoke: Callable[[Callable[[], Any]], Any], count: int) -> Any:
        """A ``step.do`` off the straight path: replayed, resumed after an interruption, or new."""
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
        return await self._attempts(step, resolved, invoke)

    async def _attempts(
        self, step: StepRecord, resolved: ResolvedStepConfig, invoke: Callable[[Callable[[], Any]], Any]
    ) -> Any:
        """Run ``step``'s attempts, one after the other, until one's outcome is final."""
        while True:
            if step.deadline_ms is not None:
                await self._park(step.deadline_ms)
                step.deadline_ms = None
            if self.live.pause_pending:
                await self._attempt_gate()
            self._check_open()
            result = await self._one_attempt(step, resolved, invoke)
            if result is not _RETRY:
                return result

    def _encoded(self, step: StepRecord, value: Any) -> tuple[BaseException | None, Any, str]:
        """``(failure, value, value as JSON)`` of a callback's result."""
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
            else:
                engine.emit_attempt_start(live, step, number, self._unflushed)
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
                self._record_failed_attempt(attempt, failure)
                outcome = await self._after_failure(step, resolved, number, failure, stops_retries(failure))
        finally:
            self.in_flight -= 1
            engine.refresh_activity(live)
        if failure is None:
            if live.pause_pending or engine.replay_every_step or live.replay_pending:  # else nothing to do
                await self._step_boundary()
            self._check_open()
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

        if self._unflushed is not None:
            await self._flush()
        self._check_open()
        failure: BaseException | None = None
        value: Any = None
        engine.scheduler.enter_busy()
        inside = current_step.set(self._step_context(step, number))
        try:
            value = invoke(partial(_make_ctx, step, number, resolved))
            if type(value) is CoroutineType:  # an async def: run it here until it first suspends
                suspends = SUSPENDS.get(value.cr_code)
                if suspends is False or (suspends is None and not may_suspend(value.cr_code)):
                    value = await value  # it has no await: it returns before the clock can pass
                else:
                    box: list[Any] = []
                    runner = run_to_end(value, box)
                    yielded = next(runner, _RETURNED)
                    if yielded is not _RETURNED:  # the timeout counts from the attempt's start
                        deadline = step.attempts[-1]["start"] + resolved.timeout_ms
                        await self._resume_with_timeout(runner, yielded, deadline, resolved.timeout_ms)
                    value = box[0]
            elif type(value) not in _PLAIN and inspect.isawaitable(value):
                value = await self._with_timeout(value, resolved.timeout_ms)
        except BaseException as exc:  # noqa: BLE001 - sorted out by _fails_attempt
            if not _fails_attempt(exc):
                raise
            failure = exc
        finally:
            current_step.reset(inside)
            engine.scheduler.leave_busy()
        self._check_open()
        if failure is not None:
            return failure, None, ""
        return self._encoded(step, value)

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


async def run_instance(engine: RunHost, live: "LiveInstance") -> None:
    """The task body of an instance: one ``run`` invocation and its outcome."""
    record = live.record
    run = Run(engine, live)
    live.run = run
    engine.scheduler.progress += 1
    env_token = CURRENT_ENV.set(engine.env)
    # an instance started from inside a step runs outside it (a woken one is outside already)
    step_token = None if current_step.get() is None else current_step.set(None)
    step: WorkflowStep | None = None
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
        if run.aborted is None:
            _finish_with(engine, live, run, result)
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
        engine.scheduler.progress += 1
        if step_token is not None:
            current_step.reset(step_token)
        CURRENT_ENV.reset(env_token)
        if run.aborted is not None:
            try:
                engine.finish_run(live, run, error=run.aborted)
            except StoreError as store_error:
                engine.storage_failed(live, store_error)
        run.closed = True
        if step is not None:
            step._release()
        if live.run is run:
            live.run = None
            engine.release_if_finished(live)


def _make_ctx(step: StepRecord, number: int, resolved: ResolvedStepConfig) -> AttrDict:
    """The step context of attempt ``number``: made only if the callback takes it (the engine
    passes ``functools.partial(_make_ctx, ...)``, which costs no Python call to build)."""
    return AttrDict(
        step=AttrDict(name=step.name, count=step.count),
        attempt=number,
        config=decode(resolved.view_json),
    )


def _fails_attempt(exc: BaseException) -> bool:
    """Whether ``exc``, raised by a step's callback, fails its attempt; else it passes on.

    The engine's own signals, ``KeyboardInterrupt`` and ``SystemExit`` pass on, and so does a
    cancellation of the run (pause, terminate, ...); any other exception of the callback's own (an
    ``Exception``, a custom ``BaseException``, ``GeneratorExit``, a ``CancelledError`` it raised
    itself) fails the attempt.
    """
    if isinstance(exc, asyncio.CancelledError):
        task = asyncio.current_task()
        return task is not None and task.cancelling() == 0
    return not isinstance(exc, _PASSES_ON)


def _finish_with(engine: RunHost, live: LiveInstance, run: Run, result: Any) -> None:
    """``run`` returned ``result``: the instance completes with it, or errors if it cannot be stored."""
    try:
        output = encode(result)
    except RpcTypeError as exc:
        engine.finish_run(live, run, error={"name": "TypeError", "message": str(exc)})
    except NotSerialisable as exc:
        message = f"The value returned by run() is not serialisable: {exc}"
        engine.finish_run(live, run, error={"name": "WorkflowFatalError", "message": message})
    else:
        engine.finish_run(live, run, output=output)


def _retrieve(task: "asyncio.Task[None]") -> None:
    """Mark a finished instance task's exception as seen: a ``KeyboardInterrupt`` or
    ``SystemExit`` it raised already went on to stop the event loop."""
    if not task.cancelled():
        task.exception()
