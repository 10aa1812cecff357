"""The state file itself: links next to it, schema upgrades, refused and empty files, two processes
racing for a new file, failed starts, corrupt instances, and what one event or one attempt of a
step costs to store.

Most tests use the workflows of ``tests/data/state_v1.py`` (the ones the committed version-1
state file was made with).
"""

from __future__ import annotations

import asyncio
import fcntl
import gc
import json
import multiprocessing
import os
import random
import re
import shutil
import signal
import sqlite3
import sys
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Any, Awaitable, Callable, Iterator

import pytest

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # plain `pytest` puts tests/ on sys.path, not the repository root
    sys.path.insert(0, str(REPO))

from cfwf_emulator import (  # noqa: E402
    Emulator,
    StateLockedError,
    StorageWarning,
    StoreError,
    VirtualClock,
    WorkflowEntrypoint,
    WorkflowError,
)
from cfwf_emulator.engine.core import Engine  # noqa: E402
from cfwf_emulator.store import InstanceSummary, SQLiteStore  # noqa: E402
from tests.data.state_v1 import MADE_AT, emulator  # noqa: E402

FIXTURE_V1 = REPO / "tests" / "data" / "state-v1.sqlite3"
APPLICATION_ID = 0x63667766  # "cfwf", what a cfwf-emulator state file is marked with
PACKAGE = str(REPO / "cfwf_emulator")
MINUTE = 60_000.0
HOUR = 60 * MINUTE
DAY = 24 * HOUR


def url(path: Path) -> str:
    return f"sqlite:///{path}"  # an absolute path gives sqlite:////abs/path


def run(emu: Emulator, body: Any = None) -> Any:
    """Start ``emu`` in a new event loop, await ``body(emu)`` if given, and close it."""

    async def main() -> Any:
        async with emu:
            return None if body is None else await body(emu)

    return asyncio.run(main())


def make_state_file(path: Path) -> None:
    """A current state file with one complete instance (``quick/q1``) and one asleep (``sleeper/s1``)."""

    async def body(emu: Emulator) -> None:
        await emu.env.QUICK.create(id="q1", params={"n": 1})
        await emu.env.SLEEPER.create(id="s1")
        await emu.advance("1 minute")

    run(emulator(url(path)), body)


def open_files(state: Path) -> list[str]:
    """The state file and its companions (-wal, -shm, .lock) this process holds open."""
    names = {str(state), f"{state}-wal", f"{state}-shm", f"{state}.lock"}
    held = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target in names:
            held.append(target)
    return sorted(held)


def lock_is_free(state: Path) -> bool:
    fd = os.open(f"{state}.lock", os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    finally:
        os.close(fd)
    return True


def snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    """Every file in ``folder`` with its bytes and modification time."""
    return {
        entry.name: (entry.read_bytes(), entry.stat().st_mtime_ns)
        for entry in sorted(folder.iterdir())
        if entry.is_file() and not entry.is_symlink()
    }


# -- no link is followed -------------------------------------------------------------------


@pytest.mark.parametrize("suffix", ["", "-wal", "-shm", "-journal", ".lock"])
def test_a_link_in_place_of_the_state_file_or_a_companion_is_refused_and_its_target_untouched(
    tmp_path: Path, suffix: str
) -> None:
    state = tmp_path / "state.db"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    if suffix == "":
        victim = elsewhere / "real.db"
        make_state_file(victim)
    else:
        victim = elsewhere / "precious.txt"
        victim.write_text("precious data\n")
        if suffix != "-journal":
            make_state_file(state)
    link = Path(f"{state}{suffix}")
    gc.collect()  # no emulator of make_state_file holds the file any more
    link.unlink(missing_ok=True)  # the lock file stays after use: replace it with the link
    link.symlink_to(victim)
    before = snapshot(elsewhere)

    async def body(emu: Emulator) -> None:
        await emu.env.QUICK.create(id="new", params={"n": 2})
        await emu.run_until_idle()

    with pytest.raises(StoreError) as caught:
        run(emulator(url(state), at=MADE_AT + HOUR), body)
    message = str(caught.value)
    assert str(link) in message
    assert "symbolic link" in message and "remove" in message
    assert snapshot(elsewhere) == before
    assert link.is_symlink()


def test_a_dangling_lock_link_creates_nothing(tmp_path: Path) -> None:
    state = tmp_path / "state.db"
    target = tmp_path / "nowhere" / "lock"
    target.parent.mkdir()
    Path(f"{state}.lock").symlink_to(target)
    with pytest.raises(StoreError, match="symbolic link"):
        run(emulator(url(state)))
    assert not target.exists()
    assert not state.exists()


# -- upgrading a version-1 state file ------------------------------------------------------


def test_a_version_1_state_file_is_upgraded_on_start_and_everything_survives(tmp_path: Path) -> None:
    state = tmp_path / "state.db"
    shutil.copy(FIXTURE_V1, state)
    emu = emulator(url(state), at=MADE_AT + 62 * MINUTE)
    assert state.read_bytes() == FIXTURE_V1.read_bytes()  # constructing writes nothing

    async def body(emu: Emulator) -> tuple[dict[str, Any], ...]:
        m1, m2 = await emu.env.MAILBOX.get("m1"), await emu.env.MAILBOX.get("m2")
        s1, q1 = await emu.env.SLEEPER.get("s1"), await emu.env.QUICK.get("q1")
        assert await q1.status() == {"status": "complete", "output": 8}
        before = await q1.describe(), await s1.describe()
        assert [(await i.status())["status"] for i in (m1, m2, s1)] == ["waiting"] * 3
        for payload in ("a", "b", "c"):
            await m2.send_event(type="msg", payload=payload)
        await emu.advance("1 hour")  # m1 wakes at + 121 minutes and takes its buffered events
        assert await m1.status() == {"status": "complete", "output": [1, 2, 3]}
        assert await m2.status() == {"status": "complete", "output": ["a", "b", "c"]}
        await emu.advance("1 day")
        assert await s1.status() == {"status": "complete", "output": {"before": "b", "woke": True}}
        return (await m1.describe(), *before, await s1.describe())

    described, *with_attempts = run(emu, body)
    assert [(s["name"], s["output"]["payload"] if s["type"] == "waitForEvent" else None) for s in described["steps"]] == [
        ("doze-1", None), ("msg 0-1", 1), ("msg 1-1", 2), ("msg 2-1", 3),
    ]
    made = "2026-01-01T00:00:00.000Z"
    one_attempt = [{"start": made, "end": made, "success": True, "error": None}]
    for steps in (details["steps"] for details in with_attempts):  # q1, s1 when upgraded, s1 done
        assert steps[0]["type"] == "step" and steps[0]["attempts"] == one_attempt
    assert [(s["type"], len(s.get("attempts", []))) for s in with_attempts[2]["steps"]] == [("step", 1), ("sleep", 0)]
    view = SQLiteStore(state, readonly=True)
    try:
        (step,) = view.load_instance("quick", "q1").steps.values()  # inspecting reads attempts
        assert step.attempts == [{"start": MADE_AT, "end": MADE_AT, "success": True, "error": None}]
        assert view.list_instances("mailbox", limit=10) == [
            InstanceSummary("m1", "complete", MADE_AT + 61 * MINUTE, MADE_AT + 121 * MINUTE),
            InstanceSummary("m2", "complete", MADE_AT, MADE_AT + 62 * MINUTE),
        ]
        assert view.count_instances("sleeper") == {"complete": 1}
        assert view.list_instances("quick", status="complete", limit=10)[0].id == "q1"
    finally:
        view.close()
    db = sqlite3.connect(state)
    try:
        assert db.execute("PRAGMA user_version").fetchone()[0] == 2
        assert db.execute("SELECT workflow, id, data FROM events").fetchall() == [
            ("mailbox", "m1", '{"type":"other","payload":"\\"x\\"","ms":1767229320000.0}')
        ]
        assert not [h for (h,) in db.execute("SELECT header FROM instances") if '"events"' in h]
        assert db.execute("SELECT workflow, id, kind, name, count, n FROM attempts ORDER BY workflow").fetchall() == [
            ("quick", "q1", "do", "add", 1, 1), ("sleeper", "s1", "do", "before", 1, 1),
        ]
        assert not [d for (d,) in db.execute("SELECT data FROM steps") if '"attempts"' in d]
    finally:
        db.close()


def test_a_version_1_state_file_upgraded_lists_its_instances_from_their_headers(tmp_path: Path) -> None:
    state = tmp_path / "state.db"
    shutil.copy(FIXTURE_V1, state)
    corrupt(state, "q1", '{"workflow": "quick", "id": "q1", trunc')
    owner = SQLiteStore(state)
    asyncio.run(owner.acquire())  # upgrades the file; no emulator, so nothing runs
    owner.release()
    view = SQLiteStore(state, readonly=True)
    try:
        assert view.list_instances("mailbox", limit=10) == [
            InstanceSummary("m1", "waiting", MADE_AT + 61 * MINUTE, MADE_AT + 61 * MINUTE),
            InstanceSummary("m2", "waiting", MADE_AT, MADE_AT),
        ]
        assert view.list_instances("mailbox", limit=10, newest_first=False)[0].id == "m2"
        assert view.count_instances("sleeper") == {"waiting": 1}
        assert view.list_instances("quick", limit=10) == [InstanceSummary("q1", "unknown", 0.0, 0.0)]
        assert view.count_instances("quick") == {"unknown": 1}
    finally:
        view.close()
    new = tmp_path / "new.db"
    make_state_file(new)

    def schema(path: Path) -> list[tuple[str, str, str]]:
        db = sqlite3.connect(path)
        try:
            return db.execute("SELECT type, name, sql FROM sqlite_master ORDER BY name").fetchall()
        finally:
            db.close()

    assert schema(state) == schema(new)


def test_a_version_1_file_run_by_another_owner_is_not_upgraded(tmp_path: Path) -> None:
    state = tmp_path / "state.db"
    shutil.copy(FIXTURE_V1, state)
    before = snapshot(tmp_path)
    fd = os.open(f"{state}.lock", os.O_RDWR | os.O_CREAT, 0o644)  # an older cfwf-emulator runs it
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        with pytest.raises(StateLockedError):
            run(emulator(url(state)))
    finally:
        os.close(fd)
    after = snapshot(tmp_path)
    del after["state.db.lock"]
    assert after == before


# -- what one event costs to store ----------------------------------------------------------


class Inbox(WorkflowEntrypoint):
    """Takes ``go`` events one after the other."""

    async def run(self, event: Any, step: Any) -> None:
        for index in range(100):
            await step.wait_for_event(f"go {index}", "go", timeout="1 day")


@contextmanager
def counting_lines() -> Iterator[list[int]]:
    """Count the lines of cfwf_emulator's code executed meanwhile: the work done, without a clock.

    The cycle collector is off meanwhile: garbage left by earlier tests (a closed emulator whose
    store finalizer runs when collected) must not count as this work."""
    count = [0]

    def local(frame: FrameType, event: str, arg: Any) -> Any:
        if event == "line":
            count[0] += 1
        return local

    def calls(frame: FrameType, event: str, arg: Any) -> Any:
        return local if frame.f_code.co_filename.startswith(PACKAGE) else None

    gc.collect()  # finalizers of earlier tests' emulators run now, not inside the count
    previous = sys.gettrace()
    collecting = gc.isenabled()
    gc.collect()
    gc.disable()
    sys.settrace(calls)
    try:
        yield count
    finally:
        sys.settrace(previous)
        if collecting:
            gc.enable()


@contextmanager
def tracing_sql(emu: Emulator) -> Iterator[list[str]]:
    """The SQL statements ``emu``'s SQLite store runs meanwhile, with their values and every
    number masked (``#``); none with the memory store."""
    statements: list[str] = []
    db = getattr(emu._store, "_db", None)
    if db is not None:
        db.set_trace_callback(lambda sql: statements.append(re.sub(r"\d+", "#", sql)))
    try:
        yield statements
    finally:
        if db is not None:
            db.set_trace_callback(None)


async def work_of_one_event(storage: str, buffered: int) -> tuple[int, list[str]]:
    """Lines executed and SQL statements (numbers masked) to send one event that a waiting
    instance takes, while ``buffered`` events of another type wait in its buffer. The instance
    stays in memory (``hibernate=None``): a hibernated one is read back whole, buffer included,
    when an event wakes it, as any replay reads the instance's state."""
    emu = Emulator(clock=VirtualClock(MADE_AT, autojump=False), storage=storage, hibernate=None)
    emu.add_workflow("inbox", Inbox, binding="INBOX")
    async with emu:
        inst = await emu.env.INBOX.create(id="i1")
        await emu.advance(0)
        for _ in range(buffered):
            await inst.send_event(type="other", payload="x")
        for _ in range(2):  # the same history before the measured event, whatever ``buffered``
            await inst.send_event(type="go", payload=None)
            await emu.advance(0)
        with tracing_sql(emu) as statements, counting_lines() as lines:
            await inst.send_event(type="go", payload=None)
            await emu.advance(0)
        steps = (await inst.describe())["steps"]
        assert [s["finished"] for s in steps] == [True, True, True, False]  # the third was taken
    return lines[0], statements


async def same_work(
    tmp_path: Path, kind: str, work: Callable[[str, int], Awaitable[tuple[int, list[str]]]], few: int, many: int
) -> list[str]:
    """The SQL of ``work(storage, few)``, checked to be the same lines of code and the same SQL
    (numbers masked, under 3,500 characters with the event log's row) as ``work(storage, many)``;
    each on a new state file (``kind`` sqlite) or in memory."""
    small = await work("memory" if kind == "memory" else url(tmp_path / "few.db"), few)
    large = await work("memory" if kind == "memory" else url(tmp_path / "many.db"), many)
    assert large == small
    assert sum(map(len, large[1])) == sum(map(len, small[1])) < 3_500
    return small[1]


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
async def test_storing_an_event_costs_the_same_with_10_or_5000_already_buffered(tmp_path: Path, kind: str) -> None:
    statements = await same_work(tmp_path, kind, work_of_one_event, 10, 5000)
    if kind == "sqlite":
        # a few header writes (each new status is written as it happens, for listings) and no
        # buffered event: the SQL is the same size whatever the buffer holds
        assert any(s.startswith("INSERT OR REPLACE INTO events") for s in statements)
        assert any(s.startswith("DELETE FROM events") for s in statements)


# -- what one attempt of a step costs to store ---------------------------------------------

#: The retry limit of the steps below: the greatest Cloudflare allows.
RETRY_LIMIT = 10_000
INTERRUPTED = {"name": "WorkflowInternalError", "message": "Attempt failed due to internal workflows error"}


class Stubborn(WorkflowEntrypoint):
    """One step that fails at every attempt, retried a second later, up to the limit."""

    async def run(self, event: Any, step: Any) -> None:
        config = {"retries": {"limit": RETRY_LIMIT, "delay": "1 second", "backoff": "constant"}}

        @step.do("stubborn", config=config)
        def fail(ctx: Any) -> None:
            raise RuntimeError(f"attempt {ctx['attempt']} failed")

        await fail()


async def work_of_one_attempt(storage: str, before: int) -> tuple[int, list[str]]:
    """Lines executed and SQL statements (numbers masked) to run one more failing attempt of a
    step after ``before`` failed ones."""
    emu = Emulator(clock=VirtualClock(MADE_AT, autojump=False), storage=storage)
    emu.add_workflow("stubborn", Stubborn, binding="STUBBORN")
    async with emu:
        inst = await emu.env.STUBBORN.create(id="s1")
        await emu.advance(f"{before - 1} seconds")  # attempt 1 at once, then one a second
        assert len((await inst.describe())["steps"][0]["attempts"]) == before
        with tracing_sql(emu) as statements, counting_lines() as lines:
            await emu.advance("1 second")
        attempts = (await inst.describe())["steps"][0]["attempts"]
        assert len(attempts) == before + 1
        assert attempts[-1]["error"] == {"name": "RuntimeError", "message": f"attempt {before + 1} failed"}
    return lines[0], statements


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
async def test_storing_an_attempt_costs_the_same_at_attempt_10_or_2000(tmp_path: Path, kind: str) -> None:
    statements = await same_work(tmp_path, kind, work_of_one_attempt, 10, 2_000)
    if kind == "sqlite":
        # the attempt's start and its outcome are each written with the step's row, which carries
        # the attempt in flight; the attempt before it, final now, becomes one row: the SQL is
        # the same size whatever the step's history
        assert sum(s.startswith("INSERT OR REPLACE INTO attempts") for s in statements) == 1


class Unlucky(WorkflowEntrypoint):
    """A step whose first ``fail`` attempts fail; the one after blocks while ``KILL_SWITCH`` is
    set (telling the test it is running), then returns its number; any attempt after succeeds."""

    async def run(self, event: Any, step: Any) -> int:
        config = {"retries": {"limit": RETRY_LIMIT, "delay": 0, "backoff": "constant"}}

        @step.do("unlucky", config=config)
        async def attempt(ctx: Any) -> int:
            number: int = ctx["attempt"]
            if number <= event["payload"]["fail"]:
                raise RuntimeError(f"attempt {number} failed")
            if KILL_SWITCH and number == event["payload"]["fail"] + 1:
                KILL_SWITCH[0].set()
                await asyncio.Event().wait()  # until the process is killed
            return number

        return int(await attempt())


#: In the process to be killed: its event, set when the attempt to kill the process in runs.
KILL_SWITCH: list[Any] = []


def unlucky_emulator(state: Path, at: float = MADE_AT) -> Emulator:
    emu = Emulator(clock=VirtualClock(at, autojump=False), storage=url(state))
    emu.add_workflow("unlucky", Unlucky, binding="UNLUCKY")
    return emu


def _killed_in_an_attempt(state: str, fail: int, running: Any) -> None:
    """The process killed: runs ``unlucky/u1`` until attempt ``fail + 1`` runs, and waits."""
    KILL_SWITCH.append(running)

    async def body(emu: Emulator) -> None:
        await emu.env.UNLUCKY.create(id="u1", params={"fail": fail})
        await emu.advance(0)

    run(unlucky_emulator(Path(state)), body)


def test_a_step_with_3000_attempts_survives_a_kill_in_its_next_attempt(tmp_path: Path) -> None:
    state = tmp_path / "state.db"
    context = multiprocessing.get_context("fork")
    running = context.Event()
    worker = context.Process(target=_killed_in_an_attempt, args=(str(state), 3_000, running))
    worker.start()
    try:
        assert running.wait(timeout=120), "attempt 3001 never ran"
    finally:
        os.kill(worker.pid, signal.SIGKILL)  # type: ignore[arg-type]
        worker.join(timeout=60)
    assert worker.exitcode == -signal.SIGKILL

    async def body(emu: Emulator) -> dict[str, Any]:
        await emu.run_until_idle()
        inst = await emu.env.UNLUCKY.get("u1")
        assert await inst.status() == {"status": "complete", "output": 3_002}
        return await inst.describe()

    (step,) = run(unlucky_emulator(state, at=MADE_AT + MINUTE), body)["steps"]
    attempts = step["attempts"]
    assert len(attempts) == 3_002
    assert [a["error"] for a in attempts[:3_000]] == [
        {"name": "RuntimeError", "message": f"attempt {number} failed"} for number in range(1, 3_001)
    ]
    assert all(a["success"] is False and a["end"] == a["start"] for a in attempts[:3_000])
    assert attempts[3_000] == {  # in flight at the kill: interrupted when the next process starts
        "start": attempts[0]["start"], "end": "2026-01-01T00:01:00.000Z", "success": False, "error": INTERRUPTED,
    }
    assert attempts[3_001] == {
        "start": "2026-01-01T00:01:00.000Z", "end": "2026-01-01T00:01:00.000Z", "success": True, "error": None,
    }


async def test_a_restart_or_a_delete_leaves_none_of_the_old_attempts(tmp_path: Path) -> None:
    state = tmp_path / "state.db"

    def stubborn(at: float) -> Emulator:
        emu = Emulator(clock=VirtualClock(at, autojump=False), storage=url(state))
        emu.add_workflow("stubborn", Stubborn, binding="STUBBORN")
        return emu

    async with stubborn(MADE_AT) as emu:
        inst = await emu.env.STUBBORN.create(id="s1")
        other = await emu.env.STUBBORN.create(id="s2")
        await emu.advance("9 seconds")  # 10 failed attempts each
        await inst.restart()
        await emu.advance(0)  # the first attempt of the new run
        await other.delete()
    async with stubborn(MADE_AT + 9_000.0) as emu:  # when the first stopped: no retry is due
        (step,) = (await (await emu.env.STUBBORN.get("s1")).describe())["steps"]
        assert [a["error"]["message"] for a in step["attempts"]] == ["attempt 1 failed"]
        with pytest.raises(WorkflowError, match="instance.not_found"):
            await emu.env.STUBBORN.get("s2")
    db = sqlite3.connect(state)
    try:
        # s1's one attempt rides in its step row; nothing of the old run or of s2 is left
        assert db.execute("SELECT id, count(*) FROM attempts GROUP BY id").fetchall() == []
        assert [row[0] for row in db.execute("SELECT id FROM steps")] == ["s1"]
    finally:
        db.close()


# -- a failed start releases everything ----------------------------------------------------


def test_a_failed_start_releases_the_lock_and_the_state_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    state = tmp_path / "state.db"
    make_state_file(state)

    def broken(self: Engine, loop: Any) -> None:
        raise RuntimeError("the engine cannot start")

    monkeypatch.setattr(Engine, "start", broken)
    first = emulator(url(state), at=MADE_AT + 2 * DAY)
    with pytest.raises(RuntimeError, match="cannot start"):
        run(first)
    assert open_files(state) == []
    assert lock_is_free(state)
    monkeypatch.undo()

    async def body(emu: Emulator) -> Any:
        await emu.run_until_idle()
        return await (await emu.env.SLEEPER.get("s1")).status()

    woke = {"status": "complete", "output": {"before": "b", "woke": True}}
    assert run(emulator(url(state), at=MADE_AT + 2 * DAY), body) == woke
    assert run(first, body) == woke  # the emulator whose start failed starts once the cause is gone
    assert open_files(state) == []


def test_a_start_refused_by_the_store_releases_the_lock(tmp_path: Path) -> None:
    state = tmp_path / "state.db"
    emu = emulator(url(state))  # no file yet; another program then puts a newer one there
    state.unlink(missing_ok=True)
    db = sqlite3.connect(state)
    db.execute(f"PRAGMA application_id = {APPLICATION_ID}")
    db.execute("PRAGMA user_version = 99")
    db.execute("CREATE TABLE future (x)")
    db.commit()
    db.close()
    with pytest.raises(StoreError, match="schema version 99"):
        run(emu)
    assert open_files(state) == []
    assert lock_is_free(state)


# -- corrupt instances are quarantined -----------------------------------------------------


def corrupt(state: Path, instance_id: str, header: str) -> None:
    db = sqlite3.connect(state)
    db.execute("UPDATE instances SET header = ? WHERE id = ?", (header, instance_id))
    db.commit()
    db.close()


async def test_corrupt_instances_are_reported_and_deletable_while_the_others_run(tmp_path: Path) -> None:
    state = tmp_path / "state.db"

    async def body(emu: Emulator) -> None:
        for instance_id in ("q2", "q3", "q4"):
            await emu.env.QUICK.create(id=instance_id, params={"n": 1})
        await emu.env.SLEEPER.create(id="s1")
        await emu.advance("1 minute")

    await asyncio.to_thread(run, emulator(url(state)), body)
    db = sqlite3.connect(state)
    q3 = db.execute("SELECT header FROM instances WHERE id = 'q3'").fetchone()[0]
    # q4's one attempt rides in its step's row
    db.execute("""UPDATE steps SET data = json_set(data, '$.current_attempt[1]', json('["not an attempt"]')) WHERE id = 'q4'""")
    db.commit()
    db.close()
    corrupt(state, "q2", '{"workflow": "quick", "id": "q2", trunc')
    corrupt(state, "q3", q3.replace('"status":"complete"', '"status":"bogus"'))

    emu = emulator(url(state), at=MADE_AT + MINUTE)
    with pytest.warns(StorageWarning) as warned:
        await emu.start()
    try:
        messages = sorted(str(w.message) for w in warned if issubclass(w.category, StorageWarning))
        assert len(messages) == 3
        assert "quick/q2" in messages[0] and "JSONDecodeError" in messages[0]
        assert "quick/q3" in messages[1] and "'bogus'" in messages[1]
        assert "quick/q4" in messages[2] and "attempt 1 of step 'add' is malformed" in messages[2]
        for message in messages:
            assert str(state) in message and "corrupt" in message and "delete" in message
        await emu.advance("1 day")
        s1 = await emu.env.SLEEPER.get("s1")
        assert await s1.status() == {"status": "complete", "output": {"before": "b", "woke": True}}
        for instance_id, what in (("q2", "JSONDecodeError"), ("q3", "'bogus'"), ("q4", "not an attempt")):
            inst = await emu.env.QUICK.get(instance_id)
            for read in (inst.status, inst.describe, inst.pause):
                with pytest.raises(StoreError) as caught:
                    await read()
                assert f"quick/{instance_id}" in str(caught.value) and what in str(caught.value)
                assert "corrupt" in str(caught.value) and "delete" in str(caught.value)
            await inst.delete()
            with pytest.raises(WorkflowError, match="not found"):
                await emu.env.QUICK.get(instance_id)
        again = await emu.env.QUICK.create(id="q2", params={"n": 41})
        await emu.run_until_idle()
        assert await again.status() == {"status": "complete", "output": 42}
    finally:
        await emu.aclose()


def test_rows_written_with_spaces_load_and_rows_with_more_after_their_json_are_corrupt(tmp_path: Path) -> None:
    """What the loader accepts is what JSON accepts: whitespace around and inside a row (another
    tool may write one so), never anything after the value."""
    from cfwf_emulator.engine.records import InstanceRecord, StepRecord

    state = tmp_path / "state.db"
    store = SQLiteStore(state)
    record = InstanceRecord("w", "i1", '{"a": 1}', MADE_AT, queued_ms=MADE_AT, status="running", next_seq=1)
    step = StepRecord("do", "s", 1, 0, MADE_AT, "ok", end_ms=MADE_AT, result="[1, 2]")
    record.steps[step.key] = step
    store.insert_instance(record)
    store.close()
    db = sqlite3.connect(state)
    header, data = db.execute("SELECT i.header, s.data FROM instances i JOIN steps s USING (workflow, id)").fetchone()
    spaced = (" \n" + json.dumps(json.loads(header), indent=2) + "\n", "\t" + json.dumps(json.loads(data), indent=1))
    db.execute("UPDATE instances SET header = ?", (spaced[0],))
    db.execute("UPDATE steps SET data = ?", (spaced[1],))
    db.commit()
    store = SQLiteStore(state)
    try:
        assert store.load_instance("w", "i1") == record
    finally:
        store.close()
    for table, column, text in (("instances", "header", header + " {}"), ("steps", "data", data + "x")):
        db.execute(f"UPDATE {table} SET {column} = ?", (text,))
        db.commit()
        store = SQLiteStore(state)
        try:
            with pytest.raises(StoreError, match="corrupt .*JSONDecodeError: Extra data"):
                store.load_instance("w", "i1")
        finally:
            store.close()
        db.execute(f"UPDATE {table} SET {column} = ?", ({"instances": spaced[0], "steps": spaced[1]}[table],))
    db.close()


# -- two processes racing for a new state file ----------------------------------------------


def _contender(path: str, on_locked: str, start: Any, hold: Any, results: Any) -> None:
    """One process: wait for the other, open the state file, create an instance, report."""
    outcome = "ok"
    try:
        start.wait(timeout=30)
        emu = emulator(url(Path(path)), on_locked=on_locked)

        async def body(emu: Emulator) -> None:
            await emu.env.QUICK.create(id=f"p{os.getpid()}", params={"n": 1})
            await emu.run_until_idle()
            if hold is not None:
                hold.wait(timeout=30)  # keep the lock until the other one has tried

        run(emu, body)
    except StateLockedError:
        outcome = "locked"
    except BaseException as exc:
        outcome = f"{type(exc).__name__}: {exc}"
    finally:
        if hold is not None and outcome != "ok":
            hold.wait(timeout=30)
        results.put(outcome)


@pytest.mark.parametrize("on_locked", ["error", "wait"])
def test_two_processes_opening_a_new_state_file_at_once(tmp_path: Path, on_locked: str) -> None:
    context = multiprocessing.get_context("fork")
    for trial in range(10):
        path = tmp_path / f"race-{trial}.db"
        start = context.Barrier(2)
        hold = context.Barrier(2) if on_locked == "error" else None
        results = context.Queue()
        workers = [
            context.Process(target=_contender, args=(str(path), on_locked, start, hold, results))
            for _ in range(2)
        ]
        for worker in workers:
            worker.start()
        outcomes = sorted(results.get(timeout=60) for _ in workers)
        for worker in workers:
            worker.join(timeout=60)
        expected = ["locked", "ok"] if on_locked == "error" else ["ok", "ok"]
        assert outcomes == expected, f"trial {trial}"
        db = sqlite3.connect(path)
        try:
            created = db.execute("SELECT count(*) FROM instances").fetchone()[0]
        finally:
            db.close()
        assert created == (1 if on_locked == "error" else 2)


# -- empty and refused files ------------------------------------------------------------------


def test_an_empty_file_becomes_a_new_state_file_with_a_warning(tmp_path: Path) -> None:
    state = tmp_path / "state.db"
    state.write_bytes(b"")

    async def body(emu: Emulator) -> Any:
        await emu.env.QUICK.create(id="q1", params={"n": 1})
        await emu.run_until_idle()

    with pytest.warns(StorageWarning, match=r"is empty \(0 bytes\).*no instances.*backup"):
        run(emulator(url(state)), body)

    async def read(emu: Emulator) -> Any:
        return await (await emu.env.QUICK.get("q1")).status()

    assert run(emulator(url(state)), read) == {"status": "complete", "output": 2}


def _sqlite_file(path: Path, *statements: str) -> None:
    db = sqlite3.connect(path)
    for statement in statements:
        db.execute(statement)
    db.commit()
    db.close()


REFUSED = {
    "not SQLite": lambda path: path.write_bytes(random.Random(7).randbytes(8192)),
    "too short for SQLite": lambda path: path.write_bytes(b"SQLite format 3\x00"),
    "another application": lambda path: _sqlite_file(path, "CREATE TABLE notes (text)"),
    "another application id": lambda path: _sqlite_file(
        path, "PRAGMA application_id = 1234", "CREATE TABLE notes (text)"
    ),
    "a newer schema": lambda path: _sqlite_file(
        path, f"PRAGMA application_id = {APPLICATION_ID}", "PRAGMA user_version = 3", "CREATE TABLE f (x)"
    ),
    "a newer schema in WAL mode": lambda path: _sqlite_file(
        path, "PRAGMA journal_mode = WAL", f"PRAGMA application_id = {APPLICATION_ID}",
        "PRAGMA user_version = 3", "CREATE TABLE f (x)",
    ),
    "an unknown older schema": lambda path: _sqlite_file(
        path, "PRAGMA journal_mode = WAL", f"PRAGMA application_id = {APPLICATION_ID}",
        "CREATE TABLE instances (x)",
    ),
}


@pytest.mark.parametrize("kind", REFUSED)
def test_a_refused_state_file_is_not_modified(tmp_path: Path, kind: str) -> None:
    state = tmp_path / "state.db"
    REFUSED[kind](state)
    os.utime(state, ns=(1_000_000_000_000_000_000, 1_000_000_000_000_000_000))
    before = snapshot(tmp_path)
    assert list(before) == ["state.db"]
    with pytest.raises(StoreError) as caught:
        run(emulator(url(state)))
    message = str(caught.value)
    assert str(state) in message
    assert "point storage at another path" in message or "upgrade cfwf-emulator" in message
    assert snapshot(tmp_path) == before


async def test_a_step_that_succeeds_at_once_writes_no_attempt_row(tmp_path: Path) -> None:
    """The attempt in flight rides in its step's row: the common path costs no extra statement."""
    state = tmp_path / "state.db"

    async def body(emu: Emulator) -> None:
        await emu.env.QUICK.create(id="q1", params={"n": 1})
        await emu.advance(0)
        (step,) = (await (await emu.env.QUICK.get("q1")).describe())["steps"]
        assert [a["success"] for a in step["attempts"]] == [True]

    await asyncio.to_thread(run, emulator(url(state)), body)
    db = sqlite3.connect(state)
    try:
        assert db.execute("SELECT count(*) FROM attempts").fetchone() == (0,)
        assert db.execute("SELECT count(*) FROM steps WHERE id = 'q1'").fetchone() == (1,)
    finally:
        db.close()


class LongThenWait(WorkflowEntrypoint):
    """``steps`` finished steps, then a wait for ``go`` (a year at most)."""

    async def run(self, event: Any, step: Any) -> Any:
        total = 0
        for index in range(event.payload["steps"]):
            @step.do(f"step {index}")
            async def one() -> int:
                return 1

            total += await one()
        await step.wait_for_event("go", "go", timeout="365 days")
        return total


async def work_of_a_restart_and_status(state: Path, steps: int) -> int:
    """Lines executed to start an emulator on a state file holding an instance that waits after
    ``steps`` finished steps, and to read its status twice: with hibernation on by default, it
    stays out of memory, so neither needs its finished steps."""
    async with Emulator(clock="virtual", storage=f"sqlite:///{state}") as emu:
        emu.add_workflow("long", LongThenWait, binding="LONG")
        await emu.env.LONG.create(id="long", params={"steps": steps})
        await emu.advance(0)
    emu = Emulator(clock="virtual", storage=f"sqlite:///{state}")
    emu.add_workflow("long", LongThenWait, binding="LONG")
    with counting_lines() as count:
        async with emu:
            handle = await emu.env.LONG.get("long")
            for _ in range(2):
                assert (await handle.status())["status"] == "waiting"
    return count[0]


async def test_a_restart_and_status_of_a_hibernated_instance_cost_the_same_after_10_or_1000_steps(tmp_path: Path) -> None:
    """Recovery tells when a waiting instance wakes from its pending steps only, and status()
    of a hibernated instance reads no finished step: a long history costs nothing until it
    wakes (before: every finished step was decoded at start and by each status())."""
    short = await work_of_a_restart_and_status(tmp_path / "short.db", 10)
    long = await work_of_a_restart_and_status(tmp_path / "long.db", 1000)
    assert long < short * 1.2, (short, long)


async def test_status_of_a_finished_instance_let_go_reads_no_step_and_stays_right(tmp_path: Path) -> None:
    """A finished instance hibernation let go answers status() with its output, reading no step."""
    counts = []
    for steps in (10, 1000):
        async with Emulator(clock="virtual", storage=f"sqlite:///{tmp_path / f'{steps}.db'}") as emu:
            emu.add_workflow("long", LongThenWait, binding="LONG")
            handle = await emu.env.LONG.create(id="long", params={"steps": steps})
            await emu.advance(0)
            await handle.send_event(type="go", payload=None)
            await emu.advance(0)
            with counting_lines() as count:
                assert await handle.status() == {"status": "complete", "output": steps}
            counts.append(count[0])
    assert counts[1] < counts[0] * 1.2, counts


class Varied(WorkflowEntrypoint):
    """Steps whose rows carry every kind of field: a retried failure with an odd error message
    (a lone surrogate, a line separator, quotes), a non-ASCII name and result, a sleep."""

    async def run(self, event: Any, step: Any) -> Any:
        @step.do("flaky \u00e9\"\\", config={"retries": {"limit": 1, "delay": "1 second"}})
        async def flaky() -> Any:
            if step_calls.setdefault("flaky", 0) < 1:
                step_calls["flaky"] += 1
                raise ValueError("bad \ud800 \u2028 \"quoted\"")
            return {"caf\u00e9": [1, 2.5, None, "\u2028"]}

        value = await flaky()
        await step.sleep("nap", "1 minute")

        for name, message in (("doomed", "no \u2028 luck"), ("cursed", "no \ud800 luck")):

            @step.do(name, config={"retries": {"limit": 0, "delay": "1 second"}})
            async def fails() -> None:
                raise RuntimeError(message)

            try:
                await fails()
            except Exception:  # noqa: BLE001 - the workflow goes on after a failed step
                pass

        @step.do("ints")
        async def ints() -> int:
            return 7

        return [value, await ints()]


step_calls: dict[str, int] = {}


def test_each_step_row_holds_its_record_as_json(tmp_path: Path) -> None:
    """The state file's step rows are JSON objects holding exactly what the records hold (every
    field, the newest attempt beside them), whatever the text in them; they read back equal."""
    state = tmp_path / "state.db"
    step_calls.clear()

    async def body(emu: Emulator) -> Any:
        await emu.env.VARIED.create(id="v1")
        await emu.advance("1 hour")
        return await (await emu.env.VARIED.get("v1")).status()

    emu = Emulator(clock=VirtualClock(start=MADE_AT), storage=url(state))
    emu.add_workflow("varied", Varied, binding="VARIED")
    assert run(emu, body) == {"status": "complete", "output": [{"caf\u00e9": [1, 2.5, None, "\u2028"]}, 7]}
    db = sqlite3.connect(state)
    try:
        rows = {name: json.loads(data) for name, data in db.execute("SELECT name, data FROM steps")}
        attempts = list(db.execute("SELECT name, n, data FROM attempts"))
    finally:
        db.close()
    store = SQLiteStore(state)
    try:
        record = store.load_instance("varied", "v1")
    finally:
        store.close()
    assert record is not None and set(rows) == {step.name for step in record.steps.values()}
    for step in record.steps.values():
        expected = step.to_json()
        if step.attempts:
            expected["current_attempt"] = [len(step.attempts), step.attempts[-1]]
        assert rows[step.name] == expected
    flaky = rows["flaky \u00e9\"\\"]
    assert flaky["current_attempt"][0] == 2 and flaky["result"] == '{"caf\u00e9":[1,2.5,null,"\u2028"]}'
    assert [(name, n) for name, n, _ in attempts] == [("flaky \u00e9\"\\", 1)]
    assert "\ud800" in json.loads(attempts[0][2])["error"]["message"]
    assert isinstance(rows["nap"]["start_ms"], float) and rows["ints"]["count"] == 1
    for name, message in (("doomed", "no \u2028 luck"), ("cursed", "no \ud800 luck")):
        failed = rows[name]
        assert (failed["state"], failed["error"]["name"], failed["error"]["message"]) == ("error", "RuntimeError", message)
        assert failed["config"] == {"retries": {"limit": 0, "delay": "1 second", "backoff": "exponential"}, "timeout": "10 minutes"}
    assert [rows[name]["seq"] for name in ("flaky \u00e9\"\\", "nap", "doomed", "cursed", "ints")] == [0, 1, 2, 3, 4]
    assert rows["nap"]["deadline_ms"] is None and rows["nap"]["end_ms"] == rows["nap"]["start_ms"] + MINUTE
