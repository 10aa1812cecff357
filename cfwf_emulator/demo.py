"""The main job: run the shipped order workflow on the embedded default (memory, virtual clock).

    python -m cfwf_emulator.demo

It prints every status change, attempt, sleep and event wait as it happens, stamped with the
virtual time elapsed, then the instance's step timeline.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from .emulator import Emulator
from .examples.orders import OrderWorkflow
from .hooks import hookimpl


def _clock(ms: float) -> str:
    seconds = ms / 1000
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"+{int(hours):02d}:{int(minutes):02d}:{secs:06.3f}"


class ProgressPrinter:
    """Prints engine events with the virtual time elapsed since the demo started."""

    def __init__(self, start_ms: float) -> None:
        self.start_ms = start_ms

    def _say(self, at: float, instance_id: str, text: str) -> None:
        print(f"[{_clock(at - self.start_ms)}] {instance_id}: {text}", flush=True)

    @hookimpl
    def cfwf_instance_status_changed(self, instance_id: str, old: str | None, new: str, at: float) -> None:
        """Print a status change."""
        self._say(at, instance_id, f"status {old or '(new)'} -> {new}")

    @hookimpl
    def cfwf_step_attempt(
        self, instance_id: str, name: str, attempt: int, success: bool, error: Any,
        retry_delay_ms: float | None, at: float,
    ) -> None:
        """Print the outcome of an attempt."""
        if success:
            self._say(at, instance_id, f'step "{name}" attempt {attempt} succeeded')
        else:
            then = f"retrying in {retry_delay_ms / 1000:g}s" if retry_delay_ms is not None else "giving up"
            self._say(at, instance_id, f'step "{name}" attempt {attempt} failed: {error["name"]}: {error["message"]} ({then})')

    @hookimpl
    def cfwf_sleep_start(self, instance_id: str, name: str, until: float, at: float) -> None:
        """Print a sleep."""
        self._say(at, instance_id, f'sleep "{name}" for {(until - at) / 1000:g}s')

    @hookimpl
    def cfwf_event_wait_start(self, instance_id: str, name: str, event_type: str, at: float) -> None:
        """Print an event wait."""
        self._say(at, instance_id, f'waiting for a "{event_type}" event ("{name}")')

    @hookimpl
    def cfwf_event_wait_end(self, instance_id: str, event_type: str, timed_out: bool, at: float) -> None:
        """Print the end of an event wait."""
        self._say(at, instance_id, f'"{event_type}" event {"timed out" if timed_out else "received"}')


async def main() -> dict[str, Any]:
    """Run one order to completion and return its final status."""
    began = time.perf_counter()
    emu = Emulator(clock="virtual")
    emu.add_workflow("order-workflow", OrderWorkflow, binding="ORDERS")
    emu.register(ProgressPrinter(emu.clock.now_ms()))
    async with emu:
        instance = await emu.env.ORDERS.create(id="order-7", params={"order_id": 7, "amount": 4200})
        await emu.advance("2 hours")
        print(f"after 2 virtual hours: {await instance.status()}")
        print("sending the approval event ...")
        await instance.send_event(type="approved", payload={"by": "alice"})
        await emu.run_until_idle()
        status: dict[str, Any] = await instance.status()
        details = await instance.describe()
    print(f"final status: {status}")
    print("timeline:")
    for step in details["steps"]:
        called = step["cfwf"]  # the kind and name as the workflow called it
        tries = ""
        if step["type"] == "step":
            attempts = len(step["attempts"])
            tries = f", {attempts} attempt{'s' if attempts != 1 else ''}"
        print(f"  {called['type']:<12} {called['name']:<18} {step['start']} -> {step['end']}{tries}")
    print(f"{_clock(emu.clock.now_ms() - details_start_ms(details))} of workflow time in "
          f"{time.perf_counter() - began:.3f} s of real time")
    return status


def details_start_ms(details: dict[str, Any]) -> float:
    """The instance's queue time in epoch ms, from describe()'s ISO string."""
    from datetime import datetime

    return datetime.fromisoformat(details["queued"].replace("Z", "+00:00")).timestamp() * 1000


if __name__ == "__main__":
    final = asyncio.run(main())
    raise SystemExit(0 if final["status"] == "complete" else 1)
