"""The events workload: ``waiters`` instances each wait for ``per_instance`` events in a row; the
driver sends them one ``send_event`` at a time, round-robin, until every instance completes.

Timed: from the first ``send_event`` (every instance already waiting) until all are complete.
Floors: "asyncio" hands the same number of items to the same number of tasks through
``asyncio.Queue``; "sqlite" makes one commit per event (``send_event`` returns only once the
event is durable), with the same journal settings and no engine.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from cfwf_emulator import Emulator, WorkflowEntrypoint

from .floors import sqlite_commits

BATCH = 100


class Listener(WorkflowEntrypoint):
    """Wait for ``events`` events of type ``tick``, one after another; return their sum."""

    async def run(self, event: Any, step: Any) -> Any:
        total = 0
        for index in range(event["payload"]["events"]):
            received = await step.wait_for_event(f"tick {index}", "tick", "1 hour")
            total += received["payload"]
        return total


async def _emulator_events(waiters: int, per_instance: int, storage: str) -> float:
    emu = Emulator(clock="virtual", storage=storage)
    emu.add_workflow("listener", Listener, binding="LISTENER")
    loop = asyncio.get_running_loop()
    async with emu:
        for first in range(0, waiters, BATCH):
            await emu.env.LISTENER.create_batch(
                [{"id": f"w{index}", "params": {"events": per_instance}} for index in range(first, min(first + BATCH, waiters))]
            )
        await emu.advance(0)
        handles = [await emu.env.LISTENER.get(f"w{index}") for index in range(waiters)]
        began = loop.time()
        for _ in range(per_instance):
            for handle in handles:
                await handle.send_event(type="tick", payload=1)
        await emu.advance(0)
        elapsed = loop.time() - began
        for handle in (handles[0], handles[-1]):
            status = await handle.status()
            assert status == {"status": "complete", "output": per_instance}, status
    return elapsed


def run_emulator(waiters: int, per_instance: int, storage: str) -> float:
    """Seconds for the emulator to deliver every event and finish every instance."""
    return asyncio.run(_emulator_events(waiters, per_instance, storage))


async def _asyncio_events(waiters: int, per_instance: int) -> float:
    loop = asyncio.get_running_loop()
    queues: list[asyncio.Queue[int]] = [asyncio.Queue() for _ in range(waiters)]

    async def listener(queue: "asyncio.Queue[int]") -> int:
        total = 0
        for _ in range(per_instance):
            total += await queue.get()
        return total

    tasks = [asyncio.create_task(listener(queue)) for queue in queues]
    await asyncio.sleep(0)
    began = loop.time()
    for _ in range(per_instance):
        for queue in queues:
            queue.put_nowait(1)
            await asyncio.sleep(0)
    results = await asyncio.gather(*tasks)
    assert results == [per_instance] * waiters
    return loop.time() - began


def run_asyncio_floor(waiters: int, per_instance: int) -> float:
    """Seconds for plain asyncio to hand the same items to the same number of tasks."""
    return asyncio.run(_asyncio_events(waiters, per_instance))


def run_sqlite_floor(path: Path, synchronous: str, waiters: int, per_instance: int) -> float:
    """Seconds for one SQLite commit per event."""
    return sqlite_commits(path, synchronous, waiters * per_instance)
