"""One durable point per step on SQLite: a step's outcome shares its commit with what follows it
(the next attempt's start, a sleep, the end of ``run``), yet nothing ever starts or is reported
before what it depends on is committed.

Commits are counted with a SQLite trace callback on the emulator's own connection (every
``COMMIT`` statement is one fsync with ``synchronous=FULL``); what is durable is read from a
second, read-only connection, which in WAL mode sees committed data only: what a process killed
at that moment would find.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from cfwf_emulator import Emulator, VirtualClock, WorkflowEntrypoint
from cfwf_emulator.store import SQLiteStore

SEEN: dict[str, Any] = {}
#: The steps each instance of Checked has checked so far, in order.
CHECKED: dict[str, list[str]] = {}
STEPS = 12


@pytest.fixture(autouse=True)
def _clear_seen() -> None:
    SEEN.clear()
    CHECKED.clear()


def on_disk(state: Path, workflow: str, instance_id: str) -> dict[str, Any]:
    """The instance as another process would read it now: status and steps by name."""
    store = SQLiteStore(state, readonly=True)
    try:
        record = store.load_instance(workflow, instance_id)
    finally:
        store.close()
    assert record is not None
    steps = {step.name: {**step.to_json(), "attempts": list(step.attempts)} for step in record.steps.values()}
    return {"status": record.status, "steps": steps}


class Straight(WorkflowEntrypoint):
    """``STEPS`` trivial steps, the decorator form with ``async def`` bodies."""

    async def run(self, event: Any, step: Any) -> Any:
        value = 0
        for index in range(STEPS):

            @step.do(f"step {index}")
            async def add_one() -> int:
                return value + 1

            value = await add_one()
        return value


class Checked(WorkflowEntrypoint):
    """Each callback reads the state file: its own attempt and every earlier outcome must be there."""

    async def run(self, event: Any, step: Any) -> Any:
        state = Path(event["payload"]["state"])
        # the steps checked so far, kept by the test outside the workflow: the instance is
        # replayed after its nap (hibernation), and a replay runs no callback again
        names = CHECKED.setdefault(event["instanceId"], [])

        def check(name: str) -> None:
            disk = on_disk(state, "checked", event["instanceId"])["steps"]
            SEEN[name] = {
                "own attempt": disk.get(name, {}).get("attempts"),
                "earlier": {earlier: disk.get(earlier, {}).get("state") for earlier in names},
            }
            names.append(name)

        @step.do("fails", config={"retries": {"limit": 1, "delay": 1000, "backoff": "constant"}})
        async def fails() -> None:
            check("fails") if "fails" not in names else None
            raise ValueError("always")

        try:
            await fails()
        except Exception as exc:  # noqa: BLE001 - its retries are exhausted: the workflow goes on
            SEEN["caught"] = str(exc)

        def concurrent(name: str) -> Any:
            @step.do(name)
            async def body() -> str:
                check(name)
                await asyncio.sleep(0)  # suspends: the three run at once
                return name

            return body

        together = await asyncio.gather(*(concurrent(name)() for name in ("a", "b", "c")))

        @step.do("after gather")
        def after_gather() -> list[str]:
            check("after gather")
            return together

        await after_gather()
        await step.sleep("nap", "1 minute")

        @step.do("after nap")
        def after_nap() -> str:
            check("after nap")
            return "woke"

        return await after_nap()


def make(state: Path) -> Emulator:
    emu = Emulator(clock="virtual", storage=f"sqlite:///{state}")
    emu.add_workflow("straight", Straight, binding="STRAIGHT")
    emu.add_workflow("checked", Checked, binding="CHECKED")
    return emu


def count_commits(emu: Emulator) -> list[str]:
    commits: list[str] = []
    emu._store._db.set_trace_callback(lambda sql: commits.append(sql) if sql == "COMMIT" else None)  # type: ignore[attr-defined]
    return commits


async def test_a_step_on_the_straight_path_costs_one_commit_of_its_rows_and_no_header(tmp_path: Path) -> None:
    state = tmp_path / "state.db"
    async with make(state) as emu:
        inst = await emu.env.STRAIGHT.create(id="s1")
        statements: list[str] = []
        emu._store._db.set_trace_callback(statements.append)  # type: ignore[attr-defined]
        await emu.run_until_idle()
        assert await inst.status() == {"status": "complete", "output": STEPS}
    # one commit per step (its attempt start with the previous step's result), plus the last
    # step's result with the instance's final status
    assert statements.count("COMMIT") == STEPS + 1
    # a new step changes nothing in the header but the next step number, which loading derives
    # from the steps: the header is written with the first step (status "running") and at the end
    headers = [sql for sql in statements if sql.startswith("UPDATE instances")]
    assert len(headers) == 2, headers
    assert not [sql for sql in statements if sql.startswith(("SAVEPOINT", "RELEASE"))]
    assert sum(sql.startswith("INSERT OR REPLACE INTO steps") for sql in statements) == 2 * STEPS
    disk = on_disk(state, "straight", "s1")
    assert disk["status"] == "complete"
    assert [disk["steps"][f"step {index}"]["result"] for index in range(STEPS)] == [str(i + 1) for i in range(STEPS)]


async def test_no_callback_starts_before_its_attempt_and_everything_before_it_is_committed(tmp_path: Path) -> None:
    state = tmp_path / "state.db"
    async with make(state) as emu:
        inst = await emu.env.CHECKED.create(id="c1", params={"state": str(state)})
        await emu.run_until_idle()
        assert await inst.status() == {"status": "complete", "output": "woke"}
    assert SEEN["caught"] == "always"
    for name in ("fails", "a", "b", "c", "after gather", "after nap"):
        attempts = SEEN[name]["own attempt"]
        assert attempts is not None and attempts[-1]["end"] is None, (name, attempts)
    # the step that exhausted its retries, and the concurrent steps, are durable outcomes before
    # the next callback starts
    assert SEEN["a"]["earlier"] == {"fails": "error"}
    assert SEEN["after gather"]["earlier"] == {"fails": "error", "a": "ok", "b": "ok", "c": "ok"}
    assert SEEN["after nap"]["earlier"]["after gather"] == "ok"
    disk = on_disk(state, "checked", "c1")
    assert disk["steps"]["nap"]["state"] == "ok" and disk["status"] == "complete"


async def test_a_failed_step_caught_by_the_workflow_shares_its_commit_with_the_next_step(tmp_path: Path) -> None:
    class CatchThenStep(WorkflowEntrypoint):
        async def run(self, event: Any, step: Any) -> Any:
            @step.do("fails", config={"retries": {"limit": 0, "delay": 1, "backoff": "constant"}})
            async def fails() -> None:
                raise ValueError("no")

            try:
                await fails()
            except Exception:  # noqa: BLE001
                pass

            @step.do("next")
            async def following() -> str:
                return "ok"

            return await following()

    state = tmp_path / "state.db"
    emu = Emulator(clock="virtual", storage=f"sqlite:///{state}")
    emu.add_workflow("catch", CatchThenStep, binding="CATCH")
    async with emu:
        inst = await emu.env.CATCH.create(id="x")
        commits = count_commits(emu)
        await emu.run_until_idle()
        assert await inst.status() == {"status": "complete", "output": "ok"}
    # "fails" attempt start; its error with "next"'s attempt start; "next"'s result with the status
    assert len(commits) == 3
    disk = on_disk(state, "catch", "x")
    assert disk["steps"]["fails"]["state"] == "error" and disk["steps"]["next"]["state"] == "ok"


async def test_status_reports_completion_only_once_it_is_committed(tmp_path: Path) -> None:
    state = tmp_path / "state.db"
    async with make(state) as emu:
        inst = await emu.env.STRAIGHT.create(id="s1")
        seen: list[str] = []
        for _ in range(10_000):
            status = (await inst.status())["status"]
            disk = on_disk(state, "straight", "s1")
            seen.append(status)
            if status == "complete":
                assert disk["status"] == "complete"
                assert disk["steps"][f"step {STEPS - 1}"]["state"] == "ok"
                break
            await emu.advance(0)
    assert seen[-1] == "complete"


_CRASHING = textwrap.dedent(
    """
    import asyncio, json, os, signal, sys
    from pathlib import Path
    from cfwf_emulator import Emulator, VirtualClock, WorkflowEntrypoint

    calls = Path(sys.argv[2])

    class Crashing(WorkflowEntrypoint):
        async def run(self, event, step):
            @step.do("first")
            async def first():
                with calls.open("a") as out:
                    out.write("first\\n")
                return 1

            one = await first()
            if os.environ.get("CRASH") == "1":
                os.kill(os.getpid(), signal.SIGKILL)  # between the result and the next step

            @step.do("second")
            async def second():
                with calls.open("a") as out:
                    out.write("second\\n")
                return one + 1

            return await second()

    async def main():
        emu = Emulator(clock="virtual", storage=f"sqlite:///{sys.argv[1]}")
        emu.add_workflow("crashing", Crashing, binding="CRASHING")
        async with emu:
            if os.environ.get("CRASH") == "1":
                await emu.env.CRASHING.create(id="k")
            await emu.run_until_idle()
            inst = await emu.env.CRASHING.get("k")
            print(json.dumps({"status": await inst.status(), "describe": await emu.api.describe("crashing", "k")}))

    asyncio.run(main())
    """
)


def test_a_crash_between_a_result_and_the_next_step_retries_the_step_as_interrupted(tmp_path: Path) -> None:
    script, state, calls = tmp_path / "crashing.py", tmp_path / "state.db", tmp_path / "calls.txt"
    script.write_text(_CRASHING)
    command = [sys.executable, str(script), str(state), str(calls)]
    killed = subprocess.run(command, env={**_environ(), "CRASH": "1"}, capture_output=True, text=True, timeout=120)
    assert killed.returncode == -9, killed.stderr
    assert calls.read_text().split() == ["first"]
    disk = on_disk(state, "crashing", "k")
    # the result was not committed yet: it shares the next step's commit, which never came
    assert disk["steps"]["first"]["attempts"][0]["end"] is None and "second" not in disk["steps"]
    resumed = subprocess.run(command, env=_environ(), capture_output=True, text=True, timeout=120)
    assert resumed.returncode == 0, resumed.stderr
    report = json.loads(resumed.stdout)
    assert report["status"] == {"status": "complete", "output": 2}
    first = next(step for step in report["describe"]["steps"] if step["cfwf"]["name"] == "first")
    assert [attempt["success"] for attempt in first["attempts"]] == [False, True]
    assert first["attempts"][0]["error"]["name"] == "WorkflowInternalError"  # interrupted, as README says
    assert calls.read_text().split() == ["first", "first", "second"]


def _environ() -> dict[str, str]:
    import os

    return {key: value for key, value in os.environ.items() if key != "CRASH"}


async def test_what_status_and_describe_return_is_already_committed(tmp_path: Path) -> None:
    state = tmp_path / "state.db"
    async with make(state) as emu:
        inst = await emu.env.STRAIGHT.create(id="s1")
        reads = 0
        for _ in range(10_000):  # bounded: a run that never completes fails below, not hangs
            await asyncio.sleep(0)  # one turn of the event loop: the run moves on meanwhile
            described = await inst.describe()
            status = (await inst.status())["status"]
            disk = on_disk(state, "straight", "s1")
            done = [step["cfwf"]["name"] for step in described["steps"] if step["success"]]
            assert all(disk["steps"][name]["state"] == "ok" for name in done), (done, disk["steps"])
            assert status != "complete" or disk["status"] == "complete"
            reads += 1
            if status == "complete":
                break
    assert status == "complete" and reads > 1  # the reads interleaved with the run


GATES: dict[str, asyncio.Event] = {}


class Gated(WorkflowEntrypoint):
    """Steps "s1" to "s5"; "s3" and "s5" wait, inside their callbacks, for the test to open their gate."""

    async def run(self, event: Any, step: Any) -> Any:
        done = []
        for name in ("s1", "s2", "s3", "s4", "s5"):

            @step.do(name)
            async def one() -> str:
                if name in GATES:
                    await GATES[name].wait()
                return name

            done.append(await one())
        return done


def gated(state: Path, clock: VirtualClock) -> Emulator:
    emu = Emulator(clock=clock, storage=f"sqlite:///{state}")
    emu.add_workflow("gated", Gated, binding="GATED")
    return emu


def listed_modified(state: Path) -> float:
    store = SQLiteStore(state, readonly=True)
    try:
        (only,) = store.list_instances("gated", limit=10)
        return only.modified_ms
    finally:
        store.close()


async def test_a_new_steps_start_still_moves_the_modified_time_and_step_numbers_go_on_after_a_restart(
    tmp_path: Path,
) -> None:
    state = tmp_path / "state.db"
    start = 1_767_225_600_000.0
    GATES.clear()
    GATES["s3"], GATES["s5"] = asyncio.Event(), asyncio.Event()
    try:
        clock = VirtualClock(start, autojump=False)
        async with gated(state, clock) as emu:
            await emu.env.GATED.create(id="g1")
            await emu.advance(0)  # s1, s2 done; s3's callback waits for its gate
            clock.jump_to(start + 5 * 60_000.0)  # while it waits (no timer falls due)
            GATES["s3"].set()
            await emu.advance(0)  # s3 ends and s4 starts 5 minutes in; s5 waits for its gate
            assert listed_modified(state) == start + 5 * 60_000.0
        # the emulator stopped inside s5's callback: its header was last written with s1's start
        GATES["s5"].set()
        async with gated(state, VirtualClock(start + 10 * 60_000.0, autojump=False)) as again:
            await again.run_until_idle()  # s5's interrupted attempt is retried after its delay
            inst = await again.env.GATED.get("g1")
            assert await inst.status() == {"status": "complete", "output": ["s1", "s2", "s3", "s4", "s5"]}
            described = await again.api.describe("gated", "g1")
    finally:
        GATES.clear()
    assert [step["name"] for step in described["steps"]] == ["s1-1", "s2-1", "s3-1", "s4-1", "s5-1"]
    store = SQLiteStore(state, readonly=True)
    try:
        record = store.load_instance("gated", "g1")
    finally:
        store.close()
    assert record is not None
    assert sorted(step.seq for step in record.steps.values()) == [0, 1, 2, 3, 4]
    assert record.next_seq == 5
