"""An emulator owning a state file in its own process, driven line by line on stdin.

``python -m tests.data.owner_process PATH`` starts an emulator (virtual clock at ``MADE_AT``) on
the state file ``PATH`` with the workflows of :mod:`tests.data.state_v1`, creates ``mailbox/m1``
and lets it doze its hour, so that it waits for a ``msg`` event, then prints ``ready``. Each
line it then reads is a command, answered with one line once its effect is committed:

- ``create ID``: creates ``quick/ID`` (params ``{"n": 1}``) and runs it to completion; ``created ID``;
- ``quit`` (or the end of stdin): stops the emulator and exits.
"""

from __future__ import annotations

import asyncio
import sys

from tests.data.state_v1 import emulator


async def main(path: str) -> None:
    """Own ``path`` until told to quit (see the module docstring)."""
    loop = asyncio.get_running_loop()
    async with emulator(f"sqlite:///{path}") as emu:
        await emu.env.MAILBOX.create(id="m1", params={"who": "m1"})
        await emu.advance("61 minutes")
        print("ready", flush=True)
        while True:
            command = (await loop.run_in_executor(None, sys.stdin.readline)).split()
            if not command or command[0] == "quit":
                break
            if command[0] == "create":
                await emu.env.QUICK.create(id=command[1], params={"n": 1})
                await emu.advance(0)
                print(f"created {command[1]}", flush=True)
            else:
                print(f"unknown command {command!r}", flush=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
