"""The failure report: every instance of every emulator a failed test created, as a step timeline.

One block per instance::

    order-workflow/o-1: errored (NonRetryableError: no quantity)  params={"qty": 0}
      mocked: result of charge#1; error of reserve#1 x2; sleeps disabled: all
      do "reserve" #1  2026-01-01T00:00:00.000Z -> 2026-01-01T00:00:10.000Z  failed  [mocked error x2]
        attempt 1  2026-01-01T00:00:00.000Z -> 2026-01-01T00:00:00.000Z  Error: boom

Under a step's last attempt, when it failed, the Python traceback of its failure (from the user's
code on; a mocked error has none). The output of a step configured with ``sensitive: "output"``
shows as ``[REDACTED]``.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from cfwf_emulator.selection import selects, step_key

if TYPE_CHECKING:
    from cfwf_emulator import Emulator
    from cfwf_emulator.api import StepDetails

__all__ = ["REDACTED", "SECTION", "format_emulators"]

SECTION = "cfwf instances"
#: Shown instead of the output of a step configured with ``sensitive: "output"``.
REDACTED = "[REDACTED]"
_WIDTH = 160


def _short(value: Any) -> str:
    try:
        text = json.dumps(value, default=repr, ensure_ascii=False)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= _WIDTH else text[: _WIDTH - 3] + "..."


def _error(error: Any) -> str:
    if not error:
        return ""
    return f"{error.get('name', 'Error')}: {error.get('message', '')}"


def _selection(setting: Any) -> str:
    if setting is True:
        return "all"
    return ", ".join(step_key(item.get("name"), item.get("index", 1)) for item in setting or ())


def _mocks(modifiers: dict[str, Any]) -> tuple[list[str], dict[tuple[str, str], list[str]]]:
    """A summary line's parts, and per (step type, "name#count") the mock tags."""
    summary: list[str] = []
    tags: dict[tuple[str, str], list[str]] = {}
    for key in modifiers.get("results", {}):
        summary.append(f"result of {key}")
        tags.setdefault(("do", key), []).append("mocked result")
    for key, failures in modifiers.get("failures", {}).items():
        for failure in failures:
            times = failure.get("times")
            what = "error" if failure.get("kind") == "error" else "timeout"
            suffix = "" if times is None else f" x{times}"
            summary.append(f"{what} of {key}{suffix}")
            tags.setdefault(("do", key), []).append(f"mocked {what}{suffix}")
    for key in modifiers.get("event_timeouts", ()):
        summary.append(f"event timeout of {key}")
        tags.setdefault(("waitForEvent", key), []).append("mocked timeout")
    for event in modifiers.get("events", ()):
        summary.append(f"event {event.get('type')!r}")
    for setting, label in (("disable_sleeps", "sleeps disabled"), ("disable_retry_delays", "retry delays disabled")):
        if modifiers.get(setting):
            summary.append(f"{label}: {_selection(modifiers[setting])}")
    return summary, tags


def _outcome(step: "StepDetails") -> tuple[bool | None, Any]:
    """Whether the step succeeded (None while pending), and its output (an event's payload;
    ``describe()`` already shows a sensitive step's output as :data:`REDACTED`)."""
    if step["type"] == "step":
        return step["success"], step.get("output")
    if not step["finished"]:
        return None, None
    if step["type"] == "waitForEvent" and step["output"] is not None:
        return True, step["output"]["payload"]
    return step["error"] is None, None


def _traceback_lines(traceback: str | None) -> list[str]:
    """The failing attempt's Python traceback, indented under it."""
    return [f"      {line}" for line in (traceback or "").rstrip("\n").splitlines()]


def _step_lines(step: "StepDetails", tags: dict[tuple[str, str], list[str]], modifiers: dict[str, Any]) -> list[str]:
    own = step["cfwf"]  # the step's name, count and kind as the workflow called it
    key = step_key(own["name"], own["count"])
    marks = list(tags.get((own["type"], key), ()))
    if own["type"] == "waitForEvent":
        if any(event.get("type") == own["event_type"] for event in modifiers.get("events", ())):
            marks.append("mocked event")
    if own["type"] == "sleep" and modifiers.get("disable_sleeps"):
        if selects(modifiers["disable_sleeps"], own["name"], own["count"]):
            marks.append("mocked: sleep disabled")
    success, output = _outcome(step)
    outcome = {True: "ok", False: "failed", None: "pending"}[success]
    line = f'  {own["type"]} "{own["name"]}" #{own["count"]}  {step["start"]} -> {step["end"] or "..."}  {outcome}'
    if marks:
        line += "  [" + ", ".join(marks) + "]"
    if success and output is not None:
        config = step["config"] if step["type"] == "step" else None
        sensitive = config is not None and config.get("sensitive") == "output"
        line += f"  output={REDACTED if sensitive else _short(output)}"
    lines = [line]
    attempts = step["attempts"] if step["type"] == "step" else []
    if own["error"] and not attempts:
        lines.append(f"    error {_error(own['error'])}")
    if len(attempts) == 1 and attempts[0]["success"]:
        return lines  # one attempt that worked: the step line says it all
    for number, attempt in enumerate(attempts, 1):
        if attempt["success"]:
            status = "ok"
        elif attempt["error"]:
            status = _error(attempt["error"])
        else:
            status = "running" if attempt["end"] is None else "failed"
        lines.append(f"    attempt {number}  {attempt['start']} -> {attempt['end'] or '...'}  {status}")
    if attempts and attempts[-1]["success"] is False:
        lines.extend(_traceback_lines(own["attempts"][-1]["traceback"]))
    return lines


def _instance_lines(emulator: "Emulator", workflow: str, instance_id: str) -> list[str]:
    testing = emulator.api.testing
    details = testing.describe(workflow, instance_id)
    modifiers = testing.modifications(workflow, instance_id)
    head = f"{workflow}/{instance_id}: {details['status']}"
    if details.get("error"):
        head += f" ({_error(details['error'])})"
    elif details["status"] == "complete":
        head += f"  output={_short(details['output'])}"
    head += f"  params={_short(details['params'])}"
    summary, tags = _mocks(modifiers)
    lines = [head]
    if summary:
        lines.append("  mocked: " + "; ".join(summary))
    for step in details["steps"]:
        lines.extend(_step_lines(step, tags, modifiers))
    return lines


def _emulator_lines(emulator: "Emulator") -> list[str]:
    testing = emulator.api.testing  # synchronous reads: the test's event loop may be closed
    lines: list[str] = []
    for workflow in testing.workflow_names():
        for instance_id in testing.instance_ids(workflow):
            try:
                lines.extend(_instance_lines(emulator, workflow, instance_id))
            except Exception as exc:  # noqa: BLE001 - a report must not fail the run
                lines.append(f"{workflow}/{instance_id}: cannot describe it ({type(exc).__name__}: {exc})")
    for workflow, instance_id in testing.introspected():
        lines.append(f"{workflow}/{instance_id}: never created (introspected, modifications pending)")
    return lines


def format_emulators(emulators: list["Emulator"]) -> str:
    """The report text for ``emulators``, or "" when none has an instance."""
    blocks: list[str] = []
    for number, emulator in enumerate(emulators, 1):
        lines = _emulator_lines(emulator)
        if not lines:
            continue
        clock = "virtual" if emulator.clock.virtual else "real"
        header = f"emulator {number} ({clock} clock, now {emulator.now.isoformat(timespec='milliseconds')}Z)"
        blocks.append("\n".join([header, *lines]))
    return "\n".join(blocks)
