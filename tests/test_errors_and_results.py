"""Step results crossing the serialization boundary, errors crossing the step boundary, limits.

Contract: API.md §1 (results, NonRetryableError, errors in run), §2 (limits); spec
python-workflows-api.md §2.1, §2.5; cloudflare-workflows.md §2.6-§2.8, §2.10, §3.3-§3.4, §3.15.
"""

from __future__ import annotations

import pytest

from cfwf_emulator import (
    Emulator,
    NonRetryableError,
    StepError,
    VirtualClock,
    WorkflowEntrypoint,
)

START_MS = 1_767_225_600_000.0  # 2026-01-01T00:00:00Z
MIB = 1024 * 1024
NO_RETRY = {"retries": {"limit": 0, "delay": 0}}
NON_RETRYABLE_GENERIC = (
    "The execution of the Workflow instance was terminated, as a step threw an NonRetryableError "
    "and it was not handled"
)


async def run_one(emu, cls, params=None, **add_options):
    """Register ``cls``, run one instance to the end, return (status, describe)."""
    emu.add_workflow("wf", cls, binding="WF", **add_options)
    async with emu:
        inst = await emu.env.WF.create(id="i1", params=params)
        await emu.run_until_idle()
        return await inst.status(), await inst.describe()


def manual_emulator(**options):
    """An emulator whose virtual clock only moves through advance/run_until_idle."""
    return Emulator(clock=VirtualClock(START_MS, autojump=False), **options)


async def replay_after_pause(emu, cls, **add_options):
    """Run until the instance sleeps, pause and resume it (a replay from the top), finish it."""
    emu.add_workflow("wf", cls, binding="WF", **add_options)
    async with emu:
        inst = await emu.env.WF.create(id="i1")
        await emu.advance("1 second")
        assert (await inst.status())["status"] == "waiting"
        await inst.pause()
        await inst.resume()
        await emu.run_until_idle()
        return await inst.status(), await inst.describe()


class MyError(Exception):
    pass


# -- results -----------------------------------------------------------------------------------


async def test_step_result_is_a_copy_not_the_returned_object(emu):
    original = {"items": [1, 2], "meta": {"k": "v"}}
    checks = {}

    class W(WorkflowEntrypoint):
        async def run(self, event, step):
            @step.do("give")
            def give():
                return original

            result = await give()
            checks["same object"] = result is original
            checks["same list"] = result["items"] is original["items"]
            result["items"].append(3)
            result["meta"]["k"] = "changed"
            return result

    status, _ = await run_one(emu, W)
    assert checks == {"same object": False, "same list": False}
    assert original == {"items": [1, 2], "meta": {"k": "v"}}
    assert status["output"] == {"items": [1, 2, 3], "meta": {"k": "changed"}}


async def test_mutating_a_step_result_does_not_change_the_replayed_result():
    emu = manual_emulator()
    seen = []
    calls = []

    class W(WorkflowEntrypoint):
        async def run(self, event, step):
            @step.do("load")
            async def load():
                calls.append("load")
                return {"items": [1]}

            result = await load()
            seen.append([*result["items"]])
            result["items"].append(99)
            await step.sleep("nap", "1 hour")
            return result

    status, described = await replay_after_pause(emu, W)
    assert calls == ["load"]
    assert seen == [[1], [1]]
    assert status == {"status": "complete", "output": {"items": [1, 99]}}
    assert described["steps"][0]["output"] == {"items": [1]}


async def test_dict_results_support_attribute_access(emu):
    class W(WorkflowEntrypoint):
        async def run(self, event, step):
            @step.do("user")
            def user_step():
                return {"name": "ada", "address": {"city": "London"}}

            user = await user_step()
            return [user.name, user.address.city, isinstance(user, dict)]

    status, _ = await run_one(emu, W)
    assert status["output"] == ["ada", "London", True]


async def test_tuple_results_fail_the_attempt_as_the_python_sdk_refuses_them(emu):
    # Cloudflare's Python SDK (python_to_rpc) raises inside the step for tuples and bytearrays,
    # so the attempt fails with a TypeError and is retried like any other failure.
    class W(WorkflowEntrypoint):
        async def run(self, event, step):
            config = {"retries": {"limit": 1, "delay": 0}}
            try:
                @step.do("pair", config=config)
                def pair():
                    return {"point": (3, 4)}

                await pair()
            except TypeError as exc:
                return str(exc)

    status, details = await run_one(emu, W)
    assert status["output"] == "<class 'tuple'> cannot be sent over RPC."
    assert [a["error"]["name"] for a in details["steps"][0]["attempts"]] == ["TypeError", "TypeError"]


async def test_non_str_dict_keys_come_back_as_strings_like_javascript_object_keys(emu):
    class W(WorkflowEntrypoint):
        async def run(self, event, step):
            @step.do("keys")
            def keys():
                return {1: "one", 2.5: "two and a half", None: "nothing"}

            return await keys()

    status, _ = await run_one(emu, W)
    assert status["output"] == {"1": "one", "2.5": "two and a half", "null": "nothing"}


async def test_datetime_results_round_trip_as_naive_utc_datetimes(emu):
    from datetime import datetime, timedelta, timezone

    class W(WorkflowEntrypoint):
        async def run(self, event, step):
            @step.do("naive")
            def naive_step():
                return datetime(2026, 3, 1, 12, 30)

            naive = await naive_step()

            @step.do("aware")
            def aware_step():
                return datetime(2026, 3, 1, 12, 30, tzinfo=timezone(timedelta(hours=2)))

            aware = await aware_step()
            return [naive.isoformat(), aware.isoformat(), naive.tzinfo is None]

    status, _ = await run_one(emu, W)
    assert status["output"] == ["2026-03-01T12:30:00", "2026-03-01T10:30:00", True]


@pytest.mark.parametrize(
    "value",
    [{1, 2}, object(), {"nested": [{"ok": 1}, {"bad": {3}}]}, b"bytes"],
    ids=["set", "object", "nested-set", "bytes"],
)
async def test_non_serialisable_step_result_errors_the_instance(emu, value):
    after = []

    class W(WorkflowEntrypoint):
        async def run(self, event, step):
            try:
                @step.do("bad value")
                def bad_value():
                    return value

                await bad_value()
            except Exception as exc:  # noqa: BLE001 - must not be reached
                after.append(f"caught {type(exc).__name__}")
                return "caught"
            after.append("continued")
            return "continued"

    status, _ = await run_one(emu, W)
    assert status == {
        "status": "errored",
        "output": None,
        "error": {
            "name": "WorkflowFatalError",
            "message": "The execution of the Workflow instance was terminated, as the step "
            '"bad value" returned a value which is not serialisable',
        },
    }
    assert after == []


async def test_non_serialisable_step_result_is_not_retried(emu):
    calls = []

    class W(WorkflowEntrypoint):
        async def run(self, event, step):
            @step.do("bad value")
            def bad():
                calls.append("bad")
                return {1, 2}

            await bad()

    status, described = await run_one(emu, W)
    assert status["status"] == "errored"
    assert calls == ["bad"]
    assert len(described["steps"][0]["attempts"]) == 1


async def test_non_serialisable_step_result_errors_the_instance_even_with_bare_except(emu):
    class W(WorkflowEntrypoint):
        async def run(self, event, step):
            try:
                @step.do("bad value")
                def bad_value():
                    return {1, 2}

                await bad_value()
            except BaseException:  # noqa: BLE001 - a user cannot rescue the instance
                pass
            return "rescued"

    status, _ = await run_one(emu, W)
    assert status == {
        "status": "errored",
        "output": None,
        "error": {
            "name": "WorkflowFatalError",
            "message": "The execution of the Workflow instance was terminated, as the step "
            '"bad value" returned a value which is not serialisable',
        },
    }


async def test_result_over_one_mib_fails_the_step_with_size_error(emu):
    class W(WorkflowEntrypoint):
        async def run(self, event, step):
            @step.do("big", config=NO_RETRY)
            def big():
                return "small"

            await big()
            try:
                @step.do("big", config=NO_RETRY)
                def big():
                    return "x" * MIB

                await big()
            except Exception as exc:  # noqa: BLE001
                return str(exc)

    status, described = await run_one(emu, W)
    assert status == {
        "status": "complete",
        "output": "Step big-2 output is too large. Maximum allowed size is 1MiB.",
    }
    big = described["steps"][1]
    assert big["success"] is False
    assert len(big["attempts"]) == 1
    assert big["attempts"][0]["error"]["message"] == (
        "Step big-2 output is too large. Maximum allowed size is 1MiB."
    )


async def test_result_over_one_mib_uncaught_errors_the_instance_with_size_message(emu):
    class W(WorkflowEntrypoint):
        async def run(self, event, step):
            @step.do("huge", config=NO_RETRY)
            def huge():
                return {"blob": "y" * (MIB + 10)}

            await huge()

    status, _ = await run_one(emu, W)
    assert status["status"] == "errored"
    assert status["error"]["message"] == "Step huge-1 output is too large. Maximum allowed size is 1MiB."


async def test_result_of_exactly_one_mib_serialised_is_accepted(emu):
    class W(WorkflowEntrypoint):
        async def run(self, event, step):
            @step.do("edge", config=NO_RETRY)
            def edge():
                return "z" * (MIB - 2)

            value = await edge()  # JSON adds 2 quotes
            return len(value)

    status, _ = await run_one(emu, W)
    assert status == {"status": "complete", "output": MIB - 2}


async def test_oversized_result_is_retried_like_an_ordinary_failure(emu):
    calls = []

    class W(WorkflowEntrypoint):
        async def run(self, event, step):
            @step.do("big", config={"retries": {"limit": 1, "delay": 0}})
            def big(ctx):
                calls.append(ctx["attempt"])
                return "x" * (MIB if ctx["attempt"] == 1 else 10)

            return await big()

    status, _ = await run_one(emu, W)
    assert status == {"status": "complete", "output": "x" * 10}
    assert calls == [1, 2]


async def test_non_serialisable_run_output_errors_the_instance(emu):
    class W(WorkflowEntrypoint):
        async def run(self, event, step):
            @step.do("fine")
            def fine():
                return 1

            await fine()
            return {"ids": {1, 2}}

    status, _ = await run_one(emu, W)
    assert status["status"] == "errored"
    assert status["output"] is None
    assert status["error"]["name"] == "WorkflowFatalError"
    assert status["error"]["message"].startswith("The value returned by run() is not serialisable")


# -- errors crossing the step boundary ---------------------------------------------------------


@pytest.mark.parametrize("error_class", [TypeError, ValueError, NonRetryableError])
async def test_builtin_and_non_retryable_errors_keep_their_class_in_run(emu, error_class):
    class W(WorkflowEntrypoint):
        async def run(self, event, step):
            @step.do("fail", config=NO_RETRY)
            def fail():
                raise error_class("intentional failure")

            try:
                await fail()
            except Exception as exc:  # noqa: BLE001
                return [type(exc).__name__, str(exc)]

    status, _ = await run_one(emu, W)
    assert status == {"status": "complete", "output": [error_class.__name__, "intentional failure"]}


async def test_custom_exception_arrives_as_step_error_with_name_and_message(emu):
    class W(WorkflowEntrypoint):
        async def run(self, event, step):
            @step.do("fail", config=NO_RETRY)
            def fail():
                raise MyError("custom boom")

            try:
                await fail()
            except MyError:
                return "caught as MyError"
            except StepError as exc:
                return {"class": type(exc).__name__, "name": exc.name, "message": str(exc)}

    status, _ = await run_one(emu, W)
    assert status["output"] == {"class": "StepError", "name": "MyError", "message": "custom boom"}


@pytest.mark.parametrize(
    ("error", "expected_name"),
    [(KeyError, "StepError"), (RuntimeError, "StepError"), (ZeroDivisionError, "StepError")],
)
async def test_other_builtin_exceptions_lose_their_class(emu, error, expected_name):
    class W(WorkflowEntrypoint):
        async def run(self, event, step):
            @step.do("fail", config=NO_RETRY)
            def fail():
                raise error("lost")

            try:
                await fail()
            except error:
                return "kept its class"
            except Exception as exc:  # noqa: BLE001
                return [type(exc).__name__, exc.name]

    status, _ = await run_one(emu, W)
    assert status["output"] == [expected_name, error.__name__]


async def test_uncaught_custom_step_error_errors_instance_with_original_name(emu):
    class W(WorkflowEntrypoint):
        async def run(self, event, step):
            @step.do("fail", config=NO_RETRY)
            def fail():
                raise MyError("custom boom")

            await fail()

    status, _ = await run_one(emu, W)
    assert status == {
        "status": "errored",
        "output": None,
        "error": {"name": "MyError", "message": "custom boom"},
    }


async def test_uncaught_value_error_from_step_errors_instance(emu):
    class W(WorkflowEntrypoint):
        async def run(self, event, step):
            @step.do("fail", config=NO_RETRY)
            async def fail():
                raise ValueError("bad input")

            await fail()

    status, _ = await run_one(emu, W)
    assert status["error"] == {"name": "ValueError", "message": "bad input"}


async def test_step_error_is_retried_before_reaching_run(emu):
    calls = []

    class W(WorkflowEntrypoint):
        async def run(self, event, step):
            @step.do("fail", config={"retries": {"limit": 2, "delay": "1 second"}})
            def fail(ctx):
                calls.append(ctx["attempt"])
                raise MyError(f"attempt {ctx['attempt']}")

            await fail()

    status, described = await run_one(emu, W)
    assert calls == [1, 2, 3]
    assert status["error"] == {"name": "MyError", "message": "attempt 3"}
    assert [a["error"]["message"] for a in described["steps"][0]["attempts"]] == [
        "attempt 1", "attempt 2", "attempt 3"
    ]


async def test_exception_raised_directly_in_run_errors_instance_with_its_class_name(emu):
    class W(WorkflowEntrypoint):
        async def run(self, event, step):
            @step.do("fine")
            def fine():
                return 1

            await fine()
            raise MyError("outside any step")

    status, _ = await run_one(emu, W)
    assert status == {
        "status": "errored",
        "output": None,
        "error": {"name": "MyError", "message": "outside any step"},
    }


async def test_non_retryable_error_stops_retries_after_one_attempt(emu):
    calls = []

    class W(WorkflowEntrypoint):
        async def run(self, event, step):
            @step.do("fail")
            def fail():
                calls.append("attempt")
                raise NonRetryableError("do not retry")

            await fail()  # default config: 5 retries

    status, described = await run_one(emu, W)
    assert calls == ["attempt"]
    assert len(described["steps"][0]["attempts"]) == 1
    assert status["status"] == "errored"


@pytest.mark.parametrize("compat_date", [None, "2026-05-14", "2026-09-01"])
async def test_uncaught_non_retryable_error_keeps_its_name_and_message(compat_date):
    emu = Emulator(clock=VirtualClock(START_MS), compatibility_date=compat_date)

    class W(WorkflowEntrypoint):
        async def run(self, event, step):
            @step.do("charge")
            def fail():
                raise NonRetryableError("card declined")

            await fail()

    status, _ = await run_one(emu, W)
    assert status == {
        "status": "errored",
        "output": None,
        "error": {"name": "NonRetryableError", "message": "card declined"},
    }


@pytest.mark.parametrize("compat_date", ["2026-05-13", "2025-11-02"])
async def test_uncaught_non_retryable_error_before_2026_05_14_gives_generic_fatal_error(compat_date):
    emu = Emulator(clock=VirtualClock(START_MS), compatibility_date=compat_date)

    class W(WorkflowEntrypoint):
        async def run(self, event, step):
            @step.do("charge")
            def fail():
                raise NonRetryableError("card declined")

            await fail()

    status, _ = await run_one(emu, W)
    assert status == {
        "status": "errored",
        "output": None,
        "error": {"name": "WorkflowFatalError", "message": NON_RETRYABLE_GENERIC},
    }


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({}, {"name": "NonRetryableError", "message": "stop here"}),
        ({"compatibility_date": "2026-05-13"}, {"name": "WorkflowFatalError", "message": NON_RETRYABLE_GENERIC}),
        (
            {"compatibility_date": "2026-01-01",
             "compatibility_flags": ["workflows_preserve_non_retryable_error_message"]},
            {"name": "NonRetryableError", "message": "stop here"},
        ),
    ],
    ids=["no-date", "before-2026-05-14", "old-date-with-preserve-flag"],
)
async def test_non_retryable_error_raised_directly_in_run(options, expected):
    emu = Emulator(clock=VirtualClock(START_MS), **options)

    class W(WorkflowEntrypoint):
        async def run(self, event, step):
            @step.do("fine")
            def fine():
                return 1

            await fine()
            raise NonRetryableError("stop here")

    status, _ = await run_one(emu, W)
    assert status == {"status": "errored", "output": None, "error": expected}


async def test_non_retryable_error_caught_in_run_lets_the_workflow_complete(emu):
    class W(WorkflowEntrypoint):
        async def run(self, event, step):
            @step.do("optional")
            def fail():
                raise NonRetryableError("skip me")

            try:
                await fail()
            except NonRetryableError as exc:
                note = f"skipped: {exc}"

            @step.do("after")
            def after_step():
                return "ran"

            after = await after_step()
            return [note, after]

    status, _ = await run_one(emu, W)
    assert status == {"status": "complete", "output": ["skipped: skip me", "ran"]}


async def test_replayed_failed_step_reraises_without_rerunning_the_callback():
    emu = manual_emulator()
    calls = []
    seen = []

    class W(WorkflowEntrypoint):
        async def run(self, event, step):
            @step.do("fail", config=NO_RETRY)
            def fail():
                calls.append("fail")
                raise MyError("permanent")

            try:
                await fail()
            except StepError as exc:
                seen.append((type(exc).__name__, exc.name, str(exc)))
            await step.sleep("nap", "1 hour")
            return "done"

    status, described = await replay_after_pause(emu, W)
    assert calls == ["fail"]
    assert seen == [("StepError", "MyError", "permanent")] * 2
    assert status == {"status": "complete", "output": "done"}
    assert len(described["steps"][0]["attempts"]) == 1


async def test_replayed_non_retryable_step_reraises_without_rerunning_the_callback():
    emu = manual_emulator()
    calls = []
    seen = []

    class W(WorkflowEntrypoint):
        async def run(self, event, step):
            @step.do("fail")
            def fail():
                calls.append("fail")
                raise NonRetryableError("final")

            try:
                await fail()
            except NonRetryableError as exc:
                seen.append(str(exc))
            await step.sleep("nap", "1 hour")
            return "done"

    status, _ = await replay_after_pause(emu, W)
    assert calls == ["fail"]
    assert seen == ["final", "final"]
    assert status == {"status": "complete", "output": "done"}


# -- step name validation ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["a" * 257, "bad\nname", "tab\there", "nul\x00", "\x1f"],
    ids=["257-chars", "newline", "tab", "nul", "unit-separator"],
)
async def test_invalid_step_name_errors_the_instance(emu, name):
    calls = []

    class W(WorkflowEntrypoint):
        async def run(self, event, step):
            await step.do(name)(lambda: calls.append("ran"))()

    status, described = await run_one(emu, W)
    assert status == {
        "status": "errored",
        "output": None,
        "error": {
            "name": "WorkflowFatalError",
            "message": f'Step name "{name}" exceeds max length (256 chars) or invalid characters found',
        },
    }
    assert calls == []
    assert described["steps"] == []


async def test_step_name_of_256_chars_with_spaces_and_punctuation_is_accepted(emu):
    name = ("fetch user #1: ok! " * 20)[:256]

    class W(WorkflowEntrypoint):
        async def run(self, event, step):
            return await step.do(name)(lambda: "ok")()

    status, described = await run_one(emu, W)
    assert status == {"status": "complete", "output": "ok"}
    assert described["steps"][0]["cfwf"]["name"] == name
    assert described["steps"][0]["name"] == f"{name}-1"


# -- step limit --------------------------------------------------------------------------------

STEP_LIMIT_1024 = (
    "The limit of 1024 steps has been reached. This limit can be changed in your worker configuration."
)


async def test_free_limits_allow_1024_steps_and_refuse_the_1025th():
    emu = Emulator(clock=VirtualClock(START_MS), limits="free")
    calls = []

    class W(WorkflowEntrypoint):
        async def run(self, event, step):
            for index in range(1025):

                @step.do(f"s{index}")
                def record():
                    calls.append(index)

                await record()

    status, _ = await run_one(emu, W)
    assert len(calls) == 1024
    assert status == {
        "status": "errored",
        "output": None,
        "error": {"name": "WorkflowFatalError", "message": STEP_LIMIT_1024},
    }


async def test_free_limits_let_exactly_1024_steps_complete():
    emu = Emulator(clock=VirtualClock(START_MS), limits="free")

    class W(WorkflowEntrypoint):
        async def run(self, event, step):
            total = 0
            for _ in range(1024):
                total += await step.do("same")(lambda: 1)()
            return total

    status, _ = await run_one(emu, W)
    assert status == {"status": "complete", "output": 1024}


async def test_step_limit_error_reaches_run_as_workflow_fatal_error(emu):
    class W(WorkflowEntrypoint):
        async def run(self, event, step):
            for index in range(3):
                await step.do(f"s{index}")(lambda: None)()
            try:
                @step.do("one too many")
                def one_too_many():
                    return None

                await one_too_many()
            except StepError as exc:
                return [exc.name, str(exc)]

    status, _ = await run_one(emu, W, step_limit=3)
    assert status["output"] == [
        "WorkflowFatalError",
        "The limit of 3 steps has been reached. This limit can be changed in your worker configuration.",
    ]


async def test_step_limit_lowered_per_workflow_errors_on_the_fourth_step(emu):
    class W(WorkflowEntrypoint):
        async def run(self, event, step):
            for index in range(4):
                await step.do(f"s{index}")(lambda: None)()

    status, described = await run_one(emu, W, step_limit=3)
    assert status["error"] == {
        "name": "WorkflowFatalError",
        "message": "The limit of 3 steps has been reached. This limit can be changed in your worker configuration.",
    }
    assert [s["name"] for s in described["steps"]] == ["s0-1", "s1-1", "s2-1"]


async def test_sleeps_do_not_count_toward_the_step_limit(emu):
    class W(WorkflowEntrypoint):
        async def run(self, event, step):
            for index in range(3):
                await step.do(f"s{index}")(lambda: None)()
                await step.sleep(f"nap{index}", "1 minute")
                await step.sleep(f"nap{index}", 1000)
            return "done"

    status, _ = await run_one(emu, W, step_limit=3)
    assert status == {"status": "complete", "output": "done"}


async def test_step_limit_is_counted_per_run_so_a_replay_does_not_double_count():
    emu = manual_emulator()

    class W(WorkflowEntrypoint):
        async def run(self, event, step):
            for index in range(3):
                await step.do(f"s{index}")(lambda: None)()
            await step.sleep("nap", "1 hour")
            return "done"

    status, _ = await replay_after_pause(emu, W, step_limit=3)
    assert status == {"status": "complete", "output": "done"}
