"""Times and durations that no clock can reach (NaN, infinities, 1e308 ms, year 10000).

Every entry point that takes a time or a duration refuses them with an error for the one caller
that passed them, naming the value: other instances keep running (their sleeps still fire at
their time) and no driver of time hangs. Each await of the emulator here is bounded by a short
real timeout, so a regression fails instead of hanging.
"""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timedelta, timezone
from typing import Any, Awaitable, Callable

import pytest

from cfwf_emulator import Emulator, VirtualClock, WorkflowEntrypoint

START_MS = 1_767_225_600_000.0  # 2026-01-01T00:00:00Z
LATEST_TIME_MS = 253_402_300_799_999.0  # 9999-12-31T23:59:59.999Z, the last time a datetime shows
HOUR = 3_600_000.0
NAN, INF = float("nan"), float("inf")
BAD_NUMBERS = [NAN, INF, -INF, 1e308]
BOUND_S = 5.0  # real seconds any call below may take before the test counts it as hung

#: What each probe instance does with its ``step``, by instance id.
PROBES: dict[str, Callable[[Any], Awaitable[Any]]] = {}


class Probe(WorkflowEntrypoint):
    """Runs the probe registered for its id; an error it raises ends the instance."""

    async def run(self, event: Any, step: Any) -> Any:
        await PROBES[event["instanceId"]](step)
        return "finished"


class Bystander(WorkflowEntrypoint):
    """Sleeps an hour and returns the time its next step saw."""

    async def run(self, event: Any, step: Any) -> Any:
        await step.sleep("nap", "1 hour")
        clock = CLOCK[0]

        @step.do("after")
        def after():
            return clock.now_ms()

        return await after()


CLOCK: list[Any] = []


async def outcome_beside_a_bystander(probe: Callable[[Any], Awaitable[Any]], clock: Any = None) -> dict[str, Any]:
    """Run ``probe`` in one instance next to a sleeping bystander; check the bystander woke on
    time and return the probe's status."""
    clock = clock or VirtualClock(START_MS)
    CLOCK[:] = [clock]
    PROBES.clear()
    PROBES["probe"] = probe
    emu = Emulator(clock=clock)
    emu.add_workflow("probe", Probe)
    emu.add_workflow("bystander", Bystander)
    async with emu:
        bystander = await emu.env.BYSTANDER.create(id="b")
        inst = await emu.env.PROBE.create(id="probe")
        await asyncio.wait_for(emu.run_until_idle(), BOUND_S)
        assert await bystander.status() == {"status": "complete", "output": START_MS + HOUR}
        return await inst.status()


def error_of(status: dict[str, Any]) -> tuple[str, str]:
    assert status["status"] == "errored", status
    return status["error"]["name"], status["error"]["message"]


# -- step.sleep and step.sleep_until -------------------------------------------------------------


@pytest.mark.parametrize("value", BAD_NUMBERS, ids=repr)
async def test_sleep_refuses_durations_no_clock_reaches(value: float) -> None:
    name, message = error_of(await outcome_beside_a_bystander(lambda step: step.sleep("s", value)))
    assert name == "WorkflowFatalError"
    assert ("must be a finite" in message) or ("longer than the maximum" in message)


@pytest.mark.parametrize("value", BAD_NUMBERS, ids=repr)
async def test_sleep_until_refuses_times_no_clock_reaches(value: float) -> None:
    name, message = error_of(await outcome_beside_a_bystander(lambda step: step.sleep_until("s", value)))
    assert name == "WorkflowFatalError"
    if value != 1e308:
        assert f"step.sleep_until needs a finite time, got {value!r}" in message
        assert "epoch milliseconds" in message


@pytest.mark.parametrize(
    "value, expected",
    [
        (datetime.max, ("WorkflowFatalError", "longer than the maximum")),
        (datetime.min, ("Error", "time in the past")),
        (datetime.min.replace(tzinfo=timezone(timedelta(hours=1))), ("Error", "time in the past")),
        (datetime.max.replace(tzinfo=timezone(timedelta(hours=-1))), ("WorkflowFatalError", "longer than the maximum")),
    ],
    ids=["max", "min", "min+01:00", "max-01:00"],
)
async def test_sleep_until_refuses_datetimes_at_the_ends_of_time(value: datetime, expected: tuple[str, str]) -> None:
    name, message = error_of(await outcome_beside_a_bystander(lambda step: step.sleep_until("s", value)))
    assert name == expected[0]
    assert expected[1] in message


async def test_sleep_until_nan_leaves_other_instances_alone_on_the_real_clock() -> None:
    PROBES.clear()
    PROBES["probe"] = lambda step: step.sleep_until("s", NAN)

    class ShortNap(WorkflowEntrypoint):
        async def run(self, event: Any, step: Any) -> Any:
            await step.sleep("nap", 20)
            return "woke"

    emu = Emulator(clock="real")
    emu.add_workflow("probe", Probe)
    emu.add_workflow("short", ShortNap)

    async def settled(inst: Any) -> dict[str, Any]:
        while (status := await inst.status())["status"] in ("queued", "running", "waiting"):
            await asyncio.sleep(0.005)
        return status

    async with emu:
        inst = await emu.env.PROBE.create(id="probe")
        napper = await emu.env.SHORT.create(id="n")
        began = time.monotonic()
        assert await asyncio.wait_for(settled(napper), BOUND_S) == {"status": "complete", "output": "woke"}
        assert time.monotonic() - began < BOUND_S
        assert error_of(await asyncio.wait_for(settled(inst), BOUND_S))[0] == "WorkflowFatalError"


# -- step timeouts, retry delays, event timeouts ---------------------------------------------------


@pytest.mark.parametrize("value", BAD_NUMBERS, ids=repr)
async def test_step_timeout_must_be_finite_and_a_huge_one_never_fires(value: float) -> None:
    config = {"timeout": value, "retries": {"limit": 0, "delay": 0}}
    status = await outcome_beside_a_bystander(lambda step: step.do("s", config=config)(lambda: "ok")())
    if value == 1e308:
        assert status == {"status": "complete", "output": "finished"}
    else:
        name, message = error_of(status)
        assert name == "WorkflowFatalError"
        assert "finite, non-negative" in message


@pytest.mark.parametrize("value", BAD_NUMBERS, ids=repr)
async def test_retry_delay_past_any_time_fails_the_step_cleanly(value: float) -> None:
    def fail() -> None:
        raise RuntimeError("always")

    config = {"retries": {"limit": 3, "delay": value, "backoff": "constant"}}
    name, message = error_of(await outcome_beside_a_bystander(lambda step: step.do("s", config=config)(fail)()))
    if value == 1e308:
        assert name == "NonRetryableDelayError"
        assert "ends after the year 9999" in message
    else:
        assert name == "WorkflowFatalError"
        assert "finite, non-negative" in message


@pytest.mark.parametrize("value", BAD_NUMBERS, ids=repr)
async def test_a_delay_function_returning_no_reachable_delay_fails_the_step_cleanly(value: float) -> None:
    def fail() -> None:
        raise RuntimeError("always")

    config = {"retries": {"limit": 3, "delay": lambda _: value, "backoff": "constant"}}
    name, message = error_of(await outcome_beside_a_bystander(lambda step: step.do("s", config=config)(fail)()))
    assert name == "NonRetryableDelayError"
    if value == 1e308:
        assert "ends after the year 9999" in message
    else:
        assert "returned an invalid delay value" in message


@pytest.mark.parametrize("value", BAD_NUMBERS, ids=repr)
async def test_event_wait_timeout_no_clock_reaches_is_refused(value: float) -> None:
    name, message = error_of(
        await outcome_beside_a_bystander(lambda step: step.wait_for_event("w", "go", timeout=value))
    )
    assert name == "WorkflowFatalError"
    assert ("finite, non-negative" in message) or ("between 1 second and 365 days" in message)


async def test_a_sleep_that_would_end_after_year_9999_is_refused() -> None:
    clock = VirtualClock(LATEST_TIME_MS - HOUR)
    PROBES.clear()
    PROBES["probe"] = lambda step: step.sleep("s", "2 hours")
    emu = Emulator(clock=clock)
    emu.add_workflow("probe", Probe)
    async with emu:
        inst = await emu.env.PROBE.create(id="probe")
        await asyncio.wait_for(emu.run_until_idle(), BOUND_S)
        name, message = error_of(await inst.status())
    assert name == "WorkflowFatalError"
    assert "would end after 9999-12-31T23:59:59.999Z" in message


# -- the host side: advance and VirtualClock ------------------------------------------------------


@pytest.mark.parametrize("value", [*BAD_NUMBERS, timedelta.max], ids=repr)
async def test_advance_refuses_durations_past_the_last_time_and_changes_nothing(value: Any) -> None:
    CLOCK[:] = [VirtualClock(START_MS, autojump=False)]
    emu = Emulator(clock=CLOCK[0])
    emu.add_workflow("bystander", Bystander)
    async with emu:
        bystander = await emu.env.BYSTANDER.create(id="b")
        with pytest.raises(ValueError, match="advance") as caught:
            await asyncio.wait_for(emu.advance(value), BOUND_S)
        assert emu.clock.now_ms() == START_MS
        await asyncio.wait_for(emu.advance("1 hour"), BOUND_S)
        assert await bystander.status() == {"status": "complete", "output": START_MS + HOUR}
    if value == 1e308 or value is timedelta.max:
        assert "past 9999-12-31T23:59:59.999Z" in str(caught.value)


@pytest.mark.parametrize(
    "start",
    [*BAD_NUMBERS, 1e18, -1e18, -1.0, LATEST_TIME_MS + 1, 10**400, datetime(1969, 12, 31, 23, 59)],
    ids=lambda value: repr(value)[:24],
)
def test_virtual_clock_start_outside_1970_to_9999_is_refused_naming_it(start: Any) -> None:
    with pytest.raises(ValueError) as caught:
        VirtualClock(start)
    message = str(caught.value)
    assert f"VirtualClock start {start!r} is not a time the emulator can show" in message
    assert "1970-01-01T00:00:00Z to 9999-12-31T23:59:59.999Z" in message


@pytest.mark.parametrize(
    "start, expected",
    [
        (0, 0.0),
        (LATEST_TIME_MS, LATEST_TIME_MS),
        (datetime(9999, 12, 31, 23, 59, 59, 999000), LATEST_TIME_MS),
        (datetime(1970, 1, 1, tzinfo=timezone.utc), 0.0),
    ],
    ids=["epoch", "latest-ms", "latest-datetime", "epoch-aware"],
)
async def test_virtual_clock_accepts_the_ends_of_its_range(start: Any, expected: float) -> None:
    clock = VirtualClock(start)
    assert clock.now_ms() == expected
    emu = Emulator(clock=clock)
    async with emu:
        assert emu.now.year in (1970, 9999)
