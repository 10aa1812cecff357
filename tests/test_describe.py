"""``describe()`` is exactly what Cloudflare's Local Explorer API returns for an instance
(``/work/shared/spec/local-explorer-api.md`` §3.5 and the ``instances describe --json``
transcripts of ``wrangler-workflows-cli.md``), plus the one extension key ``"cfwf"``: every step
kind in every state, with the exact key sets, names, configs, times and redaction."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from cfwf_emulator import Emulator, NonRetryableError, VirtualClock, WorkflowEntrypoint
from cfwf_emulator.api import STATUSES, InstanceStatus

START_MS = 1_767_225_600_000.0  # 2026-01-01T00:00:00Z
T0 = "2026-01-01T00:00:00.000Z"
T1S = "2026-01-01T00:00:01.000Z"
T1H = "2026-01-01T01:00:00.000Z"
T2H = "2026-01-01T02:00:00.000Z"

# The key sets of spec §3.5, in the order Cloudflare prints them.
INSTANCE_KEYS = ["status", "params", "queued", "start", "end", "output", "error", "steps", "step_count"]
DO_KEYS = ["name", "start", "end", "success", "type", "output", "config", "attempts"]  # output: once succeeded
SLEEP_KEYS = ["name", "start", "end", "finished", "type", "error"]
WAIT_KEYS = ["name", "start", "end", "finished", "type", "error", "output"]
ATTEMPT_KEYS = ["start", "end", "success", "error"]
EXTENSION_KEYS = {"name", "count", "type", "until", "event_type", "error", "attempts"}
# the config the transcripts show for `retries: {limit: 2, backoff: "constant", delay: "1 second"}`
FLAKY_CONFIG = {"retries": {"limit": 2, "backoff": "constant", "delay": "1 second"}, "timeout": "10 minutes"}

GATE: dict[str, asyncio.Event] = {}
ATTEMPTS: list[int] = []


def emulator(cls: type, name: str = "tour") -> Emulator:
    emu = Emulator(clock=VirtualClock(START_MS, autojump=False))
    emu.add_workflow(name, cls, binding="TOUR")
    return emu


def check_keys(details: dict[str, Any]) -> None:
    """Every key set is exactly the spec's (plus ``cfwf``), in Cloudflare's order."""
    assert list(details) == [*INSTANCE_KEYS, "cfwf"]
    assert details["step_count"] == len(details["steps"])
    for step in details["steps"]:
        expected = {"step": DO_KEYS, "sleep": SLEEP_KEYS, "waitForEvent": WAIT_KEYS}[step["type"]]
        if step["type"] == "step" and "output" not in step:
            expected = [key for key in expected if key != "output"]
        assert list(step) == [*expected, "cfwf"], step
        assert set(step["cfwf"]) == EXTENSION_KEYS
        for attempt in step.get("attempts", []):
            assert list(attempt) == ATTEMPT_KEYS
    assert json.loads(json.dumps(details)) == details  # plain JSON, as the API serves it


def own(step: dict[str, Any]) -> dict[str, Any]:
    """The step's ``cfwf`` extension without the per-attempt tracebacks (another matter)."""
    extension = dict(step["cfwf"])
    assert all(set(entry) == {"traceback"} for entry in extension.pop("attempts"))
    return extension


class Flaky(WorkflowEntrypoint):
    """The transcripts' ``flaky`` step: fails its first attempt (held open by GATE), then succeeds."""

    async def run(self, event: Any, step: Any) -> Any:
        @step.do("flaky", config={"retries": {"limit": 2, "delay": "1 second", "backoff": "constant"}})
        async def flaky(ctx: Any) -> Any:
            ATTEMPTS.append(ctx["attempt"])
            if ctx["attempt"] == 1:
                await GATE["flaky"].wait()
                raise ValueError("flaky failure #1")
            return {"attempts": ctx["attempt"]}

        return await flaky()


async def test_a_step_running_then_retrying_then_succeeded() -> None:
    GATE["flaky"] = asyncio.Event()
    ATTEMPTS.clear()
    emu = emulator(Flaky)
    async with emu:
        instance = await emu.env.TOUR.create(id="f", params={"failTimes": 1})
        await emu.advance(0)  # the first attempt is in flight, held by the gate
        assert ATTEMPTS == [1]
        running = await instance.describe()
        check_keys(running)
        assert {k: running[k] for k in INSTANCE_KEYS if k != "steps"} == {
            "status": "running", "params": {"failTimes": 1}, "queued": T0, "start": T0, "end": None,
            "output": None, "error": None, "step_count": 1,
        }
        assert running["cfwf"] == {"workflow": "tour", "id": "f"}
        (step,) = running["steps"]
        assert {k: v for k, v in step.items() if k != "cfwf"} == {
            "name": "flaky-1", "start": T0, "end": None, "success": None, "type": "step",
            "config": FLAKY_CONFIG, "attempts": [{"start": T0, "end": None, "success": None, "error": None}],
        }
        assert own(step) == {
            "name": "flaky", "count": 1, "type": "do", "until": None, "event_type": None, "error": None,
        }

        GATE["flaky"].set()
        await emu.advance(0)  # attempt 1 failed; the retry waits 1 second
        (step,) = (retrying := await instance.describe())["steps"]
        check_keys(retrying)
        assert retrying["status"] == "waiting"
        assert (step["success"], step["end"], "output" in step) == (None, None, False)
        assert step["attempts"] == [
            {"start": T0, "end": T0, "success": False, "error": {"name": "ValueError", "message": "flaky failure #1"}}
        ]
        assert own(step)["until"] == T1S and own(step)["error"] is None

        await emu.advance("1 second")
        done = await instance.describe()
        check_keys(done)
        assert (done["status"], done["end"], done["output"]) == ("complete", T1S, {"attempts": 2})
        (step,) = done["steps"]
        assert (step["success"], step["end"], step["output"]) == (True, T1S, {"attempts": 2})
        assert step["attempts"][1] == {"start": T1S, "end": T1S, "success": True, "error": None}
        assert own(step)["until"] is None
        assert list(step) == [*DO_KEYS, "cfwf"]  # output between type and config, as Cloudflare prints it


class Fails(WorkflowEntrypoint):
    async def run(self, event: Any, step: Any) -> Any:
        @step.do("doomed", config={"retries": {"limit": 0, "delay": 1000}})
        async def doomed() -> None:
            raise NonRetryableError("no way")

        await doomed()


async def test_a_failed_step_has_no_output_and_the_instance_error() -> None:
    emu = emulator(Fails)
    async with emu:
        instance = await emu.env.TOUR.create(id="x")
        await emu.run_until_idle()
        details = await instance.describe()
    check_keys(details)
    error = {"name": "NonRetryableError", "message": "no way"}
    assert (details["status"], details["end"], details["output"]) == ("errored", T0, None)
    assert details["error"] == (await instance.status())["error"]
    (step,) = details["steps"]
    assert (step["success"], step["end"], "output" in step) == (False, T0, False)
    assert step["config"] == {"retries": {"limit": 0, "backoff": "exponential", "delay": 1000}, "timeout": "10 minutes"}
    assert [a["error"] for a in step["attempts"]] == [error]
    assert own(step)["error"] == error


class Napper(WorkflowEntrypoint):
    async def run(self, event: Any, step: Any) -> Any:
        await step.sleep("nap", "1 hour")
        return "rested"


async def test_a_sleep_sleeping_paused_and_slept() -> None:
    emu = emulator(Napper)
    async with emu:
        instance = await emu.env.TOUR.create(id="s")
        await emu.advance("30 minutes")
        sleeping = await instance.describe()
        check_keys(sleeping)
        (nap,) = sleeping["steps"]
        assert {k: v for k, v in nap.items() if k != "cfwf"} == {
            "name": "nap-1", "start": T0, "end": None, "finished": False, "type": "sleep", "error": None,
        }
        assert own(nap) == {"name": "nap", "count": 1, "type": "sleep", "until": T1H, "event_type": None, "error": None}

        await instance.pause()
        await emu.advance("30 minutes")  # past the sleep's end: paused, it does not finish
        paused = await instance.describe()
        check_keys(paused)
        assert paused["status"] == "paused"
        assert (paused["steps"][0]["finished"], paused["steps"][0]["end"]) == (False, None)

        await instance.resume()
        await emu.run_until_idle()
        slept = await instance.describe()
    check_keys(slept)
    (nap,) = slept["steps"]
    # the sleep ends 30 minutes late: resume shifts it by the pause
    assert (nap["finished"], nap["start"], nap["end"], nap["error"]) == (True, T0, "2026-01-01T01:30:00.000Z", None)
    assert own(nap)["until"] is None


async def test_a_sleep_terminated_midway_never_finishes() -> None:
    emu = emulator(Napper)
    async with emu:
        instance = await emu.env.TOUR.create(id="t")
        await emu.advance("10 minutes")
        await instance.terminate()
        details = await instance.describe()
    check_keys(details)
    assert (details["status"], details["end"]) == ("terminated", "2026-01-01T00:10:00.000Z")
    assert (details["steps"][0]["finished"], details["steps"][0]["end"]) == (False, None)


class Approval(WorkflowEntrypoint):
    async def run(self, event: Any, step: Any) -> Any:
        try:
            received = await step.wait_for_event("approval", "approve", timeout="1 hour")
        except Exception as exc:  # noqa: BLE001 - the timeout, reported in the output
            return {"timed out": str(exc)}
        return received["payload"]


async def test_an_event_wait_waiting_then_receiving_its_event() -> None:
    emu = emulator(Approval)
    async with emu:
        instance = await emu.env.TOUR.create(id="w")
        await emu.advance("20 minutes")
        waiting = await instance.describe()
        check_keys(waiting)
        (wait,) = waiting["steps"]
        assert {k: v for k, v in wait.items() if k != "cfwf"} == {
            "name": "approval-1", "start": T0, "end": None, "finished": False, "type": "waitForEvent",
            "error": None, "output": None,
        }
        assert own(wait) == {
            "name": "approval", "count": 1, "type": "waitForEvent", "until": T1H, "event_type": "approve", "error": None,
        }
        await instance.send_event(type="approve", payload={"ok": True})
        await emu.run_until_idle()
        arrived = await instance.describe()
    check_keys(arrived)
    (wait,) = arrived["steps"]
    at = "2026-01-01T00:20:00.000Z"
    assert (wait["finished"], wait["end"], wait["error"]) == (True, at, None)
    assert wait["output"] == {"type": "approve", "payload": {"ok": True}, "timestamp": at}
    assert list(wait["output"]) == ["type", "payload", "timestamp"]
    assert arrived["output"] == {"ok": True}


async def test_an_event_wait_that_times_out_shows_the_timeout_error() -> None:
    emu = emulator(Approval)
    async with emu:
        instance = await emu.env.TOUR.create(id="o")
        await emu.run_until_idle()
        details = await instance.describe()
    check_keys(details)
    (wait,) = details["steps"]
    timeout = {"name": "WorkflowTimeoutError", "message": "Execution timed out after 3600000ms"}
    assert (wait["finished"], wait["end"], wait["error"], wait["output"]) == (True, T1H, timeout, None)
    assert own(wait)["error"] == timeout and own(wait)["until"] is None
    assert details["output"] == {"timed out": "Execution timed out after 3600000ms"}


class Secrets(WorkflowEntrypoint):
    async def run(self, event: Any, step: Any) -> Any:
        @step.do("token", config={"sensitive": "output"})
        async def token() -> str:
            return "s3cr3t"

        @step.do("nothing")
        async def nothing() -> None:
            return None

        @step.do("dynamic", config={"retries": {"limit": 1, "delay": lambda ctx: 5}})
        async def dynamic() -> int:
            return 0

        got = await token()
        await nothing()
        await dynamic()
        return {"workflow saw": got}


async def test_sensitive_outputs_are_redacted_null_outputs_absent_and_configs_effective() -> None:
    emu = emulator(Secrets)
    async with emu:
        instance = await emu.env.TOUR.create(id="r")
        await emu.run_until_idle()
        details = await instance.describe()
        status = await instance.status()
    check_keys(details)
    assert status["output"] == {"workflow saw": "s3cr3t"}  # the workflow got the real value
    token, nothing, dynamic = details["steps"]
    assert token["output"] == "[REDACTED]" and "s3cr3t" not in json.dumps(details["steps"])
    assert token["config"] == {
        "retries": {"limit": 5, "backoff": "exponential", "delay": 10000}, "timeout": "10 minutes",
        "sensitive": "output",
    }
    assert nothing["success"] is True and "output" not in nothing  # Cloudflare's `result ?? undefined`
    assert nothing["config"] == {"retries": {"limit": 5, "backoff": "exponential", "delay": 10000}, "timeout": "10 minutes"}
    assert dynamic["config"]["retries"] == {"limit": 1, "backoff": "exponential", "delay": "[dynamic]"}


async def test_a_queued_instance_and_the_names_of_repeated_steps() -> None:
    class Repeats(WorkflowEntrypoint):
        async def run(self, event: Any, step: Any) -> Any:
            for n in range(2):

                @step.do("same")
                async def same() -> int:
                    return n

                await same()
                await step.sleep("same", "1 second")

    emu = emulator(Repeats)
    async with emu:
        instance = await emu.env.TOUR.create(id="q")
        queued = await instance.describe()  # nothing has run yet
        check_keys(queued)
        assert {k: queued[k] for k in ("status", "params", "queued", "start", "steps", "step_count")} == {
            "status": "queued", "params": {}, "queued": T0, "start": None, "steps": [], "step_count": 0,
        }
        await emu.run_until_idle()
        details = await instance.describe()
    check_keys(details)
    assert [(s["name"], s["type"], s["cfwf"]["type"], s["cfwf"]["count"]) for s in details["steps"]] == [
        ("same-1", "step", "do", 1), ("same-1", "sleep", "sleep", 1),
        ("same-2", "step", "do", 2), ("same-2", "sleep", "sleep", 2),
    ]


# -- typed views: InstanceStatus ------------------------------------------------------------------


async def test_instance_status_members_are_the_status_strings_and_filter_listings() -> None:
    assert [status.value for status in InstanceStatus] == [*STATUSES, "unknown"]
    assert InstanceStatus.WAITING_FOR_PAUSE == "waitingForPause"
    emu = emulator(Napper)
    async with emu:
        done = await emu.env.TOUR.create(id="done")
        await emu.env.TOUR.create(id="later")
        await emu.run_until_idle()
        await (await emu.env.TOUR.create(id="fresh")).pause()
        by_member = await emu.api.list_instances("tour", status=InstanceStatus.PAUSED)
        by_string = await emu.api.list_instances("tour", status="paused")
        status = await done.status()
    assert by_member == by_string
    assert [i["id"] for i in by_member["instances"]] == ["fresh"]
    assert by_member["total"] == 1 and by_member["counts"] == {"paused": 1, "complete": 2}
    assert type(status["status"]) is str and status["status"] == InstanceStatus.COMPLETE
    assert json.dumps(status) == '{"status": "complete", "output": "rested"}'
