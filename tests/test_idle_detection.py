"""Virtual time moves only once the engine's work has stopped moving: while runs are still handing
step results through the store's group commits (several event-loop turns each, no step callback
busy), a timer due later waits, whether ``run_until_idle`` or ``drive_until`` drives time."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from cfwf_emulator import Emulator, VirtualClock, WorkflowEntrypoint

STEPS = 40
START_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z
MINUTE = 60_000


class Steady(WorkflowEntrypoint):
    """``STEPS`` trivial steps; a sleep of an hour when asked to nap."""

    async def run(self, event: Any, step: Any) -> Any:
        if event["payload"].get("nap"):
            await step.sleep("nap", "1 hour")
            return "rested"
        total = [0]
        for index in range(STEPS):

            @step.do(f"step {index}")
            async def one() -> int:
                return total[0] + 1

            total[0] = await one()
        return total[0]


@pytest.mark.parametrize("driver", ["run_until_idle", "drive_until"])
async def test_no_time_passes_while_runs_wait_for_their_commits(tmp_path: Path, driver: str) -> None:
    emu = Emulator(clock="virtual", storage=f"sqlite:///{tmp_path / 'state.db'}")
    emu.add_workflow("steady", Steady, binding="STEADY")
    async with emu:
        sleeper = await emu.env.STEADY.create(id="sleeper", params={"nap": True})
        workers = [await emu.env.STEADY.create(id=f"w{n}", params={}) for n in range(3)]
        if driver == "run_until_idle":
            await emu.run_until_idle()
        else:
            await emu.drive_until(lambda: (view := emu.api.testing.instance("steady", "sleeper")) and view.status == "complete")
        assert await sleeper.status() == {"status": "complete", "output": "rested"}
        for worker in workers:
            details = await worker.describe()
            assert details["status"] == "complete"
            assert {step["start"] for step in details["steps"]} == {details["start"]}


class Tick(WorkflowEntrypoint):
    """One step: what a cron firing runs."""

    async def run(self, event: Any, step: Any) -> Any:
        @step.do("tick")
        async def tick() -> int:
            return int(event["schedule"]["scheduledTime"])

        return await tick()


async def test_with_crons_on_commits_still_hold_time_and_run_until_idle_stops_at_the_last_real_timer(
    tmp_path: Path,
) -> None:
    emu = Emulator(clock=VirtualClock(START_MS), storage=f"sqlite:///{tmp_path / 'state.db'}", crons=True)
    emu.add_workflow("steady", Steady, binding="STEADY")
    emu.add_workflow("tick", Tick, binding="TICK", schedules="*/20 * * * *")
    async with emu:
        sleeper = await emu.env.STEADY.create(id="sleeper", params={"nap": True})
        workers = [await emu.env.STEADY.create(id=f"w{n}", params={}) for n in range(3)]
        await emu.run_until_idle()
        assert await sleeper.status() == {"status": "complete", "output": "rested"}
        for worker in workers:
            details = await worker.describe()
            assert details["status"] == "complete"
            assert {step["start"] for step in details["steps"]} == {details["start"]}
        # the cron firings on the way to the sleeper's end ran; the next one (an hour and 20
        # minutes in) keeps nothing busy: run_until_idle returned at the sleeper's deadline
        assert emu.clock.now_ms() == START_MS + 60 * MINUTE
        ticks = (await emu.api.list_instances("tick", newest_first=False))["instances"]
        assert [item["id"] for item in ticks] == [f"*/20 * * * *-{START_MS + n * 20 * MINUTE}" for n in (1, 2, 3)]
        assert {item["status"] for item in ticks} == {"complete"}
