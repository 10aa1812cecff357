"""One run of an instance: ``run(event, step)`` called from the top, each step replayed or executed.

A :class:`Run` is the engine side of the ``step`` object. Each step call gets a journal key
``(kind, name, occurrence)``; a journaled result is returned (a fresh copy) without calling the
callback, anything else executes, is journaled, and only then becomes visible.
"""

from __future__ import annotations

import asyncio
import inspect
from types import CoroutineType
from typing import Any, Callable, NoReturn

from ..authoring.entrypoint import ExecutionContext
from ..authoring.event import make_event
from ..authoring.step import WorkflowStep
from ..errors import StepError, WorkflowFatalError, WorkflowTimeoutError, error_from_record
from ..hooks import current_step
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
from .runbase import ENGINE_SIGNALS, PROCESS_EXITS, InstanceAbort, RunClosed, StorageAbort, journaled_step
from .waits import Waits

__all__ = ["InstanceAbort", "Run", "RunHost", "run_instance"]

_RETRY = object()
_MOCKED = object()  # the value of a mocked step result: only its JSON text exists
_IMMUTABLE = frozenset({int, float, str, bool, type(None)})
_PLAIN = _IMMUTABLE | {dict, list}


class Run(Waits, Retries):
    """The engine side of one ``run`` invocation (the ``step`` object's backend)."""

    @journaled_step
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
        check_step_name(name, self._step_name_length)
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
            if self.live.pause_pending:  # (the gate, inline when open: this is every step's path)
                await self._attempt_gate()
            self._check_open()
            result = await self._one_attempt(step, resolved, invoke)
            if result is not _RETRY:
                return result

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
            if live.pause_pending or engine.replay_every_step:  # else the boundary has nothing to do
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

        def make_ctx() -> AttrDict:
            return AttrDict(
                step=AttrDict(name=step.name, count=step.count),
                attempt=number,
                config=decode(resolved.view_json),
            )

        if self._unflushed is not None:
            await self._flush()
        self._check_open()
        failure: BaseException | None = None
        value: Any = None
        engine.scheduler.enter_busy()
        inside = current_step.set(self._step_context(step, number))
        try:
            value = invoke(make_ctx)
            if type(value) is CoroutineType:  # an async def: run it here until it first suspends
                try:
                    yielded = value.send(None)
                except StopIteration as stop:
                    value = stop.value
                else:  # the timeout counts from the attempt's start
                    deadline = step.attempts[-1]["start"] + resolved.timeout_ms
                    value = await self._resume_with_timeout(value, yielded, deadline, resolved.timeout_ms)
            elif type(value) not in _PLAIN and inspect.isawaitable(value):
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
