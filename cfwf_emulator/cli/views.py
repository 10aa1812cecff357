"""Instance details in Cloudflare's Local Explorer shape (``spec/local-explorer-api.md`` §3.5).

``emu.api.describe`` is moving to exactly that shape; until it has, :func:`explorer_details`
turns the older shape (steps of type ``do`` with a separate ``count``) into it, and passes the
new shape through unchanged.
"""

from __future__ import annotations

from typing import Any

__all__ = ["EXTENSION", "explorer_details", "without_extension"]

#: The key under which ``describe`` adds what the emulator knows beyond Cloudflare.
EXTENSION = "cfwf"

_TYPES = {"do": "step", "sleep": "sleep", "waitForEvent": "waitForEvent"}


def _step(step: dict[str, Any]) -> dict[str, Any]:
    if "count" not in step:
        return step
    name = f"{step['name']}-{step['count']}"
    kind = _TYPES.get(step["type"], step["type"])
    finished = step.get("end") is not None
    if kind == "step":
        shaped: dict[str, Any] = {
            "name": name, "start": step["start"], "end": step["end"], "success": step["success"], "type": "step",
        }
        if step["success"] is True:
            shaped["output"] = step["output"]
        shaped["config"] = step.get("config")
        shaped["attempts"] = step.get("attempts", [])
        return shaped
    shaped = {
        "name": name, "start": step["start"], "end": step["end"], "finished": finished, "type": kind,
        "error": step.get("error"),
    }
    if kind == "waitForEvent":
        arrived = step.get("success") is True
        event_type = (step.get("config") or {}).get("type")
        shaped["output"] = {"type": event_type, "payload": step.get("output"), "timestamp": step["end"]} if arrived else None
    return shaped


def explorer_details(details: dict[str, Any]) -> dict[str, Any]:
    """``details`` (from ``emu.api.describe``) in the Local Explorer's shape, with no ``id``."""
    steps = [_step(step) for step in details.get("steps", [])]
    shaped = {key: value for key, value in details.items() if key not in ("id", "workflow", "steps", "step_count")}
    ordered = {key: shaped.pop(key, None) for key in ("status", "params", "queued", "start", "end", "output", "error")}
    return {**ordered, "steps": steps, "step_count": len(steps), **shaped}


def without_extension(details: dict[str, Any]) -> dict[str, Any]:
    """``details`` without the emulator's extension (instance and steps): exactly wrangler's keys."""
    steps = [{key: value for key, value in step.items() if key != EXTENSION} for step in details["steps"]]
    return {**{key: value for key, value in details.items() if key != EXTENSION}, "steps": steps}
