"""Test modifications kept with an instance, and what the engine asks of them.

The testing API writes them (``mock_step_result``, ``disable_sleeps``, ...); the run consults
them at each step. They live in ``InstanceRecord.modifiers`` as plain JSON, so they survive
restarts and replays and persist with the instance. Shape::

    {"disable_sleeps": true | [selector, ...], "disable_retry_delays": true | [selector, ...],
     "results": {"<name>#<index>": "<json>"},
     "failures": {"<name>#<index>": [{"kind": "error" | "timeout", "error": {...}, "times": n | null}]},
     "event_timeouts": ["<name>#<index>", ...]}

A selector is ``{"name": str, "index": int}`` (index 1-based: the occurrence of that name among
steps of the same kind in one run).
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "attempt_override",
    "event_timeout_forced",
    "retry_delay_disabled",
    "sleep_disabled",
    "step_key",
]


def step_key(name: str, index: int) -> str:
    """The key of a step selector in the modifications."""
    return f"{name}#{index}"


def _selected(setting: Any, name: str, index: int) -> bool:
    if setting is True:
        return True
    if isinstance(setting, list):
        return any(item.get("name") == name and item.get("index", 1) == index for item in setting)
    return False


def sleep_disabled(modifiers: dict[str, Any], name: str, index: int) -> bool:
    """Whether the ``index``-th sleep named ``name`` completes at once."""
    return bool(modifiers) and _selected(modifiers.get("disable_sleeps"), name, index)


def retry_delay_disabled(modifiers: dict[str, Any], name: str, count: int) -> bool:
    """Whether retries of the step ``name``/``count`` wait 0 ms."""
    return bool(modifiers) and _selected(modifiers.get("disable_retry_delays"), name, count)


def event_timeout_forced(modifiers: dict[str, Any], name: str, count: int) -> bool:
    """Whether the event wait ``name``/``count`` times out as soon as it is reached."""
    return bool(modifiers) and step_key(name, count) in modifiers.get("event_timeouts", ())


def attempt_override(modifiers: dict[str, Any], name: str, count: int, attempt: int) -> tuple[str, Any] | None:
    """What replaces attempt ``attempt`` of the step ``name``/``count``, if anything.

    ``("error", {"name", "message"})``, ``("timeout", None)`` or ``("result", json_text)``.
    Mocked errors and forced timeouts share one attempt counter, in the order they were added;
    an entry without ``times`` covers every remaining attempt. A mocked result applies to the
    attempts they leave.
    """
    if not modifiers:
        return None
    key = step_key(name, count)
    covered = 0
    for failure in modifiers.get("failures", {}).get(key, ()):
        times = failure.get("times")
        if times is None or attempt <= covered + times:
            return (failure["kind"], failure.get("error"))
        covered += times
    result = modifiers.get("results", {}).get(key)
    if result is not None:
        return ("result", result)
    return None
