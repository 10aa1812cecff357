"""Observers (``emu.register`` / ``emu.hooks.register``) watch instances and cannot change them.

An observer that raises is reported as an ``ObserverWarning`` naming the hook and the observer;
the instance, and the other observers, go on as if nothing happened. A hook that reports a state
fires only once that state is committed, so a process killed inside the hook never undoes (or
re-runs) what the hook reported. Events reach observers in the order they happened, on SQLite
(group commit) exactly as in memory.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from cfwf_emulator import Emulator, ObserverWarning, VirtualClock, WorkflowEntrypoint
from cfwf_emulator.hooks import hookimpl

START_MS = 1_767_225_600_000.0  # 2026-01-01T00:00:00Z
HOOKS = [
    "cfwf_instance_status_changed",
    "cfwf_step_start",
    "cfwf_step_attempt",
    "cfwf_step_end",
    "cfwf_sleep_start",
    "cfwf_sleep_end",
    "cfwf_event_wait_start",
    "cfwf_event_wait_end",
]
FLAKY_CALLS: list[int] = []


class Everything(WorkflowEntrypoint):
    """A step that fails once, a sleep, an event wait and a last step: every hook fires."""

    async def run(self, event: Any, step: Any) -> Any:
        @step.do("work", config={"retries": {"limit": 1, "delay": "1 second"}})
        def flaky() -> dict[str, int]:
            FLAKY_CALLS.append(1)
            if len(FLAKY_CALLS) == 1:
                raise RuntimeError("first attempt fails")
            return {"v": 1}

        first = await flaky()
        await step.sleep("nap", "10 minutes")
        received = await step.wait_for_event("approval", "go", timeout="1 hour")

        @step.do("last")
        def last():
            return [first["v"], received["payload"]]

        return await last()


class Recorder:
    """Writes down every event it hears, in order."""

    def __init__(self) -> None:
        self.events: list[tuple[Any, ...]] = []

    @hookimpl
    def cfwf_instance_status_changed(self, instance_id: str, old: str | None, new: str, at: float) -> None:
        self.events.append(("status", old, new, at))

    @hookimpl
    def cfwf_step_start(self, name: str, count: int, at: float) -> None:
        self.events.append(("step_start", name, count, at))

    @hookimpl
    def cfwf_step_attempt(self, name: str, attempt: int, success: bool, retry_delay_ms: float | None, at: float) -> None:
        self.events.append(("step_attempt", name, attempt, success, retry_delay_ms, at))

    @hookimpl
    def cfwf_step_end(self, name: str, success: bool, output: Any, at: float) -> None:
        self.events.append(("step_end", name, success, output, at))

    @hookimpl
    def cfwf_sleep_start(self, name: str, until: float, at: float) -> None:
        self.events.append(("sleep_start", name, until, at))

    @hookimpl
    def cfwf_sleep_end(self, name: str, at: float) -> None:
        self.events.append(("sleep_end", name, at))

    @hookimpl
    def cfwf_event_wait_start(self, name: str, event_type: str, until: float, at: float) -> None:
        self.events.append(("wait_start", name, event_type, until, at))

    @hookimpl
    def cfwf_event_wait_end(self, name: str, timed_out: bool, at: float) -> None:
        self.events.append(("wait_end", name, timed_out, at))


class Broken:
    """An observer whose hook named ``failing`` raises (the others do nothing)."""

    def __init__(self, failing: str) -> None:
        self.failing = failing

    def _hear(self, hook: str) -> None:
        if hook == self.failing:
            raise RuntimeError(f"observer trouble in {hook}")

    @hookimpl
    def cfwf_instance_status_changed(self) -> None:
        self._hear("cfwf_instance_status_changed")

    @hookimpl
    def cfwf_step_start(self) -> None:
        self._hear("cfwf_step_start")

    @hookimpl
    def cfwf_step_attempt(self) -> None:
        self._hear("cfwf_step_attempt")

    @hookimpl
    def cfwf_step_end(self) -> None:
        self._hear("cfwf_step_end")

    @hookimpl
    def cfwf_sleep_start(self) -> None:
        self._hear("cfwf_sleep_start")

    @hookimpl
    def cfwf_sleep_end(self) -> None:
        self._hear("cfwf_sleep_end")

    @hookimpl
    def cfwf_event_wait_start(self) -> None:
        self._hear("cfwf_event_wait_start")

    @hookimpl
    def cfwf_event_wait_end(self) -> None:
        self._hear("cfwf_event_wait_end")


def storage_for(kind: str, tmp_path: Path) -> str:
    return "memory" if kind == "memory" else f"sqlite:///{tmp_path}/s.db"


async def run_everything(emu: Emulator) -> tuple[dict[str, Any], dict[str, Any]]:
    FLAKY_CALLS.clear()
    emu.add_workflow("everything", Everything, binding="EVERYTHING")
    async with emu:
        inst = await emu.env.EVERYTHING.create(id="e")
        await asyncio.wait_for(emu.advance("20 minutes"), 10)
        await inst.send_event(type="go", payload="yes")
        await asyncio.wait_for(emu.run_until_idle(), 10)
        return await inst.status(), await inst.describe()


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
@pytest.mark.parametrize("hook", HOOKS)
async def test_an_observer_that_raises_is_reported_and_changes_nothing(tmp_path: Path, kind: str, hook: str) -> None:
    emu = Emulator(clock=VirtualClock(START_MS), storage=storage_for(kind, tmp_path))
    recorder = Recorder()
    emu.register(Broken(hook), name="broken-observer")
    emu.register(recorder)
    with pytest.warns(ObserverWarning) as caught:
        status, described = await run_everything(emu)
    assert status == {"status": "complete", "output": [1, "yes"]}
    assert [s["success"] if s["type"] == "step" else s["finished"] for s in described["steps"]] == [True] * 4
    assert len(FLAKY_CALLS) == 2
    message = str(caught[0].message)
    assert "'broken-observer'" in message and "Broken" in message
    assert f"raised RuntimeError in {hook}: observer trouble in {hook}" in message
    assert {type(w.message) for w in caught} == {ObserverWarning}
    # the other observer heard everything
    assert ("status", "running", "complete", START_MS + 20 * 60_000) in recorder.events
    assert sum(1 for e in recorder.events if e[0] == "step_end") == 2


async def test_observers_registered_on_emu_hooks_hear_events_until_unregistered() -> None:
    emu = Emulator(clock=VirtualClock(START_MS))
    recorder = Recorder()
    emu.hooks.register(recorder)
    emu.add_workflow("everything", Everything, binding="EVERYTHING")
    async with emu:
        FLAKY_CALLS.clear()
        inst = await emu.env.EVERYTHING.create(id="e")
        await asyncio.wait_for(emu.advance("20 minutes"), 10)
        assert ("step_end", "work", True, {"v": 1}, START_MS + 1_000) in recorder.events
        emu.hooks.unregister(recorder)
        heard = len(recorder.events)
        await inst.send_event(type="go", payload="yes")
        await asyncio.wait_for(emu.run_until_idle(), 10)
        assert (await inst.status())["status"] == "complete"
    assert len(recorder.events) == heard


async def test_events_reach_observers_in_the_same_order_on_sqlite_as_in_memory(tmp_path: Path) -> None:
    heard = {}
    for kind in ("memory", "sqlite"):
        emu = Emulator(clock=VirtualClock(START_MS), storage=storage_for(kind, tmp_path))
        recorder = Recorder()
        emu.register(recorder)
        status, _ = await run_everything(emu)
        assert status == {"status": "complete", "output": [1, "yes"]}
        heard[kind] = recorder.events
    assert heard["sqlite"] == heard["memory"]
    kinds = [e[0] if e[0] != "status" else f"status:{e[2]}" for e in heard["memory"]]
    assert kinds == [
        "status:queued", "status:running",
        "step_start", "step_attempt", "status:waiting", "status:running", "step_attempt", "step_end",
        "sleep_start", "status:waiting", "status:running", "sleep_end",
        "wait_start", "status:waiting", "status:running", "wait_end",
        "step_start", "step_attempt", "step_end",
        "status:complete",
    ]


# -- a process killed inside a hook ------------------------------------------------------------

KILLED_RUN = textwrap.dedent(
    """
    import asyncio, json, os, sys
    from cfwf_emulator import Emulator, VirtualClock, WorkflowEntrypoint
    from cfwf_emulator.hooks import hookimpl

    db, calls_file, kill_in = sys.argv[1:4]

    class Flow(WorkflowEntrypoint):
        async def run(self, event, step):
            config = {"retries": {"limit": 3, "delay": "1 second", "backoff": "constant"}}

            @step.do("work", config=config)
            def work():
                with open(calls_file, "a") as calls:
                    calls.write("call\\n")
                with open(calls_file) as calls:
                    if calls.read().count("call") == 1:
                        raise RuntimeError("first call fails")
                return "worked"

            return await work()

    class Killer:
        @hookimpl
        def cfwf_step_attempt(self, name, success):
            if kill_in == "cfwf_step_attempt" and not success:
                os._exit(17)

        @hookimpl
        def cfwf_step_end(self, name):
            if kill_in == "cfwf_step_end":
                os._exit(17)

    async def main():
        emu = Emulator(clock=VirtualClock(1767225600000), storage=f"sqlite:///{db}")
        emu.add_workflow("flow", Flow)
        emu.register(Killer())
        async with emu:
            try:
                inst = await emu.env.FLOW.get("i")
            except Exception:
                inst = await emu.env.FLOW.create(id="i")
            await emu.run_until_idle()
            print(json.dumps({"status": await inst.status(), "describe": await inst.describe()}))

    asyncio.run(main())
    """
)


@pytest.mark.parametrize("hook", ["cfwf_step_attempt", "cfwf_step_end"])
def test_a_process_killed_inside_a_hook_keeps_what_the_hook_reported(tmp_path: Path, hook: str) -> None:
    script = tmp_path / "killed_run.py"
    script.write_text(KILLED_RUN)
    db, calls = tmp_path / "s.db", tmp_path / "calls.txt"
    killed = subprocess.run(
        [sys.executable, str(script), str(db), str(calls), hook], capture_output=True, text=True, timeout=60
    )
    assert killed.returncode == 17, killed.stderr
    resumed = subprocess.run(
        [sys.executable, str(script), str(db), str(calls), "nowhere"], capture_output=True, text=True, timeout=60
    )
    assert resumed.returncode == 0, resumed.stderr
    result = json.loads(resumed.stdout)
    assert result["status"] == {"status": "complete", "output": "worked"}
    (step,) = result["describe"]["steps"]
    # the failed attempt keeps its own error (not "interrupted"), and no attempt ran twice
    assert [a["error"]["name"] if a["error"] else None for a in step["attempts"]] == ["RuntimeError", None]
    assert calls.read_text().count("call") == 2
