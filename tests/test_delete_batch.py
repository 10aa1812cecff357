"""``delete_batch`` / ``deleteBatch``: Cloudflare's result shape, limits, duplicates, error codes."""

from __future__ import annotations

from typing import Any

import pytest

from cfwf_emulator import ConfigError, Emulator, WorkflowEntrypoint, WorkflowError

RAN: list[str] = []


class Sleeper(WorkflowEntrypoint):
    async def run(self, event, step):
        await step.sleep("nap", "1 hour")

        @step.do("after nap")
        async def after():
            RAN.append(event["instanceId"])

        await after()
        return "done"


@pytest.fixture(autouse=True)
def _clear() -> None:
    RAN.clear()


async def make(emu: Emulator, *ids: str) -> Any:
    emu.add_workflow("pages", Sleeper, binding="PAGES")
    await emu.start()
    for instance_id in ids:
        await emu.env.PAGES.create(id=instance_id)
    await emu.settle()
    return emu.env.PAGES


async def test_deletes_in_input_order_keeping_duplicates_and_reporting_missing_ids(emu: Emulator) -> None:
    async with emu:
        pages = await make(emu, "page-1", "page-2")
        result = await pages.delete_batch(["page-1", "page-2", "never-existed", "page-1"])
        assert result == {
            "deleted": [{"id": "page-1"}, {"id": "page-2"}, {"id": "page-1"}],
            "errors": [{"id": "never-existed", "code": 10400, "message": "workflows.api.error.instance.not_found"}],
        }
        assert not await emu.api.exists("pages", "page-1") and not await emu.api.exists("pages", "page-2")


async def test_a_running_instance_is_stopped_without_finishing_and_its_id_is_free_again(emu: Emulator) -> None:
    async with emu:
        pages = await make(emu, "busy")
        assert (await (await pages.get("busy")).status())["status"] == "waiting"
        assert await pages.deleteBatch(["busy"]) == {"deleted": [{"id": "busy"}], "errors": []}
        await emu.advance("2 hours")
        assert RAN == []  # the deleted instance never woke up
        again = await pages.create(id="busy")
        await emu.run_until_idle()
        assert await again.status() == {"status": "complete", "output": "done"} and RAN == ["busy"]


async def test_exactly_100_ids_are_accepted_and_a_tuple_works_like_a_list(emu: Emulator) -> None:
    async with emu:
        pages = await make(emu, "a")
        ids = ["a"] + [f"missing-{n}" for n in range(99)]
        result = await pages.delete_batch(tuple(ids))
        assert result["deleted"] == [{"id": "a"}]
        assert [e["id"] for e in result["errors"]] == ids[1:]
        assert {e["code"] for e in result["errors"]} == {10400}


@pytest.mark.parametrize(
    ("ids", "code", "text"),
    [
        ("page-1", "body", "(body) Provided argument is invalid"),
        (None, "body", "(body) Provided argument is invalid"),
        ([], "body", "(body) batchDeleteInstances should have at least 1 instance"),
        (["page-1"] * 101, "body", "(body) batchDeleteInstances only supports 100 instances at a time"),
        (["bad id!"] + ["x"] * 101, "body", "(body) batchDeleteInstances only supports 100"),  # the count first
        (["page-1", "bad.id"], "instance.invalid_id", "(instance.invalid_id) Instance ID is invalid"),
        (["page-1", ""], "instance.invalid_id", "(instance.invalid_id) Instance ID is invalid"),
        (["page-1", "x" * 272], "instance.invalid_id", "(instance.invalid_id) Instance ID is invalid"),
        (["page-1", 7], "instance.invalid_id", "(instance.invalid_id) Instance ID is invalid"),
    ],
)
async def test_a_bad_list_is_refused_whole_before_anything_is_deleted(emu: Emulator, ids: Any, code: str, text: str) -> None:
    async with emu:
        pages = await make(emu, "page-1")
        with pytest.raises(WorkflowError) as info:
            await pages.delete_batch(ids)
        assert info.value.code == code and str(info.value).startswith(text)
        assert await emu.api.exists("pages", "page-1")


async def test_ids_a_cron_schedule_makes_are_addressable(emu: Emulator) -> None:
    async with emu:
        pages = await make(emu)
        long_cron_id = "0,5,10 * * * MON#2-" + "1" * 13
        result = await pages.delete_batch([long_cron_id, "x" * 271])
        assert [e["code"] for e in result["errors"]] == [10400, 10400]  # valid ids, just not there


async def test_the_engine_api_gives_the_same_result_and_names_an_unknown_workflow(emu: Emulator) -> None:
    async with emu:
        await make(emu, "p")
        assert await emu.api.delete_batch("pages", ["p", "q"]) == {
            "deleted": [{"id": "p"}],
            "errors": [{"id": "q", "code": 10400, "message": "workflows.api.error.instance.not_found"}],
        }
        with pytest.raises(ConfigError, match="pages"):
            await emu.api.delete_batch("nope", ["p"])


async def test_an_inspector_refuses_delete_batch_and_deletes_nothing(tmp_path) -> None:
    from cfwf_emulator import StateReadOnlyError, VirtualClock

    state = tmp_path / "state.db"
    owner = Emulator(clock=VirtualClock(0), storage=f"sqlite:///{state}")
    owner.add_workflow("pages", Sleeper, binding="PAGES")
    async with owner:
        await owner.env.PAGES.create(id="kept")
    inspector = Emulator(clock=VirtualClock(0), storage=f"sqlite:///{state}", mode="inspect")
    inspector.add_workflow("pages", Sleeper, binding="PAGES")
    async with inspector:
        with pytest.raises(StateReadOnlyError, match="^delete_batch: the state file"):
            await inspector.env.PAGES.delete_batch(["kept"])
        assert await inspector.api.exists("pages", "kept")
