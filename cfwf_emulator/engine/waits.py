"""Sleeps and event waits of a run: ``step.sleep``, ``step.sleep_until`` and ``step.wait_for_event``,
executed or replayed from the journal."""

from __future__ import annotations

import asyncio
import math
from collections import deque
from datetime import datetime, timezone
from typing import Any

from ..authoring.event import make_step_event
from ..clock import LATEST_TIME_MS
from ..durations import DurationError, parse_duration
from ..errors import StepError, WorkflowFatalError, WorkflowTimeoutError, error_from_record, error_to_record, format_ms
from ..serialization import decode, encode
from ..validation import check_event_type, lone_surrogate
from .modifiers import event_timeout_forced, sleep_disabled
from .records import StepRecord
from .runbase import RunBase, journaled_step

__all__ = ["Waits"]


#: Sleep durations given as text, parsed (a replay of many sleeps parses the same few strings).
_SLEEP_MS: dict[str, float] = {}
_SLEEP_MS_KEPT = 1024


def _require_name(kind: str, name: object) -> str:
    if not isinstance(name, str) or lone_surrogate(name):
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


def _event_from_result(step: StepRecord) -> Any:
    assert step.result is not None
    data = decode(step.result)
    return make_step_event(data["type"], encode(data["payload"]), data["timestamp"])


class Waits(RunBase):
    """A run's sleeps and event waits."""

    @journaled_step
    async def sleep(self, name: Any, duration: Any) -> None:
        """Execute or replay one ``step.sleep``."""
        self._check_open()
        _require_name("sleep", name)
        ms = _SLEEP_MS.get(duration) if type(duration) is str else None
        if ms is None:
            try:
                ms = parse_duration(duration, what=f'sleep duration for "{name}"')
            except DurationError as exc:
                raise WorkflowFatalError(str(exc)) from None
            if type(duration) is str:
                if len(_SLEEP_MS) >= _SLEEP_MS_KEPT:
                    _SLEEP_MS.clear()
                _SLEEP_MS[duration] = ms
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

    @journaled_step
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

    @journaled_step
    async def wait_for_event(self, name: Any, event_type: Any, timeout: Any) -> Any:
        """Execute or replay one ``step.wait_for_event``."""
        self._check_open()
        _require_name("wait_for_event", name)
        check_event_type(event_type, WorkflowFatalError, self.live.workflow.limits.event_type_length)
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
            if self._unflushed is not None and not self._unflushed.done():
                await self._flush()  # the wait's start is durable before it waits
                self._check_open()
                continue  # an event may have come meanwhile
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
            self._scheduler.progress += 1
            self.engine.refresh_activity(self.live)
        self._check_open()
