"""Bindings and instances: create / create_batch / get, ids, status() and describe() shapes."""

from __future__ import annotations

import re
import uuid
from collections import Counter

import pytest

from cfwf_emulator import WorkflowEntrypoint, WorkflowError, WorkflowInstance

START_MS = 1_767_225_600_000.0  # 2026-01-01T00:00:00Z
ISO_Z = re.compile(r"\A\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z\Z")

CALLS: Counter[str] = Counter()


@pytest.fixture(autouse=True)
def _reset_calls() -> None:
    CALLS.clear()


class Echo(WorkflowEntrypoint):
    """Returns its params from a step; counts runs of the step per instance id."""

    async def run(self, event, step):
        @step.do("echo")
        async def echo():
            CALLS[event["instanceId"]] += 1
            return event["payload"]

        return await echo()


class Sleeper(WorkflowEntrypoint):
    async def run(self, event, step):
        await step.sleep("nap", "1 hour")
        return "done"


class Fails(WorkflowEntrypoint):
    async def run(self, event, step):
        raise ValueError("boom")


class Described(WorkflowEntrypoint):
    async def run(self, event, step):
        @step.do("first")
        async def first():
            return {"n": event["payload"]["n"]}

        a = await first()
        await step.sleep("nap", "1 hour")
        ev = await step.wait_for_event("approval", "approved", timeout="2 hours")
        return {"a": a["n"], "approved": ev["payload"]}


# -- create ---------------------------------------------------------------------------------


async def test_create_with_explicit_id_returns_instance_with_that_id(emu):
    emu.add_workflow("echo", Echo, binding="ECHO")
    async with emu:
        inst = await emu.env.ECHO.create(id="order-1_A", params={"x": 1})
        assert isinstance(inst, WorkflowInstance)
        assert inst.id == "order-1_A"
        await emu.run_until_idle()
        assert await inst.status() == {"status": "complete", "output": {"x": 1}}


async def test_create_without_id_generates_uuid4(emu):
    emu.add_workflow("echo", Echo, binding="ECHO")
    async with emu:
        first = await emu.env.ECHO.create()
        second = await emu.env.ECHO.create(params={"y": 2})
        for inst in (first, second):
            parsed = uuid.UUID(inst.id)
            assert parsed.version == 4
            assert str(parsed) == inst.id
        assert first.id != second.id


async def test_create_accepts_keyword_and_dict_call_shapes(emu):
    emu.add_workflow("echo", Echo, binding="ECHO")
    async with emu:
        by_kw = await emu.env.ECHO.create(id="kw", params={"shape": "kw"})
        by_dict = await emu.env.ECHO.create({"id": "dict", "params": {"shape": "dict"}})
        assert (by_kw.id, by_dict.id) == ("kw", "dict")
        await emu.run_until_idle()
        assert (await by_kw.status())["output"] == {"shape": "kw"}
        assert (await by_dict.status())["output"] == {"shape": "dict"}


async def test_create_without_params_gives_empty_dict_payload(emu):
    emu.add_workflow("echo", Echo, binding="ECHO")
    async with emu:
        inst = await emu.env.ECHO.create(id="noparams")
        await emu.run_until_idle()
        assert await inst.status() == {"status": "complete", "output": {}}


@pytest.mark.parametrize(
    "bad_id",
    ["", "-x", "a.b", "a" * 101, 123, "a\n", "has space"],
    ids=["empty", "leading-dash", "dot", "101-chars", "non-str", "trailing-newline", "space"],
)
async def test_create_rejects_invalid_id(emu, bad_id):
    emu.add_workflow("echo", Echo, binding="ECHO")
    async with emu:
        with pytest.raises(WorkflowError) as info:
            await emu.env.ECHO.create(id=bad_id, params={})
        assert info.value.code == "instance.invalid_id"
        assert str(info.value).startswith("(instance.invalid_id)")


async def test_create_accepts_id_of_exactly_100_chars(emu):
    emu.add_workflow("echo", Echo, binding="ECHO")
    async with emu:
        long_id = "_" + "a" * 98 + "-"
        assert len(long_id) == 100
        inst = await emu.env.ECHO.create(id=long_id, params=5)
        await emu.run_until_idle()
        assert await inst.status() == {"status": "complete", "output": 5}


async def test_create_with_existing_id_raises_already_exists_and_keeps_original(emu):
    emu.add_workflow("echo", Echo, binding="ECHO")
    async with emu:
        inst = await emu.env.ECHO.create(id="dup", params={"v": 1})
        await emu.run_until_idle()
        with pytest.raises(WorkflowError) as info:
            await emu.env.ECHO.create(id="dup", params={"v": 2})
        assert info.value.code == "instance.already_exists"
        assert str(info.value).startswith("(instance.already_exists)")
        await emu.run_until_idle()
        assert await inst.status() == {"status": "complete", "output": {"v": 1}}
        assert (await inst.describe())["params"] == {"v": 1}
        assert CALLS["dup"] == 1


async def test_create_with_id_of_running_instance_raises_already_exists(emu):
    emu.add_workflow("sleeper", Sleeper, binding="S")
    async with emu:
        await emu.env.S.create(id="busy")
        with pytest.raises(WorkflowError) as info:
            await emu.env.S.create(id="busy")
        assert info.value.code == "instance.already_exists"


async def test_create_with_non_serialisable_params_raises_and_creates_nothing(emu):
    emu.add_workflow("echo", Echo, binding="ECHO")
    async with emu:
        with pytest.raises(WorkflowError):
            await emu.env.ECHO.create(id="bad-params", params={"x": object()})
        with pytest.raises(WorkflowError):
            await emu.env.ECHO.get("bad-params")


# -- create_batch ---------------------------------------------------------------------------


async def test_create_batch_creates_every_instance(emu):
    emu.add_workflow("echo", Echo, binding="ECHO")
    async with emu:
        created = await emu.env.ECHO.create_batch(
            [{"id": "b1", "params": 1}, {"id": "b2", "params": 2}, {"params": 3}]
        )
        assert [inst.id for inst in created[:2]] == ["b1", "b2"]
        assert uuid.UUID(created[2].id).version == 4
        await emu.run_until_idle()
        outputs = [(await inst.status())["output"] for inst in created]
        assert outputs == [1, 2, 3]


async def test_create_batch_skips_ids_in_use_and_leaves_them_out(emu):
    emu.add_workflow("echo", Echo, binding="ECHO")
    async with emu:
        existing = await emu.env.ECHO.create(id="taken", params="old")
        await emu.run_until_idle()
        created = await emu.env.ECHO.create_batch(
            [{"id": "taken", "params": "new"}, {"id": "fresh", "params": "fresh"}]
        )
        assert [inst.id for inst in created] == ["fresh"]
        await emu.run_until_idle()
        assert await existing.status() == {"status": "complete", "output": "old"}
        assert CALLS["taken"] == 1


async def test_create_batch_creates_duplicate_ids_once(emu):
    emu.add_workflow("echo", Echo, binding="ECHO")
    async with emu:
        created = await emu.env.ECHO.create_batch(
            [{"id": "twice", "params": 1}, {"id": "twice", "params": 2}]
        )
        assert len({inst.id for inst in created}) == 1
        assert created[0].id == "twice"
        await emu.run_until_idle()
        assert CALLS["twice"] == 1
        assert (await created[0].status())["status"] == "complete"


async def test_create_batch_of_more_than_100_raises(emu):
    emu.add_workflow("echo", Echo, binding="ECHO")
    async with emu:
        batch = [{"id": f"i{n}"} for n in range(101)]
        with pytest.raises(WorkflowError):
            await emu.env.ECHO.create_batch(batch)
        with pytest.raises(WorkflowError):
            await emu.env.ECHO.get("i0")


async def test_create_batch_of_exactly_100_works(emu):
    emu.add_workflow("echo", Echo, binding="ECHO")
    async with emu:
        created = await emu.env.ECHO.create_batch([{"id": f"i{n}"} for n in range(100)])
        assert len(created) == 100


async def test_create_batch_empty_raises(emu):
    emu.add_workflow("echo", Echo, binding="ECHO")
    async with emu:
        with pytest.raises(WorkflowError):
            await emu.env.ECHO.create_batch([])


async def test_create_batch_with_an_invalid_id_creates_nothing(emu):
    emu.add_workflow("echo", Echo, binding="ECHO")
    async with emu:
        with pytest.raises(WorkflowError) as info:
            await emu.env.ECHO.create_batch([{"id": "ok-1"}, {"id": "not.ok"}, {"id": "ok-2"}])
        assert info.value.code == "instance.invalid_id"
        for instance_id in ("ok-1", "ok-2"):
            with pytest.raises(WorkflowError):
                await emu.env.ECHO.get(instance_id)


async def test_create_batch_js_alias_createBatch(emu):
    emu.add_workflow("echo", Echo, binding="ECHO")
    async with emu:
        created = await emu.env.ECHO.createBatch([{"id": "js1", "params": "p"}])
        assert [inst.id for inst in created] == ["js1"]
        await emu.run_until_idle()
        assert await created[0].status() == {"status": "complete", "output": "p"}


# -- get ------------------------------------------------------------------------------------


async def test_get_unknown_id_raises_not_found(emu):
    emu.add_workflow("echo", Echo, binding="ECHO")
    async with emu:
        with pytest.raises(WorkflowError) as info:
            await emu.env.ECHO.get("nobody")
        assert "instance.not_found" in str(info.value)


async def test_get_existing_returns_a_working_handle(emu):
    emu.add_workflow("echo", Echo, binding="ECHO")
    async with emu:
        await emu.env.ECHO.create(id="known", params=[1, 2])
        await emu.run_until_idle()
        handle = await emu.env.ECHO.get("known")
        assert handle.id == "known"
        assert await handle.status() == {"status": "complete", "output": [1, 2]}


# -- status() -------------------------------------------------------------------------------


async def test_status_of_complete_instance_has_only_status_and_output(emu):
    emu.add_workflow("echo", Echo, binding="ECHO")
    async with emu:
        inst = await emu.env.ECHO.create(id="s1", params={"k": "v"})
        await emu.run_until_idle()
        status = await inst.status()
        assert set(status) == {"status", "output"}
        assert status == {"status": "complete", "output": {"k": "v"}}


async def test_status_of_errored_instance_has_error_name_and_message(emu):
    emu.add_workflow("fails", Fails, binding="F")
    async with emu:
        inst = await emu.env.F.create(id="f1")
        await emu.run_until_idle()
        assert await inst.status() == {
            "status": "errored",
            "output": None,
            "error": {"name": "ValueError", "message": "boom"},
        }


async def test_status_output_is_none_until_complete(emu):
    emu.add_workflow("sleeper", Sleeper, binding="S")
    async with emu:
        inst = await emu.env.S.create(id="zz")
        await emu.advance("1 minute")
        status = await inst.status()
        assert status["output"] is None
        assert "error" not in status
        await emu.run_until_idle()
        assert await inst.status() == {"status": "complete", "output": "done"}


# -- describe() -----------------------------------------------------------------------------


async def test_describe_reports_instance_fields_and_step_timeline(emu):
    emu.add_workflow("described", Described, binding="D")
    async with emu:
        inst = await emu.env.D.create(id="d1", params={"n": 7})
        await inst.send_event(type="approved", payload=True)
        await emu.run_until_idle()
        info = await inst.describe()

    assert info["status"] == "complete"
    assert info["params"] == {"n": 7}
    assert info["output"] == {"a": 7, "approved": True}
    assert info["error"] is None
    for key in ("queued", "start", "end"):
        assert ISO_Z.match(info[key]), (key, info[key])
    assert info["queued"].startswith("2026-01-01T00:00:00")
    assert info["start"].startswith("2026-01-01T00:00:00")
    assert info["end"].startswith("2026-01-01T01:00:00")

    steps = info["steps"]
    assert info["step_count"] == 3
    assert info["cfwf"] == {"workflow": "described", "id": "d1"}
    assert [(s["name"], s["type"]) for s in steps] == [
        ("first-1", "step"),
        ("nap-1", "sleep"),
        ("approval-1", "waitForEvent"),
    ]
    assert [(s["cfwf"]["name"], s["cfwf"]["type"], s["cfwf"]["count"]) for s in steps] == [
        ("first", "do", 1),
        ("nap", "sleep", 1),
        ("approval", "waitForEvent", 1),
    ]
    for s in steps:
        assert ISO_Z.match(s["start"]) and ISO_Z.match(s["end"])
    first, nap, approval = steps
    assert first["success"] is True and nap["finished"] is True and approval["finished"] is True
    assert first["output"] == {"n": 7}
    assert first["config"] == {
        "retries": {"limit": 5, "delay": 10000, "backoff": "exponential"},
        "timeout": "10 minutes",
    }
    assert len(first["attempts"]) == 1
    attempt = first["attempts"][0]
    assert attempt["success"] is True and attempt["error"] is None
    assert ISO_Z.match(attempt["start"]) and ISO_Z.match(attempt["end"])
    assert nap["start"].startswith("2026-01-01T00:00:00")
    assert nap["end"].startswith("2026-01-01T01:00:00")
    assert approval["output"]["type"] == "approved" and approval["output"]["payload"] is True
    assert ISO_Z.match(approval["output"]["timestamp"]) and approval["error"] is None


async def test_describe_steps_are_in_start_order(emu):
    class Order(WorkflowEntrypoint):
        async def run(self, event, step):
            @step.do("z-last-name")
            def z_last_name():
                return 1

            await z_last_name()
            await step.sleep("a-sleep", "1 second")

            @step.do("m-middle")
            def m_middle():
                return 2

            await m_middle()

            @step.do("z-last-name")
            def z_last_name():
                return 3

            await z_last_name()
            return None

    emu.add_workflow("order", Order, binding="O")
    async with emu:
        inst = await emu.env.O.create(id="o1")
        await emu.run_until_idle()
        steps = (await inst.describe())["steps"]
    assert [s["name"] for s in steps] == ["z-last-name-1", "a-sleep-1", "m-middle-1", "z-last-name-2"]
    assert [s["output"] for s in steps if s["type"] == "step"] == [1, 2, 3]


async def test_describe_of_running_instance_has_no_end(emu):
    emu.add_workflow("sleeper", Sleeper, binding="S")
    async with emu:
        inst = await emu.env.S.create(id="r1")
        await emu.advance("1 minute")
        info = await inst.describe()
        assert info["status"] == "waiting"
        assert info["end"] is None
        assert info["output"] is None
        (nap,) = info["steps"]
        assert nap["type"] == "sleep" and nap["end"] is None and nap["finished"] is False


async def test_send_event_js_alias_sendEvent(emu):
    class Waits(WorkflowEntrypoint):
        async def run(self, event, step):
            ev = await step.wait_for_event("w", "go", timeout="1 hour")
            return ev["payload"]

    emu.add_workflow("waits", Waits, binding="W")
    async with emu:
        inst = await emu.env.W.create(id="w1")
        await inst.sendEvent({"type": "go", "payload": {"ok": 1}})
        await emu.run_until_idle()
        assert await inst.status() == {"status": "complete", "output": {"ok": 1}}
