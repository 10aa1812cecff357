"""``describe()``: an instance record shaped as Cloudflare's Local Explorer API shows it.

The shapes are in :mod:`cfwf_emulator.views`; how Cloudflare builds them is miniflare's
``local-explorer/resources/workflows.ts`` (``executeGetInstanceDetails``) over the step logs that
workflows-shared's ``context.ts`` writes: a step's ``name`` is ``"<name>-<count>"``, a ``step.do``'s
``output`` is present only once it succeeded with a value (``"[REDACTED]"`` when configured
``sensitive: "output"``), its ``config`` is the effective config (``"[dynamic]"`` for a delay
function). What the emulator adds goes under ``"cfwf"``. A failed attempt's Python traceback
shows in ``step["cfwf"]["attempts"][i]["traceback"]`` once the engine keeps one in the attempt's
record under ``"traceback"``.
"""

from __future__ import annotations

from typing import Any, cast

from ..serialization import decode, iso_from_ms
from ..views import (
    AttemptDetails,
    AttemptExtension,
    DoStepDetails,
    ErrorDetails,
    EventDetails,
    InstanceDetails,
    InstanceExtension,
    RetriesDetails,
    SleepStepDetails,
    StepConfigDetails,
    StepDetails,
    StepExtension,
    WaitStepDetails,
)
from .records import InstanceRecord, StepRecord

__all__ = ["REDACTED", "describe_instance", "describe_step"]

#: What ``describe()`` shows for the output of a step configured with ``sensitive: "output"``.
REDACTED = "[REDACTED]"
#: What Cloudflare logs as the ``delay`` of a step whose retry delay is a function.
DYNAMIC_DELAY = "[dynamic]"


def describe_instance(record: InstanceRecord) -> InstanceDetails:
    """The instance's details with its step timeline, in execution order."""
    steps = [describe_step(step) for step in sorted(record.steps.values(), key=lambda s: s.seq)]
    error = record.error if record.status == "errored" else None
    return InstanceDetails(
        status=record.status,
        params=decode(record.params),
        queued=iso_from_ms(record.queued_ms),
        start=iso_from_ms(record.start_ms),
        end=iso_from_ms(record.end_ms),
        output=decode(record.output) if record.output is not None else None,
        error=_error(error) if error is not None else None,
        steps=steps,
        step_count=len(steps),
        cfwf=InstanceExtension(workflow=record.workflow, id=record.id),
    )


def describe_step(step: StepRecord) -> StepDetails:
    """One journaled step in Cloudflare's shape for its kind."""
    start = iso_from_ms(step.start_ms) or ""
    end = iso_from_ms(step.end_ms)
    extension = _extension(step)
    if step.kind == "sleep":
        return SleepStepDetails(
            name=f"{step.name}-{step.count}", start=start, end=end, finished=step.state == "ok",
            type="sleep", error=None, cfwf=extension,
        )
    if step.kind == "waitForEvent":
        return WaitStepDetails(
            name=f"{step.name}-{step.count}", start=start, end=end, finished=step.state in ("ok", "error"),
            type="waitForEvent", error=_error(step.error) if step.error else None,
            output=_event(step.result) if step.state == "ok" and step.result is not None else None,
            cfwf=extension,
        )
    return _do_step(step, start, end, extension)


def _do_step(step: StepRecord, start: str, end: str | None, extension: StepExtension) -> DoStepDetails:
    success = None if step.state in ("running", "waiting") else step.state == "ok"
    config = _config(step.config)
    details: dict[str, Any] = {"name": f"{step.name}-{step.count}", "start": start, "end": end, "success": success, "type": "step"}
    if success and step.result is not None:
        output = REDACTED if config is not None and config.get("sensitive") == "output" else decode(step.result)
        if output is not None:  # Cloudflare's ``result ?? undefined``: no key for a null result
            details["output"] = output
    details.update(config=config, attempts=[_attempt(attempt) for attempt in step.attempts], cfwf=extension)
    return cast(DoStepDetails, details)


def _config(config: dict[str, Any] | None) -> StepConfigDetails | None:
    """The effective config as Cloudflare logs it: ``retries`` (limit, backoff, delay), ``timeout``,
    then ``sensitive`` when set."""
    if config is None:
        return None
    retries = config["retries"]
    shaped = StepConfigDetails(
        retries=RetriesDetails(
            limit=retries["limit"],
            backoff=retries.get("backoff", "exponential"),
            delay=retries.get("delay", DYNAMIC_DELAY),
        ),
        timeout=config["timeout"],
    )
    if "sensitive" in config:
        shaped["sensitive"] = config["sensitive"]
    return shaped


def _attempt(attempt: dict[str, Any]) -> AttemptDetails:
    return AttemptDetails(
        start=iso_from_ms(attempt["start"]) or "",
        end=iso_from_ms(attempt["end"]),
        success=attempt["success"],
        error=_error(attempt["error"]) if attempt["error"] else None,
    )


def _event(result: str) -> EventDetails:
    data = decode(result)
    return EventDetails(type=data["type"], payload=data["payload"], timestamp=iso_from_ms(data["timestamp"]) or "")


def _error(error: dict[str, Any]) -> ErrorDetails:
    return ErrorDetails(name=error["name"], message=error["message"])


def _extension(step: StepRecord) -> StepExtension:
    waits = step.kind == "waitForEvent"
    return StepExtension(
        name=step.name,
        count=step.count,
        type=cast(Any, step.kind),
        until=iso_from_ms(step.deadline_ms),
        event_type=(step.config or {}).get("type") if waits else None,
        error=_error(step.error) if step.error else None,
        attempts=[AttemptExtension(traceback=attempt.get("traceback")) for attempt in step.attempts],
    )
