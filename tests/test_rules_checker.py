"""The rules checker: each broken example is caught under the right rule, the good one passes."""

from __future__ import annotations

import asyncio
import importlib
from typing import Any

import pytest

from cfwf_emulator import Emulator, VirtualClock, WorkflowEntrypoint
from cfwf_emulator.examples.rules import BROKEN_RULES
from cfwf_emulator.examples.rules.good import GoodOrderWorkflow
from cfwf_emulator.examples.rules.state_outside_steps import CartWorkflow
from cfwf_emulator.resources import KVNamespace
from cfwf_emulator.testing.rules import (
    RULES,
    SCENARIOS,
    RulesReport,
    assert_follows_rules,
    check_workflow,
)

START_MS = 1_767_225_600_000.0  # 2026-01-01T00:00:00Z

GOOD_PARAMS = {"order_id": 7, "items": [{"sku": "A1", "price": 20, "qty": 2}]}
GOOD_EVENTS = [{"type": "approval", "payload": {"by": "ana"}}]

#: Per broken module: its workflow class name, its params, and the step the violation names.
CASES: dict[str, tuple[str, dict[str, Any], str]] = {
    "step_names": ("ChargeWorkflow", {"amount": 5}, 'step.do "charge '),
    "step_order": ("ReserveEverywhereWorkflow", {"warehouses": ["ams", "ber", "cdg", "dub", "fra"]}, 'step.do "reserve at '),
    "state_outside_steps": ("CartWorkflow", {"item": "book"}, 'step.do "checkout"'),
    "unawaited_step": ("SignupWorkflow", {"email": "ana@example.com"}, 'step.do "write audit entry"'),
    "side_effects": ("WelcomeWorkflow", {"user_id": 3}, "env.USERS.put()"),
    "event_mutation": ("InvoiceWorkflow", {"customer": "c1"}, 'step.do "send invoice"'),
    "result_too_large": ("ExportWorkflow", {}, 'step.do "build export"'),
    "result_not_serialisable": ("TagWorkflow", {"posts": [{"tags": ["a", "b"]}, {"tags": ["b"]}]}, 'step.do "collect tags"'),
    "exception_types": ("CheckoutWorkflow", {"card": "ok", "amount": 30}, 'step.do "charge card"'),
    "non_idempotent_step": ("LoyaltyWorkflow", {"customer": "c1"}, 'step.do "add points"'),
    "call_form": ("ReminderWorkflow", {"customer": "c1"}, 'step.do "send reminder"'),
}


def kv_env(emulator: Emulator) -> dict[str, Any]:
    """Fresh KV namespaces for each run of the check (the examples use USERS, POINTS, ORDERS)."""
    return {name: KVNamespace(name, emulator.clock.now_ms) for name in ("USERS", "POINTS", "ORDERS")}


def workflow_class(module: str) -> type:
    return getattr(importlib.import_module(f"cfwf_emulator.examples.rules.{module}"), CASES[module][0])


def test_every_rule_has_a_broken_example() -> None:
    assert sorted(BROKEN_RULES.values()) == sorted(RULES)
    assert set(CASES) == set(BROKEN_RULES)


@pytest.mark.parametrize("module", sorted(BROKEN_RULES))
async def test_each_broken_example_is_caught_under_its_rule(module: str) -> None:
    _, params, step = CASES[module]
    report = await check_workflow(workflow_class(module), params, env=kv_env)

    assert report.rules == [BROKEN_RULES[module]], report.format()
    [violation] = report.violations
    assert violation.rule == BROKEN_RULES[module]
    assert violation.title == RULES[violation.rule].title
    assert violation.step is not None and violation.step.startswith(step), report.format()
    assert violation.fix and violation.message
    text = report.format()
    assert f"[{violation.rule}]" in text and "fix:" in text


async def test_the_good_example_follows_every_rule() -> None:
    report = await assert_follows_rules(GoodOrderWorkflow, GOOD_PARAMS, events=GOOD_EVENTS, env=kv_env)

    assert isinstance(report, RulesReport) and report.ok and report.violations == []
    assert {run.scenario for run in report.runs} == set(SCENARIOS) - {"exceptions"}
    assert all(run.outcome == "complete" for run in report.runs)
    assert report.notes == []
    assert "no violations" in report.format()


async def test_assert_follows_rules_raises_with_the_readable_report() -> None:
    with pytest.raises(AssertionError) as raised:
        await assert_follows_rules(CartWorkflow, {"item": "book"})

    text = str(raised.value)
    assert "CartWorkflow: 1 violation" in text
    assert "[state-outside-steps] Don't rely on state outside of steps" in text
    assert 'step.do "checkout"' in text and "state_outside_steps.py:" in text
    assert "{'items': ['book']}" in text and "{'items': []}" in text
    assert "fix:" in text


async def test_a_binding_is_checked_in_fresh_emulators() -> None:
    emulator = Emulator(clock=VirtualClock(START_MS))
    binding = emulator.add_workflow("cart", CartWorkflow, binding="CART")

    report = await check_workflow(binding, {"item": "pen"})

    assert report.rules == ["state-outside-steps"]
    assert report.violations[0].scenario == "replay"
    assert emulator._engine.live == {}  # the emulator passed in was not used


async def test_scenarios_and_ignore_narrow_the_check() -> None:
    only_repeat = await check_workflow(CartWorkflow, {"item": "pen"}, scenarios=["repeat"])
    assert only_repeat.ok and [run.scenario for run in only_repeat.runs] == ["baseline", "repeat"]

    ignored = await check_workflow(CartWorkflow, {"item": "pen"}, ignore=["state-outside-steps"])
    assert ignored.ok

    with pytest.raises(ValueError, match="unknown scenario"):
        await check_workflow(CartWorkflow, scenarios=["chaos"])
    with pytest.raises(ValueError, match="unknown rule"):
        await check_workflow(CartWorkflow, ignore=["be-nice"])
    with pytest.raises(TypeError, match="WorkflowEntrypoint subclass or a workflow binding"):
        await check_workflow(object())


async def test_an_event_that_is_not_given_is_a_note_not_a_violation() -> None:
    report = await check_workflow(GoodOrderWorkflow, GOOD_PARAMS, env=kv_env, scenarios=["repeat"])

    assert report.ok
    assert any('step.wait_for_event "manager approval" timed out' in note for note in report.notes)


class DecoratedNotAwaited(WorkflowEntrypoint):
    async def run(self, event: Any, step: Any) -> Any:
        @step.do("remember")
        async def remember() -> int:
            return 1

        remember()  # never awaited
        return "done"


class CatchesTimeoutError(WorkflowEntrypoint):
    async def run(self, event: Any, step: Any) -> Any:
        try:
            approval = await step.wait_for_event("approval", "approved", timeout="1 hour")
        except TimeoutError:  # a step timeout is a WorkflowTimeoutError, not a TimeoutError
            return "expired"
        return approval["payload"]


class TimestampOutput(WorkflowEntrypoint):
    async def run(self, event: Any, step: Any) -> Any:
        import time

        @step.do("work")
        def work() -> int:
            return 1

        await work()
        return time.time_ns()  # varies between identical runs, outside any step


async def test_an_unawaited_decorated_step_is_named() -> None:
    report = await check_workflow(DecoratedNotAwaited, scenarios=["repeat"])

    [violation] = report.violations
    assert violation.rule == "await-steps" and violation.step == 'step.do "remember"'
    assert "`remember()`" in violation.message


async def test_except_timeout_error_around_a_wait_is_reported() -> None:
    report = await check_workflow(CatchesTimeoutError, events=[{"type": "approved", "payload": 1}])

    [violation] = report.violations
    assert violation.rule == "portable-exceptions"
    assert violation.step == 'step.wait_for_event "approval"'
    assert "`except TimeoutError`" in violation.message and "WorkflowTimeoutError" in violation.message


async def test_an_output_computed_outside_steps_from_the_clock_is_reported() -> None:
    report = await check_workflow(TimestampOutput, scenarios=["repeat"])

    assert report.rules == ["state-outside-steps"]
    assert report.violations[0].step == "run() return value"


async def test_a_call_form_step_is_reported_at_its_line_and_the_workflow_still_checked() -> None:
    from cfwf_emulator.examples.rules import call_form

    report = await check_workflow(call_form.ReminderWorkflow, {"customer": "c1"})

    [violation] = report.violations
    assert violation.rule == "portable-step-api"
    assert violation.location is not None
    assert violation.location.endswith(f"call_form.py:{_line_of(call_form.__file__, 'BUG: the JavaScript call form')}")
    assert "raises TypeError" in violation.message and "@step.do(" in violation.fix
    # the checker's emulators accept the call form, so every run completes and is compared
    assert [run.outcome for run in report.runs] == ["complete"] * len(report.runs)
    assert {run.scenario for run in report.runs} >= {"baseline", "replay", "crash"}


def _line_of(filename: str, text: str) -> int:
    with open(filename, encoding="utf-8") as source:
        return next(number for number, line in enumerate(source, 1) if text in line)


class FetchesConcurrentlyInAStep(WorkflowEntrypoint):
    async def run(self, event: Any, step: Any) -> Any:
        async def remember(user: int) -> None:
            await self.env.USERS.put(f"seen:{user}", "yes")  # inside the step, in a task of its own

        @step.do("remember users")
        async def remember_users() -> int:
            await asyncio.gather(remember(1), remember(2))
            return 2

        return await remember_users()


async def test_binding_calls_from_tasks_a_step_started_are_inside_the_step() -> None:
    report = await check_workflow(FetchesConcurrentlyInAStep, env=kv_env)

    assert report.ok, report.format()
