"""Events: send_event / wait_for_event buffering, ordering, timeouts and validation (spec §3.6)."""

from __future__ import annotations

import asyncio
from datetime import datetime

import pytest

from cfwf_emulator import (
    Emulator,
    VirtualClock,
    WorkflowEntrypoint,
    WorkflowError,
    WorkflowFatalError,
    WorkflowTimeoutError,
)

START_MS = 1_767_225_600_000.0  # 2026-01-01T00:00:00Z


def manual_emulator() -> Emulator:
    """Virtual time that only moves through advance() / run_until_idle()."""
    return Emulator(clock=VirtualClock(START_MS, autojump=False))


def describe_event(ev):
    """JSON-friendly view of what wait_for_event returned."""
    return {
        "keys": sorted(ev),
        "payload": ev["payload"],
        "type": ev["type"],
        "timestamp": ev["timestamp"].isoformat(),
        "naive": ev["timestamp"].tzinfo is None,
        "is_datetime": isinstance(ev["timestamp"], datetime),
    }


class WaitOne(WorkflowEntrypoint):
    async def run(self, event, step):
        ev = await step.wait_for_event("wait", "go", timeout="1 hour")
        return ev["payload"]


class WaitTwoSameType(WorkflowEntrypoint):
    async def run(self, event, step):
        first = await step.wait_for_event("first", "go", timeout="1 hour")
        second = await step.wait_for_event("second", "go", timeout="1 hour")
        return [first["payload"], second["payload"]]


class WaitUncaught(WorkflowEntrypoint):
    async def run(self, event, step):
        await step.wait_for_event("wait", "go", timeout="1 hour")
        return "unreachable"


class WaitDefaultTimeout(WorkflowEntrypoint):
    async def run(self, event, step):
        await step.wait_for_event("wait", "go")
        return "unreachable"


# -- delivery -------------------------------------------------------------------------------


async def test_event_sent_before_the_wait_is_buffered_and_delivered(emu):
    class SleepThenWait(WorkflowEntrypoint):
        async def run(self, event, step):
            await step.sleep("first", "30 minutes")
            ev = await step.wait_for_event("wait", "go", timeout="1 hour")
            return ev["payload"]

    emu.add_workflow("w", SleepThenWait, binding="W")
    async with emu:
        inst = await emu.env.W.create(id="early")
        await inst.send_event(type="go", payload={"early": True})
        await emu.run_until_idle()
        assert await inst.status() == {"status": "complete", "output": {"early": True}}


async def test_event_sent_during_the_wait_is_delivered():
    emu = manual_emulator()
    emu.add_workflow("w", WaitOne, binding="W")
    async with emu:
        inst = await emu.env.W.create(id="during")
        await emu.advance("10 minutes")
        assert (await inst.status())["status"] == "waiting"
        await inst.send_event(type="go", payload=42)
        await emu.advance(1)
        assert await inst.status() == {"status": "complete", "output": 42}


async def test_events_of_one_type_are_delivered_in_fifo_order(emu):
    emu.add_workflow("w", WaitTwoSameType, binding="W")
    async with emu:
        inst = await emu.env.W.create(id="fifo")
        await inst.send_event(type="go", payload="one")
        await inst.send_event(type="go", payload="two")
        await emu.run_until_idle()
        assert await inst.status() == {"status": "complete", "output": ["one", "two"]}


async def test_event_types_are_independent(emu):
    class TwoTypes(WorkflowEntrypoint):
        async def run(self, event, step):
            a = await step.wait_for_event("wait a", "type-a", timeout="1 hour")
            b = await step.wait_for_event("wait b", "type-b", timeout="1 hour")
            return {"a": a["payload"], "b": b["payload"]}

    emu.add_workflow("w", TwoTypes, binding="W")
    async with emu:
        inst = await emu.env.W.create(id="types")
        await inst.send_event(type="type-b", payload="for b")
        await inst.send_event(type="type-a", payload="for a")
        await emu.run_until_idle()
        assert await inst.status() == {"status": "complete", "output": {"a": "for a", "b": "for b"}}


async def test_event_of_another_type_does_not_satisfy_the_wait(emu):
    emu.add_workflow("w", WaitUncaught, binding="W")
    async with emu:
        inst = await emu.env.W.create(id="other")
        await inst.send_event(type="not-go", payload=1)
        await emu.run_until_idle()
        status = await inst.status()
        assert status["status"] == "errored"
        assert status["error"]["name"] == "WorkflowTimeoutError"


async def test_wait_returns_payload_timestamp_type_with_send_time():
    class ReturnsEvent(WorkflowEntrypoint):
        async def run(self, event, step):
            ev = await step.wait_for_event("wait", "go", timeout="1 hour")
            return describe_event(ev)

    emu = manual_emulator()
    emu.add_workflow("w", ReturnsEvent, binding="W")
    async with emu:
        inst = await emu.env.W.create(id="shape")
        await emu.advance("5 minutes")
        await inst.send_event(type="go", payload={"k": [1, 2]})
        await emu.advance("5 minutes")
        assert await inst.status() == {
            "status": "complete",
            "output": {
                "keys": ["payload", "timestamp", "type"],
                "payload": {"k": [1, 2]},
                "type": "go",
                "timestamp": "2026-01-01T00:05:00",
                "naive": True,
                "is_datetime": True,
            },
        }


async def test_buffered_event_timestamp_is_send_time_not_receive_time():
    class SleepThenReturnEvent(WorkflowEntrypoint):
        async def run(self, event, step):
            await step.sleep("nap", "1 hour")
            ev = await step.wait_for_event("wait", "go", timeout="1 hour")
            return ev["timestamp"].isoformat()

    emu = manual_emulator()
    emu.add_workflow("w", SleepThenReturnEvent, binding="W")
    async with emu:
        inst = await emu.env.W.create(id="ts")
        await emu.advance("10 minutes")
        await inst.send_event(type="go", payload=None)
        await emu.run_until_idle()
        assert await inst.status() == {"status": "complete", "output": "2026-01-01T00:10:00"}


# -- timeouts -------------------------------------------------------------------------------


async def test_wait_timeout_raises_workflow_timeout_error_into_run(emu):
    class CatchesTimeout(WorkflowEntrypoint):
        async def run(self, event, step):
            try:
                await step.wait_for_event("wait", "go", timeout="1 hour")
            except WorkflowTimeoutError as exc:
                return {"type": type(exc).__name__, "message": str(exc)}
            return "no timeout"

    emu.add_workflow("w", CatchesTimeout, binding="W")
    async with emu:
        inst = await emu.env.W.create(id="t1")
        await emu.run_until_idle()
        assert await inst.status() == {
            "status": "complete",
            "output": {"type": "WorkflowTimeoutError", "message": "Execution timed out after 3600000ms"},
        }
        assert emu.clock.now_ms() == START_MS + 3_600_000


async def test_uncaught_wait_timeout_errors_the_instance(emu):
    emu.add_workflow("w", WaitUncaught, binding="W")
    async with emu:
        inst = await emu.env.W.create(id="t2")
        await emu.run_until_idle()
        assert await inst.status() == {
            "status": "errored",
            "output": None,
            "error": {"name": "WorkflowTimeoutError", "message": "Execution timed out after 3600000ms"},
        }


async def test_wait_does_not_time_out_before_its_deadline():
    emu = manual_emulator()
    emu.add_workflow("w", WaitUncaught, binding="W")
    async with emu:
        inst = await emu.env.W.create(id="t3")
        await emu.advance(3_599_999)
        assert (await inst.status())["status"] == "waiting"
        await emu.advance(1)
        assert (await inst.status())["status"] == "errored"


async def test_default_wait_timeout_is_24_hours(emu):
    emu.add_workflow("w", WaitDefaultTimeout, binding="W")
    async with emu:
        inst = await emu.env.W.create(id="t24")
        await emu.run_until_idle()
        assert await inst.status() == {
            "status": "errored",
            "output": None,
            "error": {"name": "WorkflowTimeoutError", "message": "Execution timed out after 86400000ms"},
        }
        assert emu.clock.now_ms() == START_MS + 86_400_000


async def test_timed_out_waiter_does_not_steal_a_later_event():
    class RetryWait(WorkflowEntrypoint):
        async def run(self, event, step):
            try:
                await step.wait_for_event("first", "go", timeout="1 hour")
                return "first got it"
            except WorkflowTimeoutError:
                pass
            ev = await step.wait_for_event("second", "go", timeout="1 hour")
            return {"second": ev["payload"]}

    emu = manual_emulator()
    emu.add_workflow("w", RetryWait, binding="W")
    async with emu:
        inst = await emu.env.W.create(id="steal")
        await emu.advance("1 hour")
        await emu.advance("1 minute")
        assert (await inst.status())["status"] == "waiting"
        await inst.send_event(type="go", payload="late")
        await emu.advance("1 minute")
        assert await inst.status() == {"status": "complete", "output": {"second": "late"}}


async def test_one_event_satisfies_only_one_of_two_concurrent_waits():
    class TwoConcurrentWaits(WorkflowEntrypoint):
        async def run(self, event, step):
            results = await asyncio.gather(
                step.wait_for_event("a", "go", timeout="1 hour"),
                step.wait_for_event("b", "go", timeout="1 hour"),
                return_exceptions=True,
            )
            return sorted(
                "timeout" if isinstance(r, WorkflowTimeoutError) else r["payload"] for r in results
            )

    emu = manual_emulator()
    emu.add_workflow("w", TwoConcurrentWaits, binding="W")
    async with emu:
        inst = await emu.env.W.create(id="once")
        await emu.advance("1 minute")
        await inst.send_event(type="go", payload="only")
        await emu.run_until_idle()
        assert await inst.status() == {"status": "complete", "output": ["only", "timeout"]}


async def test_one_event_satisfies_only_one_sequential_wait(emu):
    class TwoWaits(WorkflowEntrypoint):
        async def run(self, event, step):
            first = await step.wait_for_event("first", "go", timeout="1 hour")
            try:
                await step.wait_for_event("second", "go", timeout="1 hour")
                second = "received"
            except WorkflowTimeoutError:
                second = "timeout"
            return [first["payload"], second]

    emu.add_workflow("w", TwoWaits, binding="W")
    async with emu:
        inst = await emu.env.W.create(id="once-seq")
        await inst.send_event(type="go", payload="only")
        await emu.run_until_idle()
        assert await inst.status() == {"status": "complete", "output": ["only", "timeout"]}


async def test_event_never_sent_times_out(emu):
    emu.add_workflow("w", WaitUncaught, binding="W")
    async with emu:
        inst = await emu.env.W.create(id="never")
        await emu.run_until_idle()
        status = await inst.status()
        assert status["status"] == "errored"
        assert status["error"] == {
            "name": "WorkflowTimeoutError",
            "message": "Execution timed out after 3600000ms",
        }


# -- send_event validation ------------------------------------------------------------------


class Quick(WorkflowEntrypoint):
    async def run(self, event, step):
        @step.do("only")
        def only():
            return 1

        await only()
        if event["payload"] == "fail":
            raise RuntimeError("nope")
        await step.sleep("nap", "1 hour")
        return "ok"


@pytest.mark.parametrize("final", ["complete", "errored", "terminated"])
async def test_send_event_to_finished_instance_raises_not_running(emu, final):
    emu.add_workflow("q", Quick, binding="Q")
    async with emu:
        inst = await emu.env.Q.create(id="fin", params="fail" if final == "errored" else None)
        if final == "terminated":
            await emu.advance("1 minute")
            await inst.terminate()
        else:
            await emu.run_until_idle()
        assert (await inst.status())["status"] == final
        with pytest.raises(WorkflowError) as info:
            await inst.send_event(type="go", payload=1)
        assert info.value.code == "instance.not_running"


@pytest.mark.parametrize("bad_type", ["a.b", "", "x" * 101], ids=["dot", "empty", "101-chars"])
async def test_send_event_with_invalid_type_raises(emu, bad_type):
    emu.add_workflow("w", WaitOne, binding="W")
    async with emu:
        inst = await emu.env.W.create(id="badtype")
        with pytest.raises(WorkflowError) as info:
            await inst.send_event(type=bad_type, payload=1)
        assert info.value.code == "workflow.invalid_event_type"


async def test_send_event_accepts_type_of_100_chars(emu):
    long_type = "t" * 100

    class WaitLong(WorkflowEntrypoint):
        async def run(self, event, step):
            ev = await step.wait_for_event("wait", long_type, timeout="1 hour")
            return ev["payload"]

    emu.add_workflow("w", WaitLong, binding="W")
    async with emu:
        inst = await emu.env.W.create(id="longtype")
        await inst.send_event(type=long_type, payload="fine")
        await emu.run_until_idle()
        assert await inst.status() == {"status": "complete", "output": "fine"}


async def test_send_event_to_unknown_instance_raises_not_found(emu):
    emu.add_workflow("w", WaitOne, binding="W")
    async with emu:
        inst = await emu.env.W.create(id="gone")
        await inst.delete()
        with pytest.raises(WorkflowError) as info:
            await inst.send_event(type="go", payload=1)
        assert info.value.code == "instance.not_found"


@pytest.mark.parametrize(
    ("event_type", "timeout"),
    [("a.b", "1 hour"), ("", "1 hour"), ("go", 999), ("go", "366 days")],
    ids=["dotted-type", "empty-type", "timeout-under-1s", "timeout-over-365d"],
)
async def test_wait_for_event_with_invalid_arguments_raises_fatal_error_into_run(emu, event_type, timeout):
    class BadWait(WorkflowEntrypoint):
        async def run(self, event, step):
            try:
                await step.wait_for_event("wait", event_type, timeout=timeout)
            except WorkflowFatalError as exc:
                return {"class": type(exc).__name__, "name": exc.name}
            return "accepted"

    emu.add_workflow("w", BadWait, binding="W")
    async with emu:
        inst = await emu.env.W.create(id="badwait")
        await emu.run_until_idle()
        assert await inst.status() == {
            "status": "complete",
            "output": {"class": "WorkflowFatalError", "name": "WorkflowFatalError"},
        }


@pytest.mark.parametrize("timeout", ["1 second", 1000, "365 days"], ids=["1s", "1000ms", "365d"])
async def test_wait_for_event_timeout_bounds_are_inclusive(emu, timeout):
    class BoundWait(WorkflowEntrypoint):
        async def run(self, event, step):
            ev = await step.wait_for_event("wait", "go", timeout=timeout)
            return ev["payload"]

    emu.add_workflow("w", BoundWait, binding="W")
    async with emu:
        inst = await emu.env.W.create(id="bounds")
        await inst.send_event(type="go", payload="in time")
        await emu.run_until_idle()
        assert await inst.status() == {"status": "complete", "output": "in time"}


async def test_send_event_payload_over_1_mib_is_rejected(emu):
    emu.add_workflow("w", WaitOne, binding="W")
    async with emu:
        inst = await emu.env.W.create(id="big")
        with pytest.raises(WorkflowError):
            await inst.send_event(type="go", payload="x" * (1024 * 1024 + 1))
        await inst.send_event(type="go", payload="small")
        await emu.run_until_idle()
        assert await inst.status() == {"status": "complete", "output": "small"}


async def test_send_event_payload_not_serialisable_is_rejected(emu):
    emu.add_workflow("w", WaitOne, binding="W")
    async with emu:
        inst = await emu.env.W.create(id="badpayload")
        with pytest.raises(WorkflowError):
            await inst.send_event(type="go", payload={1, 2})


# -- pause and shapes -----------------------------------------------------------------------


async def test_event_sent_while_paused_is_delivered_after_resume():
    emu = manual_emulator()
    emu.add_workflow("w", WaitOne, binding="W")
    async with emu:
        inst = await emu.env.W.create(id="paused")
        await emu.advance("1 minute")
        await inst.pause()
        assert (await inst.status())["status"] == "paused"
        await inst.send_event(type="go", payload="while paused")
        await emu.advance("1 minute")
        assert (await inst.status())["status"] == "paused"
        await inst.resume()
        await emu.advance("1 minute")
        assert await inst.status() == {"status": "complete", "output": "while paused"}


async def test_send_event_keyword_shape(emu):
    emu.add_workflow("w", WaitOne, binding="W")
    async with emu:
        inst = await emu.env.W.create(id="kw")
        await inst.send_event(type="go", payload={"via": "kw"})
        await emu.run_until_idle()
        assert await inst.status() == {"status": "complete", "output": {"via": "kw"}}


async def test_send_event_dict_shape(emu):
    emu.add_workflow("w", WaitOne, binding="W")
    async with emu:
        inst = await emu.env.W.create(id="dict")
        await inst.send_event({"type": "go", "payload": {"via": "dict"}})
        await emu.run_until_idle()
        assert await inst.status() == {"status": "complete", "output": {"via": "dict"}}
