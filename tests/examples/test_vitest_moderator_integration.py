"""Port of Cloudflare's Vitest example for workflows, integration part.

Original scenarios: cloudflare/workers-sdk, fixtures/vitest-plugin-examples/workflows/
(src/index.ts: the moderation workflow and a Worker whose fetch handler starts it;
test/integration.test.ts: ``introspectWorkflow`` + the Worker's fetch, a batch of three,
terminate, restart with mocks kept, pause). Rewritten as Python on our testing API: the Worker is
called in-process through ``emu.fetch``, so instances are created by the code under test. The
workflow keeps the JavaScript original's ``step.do(name, callback)`` calls, so its emulators opt in
to the call form (``Emulator(step_call_form=True)``); ``test_vitest_moderator_unit.py`` has the
same workflow in the decorator form that Cloudflare's Python SDK requires.
"""

from __future__ import annotations

import random
from urllib.parse import parse_qs, urlsplit

import pytest

from cfwf_emulator import Emulator, VirtualClock, WorkflowEntrypoint
from cfwf_emulator.testing import introspect_workflow
from cfwf_emulator.workers import Response, WorkerEntrypoint

SCAN = "AI content scan"
WORKER = "https://mock-worker.local"
START_MS = 1_767_225_600_000.0  # 2026-01-01T00:00:00Z


@pytest.fixture
def emu():
    """A virtual-clock emulator that accepts the JavaScript call form of ``step.do``."""
    return Emulator(clock=VirtualClock(START_MS), step_call_form=True)


class ModeratorWorkflow(WorkflowEntrypoint):
    """Scores content; a low score is approved, a high one rejected, the rest wait for a moderator."""

    async def run(self, event, step):
        await step.sleep("sleep for a while", "10 seconds")
        verdict = await step.do(SCAN, lambda: {"violationScore": random.randrange(100)})
        score = verdict["violationScore"]
        if score < 10:
            await step.do("auto approve content", lambda: {"status": "auto_approved"})
            return {"status": "auto_approved"}
        if score > 90:
            await step.do("auto reject content", lambda: {"status": "auto_rejected"})
            return {"status": "auto_rejected"}
        review = await step.wait_for_event("human review", "moderation-decision", timeout="1 day")
        decision = review["payload"]["moderatorAction"]
        await step.do("apply moderator decision", lambda: {"status": "moderated", "decision": decision})
        return {"status": "moderated", "decision": decision}


class ModeratorWorker(WorkerEntrypoint):
    """``/moderate`` starts one instance, ``/moderate-batch`` three, ``?id=`` reports a status."""

    async def fetch(self, request):
        url = urlsplit(request.url)
        query = parse_qs(url.query)
        if "id" in query:
            instance = await self.env.MODERATOR.get(query["id"][0])
            return Response.json(await instance.status())
        if url.path == "/moderate":
            instance = await self.env.MODERATOR.create()
            return Response.json({"id": instance.id, "details": await instance.status()})
        if url.path == "/moderate-batch":
            instances = await self.env.MODERATOR.create_batch([{}, {"id": "321"}, {}])
            return Response.json({"ids": [instance.id for instance in instances]})
        return Response("Not found", status=404)


def setup_emulator(emu):
    emu.add_workflow("moderator-workflow", ModeratorWorkflow, binding="MODERATOR")
    emu.add_worker(ModeratorWorker)
    return emu


def mock_score(score, *, event=None):
    async def setup(m):
        await m.disable_sleeps()
        await m.mock_step_result({"name": SCAN}, {"violationScore": score})
        if event is not None:
            await m.mock_event({"type": "moderation-decision", "payload": event})

    return setup


async def test_an_instance_started_by_the_worker_runs_to_the_end(emu):
    setup_emulator(emu)
    async with emu:
        async with introspect_workflow(emu.env.MODERATOR) as introspector:
            await introspector.modify_all(mock_score(0))

            await emu.fetch(f"{WORKER}/moderate")

            instances = await introspector.get()
            assert len(instances) == 1
            instance = instances[0]
            assert await instance.wait_for_step_result({"name": SCAN}) == {"violationScore": 0}
            await instance.wait_for_status("complete")
            assert await instance.get_output() == {"status": "auto_approved"}


async def test_a_batch_of_three_started_by_the_worker_runs_to_the_end(emu):
    setup_emulator(emu)
    async with emu:
        introspector = introspect_workflow(emu.env.MODERATOR)
        try:
            await introspector.modify_all(mock_score(0))

            response = await emu.fetch(f"{WORKER}/moderate-batch")
            ids = (await response.json())["ids"]

            instances = await introspector.get()
            assert len(instances) == 3
            assert [instance.id for instance in instances] == ids
            assert ids[1] == "321"
            for instance in instances:
                assert await instance.wait_for_step_result({"name": SCAN}) == {"violationScore": 0}
                await instance.wait_for_status("complete")
                assert await instance.get_output() == {"status": "auto_approved"}
        finally:
            await introspector.dispose()


async def test_terminating_an_instance(emu):
    setup_emulator(emu)
    async with emu:
        async with introspect_workflow(emu.env.MODERATOR) as introspector:
            await introspector.modify_all(mock_score(50))

            data = await (await emu.fetch(f"{WORKER}/moderate")).json()

            instances = await introspector.get()
            assert len(instances) == 1
            instance = instances[0]
            assert await instance.wait_for_step_result({"name": SCAN}) == {"violationScore": 50}

            handle = await emu.env.MODERATOR.get(data["id"])
            await handle.terminate()

            await instance.wait_for_status("terminated")
            status = await (await emu.fetch(f"{WORKER}/?id={data['id']}")).json()
            assert status["status"] == "terminated"


async def test_restarting_an_instance_keeps_its_mocks(emu):
    setup_emulator(emu)
    async with emu:
        async with introspect_workflow(emu.env.MODERATOR) as introspector:
            await introspector.modify_all(mock_score(50, event={"moderatorAction": "approve"}))

            data = await (await emu.fetch(f"{WORKER}/moderate")).json()

            instances = await introspector.get()
            assert len(instances) == 1
            instance = instances[0]
            assert await instance.wait_for_step_result({"name": SCAN}) == {"violationScore": 50}

            handle = await emu.env.MODERATOR.get(data["id"])
            await handle.restart()

            # the mocked score and the mocked moderator event apply again after the restart
            await instance.wait_for_status("complete")
            assert await instance.get_output() == {"status": "moderated", "decision": "approve"}


async def test_pausing_an_instance(emu):
    setup_emulator(emu)
    async with emu:
        async with introspect_workflow(emu.env.MODERATOR) as introspector:
            await introspector.modify_all(mock_score(50))

            data = await (await emu.fetch(f"{WORKER}/moderate")).json()

            instances = await introspector.get()
            assert len(instances) == 1
            instance = instances[0]
            assert await instance.wait_for_step_result({"name": SCAN}) == {"violationScore": 50}

            handle = await emu.env.MODERATOR.get(data["id"])
            await handle.pause()
            await handle.send_event(
                {"type": "moderation-decision", "payload": {"moderatorAction": "approve"}}
            )

            await instance.wait_for_status("paused")
            assert (await handle.status())["status"] == "paused"
