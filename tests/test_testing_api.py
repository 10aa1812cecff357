"""The testing API (API.md §3, spec §4): modifiers, selectors, waiters and introspectors.

Every waiter here runs on the virtual clock: workflows that sleep for days must still finish at
once in real time (checked with ``instantly()``), because waiters jump virtual time meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any, Iterator

import pytest

from cfwf_emulator import (
    Emulator,
    NonRetryableError,
    StepError,
    VirtualClock,
    WorkflowEntrypoint,
    WorkflowError,
    WorkflowTimeoutError,
)
from cfwf_emulator.testing import (
    IntrospectionError,
    StepSelector,
    introspect_workflow,
    introspect_workflow_instance,
)

START_MS = 1_767_225_600_000.0  # 2026-01-01T00:00:00Z
SECOND_MS = 1_000.0
HOUR_MS = 3_600_000.0
DAY_MS = 86_400_000.0
PREFIX = "[WorkflowIntrospector]"


@contextlib.contextmanager
def instantly(limit_s: float = 2.0) -> Iterator[None]:
    """The block must finish within ``limit_s`` of real time (virtual time may jump days)."""
    started = time.perf_counter()
    yield
    elapsed = time.perf_counter() - started
    assert elapsed < limit_s, f"took {elapsed:.2f} s of real time"


def manual_emulator() -> Emulator:
    """Virtual time that moves only through advance / run_until_idle / the testing waiters."""
    return Emulator(clock=VirtualClock(START_MS, autojump=False))


async def step_view(handle: Any, name: str, count: int = 1) -> dict[str, Any]:
    """The describe() entry of a step."""
    steps = [s for s in (await handle.describe())["steps"] if s["cfwf"]["name"] == name]
    return steps[count - 1]


async def attempt_errors(handle: Any, name: str) -> list[Any]:
    """The error of each attempt of a step.do (None for a successful attempt)."""
    return [attempt["error"] for attempt in (await step_view(handle, name))["attempts"]]


class PaymentDeclined(Exception):
    pass


def counting_workflow(calls: list[str], result: Any = "real", config: Any = None) -> type:
    """A workflow with one step "charge" whose real callback records each call."""

    class Charge(WorkflowEntrypoint):
        async def run(self, event, step):
            def charge():
                calls.append("charge")
                return result

            if config is None:
                value = await step.do("charge")(charge)()
            else:
                value = await step.do("charge", config=config)(charge)()
            return {"charged": value}

    return Charge


class LongSleeper(WorkflowEntrypoint):
    """Sleeps thirty days between two steps."""

    async def run(self, event, step):
        @step.do("before")
        def before():
            return "before-result"

        first = await before()
        await step.sleep("a month", "30 days")

        @step.do("after")
        def after():
            return "after-result"

        second = await after()
        return [first, second]


# -- disable_sleeps -----------------------------------------------------------------------------


async def test_disable_sleeps_without_selectors_skips_every_sleep_and_sleep_until(emu):
    class Sleepy(WorkflowEntrypoint):
        async def run(self, event, step):
            await step.sleep("nap", "3 days")
            await step.sleep_until("until", START_MS + 10 * DAY_MS)
            await step.sleep("nap", 5000)
            return "rested"

    emu.add_workflow("sleepy", Sleepy, binding="W")
    async with emu:
        async with introspect_workflow_instance(emu.env.W, "s1") as intro:
            await intro.modify(lambda m: m.disable_sleeps())
            await emu.env.W.create(id="s1")
            with instantly():
                await intro.wait_for_status("complete")
            assert await intro.get_output() == "rested"
            assert emu.clock.now_ms() == START_MS


async def test_disable_sleeps_with_a_selector_skips_only_that_occurrence_of_the_sleep_name(emu):
    class Naps(WorkflowEntrypoint):
        async def run(self, event, step):
            @step.do("nap")
            def nap():
                return "a step.do named like the sleep does not count"

            await nap()
            await step.sleep("nap", "1 hour")
            await step.sleep("nap", "2 hours")
            await step.sleep("other", "4 hours")
            return "done"

    emu.add_workflow("naps", Naps, binding="W")
    async with emu:
        async with introspect_workflow_instance(emu.env.W, "n1") as intro:
            await intro.modify(lambda m: m.disable_sleeps([{"name": "nap", "index": 2}]))
            await emu.env.W.create(id="n1")
            await intro.wait_for_status("complete")
            # only the 2-hour "nap" (second sleep of that name) was skipped: 1 h + 4 h passed
            assert emu.clock.now_ms() == START_MS + 5 * HOUR_MS


async def test_disable_sleeps_also_ends_an_already_started_sleep_on_replay():
    emu = manual_emulator()
    emu.add_workflow("long", LongSleeper, binding="W")
    async with emu:
        async with introspect_workflow_instance(emu.env.W, "l1") as intro:
            handle = await emu.env.W.create(id="l1")
            await intro.wait_for_status("waiting")
            await intro.modify(lambda m: m.disable_sleeps())
            await handle.pause()
            await handle.resume()
            await intro.wait_for_status("complete")
            assert emu.clock.now_ms() == START_MS


# -- disable_retry_delays -------------------------------------------------------------------


async def test_disable_retry_delays_without_selectors_retries_at_once(emu):
    attempts: list[int] = []

    class Flaky(WorkflowEntrypoint):
        async def run(self, event, step):
            @step.do("flaky")
            def flaky():
                attempts.append(1)
                if len(attempts) < 3:
                    raise RuntimeError("not yet")
                return "ok"

            return await flaky()  # default config: 10 s exponential backoff

    emu.add_workflow("flaky", Flaky, binding="W")
    async with emu:
        async with introspect_workflow_instance(emu.env.W, "f1") as intro:
            await intro.modify(lambda m: m.disable_retry_delays())
            handle = await emu.env.W.create(id="f1")
            await intro.wait_for_status("complete")
            assert await intro.get_output() == "ok"
            assert len(attempts) == 3
            assert len(await attempt_errors(handle, "flaky")) == 3
            assert emu.clock.now_ms() == START_MS


async def test_disable_retry_delays_with_a_selector_removes_only_that_steps_delays(emu):
    failed: set[str] = set()
    config = {"retries": {"limit": 3, "delay": "1 minute", "backoff": "constant"}}

    class TwoFlaky(WorkflowEntrypoint):
        async def run(self, event, step):
            def fail_once(name):
                def callback():
                    if name not in failed:
                        failed.add(name)
                        raise RuntimeError(f"{name} failed once")
                    return name

                return callback

            a = await step.do("a", config=config)(fail_once("a"))()
            b = await step.do("b", config=config)(fail_once("b"))()
            return [a, b]

    emu.add_workflow("two", TwoFlaky, binding="W")
    async with emu:
        async with introspect_workflow_instance(emu.env.W, "t1") as intro:
            await intro.modify(lambda m: m.disable_retry_delays([{"name": "b"}]))
            await emu.env.W.create(id="t1")
            await intro.wait_for_status("complete")
            assert await intro.get_output() == ["a", "b"]
            # "a" still waited its minute before the retry; "b" retried at once
            assert emu.clock.now_ms() == START_MS + 60 * SECOND_MS


# -- mock_step_result -----------------------------------------------------------------------


async def test_mock_step_result_returns_the_mock_without_calling_the_callback(emu):
    calls: list[str] = []
    emu.add_workflow("charge", counting_workflow(calls, {"real": True}), binding="W")
    async with emu:
        async with introspect_workflow_instance(emu.env.W, "m1") as intro:
            await intro.modify(lambda m: m.mock_step_result({"name": "charge"}, {"ok": True}))
            handle = await emu.env.W.create(id="m1")
            await intro.wait_for_status("complete")
            assert await intro.get_output() == {"charged": {"ok": True}}
            assert calls == []
            view = await step_view(handle, "charge")
            assert view["output"] == {"ok": True}
            assert [a["success"] for a in view["attempts"]] == [True]


@pytest.mark.parametrize("mock", [0, "", False, None, []], ids=repr)
async def test_mock_step_result_with_a_falsy_value_is_a_real_mock(emu, mock):
    calls: list[str] = []
    emu.add_workflow("charge", counting_workflow(calls, "real"), binding="W")
    async with emu:
        async with introspect_workflow_instance(emu.env.W, "falsy") as intro:
            await intro.modify(lambda m: m.mock_step_result("charge", mock))
            await emu.env.W.create(id="falsy")
            assert await intro.wait_for_step_result("charge") == mock
            await intro.wait_for_status("complete")
            assert await intro.get_output() == {"charged": mock}
            assert calls == []


# -- mock_step_error ------------------------------------------------------------------------


async def test_mock_step_error_without_times_fails_every_attempt_and_errors_the_instance(emu):
    calls: list[str] = []
    emu.add_workflow("charge", counting_workflow(calls), binding="W")
    async with emu:
        async with introspect_workflow_instance(emu.env.W, "e1") as intro:
            await intro.modify(
                lambda m: m.mock_step_error({"name": "charge"}, PaymentDeclined("card declined"))
            )
            handle = await emu.env.W.create(id="e1")
            with instantly():
                await intro.wait_for_status("errored")
            assert await intro.get_error() == {"name": "PaymentDeclined", "message": "card declined"}
            errors = await attempt_errors(handle, "charge")
            # default config: limit 5 => 6 attempts, all failing with the mocked error
            assert errors == [{"name": "PaymentDeclined", "message": "card declined"}] * 6
            assert calls == []
            # the real retry delays applied: 10 + 20 + 40 + 80 + 160 seconds
            assert emu.clock.now_ms() == START_MS + 310 * SECOND_MS


async def test_mock_step_error_with_times_fails_only_that_many_attempts(emu):
    calls: list[str] = []
    config = {"retries": {"limit": 5, "delay": "1 second", "backoff": "constant"}}
    emu.add_workflow("charge", counting_workflow(calls, "real", config), binding="W")
    async with emu:
        async with introspect_workflow_instance(emu.env.W, "e2") as intro:
            await intro.modify(lambda m: m.mock_step_error("charge", RuntimeError("flaky"), 2))
            handle = await emu.env.W.create(id="e2")
            await intro.wait_for_status("complete")
            assert await intro.get_output() == {"charged": "real"}
            assert await attempt_errors(handle, "charge") == [
                {"name": "RuntimeError", "message": "flaky"},
                {"name": "RuntimeError", "message": "flaky"},
                None,
            ]
            assert calls == ["charge"]


class _JsStyle:
    """An error class called NonRetryableError that is not cfwf's (as code ported from JS may have)."""

    class NonRetryableError(Exception):
        pass


@pytest.mark.parametrize(
    "error",
    [NonRetryableError("stop now"), _JsStyle.NonRetryableError("stop now")],
    ids=["cfwf-class", "another-class-with-that-name"],
)
async def test_mock_step_error_named_non_retryable_error_stops_retries(emu, error):
    calls: list[str] = []
    emu.add_workflow("charge", counting_workflow(calls), binding="W")
    async with emu:
        async with introspect_workflow_instance(emu.env.W, "nr") as intro:
            await intro.modify(lambda m: m.mock_step_error("charge", error))
            handle = await emu.env.W.create(id="nr")
            await intro.wait_for_status("errored")
            assert len(await attempt_errors(handle, "charge")) == 1
            assert await intro.get_error() == {"name": "NonRetryableError", "message": "stop now"}
            assert calls == []
            assert emu.clock.now_ms() == START_MS


# -- force_step_timeout ----------------------------------------------------------------------


async def test_force_step_timeout_times_out_every_attempt_without_running_the_callback(emu):
    calls: list[str] = []
    config = {"retries": {"limit": 1, "delay": "1 second"}}
    emu.add_workflow("charge", counting_workflow(calls, "real", config), binding="W")
    timeout = {"name": "WorkflowTimeoutError", "message": "Execution timed out after 0ms"}
    async with emu:
        async with introspect_workflow_instance(emu.env.W, "t1") as intro:
            await intro.modify(lambda m: m.force_step_timeout("charge"))
            handle = await emu.env.W.create(id="t1")
            await intro.wait_for_status("errored")
            assert await attempt_errors(handle, "charge") == [timeout, timeout]
            assert await intro.get_error() == timeout
            assert calls == []


@pytest.mark.parametrize("mock_result", [False, True], ids=["real-fourth-attempt", "mocked-fourth-attempt"])
async def test_mocked_errors_and_forced_timeouts_share_one_attempt_counter(emu, mock_result):
    calls: list[str] = []
    config = {"retries": {"limit": 5, "delay": "1 minute"}}
    emu.add_workflow("charge", counting_workflow(calls, "real", config), binding="W")
    boom = {"name": "RuntimeError", "message": "boom"}
    timeout = {"name": "WorkflowTimeoutError", "message": "Execution timed out after 0ms"}

    async def setup(m):
        await m.disable_retry_delays()
        await m.mock_step_error({"name": "charge"}, RuntimeError("boom"), 2)
        await m.force_step_timeout({"name": "charge"}, 1)
        if mock_result:
            await m.mock_step_result({"name": "charge"}, "mocked")

    async with emu:
        async with introspect_workflow_instance(emu.env.W, "c1") as intro:
            await intro.modify(setup)
            handle = await emu.env.W.create(id="c1")
            await intro.wait_for_status("complete")
            assert await attempt_errors(handle, "charge") == [boom, boom, timeout, None]
            if mock_result:
                assert await intro.get_output() == {"charged": "mocked"}
                assert calls == []
            else:
                assert await intro.get_output() == {"charged": "real"}
                assert calls == ["charge"]


# -- mock_event -------------------------------------------------------------------------------


class Approval(WorkflowEntrypoint):
    async def run(self, event, step):
        ev = await step.wait_for_event("approval", "approved", timeout="1 hour")
        return ev["payload"]


async def test_mock_event_before_create_satisfies_the_wait(emu):
    emu.add_workflow("approval", Approval, binding="W")
    async with emu:
        async with introspect_workflow_instance(emu.env.W, "a1") as intro:
            await intro.modify(lambda m: m.mock_event({"type": "approved", "payload": {"by": "ann"}}))
            await emu.env.W.create(id="a1")
            await intro.wait_for_status("complete")
            assert await intro.get_output() == {"by": "ann"}
            assert emu.clock.now_ms() == START_MS


async def test_mock_event_carries_the_time_of_the_mock_event_call(emu):
    class LateWait(WorkflowEntrypoint):
        async def run(self, event, step):
            await step.sleep("first", "2 days")
            ev = await step.wait_for_event("approval", "approved", timeout="1 hour")
            return ev["timestamp"].isoformat()

    emu.add_workflow("late", LateWait, binding="W")
    async with emu:
        async with introspect_workflow_instance(emu.env.W, "a2") as intro:
            await intro.modify(lambda m: m.mock_event({"type": "approved", "payload": 1}))
            await emu.env.W.create(id="a2")
            await intro.wait_for_status("complete")
            assert (await intro.get_output()).startswith("2026-01-01T00:00:00")


async def test_mock_event_survives_a_restart(emu):
    recorded: list[Any] = []

    class ApproveThenRecord(WorkflowEntrypoint):
        async def run(self, event, step):
            ev = await step.wait_for_event("approval", "approved", timeout="1 hour")
            payload = ev["payload"]

            @step.do("record")
            def record():
                recorded.append(payload)
                return payload

            return await record()

    emu.add_workflow("approval", ApproveThenRecord, binding="W")
    async with emu:
        async with introspect_workflow_instance(emu.env.W, "a3") as intro:
            await intro.modify(lambda m: m.mock_event({"type": "approved", "payload": "yes"}))
            handle = await emu.env.W.create(id="a3")
            await intro.wait_for_status("complete")
            await handle.restart()
            await intro.wait_for_status("complete")
            assert await intro.get_output() == "yes"
            assert recorded == ["yes", "yes"]


async def test_mock_event_sent_to_an_instance_already_waiting_resolves_its_wait():
    emu = manual_emulator()
    emu.add_workflow("approval", Approval, binding="W")
    async with emu:
        async with introspect_workflow_instance(emu.env.W, "a4") as intro:
            await emu.env.W.create(id="a4")
            await intro.wait_for_status("waiting")
            await intro.modify(lambda m: m.mock_event({"type": "approved", "payload": "late"}))
            await intro.wait_for_status("complete")
            assert await intro.get_output() == "late"
            assert emu.clock.now_ms() == START_MS


@pytest.mark.parametrize(
    ("mocked", "expected"),
    [([1], [1, "Execution timed out after 3600000ms"]), ([1, 2], [1, 2])],
    ids=["one-mock-one-wait", "two-mocks-two-waits"],
)
async def test_each_mock_event_is_consumed_by_one_wait_of_its_type(emu, mocked, expected):
    class TwoWaits(WorkflowEntrypoint):
        async def run(self, event, step):
            first = await step.wait_for_event("first", "go", timeout="1 hour")
            try:
                second = (await step.wait_for_event("second", "go", timeout="1 hour"))["payload"]
            except WorkflowTimeoutError as exc:
                second = str(exc)
            return [first["payload"], second]

    emu.add_workflow("two", TwoWaits, binding="W")

    async def setup(m):
        for payload in mocked:
            await m.mock_event({"type": "go", "payload": payload})

    async with emu:
        async with introspect_workflow_instance(emu.env.W, "w2") as intro:
            await intro.modify(setup)
            await emu.env.W.create(id="w2")
            with instantly():
                await intro.wait_for_status("complete")
            assert await intro.get_output() == expected


# -- force_event_timeout ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("timeout", "ms"), [(None, "86400000"), ("2 hours", "7200000")], ids=["default-24h", "2-hours"]
)
async def test_force_event_timeout_times_out_at_once_with_the_configured_timeout(emu, timeout, ms):
    class Review(WorkflowEntrypoint):
        async def run(self, event, step):
            if timeout is None:
                await step.wait_for_event("review", "decision")
            else:
                await step.wait_for_event("review", "decision", timeout=timeout)
            return "unreachable"

    emu.add_workflow("review", Review, binding="W")
    async with emu:
        async with introspect_workflow_instance(emu.env.W, "r1") as intro:
            await intro.modify(lambda m: m.force_event_timeout({"name": "review"}))
            await emu.env.W.create(id="r1")
            await intro.wait_for_status("errored")
            assert await intro.get_error() == {
                "name": "WorkflowTimeoutError",
                "message": f"Execution timed out after {ms}ms",
            }
            assert emu.clock.now_ms() == START_MS


async def test_force_event_timeout_selects_the_wait_by_its_occurrence(emu):
    class TwoReviews(WorkflowEntrypoint):
        async def run(self, event, step):
            results = []
            for _ in range(2):
                try:
                    ev = await step.wait_for_event("review", "decision", timeout="1 hour")
                    results.append(ev["payload"])
                except WorkflowTimeoutError as exc:
                    results.append(str(exc))
            return results

    emu.add_workflow("reviews", TwoReviews, binding="W")

    async def setup(m):
        await m.mock_event({"type": "decision", "payload": "first"})
        await m.mock_event({"type": "decision", "payload": "second"})
        await m.force_event_timeout({"name": "review", "index": 2})

    async with emu:
        async with introspect_workflow_instance(emu.env.W, "r2") as intro:
            await intro.modify(setup)
            await emu.env.W.create(id="r2")
            await intro.wait_for_status("complete")
            assert await intro.get_output() == ["first", "Execution timed out after 3600000ms"]


# -- modifier error texts ---------------------------------------------------------------------


@pytest.mark.parametrize("first", [{"a": 1}, 0], ids=["truthy-first", "falsy-first"])
async def test_mocking_a_step_result_twice_raises(emu, first):
    emu.add_workflow("charge", counting_workflow([]), binding="W")

    def setup(m):
        m.mock_step_result("charge", first)
        m.mock_step_result("charge", 2)

    async with emu:
        async with introspect_workflow_instance(emu.env.W, "x") as intro:
            with pytest.raises(Exception) as info:
                await intro.modify(setup)
            assert str(info.value) == f"{PREFIX} Trying to mock step 'charge' multiple times!"


async def test_mocking_an_error_after_the_result_raises(emu):
    emu.add_workflow("charge", counting_workflow([]), binding="W")

    def setup(m):
        m.mock_step_result("charge", 1)
        m.mock_step_error("charge", RuntimeError("late"))

    async with emu:
        async with introspect_workflow_instance(emu.env.W, "x") as intro:
            with pytest.raises(Exception) as info:
                await intro.modify(setup)
            assert str(info.value) == (
                f"{PREFIX} Trying to mock error on step 'charge' after mocking its result!"
            )


async def test_forcing_a_timeout_after_the_result_raises(emu):
    emu.add_workflow("charge", counting_workflow([]), binding="W")

    def setup(m):
        m.mock_step_result("charge", 1)
        m.force_step_timeout("charge")

    async with emu:
        async with introspect_workflow_instance(emu.env.W, "x") as intro:
            with pytest.raises(Exception) as info:
                await intro.modify(setup)
            assert str(info.value) == (
                f"{PREFIX} Trying to force timeout on step 'charge' after mocking its result!"
            )


# -- selectors --------------------------------------------------------------------------------


class SameNameTwice(WorkflowEntrypoint):
    async def run(self, event, step):
        @step.do("s")
        def s():
            return "real"

        return [await s(), await s()]


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        ({"name": "s", "index": 2}, ["real", "mocked"]),
        (StepSelector("s", 2), ["real", "mocked"]),
        ("s", ["mocked", "real"]),
        ({"name": "s"}, ["mocked", "real"]),
        ({"name": "s", "index": 0}, ["mocked", "real"]),
        (StepSelector("s"), ["mocked", "real"]),
    ],
    ids=["dict-index-2", "StepSelector-index-2", "plain-name", "dict-no-index", "dict-index-0", "StepSelector"],
)
async def test_step_selector_forms_pick_the_occurrence_of_the_name(emu, selector, expected):
    emu.add_workflow("twice", SameNameTwice, binding="W")
    async with emu:
        async with introspect_workflow_instance(emu.env.W, "sel") as intro:
            await intro.modify(lambda m: m.mock_step_result(selector, "mocked"))
            await emu.env.W.create(id="sel")
            await intro.wait_for_status("complete")
            assert await intro.get_output() == expected


# -- when modifications apply -------------------------------------------------------------------


async def test_modifications_made_before_create_apply_from_the_first_attempt(emu):
    calls: list[str] = []
    emu.add_workflow("charge", counting_workflow(calls), binding="W")
    async with emu:
        intro = introspect_workflow_instance(emu.env.W, "early")
        try:
            await intro.modify(lambda m: m.mock_step_error("charge", PaymentDeclined("no"), 1))
            handle = await emu.env.W.create(id="early")
            await intro.wait_for_status("complete")
            assert (await attempt_errors(handle, "charge"))[0] == {"name": "PaymentDeclined", "message": "no"}
            assert calls == ["charge"]
        finally:
            await intro.dispose()


async def test_modifications_made_while_running_apply_to_steps_not_run_yet():
    emu = manual_emulator()
    emu.add_workflow("long", LongSleeper, binding="W")
    async with emu:
        async with introspect_workflow_instance(emu.env.W, "mid") as intro:
            await emu.env.W.create(id="mid")
            await intro.wait_for_status("waiting")
            await intro.modify(lambda m: m.mock_step_result("after", "mocked-after"))
            await intro.wait_for_status("complete")
            assert await intro.get_output() == ["before-result", "mocked-after"]


async def test_modifications_made_after_a_step_ran_do_not_change_it():
    emu = manual_emulator()
    emu.add_workflow("long", LongSleeper, binding="W")
    async with emu:
        async with introspect_workflow_instance(emu.env.W, "late") as intro:
            await emu.env.W.create(id="late")
            await intro.wait_for_status("waiting")
            await intro.modify(lambda m: m.mock_step_result("before", "mocked-before"))
            await intro.wait_for_status("complete")
            assert await intro.wait_for_step_result("before") == "before-result"
            assert await intro.get_output() == ["before-result", "after-result"]


async def test_modifications_survive_a_restart(emu):
    calls: list[str] = []

    class SleepThenCharge(WorkflowEntrypoint):
        async def run(self, event, step):
            await step.sleep("wait", "1 day")

            @step.do("charge")
            def charge():
                calls.append("charge")
                return "real"

            return await charge()

    emu.add_workflow("charge", SleepThenCharge, binding="W")

    async def setup(m):
        await m.disable_sleeps()
        await m.mock_step_result("charge", "mocked")

    async with emu:
        async with introspect_workflow_instance(emu.env.W, "rs") as intro:
            await intro.modify(setup)
            handle = await emu.env.W.create(id="rs")
            await intro.wait_for_status("complete")
            await handle.restart()
            await intro.wait_for_status("complete")
            assert await intro.get_output() == "mocked"
            assert calls == []
            assert emu.clock.now_ms() == START_MS


class Everything(WorkflowEntrypoint):
    """Exercises all seven modifiers."""

    async def run(self, event, step):
        await step.sleep("long", "30 days")
        config = {"retries": {"limit": 5, "delay": "1 hour", "backoff": "constant"}}

        @step.do("flaky", config=config)
        def flaky_step():
            return "real"

        flaky = await flaky_step()
        approval = await step.wait_for_event("approval", "approved", timeout="1 hour")
        try:
            await step.wait_for_event("late", "never", timeout="1 hour")
            late = "arrived"
        except WorkflowTimeoutError as exc:
            late = str(exc)
        return {"flaky": flaky, "approval": approval["payload"], "late": late}


EVERYTHING_OUTPUT = {"flaky": "mocked", "approval": "yes", "late": "Execution timed out after 3600000ms"}


@pytest.mark.parametrize("awaited", [True, False], ids=["awaited", "just-called"])
async def test_every_modifier_works_awaited_or_just_called(emu, awaited):
    def calls(m):
        return [
            m.disable_sleeps(),
            m.disable_retry_delays(),
            m.mock_step_error("flaky", RuntimeError("boom"), 1),
            m.force_step_timeout("flaky", 1),
            m.mock_step_result("flaky", "mocked"),
            m.mock_event({"type": "approved", "payload": "yes"}),
            m.force_event_timeout("late"),
        ]

    async def awaited_setup(m):
        for pending in calls(m):
            await pending

    def called_setup(m):
        calls(m)

    emu.add_workflow("everything", Everything, binding="W")
    async with emu:
        async with introspect_workflow_instance(emu.env.W, "all") as intro:
            await intro.modify(awaited_setup if awaited else called_setup)
            handle = await emu.env.W.create(id="all")
            with instantly():
                await intro.wait_for_status("complete")
            assert await intro.get_output() == EVERYTHING_OUTPUT
            assert len(await attempt_errors(handle, "flaky")) == 3
            assert emu.clock.now_ms() == START_MS


async def test_modify_returns_the_introspector_and_accepts_sync_and_async_callbacks(emu):
    class TwoSteps(WorkflowEntrypoint):
        async def run(self, event, step):
            @step.do("b")
            def b():
                return "real-b"

            @step.do("a")
            def a():
                return "real-a"

            return [await a(), await b()]

    def sync_setup(m):
        m.mock_step_result("a", "mock-a")

    async def async_setup(m):
        await m.mock_step_result("b", "mock-b")

    emu.add_workflow("two", TwoSteps, binding="W")
    async with emu:
        async with introspect_workflow_instance(emu.env.W, "mod") as intro:
            assert await intro.modify(sync_setup) is intro
            assert await intro.modify(async_setup) is intro
            await emu.env.W.create(id="mod")
            await intro.wait_for_status("complete")
            assert await intro.get_output() == ["mock-a", "mock-b"]


# -- wait_for_status ------------------------------------------------------------------------------


async def test_wait_for_status_complete_jumps_virtual_time_through_long_sleeps(emu):
    emu.add_workflow("long", LongSleeper, binding="W")
    async with emu:
        async with introspect_workflow_instance(emu.env.W, "ws1") as intro:
            await emu.env.W.create(id="ws1")
            with instantly():
                await intro.wait_for_status("complete")
            assert emu.clock.now_ms() == START_MS + 30 * DAY_MS


async def test_wait_for_status_errored(emu):
    class FailsLater(WorkflowEntrypoint):
        async def run(self, event, step):
            await step.sleep("wait", "3 days")
            raise ValueError("bad input")

    emu.add_workflow("fails", FailsLater, binding="W")
    async with emu:
        async with introspect_workflow_instance(emu.env.W, "ws2") as intro:
            await emu.env.W.create(id="ws2")
            with instantly():
                await intro.wait_for_status("errored")
            assert await intro.get_error() == {"name": "ValueError", "message": "bad input"}


class Controller(WorkflowEntrypoint):
    """After a day, pauses or terminates the instance "target" of the TARGET binding."""

    async def run(self, event, step):
        await step.sleep("a day", "1 day")

        @step.do("act")
        async def act():
            target = await self.env.TARGET.get("target")
            await getattr(target, event["payload"]["action"])()
            return "done"

        return await act()


class Target(WorkflowEntrypoint):
    async def run(self, event, step):
        await step.sleep("ten days", "10 days")
        return "finished"


@pytest.mark.parametrize(("action", "status"), [("terminate", "terminated"), ("pause", "paused")])
async def test_wait_for_status_resolves_on_a_transition_made_while_waiting(emu, action, status):
    emu.add_workflow("controller", Controller, binding="CONTROLLER")
    emu.add_workflow("target", Target, binding="TARGET")
    async with emu:
        async with introspect_workflow_instance(emu.env.TARGET, "target") as intro:
            await emu.env.TARGET.create(id="target")
            await emu.env.CONTROLLER.create(id="ctl", params={"action": action})
            with instantly():
                await intro.wait_for_status(status)
            assert (await (await emu.env.TARGET.get("target")).status())["status"] == status
            assert emu.clock.now_ms() == START_MS + DAY_MS


async def test_wait_for_status_terminated_after_terminate(emu):
    emu.add_workflow("target", Target, binding="W")
    async with emu:
        async with introspect_workflow_instance(emu.env.W, "t") as intro:
            handle = await emu.env.W.create(id="t")
            await handle.terminate()
            with instantly():
                await intro.wait_for_status("terminated")


async def test_wait_for_status_paused_after_pause(emu):
    emu.add_workflow("target", Target, binding="W")
    async with emu:
        async with introspect_workflow_instance(emu.env.W, "p") as intro:
            handle = await emu.env.W.create(id="p")
            await intro.wait_for_status("waiting")
            await handle.pause()
            with instantly():
                await intro.wait_for_status("paused")


async def test_wait_for_status_waiting_with_autojump_off_does_not_move_time():
    emu = manual_emulator()
    emu.add_workflow("target", Target, binding="W")
    async with emu:
        async with introspect_workflow_instance(emu.env.W, "w") as intro:
            handle = await emu.env.W.create(id="w")
            with instantly():
                await intro.wait_for_status("waiting")
            assert (await handle.status())["status"] == "waiting"
            assert emu.clock.now_ms() == START_MS


async def test_waiting_for_another_finite_status_raises_with_the_spec_text(emu):
    emu.add_workflow("long", LongSleeper, binding="W")
    async with emu:
        async with introspect_workflow_instance(emu.env.W, "fin") as intro:
            await emu.env.W.create(id="fin")
            await intro.wait_for_status("complete")
            with instantly(), pytest.raises(IntrospectionError) as info:
                await intro.wait_for_status("errored")
            assert str(info.value) == (
                "[WorkflowIntrospector] The Workflow instance fin has reached status 'complete'. "
                "This is a finite status that prevents it from ever reaching the expected status "
                "of 'errored'."
            )


async def test_reaching_a_finite_status_while_waiting_for_another_raises(emu):
    class FailsLater(WorkflowEntrypoint):
        async def run(self, event, step):
            await step.sleep("wait", "3 days")
            raise ValueError("bad input")

    emu.add_workflow("fails", FailsLater, binding="W")
    async with emu:
        async with introspect_workflow_instance(emu.env.W, "fin2") as intro:
            await emu.env.W.create(id="fin2")
            with instantly(), pytest.raises(IntrospectionError) as info:
                await intro.wait_for_status("complete")
            assert str(info.value).startswith(
                "[WorkflowIntrospector] The Workflow instance fin2 has reached status 'errored'. "
                "This is a finite status that prevents it from ever reaching the expected status "
                "of 'complete'."
            )


async def test_waiting_for_a_non_terminal_status_after_completion_raises_at_once(emu):
    emu.add_workflow("long", LongSleeper, binding="W")
    async with emu:
        async with introspect_workflow_instance(emu.env.W, "done") as intro:
            await emu.env.W.create(id="done")
            await intro.wait_for_status("complete")
            with instantly(), pytest.raises(IntrospectionError) as info:
                await intro.wait_for_status("paused")
            assert "done" in str(info.value)
            assert "complete" in str(info.value)


async def test_waiting_while_paused_raises_naming_the_status_and_what_it_is_blocked_on(emu):
    emu.add_workflow("target", Target, binding="W")
    async with emu:
        async with introspect_workflow_instance(emu.env.W, "held") as intro:
            handle = await emu.env.W.create(id="held")
            await intro.wait_for_status("waiting")
            await handle.pause()
            with instantly(), pytest.raises(IntrospectionError) as info:
                await intro.wait_for_status("complete")
            message = str(info.value)
            assert "held" in message
            assert "paused" in message
            assert "ten days" in message


async def test_waiting_on_an_instance_that_was_never_created_raises_at_once(emu):
    emu.add_workflow("target", Target, binding="W")
    async with emu:
        async with introspect_workflow_instance(emu.env.W, "ghost") as intro:
            with instantly(), pytest.raises(IntrospectionError) as info:
                await intro.wait_for_status("complete")
            assert "ghost" in str(info.value)


@pytest.mark.parametrize(
    ("status", "message"),
    [
        ("unknown", "unknown cannot be parsed into a InstanceStatus"),
        ("finished", "finished was not handled because it's not a valid InstanceStatus"),
    ],
)
async def test_wait_for_status_rejects_invalid_status_names(emu, status, message):
    emu.add_workflow("target", Target, binding="W")
    async with emu:
        async with introspect_workflow_instance(emu.env.W, "v") as intro:
            await emu.env.W.create(id="v")
            with pytest.raises(ValueError) as info:
                await intro.wait_for_status(status)
            assert str(info.value) == message


async def test_wait_for_status_timeout_in_real_seconds_raises_introspection_error(emu):
    never = asyncio.Event()

    class Stuck(WorkflowEntrypoint):
        async def run(self, event, step):
            @step.do("hang")
            async def hang():
                await never.wait()  # real waiting inside a step: virtual time cannot jump
                return "never"

            return await hang()

    emu.add_workflow("stuck", Stuck, binding="W")
    async with emu:
        async with introspect_workflow_instance(emu.env.W, "stuck") as intro:
            await emu.env.W.create(id="stuck")
            with instantly(), pytest.raises(IntrospectionError) as info:
                await intro.wait_for_status("complete", timeout=0.05)
            assert "stuck" in str(info.value)


# -- wait_for_step_result --------------------------------------------------------------------------


async def test_wait_for_step_result_returns_the_result_after_long_sleeps(emu):
    emu.add_workflow("long", LongSleeper, binding="W")
    async with emu:
        async with introspect_workflow_instance(emu.env.W, "r") as intro:
            await emu.env.W.create(id="r")
            with instantly():
                assert await intro.wait_for_step_result({"name": "after"}) == "after-result"


async def test_wait_for_step_result_returns_a_mocked_result(emu):
    emu.add_workflow("charge", counting_workflow([], "real"), binding="W")
    async with emu:
        async with introspect_workflow_instance(emu.env.W, "r") as intro:
            await intro.modify(lambda m: m.mock_step_result("charge", {"mocked": [1, 2]}))
            await emu.env.W.create(id="r")
            assert await intro.wait_for_step_result("charge") == {"mocked": [1, 2]}


async def test_wait_for_step_result_selects_the_occurrence_by_index(emu):
    class Numbered(WorkflowEntrypoint):
        async def run(self, event, step):
            def times_ten(n):
                return lambda: n * 10

            for n in range(3):
                await step.do("n")(times_ten(n))()

    emu.add_workflow("numbered", Numbered, binding="W")
    async with emu:
        async with introspect_workflow_instance(emu.env.W, "r") as intro:
            await emu.env.W.create(id="r")
            assert await intro.wait_for_step_result({"name": "n", "index": 2}) == 10
            assert await intro.wait_for_step_result(StepSelector("n", 3)) == 20


async def test_wait_for_step_result_raises_the_steps_error(emu):
    class CaughtFailure(WorkflowEntrypoint):
        async def run(self, event, step):
            await step.sleep("first", "2 days")

            @step.do("charge", config={"retries": {"limit": 0, "delay": 1000}})
            def charge():
                raise PaymentDeclined("card declined")

            try:
                await charge()
            except StepError:
                return "handled"

    emu.add_workflow("caught", CaughtFailure, binding="W")
    async with emu:
        async with introspect_workflow_instance(emu.env.W, "r") as intro:
            await emu.env.W.create(id="r")
            with instantly(), pytest.raises(StepError) as info:
                await intro.wait_for_step_result("charge")
            assert info.value.name == "PaymentDeclined"
            assert str(info.value) == "card declined"
            await intro.wait_for_status("complete")


async def test_wait_for_step_result_raises_at_once_when_the_instance_finished_without_the_step(emu):
    emu.add_workflow("long", LongSleeper, binding="W")
    async with emu:
        async with introspect_workflow_instance(emu.env.W, "r") as intro:
            await emu.env.W.create(id="r")
            with instantly(), pytest.raises(IntrospectionError) as info:
                await intro.wait_for_step_result("never declared")
            assert "r" in str(info.value)
            assert "complete" in str(info.value)


async def test_wait_for_step_result_only_matches_step_do(emu):
    emu.add_workflow("long", LongSleeper, binding="W")
    async with emu:
        async with introspect_workflow_instance(emu.env.W, "kinds") as intro:
            await emu.env.W.create(id="kinds")
            with instantly(), pytest.raises(IntrospectionError):
                await intro.wait_for_step_result("a month")  # the name of a sleep, not a step.do


async def test_wait_for_step_result_raises_at_once_while_the_instance_is_paused(emu):
    emu.add_workflow("long", LongSleeper, binding="W")
    async with emu:
        async with introspect_workflow_instance(emu.env.W, "held") as intro:
            handle = await emu.env.W.create(id="held")
            assert await intro.wait_for_step_result("before") == "before-result"
            await handle.pause()
            with instantly(), pytest.raises(IntrospectionError) as info:
                await intro.wait_for_step_result("after")
            assert "held" in str(info.value)
            assert "paused" in str(info.value)


# -- get_output / get_error ---------------------------------------------------------------------------


async def test_get_output_requires_complete():
    emu = manual_emulator()
    emu.add_workflow("target", Target, binding="W")
    async with emu:
        async with introspect_workflow_instance(emu.env.W, "o") as intro:
            await emu.env.W.create(id="o")
            await intro.wait_for_status("waiting")
            with pytest.raises(Exception) as info:
                await intro.get_output()
            assert str(info.value) == (
                'Cannot retrieve output: Workflow instance is in status "waiting" but must be '
                '"complete" to have an output available'
            )


async def test_get_error_requires_errored(emu):
    emu.add_workflow("target", Target, binding="W")
    async with emu:
        async with introspect_workflow_instance(emu.env.W, "o") as intro:
            await emu.env.W.create(id="o")
            await intro.wait_for_status("complete")
            assert await intro.get_output() == "finished"
            with pytest.raises(Exception) as info:
                await intro.get_error()
            assert str(info.value) == (
                'Cannot retrieve error: Workflow instance is in status "complete" but must be '
                '"errored" to have error information available'
            )


# -- dispose and the entry point ------------------------------------------------------------------------


async def test_dispose_frees_the_instance_id(emu):
    emu.add_workflow("target", Target, binding="W")
    async with emu:
        intro = introspect_workflow_instance(emu.env.W, "reuse")
        await emu.env.W.create(id="reuse")
        await intro.wait_for_status("complete")
        await intro.dispose()
        with pytest.raises(WorkflowError) as info:
            await emu.env.W.get("reuse")
        assert info.value.code == "instance.not_found"
        again = await emu.env.W.create(id="reuse")
        async with introspect_workflow_instance(emu.env.W, "reuse") as second:
            await second.wait_for_status("complete")
            assert (await again.status())["status"] == "complete"


async def test_dispose_stops_a_running_instance_and_is_idempotent(emu):
    emu.add_workflow("long", LongSleeper, binding="W")
    async with emu:
        intro = introspect_workflow_instance(emu.env.W, "busy")
        await emu.env.W.create(id="busy")
        assert await intro.wait_for_step_result("before") == "before-result"
        await intro.dispose()
        await intro.dispose()
        with pytest.raises(WorkflowError):
            await emu.env.W.get("busy")
        async with introspect_workflow_instance(emu.env.W, "busy") as again:
            await emu.env.W.create(id="busy")
            await again.wait_for_status("complete")
            assert await again.get_output() == ["before-result", "after-result"]


async def test_dispose_removes_the_modifications(emu):
    calls: list[str] = []
    emu.add_workflow("charge", counting_workflow(calls, "real"), binding="W")
    async with emu:
        first = introspect_workflow_instance(emu.env.W, "clean")
        await first.modify(lambda m: m.mock_step_result("charge", "mocked"))
        await emu.env.W.create(id="clean")
        await first.wait_for_status("complete")
        assert await first.get_output() == {"charged": "mocked"}
        await first.dispose()

        async with introspect_workflow_instance(emu.env.W, "clean") as second:
            await emu.env.W.create(id="clean")
            await second.wait_for_status("complete")
            assert await second.get_output() == {"charged": "real"}
            assert calls == ["charge"]


async def test_dispose_before_create_drops_pending_modifications(emu):
    calls: list[str] = []
    emu.add_workflow("charge", counting_workflow(calls, "real"), binding="W")
    async with emu:
        first = introspect_workflow_instance(emu.env.W, "pending")
        await first.modify(lambda m: m.mock_step_result("charge", "mocked"))
        await first.dispose()
        async with introspect_workflow_instance(emu.env.W, "pending") as second:
            await emu.env.W.create(id="pending")
            await second.wait_for_status("complete")
            assert await second.get_output() == {"charged": "real"}


async def test_async_with_disposes_the_instance(emu):
    emu.add_workflow("target", Target, binding="W")
    async with emu:
        async with introspect_workflow_instance(emu.env.W, "scoped") as intro:
            await emu.env.W.create(id="scoped")
            await intro.wait_for_status("complete")
        with pytest.raises(WorkflowError) as info:
            await emu.env.W.get("scoped")
        assert info.value.code == "instance.not_found"


async def test_awaiting_introspect_workflow_instance_gives_the_same_introspector(emu):
    emu.add_workflow("target", Target, binding="W")
    async with emu:
        intro = introspect_workflow_instance(emu.env.W, "same")
        assert (await intro) is intro
        awaited = await introspect_workflow_instance(emu.env.W, "other")
        try:
            await emu.env.W.create(id="other")
            await awaited.wait_for_status("complete")
        finally:
            await awaited.dispose()
            await intro.dispose()


async def test_introspect_workflow_instance_requires_binding_and_id(emu):
    emu.add_workflow("target", Target, binding="W")
    for binding, instance_id in ((emu.env.W, ""), (None, "x")):
        with pytest.raises(Exception) as info:
            introspect_workflow_instance(binding, instance_id)
        assert str(info.value) == "[WorkflowIntrospector] Workflow binding and instance id are required."


# -- introspect_workflow ---------------------------------------------------------------------------------


class Child(WorkflowEntrypoint):
    async def run(self, event, step):
        await step.sleep("settle", "1 week")

        @step.do("score")
        def score_step():
            return {"score": 1}

        score = await score_step()
        return {"parent": event["payload"]["parent"], "score": score["score"]}


class Parent(WorkflowEntrypoint):
    async def run(self, event, step):
        @step.do("spawn child")
        async def spawn():
            child = await self.env.CHILD.create(params={"parent": event["instanceId"]})
            return child.id

        return await spawn()


async def test_introspect_workflow_captures_instances_created_by_code_under_test(emu):
    emu.add_workflow("parent", Parent, binding="PARENT")
    emu.add_workflow("child", Child, binding="CHILD")
    async with emu:
        async with introspect_workflow(emu.env.CHILD) as children:
            await children.modify_all(lambda m: m.mock_step_result("score", {"score": 99}))
            async with introspect_workflow_instance(emu.env.PARENT, "p1") as parent:
                await emu.env.PARENT.create(id="p1")
                await parent.wait_for_status("complete")
                child_id = await parent.get_output()
            captured = await children.get()
            assert [c.id for c in captured] == [child_id]
            with instantly():
                await captured[0].wait_for_status("complete")
            assert await captured[0].get_output() == {"parent": "p1", "score": 99}


async def test_introspect_workflow_captures_create_batch_instances(emu):
    emu.add_workflow("child", Child, binding="CHILD")
    async with emu:
        async with introspect_workflow(emu.env.CHILD) as children:
            await children.modify_all(lambda m: m.disable_sleeps())
            created = await emu.env.CHILD.create_batch(
                [{"params": {"parent": "a"}}, {"id": "321", "params": {"parent": "b"}}, {"params": {"parent": "c"}}]
            )
            captured = await children.get()
            assert len(captured) == 3
            assert [c.id for c in captured] == [inst.id for inst in created]
            for intro in captured:
                await intro.wait_for_status("complete")
            assert emu.clock.now_ms() == START_MS


async def test_introspect_workflow_does_not_capture_batch_items_skipped_for_a_used_id(emu):
    emu.add_workflow("child", Child, binding="CHILD")
    async with emu:
        async with introspect_workflow(emu.env.CHILD) as children:
            await emu.env.CHILD.create(id="taken", params={"parent": "x"})
            created = await emu.env.CHILD.create_batch(
                [{"id": "taken", "params": {"parent": "y"}}, {"id": "new", "params": {"parent": "y"}}]
            )
            assert [inst.id for inst in created] == ["new"]
            assert [c.id for c in await children.get()] == ["taken", "new"]


async def test_introspect_workflow_captures_instances_created_without_an_id(emu):
    emu.add_workflow("child", Child, binding="CHILD")
    async with emu:
        async with introspect_workflow(emu.env.CHILD) as children:
            handle = await emu.env.CHILD.create(params={"parent": "none"})
            captured = await children.get()
            assert [c.id for c in captured] == [handle.id]


async def test_introspect_workflow_get_returns_the_same_introspectors_each_time(emu):
    emu.add_workflow("child", Child, binding="CHILD")
    async with emu:
        async with introspect_workflow(emu.env.CHILD) as children:
            await emu.env.CHILD.create(params={"parent": "x"})
            first = await children.get()
            second = await children.get()
            assert len(first) == 1
            assert first[0] is second[0]


async def test_modify_all_applies_only_to_instances_created_afterwards(emu):
    emu.add_workflow("child", Child, binding="CHILD")
    async with emu:
        async with introspect_workflow(emu.env.CHILD) as children:
            await emu.env.CHILD.create(id="before", params={"parent": "x"})
            await children.modify_all(lambda m: m.mock_step_result("score", {"score": 7}))
            await emu.env.CHILD.create(id="after", params={"parent": "x"})
            before, after = await children.get()
            await before.wait_for_status("complete")
            await after.wait_for_status("complete")
            assert await before.get_output() == {"parent": "x", "score": 1}
            assert await after.get_output() == {"parent": "x", "score": 7}


async def test_a_second_concurrent_introspect_workflow_raises(emu):
    emu.add_workflow("child", Child, binding="CHILD")
    async with emu:
        first = introspect_workflow(emu.env.CHILD)
        with pytest.raises(Exception) as info:
            introspect_workflow(emu.env.CHILD)
        assert str(info.value) == (
            'Workflow "child" already has an active introspection session for binding "CHILD".'
        )
        await first.dispose()
        second = introspect_workflow(emu.env.CHILD)
        await second.dispose()


async def test_introspect_workflow_requires_a_binding():
    with pytest.raises(Exception) as info:
        introspect_workflow(None)
    assert str(info.value) == "[WorkflowIntrospector] Workflow binding is required."


async def test_introspect_workflow_dispose_ends_capture_and_disposes_captured_instances(emu):
    emu.add_workflow("child", Child, binding="CHILD")
    async with emu:
        children = introspect_workflow(emu.env.CHILD)
        await children.modify_all(lambda m: m.mock_step_result("score", {"score": 5}))
        await emu.env.CHILD.create(id="captured", params={"parent": "x"})
        await children.dispose()
        with pytest.raises(WorkflowError):
            await emu.env.CHILD.get("captured")
        async with introspect_workflow_instance(emu.env.CHILD, "free") as free:
            await emu.env.CHILD.create(id="free", params={"parent": "y"})
            await free.wait_for_status("complete")
            assert await free.get_output() == {"parent": "y", "score": 1}


async def test_calls_on_a_disposed_workflow_introspector_raise(emu):
    emu.add_workflow("child", Child, binding="CHILD")
    stale = 'Workflow "child" does not have an active introspection session for this introspector.'
    async with emu:
        children = introspect_workflow(emu.env.CHILD)
        await children.dispose()
        with pytest.raises(Exception) as info:
            await children.modify_all(lambda m: m.disable_sleeps())
        assert str(info.value) == stale
        with pytest.raises(Exception) as info:
            await children.get()
        assert str(info.value) == stale


async def test_introspect_workflow_async_with_disposes(emu):
    emu.add_workflow("child", Child, binding="CHILD")
    async with emu:
        async with introspect_workflow(emu.env.CHILD) as children:
            await emu.env.CHILD.create(id="scoped", params={"parent": "x"})
            assert (await children) is children
        with pytest.raises(WorkflowError):
            await emu.env.CHILD.get("scoped")
        again = introspect_workflow(emu.env.CHILD)  # the session ended, so a new one may start
        await again.dispose()


# -- JavaScript names ---------------------------------------------------------------------------------


async def test_javascript_named_aliases_work_on_instance_introspectors(emu):
    emu.add_workflow("everything", Everything, binding="W")

    async def setup(m):
        await m.disableSleeps()
        await m.disableRetryDelays()
        await m.mockStepError({"name": "flaky"}, RuntimeError("boom"), 1)
        await m.forceStepTimeout({"name": "flaky"}, 1)
        await m.mockStepResult({"name": "flaky"}, "mocked")
        await m.mockEvent({"type": "approved", "payload": "yes"})
        await m.forceEventTimeout({"name": "late"})

    async with emu:
        async with await introspect_workflow_instance(emu.env.W, "js") as intro:
            await intro.modify(setup)
            await emu.env.W.create({"id": "js"})
            assert await intro.waitForStepResult({"name": "flaky"}) == "mocked"
            await intro.waitForStatus("complete")
            assert await intro.getOutput() == EVERYTHING_OUTPUT


async def test_javascript_named_aliases_work_on_workflow_introspectors(emu):
    emu.add_workflow("child", Child, binding="CHILD")
    async with emu:
        async with await introspect_workflow(emu.env.CHILD) as children:
            await children.modifyAll(lambda m: m.mockStepError({"name": "score"}, NonRetryableError("no")))
            await emu.env.CHILD.createBatch([{"params": {"parent": "x"}}])
            (intro,) = await children.get()
            await intro.waitForStatus("errored")
            assert await intro.getError() == {"name": "NonRetryableError", "message": "no"}
