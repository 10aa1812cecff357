"""Group commit on SQLite: journal writes of running instances share commits, yet no workflow code
runs past a write before it is on disk.

"On disk" is checked from a second SQLite connection, which (in WAL mode) sees committed data
only: what it reads is what a process killed at that moment would find.
"""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from cfwf_emulator import Emulator, StorageWarning, WorkflowEntrypoint
from cfwf_emulator.store import SQLiteStore, StoreError

SEEN: dict[str, Any] = {}


def committed_steps(state: Path, instance_id: str) -> dict[str, dict[str, Any]]:
    """The steps of ``instance_id`` as another process would read them now (the store's own
    read-only inspection, which takes no lock and sees only what is committed)."""
    store = SQLiteStore(state, readonly=True)
    try:
        found = [store.load_instance(workflow, instance_id) for workflow in ("observer", "concurrent", "counter", "sizes")]
    finally:
        store.close()
    [record] = [r for r in found if r is not None]
    return {step.name: {**step.to_json(), "attempts": list(step.attempts)} for step in record.steps.values()}


class Observer(WorkflowEntrypoint):
    """Records, from inside step callbacks, what is committed when each starts."""

    async def run(self, event: Any, step: Any) -> Any:
        state = Path(event["payload"]["state"])

        @step.do("first")
        def first() -> int:
            SEEN["inside first"] = committed_steps(state, event["instanceId"])
            return 1

        await first()

        @step.do("second")
        def second() -> int:
            SEEN["inside second"] = committed_steps(state, event["instanceId"])
            return 2

        await second()
        await step.sleep("nap", "1 minute")

        @step.do("third")
        def third() -> int:
            SEEN["inside third"] = committed_steps(state, event["instanceId"])
            return 3

        await third()
        return "done"


class Concurrent(WorkflowEntrypoint):
    """Three steps at once (asyncio.gather), each looking at what is committed when it starts."""

    async def run(self, event: Any, step: Any) -> Any:
        state = Path(event["payload"]["state"])

        def make(name: str) -> Any:
            def callback() -> str:
                SEEN[f"inside {name}"] = committed_steps(state, event["instanceId"]).get(name)
                return name
            return callback

        return await asyncio.gather(*(step.do(name)(make(name))() for name in ("a", "b", "c")))


class Counter(WorkflowEntrypoint):
    """Ten trivial steps."""

    async def run(self, event: Any, step: Any) -> Any:
        value = 0
        for index in range(10):

            @step.do(f"step {index}")
            def add_one() -> int:
                return value + 1

            value = await add_one()
        return value


class BigOrSmall(WorkflowEntrypoint):
    """One step whose result is large or small, as the params say."""

    async def run(self, event: Any, step: Any) -> Any:
        size = event["payload"]["size"]

        @step.do("make")
        def make():
            return "x" * size

        return len(await make())


def make(state: Path) -> Emulator:
    emu = Emulator(clock="virtual", storage=f"sqlite:///{state}")
    emu.add_workflow("observer", Observer, binding="OBSERVER")
    emu.add_workflow("counter", Counter, binding="COUNTER")
    emu.add_workflow("concurrent", Concurrent, binding="CONCURRENT")
    emu.add_workflow("sizes", BigOrSmall, binding="SIZES")
    return emu


@pytest.fixture(autouse=True)
def _clear_seen() -> None:
    SEEN.clear()


async def test_a_callback_runs_only_after_its_attempt_is_committed(tmp_path: Path) -> None:
    state = tmp_path / "state.db"
    async with make(state) as emu:
        await emu.env.OBSERVER.create(id="o1", params={"state": str(state)})
        await emu.run_until_idle()
    attempts = SEEN["inside first"]["first"]["attempts"]
    assert len(attempts) == 1 and attempts[0]["end"] is None  # the attempt in flight, on disk


async def test_concurrent_steps_of_one_instance_each_start_after_their_attempt_is_committed(tmp_path: Path) -> None:
    state = tmp_path / "state.db"
    async with make(state) as emu:
        inst = await emu.env.CONCURRENT.create(id="c1", params={"state": str(state)})
        await emu.run_until_idle()
        assert await inst.status() == {"status": "complete", "output": ["a", "b", "c"]}
    for name in ("a", "b", "c"):
        seen = SEEN[f"inside {name}"]
        assert seen is not None, f"step {name} started before its attempt was committed"
        assert len(seen["attempts"]) == 1 and seen["attempts"][0]["end"] is None


async def test_a_callback_starts_only_once_the_steps_and_sleeps_before_it_are_committed(tmp_path: Path) -> None:
    state = tmp_path / "state.db"
    async with make(state) as emu:
        inst = await emu.env.OBSERVER.create(id="o1", params={"state": str(state)})
        await emu.run_until_idle()
        assert await inst.status() == {"status": "complete", "output": "done"}
    second = SEEN["inside second"]
    assert second["first"]["state"] == "ok" and second["first"]["result"] == "1"
    assert second["second"]["attempts"][0]["end"] is None  # its own attempt, in flight, on disk
    third = SEEN["inside third"]
    assert third["nap"]["state"] == "ok"
    assert third["second"]["state"] == "ok" and third["third"]["attempts"][0]["end"] is None


async def test_steps_of_concurrent_instances_share_commits(tmp_path: Path) -> None:
    state = tmp_path / "state.db"
    commits: list[str] = []
    async with make(state) as emu:
        emu._store._db.set_trace_callback(lambda sql: commits.append(sql) if sql == "COMMIT" else None)
        for index in range(20):
            await emu.env.COUNTER.create(id=f"c{index}")
        created = len(commits)
        await emu.run_until_idle()
        for index in range(20):
            assert await (await emu.env.COUNTER.get(f"c{index}")).status() == {"status": "complete", "output": 10}
    step_commits = len(commits) - created
    # 20 instances x 10 steps journal 400 writes (each attempt's start and its result); shared
    # commits need about 1 per step index, plus each instance's completion
    assert step_commits <= 10 + 20 + 5, step_commits
    for index in range(20):
        assert all(step["state"] == "ok" for step in committed_steps(state, f"c{index}").values())


async def test_a_write_failing_inside_a_shared_commit_stops_only_its_own_instance(tmp_path: Path) -> None:
    state = tmp_path / "state.db"
    async with make(state) as first:
        big = await first.env.SIZES.create(id="big", params={"size": 900_000})
        small = await first.env.SIZES.create(id="small", params={"size": 10})
        db = first._store._db  # the disk has room for small writes only from here on
        db.execute(f"PRAGMA max_page_count = {db.execute('PRAGMA page_count').fetchone()[0] + 8}")
        with pytest.warns(StorageWarning, match="stopped instance sizes/big: .*database or disk is full"):
            await first.run_until_idle()
        assert await small.status() == {"status": "complete", "output": 10}
        assert len(first._engine.storage_errors) == 1
        db.execute("PRAGMA max_page_count = 1073741823")
    assert committed_steps(state, "small")["make"]["state"] == "ok"
    async with make(state) as second:
        await second.run_until_idle()
        assert await (await second.env.SIZES.get("big")).status() == {"status": "complete", "output": 900_000}


async def test_instances_whose_shared_end_commit_fails_are_each_warned_about_and_end_again(tmp_path: Path) -> None:
    state = tmp_path / "state.db"
    async with make(state) as first:
        await first.env.SIZES.create_batch([{"id": "a", "params": {"size": 1}}, {"id": "b", "params": {"size": 2}}])
        first._store._db.execute(  # in the connection only: the commit of the ends fails
            "CREATE TEMP TRIGGER refuse BEFORE INSERT ON log WHEN NEW.data LIKE '%\"new\":\"complete\"%' "
            "BEGIN SELECT RAISE(ABORT, 'refused by the test'); END"
        )
        with pytest.warns(StorageWarning) as caught:
            await first.run_until_idle()
        ends = [str(w.message) for w in caught if "could not save the end" in str(w.message)]
        assert [message.split(":")[0] for message in ends] == [
            "cfwf-emulator could not save the end of instance sizes/a",
            "cfwf-emulator could not save the end of instance sizes/b",
        ]
        assert all("refused by the test" in message for message in ends)
        first._store._db.execute("DROP TRIGGER refuse")
    async with make(state) as second:
        await second.run_until_idle()
        assert await (await second.env.SIZES.get("a")).status() == {"status": "complete", "output": 1}
        assert await (await second.env.SIZES.get("b")).status() == {"status": "complete", "output": 2}


async def test_a_create_batch_is_one_commit(tmp_path: Path) -> None:
    state = tmp_path / "state.db"
    commits: list[str] = []
    async with make(state) as emu:
        emu._store._db.set_trace_callback(lambda sql: commits.append(sql) if sql == "COMMIT" else None)
        created = await emu.env.COUNTER.create_batch([{"id": f"b{index}"} for index in range(100)])
        assert len(commits) == 1
        assert [handle.id for handle in created] == [f"b{index}" for index in range(100)]
        await emu.run_until_idle()
    db = sqlite3.connect(state)
    try:
        ids = [row[0] for row in db.execute("SELECT id FROM instances ORDER BY created")]
    finally:
        db.close()
    assert ids == [f"b{index}" for index in range(100)]


async def test_a_create_batch_that_cannot_be_saved_creates_none_and_keeps_the_rest(tmp_path: Path) -> None:
    state = tmp_path / "state.db"
    async with make(state) as emu:
        first = await emu.env.SIZES.create(id="first", params={"size": 3})
        await emu.run_until_idle()
        db = emu._store._db  # the disk holds a few more instances, not 20
        db.execute(f"PRAGMA max_page_count = {db.execute('PRAGMA page_count').fetchone()[0] + 40}")
        batch = [{"id": f"big{index}", "params": {"size": index, "pad": "x" * 50_000}} for index in range(20)]
        with pytest.raises(StoreError, match="database or disk is full"):
            await emu.env.SIZES.create_batch(batch)
        db.execute("PRAGMA max_page_count = 1073741823")
        for index in range(20):
            with pytest.raises(Exception, match="not found"):
                await (await emu.env.SIZES.get(f"big{index}")).status()
        assert await first.status() == {"status": "complete", "output": 3}
        created = await emu.env.SIZES.create_batch(batch[:2])  # the ids are still free
        assert [handle.id for handle in created] == ["big0", "big1"]


async def test_cancelling_one_task_waiting_for_a_shared_commit_cancels_neither_the_commit_nor_the_others(
    tmp_path: Path,
) -> None:
    """The engine awaits a group commit as it is (no shield): a run cancelled while it waits (a
    terminate, say) must leave the commit, and every other write waiting for it, to go on."""
    from cfwf_emulator.engine.records import InstanceRecord, StepRecord

    state = tmp_path / "state.db"
    store = SQLiteStore(state)
    await store.acquire()
    try:
        first = InstanceRecord("counter", "i1", "{}", 0.0, status="running")
        second = InstanceRecord("counter", "i2", "{}", 0.0, status="running")
        store.insert_instances([first, second])
        pending: list[Any] = []

        async def wait() -> str:
            await pending[0]
            return "committed"

        async def cancel_the_first_then_wait() -> str:
            cancelled.cancel()  # the first already waits; the commit is still to come
            return await wait()

        # tasks run in the order they were made, and the commit (scheduled by the first write,
        # made below before either task runs) after them
        cancelled = asyncio.ensure_future(wait())
        other = asyncio.ensure_future(cancel_the_first_then_wait())
        commit = store.save_step_deferred(first, StepRecord("do", "a", 1, 0, 0.0, "ok", end_ms=0.0, result="1"))
        assert store.save_step_deferred(second, StepRecord("do", "b", 1, 0, 0.0, "ok", end_ms=0.0, result="2")) is commit
        pending.append(commit)
        assert await other == "committed"
        with pytest.raises(asyncio.CancelledError):
            await cancelled
        assert commit.done() and not commit.cancelled() and commit.exception() is None
    finally:
        store.close()
    assert set(committed_steps(state, "i1")) == {"a"} and set(committed_steps(state, "i2")) == {"b"}
