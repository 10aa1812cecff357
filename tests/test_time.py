"""Step timeouts, sleeps, sleep_until and the virtual clock (spec §2.9, §3.3, §3.5; API §1-§2)."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from cfwf_emulator import (
    Emulator,
    VirtualClock,
    WorkflowEntrypoint,
    WorkflowTimeoutError,
)

START_MS = 1_767_225_600_000.0  # 2026-01-01T00:00:00Z, the `emu` fixture's start
SECOND = 1_000
MINUTE = 60 * SECOND
HOUR = 60 * MINUTE
DAY = 24 * HOUR


def iso_ms(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000.0


def manual_emu() -> Emulator:
    """A virtual-clock emulator whose time moves only through advance/run_until_idle."""
    return Emulator(clock=VirtualClock(START_MS, autojump=False))


def sleeper(duration: Any, clock: Any) -> type:
    """Sleeps ``duration``, then returns the clock time seen by a step after the sleep."""

    class Sleeper(WorkflowEntrypoint):
        async def run(self, event, step):
            await step.sleep("nap", duration)

            @step.do("after")
            def after():
                return clock.now_ms()

            return await after()

    return Sleeper


def sleeper_until(target: Any, clock: Any) -> type:
    class SleeperUntil(WorkflowEntrypoint):
        async def run(self, event, step):
            await step.sleep_until("alarm", target)

            @step.do("after")
            def after():
                return clock.now_ms()

            return await after()

    return SleeperUntil


async def drive(emu: Any, cls: type) -> tuple[dict, dict]:
    """Run one instance of ``cls`` to idle; return its status and describe()."""
    emu.add_workflow("flow", cls, binding="FLOW")
    async with emu:
        inst = await emu.env.FLOW.create(id="i1")
        await emu.run_until_idle()
        return await inst.status(), await inst.describe()


def catching(call: Any) -> type:
    """A workflow whose run awaits ``call(step)`` and returns the class name and message of
    what it raised (or "no error")."""

    class Catching(WorkflowEntrypoint):
        async def run(self, event, step):
            try:
                await call(step)
            except Exception as exc:  # noqa: BLE001 - the test inspects what arrived
                return {"class": type(exc).__name__, "name": getattr(exc, "name", None),
                        "message": str(exc)}
            return "no error"

    return Catching


# -- per-attempt timeouts ---------------------------------------------------------------------


async def test_step_timeout_fires_while_the_callback_awaits_at_the_real_rate(emu):
    # API.md §2: a callback awaiting anything counts as running, so its timeout passes at the
    # real rate; the retry delay between attempts is an emulator timer and is jumped.
    never = asyncio.Event()

    class Hang(WorkflowEntrypoint):
        async def run(self, event, step):
            config = {"timeout": 50, "retries": {"limit": 1, "delay": "1 hour"}}

            @step.do("hang", config=config)
            async def hang():
                await never.wait()

            return await hang()

    emu.add_workflow("flow", Hang, binding="FLOW")
    began = time.monotonic()
    async with emu:
        inst = await emu.env.FLOW.create(id="i1")
        await emu.run_until_idle()
        status, describe = await inst.status(), await inst.describe()
    timeout_error = {"name": "WorkflowTimeoutError", "message": "Execution timed out after 50ms"}
    assert status == {"status": "errored", "output": None, "error": timeout_error}
    attempts = describe["steps"][0]["attempts"]
    assert [a["error"] for a in attempts] == [timeout_error, timeout_error]
    assert [iso_ms(a["start"]) for a in attempts] == [START_MS, START_MS + 50 + HOUR]
    assert [iso_ms(a["end"]) for a in attempts] == [START_MS + 50, START_MS + 100 + HOUR]
    assert time.monotonic() - began < 1


async def test_caught_step_timeout_lets_run_continue(emu):
    never = asyncio.Event()

    class Flow(WorkflowEntrypoint):
        async def run(self, event, step):
            @step.do("hang", config={"timeout": 10, "retries": {"limit": 0, "delay": 0}})
            async def hang():
                await never.wait()

            try:
                await hang()
            except WorkflowTimeoutError as exc:
                caught = str(exc)

            @step.do("next")
            def next():
                return {"caught": caught}

            return await next()

    status, _ = await drive(emu, Flow)
    assert status == {"status": "complete",
                      "output": {"caught": "Execution timed out after 10ms"}}


async def test_real_await_inside_a_callback_passes_virtual_time_at_the_real_rate(emu):
    class Flow(WorkflowEntrypoint):
        async def run(self, event, step):
            @step.do("io", config={"timeout": "10 minutes"})
            async def io():
                before = emu.clock.now_ms()
                await asyncio.sleep(0.05)
                return emu.clock.now_ms() - before

            return await io()

    status, _ = await drive(emu, Flow)
    assert status["status"] == "complete"
    assert 40 <= status["output"] < 10 * MINUTE


# -- sleeps ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("duration", ["1 hour", 3_600_000, "60 minutes", "3600 seconds"])
async def test_sleep_waits_exactly_its_duration_of_virtual_time(emu, duration):
    status, describe = await drive(emu, sleeper(duration, emu.clock))
    assert status == {"status": "complete", "output": START_MS + HOUR}
    nap = describe["steps"][0]
    assert (nap["name"], nap["type"]) == ("nap-1", "sleep")
    assert iso_ms(nap["end"]) - iso_ms(nap["start"]) == HOUR


async def test_status_is_waiting_while_sleeping():
    emu = manual_emu()
    emu.add_workflow("flow", sleeper("1 hour", emu.clock), binding="FLOW")
    async with emu:
        inst = await emu.env.FLOW.create(id="i1")
        await emu.advance(0)
        assert (await inst.status())["status"] == "waiting"
        await emu.advance("59 minutes")
        assert (await inst.status())["status"] == "waiting"
        await emu.advance("1 minute")
        assert await inst.status() == {"status": "complete", "output": START_MS + HOUR}


async def test_sleep_of_exactly_365_days_is_allowed(emu):
    status, _ = await drive(emu, sleeper("365 days", emu.clock))
    assert status == {"status": "complete", "output": START_MS + 365 * DAY}


@pytest.mark.parametrize("duration", ["366 days", "2 years", 366 * DAY])
async def test_sleep_longer_than_365_days_raises_workflow_fatal_error(emu, duration):
    status, _ = await drive(emu, catching(lambda step: step.sleep("long", duration)))
    assert status["status"] == "complete"
    assert status["output"]["class"] == "WorkflowFatalError"
    assert emu.clock.now_ms() == START_MS


@pytest.mark.parametrize(
    "duration",
    ["1 hr", "10 Seconds", "5seconds", "soon", timedelta(hours=1), -5, "-5 seconds", None, True,
     float("nan"), float("inf")],
)
async def test_invalid_sleep_duration_raises_workflow_fatal_error(emu, duration):
    status, _ = await drive(emu, catching(lambda step: step.sleep("nap", duration)))
    assert status["output"]["class"] == "WorkflowFatalError"
    assert emu.clock.now_ms() == START_MS


async def test_uncaught_invalid_sleep_errors_the_instance_with_workflow_fatal_error(emu):
    class Flow(WorkflowEntrypoint):
        async def run(self, event, step):
            await step.sleep("nap", "1 hr")

    status, _ = await drive(emu, Flow)
    assert status["status"] == "errored"
    assert status["error"]["name"] == "WorkflowFatalError"


@pytest.mark.parametrize(
    "call",
    [lambda step: step.sleep("nap", duration="1 hour"),
     lambda step: step.sleep(name="nap", duration="1 hour")],
    ids=["duration keyword", "both keywords"],
)
async def test_keyword_arguments_to_sleep_raise_type_error(emu, call):
    status, _ = await drive(emu, catching(call))
    assert status["output"]["class"] == "TypeError"


# -- sleep_until --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        (datetime(2026, 1, 1, 2, 0), START_MS + 2 * HOUR),  # naive means UTC
        (datetime(2026, 1, 1, 3, 0, tzinfo=timezone(timedelta(hours=2))), START_MS + HOUR),
        (datetime(2026, 1, 1, 0, 30, tzinfo=timezone.utc), START_MS + 30 * MINUTE),
        (START_MS + 90 * MINUTE, START_MS + 90 * MINUTE),  # epoch milliseconds
        (int(START_MS) + 5 * SECOND, START_MS + 5 * SECOND),
    ],
    ids=["naive datetime", "aware +02:00", "aware UTC", "epoch ms float", "epoch ms int"],
)
async def test_sleep_until_wakes_at_the_target_time(emu, target, expected):
    status, _ = await drive(emu, sleeper_until(target, emu.clock))
    assert status == {"status": "complete", "output": expected}


async def test_sleep_until_in_the_past_raises_error_named_error(emu):
    past = datetime(2025, 12, 31, 23, 0, tzinfo=timezone.utc)
    status, _ = await drive(emu, catching(lambda step: step.sleep_until("alarm", past)))
    assert status["output"] == {
        "class": "StepError",
        "name": "Error",
        "message": "You can't sleep until a time in the past, time-traveler",
    }


async def test_uncaught_sleep_until_in_the_past_errors_the_instance(emu):
    status, _ = await drive(emu, sleeper_until(START_MS - 1, emu.clock))
    assert status == {
        "status": "errored",
        "output": None,
        "error": {"name": "Error",
                  "message": "You can't sleep until a time in the past, time-traveler"},
    }


async def test_started_sleep_until_is_not_an_error_when_replayed_after_its_target():
    emu = manual_emu()
    emu.add_workflow("flow", sleeper_until(START_MS + HOUR, emu.clock), binding="FLOW")
    async with emu:
        inst = await emu.env.FLOW.create(id="i1")
        await emu.advance("10 minutes")
        await inst.pause()
        await emu.advance(0)
        assert (await inst.status())["status"] == "paused"
        await emu.advance("2 hours")  # now past the target
        await inst.resume()
        await emu.run_until_idle()
        status = await inst.status()
    assert status["status"] == "complete"
    assert status["output"] >= START_MS + 2 * HOUR + 10 * MINUTE


async def test_sleep_until_beyond_365_days_raises_workflow_fatal_error(emu):
    target = START_MS + 366 * DAY
    status, _ = await drive(emu, catching(lambda step: step.sleep_until("far", target)))
    assert status["output"]["class"] == "WorkflowFatalError"


# -- the virtual clock ----------------------------------------------------------------------------


async def test_advance_moves_the_clock_exactly():
    emu = manual_emu()
    async with emu:
        await emu.advance("30 minutes")
        assert emu.clock.now_ms() == START_MS + 30 * MINUTE
        assert emu.now == datetime(2026, 1, 1, 0, 30)


async def test_advance_runs_due_timers_in_deadline_order():
    emu = manual_emu()
    finished: list = []

    class Flow(WorkflowEntrypoint):
        async def run(self, event, step):
            await step.sleep("nap", event["payload"]["sleep"])

            @step.do("done")
            def done():
                return finished.append((event["instanceId"], emu.clock.now_ms()))

            await done()

    emu.add_workflow("flow", Flow, binding="FLOW")
    async with emu:
        await emu.env.FLOW.create(id="slow", params={"sleep": "20 minutes"})
        await emu.env.FLOW.create(id="fast", params={"sleep": "10 minutes"})
        await emu.env.FLOW.create(id="late", params={"sleep": "40 minutes"})
        await emu.advance("30 minutes")
        assert finished == [("fast", START_MS + 10 * MINUTE), ("slow", START_MS + 20 * MINUTE)]
        assert emu.clock.now_ms() == START_MS + 30 * MINUTE
        assert (await (await emu.env.FLOW.get("late")).status())["status"] == "waiting"


async def test_advance_accepts_milliseconds_and_timedelta():
    emu = manual_emu()
    async with emu:
        await emu.advance(1500)
        assert emu.clock.now_ms() == START_MS + 1500
        await emu.advance(timedelta(minutes=2))
        assert emu.clock.now_ms() == START_MS + 1500 + 2 * MINUTE


@pytest.mark.parametrize("duration", ["1 hr", "soon", -5, "5seconds", None])
async def test_advance_with_a_bad_duration_raises_value_error(duration):
    emu = manual_emu()
    async with emu:
        with pytest.raises(ValueError):
            await emu.advance(duration)
        assert emu.clock.now_ms() == START_MS


async def test_advance_on_a_real_clock_raises_runtime_error():
    emu = Emulator()
    async with emu:
        with pytest.raises(RuntimeError):
            await emu.advance("1 second")


async def test_run_until_idle_jumps_through_a_30_day_sleep_instantly(emu):
    began = time.monotonic()
    status, _ = await drive(emu, sleeper("30 days", emu.clock))
    assert status == {"status": "complete", "output": START_MS + 30 * DAY}
    assert time.monotonic() - began < 1


async def test_background_autojump_finishes_a_sleeping_instance(emu):
    emu.add_workflow("flow", sleeper("1 hour", emu.clock), binding="FLOW")
    async with emu:
        inst = await emu.env.FLOW.create(id="i1")
        for _ in range(200):
            if (await inst.status())["status"] == "complete":
                break
            await asyncio.sleep(0.001)
        assert await inst.status() == {"status": "complete", "output": START_MS + HOUR}


async def test_without_autojump_a_sleeping_instance_waits_for_advance():
    emu = manual_emu()
    emu.add_workflow("flow", sleeper("1 hour", emu.clock), binding="FLOW")
    async with emu:
        inst = await emu.env.FLOW.create(id="i1")
        for _ in range(20):
            await asyncio.sleep(0.001)
        assert (await inst.status())["status"] == "waiting"
        assert emu.clock.now_ms() == START_MS
        await emu.advance("1 hour")
        assert await inst.status() == {"status": "complete", "output": START_MS + HOUR}


async def test_real_clock_emulator_runs_a_short_sleep_in_real_time():
    emu = Emulator()
    emu.add_workflow("flow", sleeper(50, emu.clock), binding="FLOW")
    async with emu:
        began = time.monotonic()
        inst = await emu.env.FLOW.create(id="i1")
        while (await inst.status())["status"] != "complete" and time.monotonic() - began < 2:
            await asyncio.sleep(0.005)
        elapsed = time.monotonic() - began
        status, describe = await inst.status(), await inst.describe()
    assert status["status"] == "complete"
    assert elapsed >= 0.045
    nap = describe["steps"][0]
    assert iso_ms(nap["end"]) - iso_ms(nap["start"]) >= 49


async def test_advance_stops_at_its_target_while_a_callback_waits_on_real_io():
    never = asyncio.Event()

    class Hang(WorkflowEntrypoint):
        async def run(self, event, step):
            @step.do("hang", config={"timeout": "1 minute", "retries": {"limit": 0, "delay": 0}})
            async def hang():
                await never.wait()

            await hang()

    emu = Emulator(clock=VirtualClock(START_MS, autojump=False))
    emu.add_workflow("flow", Hang, binding="FLOW")
    async with emu:
        inst = await emu.env.FLOW.create(id="i1")
        began = time.monotonic()
        await emu.advance(0)
        await emu.advance(30)
        assert time.monotonic() - began < 1
        assert emu.clock.now_ms() == START_MS + 30
        await inst.terminate()
        assert await inst.status() == {"status": "terminated", "output": None}
