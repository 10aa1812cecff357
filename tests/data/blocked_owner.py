"""An emulator owning a state file in its own process, its instances blocked inside a step.

``python -m tests.data.blocked_owner STATE MARKS`` starts an emulator (real clock) on the state
file ``STATE`` with the workflow ``blocked`` and prints ``ready``. Each line it then reads is a
command, answered with one line:

- ``create ID``: creates ``blocked/ID``, which completes its step ``prepare`` and then blocks in
  its step ``block``, whose callback first appends a line to the file ``MARKS/ID`` (the side
  effect: one line per time the callback ran); ``blocked ID`` once that line is written;
- ``quit`` (or the end of stdin): stops the emulator and exits.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

from cfwf_emulator import Emulator, WorkflowEntrypoint

#: Set by the ``block`` step of each instance once its side effect is written, by instance id.
BLOCKED: dict[str, asyncio.Event] = {}


class Blocked(WorkflowEntrypoint):
    """Prepares, then blocks for good in a step with a side effect."""

    async def run(self, event: Any, step: Any) -> Any:
        instance_id = event["instanceId"]

        @step.do("prepare")
        async def prepare() -> dict[str, Any]:
            return {"n": event["payload"]["n"]}

        await prepare()

        @step.do("block", config={"timeout": "1 hour"})
        async def block() -> None:
            with (Path(self.env.MARKS) / instance_id).open("a") as marks:
                marks.write("ran\n")
            BLOCKED.setdefault(instance_id, asyncio.Event()).set()
            await asyncio.Event().wait()  # never set: the step stays in flight

        await block()


async def main(state: str, marks: str) -> None:
    """Own ``state`` until told to quit (see the module docstring)."""
    loop = asyncio.get_running_loop()
    emu = Emulator(storage=f"sqlite:///{state}", vars={"MARKS": marks})
    emu.add_workflow("blocked", Blocked)
    async with emu:
        print("ready", flush=True)
        while True:
            command = (await loop.run_in_executor(None, sys.stdin.readline)).split()
            if not command or command[0] == "quit":
                break
            if command[0] == "create":
                instance_id = command[1]
                await emu.env.BLOCKED.create(id=instance_id, params={"n": 1})
                await BLOCKED.setdefault(instance_id, asyncio.Event()).wait()
                print(f"blocked {instance_id}", flush=True)
            else:
                print(f"unknown command {command!r}", flush=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
