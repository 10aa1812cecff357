"""Virtual time moves only once the engine's work has stopped moving: while runs are still handing
step results through the store's group commits (several event-loop turns each, no step callback
busy), a timer due later waits, whether ``run_until_idle`` or ``drive_until`` drives time."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from cfwf_emulator import Emulator, WorkflowEntrypoint

STEPS = 40


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
