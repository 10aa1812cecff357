"""Print the benchmark table: median, min and max of several runs, and the ratio to a floor
measured in the same run.

    python -m benchmarks            # full sizes
    python -m benchmarks --smoke    # tiny sizes (CI runs this so the command cannot rot)
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import statistics
import time
from typing import Any, Awaitable, Callable

from cfwf_emulator import Emulator, WorkflowEntrypoint


class TrivialSteps(WorkflowEntrypoint):
    """``n`` trivial steps (i -> i + 1), each a real journaled step."""

    async def run(self, event: Any, step: Any) -> Any:
        value = 0
        for index in range(event["payload"]["steps"]):
            value = await step.do(f"step {index}", lambda _ctx, v=value: v + 1)
        return value


async def _emulator_run(instances: int, steps: int) -> None:
    emu = Emulator(clock="virtual")
    emu.add_workflow("trivial", TrivialSteps, binding="TRIVIAL")
    async with emu:
        for index in range(instances):
            await emu.env.TRIVIAL.create(id=f"i{index}", params={"steps": steps})
        await emu.run_until_idle()
        last = await emu.env.TRIVIAL.get(f"i{instances - 1}")
        status = await last.status()
        assert status == {"status": "complete", "output": steps}, status


async def _asyncio_floor(instances: int, steps: int) -> None:
    async def one_step(value: int) -> int:
        return value + 1

    async def one_instance() -> int:
        value = 0
        for _ in range(steps):
            value = await one_step(value)
        return value

    await asyncio.gather(*(one_instance() for _ in range(instances)))


def _measure(make: Callable[[], Awaitable[None]], repeat: int) -> list[float]:
    times = []
    for _ in range(repeat):
        began = time.perf_counter()
        asyncio.run(make())  # type: ignore[arg-type]
        times.append(time.perf_counter() - began)
    return times


def main(argv: list[str] | None = None) -> int:
    """Run the workloads and print the table."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, one run each")
    parser.add_argument("--repeat", type=int, default=5, help="runs per workload (default 5)")
    args = parser.parse_args(argv)
    scale = 100 if args.smoke else 1
    repeat = 1 if args.smoke else args.repeat
    workloads = [
        ("100 instances x 10 steps", max(1, 100 // scale), 10),
        ("1 instance x 1,000 steps", 1, max(1, 1_000 // scale)),
        ("1 instance x 10,000 steps", 1, max(1, 10_000 // scale)),
    ]
    print(f"cfwf-emulator benchmarks on {platform.python_implementation()} {platform.python_version()}, "
          f"{platform.machine()}, memory store, virtual clock; {repeat} run(s) each")
    header = f"| {'workload':<27} | {'median s':>9} | {'min s':>9} | {'max s':>9} | {'steps/s':>9} | {'floor s':>9} | {'x floor':>8} |"
    print(header)
    print("|" + "|".join("-" * (len(part)) for part in header.split("|")[1:-1]) + "|")
    medians: dict[str, float] = {}
    for label, instances, steps in workloads:
        times = _measure(lambda: _emulator_run(instances, steps), repeat)
        floor = _measure(lambda: _asyncio_floor(instances, steps), repeat)
        median = statistics.median(times)
        floor_median = statistics.median(floor)
        medians[label] = median
        rate = instances * steps / median
        print(f"| {label:<27} | {median:>9.4f} | {min(times):>9.4f} | {max(times):>9.4f} | "
              f"{rate:>9.0f} | {floor_median:>9.5f} | {median / floor_median:>8.0f} |")
    ratio = medians["1 instance x 10,000 steps"] / medians["1 instance x 1,000 steps"]
    print(f"scaling: 10,000 steps cost {ratio:.1f}x 1,000 steps (linear would be 10x)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
