"""Listing instances (``list_instances``, ``count_instances``) as an emulator runs them, at scale on
SQLite, and inspecting a state file read-only while an emulator in another process owns it (the
listing contract of both stores is in ``test_store_contract.py``).

Listing reads only what a store keeps beside each instance for it (status, created and modified
times): the big test counts the JSON documents decoded and the SQL run to list a page out of
100,000 instances.
"""

from __future__ import annotations

import json
import os
import queue
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable

import pytest

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # plain `pytest` puts tests/ on sys.path, not the repository root
    sys.path.insert(0, str(REPO))

from cfwf_emulator import Emulator, StoreError, VirtualClock, WorkflowEntrypoint  # noqa: E402
from cfwf_emulator.engine.records import STATUSES, InstanceRecord, StepRecord  # noqa: E402
from cfwf_emulator.store import InstanceSummary, MemoryStore, SQLiteStore  # noqa: E402
from tests.data.state_v1 import MADE_AT  # noqa: E402
from tests.test_store_contract import listed, summary  # noqa: E402

START_MS = 1_767_225_600_000.0  # 2026-01-01T00:00:00Z
MINUTE = 60_000.0
HOUR = 60 * MINUTE
WAIT_S = 60  # the longest any wait on the other process may take


# -- what an emulator's instances look like in a listing -------------------------------------


class Flow(WorkflowEntrypoint):
    """A step, a 1-hour nap, then a wait for a ``go`` event."""

    async def run(self, event: Any, step: Any) -> Any:
        @step.do("first")
        def first():
            return 1

        await first()
        await step.sleep("nap", "1 hour")
        got = await step.wait_for_event("go", "go", timeout="1 day")
        return got["payload"]


async def lifecycle(storage: Any, listed: Callable[[], Any]) -> list[tuple[str, float]]:
    """``(status, modified_ms - START_MS)`` of ``flow/f1`` as listed at each stage of its life."""
    seen: list[tuple[str, float]] = []

    def look() -> None:
        (only,) = listed().list_instances("flow", limit=10)
        assert (only.id, only.created_ms) == ("f1", START_MS)
        seen.append((only.status, only.modified_ms - START_MS))

    emu = Emulator(clock=VirtualClock(START_MS, autojump=False), storage=storage)
    emu.add_workflow("flow", Flow, binding="FLOW")
    async with emu:
        inst = await emu.env.FLOW.create(id="f1")
        look()
        await emu.advance("1 minute")  # asleep in its nap
        look()
        await emu.advance("1 hour")  # waits for its event since 60 minutes
        look()
        await inst.pause()
        look()
        await emu.advance("1 hour")
        await inst.resume()
        await emu.advance(0)
        look()
        await inst.send_event(type="go", payload="yes")
        await emu.advance(0)
        look()
    return seen


async def test_a_listing_shows_each_status_an_instance_goes_through(tmp_path: Path) -> None:
    state = tmp_path / "state.db"
    views: list[SQLiteStore] = []

    def inspector() -> SQLiteStore:
        views.append(SQLiteStore(state, readonly=True))
        return views[-1]

    memory = MemoryStore()
    expected = [
        ("queued", 0.0),
        ("waiting", 0.0),
        ("waiting", HOUR),
        ("paused", HOUR + MINUTE),
        ("waiting", 2 * HOUR + MINUTE),
        ("complete", 2 * HOUR + MINUTE),
    ]
    assert await lifecycle(memory, lambda: memory) == expected
    try:
        assert await lifecycle(f"sqlite:///{state}", inspector) == expected
    finally:
        for view in views:
            view.close()


# -- 100,000 instances on SQLite -----------------------------------------------------------


def test_listing_a_page_of_100000_instances_by_status_decodes_no_header_or_step(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    state = tmp_path / "big.db"
    owner = SQLiteStore(state)
    records = []
    for n in range(100_000):
        instance = InstanceRecord(
            "bulk", f"i{n:06d}", json.dumps({"n": n, "pad": "x" * 200}), START_MS + n,
            status=STATUSES[n % len(STATUSES)], queued_ms=START_MS + n, status_ms=START_MS + n + 0.5,
        )
        step = StepRecord("do", "work", 1, 0, START_MS + n, "ok", end_ms=START_MS + n, result='"done"')
        instance.steps[step.key] = step
        records.append(instance)
    owner.insert_instances(records)
    owner.insert_instance(InstanceRecord("elsewhere", "e1", "{}", START_MS, status="errored"))
    del records

    decoded: list[str] = []
    loads = json.loads

    def counting_loads(text: Any, *args: Any, **kwargs: Any) -> Any:
        decoded.append(text)
        return loads(text, *args, **kwargs)

    monkeypatch.setattr(json, "loads", counting_loads)
    errored = STATUSES.index("errored")
    newest = max(n for n in range(100_000) if n % len(STATUSES) == errored)
    page_3 = [newest - len(STATUSES) * k for k in range(100, 150)]
    expected = [InstanceSummary(f"i{n:06d}", "errored", START_MS + n, START_MS + n + 0.5) for n in page_3]
    for store in (owner, SQLiteStore(state, readonly=True)):
        statements: list[str] = []
        db = store._db
        assert db is not None
        db.set_trace_callback(statements.append)
        began = time.perf_counter()
        listed = store.list_instances("bulk", status="errored", limit=50, offset=100)
        took = time.perf_counter() - began
        counts = store.count_instances("bulk")
        db.set_trace_callback(None)
        store.close()
        print(f"page 3 of the errored among 100,000 instances: {took * 1000:.1f} ms")
        assert listed == expected
        assert counts == dict.fromkeys(STATUSES, 12_500)
        assert decoded == []
        queries = [s for s in statements if s.startswith("SELECT")]
        assert len(queries) == 2
        for sql in statements:
            assert not any(word in sql for word in ("header", "steps", "events")), sql
        plans = sqlite3.connect(state)
        try:
            for sql in queries:  # each finds its rows in the status index, in order: no scan, no sort
                plan = " ".join(row[-1] for row in plans.execute(f"EXPLAIN QUERY PLAN {sql}"))
                assert plan.startswith("SEARCH instances USING") and "INDEX instances_listed_by_status" in plan, plan
                assert "TEMP" not in plan, plan
        finally:
            plans.close()


# -- inspecting a state file ----------------------------------------------------------------


def write_calls(view: SQLiteStore) -> dict[str, Callable[[], Any]]:
    instance = listed("i9", 0)
    step = StepRecord("do", "x", 1, 0, START_MS, "ok")
    return {
        "insert_instance": lambda: view.insert_instance(instance),
        "insert_instances": lambda: view.insert_instances([instance]),
        "save_header": lambda: view.save_header(instance),
        "save_step": lambda: view.save_step(instance, step),
        "delete_steps": lambda: view.delete_steps(instance, [step]),
        "delete_instance": lambda: view.delete_instance("orders", "i1"),
        "save_resource": lambda: view.save_resource("kv:X", {}),
        "write_resources": lambda: view.write_resources([("kv:X", {})]),
    }


async def test_an_inspecting_store_refuses_every_write_and_takes_no_lock(tmp_path: Path) -> None:
    state = tmp_path / "state.db"
    writer = SQLiteStore(state)
    writer.insert_instances([listed("i1", 0), listed("i2", 1, "running")])
    writer.close()
    view = SQLiteStore(state, readonly=True)
    try:
        assert view.list_instances("orders", limit=10) == [summary("i2", 1, "running"), summary("i1", 0, "queued")]
        assert view.load_instance("orders", "i1") == listed("i1", 0)
        for name, call in write_calls(view).items():
            with pytest.raises(StoreError) as caught:
                call()
            message = str(caught.value)
            assert "opened for inspection" in message and "writes need the owner" in message, name
        with pytest.raises(StoreError, match="opened for inspection"):
            await view.acquire()
        with pytest.raises(StoreError, match="opened for inspection"):
            await view.save_step_deferred(listed("i9", 0), StepRecord("do", "x", 1, 0, START_MS, "ok"))
        assert not view.lock.held
        owner = SQLiteStore(state)  # the file's owner may start while it is inspected
        await owner.acquire()
        owner.insert_instance(listed("i3", 2))
        assert [s.id for s in view.list_instances("orders", limit=10)] == ["i3", "i2", "i1"]
        owner.release()
    finally:
        view.close()
    assert view.list_instances("orders", limit=1)[0].id == "i3"  # a closed view opens again to read
    view.close()


def test_only_a_current_state_file_can_be_inspected(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="no state file to inspect; check the path"):
        SQLiteStore(tmp_path / "nothing.db", readonly=True)
    assert not (tmp_path / "nothing.db").exists()
    old = tmp_path / "old.db"
    old.write_bytes((REPO / "tests" / "data" / "state-v1.sqlite3").read_bytes())
    before = old.read_bytes()
    with pytest.raises(StoreError) as caught:
        SQLiteStore(old, readonly=True)
    message = str(caught.value)
    assert "schema version 1" in message and "Open it once normally" in message
    assert old.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["old.db"]  # no -wal or -shm left behind


@pytest.mark.parametrize("suffix", ["", "-wal", "-shm"])
def test_inspecting_follows_no_link(tmp_path: Path, suffix: str) -> None:
    state = tmp_path / "state.db"
    writer = SQLiteStore(state)
    writer.insert_instance(listed("i1", 0))
    writer.close()
    victim = tmp_path / "elsewhere"
    victim.write_bytes(state.read_bytes() if suffix == "" else b"precious")
    link = Path(f"{state}{suffix}")
    link.unlink(missing_ok=True)
    link.symlink_to(victim)
    before = victim.read_bytes()
    with pytest.raises(StoreError, match="symbolic link"):
        SQLiteStore(state, readonly=True)
    assert victim.read_bytes() == before
    assert link.is_symlink()


class LineReader:
    """The lines a process writes, each awaited with a timeout (never a sleep)."""

    def __init__(self, process: "subprocess.Popen[str]") -> None:
        self._lines: "queue.Queue[str]" = queue.Queue()
        assert process.stdout is not None
        stdout = process.stdout
        threading.Thread(target=lambda: [self._lines.put(line) for line in stdout], daemon=True).start()

    def next(self) -> str:
        try:
            return self._lines.get(timeout=WAIT_S).strip()
        except queue.Empty:
            raise AssertionError(f"the other process said nothing for {WAIT_S} s") from None


def test_a_state_file_owned_by_an_emulator_in_another_process_is_inspected_as_it_commits(tmp_path: Path) -> None:
    state = tmp_path / "state.db"
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.data.owner_process", str(state)],
        cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    view: SQLiteStore | None = None
    try:
        lines = LineReader(process)
        assert lines.next() == "ready"
        view = SQLiteStore(state, readonly=True)
        (m1,) = view.list_instances("mailbox", limit=10)
        assert (m1.id, m1.status, m1.created_ms) == ("m1", "waiting", MADE_AT)
        loaded = view.load_instance("mailbox", "m1")
        assert loaded is not None and loaded.status == "waiting"
        assert [s.name for s in sorted(loaded.steps.values(), key=lambda s: s.seq)] == ["doze", "msg 0"]
        assert view.count_instances("quick") == {}
        with pytest.raises(StoreError, match="writes need the owner"):
            view.delete_instance("mailbox", "m1")
        assert process.stdin is not None
        for instance_id in ("q1", "q2"):
            process.stdin.write(f"create {instance_id}\n")
            process.stdin.flush()
            assert lines.next() == f"created {instance_id}"
            listed = view.list_instances("quick", limit=10)
            assert [(s.id, s.status) for s in listed][0] == (instance_id, "complete")
        assert view.count_instances("quick") == {"complete": 2}
        assert view.load_instance("quick", "q2") is not None
        assert process.poll() is None  # still running, still owning the file
        process.stdin.write("quit\n")
        process.stdin.flush()
        assert process.wait(timeout=WAIT_S) == 0
        assert [s.status for s in view.list_instances("mailbox", limit=10)] == ["waiting"]
    finally:
        if view is not None:
            view.close()
        if process.poll() is None:
            process.kill()
            process.wait(timeout=WAIT_S)
