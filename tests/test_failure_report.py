"""The plugin's failure report reads emulators after the test: synchronously, without starting
them, also once their event loop is closed."""

from __future__ import annotations

import asyncio
from typing import Any

from pytest_cfwf.report import format_emulators

from cfwf_emulator import Emulator, VirtualClock, WorkflowEntrypoint
from cfwf_emulator.testing import introspect_workflow_instance

START_MS = 1_767_225_600_000.0  # 2026-01-01T00:00:00Z


class Greeter(WorkflowEntrypoint):
    async def run(self, event: Any, step: Any) -> str:
        @step.do("greet")
        def greet():
            return f"hello {event['payload']['name']}"

        return str(await greet())


def test_an_emulator_that_never_started_reports_nothing_and_stays_stopped() -> None:
    emu = Emulator(clock=VirtualClock(START_MS))
    emu.add_workflow("greeter", Greeter, binding="G")
    assert format_emulators([emu]) == ""
    assert emu.loop is None


def test_the_report_reads_an_emulator_whose_loop_is_closed() -> None:
    emu = Emulator(clock=VirtualClock(START_MS))
    emu.add_workflow("greeter", Greeter, binding="G")

    async def scenario() -> None:
        await emu.start()  # left running: asyncio.run closes the loop under it, as a test may
        await introspect_workflow_instance(emu.env.G, "later").modify(lambda m: m.disable_sleeps())
        await emu.env.G.create(id="g-1", params={"name": "Ada"})
        await emu.run_until_idle()

    asyncio.run(scenario())
    lines = format_emulators([emu]).splitlines()
    assert lines[0] == "emulator 1 (virtual clock, now 2026-01-01T00:00:00.000Z)"
    assert lines[1] == 'greeter/g-1: complete  output="hello Ada"  params={"name": "Ada"}'
    assert lines[2].startswith('  do "greet" #1  2026-01-01T00:00:00.000Z -> 2026-01-01T00:00:00.000Z  ok')
    assert lines[3] == "greeter/later: never created (introspected, modifications pending)"
    assert emu.loop is not None and emu.loop.is_closed()  # read as it was left: not started again
