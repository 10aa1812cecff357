"""The event stream: ``emu.api.subscribe`` and the binding's ``instance.subscribe``.

Each instance keeps a durable log of what happened to it, ids counting from 1; a subscriber gets
the history first, then live events, each only once the state it reports is committed, with no
gap or duplicate at the seam, and never slows an instance down however slowly it reads.
"""

from __future__ import annotations

import asyncio
import gc
import sqlite3
from pathlib import Path
from typing import Any, Callable

import pytest

from cfwf_emulator import Emulator, ObserverWarning, VirtualClock, WorkflowEntrypoint, WorkflowError
from cfwf_emulator.api import EVENT_TYPES, InstanceEvent
from cfwf_emulator.hooks import hookimpl
from cfwf_emulator.store.sqlite import SQLiteStore

START_MS = 1_767_225_600_000.0  # 2026-01-01T00:00:00Z
FAILED_ONCE: set[str] = set()


class Journey(WorkflowEntrypoint):
    """A step that fails once then succeeds, a sleep, an event wait: every kind of event."""

    async def run(self, event: Any, step: Any) -> Any:
        instance_id = event.instanceId

        @step.do("flaky", config={"retries": {"limit": 2, "delay": "1 second", "backoff": "constant"}})
        async def flaky() -> dict[str, int]:
            if instance_id not in FAILED_ONCE:
                FAILED_ONCE.add(instance_id)
                raise RuntimeError("first attempt fails")
            return {"v": 1}

        first = await flaky()
        await step.sleep("nap", "10 minutes")
        received = await step.wait_for_event("approval", "go", timeout="1 hour")
        return [first["v"], received["payload"]]


class Steps(WorkflowEntrypoint):
    """``params["n"]`` trivial steps."""

    async def run(self, event: Any, step: Any) -> Any:
        for index in range(event.payload["n"]):

            @step.do("s")
            async def trivial() -> int:
                return index  # noqa: B023 - awaited at once, in this iteration

            await trivial()
        return event.payload["n"]


class Sleeper(WorkflowEntrypoint):
    """One step, then a long sleep, then one more step."""

    async def run(self, event: Any, step: Any) -> Any:
        @step.do("before")
        async def before() -> int:
            return 1

        @step.do("after")
        async def after() -> int:
            return 2

        await before()
        await step.sleep("long", "1 day")
        return await after()


class Secret(WorkflowEntrypoint):
    """A sensitive step whose output the workflow uses."""

    async def run(self, event: Any, step: Any) -> Any:
        @step.do("fetch", config={"sensitive": "output"})
        async def fetch() -> str:
            return "hunter2"

        secret = await fetch()
        return f"used {secret}"


def storage_for(kind: str, tmp_path: Path) -> str:
    return "memory" if kind == "memory" else f"sqlite:///{tmp_path}/s.db"


async def collect(events: Any, until: Callable[[InstanceEvent], bool]) -> list[InstanceEvent]:
    """Read ``events`` up to and including the first one ``until`` accepts (at most 10 s)."""
    seen: list[InstanceEvent] = []

    async def read() -> None:
        async for event in events:
            seen.append(event)
            if until(event):
                return

    await asyncio.wait_for(read(), 10)
    return seen


def is_status(new: str) -> Callable[[InstanceEvent], bool]:
    return lambda event: event["type"] == "instance.status" and event["data"]["new"] == new


def check_chain(events: list[InstanceEvent]) -> None:
    """Ids count 1, 2, 3, ... and every status change starts where the previous one ended."""
    assert [event["id"] for event in events] == list(range(1, len(events) + 1))
    statuses = [event["data"] for event in events if event["type"] == "instance.status"]
    for before, after in zip(statuses, statuses[1:]):
        assert after["old"] == before["new"]


async def journey(kind: str, tmp_path: Path) -> list[InstanceEvent]:
    """Every event of one Journey instance: subscribed while it waits, followed to the end."""
    FAILED_ONCE.discard("j")
    emu = Emulator(clock=VirtualClock(START_MS), storage=storage_for(kind, tmp_path))
    emu.add_workflow("journey", Journey, binding="JOURNEY")
    async with emu:
        inst = await emu.env.JOURNEY.create(id="j")
        await emu.advance("20 minutes")  # it now waits for "go": everything so far is history
        events = emu.api.subscribe(workflow="journey")
        history = await collect(events, lambda e: e["type"] == "wait.start")
        await emu.advance(0)
        await inst.send_event(type="go", payload="yes")
        live = await collect(events, is_status("complete"))
        await events.aclose()
    return history + live


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
async def test_a_subscriber_gets_the_history_then_follows_live_events(tmp_path: Path, kind: str) -> None:
    events = await journey(kind, tmp_path)
    check_chain(events)
    assert [e["type"] for e in events if e["type"] != "instance.status"] == [
        "instance.created",
        "step.start", "step.attempt.start", "step.attempt.end", "step.attempt.start", "step.attempt.end",
        "step.end", "sleep.start", "sleep.end", "wait.start", "wait.end",
    ]
    by_type = {e["type"]: e for e in events}
    failed, succeeded = [e["data"] for e in events if e["type"] == "step.attempt.end"]
    assert failed == {
        "name": "flaky", "count": 1, "attempt": 1, "success": False,
        "error": {"name": "RuntimeError", "message": "first attempt fails"}, "retry_delay_ms": 1000.0,
    }
    assert succeeded["success"] is True and succeeded["attempt"] == 2
    assert by_type["step.end"]["data"]["output"] == {"v": 1}
    assert by_type["sleep.start"]["data"]["until"] == "2026-01-01T00:10:01.000Z"
    assert by_type["wait.start"]["data"]["event_type"] == "go"
    assert by_type["wait.end"]["data"]["outcome"] == "received"
    assert events[-1]["data"] == {"old": "running", "new": "complete", "output": [1, "yes"]}
    assert {e["workflow"] for e in events} == {"journey"} and {e["instance_id"] for e in events} == {"j"}
    assert events[0]["at"] == "2026-01-01T00:00:00.000Z"


async def test_the_log_is_the_same_in_memory_and_on_sqlite(tmp_path: Path) -> None:
    in_memory = await journey("memory", tmp_path)
    on_sqlite = await journey("sqlite", tmp_path)
    assert on_sqlite == in_memory


async def test_subscriptions_filter_by_workflow_instance_and_type(emu: Emulator) -> None:
    emu.add_workflow("steps", Steps, binding="STEPS")
    emu.add_workflow("sleeper", Sleeper, binding="SLEEPER")
    async with emu:
        for instance_id in ("a", "b"):
            await emu.env.STEPS.create(id=instance_id, params={"n": 2})
        await emu.env.SLEEPER.create(id="a")
        await emu.run_until_idle()
        only_b = emu.api.subscribe(workflow="steps", instance_id="b", types=["step.end"])
        assert [(e["instance_id"], e["data"]["output"]) for e in await collect(only_b, lambda e: e["id"] > 8)] == [
            ("b", 0), ("b", 1),
        ]
        both_a = emu.api.subscribe(instance_id="a", types=["instance.created"])
        seen = await collect(both_a, lambda e: e["workflow"] == "sleeper")
        assert sorted(e["workflow"] for e in seen) == ["sleeper", "steps"]
        every_steps = emu.api.subscribe(workflow="steps", types=["step.start"])
        seen = await collect(every_steps, lambda e: e["instance_id"] == "b" and e["data"]["count"] == 2)
        assert {(e["workflow"], e["instance_id"]) for e in seen} == {("steps", "a"), ("steps", "b")}
        for events in (only_b, both_a, every_steps):
            await events.aclose()


async def test_unknown_event_types_and_bad_cursors_are_refused_saying_what_to_pass(emu: Emulator) -> None:
    emu.add_workflow("steps", Steps, binding="STEPS")
    unknown = r"'step\.ended' \(did you mean 'step\.end'.*valid types are instance\.created"
    with pytest.raises(WorkflowError, match=unknown):
        emu.api.subscribe(types=["step.ended"])
    with pytest.raises(WorkflowError, match="cursor must be the id of the last event seen"):
        emu.api.subscribe(cursor=-1)
    with pytest.raises(Exception, match='No workflow named "nope"'):
        emu.api.subscribe(workflow="nope")
    assert set(EVENT_TYPES) >= {"instance.created", "instance.status", "instance.deleted", "step.attempt.start"}


async def test_a_cursor_resumes_after_a_restart_with_the_same_ids(tmp_path: Path) -> None:
    storage = storage_for("sqlite", tmp_path)
    first = Emulator(clock=VirtualClock(START_MS), storage=storage)
    first.add_workflow("sleeper", Sleeper, binding="SLEEPER")
    async with first:
        await first.env.SLEEPER.create(id="s")
        events = first.api.subscribe(instance_id="s")
        before = await collect(events, lambda e: e["type"] == "sleep.start")
        await events.aclose()
    # a new process: the instance resumes its sleep; the log goes on from where it was
    second = Emulator(clock=VirtualClock(START_MS + 60_000), storage=storage)
    second.add_workflow("sleeper", Sleeper, binding="SLEEPER")
    async with second:
        cursor = before[-1]["id"]
        resumed = second.api.subscribe(instance_id="s", cursor=cursor)
        after = await collect(resumed, is_status("complete"))
        everything = second.api.subscribe(instance_id="s", cursor={"s": 0, "other": 5})
        replayed = await collect(everything, is_status("complete"))
        for events in (resumed, everything):
            await events.aclose()
    assert after[0]["id"] == cursor + 1
    assert replayed == before + after  # the same ids, types, times and data as first recorded
    check_chain(replayed)
    assert [e["type"] for e in after if e["type"] != "instance.status"] == [
        "sleep.end", "step.start", "step.attempt.start", "step.attempt.end", "step.end",
    ]


async def test_a_subscriber_that_never_reads_does_not_hold_an_instance_up(tmp_path: Path) -> None:
    emu = Emulator(clock=VirtualClock(START_MS), storage=storage_for("sqlite", tmp_path))
    emu.add_workflow("steps", Steps, binding="STEPS")
    async with emu:
        await emu.env.STEPS.create(id="big", params={"n": 2_000})
        events = emu.api.subscribe(instance_id="big")
        first = await events.__anext__()  # subscribed; then it reads nothing while the instance runs
        view = await asyncio.wait_for(
            emu.drive_until(lambda: emu.api.testing.instance("steps", "big").status == "complete"), 30
        )
        assert view
        rest = await collect(events, is_status("complete"))
        await events.aclose()
    every = [first, *rest]
    assert [e["id"] for e in every] == list(range(1, 2_000 * 4 + 4))  # created, 2 statuses, 4 per step
    assert [e["data"]["output"] for e in rest if e["type"] == "step.end"] == list(range(2_000))
    check_chain(every)


async def test_events_are_delivered_only_once_the_state_they_report_is_committed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a slow disk: each group commit happens a few event-loop turns later than usual, so that a
    # subscriber woken before the commit would read the file before its state is there
    commit_batch = SQLiteStore._commit_batch

    def slow_commit(store: SQLiteStore, batch: Any, turns: int = 5) -> None:
        if turns:
            asyncio.get_running_loop().call_soon(slow_commit, store, batch, turns - 1)
        else:
            commit_batch(store, batch)

    monkeypatch.setattr(SQLiteStore, "_commit_batch", slow_commit)
    path = tmp_path / "s.db"
    emu = Emulator(clock=VirtualClock(START_MS), storage=f"sqlite:///{path}")
    emu.add_workflow("steps", Steps, binding="STEPS")
    checked = 0
    async with emu:
        await emu.env.STEPS.create(id="c", params={"n": 20})
        reader = SQLiteStore(path, readonly=True)  # another connection: sees committed state only
        try:
            async for event in emu.api.subscribe(instance_id="c"):
                logged = reader.read_log("steps", "c", after=event["id"] - 1)
                assert logged and logged[0][:2] == (event["id"], event["type"])
                if event["type"] == "step.end":
                    saved = reader.load_instance("steps", "c")
                    assert saved is not None
                    step = saved.steps[("do", "s", event["data"]["count"])]
                    assert step.state == "ok"
                    checked += 1
                if is_status("complete")(event):
                    assert reader.load_instance("steps", "c").status == "complete"  # type: ignore[union-attr]
                    break
        finally:
            reader.close()
    assert checked == 20


class Broken:
    """An observer that raises on every status change."""

    @hookimpl
    def cfwf_instance_status_changed(self) -> None:
        raise RuntimeError("observer trouble")


async def test_an_observer_that_raises_changes_neither_outcomes_nor_subscribers(emu: Emulator) -> None:
    emu.add_workflow("steps", Steps, binding="STEPS")
    emu.register(Broken(), name="broken")
    with pytest.warns(ObserverWarning, match="'broken'.*cfwf_instance_status_changed"):
        async with emu:
            inst = await emu.env.STEPS.create(id="o", params={"n": 3})
            events = await collect(emu.api.subscribe(instance_id="o"), is_status("complete"))
            status = await inst.status()
    assert status["status"] == "complete" and status["output"] == 3
    check_chain(events)
    assert len(events) == 3 * 4 + 3


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
async def test_deleting_an_instance_emits_instance_deleted_and_drops_its_log(tmp_path: Path, kind: str) -> None:
    emu = Emulator(clock=VirtualClock(START_MS), storage=storage_for(kind, tmp_path))
    emu.add_workflow("sleeper", Sleeper, binding="SLEEPER")
    async with emu:
        inst = await emu.env.SLEEPER.create(id="d")
        events = emu.api.subscribe(instance_id="d")
        seen = await collect(events, lambda e: e["type"] == "sleep.start")
        await inst.delete()
        rest = await collect(events, lambda e: e["type"] == "instance.deleted")
        assert [e["id"] for e in seen + rest] == list(range(1, len(seen) + len(rest) + 1))
        assert [e["type"] for e in rest] == ["instance.status", "instance.deleted"]  # (it was waiting)
        await emu.env.SLEEPER.create(id="d")  # the id is free again: a new log, from 1
        again = await collect(events, lambda e: e["type"] == "instance.created")
        fresh = await collect(emu.api.subscribe(instance_id="d"), lambda e: True)
        await events.aclose()
    assert again[-1]["id"] == 1 and fresh[0] == again[-1]


async def test_sensitive_step_outputs_are_redacted_in_every_event(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    emu = Emulator(clock=VirtualClock(START_MS), storage=f"sqlite:///{path}")
    emu.add_workflow("secret", Secret, binding="SECRET")
    async with emu:
        inst = await emu.env.SECRET.create(id="x")
        from_api = await collect(emu.api.subscribe(instance_id="x"), is_status("complete"))
        subscription = await inst.subscribe()
        from_binding = [event async for event in subscription]
        status = await inst.status()
    assert status["output"] == "used hunter2"  # the workflow got the real value
    for events in (from_api, from_binding):
        ends = [e["data"] for e in events if e["type"] == "step.end"]
        assert ends == [{"name": "fetch", "count": 1, "success": True, "output": "[REDACTED]", "error": None}]
    saved = SQLiteStore(path, readonly=True)
    try:
        assert "hunter2" not in repr([row for row in saved.read_log("secret", "x") if row[1] != "instance.status"])
    finally:
        saved.close()


async def test_instance_subscribe_streams_until_the_instance_completes(emu: Emulator) -> None:
    emu.add_workflow("steps", Steps, binding="STEPS")
    async with emu:
        inst = await emu.env.STEPS.create(id="i", params={"n": 2})
        subscription = await inst.subscribe({"filter": ["step.end", "instance.status"]})
        results = []
        while True:
            result = await asyncio.wait_for(subscription.next(), 10)
            if result["done"]:
                break
            results.append(result["value"])
        assert [e["type"] for e in results if e["type"] != "instance.status"] == ["step.end", "step.end"]
        assert results[-1]["data"]["new"] == "complete"
        assert (await subscription.next()) == {"done": True, "value": None}
        # a finished instance's subscription replays its history, then ends
        later = [event["id"] async for event in await inst.subscribe(cursor=3)]
        assert later == list(range(4, 12))
        assert [event async for event in await inst.subscribe(cursor=11)] == []  # nothing after the end
        with pytest.raises(WorkflowError, match="Unknown event type 'step'"):
            await inst.subscribe(filter=["step"])
        await inst.delete()
        with pytest.raises(WorkflowError, match="Instance not found"):
            await inst.subscribe()


async def test_closing_or_dropping_a_subscription_stops_delivering_to_it(emu: Emulator) -> None:
    emu.add_workflow("steps", Steps, binding="STEPS")
    stream = emu.api.engine.stream
    async with emu:
        await emu.env.STEPS.create(id="z", params={"n": 1})
        async with emu.api.subscribe() as events:
            await events.__anext__()
            assert stream.active
        assert not stream.active
        async for _event in emu.api.subscribe():
            assert stream.active
            break
        gc.collect()
        assert not stream.active
        with pytest.raises(StopAsyncIteration):
            await events.__anext__()  # a closed subscription yields nothing more
        waiting = emu.api.subscribe(instance_id="z")
        await collect(waiting, is_status("complete"))
        reader = asyncio.ensure_future(waiting.__anext__())  # waits: nothing more happens to "z"
        await asyncio.sleep(0)
        await waiting.aclose()
        with pytest.raises(StopAsyncIteration):
            await asyncio.wait_for(reader, 5)


async def test_a_version_1_state_file_is_upgraded_with_an_empty_log_that_then_fills(tmp_path: Path) -> None:
    state = tmp_path / "old.sqlite3"
    state.write_bytes((Path(__file__).parent / "data" / "state-v1.sqlite3").read_bytes())
    emu = Emulator(clock=VirtualClock(START_MS + 86_400_000), storage=f"sqlite:///{state}")
    emu.add_workflow("quick", Steps, binding="QUICK")  # q1 finished long ago: nothing runs
    async with emu:
        assert [e async for e in emu.api.subscribe("quick", "q1", until_final=True)] == []  # none logged
        events = emu.api.subscribe(instance_id="q1")
        await (await emu.env.QUICK.get("q1")).delete()
        deleted = await collect(events, lambda e: True)
        await emu.env.QUICK.create(id="q1", params={"n": 1})
        fresh = await collect(events, is_status("complete"))
        await events.aclose()
    assert [(e["id"], e["type"]) for e in deleted] == [(1, "instance.deleted")]  # no event logged before
    check_chain(fresh)
    reopened = SQLiteStore(state, readonly=True)
    try:
        assert [row[0] for row in reopened.read_log("quick", "q1")] == [e["id"] for e in fresh]
    finally:
        reopened.close()


async def test_a_state_file_written_before_the_log_existed_gets_one(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    first = Emulator(clock=VirtualClock(START_MS), storage=f"sqlite:///{path}")
    first.add_workflow("steps", Steps, binding="STEPS")
    async with first:
        await first.env.STEPS.create(id="old", params={"n": 1})
        await first.run_until_idle()
    with sqlite3.connect(path) as db:  # as the schema-version-2 files of earlier builds were
        db.execute("DROP TABLE log")
    inspected = SQLiteStore(path, readonly=True)  # reads it as it is, the instance whole
    try:
        [old] = inspected.load_instances("steps", ["old"]).values()
        assert (old.status, len(old.steps), old.log.first_id) == ("complete", 1, 1)
    finally:
        inspected.close()
    second = Emulator(clock=VirtualClock(START_MS), storage=f"sqlite:///{path}")
    second.add_workflow("steps", Steps, binding="STEPS")
    async with second:
        assert await collect(second.api.subscribe("steps", "old", until_final=True), lambda e: True) == []
        await second.env.STEPS.create(id="new", params={"n": 1})
        events = await collect(second.api.subscribe("steps", "new"), is_status("complete"))
    check_chain(events)
