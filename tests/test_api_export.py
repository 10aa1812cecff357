"""``emu.api.export``: an instance's journal as JSON-ready data (what ``cfwf replay`` reads)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from cfwf_emulator import Emulator, VirtualClock, WorkflowEntrypoint, WorkflowError
from cfwf_emulator.api import JOURNAL_FORMAT

START_MS = 1_767_225_600_000.0


class Journaled(WorkflowEntrypoint):
    async def run(self, event: Any, step: Any) -> Any:
        @step.do("secret", config={"sensitive": "output"})
        async def secret() -> Any:
            return {"token": "t-1"}

        token = await secret()
        await step.sleep("nap", "1 hour")
        approval = await step.wait_for_event("approval", "approve", timeout="1 day")
        return {"token": token["token"], "ok": approval["payload"]["ok"]}


def emulator(storage: str = "memory", **options: Any) -> Emulator:
    emu = Emulator(clock=VirtualClock(START_MS), storage=storage, **options)
    emu.add_workflow("journaled", Journaled, binding="JOURNALED")
    return emu


async def test_export_holds_every_step_in_order_with_real_results() -> None:
    emu = emulator()
    async with emu:
        await emu.api.create("journaled", "j-1", {"n": 1})
        await emu.advance("2 hours")  # past the nap, not past the wait's timeout
        waiting = await emu.api.export("journaled", "j-1")
        await emu.api.send_event("journaled", "j-1", "approve", {"ok": True})
        await emu.run_until_idle()
        done = await emu.api.export("journaled", "j-1")
    assert [(s["type"], s["name"], s["count"], s["state"]) for s in waiting["steps"]] == [
        ("do", "secret", 1, "ok"), ("sleep", "nap", 1, "ok"), ("waitForEvent", "approval", 1, "waiting"),
    ]
    assert waiting["status"] == "waiting" and waiting["output"] is None
    assert done["format"] == JOURNAL_FORMAT and (done["workflow"], done["id"]) == ("journaled", "j-1")
    assert done["params"] == {"n": 1} and done["status"] == "complete" and done["output"] == {"token": "t-1", "ok": True}
    assert done["steps"][0]["result"] == {"token": "t-1"}  # the real value, not "[REDACTED]"
    assert done["steps"][2]["event_type"] == "approve" and done["steps"][2]["result"]["payload"] == {"ok": True}
    assert json.loads(json.dumps(done)) == done  # JSON-ready


async def test_export_of_an_unknown_instance_and_from_an_inspector(tmp_path: Path) -> None:
    storage = f"sqlite:///{tmp_path / 'state.db'}"
    emu = emulator(storage)
    async with emu:
        await emu.api.create("journaled", "j-2")
        await emu.advance("2 hours")
        with pytest.raises(WorkflowError) as caught:
            await emu.api.export("journaled", "nope")
        assert caught.value.code == "instance.not_found"
        inspector = emulator(storage, mode="inspect")  # while the owner still runs
        async with inspector:
            seen = await inspector.api.export("journaled", "j-2")
    assert [step["name"] for step in seen["steps"]] == ["secret", "nap", "approval"]
