"""Print the benchmark table: median, min and max of several runs, and the ratio to a floor
measured in the same run.

    python -m benchmarks            # full sizes
    python -m benchmarks --smoke    # tiny sizes (CI runs this so the command cannot rot)

Floors: "asyncio" makes the same number of awaited calls with no engine; "sqlite" makes one
SQLite commit per step with the same journal mode and synchronous setting, and no engine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Callable

from cfwf_emulator import Emulator, WorkflowEntrypoint


class TrivialSteps(WorkflowEntrypoint):
    """``n`` trivial steps (i -> i + 1), each a real journaled step."""

    async def run(self, event: Any, step: Any) -> Any:
        value = 0
        for index in range(event["payload"]["steps"]):
            value = await step.do(f"step {index}", lambda v=value: v + 1)
        return value


async def _emulator_run(instances: int, steps: int, storage: str = "memory") -> None:
    emu = Emulator(clock="virtual", storage=storage)
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


def _sqlite_floor(path: Path, synchronous: str, instances: int, steps: int) -> None:
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode = WAL")
    db.execute(f"PRAGMA synchronous = {synchronous}")
    db.execute("CREATE TABLE steps (instance INTEGER, step INTEGER, result TEXT)")
    for instance in range(instances):
        for index in range(steps):
            db.execute("INSERT INTO steps VALUES (?, ?, ?)", (instance, index, str(index + 1)))
    db.close()


@dataclass
class Workload:
    """One row of the table."""

    label: str
    run: Callable[[Path], None]
    floor_label: str
    floor: Callable[[Path], None]
    steps: int


def _measure(make: Callable[[Path], None], repeat: int) -> list[float]:
    times = []
    for _ in range(repeat):
        with tempfile.TemporaryDirectory() as scratch:
            began = time.perf_counter()
            make(Path(scratch))
            times.append(time.perf_counter() - began)
    return times


def _memory_run(instances: int, steps: int, _scratch: Path) -> None:
    asyncio.run(_emulator_run(instances, steps))


def _memory_floor(instances: int, steps: int, _scratch: Path) -> None:
    asyncio.run(_asyncio_floor(instances, steps))


def _sqlite_run(synchronous: str, instances: int, steps: int, scratch: Path) -> None:
    storage = f"sqlite:///{scratch / 'state.db'}?synchronous={synchronous}"
    asyncio.run(_emulator_run(instances, steps, storage))


def _sqlite_floor_run(synchronous: str, instances: int, steps: int, scratch: Path) -> None:
    _sqlite_floor(scratch / "floor.db", synchronous, instances, steps)


def _workloads(scale: int) -> list[Workload]:
    rows = []
    for instances, steps in ((100, 10), (1, 1_000), (1, 10_000)):
        n, k = max(1, instances // scale), max(1, steps // scale)
        rows.append(Workload(
            f"{n} x {k:,} steps, memory", partial(_memory_run, n, k),
            "asyncio", partial(_memory_floor, n, k), n * k,
        ))
    for synchronous in ("FULL", "NORMAL"):
        for instances, steps in ((1, 1_000), (100, 10)):
            n, k = max(1, instances // scale), max(1, steps // scale)
            rows.append(Workload(
                f"{n} x {k:,} steps, SQLite WAL+{synchronous}",
                partial(_sqlite_run, synchronous, n, k),
                f"sqlite {synchronous}", partial(_sqlite_floor_run, synchronous, n, k), n * k,
            ))
    return rows


SLEEPER_CASES = (
    ("memory, no hibernation", ["memory", "none"]),
    ("memory, hibernate after 1 hour", ["memory", "1 hour"]),
    ("SQLite WAL+NORMAL, hibernate", ["sqlite", "1 hour", "NORMAL"]),
)


def _sleepers_table(count: int) -> None:
    """Each case in its own process, so peak resident memory is the case's own."""
    print(f"\n{count:,} instances sleeping 30 days (virtual), then one step; created 100 per create_batch")
    print(f"| {'case':<34} | {'create all s':>12} | {'total s':>8} | {'RSS asleep MB':>13} | {'peak RSS MB':>11} |")
    print(f"|{'-' * 36}|{'-' * 14}|{'-' * 10}|{'-' * 15}|{'-' * 13}|")
    for label, case in SLEEPER_CASES:
        done = subprocess.run(
            [sys.executable, "-m", "benchmarks.sleepers", str(count), *case],
            capture_output=True, text=True, check=False,
        )
        if done.returncode != 0:
            print(f"| {label:<34} | failed: {done.stderr.strip().splitlines()[-1] if done.stderr else done.returncode} |")
            continue
        result = json.loads(done.stdout)
        print(
            f"| {label:<34} | {result['create_s']:>12.2f} | {result['total_s']:>8.2f} | "
            f"{result['sleeping_rss_mb']:>13.0f} | {result['peak_rss_mb']:>11.0f} |"
        )
    print()


def main(argv: list[str] | None = None) -> int:
    """Run the workloads and print the table."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, one run each")
    parser.add_argument("--repeat", type=int, default=5, help="runs per workload (default 5)")
    args = parser.parse_args(argv)
    scale = 100 if args.smoke else 1
    repeat = 1 if args.smoke else args.repeat
    print(
        f"cfwf-emulator benchmarks on CPython {platform.python_version()}, {platform.machine()}, "
        f"virtual clock; {repeat} run(s) each; median / min / max seconds"
    )
    header = (
        f"| {'workload':<36} | {'median':>8} | {'min':>8} | {'max':>8} | {'steps/s':>8} | "
        f"{'floor':<13} | {'floor s':>8} | {'x floor':>7} |"
    )
    print(header)
    print("|" + "|".join("-" * len(part) for part in header.split("|")[1:-1]) + "|")
    medians: dict[str, float] = {}
    for row in _workloads(scale):
        times = _measure(row.run, repeat)
        floor = statistics.median(_measure(row.floor, repeat))
        median = statistics.median(times)
        medians[row.label] = median
        print(
            f"| {row.label:<36} | {median:>8.4f} | {min(times):>8.4f} | {max(times):>8.4f} | "
            f"{row.steps / median:>8.0f} | {row.floor_label:<13} | {floor:>8.4f} | "
            f"{median / floor:>7.1f} |"
        )
    _sleepers_table(100 if args.smoke else 100_000)
    small = next(label for label in medians if label.startswith("1 x") and label.endswith("memory"))
    large = [label for label in medians if label.startswith("1 x") and label.endswith("memory")][-1]
    print(f"scaling: '{large}' costs {medians[large] / medians[small]:.1f}x '{small}'")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
