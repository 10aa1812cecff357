"""Port of Cloudflare's ``wrangler dev`` workflow fixture.

Original scenarios: cloudflare/workers-sdk, fixtures/workflow/ (src/index.ts: three demo
workflows — two steps around a sleep, two steps around an event wait, a retrying step — behind a
Worker; tests/index.test.ts: create with and without id, unknown id, createBatch, retries with
generic and non-retryable errors, waitForEvent, pause/resume, terminate, restart, persistence).
The original drives a running ``wrangler dev`` over HTTP and polls; here the same scenarios call
the bindings in-process and wait with the testing API on the virtual clock. The workflows keep
the original's ``step.do(name, callback)`` calls, so their emulators opt in to the call form
(``Emulator(step_call_form=True)``).
"""

from __future__ import annotations

import uuid

import pytest

from cfwf_emulator import Emulator, NonRetryableError, VirtualClock, WorkflowEntrypoint, WorkflowError
from cfwf_emulator.testing import introspect_workflow, introspect_workflow_instance

START_MS = 1_767_225_600_000.0  # 2026-01-01T00:00:00Z
FIRST = {"output": "First step result"}
SECOND = {"output": "Second step result"}


@pytest.fixture
def emu():
    """A virtual-clock emulator that accepts the JavaScript call form of ``step.do``."""
    return Emulator(clock=VirtualClock(START_MS), step_call_form=True)


def payload_or_default(event):
    payload = event["payload"]
    return "no-payload" if payload is None else payload


class Demo(WorkflowEntrypoint):
    async def run(self, event, step):
        await step.do("First step", lambda: dict(FIRST))
        await step.sleep("Wait", "1 second")
        await step.do("Second step", lambda: dict(SECOND))
        return payload_or_default(event)


class Demo2(WorkflowEntrypoint):
    async def run(self, event, step):
        await step.do("First step", lambda: dict(FIRST))
        await step.wait_for_event("event-1 provider", "event-1")
        await step.do("Second step", lambda: dict(SECOND))
        return payload_or_default(event)


class Demo3(WorkflowEntrypoint):
    async def run(self, event, step):
        runs = -1

        def failing():
            nonlocal runs
            runs += 1
            if event["payload"]["doRetry"]:
                raise RuntimeError(event["payload"]["errorMessage"])
            raise NonRetryableError(event["payload"]["errorMessage"])

        try:
            await step.do("First (and only step) step", {"retries": {"limit": 3, "delay": 100}}, failing)
        except Exception:
            pass
        return f"The step was retried {runs} time{'' if runs == 1 else 's'}"


def register(emu):
    emu.add_workflow("my-workflow", Demo, binding="WORKFLOW")
    emu.add_workflow("my-workflow2", Demo2, binding="WORKFLOW2")
    emu.add_workflow("my-workflow3", Demo3, binding="WORKFLOW3")
    return emu


async def step_outputs(handle):
    """The outputs of the finished steps, like wrangler dev's ``__LOCAL_DEV_STEP_OUTPUTS``."""
    outputs = []
    for s in (await handle.describe())["steps"]:
        if s["type"] == "step" and s["success"]:
            outputs.append(s.get("output"))
        elif s["type"] == "waitForEvent" and s["output"] is not None:
            outputs.append(s["output"]["payload"])
    return outputs


async def test_creates_a_workflow_with_an_id(emu):
    register(emu)
    async with emu:
        async with introspect_workflow_instance(emu.env.WORKFLOW, "test") as instance:
            handle = await emu.env.WORKFLOW.create(id="test")
            assert await instance.wait_for_step_result("First step") == FIRST
            status = await handle.status()
            assert status == {"status": "waiting", "output": None}  # in the 1-second sleep
            assert await step_outputs(handle) == [FIRST]

            await instance.wait_for_status("complete")
            assert await step_outputs(handle) == [FIRST, SECOND]


async def test_creates_a_workflow_without_an_id(emu):
    register(emu)
    async with emu:
        async with introspect_workflow(emu.env.WORKFLOW) as introspector:
            handle = await emu.env.WORKFLOW.create()
            assert uuid.UUID(handle.id).version == 4
            (instance,) = await introspector.get()
            assert await instance.wait_for_step_result("First step") == FIRST
            assert (await handle.status())["status"] == "waiting"


async def test_getting_a_workflow_that_was_never_created_fails(emu):
    register(emu)
    async with emu:
        with pytest.raises(WorkflowError) as info:
            await emu.env.WORKFLOW.get("anotherTest")
        assert info.value.code == "instance.not_found"
        assert "instance.not_found" in str(info.value)


async def test_create_batch_creates_instances_that_run_separately(emu):
    register(emu)
    async with emu:
        async with introspect_workflow(emu.env.WORKFLOW) as introspector:
            batch = await emu.env.WORKFLOW.create_batch(
                [{"id": "batch-1", "params": "1"}, {"id": "batch-2", "params": "2"}]
            )
            assert [instance.id for instance in batch] == ["batch-1", "batch-2"]

            for instance, handle, expected in zip(await introspector.get(), batch, ["1", "2"]):
                await instance.wait_for_status("complete")
                assert await handle.status() == {"status": "complete", "output": expected}
                assert await step_outputs(handle) == [FIRST, SECOND]


@pytest.mark.parametrize(
    ("do_retry", "message", "expected"),
    [
        (True, "generic_error_message", "The step was retried 3 times"),
        (True, "", "The step was retried 3 times"),
        (False, "generic_error_message", "The step was retried 0 times"),
        (False, "", "The step was retried 0 times"),
    ],
    ids=["generic-error", "generic-empty-message", "non-retryable", "non-retryable-empty-message"],
)
async def test_a_step_is_retried_unless_it_raises_non_retryable_error(emu, do_retry, message, expected):
    register(emu)
    name = str(uuid.uuid4())
    async with emu:
        async with introspect_workflow_instance(emu.env.WORKFLOW3, name) as instance:
            await emu.env.WORKFLOW3.create(id=name, params={"doRetry": do_retry, "errorMessage": message})
            await instance.wait_for_status("complete")
            assert await instance.get_output() == expected


async def test_wait_for_event_is_satisfied_by_send_event(emu):
    register(emu)
    async with emu:
        async with introspect_workflow_instance(emu.env.WORKFLOW2, "something") as instance:
            handle = await emu.env.WORKFLOW2.create(id="something")
            await handle.send_event(type="event-1", payload={"event": True})

            await instance.wait_for_status("complete")
            assert await handle.status() == {"status": "complete", "output": {}}
            assert await step_outputs(handle) == [FIRST, {"event": True}, SECOND]


async def test_pause_then_resume_a_workflow(emu):
    register(emu)
    name = str(uuid.uuid4())
    async with emu:
        async with introspect_workflow_instance(emu.env.WORKFLOW2, name) as instance:
            handle = await emu.env.WORKFLOW2.create(id=name)
            assert await instance.wait_for_step_result("First step") == FIRST

            await handle.pause()
            await handle.send_event(type="event-1", payload={"event": True})  # buffered while paused
            await instance.wait_for_status("paused")
            assert (await handle.status())["status"] == "paused"

            await handle.resume()
            await instance.wait_for_status("complete")


async def test_terminate_a_running_workflow(emu):
    register(emu)
    name = str(uuid.uuid4())
    async with emu:
        async with introspect_workflow_instance(emu.env.WORKFLOW2, name) as instance:
            handle = await emu.env.WORKFLOW2.create(id=name)
            assert await instance.wait_for_step_result("First step") == FIRST

            await handle.terminate()
            await instance.wait_for_status("terminated")
            assert (await handle.status())["status"] == "terminated"


async def test_restart_a_running_workflow(emu):
    register(emu)
    name = str(uuid.uuid4())
    async with emu:
        async with introspect_workflow_instance(emu.env.WORKFLOW2, name) as instance:
            handle = await emu.env.WORKFLOW2.create(id=name)
            assert await instance.wait_for_step_result("First step") == FIRST

            await handle.restart()
            assert await instance.wait_for_step_result("First step") == FIRST
            assert (await handle.status())["status"] == "waiting"  # for event-1 again

            await handle.send_event(type="event-1", payload={"event": True})
            await instance.wait_for_status("complete")
            assert await step_outputs(handle) == [FIRST, {"event": True}, SECOND]


async def test_instances_persist_across_emulator_lifetimes(tmp_path):
    storage = f"sqlite:///{tmp_path / 'state.db'}"
    first = register(Emulator(clock=VirtualClock(START_MS), storage=storage, step_call_form=True))
    async with first:
        await first.env.WORKFLOW.create(id="something")

    second = register(Emulator(clock=VirtualClock(START_MS), storage=storage, step_call_form=True))
    async with second:
        handle = await second.env.WORKFLOW.get("something")
        assert (await handle.status())["status"] in ("queued", "running", "waiting", "complete")
        async with introspect_workflow_instance(second.env.WORKFLOW, "something") as instance:
            await instance.wait_for_status("complete")
            assert await instance.get_output() == {}
