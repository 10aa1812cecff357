"""The workflows of ``state-v1.sqlite3``, a state file written by schema version 1, and how it was made.

The file was made by ``python -m tests.data.state_v1 tests/data/state-v1.sqlite3`` on the code of
commit 3b04e35 (the last with schema version 1, where buffered events lived inside each
instance's JSON header). ``tests/test_state_file.py`` opens it with the current code and checks
that everything survived the upgrade. What it holds, when the virtual clock read ``MADE_AT`` + 62 minutes:

- ``mailbox/m1`` (created at + 61 minutes): asleep in ``doze`` until + 121 minutes, with four
  buffered events: ``msg`` 1, ``other`` "x", ``msg`` 2, ``msg`` 3;
- ``mailbox/m2``: awake, waiting for its first ``msg`` (no buffered event);
- ``sleeper/s1``: step ``before`` done, asleep in ``nap`` until + 1 day;
- ``quick/q1``: complete, output 8.
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any

from cfwf_emulator import Emulator, VirtualClock, WorkflowEntrypoint

MADE_AT = 1_767_225_600_000.0  # 2026-01-01T00:00:00Z


class Mailbox(WorkflowEntrypoint):
    """Dozes 1 hour, then takes three ``msg`` events, oldest first."""

    async def run(self, event: Any, step: Any) -> Any:
        await step.sleep("doze", "1 hour")
        got = []
        for index in range(3):
            message = await step.wait_for_event(f"msg {index}", "msg", timeout="1 day")
            got.append(message["payload"])
        return got


class Sleeper(WorkflowEntrypoint):
    """One step, a 1-day nap, then done."""

    async def run(self, event: Any, step: Any) -> Any:
        @step.do("before")
        def before_step():
            return "b"

        before = await before_step()
        await step.sleep("nap", "1 day")
        return {"before": before, "woke": True}


class Quick(WorkflowEntrypoint):
    """Adds one to its ``n`` param in a step."""

    async def run(self, event: Any, step: Any) -> Any:
        @step.do("add")
        def add():
            return event["payload"]["n"] + 1

        return await add()


WORKFLOWS = {"mailbox": Mailbox, "sleeper": Sleeper, "quick": Quick}


def emulator(storage: Any, at: float = MADE_AT, **options: Any) -> Emulator:
    """An emulator on ``storage`` with the three workflows, its virtual clock at ``at``."""
    emu = Emulator(clock=VirtualClock(at, autojump=False), storage=storage, **options)
    for name, cls in WORKFLOWS.items():
        emu.add_workflow(name, cls, binding=name.upper())
    return emu


async def make(path: str) -> None:
    """Write the state file described above to ``path``."""
    async with emulator(f"sqlite:///{path}") as emu:
        m2 = await emu.env.MAILBOX.create(id="m2", params={"who": "m2"})
        await emu.env.SLEEPER.create(id="s1")
        await emu.env.QUICK.create(id="q1", params={"n": 7})
        await emu.advance("61 minutes")  # m2 has dozed and waits for its first msg
        m1 = await emu.env.MAILBOX.create(id="m1")
        await emu.advance("1 minute")
        for kind, payload in (("msg", 1), ("other", "x"), ("msg", 2), ("msg", 3)):
            await m1.send_event(type=kind, payload=payload)
        print(await m1.status(), await m2.status())


if __name__ == "__main__":
    asyncio.run(make(sys.argv[1]))
