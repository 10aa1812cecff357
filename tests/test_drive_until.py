"""``Emulator.drive_until``: the one drive loop every waiter uses, and its real-seconds timeout."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from cfwf_emulator import Emulator, StalledError, VirtualClock, WorkflowEntrypoint
from cfwf_emulator.testing import introspect_workflow_instance

START_MS = 1_767_225_600_000.0  # 2026-01-01T00:00:00Z, the `emu` fixture's start

DAY_MS = 86_400_000


class Sleeper(WorkflowEntrypoint):
    async def run(self, event: Any, step: Any) -> str:
        await step.sleep("a week", "7 days")
        return "rested"


class QuickSleeper(WorkflowEntrypoint):
    async def run(self, event: Any, step: Any) -> str:
        await step.sleep("a moment", 50)  # ms: with the real clock this is a real 50 ms
        return "rested"


class Approval(WorkflowEntrypoint):
    async def run(self, event: Any, step: Any) -> Any:
        decision = await step.wait_for_event("approval", "go", timeout="1 hour")
        return decision["payload"]


def blocked_on_real_io(gate: asyncio.Event) -> type:
    class Blocked(WorkflowEntrypoint):
        async def run(self, event: Any, step: Any) -> str:
            @step.do("io")
            async def io() -> str:
                await gate.wait()  # stands for real I/O: no timer of the emulator will end it
                return "answered"

            return str(await io())

    return Blocked


async def status_of(emu: Emulator, workflow: str, instance_id: str) -> str:
    return str((await emu.api.status(workflow, instance_id))["status"])


def completed(emu: Emulator, workflow: str, instance_id: str) -> Any:
    """A predicate: the instance's view once it is complete."""

    def check() -> Any:
        view = emu.api.testing.instance(workflow, instance_id)
        return view if view is not None and view.status == "complete" else None

    return check


async def test_drive_until_jumps_virtual_time_and_returns_the_predicates_value(emu):
    emu.add_workflow("sleeper", Sleeper, binding="W")
    async with emu:
        await emu.env.W.create(id="s")
        started = time.monotonic()
        view = await emu.drive_until(completed(emu, "sleeper", "s"))
        assert time.monotonic() - started < 2.0
        assert view.status == "complete"
        assert view.output == "rested"
        assert emu.clock.now_ms() == START_MS + 7 * DAY_MS


async def test_drive_until_returns_at_once_when_the_predicate_already_holds(emu):
    emu.add_workflow("sleeper", Sleeper, binding="W")
    async with emu:
        await emu.env.W.create(id="s")
        assert await emu.drive_until(lambda: "yes") == "yes"
        assert emu.clock.now_ms() == START_MS  # nothing had to run first: time did not move


async def test_drive_until_raises_stalled_when_nothing_can_progress(emu):
    emu.add_workflow("sleeper", Sleeper, binding="W")
    async with emu:
        handle = await emu.env.W.create(id="s")
        await emu.drive_until(lambda: emu.api.testing.pending_steps("sleeper", "s"))
        await handle.pause()
        started = time.monotonic()
        with pytest.raises(StalledError) as info:
            await emu.drive_until(completed(emu, "sleeper", "s"))
        assert time.monotonic() - started < 2.0
        assert "nothing can progress" in str(info.value)
        assert await status_of(emu, "sleeper", "s") == "paused"


async def test_an_exception_of_the_predicate_reaches_the_caller(emu):
    emu.add_workflow("sleeper", Sleeper, binding="W")

    def impatient() -> bool:
        raise LookupError("gave up")

    async with emu:
        await emu.env.W.create(id="s")
        with pytest.raises(LookupError, match="gave up"):
            await emu.drive_until(impatient)
        assert await emu.drive_until(completed(emu, "sleeper", "s"))  # the emulator drives on


@pytest.mark.parametrize("clock", ["virtual", "real"])
async def test_timeout_counts_real_seconds_while_a_step_waits_for_real_io(clock):
    gate = asyncio.Event()
    emu = Emulator(clock=VirtualClock(START_MS) if clock == "virtual" else "real")
    emu.add_workflow("blocked", blocked_on_real_io(gate), binding="W")
    async with emu:
        await emu.env.W.create(id="b")
        started = time.monotonic()
        with pytest.raises(TimeoutError):
            await emu.drive_until(completed(emu, "blocked", "b"), timeout=0.2)
        elapsed = time.monotonic() - started
        assert 0.19 <= elapsed < 3.0, f"timed out after {elapsed:.3f} s of real time"
        gate.set()  # the timeout harmed nothing: the instance finishes once its I/O answers
        view = await emu.drive_until(completed(emu, "blocked", "b"), timeout=10)
        assert view.output == "answered"


@pytest.mark.parametrize("timeout", [-1, float("nan"), float("inf"), True, "1"])
async def test_timeout_must_be_a_finite_number_of_seconds(emu, timeout):
    with pytest.raises(ValueError, match="timeout is a number of real seconds >= 0"):
        await emu.drive_until(lambda: True, timeout=timeout)


async def test_with_the_real_clock_it_waits_for_the_next_timer():
    emu = Emulator(clock="real")
    emu.add_workflow("quick", QuickSleeper, binding="W")
    async with emu:
        await emu.env.W.create(id="q")
        started = time.monotonic()
        view = await emu.drive_until(completed(emu, "quick", "q"), timeout=10)
        assert view.output == "rested"
        assert 0.04 <= time.monotonic() - started < 5.0


async def test_real_clock_waiters_on_different_instances_do_not_block_each_other():
    """A waiter waiting for real time lets the others drive meanwhile.

    The first waiter waits for an event that is sent only once the second waiter is done.
    """
    emu = Emulator(clock="real")
    emu.add_workflow("approval", Approval, binding="A")
    emu.add_workflow("quick", QuickSleeper, binding="Q")
    async with emu:
        async with introspect_workflow_instance(emu.env.A, "a") as approval, introspect_workflow_instance(
            emu.env.Q, "q"
        ) as quick:
            handle = await emu.env.A.create(id="a", params={})
            await emu.env.Q.create(id="q")

            async def approve_once_the_sleeper_is_done() -> None:
                await quick.wait_for_status("complete", timeout=5)
                await handle.send_event(type="go", payload="approved")

            started = time.monotonic()
            await asyncio.gather(
                approval.wait_for_status("complete", timeout=5), approve_once_the_sleeper_is_done()
            )
            assert time.monotonic() - started < 4.0
            assert await approval.get_output() == "approved"


async def test_run_until_idle_and_drive_until_agree_on_idle(emu):
    emu.add_workflow("approval", Approval, binding="W")
    async with emu:
        await emu.env.W.create(id="a")
        await emu.run_until_idle()  # the event wait times out after an hour of virtual time
        assert await status_of(emu, "approval", "a") == "errored"
        assert emu.clock.now_ms() == START_MS + 3_600_000
        with pytest.raises(StalledError):
            await emu.drive_until(lambda: False)

