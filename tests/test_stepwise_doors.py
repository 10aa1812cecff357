"""What a door that drives instances step by step (the rules checker) gets from the public API.

``cfwf_emulator.hooks.current_step`` names the step whose callback is running (inside that
callback, its retry delay function and tasks it starts; None elsewhere); ``emu.settle()`` and
``emu.advance_to_next_timer()`` move an instance on timer by timer; ``emu.workflow_definitions()``
describes the registered workflows; a binding knows its emulator; ``from_config`` registers a
project's workflows through ``add_workflow``.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

import cfwf_emulator
from cfwf_emulator import Emulator, VirtualClock, WorkflowEntrypoint
from cfwf_emulator.hooks import current_step, hookimpl

START_MS = 1_767_225_600_000.0  # 2026-01-01T00:00:00Z
HOUR_MS = 3_600_000.0
PROJECT = Path(cfwf_emulator.__file__).parent / "examples" / "project"
SEEN: dict[str, Any] = {}


def _seen() -> Any:
    context = current_step.get()
    return None if context is None else [context.name, context.count, context.attempt]


class Steps(WorkflowEntrypoint):
    """Records what ``current_step`` holds in and around its steps."""

    async def run(self, event: Any, step: Any) -> Any:
        SEEN["before"] = _seen()

        async def in_a_task() -> Any:
            await asyncio.sleep(0)
            return _seen()

        def delay(_: Any) -> int:
            SEEN["delay"] = _seen()
            return 10

        @step.do("first", config={"retries": {"limit": 2, "delay": delay}})
        async def first(ctx: Any) -> Any:
            if ctx["attempt"] == 1:
                raise RuntimeError("once")
            return {"callback": _seen(), "task": await asyncio.gather(in_a_task())}

        SEEN["first"] = await first()

        @step.do("first")
        def first_step():
            return _seen()

        SEEN["second"] = await first_step()
        SEEN["between"] = _seen()

        @step.do("start a child")
        def start_a_child():
            return self.env.CHILD.create(id="child")

        await start_a_child()
        return None


class Child(WorkflowEntrypoint):
    """Started from inside a step of another instance."""

    async def run(self, event: Any, step: Any) -> Any:
        SEEN["child"] = _seen()

        @step.do("own step")
        def own_step():
            return _seen()

        return await own_step()


class Observer:
    """Reads ``current_step`` as each attempt is announced."""

    @hookimpl
    def cfwf_step_attempt(self, name: str) -> None:
        SEEN.setdefault("observer", []).append(_seen())


async def test_current_step_names_the_step_whose_callback_runs() -> None:
    SEEN.clear()
    emu = Emulator(clock=VirtualClock(START_MS))
    emu.add_workflow("steps", Steps, binding="STEPS")
    emu.add_workflow("child", Child, binding="CHILD")
    emu.register(Observer())
    async with emu:
        await emu.env.STEPS.create(id="s-1")
        await emu.run_until_idle()
        child = await emu.env.CHILD.get("child")
        child_status = await child.status()

    assert SEEN["before"] is None and SEEN["between"] is None
    assert SEEN["first"] == {"callback": ["first", 1, 2], "task": [["first", 1, 2]]}
    assert SEEN["delay"] == ["first", 1, 1]  # the delay after attempt 1
    assert SEEN["second"] == ["first", 2, 1]
    assert SEEN["child"] is None  # an instance started inside a step runs outside it
    assert child_status["output"] == ["own step", 1, 1]
    assert SEEN["observer"] and all(seen is None for seen in SEEN["observer"])
    assert current_step.get() is None


async def test_step_context_carries_the_instance() -> None:
    emu = Emulator(clock=VirtualClock(START_MS))
    emu.add_workflow("one", OneStep, binding="ONE")
    async with emu:
        await emu.env.ONE.create(id="i-1")
        await emu.run_until_idle()
        assert (await (await emu.env.ONE.get("i-1")).status())["output"] == ["one", "i-1", "work", 1, 1]


class OneStep(WorkflowEntrypoint):
    async def run(self, event: Any, step: Any) -> Any:
        @step.do("work")
        def work() -> Any:
            context = current_step.get()
            assert context is not None
            return [context.workflow, context.instance_id, context.name, context.count, context.attempt]

        return await work()


class TwoNaps(WorkflowEntrypoint):
    async def run(self, event: Any, step: Any) -> Any:
        await step.sleep("nap 1", "1 hour")
        await step.sleep("nap 2", "1 hour")
        return "rested"


async def test_settle_and_advance_to_next_timer_move_an_instance_timer_by_timer() -> None:
    clock = VirtualClock(START_MS, autojump=False)
    emu = Emulator(clock=clock)
    naps = emu.add_workflow("naps", TwoNaps, binding="NAPS")
    async with emu:
        instance = await naps.create(id="n-1")
        await emu.settle()
        assert (await instance.status())["status"] == "waiting" and clock.now_ms() == START_MS

        assert await emu.advance_to_next_timer() is True
        assert clock.now_ms() == START_MS + HOUR_MS
        assert [s.get("success", s.get("finished")) for s in (await instance.describe())["steps"]] == [True, False]

        assert await emu.advance_to_next_timer() is True
        assert (await instance.status())["output"] == "rested"
        assert await emu.advance_to_next_timer() is False
        assert clock.now_ms() == START_MS + 2 * HOUR_MS


async def test_advance_to_next_timer_needs_the_virtual_clock() -> None:
    emu = Emulator()
    with pytest.raises(RuntimeError, match='Emulator\\(clock="virtual"\\)'):
        await emu.advance_to_next_timer()


async def test_workflow_definitions_are_copies_by_name() -> None:
    emu = Emulator(clock=VirtualClock(START_MS), limits="free")
    binding = emu.add_workflow("zeta", TwoNaps, binding="ZETA", step_limit=7)
    emu.add_workflow("alpha", OneStep, binding="ALPHA", compatibility_date="2025-11-02")

    alpha, zeta = emu.workflow_definitions()
    assert (alpha.name, alpha.cls, alpha.binding, alpha.compat.date) == ("alpha", OneStep, "ALPHA", "2025-11-02")
    assert (zeta.name, zeta.cls, zeta.binding, zeta.limits.steps) == ("zeta", TwoNaps, "ZETA", 7)
    assert binding.emulator is emu

    zeta.cls = OneStep  # changes the copy only
    async with emu:
        await binding.create(id="z-1")
        await emu.run_until_idle()
        assert (await (await binding.get("z-1")).status())["output"] == "rested"
    assert emu.workflow_definitions()[1].cls is TwoNaps


async def test_from_config_registers_each_workflow_through_add_workflow() -> None:
    registered: list[tuple[str, str]] = []

    class Recording(Emulator):
        def add_workflow(self, name: str, cls: type, **options: Any) -> Any:
            registered.append((name, cls.__name__))
            return super().add_workflow(name, cls, **options)

    emu = Recording.from_config(PROJECT, clock=VirtualClock(START_MS))

    assert isinstance(emu, Recording)
    assert registered == [("order-workflow", "OrderWorkflow")]
