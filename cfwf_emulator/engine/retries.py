"""A run's failed attempts: the retry delay (with the workflow's delay function, if any) and the
step's final failure; and an attempt a stopped process left in flight."""

from __future__ import annotations

import asyncio
import inspect
import math
from typing import Any

from ..durations import DurationError, parse_duration
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
from ..clock import LATEST_TIME_MS
from ..hooks import current_step
from ..sdk import installed_sdk
from ..serialization import AttrDict, decode
from ..stepconfig import ResolvedStepConfig, backoff_delay_ms
from .modifiers import retry_delay_disabled
from .records import StepRecord
from .runbase import ENGINE_SIGNALS, PROCESS_EXITS, RunBase
from .tracebacks import format_failure

__all__ = ["INTERRUPTED_ATTEMPT", "Retries"]

DELAY_FUNCTION_TIMEOUT_MS = 5_000.0
_QUALIFIED_NON_RETRYABLE = "workers.workflows.NonRetryableError"
INTERRUPTED_ATTEMPT = {
    "name": "WorkflowInternalError",
    "message": "Attempt failed due to internal workflows error",
}


def stops_retries(failure: BaseException) -> bool:
    """Whether a failed attempt's error ends the step's retries. A ``NonRetryableError`` the
    user's code raised (it has a traceback; a mocked one does not) does so only from
    workers-runtime-sdk 1.9.0 on: before, it reached the engine as an ordinary Python error."""
    if not is_non_retryable(failure):
        return False
    return not _raised_by_user(failure) or installed_sdk().non_retryable_in_steps


def _raised_by_user(failure: BaseException) -> bool:
    """A ``NonRetryableError`` the user's code raised: it has a traceback, a mocked one has not."""
    return isinstance(failure, NonRetryableError) and failure.__traceback__ is not None


def _as_run_receives(error: dict[str, Any], failure: BaseException) -> dict[str, Any]:
    """The step's final error as ``run`` receives it. Before workers-runtime-sdk 1.9.0 a
    ``NonRetryableError`` raised in a step came back to ``run`` rebuilt by the SDK's
    ``_from_js_error`` from the traceback's last line: ``workers.workflows.NonRetryableError:
    <message>`` became its message."""
    if not _raised_by_user(failure) or installed_sdk().non_retryable_in_steps:
        return error
    message = str(failure)
    last_line = f"{_QUALIFIED_NON_RETRYABLE}: {message}" if message else _QUALIFIED_NON_RETRYABLE
    return {**error, "message": last_line}


class Retries(RunBase):
    """What a run does after an attempt fails."""

    def _record_failed_attempt(self, attempt: dict[str, Any], failure: BaseException) -> None:
        """Close ``attempt`` as failed with ``failure``'s error, and its Python traceback when
        it has one (an emulator extension beside Cloudflare's error)."""
        attempt.update(end=self.engine.now(), success=False, error=error_to_record(failure))
        trace = format_failure(failure)
        if trace is not None:
            attempt["traceback"] = trace

    async def _close_interrupted_attempt(
        self, step: StepRecord, resolved: ResolvedStepConfig
    ) -> Exception | None:
        """An attempt that was in flight when the process stopped counts as failed."""
        attempt = step.attempts[-1]
        attempt.update(end=self.engine.now(), success=False, error=dict(INTERRUPTED_ATTEMPT))
        error = StepError(INTERRUPTED_ATTEMPT["name"], INTERRUPTED_ATTEMPT["message"])
        with self._attempt_in_flight():
            return await self._after_failure(step, resolved, len(step.attempts), error, False)

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
        else:
            error = _as_run_receives(error, failure)
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
