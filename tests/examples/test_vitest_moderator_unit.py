"""Port of Cloudflare's Vitest example for workflows, unit part.

Original scenarios: cloudflare/workers-sdk, fixtures/vitest-plugin-examples/workflows/
(src/index.ts: the content-moderation workflow; test/unit.test.ts: its tests with
``introspectWorkflowInstance``). Rewritten here as a Python workflow and tests on our testing API.
"""

from __future__ import annotations

import random
import uuid

from cfwf_emulator import WorkflowEntrypoint
from cfwf_emulator.testing import introspect_workflow_instance

SCAN = "AI content scan"


class ModeratorWorkflow(WorkflowEntrypoint):
    """Scores content with a (simulated) model; low scores pass, high fail, the rest go to a human."""

    async def run(self, event, step):
        await step.sleep("sleep for a while", "10 seconds")

        @step.do(SCAN)
        async def scan():
            return {"violationScore": random.randrange(100)}  # stands in for a model call

        verdict = await scan()
        score = verdict["violationScore"]

        if score < 10:

            @step.do("auto approve content")
            async def approve():
                return {"status": "auto_approved"}

            await approve()
            return {"status": "auto_approved"}

        if score > 90:

            @step.do("auto reject content")
            async def reject():
                return {"status": "auto_rejected"}

            await reject()
            return {"status": "auto_rejected"}

        review = await step.wait_for_event("human review", "moderation-decision", timeout="1 day")
        decision = review["payload"]["moderatorAction"]

        @step.do("apply moderator decision")
        async def apply_decision():
            return {"status": "moderated", "decision": decision}

        await apply_decision()
        return {"status": "moderated", "decision": decision}


def new_emulator(emu):
    emu.add_workflow("moderator-workflow", ModeratorWorkflow, binding="MODERATOR")
    return emu


async def test_a_mocked_clean_score_is_auto_approved(emu):
    new_emulator(emu)
    instance_id = str(uuid.uuid4())
    async with emu:
        async with introspect_workflow_instance(emu.env.MODERATOR, instance_id) as instance:

            async def setup(m):
                await m.disable_sleeps()
                await m.mock_step_result({"name": SCAN}, {"violationScore": 0})

            await instance.modify(setup)
            await emu.env.MODERATOR.create(id=instance_id)

            assert await instance.wait_for_step_result({"name": SCAN}) == {"violationScore": 0}
            assert await instance.wait_for_step_result({"name": "auto approve content"}) == {
                "status": "auto_approved"
            }
            await instance.wait_for_status("complete")
            assert await instance.get_output() == {"status": "auto_approved"}


async def test_the_scan_fails_twice_then_the_mocked_score_completes(emu):
    new_emulator(emu)
    instance_id = str(uuid.uuid4())
    async with emu:
        instance = introspect_workflow_instance(emu.env.MODERATOR, instance_id)
        try:

            async def setup(m):
                await m.disable_sleeps()
                await m.mock_step_error({"name": SCAN}, RuntimeError("Something went wrong!"), 2)
                await m.mock_step_result({"name": SCAN}, {"violationScore": 0})

            await instance.modify(setup)
            handle = await emu.env.MODERATOR.create(id=instance_id)

            assert await instance.wait_for_step_result({"name": SCAN}) == {"violationScore": 0}
            assert await instance.wait_for_step_result({"name": "auto approve content"}) == {
                "status": "auto_approved"
            }
            await instance.wait_for_status("complete")
            assert await instance.get_output() == {"status": "auto_approved"}

            scan = next(s for s in (await handle.describe())["steps"] if s["cfwf"]["name"] == SCAN)
            assert [a["success"] for a in scan["attempts"]] == [False, False, True]
        finally:
            await instance.dispose()


async def test_a_mocked_violating_score_is_auto_rejected(emu):
    new_emulator(emu)
    instance_id = str(uuid.uuid4())
    async with emu:
        async with introspect_workflow_instance(emu.env.MODERATOR, instance_id) as instance:

            async def setup(m):
                await m.disable_sleeps()
                await m.mock_step_result({"name": SCAN}, {"violationScore": 99})

            await instance.modify(setup)
            await emu.env.MODERATOR.create(id=instance_id)

            assert await instance.wait_for_step_result({"name": SCAN}) == {"violationScore": 99}
            assert await instance.wait_for_step_result({"name": "auto reject content"}) == {
                "status": "auto_rejected"
            }
            await instance.wait_for_status("complete")
            assert await instance.get_output() == {"status": "auto_rejected"}


async def test_an_ambiguous_score_is_reviewed_by_a_mocked_moderator_event(emu):
    new_emulator(emu)
    instance_id = str(uuid.uuid4())
    async with emu:
        async with introspect_workflow_instance(emu.env.MODERATOR, instance_id) as instance:

            async def setup(m):
                await m.disable_sleeps()
                await m.mock_step_result({"name": SCAN}, {"violationScore": 50})
                await m.mock_event(
                    {"type": "moderation-decision", "payload": {"moderatorAction": "approve"}}
                )

            await instance.modify(setup)
            await emu.env.MODERATOR.create(id=instance_id)

            assert await instance.wait_for_step_result({"name": SCAN}) == {"violationScore": 50}
            assert await instance.wait_for_step_result({"name": "apply moderator decision"}) == {
                "status": "moderated",
                "decision": "approve",
            }
            await instance.wait_for_status("complete")
            assert await instance.get_output() == {"decision": "approve", "status": "moderated"}


async def test_disabled_retry_delays_let_two_mocked_errors_pass_without_waiting(emu):
    new_emulator(emu)
    instance_id = str(uuid.uuid4())
    async with emu:
        started = emu.clock.now_ms()
        async with introspect_workflow_instance(emu.env.MODERATOR, instance_id) as instance:

            async def setup(m):
                await m.disable_sleeps()
                await m.disable_retry_delays()
                await m.mock_step_error({"name": SCAN}, RuntimeError("Transient failure"), 2)
                await m.mock_step_result({"name": SCAN}, {"violationScore": 0})

            await instance.modify(setup)
            await emu.env.MODERATOR.create(id=instance_id)

            assert await instance.wait_for_step_result({"name": SCAN}) == {"violationScore": 0}
            await instance.wait_for_status("complete")
            assert await instance.get_output() == {"status": "auto_approved"}
            assert emu.clock.now_ms() == started  # neither the sleep nor a retry delay took time


async def test_a_forced_review_timeout_errors_the_instance(emu):
    new_emulator(emu)
    instance_id = str(uuid.uuid4())
    async with emu:
        async with introspect_workflow_instance(emu.env.MODERATOR, instance_id) as instance:

            async def setup(m):
                await m.disable_sleeps()
                await m.mock_step_result({"name": SCAN}, {"violationScore": 50})
                await m.force_event_timeout({"name": "human review"})

            await instance.modify(setup)
            await emu.env.MODERATOR.create(id=instance_id)

            assert await instance.wait_for_step_result({"name": SCAN}) == {"violationScore": 50}
            await instance.wait_for_status("errored")
            error = await instance.get_error()
            # Cloudflare's JS runtime names it "Error"; our contract (API.md §1) keeps the
            # WorkflowTimeoutError name. The message is the same: timed out after the 1-day timeout.
            assert error["name"] == "WorkflowTimeoutError"
            assert "Execution timed out" in error["message"]
            assert error["message"] == "Execution timed out after 86400000ms"
