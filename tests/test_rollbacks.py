"""Rollbacks: Cloudflare's Python SDK has no rollback API, and terminating with rollback works.

Contract: README "Fidelity"; spec python-workflows-api.md §2.2 (the saga API was drafted and
reverted), cloudflare-workflows.md §3.9 and §3.14 (terminate with ``rollback: true`` runs the
handlers registered, then terminates).
"""

from __future__ import annotations

import pytest

from cfwf_emulator import Emulator, WorkflowEntrypoint, WorkflowError


class SagaFromTheDocs(WorkflowEntrypoint):
    """The saga example of one Cloudflare docs revision, as a user would paste it."""

    async def run(self, event, step):
        @step.with_rollback("charge")
        async def charge():
            return {"charged": True}

        return await charge()


class RollsBackAll(WorkflowEntrypoint):
    async def run(self, event, step):
        await step.rollback_all()


class Sleeper(WorkflowEntrypoint):
    async def run(self, event, step):
        @step.do("first")
        def first():
            return 1

        await first()
        await step.sleep("nap", "1 hour")
        return "woke"


@pytest.mark.parametrize(("cls", "name"), [(SagaFromTheDocs, "with_rollback"), (RollsBackAll, "rollback_all")])
async def test_the_rollback_api_of_the_docs_is_an_attribute_error_that_says_why(cls, name):
    emu = Emulator(clock="virtual")
    emu.add_workflow("saga", cls, binding="SAGA")
    async with emu:
        inst = await emu.env.SAGA.create(id="s1")
        await emu.run_until_idle()
        status = await inst.status()
    assert status["status"] == "errored"
    assert status["error"]["name"] == "AttributeError"
    message = status["error"]["message"]
    assert message.startswith(f"step.{name} is not in Cloudflare's Python Workflows SDK")
    assert "drafted in workerd and reverted" in message
    assert "try/except" in message


async def test_other_missing_step_attributes_stay_plain_attribute_errors():
    class Typo(WorkflowEntrypoint):
        async def run(self, event, step):
            return hasattr(step, "sleep_for")

    emu = Emulator(clock="virtual")
    emu.add_workflow("typo", Typo, binding="TYPO")
    async with emu:
        inst = await emu.env.TYPO.create(id="t1")
        await emu.run_until_idle()
        assert await inst.status() == {"status": "complete", "output": False}


async def test_terminate_with_rollback_terminates_an_instance_that_registered_no_handlers():
    emu = Emulator(clock="virtual")
    emu.add_workflow("sleeper", Sleeper, binding="SLEEPER")
    async with emu:
        rolled = await emu.env.SLEEPER.create(id="rolled")
        plain = await emu.env.SLEEPER.create(id="plain")
        await emu.advance("1 minute")
        await rolled.terminate({"rollback": True})
        await plain.terminate()
        await emu.run_until_idle()
        assert await rolled.status() == await plain.status() == {"status": "terminated", "output": None}
        described = await rolled.describe()
        assert described["status"] == "terminated"
        assert [s["name"] for s in described["steps"]] == ["first-1", "nap-1"]
        with pytest.raises(WorkflowError, match="instance.cannot_terminate"):
            await rolled.terminate({"rollback": True})


async def test_terminate_rollback_must_be_a_bool():
    emu = Emulator(clock="virtual")
    emu.add_workflow("sleeper", Sleeper, binding="SLEEPER")
    async with emu:
        inst = await emu.env.SLEEPER.create(id="i1")
        with pytest.raises(TypeError, match='"rollback" must be True or False'):
            await inst.terminate({"rollback": "yes"})
        assert (await inst.status())["status"] != "terminated"
