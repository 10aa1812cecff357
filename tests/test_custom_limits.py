"""The length and size rules read the emulator's ``Limits``: a custom ``Limits`` with smaller values
changes what is accepted and the error text says the limit in force; the defaults keep
production's limits and wording."""

from __future__ import annotations

from typing import Any

import pytest

from cfwf_emulator import Emulator, Limits, WorkflowEntrypoint, WorkflowError
from cfwf_emulator.testing import introspect_workflow

SMALL = Limits(instance_id_length=5, batch_size=2, step_name_length=10, event_type_length=5)


class NamedStep(WorkflowEntrypoint):
    """One step whose name is the params' ``name``."""

    async def run(self, event: Any, step: Any) -> Any:
        @step.do(event["payload"]["name"])
        async def named() -> str:
            return "done"

        return await named()


class WaitsFor(WorkflowEntrypoint):
    """Waits for an event of the params' ``type``."""

    async def run(self, event: Any, step: Any) -> Any:
        received = await step.wait_for_event("wait", event["payload"]["type"], timeout="1 hour")
        return received["payload"]


async def outcome(limits: Limits, cls: type, params: dict[str, Any]) -> dict[str, Any]:
    emu = Emulator(clock="virtual", limits=limits)
    emu.add_workflow("flow", cls, binding="FLOW")
    async with emu:
        instance = await emu.env.FLOW.create(id="i", params=params)
        await emu.run_until_idle()
        return await instance.status()


@pytest.mark.parametrize(("limits", "longest"), [(SMALL, 5), (Limits(), 100)])
async def test_instance_ids_up_to_the_limit_are_accepted_and_longer_ones_refused(limits: Limits, longest: int) -> None:
    emu = Emulator(clock="virtual", limits=limits)
    emu.add_workflow("flow", NamedStep, binding="FLOW")
    async with emu:
        await emu.env.FLOW.create(id="a" * longest, params={"name": "s"})
        with pytest.raises(WorkflowError) as error:
            await emu.env.FLOW.create(id="b" * (longest + 1), params={"name": "s"})
        with pytest.raises(WorkflowError) as in_batch:
            await emu.env.FLOW.create_batch([{"id": "c" * (longest + 1)}])
    assert error.value.code == in_batch.value.code == "instance.invalid_id"
    assert f"ids are 1-{longest} letters, digits, '_' or '-'" in str(error.value)
    assert str(in_batch.value) == str(error.value).replace("b" * (longest + 1), "c" * (longest + 1))


@pytest.mark.parametrize(("limits", "largest"), [(SMALL, 2), (Limits(), 100)])
async def test_a_batch_up_to_the_limit_is_created_and_a_larger_one_refused(limits: Limits, largest: int) -> None:
    emu = Emulator(clock="virtual", limits=limits)
    emu.add_workflow("flow", NamedStep, binding="FLOW")
    async with emu:
        created = await emu.env.FLOW.create_batch([{"params": {"name": "s"}}] * largest)
        with pytest.raises(WorkflowError) as error:
            await emu.env.FLOW.create_batch([{"params": {"name": "s"}}] * (largest + 1))
    assert len(created) == largest
    assert error.value.code == "body"
    assert f"createBatch only supports {largest} instances at a time, got {largest + 1}" in str(error.value)


@pytest.mark.parametrize(("limits", "largest"), [(SMALL, 2), (Limits(), 100)])
async def test_delete_batch_takes_up_to_the_batch_limit_and_refuses_a_larger_one_whole(
    limits: Limits, largest: int
) -> None:
    emu = Emulator(clock="virtual", limits=limits)
    emu.add_workflow("flow", NamedStep, binding="FLOW")
    async with emu:
        ids = [f"i{n}" for n in range(largest)]
        await emu.env.FLOW.create_batch([{"id": i, "params": {"name": "s"}} for i in ids])
        with pytest.raises(WorkflowError) as error:
            await emu.env.FLOW.delete_batch([*ids, "other"])
        assert (await emu.api.list_instances("flow"))["total"] == largest  # nothing was deleted
        result = await emu.env.FLOW.delete_batch(ids)
        assert result == {"deleted": [{"id": i} for i in ids], "errors": []}
    assert error.value.code == "body"
    assert f"batchDeleteInstances only supports {largest} instances at a time (got {largest + 1})" in str(error.value)


@pytest.mark.parametrize(("limits", "longest"), [(SMALL, 10), (Limits(), 256)])
async def test_step_names_up_to_the_limit_run_and_longer_ones_fail_the_instance(limits: Limits, longest: int) -> None:
    assert await outcome(limits, NamedStep, {"name": "s" * longest}) == {"status": "complete", "output": "done"}
    failed = await outcome(limits, NamedStep, {"name": "s" * (longest + 1)})
    assert failed["status"] == "errored"
    assert failed["error"]["message"] == (
        f'Step name "{"s" * (longest + 1)}" exceeds max length ({longest} chars) or invalid characters found'
    )


@pytest.mark.parametrize(("limits", "longest"), [(SMALL, 5), (Limits(), 100)])
async def test_event_types_up_to_the_limit_are_sent_and_awaited_and_longer_ones_refused(
    limits: Limits, longest: int
) -> None:
    rule = f"use 1-{longest} letters, digits, '_' or '-'"
    emu = Emulator(clock="virtual", limits=limits)
    emu.add_workflow("flow", WaitsFor, binding="FLOW")
    async with emu:
        fits = await emu.env.FLOW.create(id="fits", params={"type": "t" * longest})
        await fits.send_event(type="t" * longest, payload=1)  # buffered until the wait takes it
        with pytest.raises(WorkflowError) as sent:
            await fits.send_event(type="t" * (longest + 1), payload=1)
        too_long = await emu.env.FLOW.create(id="long", params={"type": "t" * (longest + 1)})
        await emu.run_until_idle()
        assert await fits.status() == {"status": "complete", "output": 1}
        awaited = await too_long.status()
    assert sent.value.code == "workflow.invalid_event_type"
    assert rule in str(sent.value)
    assert awaited["status"] == "errored" and rule in awaited["error"]["message"]


@pytest.mark.parametrize(("limits", "longest"), [(Limits(event_type_length=120), 120), (Limits(), 100)])
async def test_modify_all_records_mocked_events_by_the_workflows_event_type_limit(limits: Limits, longest: int) -> None:
    emu = Emulator(clock="virtual", limits=limits)
    emu.add_workflow("flow", WaitsFor, binding="FLOW")
    async with emu:
        async with introspect_workflow(emu.env.FLOW) as introspector:
            with pytest.raises(WorkflowError) as refused:
                await introspector.modify_all(lambda m: m.mock_event({"type": "t" * (longest + 1), "payload": 0}))
            await introspector.modify_all(lambda m: m.mock_event({"type": "t" * longest, "payload": "mocked"}))
            instance = await emu.env.FLOW.create(id="i", params={"type": "t" * longest})
            await emu.run_until_idle()
            assert await instance.status() == {"status": "complete", "output": "mocked"}
    assert refused.value.code == "workflow.invalid_event_type"
    assert f"use 1-{longest} letters" in str(refused.value)
