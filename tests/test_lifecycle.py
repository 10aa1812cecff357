"""Instance lifecycle (spec §3.7-3.11): queued/running/waiting, pause/resume, terminate,
restart, delete, emulator stop/start, and the engine hooks that report it."""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest

from cfwf_emulator import Emulator, VirtualClock, WorkflowEntrypoint, WorkflowError
from cfwf_emulator.hooks import hookimpl

START_MS = 1_767_225_600_000.0  # 2026-01-01T00:00:00Z
MINUTE = 60_000.0
HOUR = 3_600_000.0

CALLS: Counter[str] = Counter()
GATE: dict[str, asyncio.Event] = {}


@pytest.fixture(autouse=True)
def _reset() -> None:
    CALLS.clear()
    GATE.clear()


def manual_emulator() -> Emulator:
    """Virtual time that only moves through advance() / run_until_idle()."""
    return Emulator(clock=VirtualClock(START_MS, autojump=False))


async def spin(times: int = 30) -> None:
    """Let the event loop run ready callbacks without moving virtual time."""
    for _ in range(times):
        await asyncio.sleep(0)


async def status_of(inst) -> str:
    return (await inst.status())["status"]


class Gated(WorkflowEntrypoint):
    """Step "slow" blocks until the test sets GATE["slow"]; then step "after" runs."""

    async def run(self, event, step):
        @step.do("slow")
        async def slow():
            CALLS["slow"] += 1
            await GATE["slow"].wait()
            CALLS["slow done"] += 1
            return "slow result"

        result = await slow()

        @step.do("after")
        async def after():
            CALLS["after"] += 1
            return "after result"

        return [result, await after()]


class SleepBetween(WorkflowEntrypoint):
    """do "a" -> sleep "nap" (10 minutes) -> do "b"."""

    async def run(self, event, step):
        @step.do("a")
        async def a():
            CALLS["a"] += 1
            return "A"

        @step.do("b")
        async def b():
            CALLS["b"] += 1
            return "B"

        first = await a()
        await step.sleep("nap", "10 minutes")
        return [first, await b()]


class WaitsForEvent(WorkflowEntrypoint):
    async def run(self, event, step):
        ev = await step.wait_for_event("wait", "go", timeout="1 hour")
        return ev["payload"]


# -- queued / running / waiting --------------------------------------------------------------


async def test_instance_is_queued_right_after_create_then_running():
    GATE["slow"] = asyncio.Event()
    emu = manual_emulator()
    emu.add_workflow("g", Gated, binding="G")
    async with emu:
        inst = await emu.env.G.create(id="q1")
        assert await status_of(inst) == "queued"
        await spin()
        assert CALLS["slow"] == 1
        assert await status_of(inst) == "running"
        GATE["slow"].set()
        await emu.run_until_idle()
        assert await inst.status() == {"status": "complete", "output": ["slow result", "after result"]}


async def test_run_until_idle_returns_after_the_caller_yielded_while_an_instance_sleeps(emu):
    # A test that lets the loop run (asyncio.sleep(0)) while a sleep is pending, then drives
    # time, must not hang. The guard turns a hang into a quick failure.
    emu.add_workflow("s", SleepBetween, binding="S")
    async with emu:
        inst = await emu.env.S.create(id="y1")
        await spin(10)
        await asyncio.wait_for(emu.run_until_idle(), timeout=3)
        assert await inst.status() == {"status": "complete", "output": ["A", "B"]}


async def test_status_is_waiting_during_a_sleep():
    emu = manual_emulator()
    emu.add_workflow("s", SleepBetween, binding="S")
    async with emu:
        inst = await emu.env.S.create(id="w1")
        await emu.advance("1 minute")
        assert await status_of(inst) == "waiting"
        assert CALLS["a"] == 1 and CALLS["b"] == 0
        await emu.advance("9 minutes")
        assert await inst.status() == {"status": "complete", "output": ["A", "B"]}


async def test_status_is_waiting_during_an_event_wait():
    emu = manual_emulator()
    emu.add_workflow("e", WaitsForEvent, binding="E")
    async with emu:
        inst = await emu.env.E.create(id="w2")
        await emu.advance("1 minute")
        assert await status_of(inst) == "waiting"
        await inst.send_event(type="go", payload="x")
        await emu.advance("1 second")
        assert await inst.status() == {"status": "complete", "output": "x"}


# -- pause / resume -------------------------------------------------------------------------


async def test_pause_during_a_sleep_is_immediate():
    emu = manual_emulator()
    emu.add_workflow("s", SleepBetween, binding="S")
    async with emu:
        inst = await emu.env.S.create(id="p1")
        await emu.advance("1 minute")
        await inst.pause()
        assert await status_of(inst) == "paused"
        await emu.advance("1 hour")
        assert await status_of(inst) == "paused"
        assert CALLS["b"] == 0


async def test_resume_shifts_the_remaining_sleep_by_the_pause_length():
    emu = manual_emulator()
    emu.add_workflow("s", SleepBetween, binding="S")
    async with emu:
        inst = await emu.env.S.create(id="p2")
        await emu.advance("4 minutes")
        await inst.pause()
        await emu.advance("1 hour")
        await inst.resume()
        await emu.advance("5 minutes")
        assert await status_of(inst) == "waiting"
        assert CALLS["b"] == 0
        await emu.advance("1 minute")
        assert await inst.status() == {"status": "complete", "output": ["A", "B"]}
        nap = next(s for s in (await inst.describe())["steps"] if s["name"] == "nap-1")
        assert nap["end"].startswith("2026-01-01T01:10:00")


async def test_pause_during_a_running_step_waits_for_it_and_caches_its_result():
    GATE["slow"] = asyncio.Event()
    emu = manual_emulator()
    emu.add_workflow("g", Gated, binding="G")
    async with emu:
        inst = await emu.env.G.create(id="p3")
        await spin()
        assert CALLS["slow"] == 1
        await inst.pause()
        assert await status_of(inst) == "waitingForPause"
        GATE["slow"].set()
        await emu.run_until_idle()
        assert await status_of(inst) == "paused"
        assert CALLS["slow done"] == 1
        assert CALLS["after"] == 0
        await inst.resume()
        await emu.run_until_idle()
        assert await inst.status() == {"status": "complete", "output": ["slow result", "after result"]}
        assert CALLS["slow"] == 1
        assert CALLS["after"] == 1


async def test_resume_of_waiting_for_pause_instance_continues_without_pausing():
    GATE["slow"] = asyncio.Event()
    emu = manual_emulator()
    emu.add_workflow("g", Gated, binding="G")
    async with emu:
        inst = await emu.env.G.create(id="p4")
        await spin()
        await inst.pause()
        assert await status_of(inst) == "waitingForPause"
        await inst.resume()
        assert await status_of(inst) == "running"
        GATE["slow"].set()
        await emu.run_until_idle()
        assert await inst.status() == {"status": "complete", "output": ["slow result", "after result"]}
        assert CALLS["slow"] == 1
        assert CALLS["after"] == 1


async def test_resume_replays_without_re_executing_completed_steps():
    emu = manual_emulator()
    emu.add_workflow("s", SleepBetween, binding="S")
    async with emu:
        inst = await emu.env.S.create(id="p5")
        await emu.advance("1 minute")
        await inst.pause()
        await inst.resume()
        await emu.run_until_idle()
        assert await inst.status() == {"status": "complete", "output": ["A", "B"]}
        assert CALLS["a"] == 1
        assert CALLS["b"] == 1


@pytest.mark.parametrize("final", ["complete", "terminated"])
async def test_pause_and_resume_of_a_finished_instance_do_nothing(emu, final):
    emu.add_workflow("s", SleepBetween, binding="S")
    async with emu:
        inst = await emu.env.S.create(id="p6")
        if final == "terminated":
            await emu.advance("1 minute")
            await inst.terminate()
        else:
            await emu.run_until_idle()
        before = await inst.status()
        assert before["status"] == final
        await inst.pause()
        assert await inst.status() == before
        await inst.resume()
        await emu.run_until_idle()
        assert await inst.status() == before


async def test_pause_of_a_queued_instance_keeps_it_from_starting_until_resumed(emu):
    emu.add_workflow("s", SleepBetween, binding="S")
    async with emu:
        inst = await emu.env.S.create(id="p7")
        assert await status_of(inst) == "queued"
        await inst.pause()
        assert await status_of(inst) == "paused"
        await emu.run_until_idle()
        assert await status_of(inst) == "paused"
        assert CALLS["a"] == 0
        await inst.resume()
        await emu.run_until_idle()
        assert await inst.status() == {"status": "complete", "output": ["A", "B"]}
        assert CALLS["a"] == 1


async def test_pause_during_an_event_wait_keeps_the_remaining_timeout():
    emu = manual_emulator()
    emu.add_workflow("e", WaitsForEvent, binding="E")
    async with emu:
        inst = await emu.env.E.create(id="p8")
        await emu.advance("20 minutes")
        await inst.pause()
        assert await status_of(inst) == "paused"
        await emu.advance("2 hours")
        await inst.resume()
        await emu.advance("39 minutes")
        assert await status_of(inst) == "waiting"
        await emu.advance("1 minute")
        assert (await inst.status())["error"] == {
            "name": "WorkflowTimeoutError",
            "message": "Execution timed out after 3600000ms",
        }


# -- terminate ------------------------------------------------------------------------------


@pytest.mark.parametrize("state", ["running", "waiting", "paused"])
async def test_terminate_a_live_instance(state):
    GATE["slow"] = asyncio.Event()
    emu = manual_emulator()

    class GatedThenSleep(WorkflowEntrypoint):
        async def run(self, event, step):
            @step.do("slow")
            async def slow():
                if event["payload"] == "block":
                    await GATE["slow"].wait()
                return 1

            await slow()
            await step.sleep("nap", "1 hour")

            @step.do("after")
            async def after():
                CALLS["after"] += 1
                return 2

            return await after()

    emu.add_workflow("t", GatedThenSleep, binding="T")
    async with emu:
        inst = await emu.env.T.create(id="t1", params="block" if state == "running" else None)
        if state == "running":
            await spin()
        else:
            await emu.advance("1 minute")
            if state == "paused":
                await inst.pause()
        assert await status_of(inst) == state
        await inst.terminate()
        assert await inst.status() == {"status": "terminated", "output": None}
        GATE["slow"].set()
        await emu.run_until_idle()
        assert await inst.status() == {"status": "terminated", "output": None}
        assert CALLS["after"] == 0


async def test_terminate_a_queued_instance(emu):
    emu.add_workflow("s", SleepBetween, binding="S")
    async with emu:
        inst = await emu.env.S.create(id="t2")
        await inst.terminate()
        await emu.run_until_idle()
        assert await inst.status() == {"status": "terminated", "output": None}
        assert CALLS["a"] == 0


@pytest.mark.parametrize("final", ["complete", "errored", "terminated"])
async def test_terminate_a_finished_instance_raises_cannot_terminate(emu, final):
    class Ends(WorkflowEntrypoint):
        async def run(self, event, step):
            await step.sleep("nap", "1 minute")
            if event["payload"] == "fail":
                raise RuntimeError("bad")
            return "ok"

    emu.add_workflow("x", Ends, binding="X")
    async with emu:
        inst = await emu.env.X.create(id="t3", params="fail" if final == "errored" else None)
        if final == "terminated":
            await inst.terminate()
        await emu.run_until_idle()
        before = await inst.status()
        assert before["status"] == final
        with pytest.raises(WorkflowError) as info:
            await inst.terminate()
        assert info.value.code == "instance.cannot_terminate"
        assert str(info.value) == (
            "(instance.cannot_terminate) Cannot terminate instance since its on a finite state"
        )
        assert await inst.status() == before


async def test_terminate_discards_the_result_of_a_step_in_flight():
    GATE["slow"] = asyncio.Event()
    emu = manual_emulator()
    emu.add_workflow("g", Gated, binding="G")
    async with emu:
        inst = await emu.env.G.create(id="t4")
        await spin()
        assert CALLS["slow"] == 1
        await inst.terminate()
        GATE["slow"].set()
        await emu.run_until_idle()
        assert await inst.status() == {"status": "terminated", "output": None}
        (slow,) = (await inst.describe())["steps"]
        assert slow["name"] == "slow-1"
        assert "output" not in slow
        assert slow["success"] is None and slow["end"] is None
        assert CALLS["after"] == 0


# -- restart --------------------------------------------------------------------------------


class Restartable(WorkflowEntrypoint):
    """a -> b -> c, each counting its runs; returns the params, the event time and the results."""

    async def run(self, event, step):
        @step.do("a")
        async def a():
            CALLS["a"] += 1
            return CALLS["a"]

        @step.do("b")
        async def b():
            CALLS["b"] += 1
            return CALLS["b"]

        @step.do("c")
        async def c():
            CALLS["c"] += 1
            return CALLS["c"]

        ra = await a()
        await step.sleep("nap", "1 hour")
        rb = await b()
        rc = await c()
        return {
            "params": event["payload"],
            "timestamp": event["timestamp"].isoformat(),
            "results": [ra, rb, rc],
        }


async def test_full_restart_re_runs_every_step_with_same_params_and_timestamp(emu):
    emu.add_workflow("r", Restartable, binding="R")
    async with emu:
        inst = await emu.env.R.create(id="r1", params={"p": 1})
        await emu.run_until_idle()
        first = await inst.status()
        assert first["output"] == {
            "params": {"p": 1},
            "timestamp": "2026-01-01T00:00:00",
            "results": [1, 1, 1],
        }
        await inst.restart()
        await emu.run_until_idle()
        assert await inst.status() == {
            "status": "complete",
            "output": {"params": {"p": 1}, "timestamp": "2026-01-01T00:00:00", "results": [2, 2, 2]},
        }
        assert emu.clock.now_ms() == START_MS + 2 * HOUR


async def test_restart_from_a_step_keeps_earlier_results(emu):
    emu.add_workflow("r", Restartable, binding="R")
    async with emu:
        inst = await emu.env.R.create(id="r2", params=None)
        await emu.run_until_idle()
        await inst.restart({"from": {"name": "b"}})
        await emu.run_until_idle()
        status = await inst.status()
        assert status["status"] == "complete"
        assert status["output"]["results"] == [1, 2, 2]
        assert dict(CALLS) == {"a": 1, "b": 2, "c": 2}


async def test_restart_from_a_sleep_selected_by_type(emu):
    class SameName(WorkflowEntrypoint):
        async def run(self, event, step):
            @step.do("same")
            async def same_do():
                CALLS["do same"] += 1
                return CALLS["do same"]

            first = await same_do()
            await step.sleep("same", "1 minute")

            @step.do("after")
            async def after():
                CALLS["after"] += 1
                return CALLS["after"]

            return [first, await after()]

    emu.add_workflow("n", SameName, binding="N")
    async with emu:
        inst = await emu.env.N.create(id="r3")
        await emu.run_until_idle()
        await inst.restart({"from": {"name": "same", "type": "sleep"}})
        await emu.run_until_idle()
        assert await inst.status() == {"status": "complete", "output": [1, 2]}
        await inst.restart({"from": {"name": "same"}})
        await emu.run_until_idle()
        assert await inst.status() == {"status": "complete", "output": [2, 3]}


async def test_restart_from_a_step_selected_by_count(emu):
    class Repeats(WorkflowEntrypoint):
        async def run(self, event, step):
            results = []
            for _ in range(3):
                @step.do("x")
                async def x():
                    CALLS["x"] += 1
                    return CALLS["x"]

                results.append(await x())
            return results

    emu.add_workflow("c", Repeats, binding="C")
    async with emu:
        inst = await emu.env.C.create(id="r4")
        await emu.run_until_idle()
        assert (await inst.status())["output"] == [1, 2, 3]
        await inst.restart({"from": {"name": "x", "count": 2}})
        await emu.run_until_idle()
        assert await inst.status() == {"status": "complete", "output": [1, 4, 5]}


async def test_restart_from_unknown_step_raises_and_leaves_the_instance(emu):
    emu.add_workflow("r", Restartable, binding="R")
    async with emu:
        inst = await emu.env.R.create(id="r5")
        await emu.run_until_idle()
        before_status = await inst.status()
        before_describe = await inst.describe()
        with pytest.raises(WorkflowError) as info:
            await inst.restart({"from": {"name": "nope"}})
        assert info.value.code == "instance.cannot_restart"
        assert str(info.value) == (
            '(instance.cannot_restart) Step "nope" not found in execution history'
        )
        await emu.run_until_idle()
        assert await inst.status() == before_status
        assert await inst.describe() == before_describe
        assert dict(CALLS) == {"a": 1, "b": 1, "c": 1}


async def test_restart_from_count_beyond_history_raises(emu):
    emu.add_workflow("r", Restartable, binding="R")
    async with emu:
        inst = await emu.env.R.create(id="r6")
        await emu.run_until_idle()
        with pytest.raises(WorkflowError) as info:
            await inst.restart({"from": {"name": "a", "count": 2}})
        assert info.value.code == "instance.cannot_restart"
        assert (await inst.status())["status"] == "complete"


async def test_restart_of_a_running_instance_starts_over():
    emu = manual_emulator()
    emu.add_workflow("s", SleepBetween, binding="S")
    async with emu:
        inst = await emu.env.S.create(id="r7")
        await emu.advance("5 minutes")
        await inst.restart()
        await emu.advance("9 minutes")
        assert await status_of(inst) == "waiting"
        await emu.advance("1 minute")
        assert await inst.status() == {"status": "complete", "output": ["A", "B"]}
        assert dict(CALLS) == {"a": 2, "b": 1}


@pytest.mark.parametrize("state", ["paused", "terminated"])
async def test_restart_of_a_paused_or_terminated_instance_runs_it_again(state):
    emu = manual_emulator()
    emu.add_workflow("s", SleepBetween, binding="S")
    async with emu:
        inst = await emu.env.S.create(id="r8")
        await emu.advance("1 minute")
        if state == "paused":
            await inst.pause()
        else:
            await inst.terminate()
        assert await status_of(inst) == state
        await inst.restart()
        await emu.run_until_idle()
        assert await inst.status() == {"status": "complete", "output": ["A", "B"]}
        assert dict(CALLS) == {"a": 2, "b": 1}


# -- delete ---------------------------------------------------------------------------------


async def test_delete_removes_the_instance_and_frees_its_id(emu):
    emu.add_workflow("s", SleepBetween, binding="S")
    async with emu:
        inst = await emu.env.S.create(id="d1")
        await emu.run_until_idle()
        await inst.delete()
        with pytest.raises(WorkflowError) as info:
            await emu.env.S.get("d1")
        assert "instance.not_found" in str(info.value)
        again = await emu.env.S.create(id="d1")
        await emu.run_until_idle()
        assert await again.status() == {"status": "complete", "output": ["A", "B"]}
        assert CALLS["a"] == 2


async def test_delete_of_a_running_instance_stops_it(emu):
    emu.add_workflow("s", SleepBetween, binding="S")
    async with emu:
        inst = await emu.env.S.create(id="d2")
        await emu.advance("1 minute")
        assert await status_of(inst) == "waiting"
        await inst.delete()
        await emu.run_until_idle()
        assert CALLS["b"] == 0
        with pytest.raises(WorkflowError):
            await emu.env.S.get("d2")


async def test_delete_during_a_step_in_flight_stops_it_and_the_id_is_reusable():
    GATE["slow"] = asyncio.Event()
    emu = manual_emulator()
    emu.add_workflow("g", Gated, binding="G")
    async with emu:
        inst = await emu.env.G.create(id="d3")
        await spin()
        assert CALLS["slow"] == 1
        await inst.delete()
        GATE["slow"].set()
        await emu.run_until_idle()
        assert CALLS["after"] == 0
        with pytest.raises(WorkflowError):
            await emu.env.G.get("d3")
        again = await emu.env.G.create(id="d3")
        await emu.run_until_idle()
        assert await again.status() == {"status": "complete", "output": ["slow result", "after result"]}
        assert CALLS["slow"] == 2
        assert CALLS["after"] == 1


# -- emulator stop / start ------------------------------------------------------------------


async def test_emulator_restart_resumes_a_sleeping_instance_without_re_running_steps():
    emu = manual_emulator()
    emu.add_workflow("s", SleepBetween, binding="S")
    async with emu:
        inst = await emu.env.S.create(id="e1")
        await emu.advance("3 minutes")
        assert await status_of(inst) == "waiting"
    assert CALLS["a"] == 1 and CALLS["b"] == 0
    async with emu:
        inst = await emu.env.S.get("e1")
        await emu.advance("6 minutes")
        assert await status_of(inst) == "waiting"
        await emu.advance("1 minute")
        assert await inst.status() == {"status": "complete", "output": ["A", "B"]}
    assert dict(CALLS) == {"a": 1, "b": 1}


# -- hooks ----------------------------------------------------------------------------------


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple] = []

    @hookimpl
    def cfwf_instance_status_changed(self, instance_id, old, new, at):
        self.events.append(("status", old, new, at))

    @hookimpl
    def cfwf_step_start(self, name, count, config, at):
        self.events.append(("step_start", name, count, at))

    @hookimpl
    def cfwf_step_attempt(self, name, count, attempt, success, error, retry_delay_ms, at):
        self.events.append(("step_attempt", name, attempt, success, at))

    @hookimpl
    def cfwf_step_end(self, name, count, success, output, error, at):
        self.events.append(("step_end", name, success, output, at))

    @hookimpl
    def cfwf_sleep_start(self, name, count, until, at):
        self.events.append(("sleep_start", name, until, at))

    @hookimpl
    def cfwf_sleep_end(self, name, count, at):
        self.events.append(("sleep_end", name, at))

    @hookimpl
    def cfwf_event_wait_start(self, name, count, event_type, until, at):
        self.events.append(("wait_start", name, event_type, until, at))

    @hookimpl
    def cfwf_event_wait_end(self, name, count, event_type, timed_out, at):
        self.events.append(("wait_end", name, event_type, timed_out, at))


async def test_observer_sees_status_transitions_with_virtual_times(emu):
    recorder = Recorder()
    emu.register(recorder)
    emu.add_workflow("s", SleepBetween, binding="S")
    async with emu:
        await emu.env.S.create(id="h1")
        await emu.run_until_idle()
    transitions = [e[1:] for e in recorder.events if e[0] == "status"]
    assert transitions == [
        (None, "queued", START_MS),
        ("queued", "running", START_MS),
        ("running", "waiting", START_MS),
        ("waiting", "running", START_MS + 10 * MINUTE),
        ("running", "complete", START_MS + 10 * MINUTE),
    ]


async def test_observer_sees_step_sleep_and_event_wait_events(emu):
    class Everything(WorkflowEntrypoint):
        async def run(self, event, step):
            @step.do("work")
            def work():
                return {"v": 1}

            await work()
            await step.sleep("nap", "10 minutes")
            ev = await step.wait_for_event("approval", "go", timeout="1 hour")
            return ev["payload"]

    recorder = Recorder()
    emu.register(recorder)
    emu.add_workflow("h", Everything, binding="H")
    async with emu:
        inst = await emu.env.H.create(id="h2")
        await inst.send_event(type="go", payload="yes")
        await emu.run_until_idle()
        assert (await inst.status())["status"] == "complete"
    others = [e for e in recorder.events if e[0] != "status"]
    t_sleep_end = START_MS + 10 * MINUTE
    assert others == [
        ("step_start", "work", 1, START_MS),
        ("step_attempt", "work", 1, True, START_MS),
        ("step_end", "work", True, {"v": 1}, START_MS),
        ("sleep_start", "nap", START_MS + 10 * MINUTE, START_MS),
        ("sleep_end", "nap", t_sleep_end),
        ("wait_start", "approval", "go", t_sleep_end + HOUR, t_sleep_end),
        ("wait_end", "approval", "go", False, t_sleep_end),
    ]


async def test_observer_sees_event_wait_timeout(emu):
    recorder = Recorder()
    emu.register(recorder)
    emu.add_workflow("e", WaitsForEvent, binding="E")
    async with emu:
        await emu.env.E.create(id="h3")
        await emu.run_until_idle()
    waits = [e for e in recorder.events if e[0] in ("wait_start", "wait_end")]
    assert waits == [
        ("wait_start", "wait", "go", START_MS + HOUR, START_MS),
        ("wait_end", "wait", "go", True, START_MS + HOUR),
    ]


class StepBesideSleep(WorkflowEntrypoint):
    """A step runs (held at a gate) while another flow of the same run sleeps for an hour."""

    async def run(self, event, step):
        async def sleeper():
            await step.sleep("nap", "1 hour")

        @step.do("held")
        async def held():
            await GATE["held"].wait()
            return "held"

        async def after_a_turn():
            await asyncio.sleep(0)  # the sleep parks first: the instance is waiting
            return await held()

        await asyncio.gather(sleeper(), after_a_turn())
        return "done"


async def test_a_step_starting_beside_a_parked_flow_makes_the_instance_running_until_it_ends():
    GATE["held"] = asyncio.Event()
    emu = manual_emulator()
    emu.add_workflow("b", StepBesideSleep, binding="B")
    async with emu:
        inst = await emu.env.B.create(id="b1")
        await spin(20)
        assert await status_of(inst) == "running"  # the step's attempt is in flight
        GATE["held"].set()
        await spin(20)
        assert await status_of(inst) == "waiting"  # only the sleep is left
        await emu.advance("1 hour")
        assert await inst.status() == {"status": "complete", "output": "done"}
