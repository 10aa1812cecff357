"""The lifecycle's transitions table lists every status change the engine makes: observers hear
only changes from the table through create, sleep, events, timeouts, pause (also while a step
attempt is in flight), resume, terminate, restart and completion."""

from __future__ import annotations

import asyncio
from typing import Any

from cfwf_emulator import Emulator, WorkflowEntrypoint
from cfwf_emulator.engine.lifecycle import TRANSITIONS
from cfwf_emulator.hooks import hookimpl

GATE: dict[str, asyncio.Event] = {}


class Journey(WorkflowEntrypoint):
    """Sleeps, runs a step that waits for the test's gate, then waits for an event."""

    async def run(self, event: Any, step: Any) -> Any:
        await step.sleep("nap", "1 hour")

        @step.do("gated")
        async def gated() -> int:
            await GATE["open"].wait()
            return 1

        await gated()
        received = await step.wait_for_event("wait", "go", timeout="1 hour")
        return received["payload"]


class Changes:
    """Records every status change observers hear."""

    def __init__(self) -> None:
        self.seen: list[tuple[str | None, str]] = []

    @hookimpl
    def cfwf_instance_status_changed(self, old: str | None, new: str) -> None:
        self.seen.append((old, new))


async def status_of(instance: Any) -> str:
    status: str = (await instance.status())["status"]
    return status


async def test_every_status_change_is_in_the_transitions_table() -> None:
    GATE["open"] = asyncio.Event()
    changes = Changes()
    emu = Emulator(clock="virtual")
    emu.register(changes)
    emu.add_workflow("journey", Journey, binding="JOURNEY")
    async with emu:
        first = await emu.env.JOURNEY.create(id="first")
        await emu.settle()  # asleep: waiting
        await first.pause()
        await first.resume()
        await emu.settle()
        await first.terminate()
        await first.restart()
        await emu.advance("1 hour")  # the nap ends: the gated step is in flight
        await first.pause()
        assert await status_of(first) == "waitingForPause"
        await first.resume()
        await first.pause()
        GATE["open"].set()
        await emu.settle()
        assert await status_of(first) == "paused"
        await first.resume()
        await emu.run_until_idle()  # the nap is replayed, the wait times out: errored
        assert await status_of(first) == "errored"
        second = await emu.env.JOURNEY.create(id="second")
        await second.send_event(type="go", payload=2)
        await emu.run_until_idle()
        assert await second.status() == {"status": "complete", "output": 2}
    assert set(changes.seen) <= TRANSITIONS, sorted(set(changes.seen) - TRANSITIONS, key=str)
    assert {
        (None, "queued"), ("running", "waiting"), ("waiting", "paused"), ("paused", "queued"),
        ("waiting", "terminated"), ("terminated", "queued"), ("running", "waitingForPause"),
        ("waitingForPause", "running"), ("waitingForPause", "paused"), ("running", "errored"),
        ("running", "complete"),
    } <= set(changes.seen)
