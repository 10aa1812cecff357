"""A name that matches no step says so, with the closest step names.

Contract: README "Writing workflows" (implicit dependencies, ``depends=`` before 2026-02-25) and
"Testing" (modifiers select steps by name); the SDK's own texts (``Received unexpected parameter
<name>``) stay first, the emulator's explanation follows.
"""

from __future__ import annotations

import warnings

import pytest

from cfwf_emulator import Emulator, WorkflowEntrypoint
from cfwf_emulator.testing import introspect_workflow_instance


async def error_of(cls, **options) -> dict:
    emu = Emulator(clock="virtual", **options)
    emu.add_workflow("wf", cls, binding="WF")
    async with emu:
        inst = await emu.env.WF.create(id="i1")
        await emu.run_until_idle()
        status = await inst.status()
    assert status["status"] == "errored", status
    return status["error"]


class DependencyTypo(WorkflowEntrypoint):
    async def run(self, event, step):
        @step.do()
        async def charge():
            return 1

        @step.do()
        async def ship(chrage):
            return chrage

        return await ship()


class FunctionNameNotStepName(WorkflowEntrypoint):
    async def run(self, event, step):
        @step.do("fetch user")
        async def fetch_user():
            return 1

        @step.do()
        async def greet(fetch_user):
            return fetch_user

        return await greet()


class LegacyDepends(WorkflowEntrypoint):
    async def run(self, event, step):
        @step.do("a")
        async def a():
            return 1

        @step.do("b", depends=[a])
        async def b(x):
            return x

        return await b()


async def test_an_implicit_dependency_typo_names_the_closest_step():
    error = await error_of(DependencyTypo)
    assert error["name"] == "TypeError"
    assert error["message"].startswith("Received unexpected parameter chrage: ")
    assert "step 'ship' has a parameter 'chrage', but no step of that name is declared before it" in error["message"]
    assert "(did you mean 'charge'?)" in error["message"]


async def test_a_parameter_named_after_a_steps_function_says_to_match_the_step_name():
    error = await error_of(FunctionNameNotStepName)
    assert "the function of the step named 'fetch user'" in error["message"]
    assert 'name that step "fetch_user" (or use @step.do() without a name)' in error["message"]


@pytest.mark.parametrize(
    ("options", "why"),
    [
        ({"compatibility_date": "2026-03-01"},
         "the compatibility date 2026-03-01 is on or after 2026-02-25, which turns on python_workflows_implicit_dependencies"),
        ({"compatibility_date": "2025-11-02", "compatibility_flags": ["python_workflows_implicit_dependencies"]},
         'the compatibility flag "python_workflows_implicit_dependencies" is set'),
        ({}, "without a compatibility date the newest behaviour applies, where python_workflows_implicit_dependencies is on"),
    ],
    ids=["date", "flag", "no-date"],
)
async def test_depends_under_implicit_dependencies_names_the_date_or_the_flag(options, why):
    error = await error_of(LegacyDepends, **options)
    assert error["name"] == "TypeError"
    assert "depends=[...] no longer exists: " + why in error["message"]
    assert 'or the flag "no_python_workflows_implicit_dependencies"' in error["message"]


class Order(WorkflowEntrypoint):
    async def run(self, event, step):
        @step.do()
        async def charge():
            return "real charge"

        if event["payload"].get("refund"):
            @step.do()
            async def refund():
                return "refunded"

            await refund()
        await step.sleep("cool off", "1 minute")
        return await charge()


async def run_with(modify) -> tuple[dict, list[str]]:
    emu = Emulator(clock="virtual")
    emu.add_workflow("order", Order, binding="ORDER")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        async with emu:
            async with introspect_workflow_instance(emu.env.ORDER, "o1") as instance:
                await instance.modify(modify)
                inst = await emu.env.ORDER.create(id="o1", params={})
                await emu.run_until_idle()
                status = await inst.status()
    return status, [str(w.message) for w in caught if issubclass(w.category, UserWarning)]


async def test_a_mock_naming_no_step_that_ran_says_so_with_the_closest_name():
    def modify(m):
        m.mock_step_result("chrage", "mocked")
        m.disable_sleeps(["cool of"])

    status, messages = await run_with(modify)
    assert status["output"] == "real charge"  # the mock changed nothing, as on Cloudflare
    assert any(
        "mock_step_result('chrage') changed nothing: no step.do named 'chrage' ran in this instance "
        "(did you mean 'charge'?)" in message and "instance \"o1\"" in message
        for message in messages
    ), messages
    assert any("disable_sleeps('cool of') changed nothing: no sleep named 'cool of' ran" in m for m in messages), messages


async def test_a_mock_of_a_branch_not_taken_is_left_alone():
    def modify(m):
        m.mock_step_result("refund", "mocked")
        m.mock_step_result("charge", "mocked")

    status, messages = await run_with(modify)
    assert status["output"] == "mocked"
    assert not [m for m in messages if "changed nothing" in m], messages


class ChargeThenWait(WorkflowEntrypoint):
    async def run(self, event, step):
        @step.do("charge")
        async def charge():
            return "charged"

        await charge()
        if event["payload"].get("wait"):
            await step.wait_for_event("approval", "approved", timeout="1 hour")
        return "done"


async def waiter_error(params: dict, step_name: str) -> str:
    emu = Emulator(clock="virtual")
    emu.add_workflow("wf", ChargeThenWait, binding="WF")
    async with emu:
        async with introspect_workflow_instance(emu.env.WF, "w1") as instance:
            await instance.modify(lambda m: m.disable_sleeps())
            await emu.env.WF.create(id="w1", params=params)
            with pytest.raises(AssertionError) as caught:
                await instance.wait_for_step_result(step_name)
    return str(caught.value)


async def test_a_waiter_for_a_step_that_never_ran_names_the_closest_step():
    message = await waiter_error({}, "chrage")
    assert "status 'complete' and step 'chrage' (#1) has no result: it will not get one" in message
    assert "no step.do named 'chrage' ran in this instance (did you mean 'charge'?)" in message
    assert "the step.do steps that ran: 'charge'" in message


async def test_a_waiter_for_a_step_name_far_from_any_lists_the_steps_that_ran():
    message = await waiter_error({}, "refund")
    assert "no step.do named 'refund' ran in this instance; the step.do steps that ran: 'charge'" in message
    assert "did you mean" not in message


async def test_a_waiter_for_a_step_that_never_ran_names_the_closest_step_when_the_instance_errors():
    message = await waiter_error({"wait": True}, "chrage")  # the event wait times out: errored
    assert "status 'errored' (WorkflowTimeoutError" in message
    assert "no step.do named 'chrage' ran in this instance (did you mean 'charge'?)" in message
