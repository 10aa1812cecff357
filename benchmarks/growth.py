"""Per-write cost as durable state grows: does the thousandth write cost what the first did?

Two workloads on SQLite (WAL, ``synchronous=FULL``), each timing every write on its own:

- events: ONE instance that is asleep (30 virtual days, so it waits for no event) receives
  ``count`` ``send_event`` calls; each returns once its event is durable, and every event stays
  buffered in the instance;
- KV: a project with one KV namespace on the same storage receives ``count`` ``put`` calls of
  distinct keys through ``emu.env.KV``; each returns once the value is durable.

Each run returns its total seconds and the ratio of the median per-write time of the last 10% of
the writes to that of the first 10%: about 1 when a write costs the same however much is already
stored, growing with ``count`` when each write rewrites what earlier ones stored.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cfwf_emulator import Emulator, WorkflowEntrypoint

__all__ = ["PerWrite", "Sleeper", "buffered_events", "kv_puts", "growth_ratio"]

#: the per-write cost a flat implementation stays within (last 10% / first 10%)
FLAT_RATIO = 1.5
KV_VALUE = "v" * 64


@dataclass
class PerWrite:
    """One run: total seconds and last-10%/first-10% per-write time ratio."""

    total_s: float
    ratio: float


def growth_ratio(per_write: list[float]) -> float:
    """Median per-write time of the last tenth of the writes over that of the first tenth."""
    tenth = max(1, len(per_write) // 10)
    return statistics.median(per_write[-tenth:]) / statistics.median(per_write[:tenth])


class Sleeper(WorkflowEntrypoint):
    """Sleep 30 days, then take the first buffered ``tick`` event and return its payload."""

    async def run(self, event: Any, step: Any) -> Any:
        await step.sleep("nap", "30 days")
        first = await step.wait_for_event("first tick", "tick", "1 hour")
        return first["payload"]


async def _buffered_events(count: int, state: Path) -> PerWrite:
    emu = Emulator(clock="virtual", storage=f"sqlite:///{state}")
    emu.add_workflow("sleeper", Sleeper, binding="SLEEPER")
    async with emu:
        handle = await emu.env.SLEEPER.create(id="sleeper")
        await emu.advance(0)
        assert (await handle.status())["status"] == "waiting"
        per_write = []
        began = time.perf_counter()
        for index in range(count):
            sent = time.perf_counter()
            await handle.send_event(type="tick", payload=index)
            per_write.append(time.perf_counter() - sent)
        total = time.perf_counter() - began
        await emu.advance("30 days")
        status = await handle.status()
        assert status == {"status": "complete", "output": 0}, status
    return PerWrite(total, growth_ratio(per_write))


def buffered_events(count: int, scratch: Path) -> PerWrite:
    """``count`` events sent to one sleeping instance, all buffered."""
    return asyncio.run(_buffered_events(count, scratch / "state.db"))


def _kv_project(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    config = {
        "name": "kv-bench",
        "compatibility_date": "2026-06-01",
        "kv_namespaces": [{"binding": "KV", "id": "kv-bench"}],
    }
    (root / "wrangler.json").write_text(json.dumps(config))
    return root


async def _kv_puts(count: int, scratch: Path) -> PerWrite:
    project = _kv_project(scratch / "project")
    emu = Emulator.from_config(project, clock="virtual", storage=f"sqlite:///{scratch / 'state.db'}")
    async with emu:
        kv = emu.env.KV
        per_write = []
        began = time.perf_counter()
        for index in range(count):
            put = time.perf_counter()
            await kv.put(f"key-{index:06d}", KV_VALUE)
            per_write.append(time.perf_counter() - put)
        total = time.perf_counter() - began
        assert await kv.get(f"key-{count - 1:06d}") == KV_VALUE
    return PerWrite(total, growth_ratio(per_write))


def kv_puts(count: int, scratch: Path) -> PerWrite:
    """``count`` persisted KV puts of distinct keys."""
    return asyncio.run(_kv_puts(count, scratch))
