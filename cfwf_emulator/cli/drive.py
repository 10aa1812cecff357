"""Running what a write command affected, with a live progress line on a terminal.

Offline, the emulator keeps Cloudflare's real clock: a write command runs instances until each
one is finished, paused, or waiting (for a sleep, a retry delay or an event), then returns. What
waits for time stays ``waiting`` in the state file; the next write command (or ``cfwf dev``)
runs whatever has fallen due by then.
"""

from __future__ import annotations

import asyncio
from typing import Any

from .output import Output
from .session import Session

__all__ = ["run_affected"]

#: How often the progress line is redrawn, in real seconds.
REFRESH_S = 0.1


async def _current_step(emulator: Session, workflow: str, instance_id: str) -> str:
    steps: list[Any] = list((await emulator.api.describe(workflow, instance_id))["steps"])
    if not steps:
        return ""
    unfinished = [step for step in steps if step.get("end") is None]
    return str((unfinished or steps)[-1].get("name", ""))


async def _progress_text(emulator: Session, targets: list[tuple[str, str]]) -> str:
    if len(targets) != 1:
        return f"running {len(targets)} instances"
    workflow, instance_id = targets[0]
    if not await emulator.api.exists(workflow, instance_id):
        return f"{instance_id}: deleted"
    status = (await emulator.api.status(workflow, instance_id))["status"]
    step = await _current_step(emulator, workflow, instance_id)
    return f"{instance_id}  {status}" + (f"  step: {step}" if step else "")


async def run_affected(emulator: Session, out: Output, targets: list[tuple[str, str]]) -> None:
    """Run every instance until none can go on without time passing or outside input.

    ``targets`` (``(workflow, id)``) are shown on the progress line, drawn on stderr only when it
    is a terminal, and erased when done.
    """
    task = asyncio.ensure_future(emulator.run_until_idle())
    if not (targets and out.stderr.isatty()):
        await task
        return
    shown = 0
    try:
        while True:
            text = await _progress_text(emulator, targets)
            out.stderr.write("\r" + text.ljust(shown) + "\x1b[K")
            out.stderr.flush()
            shown = len(text)
            if task.done():
                break
            await asyncio.wait({task}, timeout=REFRESH_S)
        out.stderr.write("\n")
    finally:
        if not task.done():
            task.cancel()
    await task
