"""The ``cfwf`` command line on a big state file: the wall time of a cold process (interpreter
start, imports, config load, one query) for ``instances list`` and ``instances describe``.

    python -m benchmarks.cli 10000 3          # 10,000 instances, 3 runs per command
    python -m benchmarks.cli 10000 3 --peer   # and below them the wrangler peer on as many

The wrangler peer (:mod:`benchmarks.cli_wrangler`) also runs from ``python -m benchmarks``.
"""

from __future__ import annotations

import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from cfwf_emulator import Emulator

CONFIG = """{
  "name": "bench-service",
  "main": "src/entry.py",
  "compatibility_date": "2026-06-01",
  "compatibility_flags": ["python_workers"],
  "workflows": [{"name": "bench", "binding": "BENCH", "class_name": "BenchWorkflow"}]
}
"""
SOURCE = '''from workers import WorkflowEntrypoint


class BenchWorkflow(WorkflowEntrypoint):
    async def run(self, event, step):
        @step.do("one")
        async def one():
            return {"n": event["payload"]["n"]}

        first = await one()

        @step.do("two")
        async def two():
            return first["n"] + 1

        return await two()
'''
COMMANDS = (
    ("cfwf workflows instances list bench", ["workflows", "instances", "list", "bench"]),
    ("cfwf workflows instances list bench --json", ["workflows", "instances", "list", "bench", "--json"]),
    ("cfwf workflows instances describe bench latest", ["workflows", "instances", "describe", "bench", "latest"]),
    ("cfwf workflows list (baseline: no instance read)", ["workflows", "list"]),
)


async def _fill(root: Path, count: int) -> None:
    state = root / ".cfwf" / "state"
    state.mkdir(parents=True)
    emulator = Emulator.from_config(root, storage=f"sqlite:///{state / 'workflows.sqlite3'}", clock="virtual")
    async with emulator:
        for start in range(0, count, 100):
            batch = [{"id": f"i{n}", "params": {"n": n}} for n in range(start, min(count, start + 100))]
            await emulator.api.create_batch("bench", batch)
        await emulator.run_until_idle()


def build(root: Path, count: int) -> None:
    """A project under ``root`` whose state holds ``count`` completed two-step instances."""
    (root / "src").mkdir(parents=True)
    (root / "wrangler.jsonc").write_text(CONFIG, encoding="utf-8")
    (root / "src" / "entry.py").write_text(SOURCE, encoding="utf-8")
    asyncio.run(_fill(root, count))


def time_command(root: Path, args: list[str]) -> float:
    """Wall seconds of one cold ``cfwf`` process running ``args`` in ``root``."""
    began = time.perf_counter()
    subprocess.run([str(Path(sys.executable).with_name("cfwf")), *args], cwd=root, check=True, capture_output=True)
    return time.perf_counter() - began


def table(count: int, repeat: int, peer: str | None = None) -> dict[str, float]:
    """Print the table for a state of ``count`` instances; the median seconds per command.

    ``peer``: None runs the wrangler peer (:mod:`benchmarks.cli_wrangler`) on as many instances
    and prints its rows below; otherwise the reason it is not run, printed in its row."""
    print(f"\ncfwf on a state file of {count:,} instances: wall time of a cold process (s)")
    print(f"| {'command':<62} | {'median s':>8} | {'min s':>6} | {'max s':>6} |")
    print(f"|{'-' * 64}|{'-' * 10}|{'-' * 8}|{'-' * 8}|")
    figures = {}
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch) / "project"
        build(root, count)
        for label, args in COMMANDS:
            values = [time_command(root, args) for _ in range(repeat)]
            figures[label] = statistics.median(values)
            print(f"| {label:<62} | {figures[label]:>8.3f} | {min(values):>6.3f} | {max(values):>6.3f} |", flush=True)
    for row in _peer_rows(count, repeat, peer):
        print(row, flush=True)
    return figures


def _peer_rows(count: int, repeat: int, reason: str | None) -> list[str]:
    if reason is None:
        try:
            from . import cli_wrangler
        except ImportError as exc:
            reason = f"not run ({exc})"
        else:
            return cli_wrangler.rows(count, repeat)
    return [f"| {'wrangler workflows instances ... --local':<62} | {reason} |"]


if __name__ == "__main__":
    numbers = [arg for arg in sys.argv[1:] if arg != "--peer"]
    table(int(numbers[0]) if numbers else 10_000, int(numbers[1]) if len(numbers) > 1 else 3,
          None if "--peer" in sys.argv[1:] else "not run (add --peer, or python -m benchmarks.cli_wrangler)")
