"""The sleeping-instances workload: N instances sleep 30 days (virtual), then finish one step.

Run in a subprocess per case so its peak resident memory is its own:

    python -m benchmarks.sleepers N memory|sqlite default|none|<hibernate threshold> [FULL|NORMAL]

``default`` passes no ``hibernate`` option (the emulator's default: on with SQLite, off in memory),
``none`` passes ``hibernate=None`` (never), anything else is the threshold (``"1 hour"``).
Prints one JSON line: {"create_s", "total_s", "wake_s" (from the instant every timer ends until
every instance is complete), "wake_us" (``wake_s`` per instance, in µs), "wake_cpu_s" (the process's CPU time
in the wake: on a busy machine, what the wall time would be alone), "sleeping_rss_mb" (peak
resident memory until every instance sleeps), "peak_rss_mb" (including waking them all at the same
virtual instant), "complete"}.
"""

from __future__ import annotations

import asyncio
import json
import resource
import sys
import tempfile
import time
from typing import Any

from cfwf_emulator import Emulator, WorkflowEntrypoint

BATCH = 100


class Sleeper(WorkflowEntrypoint):
    """Sleep 30 days, then one step."""

    async def run(self, event: Any, step: Any) -> Any:
        await step.sleep("nap", "30 days")

        @step.do("wake")
        async def wake() -> int:
            return 1

        return await wake()


#: The ``hibernate`` argument meaning "pass no option": the emulator's default.
DEFAULT = "default"


async def measure(count: int, storage: str, hibernate: str | None = DEFAULT) -> dict[str, Any]:
    """Create ``count`` sleepers in batches, let them all sleep, then wake them all."""
    options: dict[str, Any] = {} if hibernate == DEFAULT else {"hibernate": hibernate}
    emu = Emulator(clock="virtual", storage=storage, **options)
    emu.add_workflow("sleepers", Sleeper, binding="SLEEPERS")
    async with emu:
        began = time.perf_counter()
        for first in range(0, count, BATCH):
            batch = [{"id": f"s{index}"} for index in range(first, min(first + BATCH, count))]
            await emu.env.SLEEPERS.create_batch(batch)
            await emu.advance(0)
        create_s = time.perf_counter() - began
        await emu.advance(0)  # every instance asleep: only their timers are left
        sleeping_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        woke, woke_cpu = time.perf_counter(), time.process_time()
        await emu.run_until_idle()
        finished, wake_cpu_s = time.perf_counter(), time.process_time() - woke_cpu
        total_s, wake_s = finished - began, finished - woke
        last = await (await emu.env.SLEEPERS.get(f"s{count - 1}")).status()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "create_s": create_s,
        "total_s": total_s,
        "wake_s": wake_s,
        "wake_us": wake_s / count * 1e6,
        "wake_cpu_s": wake_cpu_s,
        "sleeping_rss_mb": sleeping_mb,
        "peak_rss_mb": peak,
        "complete": last["status"] == "complete",
    }


def main(argv: list[str]) -> None:
    """Parse the arguments, run one case, print its JSON line."""
    count, store, threshold = int(argv[0]), argv[1], argv[2]
    synchronous = argv[3] if len(argv) > 3 else "FULL"
    with tempfile.TemporaryDirectory() as scratch:
        storage = "memory" if store == "memory" else f"sqlite:///{scratch}/state.db?synchronous={synchronous}"
        result = asyncio.run(measure(count, storage, None if threshold == "none" else threshold))
    print(json.dumps(result))


if __name__ == "__main__":
    main(sys.argv[1:])
