"""``instances describe`` for a person: the instance, then each step as a readable timeline.

Laid out as ``wrangler workflows instances describe`` does, plus what the emulator knows beyond
it, read from the ``cfwf`` extension of the details when present: a failing attempt's traceback
and when a sleep or an event wait ends.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any, Mapping

from .output import Output
from .tables import distance, labelled, local_time, table

__all__ = ["STATUS_LABELS", "render_instance", "status_line"]

#: How wrangler shows each status.
STATUS_LABELS = {
    "complete": "✅ Completed",
    "errored": "❌ Errored",
    "paused": "⏸️ Paused",
    "queued": "⌛ Queued",
    "running": "▶ Running",
    "terminated": "🚫 Terminated",
    "waiting": "⏰ Waiting",
    "waitingForPause": "⏱️ Waiting for Pause",
}
_STEP_TYPES = {"step": "🎯 Step", "sleep": "💤 Sleeping", "waitForEvent": "👀 Waiting for event"}
#: What a pending step's timer (``cfwf.until``) means, by step type.
_UNTIL = {"step": "Retries At", "sleep": "Wakes At", "waitForEvent": "Times Out At"}


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _times(item: Mapping[str, Any]) -> dict[str, str]:
    values: dict[str, str] = {}
    if item.get("start"):
        values["Start"] = local_time(item["start"])
    if item.get("end"):
        values["End"] = local_time(item["end"])
    if item.get("start"):
        values["Duration"] = distance(item["start"], item.get("end") or _now())
    return values


def _last_successful(steps: list[dict[str, Any]]) -> str | None:
    last = None
    for step in steps:
        if (step["type"] == "step" and step.get("success") is True) or (step["type"] == "sleep" and step.get("end")):
            last = step["name"]
    return last


def _instance_header(out: Output, workflow: str, instance_id: str, details: Mapping[str, Any]) -> str:
    values = {"Workflow Name": workflow, "Instance Id": instance_id,
              "Status": STATUS_LABELS.get(details["status"], "❓ Unknown")}
    if details.get("queued"):
        values["Queued"] = local_time(details["queued"])
    values.update(_times(details))
    last = _last_successful(details.get("steps", []))
    if last is not None:
        values["Last Successful Step"] = last
    error = details.get("error")
    if error:
        values["Error"] = out.red(f"{error.get('name')}: {error.get('message')}")
    return labelled(values)


def _output_text(value: Any, limit: int) -> str:
    text = value if isinstance(value, str) and value == "[REDACTED]" else json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return text[:limit] + "[...output truncated]" if len(text) > limit else text


def _step_values(step: dict[str, Any], show_output: bool, limit: int) -> dict[str, str]:
    values = {"Name": step["name"], "Type": _STEP_TYPES.get(step["type"], "❓ Unknown"), **_times(step)}
    extension = step.get("cfwf") or {}
    if step["type"] == "step":
        success = step.get("success")
        values["Success"] = "▶ Running" if success is None else ("✅ Yes" if success else "❌ No")
    if step["type"] == "waitForEvent" and extension.get("event_type"):
        values["Event Type"] = str(extension["event_type"])
    until = extension.get("until")
    if until and not step.get("end"):
        values[_UNTIL[step["type"]]] = local_time(until)
    if step.get("error"):
        values["Error"] = f"{step['error'].get('name')}: {step['error'].get('message')}"
    if show_output and step["type"] in ("step", "waitForEvent") and "output" in step:
        values["Output"] = _output_text(step["output"], limit)
    return values


def _attempts_table(out: Output, attempts: list[dict[str, Any]]) -> str:
    with_errors = any(attempt.get("error") for attempt in attempts)
    headers = ["Start", "End", "Duration", "State"] + (["Error"] if with_errors else [])
    rows = []
    for attempt in attempts:
        state = "🔄 Working" if attempt.get("success") is None else ("✅ Success" if attempt["success"] else "❌ Error")
        row = [
            local_time(attempt["start"]) if attempt.get("start") else "",
            local_time(attempt["end"]) if attempt.get("end") else "",
            distance(attempt["start"], attempt.get("end") or _now()) if attempt.get("start") else "",
            state,
        ]
        if with_errors:
            error = attempt.get("error")
            row.append(out.red(f"{error.get('name')}: {error.get('message')}") if error else "")
        rows.append(row)
    return table(headers, rows)


def _traceback(step: dict[str, Any]) -> str | None:
    """The Python traceback of the step's last failed attempt, when the engine kept one."""
    for attempt in reversed((step.get("cfwf") or {}).get("attempts") or []):
        if attempt.get("traceback"):
            return str(attempt["traceback"])
    return None


def render_instance(
    out: Output, workflow: str, instance_id: str, details: Mapping[str, Any], *, show_output: bool, limit: int,
    root: str | None = None,
) -> None:
    """Print the instance's details and its step timeline (file paths in tracebacks relative to
    ``root``, the project's directory, when given)."""
    out.line("Describing latest instance:")
    out.line(_instance_header(out, workflow, instance_id, details))
    out.line(out.bold("Steps:"))
    for step in details.get("steps", []):
        out.line()
        out.line(labelled(_step_values(step, show_output, limit), indent=2))
        if step["type"] == "step" and step.get("attempts"):
            out.line(_attempts_table(out, step["attempts"]))
        trace = _traceback(step) if step["type"] == "step" and step.get("success") is not True else None
        if trace:
            if root:
                trace = trace.replace(f'File "{root.rstrip("/")}/', 'File "')
            out.line("  Traceback of the failing attempt:")
            out.line("\n".join("    " + line for line in trace.rstrip().splitlines()))


def status_line(details: Mapping[str, Any]) -> str:
    """``Status: ⏰ Waiting``, and for a waiting instance what it waits for, when the details say."""
    text = f"Status: {STATUS_LABELS.get(details['status'], details['status'])}"
    if details["status"] != "waiting":
        return text
    for step in reversed(details.get("steps", [])):
        extension = step.get("cfwf") or {}
        if step.get("end") is not None or not extension:
            continue
        until = f" until {local_time(extension['until'])}" if extension.get("until") else ""
        if step["type"] == "waitForEvent":
            return f'{text} for an event of type "{extension.get("event_type")}" ({step["name"]}){until}'
        if step["type"] == "sleep":
            return f"{text}: {step['name']} sleeps{until}"
        return f"{text}: {step['name']} retries{until.replace(' until', ' at')}"
    return text
