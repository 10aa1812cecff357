"""A failed attempt keeps its Python traceback (an emulator extension, ``"traceback"`` on the
attempt record) beside Cloudflare's ``{"name", "message"}``, which does not change.

Contract: the testing API's ``StepOutcome.traceback`` and ``step_attempts()`` (README "Testing").
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cfwf_emulator import Emulator, VirtualClock, WorkflowEntrypoint
from cfwf_emulator.testing import introspect_workflow_instance

START_MS = 1_767_225_600_000.0  # 2026-01-01T00:00:00Z


def parse_quantity(text: str) -> int:
    return int(text)


class Checkout(WorkflowEntrypoint):
    async def run(self, event: Any, step: Any) -> Any:
        @step.do("count items", config={"retries": {"limit": 1, "delay": "1 second"}})
        async def count_items() -> int:
            return parse_quantity(event["payload"]["quantity"])

        return await count_items()


class HugeError(WorkflowEntrypoint):
    async def run(self, event: Any, step: Any) -> Any:
        @step.do("explode", config={"retries": {"limit": 0, "delay": 0}})
        async def explode() -> None:
            raise RuntimeError("x" * 40_000 + " the end")

        return await explode()


def emulator(**options: Any) -> Emulator:
    emu = Emulator(clock=VirtualClock(START_MS), **options)
    emu.add_workflow("checkout", Checkout, binding="CHECKOUT")
    emu.add_workflow("huge", HugeError, binding="HUGE")
    return emu


async def test_a_failed_step_keeps_the_traceback_of_the_users_code() -> None:
    emu = emulator()
    async with emu:
        await emu.env.CHECKOUT.create(id="c-1", params={"quantity": "two"})
        await emu.run_until_idle()
        outcome = emu.api.testing.step_outcome("checkout", "c-1", "count items", 1)
        attempts = emu.api.testing.step_attempts("checkout", "c-1", "count items", 1)
    assert outcome is not None and outcome.state == "error" and outcome.traceback is not None
    trace = outcome.traceback
    assert trace.startswith("Traceback (most recent call last):\n")
    assert 'in count_items\n    return parse_quantity(event["payload"]["quantity"])' in trace
    assert "in parse_quantity\n    return int(text)" in trace
    assert trace.rstrip().endswith("ValueError: invalid literal for int() with base 10: 'two'")
    assert "cfwf_emulator/engine" not in trace  # starts at the user's code
    assert [(a.number, a.success, a.error) for a in attempts] == [
        (n, False, {"name": "ValueError", "message": "invalid literal for int() with base 10: 'two'"}) for n in (1, 2)
    ]
    assert all(a.traceback == trace for a in attempts)


async def test_the_cloudflare_error_shapes_do_not_change() -> None:
    emu = emulator()
    async with emu:
        instance = await emu.env.CHECKOUT.create(id="c-1", params={"quantity": "two"})
        await emu.run_until_idle()
        status = await instance.status()
        details = await emu.api.describe("checkout", "c-1")
        attempts = emu.api.testing.step_attempts("checkout", "c-1", "count items", 1)
    error = {"name": "ValueError", "message": "invalid literal for int() with base 10: 'two'"}
    assert status == {"status": "errored", "output": None, "error": error}
    (step,) = details["steps"]
    assert step["cfwf"]["error"] == error
    assert [attempt["error"] for attempt in step["attempts"]] == [error, error]
    assert [set(attempt) for attempt in step["attempts"]] == [{"start", "end", "success", "error"}] * 2
    # describe() shows each failed attempt's traceback under "cfwf", beside Cloudflare's shape
    assert [entry["traceback"] for entry in step["cfwf"]["attempts"]] == [a.traceback for a in attempts]
    assert all(entry["traceback"] for entry in step["cfwf"]["attempts"])


async def test_a_mocked_error_has_no_traceback() -> None:
    emu = emulator()
    async with emu:
        async with introspect_workflow_instance(emu.env.CHECKOUT, "c-2") as instance:
            await instance.modify(lambda m: m.mock_step_error("count items", {"name": "Error", "message": "mocked"}))
            await emu.env.CHECKOUT.create(id="c-2", params={"quantity": "2"})
            await instance.wait_for_status("errored")
            outcome = emu.api.testing.step_outcome("checkout", "c-2", "count items", 1)
    assert outcome is not None and outcome.error is not None and outcome.error["message"] == "mocked"
    assert outcome.traceback is None


async def test_a_traceback_is_capped_at_16_kib_keeping_its_head_and_its_end() -> None:
    emu = emulator()
    async with emu:
        await emu.env.HUGE.create(id="h-1")
        await emu.run_until_idle()
        outcome = emu.api.testing.step_outcome("huge", "h-1", "explode", 1)
    assert outcome is not None and outcome.traceback is not None
    assert len(outcome.traceback) <= 16 * 1024
    assert outcome.traceback.startswith("Traceback (most recent call last):\n")
    assert "characters cut) ..." in outcome.traceback
    assert outcome.traceback.rstrip().endswith("x the end")
    assert outcome.error is not None and len(outcome.error["message"]) == 40_008  # the error itself is whole


async def test_the_traceback_survives_a_restart_on_sqlite(tmp_path: Path) -> None:
    storage = f"sqlite:///{tmp_path / 'state.sqlite3'}"
    first = emulator(storage=storage)
    async with first:
        await first.env.CHECKOUT.create(id="c-1", params={"quantity": "two"})
        await first.run_until_idle()
        before = first.api.testing.step_attempts("checkout", "c-1", "count items", 1)
    second = emulator(storage=storage)
    async with second:
        after = second.api.testing.step_attempts("checkout", "c-1", "count items", 1)
        outcome = second.api.testing.step_outcome("checkout", "c-1", "count items", 1)
    assert len(after) == 2 and after == before
    assert outcome is not None and outcome.traceback is not None and "in parse_quantity" in outcome.traceback


class Chained(WorkflowEntrypoint):
    async def run(self, event: Any, step: Any) -> Any:
        @step.do("load", config={"retries": {"limit": 1, "delay": 0}})
        async def load(ctx: Any) -> None:
            try:
                {}["config"]
            except KeyError as missing:
                raise RuntimeError(f"no config on attempt {ctx['attempt']}") from missing

        return await load()


async def test_each_attempt_keeps_its_own_message_and_a_chained_cause() -> None:
    emu = Emulator(clock=VirtualClock(START_MS))
    emu.add_workflow("chained", Chained, binding="CHAINED")
    async with emu:
        await emu.env.CHAINED.create(id="k-1")
        await emu.run_until_idle()
        first, second = emu.api.testing.step_attempts("chained", "k-1", "load")
    assert first.traceback is not None and second.traceback is not None
    assert first.traceback.rstrip().endswith("RuntimeError: no config on attempt 1")
    assert second.traceback.rstrip().endswith("RuntimeError: no config on attempt 2")
    assert "KeyError: 'config'" in second.traceback
    assert "The above exception was the direct cause of the following exception:" in second.traceback
