"""Durability with the SQLite store: recovery after a restart, single ownership, bad state files.

A process restart is modelled by leaving one emulator's ``async with`` (its instances stop where
they are) and starting a NEW ``Emulator`` object on the same state file with the same workflow
classes registered: it must resume every unfinished instance by itself. Callback calls are
counted in the module-level ``CALLS`` to prove completed steps are not executed again.
"""

from __future__ import annotations

import array
import asyncio
import fcntl
import gc
import os
import random
import sqlite3
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, Awaitable, Callable, Iterator

import pytest

from cfwf_emulator import StorageWarning

from cfwf_emulator import Emulator, VirtualClock, WorkflowEntrypoint
from cfwf_emulator.store import SQLiteStore, StoreError
from cfwf_emulator.store.lock import StateLockedError
from cfwf_emulator.store.sqlite import SCHEMA_VERSION
from cfwf_emulator.testing import introspect_workflow_instance

START_MS = 1_767_225_600_000.0  # 2026-01-01T00:00:00Z
SECOND = 1_000.0
MINUTE = 60 * SECOND
HOUR = 60 * MINUTE
APPLICATION_ID = 0x63667766  # "cfwf", what a cfwf-emulator state file is marked with
INTERRUPTED = {"name": "WorkflowInternalError", "message": "Attempt failed due to internal workflows error"}

CALLS: dict[str, int] = {}
GATES: dict[str, asyncio.Event] = {}


@pytest.fixture(autouse=True)
def _reset() -> Iterator[None]:
    CALLS.clear()
    GATES.clear()
    yield
    CALLS.clear()
    GATES.clear()


def called(name: str) -> None:
    CALLS[name] = CALLS.get(name, 0) + 1


def iso_ms(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000.0


def url(path: Path) -> str:
    return f"sqlite:///{path}"  # an absolute path gives sqlite:////abs/path


def emulator(path: Path, at: float = START_MS, **options: Any) -> Emulator:
    """An emulator on the state file ``path`` whose virtual clock starts at ``at`` and moves only
    through advance/run_until_idle; every workflow of this file is registered."""
    emu = Emulator(clock=VirtualClock(at, autojump=False), storage=url(path), **options)
    for name, cls in WORKFLOWS.items():
        emu.add_workflow(name, cls, binding=name.upper())
    return emu


def earlier_process(state: Path, body: Callable[[Emulator], Awaitable[None]]) -> None:
    """Run ``body(emu)`` in an emulator on ``state`` in its own event loop, then let everything
    go so the database connection closes, as when a process exits cleanly (no WAL file left)."""

    async def main() -> None:
        async with emulator(state) as emu:
            await body(emu)

    asyncio.run(main())
    gc.collect()
    assert not Path(f"{state}-wal").exists(), "the earlier emulator's connection is still open"


# -- workflows -----------------------------------------------------------------------------


class Steps(WorkflowEntrypoint):
    """Two steps, a 1-hour sleep, a third step."""

    async def run(self, event, step):
        @step.do("one")
        async def one():
            called("one")
            return {"n": 1}

        @step.do("two")
        async def two():
            called("two")
            return "two"

        first = await one()
        second = await two()
        await step.sleep("nap", "1 hour")

        @step.do("three")
        async def three():
            called("three")
            return 3

        return [first, second, await three()]


class Sleeper(WorkflowEntrypoint):
    """Sleeps 1 hour, then records the time a step sees."""

    async def run(self, event, step):
        await step.sleep("nap", "1 hour")

        @step.do("after")
        def after():
            return called("after") or "woke"

        return await after()


class Approval(WorkflowEntrypoint):
    """A step, a 1-hour sleep, then an event wait of type "approval" (timeout 1 day)."""

    async def run(self, event, step):
        @step.do("prepare")
        def prepare():
            return called("prepare") or "ready"

        await prepare()
        await step.sleep("nap", "1 hour")
        got = await step.wait_for_event("wait approval", "approval", timeout="1 day")
        return got["payload"]


class Waiter(WorkflowEntrypoint):
    """Waits (timeout 1 hour) for "go", then calls the "fetch" step."""

    async def run(self, event, step):
        try:
            got = await step.wait_for_event("wait go", "go", timeout="1 hour")
        except Exception as exc:  # noqa: BLE001 - the outcome is the output
            return {"timed_out": type(exc).__name__, "message": str(exc)}

        @step.do("fetch")
        async def fetch():
            called("fetch")
            return "real"

        return {"payload": got["payload"], "fetched": await fetch()}


class Blocking(WorkflowEntrypoint):
    """A step whose callback blocks on GATES["gate"] while GATES holds one (retries: limit 2,
    constant 30 s); the test stops the emulator while the attempt is in flight."""

    async def run(self, event, step):
        @step.do("slow", config={"retries": {"limit": event.payload["limit"], "delay": "30 seconds",
                                             "backoff": "constant"}})
        async def slow():
            called("slow")
            gate = GATES.get("gate")
            if gate is not None:
                GATES["entered"].set()
                await gate.wait()
            return "done"

        return await slow()


class Flaky(WorkflowEntrypoint):
    """A step whose first attempt fails; retries after 10 minutes."""

    async def run(self, event, step):
        @step.do("flaky", config={"retries": {"limit": 3, "delay": "10 minutes", "backoff": "constant"}})
        async def flaky():
            called("flaky")
            if CALLS["flaky"] == 1:
                raise ValueError("first attempt fails")
            return "ok"

        return await flaky()


class Big(WorkflowEntrypoint):
    """A small step, an event wait, then a step with a 900 KB result."""

    async def run(self, event, step):
        @step.do("small")
        def small():
            return called("small") or "small"

        await small()
        await step.wait_for_event("wait go", "go", timeout="1 day")

        @step.do("big")
        def big_step():
            return called("big") or "x" * 900_000

        big = await big_step()
        return len(big)


class Failing(WorkflowEntrypoint):
    """One step, then run() raises."""

    async def run(self, event, step):
        @step.do("once")
        def once():
            return called("failing") or 1

        await once()
        raise RuntimeError("gave up")


WORKFLOWS: dict[str, type] = {
    "failing": Failing,
    "steps": Steps,
    "sleeper": Sleeper,
    "approval": Approval,
    "waiter": Waiter,
    "blocking": Blocking,
    "flaky": Flaky,
    "big": Big,
}


# -- recovery ------------------------------------------------------------------------------


async def test_completed_steps_are_not_executed_again_after_restart(tmp_path: Path) -> None:
    state = tmp_path / "state.db"
    async with emulator(state) as first:
        await first.env.STEPS.create(id="s1")
        await first.advance("10 minutes")
        assert CALLS == {"one": 1, "two": 1}
    async with emulator(state, at=START_MS + 20 * MINUTE) as second:
        await second.run_until_idle()
        inst = await second.env.STEPS.get("s1")
        assert await inst.status() == {"status": "complete", "output": [{"n": 1}, "two", 3]}
    assert CALLS == {"one": 1, "two": 1, "three": 1}


async def test_new_emulator_resumes_unfinished_instances_by_itself_on_start(tmp_path: Path) -> None:
    state = tmp_path / "state.db"
    async with emulator(state) as first:
        for instance_id in ("a", "b"):
            await first.env.SLEEPER.create(id=instance_id)
        await first.env.STEPS.create(id="c")
        await first.advance("1 minute")
    second = emulator(state, at=START_MS + 2 * HOUR)
    async with second:
        await second.run_until_idle()  # only drives time: nothing here names the instances
        assert [(await (await second.env.SLEEPER.get(i)).status())["status"] for i in ("a", "b")] == [
            "complete", "complete",
        ]
        assert (await (await second.env.STEPS.get("c")).status())["status"] == "complete"
    assert CALLS == {"after": 2, "one": 1, "two": 1, "three": 1}


async def test_an_instance_queued_when_stopped_runs_after_restart(tmp_path: Path) -> None:
    state = tmp_path / "state.db"
    async with emulator(state) as first:
        inst = await first.env.SLEEPER.create(id="q1")
        assert (await inst.status())["status"] == "queued"
    async with emulator(state, at=START_MS + MINUTE) as second:
        await second.run_until_idle()
        described = await (await second.env.SLEEPER.get("q1")).describe()
    assert described["status"] == "complete"
    assert iso_ms(described["steps"][0]["start"]) == START_MS + MINUTE


async def test_a_workflow_registered_after_start_resumes_its_instances(tmp_path: Path) -> None:
    state = tmp_path / "state.db"
    async with emulator(state) as first:
        await first.env.SLEEPER.create(id="late")
        await first.advance("1 minute")
    second = Emulator(clock=VirtualClock(START_MS + 2 * HOUR, autojump=False), storage=url(state))
    async with second:
        second.add_workflow("sleeper", Sleeper, binding="SLEEPER")
        await second.run_until_idle()
        assert await (await second.env.SLEEPER.get("late")).status() == {"status": "complete", "output": "woke"}


async def test_a_sleep_keeps_its_absolute_deadline_when_restarted_earlier(tmp_path: Path) -> None:
    state = tmp_path / "state.db"
    async with emulator(state) as first:
        await first.env.SLEEPER.create(id="s1")
        await first.advance("10 minutes")
    async with emulator(state, at=START_MS + 15 * MINUTE) as second:
        await second.advance("44 minutes")  # 1 minute before the deadline
        inst = await second.env.SLEEPER.get("s1")
        assert (await inst.status())["status"] == "waiting"
        await second.run_until_idle()
        described = await inst.describe()
    assert described["status"] == "complete"
    assert iso_ms(described["steps"][0]["end"]) == START_MS + HOUR
    assert iso_ms(described["end"]) == START_MS + HOUR


async def test_a_sleep_whose_deadline_passed_while_stopped_ends_at_restart(tmp_path: Path) -> None:
    state = tmp_path / "state.db"
    async with emulator(state) as first:
        await first.env.SLEEPER.create(id="s1")
        await first.advance("10 minutes")
    async with emulator(state, at=START_MS + 3 * HOUR) as second:
        await second.run_until_idle()
        described = await (await second.env.SLEEPER.get("s1")).describe()
    assert described["status"] == "complete"
    assert iso_ms(described["steps"][0]["end"]) == START_MS + 3 * HOUR
    assert CALLS == {"after": 1}


async def test_a_retry_delay_keeps_its_absolute_deadline_across_restart(tmp_path: Path) -> None:
    state = tmp_path / "state.db"
    async with emulator(state) as first:
        await first.env.FLAKY.create(id="f1")
        await first.advance("2 minutes")
        assert CALLS == {"flaky": 1}
    async with emulator(state, at=START_MS + 5 * MINUTE) as second:
        await second.run_until_idle()
        described = await (await second.env.FLAKY.get("f1")).describe()
    attempts = described["steps"][0]["attempts"]
    assert [a["success"] for a in attempts] == [False, True]
    assert iso_ms(attempts[1]["start"]) == START_MS + 10 * MINUTE
    assert described["status"] == "complete" and CALLS == {"flaky": 2}


async def test_an_event_wait_keeps_its_absolute_timeout_across_restart(tmp_path: Path) -> None:
    state = tmp_path / "state.db"
    async with emulator(state) as first:
        await first.env.WAITER.create(id="w1")
        await first.advance("10 minutes")
    async with emulator(state, at=START_MS + 20 * MINUTE) as second:
        await second.run_until_idle()
        inst = await second.env.WAITER.get("w1")
        described = await inst.describe()
    assert described["output"] == {
        "timed_out": "WorkflowTimeoutError", "message": "Execution timed out after 3600000ms",
    }
    assert iso_ms(described["steps"][0]["end"]) == START_MS + HOUR


async def test_an_event_sent_before_restart_is_delivered_after(tmp_path: Path) -> None:
    state = tmp_path / "state.db"
    async with emulator(state) as first:
        inst = await first.env.APPROVAL.create(id="a1")
        await first.advance("10 minutes")  # sleeping: the event is buffered
        await inst.send_event(type="approval", payload={"by": "ana", "amount": 12.5})
    async with emulator(state, at=START_MS + 20 * MINUTE) as second:
        await second.run_until_idle()
        described = await (await second.env.APPROVAL.get("a1")).describe()
    assert described["status"] == "complete"
    assert described["output"] == {"by": "ana", "amount": 12.5}
    assert described["steps"][2]["output"]["payload"] == {"by": "ana", "amount": 12.5}
    assert iso_ms(described["steps"][2]["end"]) == START_MS + HOUR
    assert CALLS == {"prepare": 1}


async def test_an_instance_waiting_for_an_event_gets_it_from_the_new_emulator(tmp_path: Path) -> None:
    state = tmp_path / "state.db"
    async with emulator(state) as first:
        await first.env.WAITER.create(id="w1")
        await first.advance("1 minute")
    async with emulator(state, at=START_MS + 2 * MINUTE) as second:
        inst = await second.env.WAITER.get("w1")
        await inst.send_event(type="go", payload=[1, "two"])
        await second.advance("1 second")
        assert await inst.status() == {"status": "complete", "output": {"payload": [1, "two"], "fetched": "real"}}


async def test_a_paused_instance_stays_paused_and_resumes_with_timers_shifted(tmp_path: Path) -> None:
    state = tmp_path / "state.db"
    async with emulator(state) as first:
        inst = await first.env.SLEEPER.create(id="p1")
        await first.advance("10 minutes")
        await inst.pause()
        assert (await inst.status())["status"] == "paused"
    async with emulator(state, at=START_MS + 2 * HOUR) as second:
        await second.run_until_idle()
        inst = await second.env.SLEEPER.get("p1")
        assert (await inst.status())["status"] == "paused"
        assert CALLS == {}
        await second.advance("1 hour")  # paused for 2h50m in all
        assert (await inst.status())["status"] == "paused"
        await inst.resume()
        await second.advance("49 minutes")
        assert (await inst.status())["status"] == "waiting"
        await second.run_until_idle()
        described = await inst.describe()
    # 50 minutes of the hour were left when paused at 00:10; resumed at 03:00
    assert described["status"] == "complete"
    assert iso_ms(described["steps"][0]["end"]) == START_MS + 3 * HOUR + 50 * MINUTE


async def test_test_modifications_survive_a_restart(tmp_path: Path) -> None:
    state = tmp_path / "state.db"
    async with emulator(state) as first:
        introspector = await introspect_workflow_instance(first.env.WAITER, "m1")
        await first.env.WAITER.create(id="m1")
        await first.advance("1 minute")
        await introspector.modify(lambda m: m.mock_step_result({"name": "fetch"}, {"mocked": True}))
        await introspector.modify(lambda m: m.mock_event({"type": "go", "payload": "from mock"}))
        # not disposed: disposing would delete the instance
    async with emulator(state, at=START_MS + 2 * MINUTE) as second:
        await second.run_until_idle()
        inst = await second.env.WAITER.get("m1")
        assert await inst.status() == {"status": "complete", "output": {"payload": "from mock", "fetched": {"mocked": True}}}
    assert CALLS == {}


async def test_mocked_event_before_create_survives_restart_and_restart_of_the_instance(tmp_path: Path) -> None:
    state = tmp_path / "state.db"
    async with emulator(state) as first:
        introspector = await introspect_workflow_instance(first.env.APPROVAL, "m2")
        await introspector.modify(lambda m: m.mock_event({"type": "approval", "payload": "mocked ok"}))
        await first.env.APPROVAL.create(id="m2")
        await first.advance("1 minute")
    async with emulator(state, at=START_MS + 2 * MINUTE) as second:
        await second.run_until_idle()
        inst = await second.env.APPROVAL.get("m2")
        assert await inst.status() == {"status": "complete", "output": "mocked ok"}
        await inst.restart()
        await second.run_until_idle()
        assert await inst.status() == {"status": "complete", "output": "mocked ok"}


async def test_a_complete_instance_is_readable_after_restart(tmp_path: Path) -> None:
    state = tmp_path / "state.db"
    async with emulator(state) as first:
        inst = await first.env.STEPS.create(id="done", params={"x": "ünï"})
        await first.run_until_idle()
        before = await inst.describe()
    async with emulator(state, at=START_MS + 5 * HOUR) as second:
        inst = await second.env.STEPS.get("done")
        assert await inst.status() == {"status": "complete", "output": [{"n": 1}, "two", 3]}
        assert await inst.describe() == before
        await second.run_until_idle()
    assert before["params"] == {"x": "ünï"}
    assert CALLS == {"one": 1, "two": 1, "three": 1}


async def test_a_copy_of_the_state_file_alone_is_complete_once_the_emulator_closes(tmp_path: Path) -> None:
    state = tmp_path / "state.db"
    async with emulator(state) as first:
        await first.env.STEPS.create(id="done")
        await first.run_until_idle()
    backup = tmp_path / "backup" / "state.db"
    backup.parent.mkdir()
    backup.write_bytes(state.read_bytes())  # the file only: no -wal, as a plain copy takes it
    async with emulator(backup, at=START_MS + HOUR) as restored:
        assert await (await restored.env.STEPS.get("done")).status() == {
            "status": "complete", "output": [{"n": 1}, "two", 3]
        }
    assert CALLS == {"one": 1, "two": 1, "three": 1}


async def test_errored_and_terminated_instances_stay_so_after_restart(tmp_path: Path) -> None:
    state = tmp_path / "state.db"
    async with emulator(state) as first:
        failing = await first.env.FAILING.create(id="e1")
        stopped = await first.env.SLEEPER.create(id="t1")
        await first.advance("1 minute")
        await stopped.terminate()
        assert (await failing.status())["status"] == "errored"
    async with emulator(state, at=START_MS + 2 * HOUR) as second:
        await second.run_until_idle()
        assert (await (await second.env.SLEEPER.get("t1")).status())["status"] == "terminated"
        assert await (await second.env.FAILING.get("e1")).status() == {
            "status": "errored", "output": None, "error": {"name": "RuntimeError", "message": "gave up"},
        }
    assert CALLS == {"failing": 1}


async def _start_blocked_attempt(state: Path, limit: int) -> None:
    """Create a Blocking instance, stop the emulator while its attempt waits on the gate."""
    GATES["gate"] = asyncio.Event()
    GATES["entered"] = asyncio.Event()
    async with emulator(state) as first:
        await first.env.BLOCKING.create(id="b1", params={"limit": limit})
        await asyncio.wait_for(GATES["entered"].wait(), 1)
        assert CALLS == {"slow": 1}
    del GATES["gate"]


async def test_an_attempt_in_flight_when_stopped_counts_as_failed_and_is_retried(tmp_path: Path) -> None:
    state = tmp_path / "state.db"
    await _start_blocked_attempt(state, limit=2)
    async with emulator(state, at=START_MS + 5 * MINUTE) as second:
        await second.run_until_idle()
        described = await (await second.env.BLOCKING.get("b1")).describe()
    assert described["status"] == "complete" and described["output"] == "done"
    step = described["steps"][0]
    assert step["success"] is True
    assert [(a["success"], a["error"]) for a in step["attempts"]] == [(False, INTERRUPTED), (True, None)]
    assert iso_ms(step["attempts"][0]["start"]) == START_MS
    assert iso_ms(step["attempts"][0]["end"]) == START_MS + 5 * MINUTE
    assert iso_ms(step["attempts"][1]["start"]) == START_MS + 5 * MINUTE + 30 * SECOND
    assert CALLS == {"slow": 2}


async def test_an_interrupted_attempt_with_no_retries_left_fails_the_step(tmp_path: Path) -> None:
    state = tmp_path / "state.db"
    await _start_blocked_attempt(state, limit=0)
    async with emulator(state, at=START_MS + 5 * MINUTE) as second:
        await second.run_until_idle()
        inst = await second.env.BLOCKING.get("b1")
        assert await inst.status() == {"status": "errored", "output": None, "error": INTERRUPTED}
        described = await inst.describe()
    assert [(a["success"], a["error"]) for a in described["steps"][0]["attempts"]] == [(False, INTERRUPTED)]
    assert described["steps"][0]["cfwf"]["error"] == INTERRUPTED
    assert CALLS == {"slow": 1}


async def test_a_pause_pending_when_stopped_leaves_the_instance_paused(tmp_path: Path) -> None:
    state = tmp_path / "state.db"
    GATES["gate"] = asyncio.Event()
    GATES["entered"] = asyncio.Event()
    async with emulator(state) as first:
        inst = await first.env.BLOCKING.create(id="b1", params={"limit": 2})
        await asyncio.wait_for(GATES["entered"].wait(), 1)
        await inst.pause()
        assert (await inst.status())["status"] == "waitingForPause"
    del GATES["gate"]
    async with emulator(state, at=START_MS + 5 * MINUTE) as second:
        await second.run_until_idle()
        inst = await second.env.BLOCKING.get("b1")
        assert (await inst.status())["status"] == "paused"
        assert CALLS == {"slow": 1}
        await inst.resume()
        await second.run_until_idle()
        described = await inst.describe()
    assert described["status"] == "complete"
    assert [(a["success"], a["error"]) for a in described["steps"][0]["attempts"]] == [(False, INTERRUPTED), (True, None)]
    assert CALLS == {"slow": 2}


# -- single owner --------------------------------------------------------------------------


async def test_a_second_emulator_on_the_same_file_cannot_start(tmp_path: Path) -> None:
    state = tmp_path / "state.db"
    async with emulator(state) as first:
        await first.env.SLEEPER.create(id="s1")
        await first.advance("1 minute")
        second = emulator(state, at=START_MS + 2 * HOUR)
        with pytest.raises(StateLockedError) as caught:
            await second.start()
        message = str(caught.value)
        assert str(state) in message
        assert "in use" in message and 'on_locked="wait"' in message
        with pytest.raises(StateLockedError):
            await second.run_until_idle()
        with pytest.raises(StateLockedError):
            await second.env.SLEEPER.get("s1")
        assert CALLS == {}
        assert (await (await first.env.SLEEPER.get("s1")).status())["status"] == "waiting"
        await first.run_until_idle()
        assert CALLS == {"after": 1}


async def test_the_lock_is_free_once_the_first_emulator_closes(tmp_path: Path) -> None:
    state = tmp_path / "state.db"
    second = emulator(state, at=START_MS + 2 * HOUR)
    async with emulator(state) as first:
        await first.env.SLEEPER.create(id="s1")
        await first.advance("1 minute")
        with pytest.raises(StateLockedError):
            await second.start()
    async with second:  # the emulator refused before starts once the first one is gone
        await second.run_until_idle()
        assert (await (await second.env.SLEEPER.get("s1")).status())["status"] == "complete"
    async with emulator(state, at=START_MS + 3 * HOUR) as third:
        assert (await (await third.env.SLEEPER.get("s1")).status())["status"] == "complete"
    assert CALLS == {"after": 1}


async def test_on_locked_wait_takes_over_when_the_first_closes(tmp_path: Path) -> None:
    state = tmp_path / "state.db"
    first = emulator(state)
    await first.start()
    await first.env.SLEEPER.create(id="s1")
    await first.advance("1 minute")
    second = emulator(state, at=START_MS + 2 * HOUR, on_locked="wait")
    waiting = asyncio.create_task(second.start())
    for _ in range(20):
        await asyncio.sleep(0)
    assert not waiting.done()
    assert CALLS == {}
    await first.aclose()
    await asyncio.wait_for(waiting, 0.2)
    try:
        await second.run_until_idle()
        assert await (await second.env.SLEEPER.get("s1")).status() == {"status": "complete", "output": "woke"}
        assert CALLS == {"after": 1}
        with pytest.raises(StateLockedError):
            await emulator(state).start()
    finally:
        await second.aclose()


async def test_a_waiting_emulator_lists_instances_created_meanwhile_in_creation_order(tmp_path: Path) -> None:
    """The waiting emulator opened the file before the first one created anything; after it takes
    over, its own new instances are still the newest (recovery resumes oldest first)."""
    state = tmp_path / "state.db"
    first = emulator(state)
    second = emulator(state, on_locked="wait")
    await first.start()
    for instance_id in ("a", "b"):
        await first.env.SLEEPER.create(id=instance_id)
    waiting = asyncio.create_task(second.start())
    await asyncio.sleep(0)
    await first.aclose()
    await asyncio.wait_for(waiting, 0.2)
    try:
        await second.env.SLEEPER.create(id="c")
    finally:
        await second.aclose()
    view = SQLiteStore(state)
    try:
        assert view.instance_ids("sleeper") == ["a", "b", "c"]
    finally:
        view.close()


# -- bad state files -----------------------------------------------------------------------


def test_a_file_that_is_not_sqlite_is_refused_and_left_untouched(tmp_path: Path) -> None:
    state = tmp_path / "state.db"
    content = random.Random(7).randbytes(8192)
    state.write_bytes(content)
    with pytest.raises(StoreError) as caught:
        emulator(state)
    assert str(state) in str(caught.value)
    assert "not a cfwf-emulator state file" in str(caught.value)
    assert state.read_bytes() == content


def test_a_sqlite_file_of_another_application_is_refused_and_left_untouched(tmp_path: Path) -> None:
    state = tmp_path / "state.db"
    db = sqlite3.connect(state)
    db.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT)")
    db.execute("INSERT INTO notes (text) VALUES ('keep me')")
    db.commit()
    db.close()
    content = state.read_bytes()
    with pytest.raises(StoreError) as caught:
        Emulator(storage=url(state))
    assert str(state) in str(caught.value)
    assert "not a cfwf-emulator state file" in str(caught.value)
    assert state.read_bytes() == content
    db = sqlite3.connect(state)
    assert db.execute("SELECT text FROM notes").fetchall() == [("keep me",)]
    db.close()


def test_a_state_file_from_a_newer_version_asks_to_upgrade_and_is_left_untouched(tmp_path: Path) -> None:
    state = tmp_path / "state.db"
    db = sqlite3.connect(state)
    db.execute(f"PRAGMA application_id = {APPLICATION_ID}")
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    db.execute("CREATE TABLE future (x)")
    db.commit()
    db.close()
    content = state.read_bytes()
    with pytest.raises(StoreError) as caught:
        Emulator(storage=url(state))
    message = str(caught.value)
    assert str(state) in message
    assert f"schema version {SCHEMA_VERSION + 1}" in message
    assert "upgrade cfwf-emulator" in message
    assert state.read_bytes() == content


async def _create_complete_steps_instance(emu: Emulator) -> None:
    await emu.env.STEPS.create(id="s1")
    await emu.run_until_idle()


def test_a_corrupt_state_file_gives_a_store_error_naming_it(tmp_path: Path) -> None:
    state = tmp_path / "state.db"
    earlier_process(state, _create_complete_steps_instance)
    data = bytearray(state.read_bytes())
    page_size = int.from_bytes(data[16:18], "big")
    data[page_size:] = random.Random(3).randbytes(len(data) - page_size)  # every page but the header
    state.write_bytes(bytes(data))

    async def reopen() -> None:
        emu = emulator(state)
        async with emu:
            await (await emu.env.STEPS.get("s1")).status()

    with pytest.raises(StoreError) as caught:
        asyncio.run(reopen())
    assert str(state) in str(caught.value)
    assert "malformed" in str(caught.value)


def test_a_corrupt_instance_row_gives_a_store_error_naming_the_file_and_instance(tmp_path: Path) -> None:
    state = tmp_path / "state.db"
    earlier_process(state, _create_complete_steps_instance)
    db = sqlite3.connect(state)
    db.execute("""UPDATE instances SET header = '{"workflow": "steps", "id": "s1", trunc' WHERE id = 's1'""")
    db.commit()
    db.close()

    async def reopen() -> None:
        emu = emulator(state)
        async with emu:
            await (await emu.env.STEPS.get("s1")).status()

    with pytest.raises(StoreError) as caught, pytest.warns(StorageWarning, match="cannot resume instance steps/s1"):
        asyncio.run(reopen())
    assert str(state) in str(caught.value)
    assert "s1" in str(caught.value)


FS_IOC_GETFLAGS = 0x80086601
FS_IOC_SETFLAGS = 0x40086602
FS_IMMUTABLE_FL = 0x10


def _immutable(path: Path, on: bool) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        flags = array.array("l", [0])
        fcntl.ioctl(fd, FS_IOC_GETFLAGS, flags, True)
        flags[0] = flags[0] | FS_IMMUTABLE_FL if on else flags[0] & ~FS_IMMUTABLE_FL
        fcntl.ioctl(fd, FS_IOC_SETFLAGS, flags, True)
    finally:
        os.close(fd)


@contextmanager
def read_only_directory(path: Path) -> Iterator[None]:
    """No file can be created in ``path`` meanwhile: chmod 0o500, or as root (whom permissions
    do not stop) the immutable attribute (``chattr +i``)."""
    if os.geteuid() == 0:
        _immutable(path, True)
        try:
            yield
        finally:
            _immutable(path, False)
    else:
        path.chmod(0o500)
        try:
            yield
        finally:
            path.chmod(0o700)


def _assert_creating_fails(path: Path) -> None:
    with pytest.raises(OSError):
        (path / "probe").write_text("x")


def test_a_state_file_in_a_read_only_directory_gives_a_specific_error_and_stays_intact(tmp_path: Path) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    state = folder / "state.db"
    earlier_process(state, _create_complete_steps_instance)
    content = state.read_bytes()
    with read_only_directory(folder):
        _assert_creating_fails(folder)
        with pytest.raises(StoreError) as caught:
            asyncio.run(emulator(state).start())
        message = str(caught.value)
        assert str(state) in message
        assert "not a cfwf-emulator state file" not in message
        assert "read-only" in message.lower() or "permission" in message.lower()
    assert state.read_bytes() == content

    async def reopen() -> dict[str, Any]:
        async with emulator(state, at=START_MS + 5 * HOUR) as again:
            return await (await again.env.STEPS.get("s1")).status()

    assert asyncio.run(reopen()) == {"status": "complete", "output": [{"n": 1}, "two", 3]}


def test_a_new_state_file_in_a_read_only_directory_cannot_be_created(tmp_path: Path) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    state = folder / "state.db"
    with read_only_directory(folder):
        with pytest.raises(StoreError) as caught:
            asyncio.run(emulator(state).start())
    assert str(state) in str(caught.value)
    assert "cannot open the state file" in str(caught.value)
    assert not state.exists()


def test_a_full_disk_saves_nothing_and_the_earlier_state_still_loads(tmp_path: Path) -> None:
    from cfwf_emulator.engine.records import InstanceRecord, StepRecord

    state = tmp_path / "state.db"
    store = SQLiteStore(state)
    record = InstanceRecord("big", "i1", "{}", START_MS, queued_ms=START_MS, status="running")
    store.insert_instance(record)
    small = StepRecord("do", "small", 1, 0, START_MS, "ok", end_ms=START_MS, result='"small"')
    record.next_seq = 1
    store.save_step(record, small, header=True)
    pages = store._db.execute("PRAGMA page_count").fetchone()[0]
    store._db.execute(f"PRAGMA max_page_count = {pages}")  # the disk is full from here on
    big = StepRecord("do", "big", 1, 1, START_MS, "ok", end_ms=START_MS, result='"' + "x" * 900_000 + '"')
    record.next_seq = 2
    record.status = "complete"
    with pytest.raises(StoreError) as caught:
        store.save_step(record, big, header=True)
    assert str(state) in str(caught.value)
    assert "writing instance state failed, nothing was saved" in str(caught.value)
    fresh = SQLiteStore(state)
    try:
        loaded = fresh.load_instance("big", "i1")
        assert set(loaded.steps) == {("do", "small", 1)}
        assert (loaded.status, loaded.next_seq) == ("running", 1)
    finally:
        fresh.close()
    store._db.execute("PRAGMA max_page_count = 1073741823")  # space again: the store still works
    store.save_step(record, big, header=True)
    store.close()
    fresh = SQLiteStore(state)
    try:
        assert set(fresh.load_instance("big", "i1").steps) == {("do", "small", 1), ("do", "big", 1)}
    finally:
        fresh.close()


async def test_a_full_disk_during_a_step_leaves_the_instance_resumable_from_its_last_saved_state(tmp_path: Path) -> None:
    state = tmp_path / "state.db"
    async with emulator(state) as first:
        inst = await first.env.BIG.create(id="i1")
        await first.advance("1 minute")
        await inst.send_event(type="go", payload=None)
        db = first._store._db  # the disk is full from here on
        db.execute(f"PRAGMA max_page_count = {db.execute('PRAGMA page_count').fetchone()[0]}")
        with pytest.warns(StorageWarning, match="stopped instance big/i1: .*database or disk is full"):
            await first.advance("1 second")
        assert CALLS == {"small": 1, "big": 1}
        assert len(first._engine.storage_errors) == 1
    async with emulator(state, at=START_MS + HOUR) as second:
        await second.run_until_idle()
        assert await (await second.env.BIG.get("i1")).status() == {"status": "complete", "output": 900_000}
    assert CALLS["small"] == 1


async def test_a_failed_write_in_a_group_commit_undoes_only_itself(tmp_path: Path) -> None:
    """A one-statement write that fails inside the open group commit (no savepoint around it)
    saves nothing of its own; the writes before and after it in the same commit are saved."""
    from cfwf_emulator.engine.records import InstanceRecord, StepRecord

    state = tmp_path / "state.db"
    store = SQLiteStore(state)
    await store.acquire()
    try:
        first = InstanceRecord("w", "i1", "{}", START_MS, queued_ms=START_MS, status="running")
        second = InstanceRecord("w", "i2", "{}", START_MS, queued_ms=START_MS, status="running")
        store.insert_instances([first, second])
        store._db.execute(  # in the connection only, not in the file
            "CREATE TEMP TRIGGER refuse BEFORE INSERT ON steps WHEN NEW.name = 'refused' "
            "BEGIN SELECT RAISE(ABORT, 'refused by the test'); END"
        )

        def step(name: str, seq: int) -> StepRecord:
            return StepRecord("do", name, 1, seq, START_MS, "ok", end_ms=START_MS, result="1")

        committed = store.save_step_deferred(first, step("kept", 0))
        with pytest.raises(StoreError) as caught:
            store.save_step_deferred(second, step("refused", 0))
        assert "writing instance state failed, nothing was saved" in str(caught.value)
        assert "refused by the test" in str(caught.value)
        assert store.save_step_deferred(second, step("after", 1)) is committed
        await committed
    finally:
        store.close()
    fresh = SQLiteStore(state)
    try:
        assert set(fresh.load_instance("w", "i1").steps) == {("do", "kept", 1)}
        assert set(fresh.load_instance("w", "i2").steps) == {("do", "after", 1)}
    finally:
        fresh.close()
