"""Hibernation (``Emulator(hibernate=...)``): instances that wait long leave memory and come back
by replay at their deadline or on an event; finished ones leave memory too. What is in memory is
read from the engine's ``live`` table, the only place it shows; everything else is what a user sees.
"""

from __future__ import annotations

import gc
import weakref
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from cfwf_emulator import Emulator, WorkflowEntrypoint

WOKE: dict[str, datetime] = {}
EMULATOR: list[Emulator] = []


class Napper(WorkflowEntrypoint):
    """Sleep a day, then note (in WOKE) the emulator time the next step ran at."""

    async def run(self, event: Any, step: Any) -> Any:
        await step.sleep("nap", "1 day")

        @step.do("wake")
        def wake() -> str:
            WOKE[event["instanceId"]] = EMULATOR[0].now
            return "awake"

        return await wake()


class Listener(WorkflowEntrypoint):
    """Wait up to a week for an event; return its payload."""

    async def run(self, event: Any, step: Any) -> Any:
        received = await step.wait_for_event("wait", "ping", "7 days")
        return received["payload"]


@pytest.fixture(params=["memory", "sqlite"])
def emu(request: pytest.FixtureRequest, tmp_path: Path) -> Emulator:
    storage = "memory" if request.param == "memory" else f"sqlite:///{tmp_path / 'state.db'}"
    emulator = Emulator(clock="virtual", storage=storage, hibernate="1 hour")
    emulator.add_workflow("napper", Napper, binding="NAPPER")
    emulator.add_workflow("listener", Listener, binding="LISTENER")
    WOKE.clear()
    EMULATOR[:] = [emulator]
    return emulator


def in_memory(emu: Emulator) -> int:
    return len(emu._engine.live)


async def test_a_long_sleep_leaves_memory_and_resumes_at_its_deadline(emu: Emulator) -> None:
    async with emu:
        began = emu.now
        inst = await emu.env.NAPPER.create(id="n1")
        await emu.advance("1 minute")
        assert await inst.status() == {"status": "waiting", "output": None}
        assert in_memory(emu) == 0
        await emu.run_until_idle()
        assert await inst.status() == {"status": "complete", "output": "awake"}
        assert (WOKE["n1"] - began).total_seconds() == 24 * 3600


async def test_an_event_wakes_a_hibernated_instance(emu: Emulator) -> None:
    async with emu:
        inst = await emu.env.LISTENER.create(id="l1")
        await emu.advance("2 hours")
        assert in_memory(emu) == 0
        await inst.send_event(type="ping", payload={"n": 1})
        await emu.advance(0)
        assert await inst.status() == {"status": "complete", "output": {"n": 1}}


async def test_thousands_of_sleeps_ending_together_all_resume_at_that_instant(emu: Emulator) -> None:
    count = 2_500  # more than the engine wakes in one event-loop turn
    async with emu:
        began = emu.now
        for first in range(0, count, 100):
            await emu.env.NAPPER.create_batch([{"id": f"n{index}"} for index in range(first, first + 100)])
        await emu.run_until_idle()
        assert len(WOKE) == count
        assert {(moment - began).total_seconds() for moment in WOKE.values()} == {24 * 3600}
        for index in (0, count - 1):
            assert await (await emu.env.NAPPER.get(f"n{index}")).status() == {"status": "complete", "output": "awake"}


async def test_finished_instances_leave_memory_and_stay_readable_and_restartable(emu: Emulator) -> None:
    async with emu:
        inst = await emu.env.LISTENER.create(id="l1")
        await inst.send_event(type="ping", payload="first")
        await emu.advance(0)
        assert in_memory(emu) == 0
        assert await inst.status() == {"status": "complete", "output": "first"}
        described = await inst.describe()
        assert [step["cfwf"]["name"] for step in described["steps"]] == ["wait"]
        await inst.restart()
        await inst.send_event(type="ping", payload="second")
        await emu.advance(0)
        assert await inst.status() == {"status": "complete", "output": "second"}


async def test_waiters_and_reads_of_the_testing_api_leave_a_hibernated_instance_out_of_memory(emu: Emulator) -> None:
    from cfwf_emulator.testing import IntrospectionError, introspect_workflow_instance

    async with emu:
        async with introspect_workflow_instance(emu.env.NAPPER, "n1") as intro:
            await emu.env.NAPPER.create(id="n1")
            await intro.wait_for_status("waiting")
            assert in_memory(emu) == 0
            with pytest.raises(IntrospectionError, match='status "waiting"'):
                await intro.get_output()
            assert in_memory(emu) == 0
            await intro.wait_for_status("complete")
            assert await intro.get_output() == "awake"


async def test_a_finished_run_is_freed_at_once_without_the_garbage_collector() -> None:
    """A run leaves no reference cycle (the step object, its declared steps and the run refer to
    each other while it runs): 100,000 instances woken together leave the collector little to walk."""
    kept: list[weakref.ref[Any]] = []

    class Keeper(WorkflowEntrypoint):
        async def run(self, event: Any, step: Any) -> Any:
            @step.do("one")
            async def one() -> int:
                return 1

            kept.extend([weakref.ref(step), weakref.ref(one)])
            return await one()

    emu = Emulator(clock="virtual")
    emu.add_workflow("keeper", Keeper, binding="KEEPER")
    async with emu:
        gc.collect()
        gc.disable()
        try:
            inst = await emu.env.KEEPER.create(id="k1")
            await emu.run_until_idle()
            assert await inst.status() == {"status": "complete", "output": 1}
            assert len(kept) == 2
            assert [ref() for ref in kept] == [None, None]
        finally:
            gc.enable()
