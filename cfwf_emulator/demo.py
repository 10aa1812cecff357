"""The main job: run the shipped order workflow on the embedded default (memory, virtual clock).

    python -m cfwf_emulator.demo

It prints every status change, attempt, step output, sleep and event wait as it happens, stamped
with the virtual time elapsed, then the instance's step timeline. A failed attempt shows where the
user's code raised (a step that fails for good: its whole traceback); the output of a step
configured with ``sensitive: "output"`` shows as ``[REDACTED]``.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import time
from typing import Any

from .api import LocalTestingAPI
from .emulator import Emulator
from .examples.orders import OrderWorkflow
from .hooks import hookimpl


def _clock(ms: float) -> str:
    seconds = ms / 1000
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"+{int(hours):02d}:{int(minutes):02d}:{secs:06.3f}"


#: Shown instead of the output of a step configured with ``sensitive: "output"``.
REDACTED = "[REDACTED]"
_FRAME = re.compile(r'^  File "(?P<file>[^"]+)", line (?P<line>\d+), in (?P<func>.+)$', re.MULTILINE)


def raised_at(traceback: str) -> str | None:
    """``"file:line in function"`` of the innermost frame of a traceback, or None."""
    frames = _FRAME.findall(traceback)
    if not frames:
        return None
    file, line, func = frames[-1]
    return f"{_shown_path(file)}:{line} in {func}"


def _shown_path(file: str) -> str:
    try:
        return os.path.relpath(file)
    except ValueError:  # another drive (Windows)
        return file


class ProgressPrinter:
    """Prints engine events with the virtual time elapsed since the demo started.

    Step outputs are shown, except those of steps configured with ``sensitive: "output"``
    (``[REDACTED]``; also, without ``testing``, those of steps begun before a restart). Given ``testing`` (``emu.api.testing``), a failed attempt also shows where
    the user's code raised, and a step that fails for good its whole Python traceback.
    """

    def __init__(self, start_ms: float, testing: LocalTestingAPI | None = None) -> None:
        self.start_ms = start_ms
        self.testing = testing
        #: Per step seen starting: whether its output is sensitive.
        self.sensitive: dict[tuple[str, str, str, int], bool] = {}

    def _say(self, at: float, instance_id: str, text: str) -> None:
        print(f"[{_clock(at - self.start_ms)}] {instance_id}: {text}", flush=True)

    def _traceback(self, workflow: str, instance_id: str, name: str, count: int, attempt: int) -> str | None:
        if self.testing is None:
            return None
        attempts = self.testing.step_attempts(workflow, instance_id, name, count)
        return attempts[attempt - 1].traceback if len(attempts) >= attempt else None

    @hookimpl
    def cfwf_step_start(self, workflow: str, instance_id: str, name: str, count: int, config: dict[str, Any]) -> None:
        """Note whether the step's output is sensitive."""
        self.sensitive[(workflow, instance_id, name, count)] = config.get("sensitive") == "output"

    @hookimpl
    def cfwf_step_end(
        self, workflow: str, instance_id: str, name: str, count: int, success: bool, output: Any, at: float
    ) -> None:
        """Print a step's output (redacted when sensitive)."""
        if not success:
            return
        key = (workflow, instance_id, name, count)
        sensitive = self.sensitive.pop(key, None)
        if sensitive is None:
            sensitive = self._sensitive_in_journal(*key)
        shown = REDACTED if sensitive else json.dumps(output, default=repr)
        self._say(at, instance_id, f'step "{name}" returned {shown}')

    def _sensitive_in_journal(self, workflow: str, instance_id: str, name: str, count: int) -> bool:
        """For a step whose start this printer did not see (it began before a restart): whether
        its config says ``sensitive: "output"``; without the testing API, assume it does."""
        if self.testing is None:
            return True
        for step in self.testing.describe(workflow, instance_id)["steps"]:
            called = step["cfwf"]
            if step["type"] == "step" and (called["name"], called["count"]) == (name, count):
                return step["config"] is not None and step["config"].get("sensitive") == "output"
        return True

    @hookimpl
    def cfwf_instance_status_changed(self, instance_id: str, old: str | None, new: str, at: float) -> None:
        """Print a status change."""
        self._say(at, instance_id, f"status {old or '(new)'} -> {new}")

    @hookimpl
    def cfwf_step_attempt(
        self, workflow: str, instance_id: str, name: str, count: int, attempt: int, success: bool,
        error: Any, retry_delay_ms: float | None, at: float,
    ) -> None:
        """Print the outcome of an attempt; for a failure, where it was raised."""
        if success:
            self._say(at, instance_id, f'step "{name}" attempt {attempt} succeeded')
            return
        then = f"retrying in {retry_delay_ms / 1000:g}s" if retry_delay_ms is not None else "giving up"
        self._say(at, instance_id, f'step "{name}" attempt {attempt} failed: {error["name"]}: {error["message"]} ({then})')
        trace = self._traceback(workflow, instance_id, name, count, attempt)
        if trace is None:
            return
        if retry_delay_ms is not None:
            where = raised_at(trace)
            if where is not None:
                self._say(at, instance_id, f"  raised at {where}")
        else:
            print("".join(f"    {line}\n" for line in trace.rstrip("\n").splitlines()), end="", flush=True)

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
    emu.register(ProgressPrinter(emu.clock.now_ms(), emu.api.testing))
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
