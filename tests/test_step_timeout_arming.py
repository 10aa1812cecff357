"""A step's timeout timer is armed only once its callback suspends (an ``async def`` that returns
without suspending costs no timer), yet it fires as before, counted from the attempt's start."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

from cfwf_emulator import WorkflowEntrypoint

TIMEOUT = {"name": "WorkflowTimeoutError", "message": "Execution timed out after 50ms"}


def iso_ms(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000


class _Ready:
    """An awaitable that is no coroutine and finishes without suspending."""

    def __await__(self) -> Any:
        return iter(())


async def test_a_callback_suspending_after_awaits_that_did_not_times_out_from_its_attempt_start(emu: Any) -> None:
    never = asyncio.Event()

    async def done_at_once() -> int:
        return 1

    class Late(WorkflowEntrypoint):
        async def run(self, event: Any, step: Any) -> Any:
            @step.do("late", config={"timeout": 50, "retries": {"limit": 0, "delay": 1}})
            async def late() -> None:
                await done_at_once()  # none of these suspend
                await _Ready()
                await never.wait()  # this one does: the timer is armed here

            try:
                await late()
            except Exception as exc:  # noqa: BLE001
                return type(exc).__name__
            return "no timeout"

    emu.add_workflow("late", Late, binding="LATE")
    async with emu:
        inst = await emu.env.LATE.create(id="l")
        await emu.run_until_idle()
        status, describe = await inst.status(), await inst.describe()
    assert status["output"] == "WorkflowTimeoutError"
    [attempt] = describe["steps"][0]["attempts"]
    assert attempt["error"] == TIMEOUT
    assert iso_ms(attempt["end"]) - iso_ms(attempt["start"]) == 50


async def test_an_async_def_without_await_is_run_to_its_end_with_its_context_and_retries(emu: Any) -> None:
    from cfwf_emulator.hooks import current_step

    class NoAwait(WorkflowEntrypoint):
        async def run(self, event: Any, step: Any) -> Any:
            seen = []
            for index in range(2):

                @step.do(f"s{index}", config={"retries": {"limit": 1, "delay": 1}})
                async def no_await() -> list[Any]:
                    context = current_step.get()
                    assert context is not None
                    seen.append([context.name, context.attempt])
                    if context.attempt == 1:
                        raise ValueError("first attempt")
                    return seen[-1]

                await no_await()

            return seen

    emu.add_workflow("noawait", NoAwait, binding="NOAWAIT")
    async with emu:
        inst = await emu.env.NOAWAIT.create(id="n")
        await emu.run_until_idle()
        status = await inst.status()
    assert status == {"status": "complete", "output": [["s0", 1], ["s0", 2], ["s1", 1], ["s1", 2]]}


async def test_the_same_async_def_times_out_once_it_reaches_an_await_it_skipped_before(emu: Any) -> None:
    never = asyncio.Event()

    class Sometimes(WorkflowEntrypoint):
        async def run(self, event: Any, step: Any) -> Any:
            outcomes = []
            for wait in (False, True):

                @step.do(f"wait={wait}", config={"timeout": 50, "retries": {"limit": 0, "delay": 1}})
                async def maybe() -> str:
                    if wait:
                        await never.wait()
                    return "returned"

                try:
                    outcomes.append(await maybe())
                except Exception as exc:  # noqa: BLE001
                    outcomes.append(type(exc).__name__)
            return outcomes

    emu.add_workflow("sometimes", Sometimes, binding="SOMETIMES")
    async with emu:
        inst = await emu.env.SOMETIMES.create(id="s")
        await emu.run_until_idle()
        status = await inst.status()
    assert status == {"status": "complete", "output": ["returned", "WorkflowTimeoutError"]}
