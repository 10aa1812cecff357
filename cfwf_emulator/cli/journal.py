"""``cfwf replay``: run an exported journal's instance again on the current code and find the
first place it differs (as Temporal's Replayer does with a workflow history).

The replay runs in a fresh in-memory emulator on virtual time: each recorded ``step.do`` returns
its recorded result (or fails with its recorded error) without running its callback, recorded
events are delivered, sleeps and retry delays pass at once. A step the journal does not have runs
its real code, as in a test. The first step whose kind, name or use count differs from the
journal's is reported; then, for a finished journal, a different ending (status or the shape of
the output).
"""

from __future__ import annotations

import warnings
from typing import Any

from ..emulator import Emulator
from ..testing import introspect_workflow_instance

__all__ = ["replay_journal", "shape"]

_CALLS = {"do": "step.do", "sleep": "step.sleep", "waitForEvent": "step.wait_for_event"}


def shape(value: Any) -> Any:
    """The JSON shape of ``value``: its keys and the kinds of its values, never the values."""
    if isinstance(value, dict):
        return {key: shape(item) for key, item in sorted(value.items())}
    if isinstance(value, list):
        return [shape(value[0])] if value else []
    if isinstance(value, bool) or value is None:
        return type(value).__name__
    if isinstance(value, (int, float)):
        return "number"
    return type(value).__name__


def _label(step: dict[str, Any]) -> str:
    use = f" (use {step['count']} of that name)" if step["count"] > 1 else ""
    return f'{_CALLS.get(step["type"], step["type"])}("{step["name"]}"){use}'


def _setup(journal: dict[str, Any]) -> Any:
    def setup(modifier: Any) -> None:
        modifier.disable_sleeps()
        modifier.disable_retry_delays()
        for step in journal["steps"]:
            selector = {"name": step["name"], "index": step["count"]}
            if step["type"] == "do" and step["state"] == "ok":
                modifier.mock_step_result(selector, step["result"])
            elif step["type"] == "do" and step["state"] == "error" and step.get("error"):
                modifier.mock_step_error(selector, step["error"])
            elif step["type"] == "waitForEvent" and step["state"] == "ok" and step.get("event_type"):
                result = step.get("result") or {}
                modifier.mock_event({"type": step["event_type"], "payload": result.get("payload")})

    return setup


def compare(recorded: dict[str, Any], replayed: dict[str, Any]) -> str | None:
    """The first difference between a journal and its replay, in words; None when they agree."""
    new_steps = replayed["steps"]
    for number, step in enumerate(recorded["steps"], 1):
        if number > len(new_steps):
            return f"step {number}: the journal has {_label(step)}, which the current code no longer reaches (it ends {replayed['status']})"
        now = new_steps[number - 1]
        if (now["type"], now["name"], now["count"]) != (step["type"], step["name"], step["count"]):
            return f"step {number}: the journal has {_label(step)}, the current code calls {_label(now)}"
        if step["state"] in ("running", "waiting"):
            return None  # the journal was exported mid-step: nothing after it to compare
    if recorded["status"] not in ("complete", "errored"):
        return None
    if len(new_steps) > len(recorded["steps"]):
        extra = new_steps[len(recorded["steps"])]
        return f"step {len(recorded['steps']) + 1}: the current code goes on with {_label(extra)} where the journal ended"
    if replayed["status"] != recorded["status"]:
        error = replayed.get("error") or {}
        why = f" ({error.get('name')}: {error.get('message')})" if error else ""
        return f"the journal ended {recorded['status']}, the current code ends {replayed['status']}{why}"
    if recorded["status"] == "complete" and shape(recorded["output"]) != shape(replayed["output"]):
        return f"the output's shape differs: the journal's is {shape(recorded['output'])}, now {shape(replayed['output'])}"
    return None


async def replay_journal(emulator: Emulator, journal: dict[str, Any]) -> str | None:
    """Replay ``journal`` on ``emulator`` (a fresh one of the project, virtual clock); the first
    difference in words, or None."""
    workflow = journal["workflow"]
    bindings = {config.name: config.binding for config in emulator.project.workflows}
    if workflow not in bindings:
        return f"the project has no workflow {workflow!r} any more (it has {', '.join(bindings) or 'none'})"
    binding = emulator.env[bindings[workflow]]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # a mock the new code never uses: reported as a difference
        return await _replay(emulator, binding, journal)


async def _replay(emulator: Emulator, binding: Any, journal: dict[str, Any]) -> str | None:
    workflow = journal["workflow"]
    async with emulator:
        async with introspect_workflow_instance(binding, journal["id"]) as instance:
            await instance.modify(_setup(journal))
            await binding.create(id=journal["id"], params=journal["params"])
            await emulator.run_until_idle()
            replayed = await emulator.api.export(workflow, journal["id"])
    return compare(journal, replayed)
