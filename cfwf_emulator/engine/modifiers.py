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

from typing import Any, Iterable

from ..errors import did_you_mean
from ..selection import key_name, selects, step_key

__all__ = [
    "attempt_override",
    "event_timeout_forced",
    "misspelt_selectors",
    "retry_delay_disabled",
    "sleep_disabled",
    "unknown_step",
]

#: How messages name each step kind of the journal.
KIND_LABELS = {"do": "step.do", "sleep": "sleep", "waitForEvent": "wait_for_event"}



def sleep_disabled(modifiers: dict[str, Any], name: str, index: int) -> bool:
    """Whether the ``index``-th sleep named ``name`` completes at once."""
    return bool(modifiers) and selects(modifiers.get("disable_sleeps"), name, index)


def retry_delay_disabled(modifiers: dict[str, Any], name: str, count: int) -> bool:
    """Whether retries of the step ``name``/``count`` wait 0 ms."""
    return bool(modifiers) and selects(modifiers.get("disable_retry_delays"), name, count)


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


def unknown_step(kind: str, name: str, journal: Iterable[tuple[str, str, int]]) -> str | None:
    """``None`` when a step of ``kind`` named ``name`` is in ``journal`` (its ``(kind, name,
    count)`` keys); else what to tell the user: that none ran, and the closest names that did."""
    names = {step_name for step_kind, step_name, _ in journal if step_kind == kind}
    if name in names:
        return None
    label = KIND_LABELS.get(kind, kind)
    ran = f"; the {label} steps that ran: {', '.join(repr(n) for n in sorted(names))}" if names else ""
    return f"no {label} named {name!r} ran in this instance{did_you_mean(name, names)}{ran}"


def _selector_names(modifiers: dict[str, Any]) -> list[tuple[str, str, str]]:
    """``(modifier, kind, name)`` for every step a modification selects by name."""
    found: list[tuple[str, str, str]] = []
    for modifier, kind in (("disable_sleeps", "sleep"), ("disable_retry_delays", "do")):
        setting = modifiers.get(modifier)
        if isinstance(setting, list):
            found += [(modifier, kind, item.get("name", "")) for item in setting]
    for modifier, keys, kind in (
        ("mock_step_result", modifiers.get("results", {}), "do"),
        ("mock_step_error / force_step_timeout", modifiers.get("failures", {}), "do"),
        ("force_event_timeout", modifiers.get("event_timeouts", ()), "waitForEvent"),
    ):
        found += [(modifier, kind, key_name(key)) for key in keys]
    return found


def misspelt_selectors(modifiers: dict[str, Any], journal: Iterable[tuple[str, str, int]]) -> list[str]:
    """One message per modification whose step name never ran while a close name did (a typo,
    most likely: the modification changed nothing). Names with no close match are left alone:
    a branch this run did not take looks the same."""
    if not modifiers:
        return []
    keys = list(journal)
    messages: list[str] = []
    for modifier, kind, name in dict.fromkeys(_selector_names(modifiers)):
        names = {step_name for step_kind, step_name, _ in keys if step_kind == kind}
        note = unknown_step(kind, name, keys)
        if note is not None and did_you_mean(name, names):
            messages.append(f"[WorkflowIntrospector] {modifier}({name!r}) changed nothing: {note}")
    return messages
