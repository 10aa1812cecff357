"""``Emulator.replace_workflow`` and ``Emulator.reload``: new code for running instances, as after
a deploy (finished steps come from the journal; what is left runs on the new class)."""

from __future__ import annotations

import asyncio
import textwrap
from pathlib import Path
from typing import Any

import pytest

from cfwf_emulator import ConfigError, Emulator, VirtualClock, WorkflowEntrypoint

CALLS: list[str] = []


class Before(WorkflowEntrypoint):
    """A step, a wait for an event, then a step answering "old"."""

    async def run(self, event: Any, step: Any) -> Any:
        @step.do("first")
        async def first() -> str:
            CALLS.append("first")
            return "one"

        one = await first()
        await step.wait_for_event("go", "go", "1 day")

        @step.do("last")
        async def last() -> str:
            return "old"

        return [one, await last()]


class After(WorkflowEntrypoint):
    """The same steps, the last one answering "new"."""

    async def run(self, event: Any, step: Any) -> Any:
        @step.do("first")
        async def first() -> str:
            CALLS.append("first")
            return "one"

        one = await first()
        await step.wait_for_event("go", "go", "1 day")

        @step.do("last")
        async def last() -> str:
            return "new"

        return [one, await last()]


class Sleeper(WorkflowEntrypoint):
    """Sleep an hour, then answer "old"."""

    async def run(self, event: Any, step: Any) -> Any:
        await step.sleep("nap", "1 hour")

        @step.do("after")
        async def after() -> str:
            return "old"

        return await after()


class SleeperAfter(WorkflowEntrypoint):
    """Sleep an hour, then answer "new"."""

    async def run(self, event: Any, step: Any) -> Any:
        await step.sleep("nap", "1 hour")

        @step.do("after")
        async def after() -> str:
            return "new"

        return await after()


GATE: list[asyncio.Event] = []


class Slow(WorkflowEntrypoint):
    """A step that waits for the test's gate, then a second step answering "old"."""

    async def run(self, event: Any, step: Any) -> Any:
        @step.do("slow")
        async def slow() -> str:
            GATE[1].set()
            await GATE[0].wait()
            return "slow-old"

        @step.do("then")
        async def then() -> str:
            return "old"

        return [await slow(), await then()]


class SlowAfter(WorkflowEntrypoint):
    """Slow's steps, answering "new"."""

    async def run(self, event: Any, step: Any) -> Any:
        @step.do("slow")
        async def slow() -> str:
            return "slow-new"

        @step.do("then")
        async def then() -> str:
            return "new"

        return [await slow(), await then()]


async def test_a_waiting_instance_finishes_on_the_new_class_without_running_its_done_steps_again() -> None:
    CALLS.clear()
    emu = Emulator(clock="virtual")
    emu.add_workflow("flow", Before, binding="FLOW")
    async with emu:
        waiting = await emu.env.FLOW.create(id="w")
        await emu.settle()
        assert (await waiting.status())["status"] == "waiting"
        emu.replace_workflow("flow", After)
        await emu.settle()
        await waiting.send_event(type="go", payload=None)
        await emu.run_until_idle()
        assert (await waiting.status())["output"] == ["one", "new"]
        fresh = await emu.env.FLOW.create(id="n", params={})
        await fresh.send_event(type="go", payload=None)
        await emu.run_until_idle()
        assert (await fresh.status())["output"] == ["one", "new"]
    assert CALLS == ["first", "first"]  # once per instance: the replay took "first" from the journal


async def test_an_instance_sleeping_across_the_replacement_wakes_on_time_on_the_new_class() -> None:
    emu = Emulator(clock=VirtualClock(autojump=False))
    emu.add_workflow("sleeper", Sleeper, binding="SLEEPER")
    async with emu:
        began = emu.now
        instance = await emu.env.SLEEPER.create(id="z")
        await emu.settle()
        await emu.advance("30 minutes")
        emu.replace_workflow("sleeper", SleeperAfter)
        await emu.settle()
        assert (await instance.status())["status"] == "waiting"
        await emu.advance("29 minutes")
        assert (await instance.status())["status"] == "waiting"  # the replay kept the sleep's deadline
        await emu.run_until_idle()
        assert (await instance.status())["output"] == "new"
        assert (emu.now - began).total_seconds() == 3600


async def test_an_instance_in_a_step_attempt_finishes_it_then_runs_the_next_step_on_the_new_class() -> None:
    GATE[:] = [asyncio.Event(), asyncio.Event()]  # the gate; the attempt began
    emu = Emulator(clock="virtual")
    emu.add_workflow("slow", Slow, binding="SLOW")
    async with emu:
        instance = await emu.env.SLOW.create(id="s")
        await GATE[1].wait()
        emu.replace_workflow("slow", SlowAfter)
        GATE[0].set()
        await emu.run_until_idle()
        assert (await instance.status())["output"] == ["slow-old", "new"]


def test_replace_workflow_refuses_an_unknown_workflow_and_a_class_without_run() -> None:
    emu = Emulator(clock="virtual")
    emu.add_workflow("flow", Before, binding="FLOW")
    with pytest.raises(ConfigError, match='No workflow named "other"'):
        emu.replace_workflow("other", After)
    with pytest.raises(ConfigError, match="is not a class with a run"):
        emu.replace_workflow("flow", object)


CONFIG = """{
  "name": "reloading", "main": "src/entry.py", "compatibility_date": "2026-03-01",
  "compatibility_flags": ["python_workers"],
  "workflows": [{"name": "flow", "binding": "FLOW", "class_name": "Flow"}]
}"""

ENTRY = '''
from workers import Response, WorkerEntrypoint, WorkflowEntrypoint
from {helper} import WORD


class Flow(WorkflowEntrypoint):
    async def run(self, event, step):
        return WORD


class Default(WorkerEntrypoint):
    async def fetch(self, request):
        return Response(WORD)
'''


def write_project(root: Path, helper: str, word: str) -> Path:
    """A project whose main imports ``WORD`` from its sibling module ``helper`` (a name of its own:
    sibling modules are imported by name, once per process)."""
    (root / "src").mkdir(parents=True, exist_ok=True)
    (root / "wrangler.jsonc").write_text(CONFIG)
    (root / "src" / "entry.py").write_text(textwrap.dedent(ENTRY).replace("{helper}", helper))
    (root / "src" / f"{helper}.py").write_text(f"WORD = {word!r}\n")
    return root


async def test_reload_imports_the_main_module_and_its_siblings_afresh(tmp_path: Path) -> None:
    root = write_project(tmp_path, "fresh_helper", "first")
    emu = Emulator.from_config(root, clock="virtual")
    async with emu:
        assert await (await emu.fetch("/")).text() == "first"
        (root / "src" / "fresh_helper.py").write_text("WORD = 'second'\n")
        emu.reload()
        assert await (await emu.fetch("/")).text() == "second"
        instance = await emu.env.FLOW.create(id="i")
        await emu.run_until_idle()
        assert (await instance.status())["output"] == "second"


async def test_a_failed_reload_names_file_and_line_and_keeps_the_old_code(tmp_path: Path) -> None:
    root = write_project(tmp_path, "broken_helper", "kept")
    emu = Emulator.from_config(root, clock="virtual")
    helper = root / "src" / "broken_helper.py"
    async with emu:
        helper.write_text("WORD = 'x'\nWORD = (\n")
        with pytest.raises(ConfigError) as syntax:
            emu.reload()
        assert f"{helper}:2" in str(syntax.value)
        helper.write_text("WORD = 'x'\nraise RuntimeError('at import')\n")
        with pytest.raises(ConfigError) as raised:
            emu.reload()
        assert f"{helper}:2" in str(raised.value) and "RuntimeError: at import" in str(raised.value)
        (root / "src" / "entry.py").write_text("WORD = 1\n")
        with pytest.raises(ConfigError, match="'Flow' is not a class"):
            emu.reload()
        assert await (await emu.fetch("/")).text() == "kept"
        instance = await emu.env.FLOW.create(id="i")
        await emu.run_until_idle()
        assert (await instance.status())["output"] == "kept"
