"""The authoring API: step.do forms, ctx, implicit and legacy dependencies, the event object.

Contract: API.md §1; spec python-workflows-api.md §1.3, §2.1-§2.3, §5; cloudflare-workflows.md
§1.6-§1.7, §2.1.
"""

from __future__ import annotations

import asyncio
from datetime import datetime

import pytest

from cfwf_emulator import Emulator, VirtualClock, WorkflowEntrypoint

START_MS = 1_767_225_600_000.0  # 2026-01-01T00:00:00Z
START = datetime(2026, 1, 1)

DEFAULT_CONFIG = {
    "retries": {"limit": 5, "delay": 10000, "backoff": "exponential"},
    "timeout": "10 minutes",
}
NO_RETRY = {"retries": {"limit": 0, "delay": 0}}


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


# -- step.do decorator form -------------------------------------------------------------------


async def test_decorated_step_does_not_run_until_awaited(emu):
    calls = []

    class W(WorkflowEntrypoint):
        async def run(self, event, step):
            @step.do("never awaited")
            async def lazy():
                calls.append("lazy")
                return 1

            return "declared only"

    status, described = await run_one(emu, W)
    assert status == {"status": "complete", "output": "declared only"}
    assert calls == []
    assert described["steps"] == []


async def test_decorated_step_runs_once_when_awaited_and_returns_its_result(emu):
    calls = []

    class W(WorkflowEntrypoint):
        async def run(self, event, step):
            @step.do("fetch")
            async def fetch():
                calls.append("fetch")
                return {"id": 7}

            return await fetch()

    status, described = await run_one(emu, W)
    assert status == {"status": "complete", "output": {"id": 7}}
    assert calls == ["fetch"]
    assert [(s["name"], s["type"], s["cfwf"]["count"]) for s in described["steps"]] == [("fetch-1", "step", 1)]


async def test_decorated_step_name_defaults_to_function_name(emu):
    class W(WorkflowEntrypoint):
        async def run(self, event, step):
            @step.do()
            async def fetch_user():
                return "u"

            @step.do(config=NO_RETRY)
            async def enrich_user():
                return "e"

            return [await fetch_user(), await enrich_user()]

    status, described = await run_one(emu, W)
    assert status["output"] == ["u", "e"]
    assert [s["cfwf"]["name"] for s in described["steps"]] == ["fetch_user", "enrich_user"]


async def test_decorated_step_may_be_a_plain_def(emu):
    class W(WorkflowEntrypoint):
        async def run(self, event, step):
            @step.do("sync body")
            def compute():
                return 41 + 1

            return await compute()

    status, _ = await run_one(emu, W)
    assert status == {"status": "complete", "output": 42}


# -- step.do call form (opt-in: Emulator(step_call_form=True)) --------------------------------


def call_form_emulator():
    """An emulator whose ``step.do`` also takes the JavaScript-style call form."""
    return Emulator(clock=VirtualClock(START_MS), step_call_form=True)


def _sync_no_ctx():
    return "sync"


def _sync_ctx(ctx):
    return f"sync:{ctx['step']['name']}:{ctx['attempt']}"


async def _async_no_ctx():
    return "async"


async def _async_ctx(ctx):
    return f"async:{ctx['step']['name']}:{ctx['attempt']}"


@pytest.mark.parametrize(
    ("callback", "expected"),
    [
        (_sync_no_ctx, "sync"),
        (_sync_ctx, "sync:call:1"),
        (_async_no_ctx, "async"),
        (_async_ctx, "async:call:1"),
    ],
    ids=["sync-no-ctx", "sync-ctx", "async-no-ctx", "async-ctx"],
)
async def test_call_form_accepts_sync_and_async_callbacks_with_or_without_ctx(callback, expected):
    class W(WorkflowEntrypoint):
        async def run(self, event, step):
            return await step.do("call", callback)

    status, described = await run_one(call_form_emulator(), W)
    assert status == {"status": "complete", "output": expected}
    assert [s["cfwf"]["name"] for s in described["steps"]] == ["call"]


async def test_call_form_with_config_applies_the_config():
    class W(WorkflowEntrypoint):
        async def run(self, event, step):
            return await step.do(
                "configured",
                {"retries": {"limit": 2, "delay": "5 seconds", "backoff": "linear"}, "timeout": "1 minute"},
                lambda ctx: ctx["config"],
            )

    status, _ = await run_one(call_form_emulator(), W)
    assert status["output"] == {
        "retries": {"limit": 2, "delay": "5 seconds", "backoff": "linear"},
        "timeout": "1 minute",
    }


# -- ctx ---------------------------------------------------------------------------------------


async def test_ctx_has_step_name_count_attempt_and_default_config(emu):
    class W(WorkflowEntrypoint):
        async def run(self, event, step):
            @step.do("read context")
            async def read_context(ctx):
                return ctx

            return await read_context()

    status, _ = await run_one(emu, W)
    assert status["output"] == {
        "step": {"name": "read context", "count": 1},
        "attempt": 1,
        "config": DEFAULT_CONFIG,
    }


async def test_ctx_config_merges_user_retries_with_default_backoff(emu):
    class W(WorkflowEntrypoint):
        async def run(self, event, step):
            @step.do("partial", config={"retries": {"limit": 3, "delay": 500}, "timeout": "5 minutes"})
            async def partial(ctx):
                return ctx["config"]

            return await partial()

    status, _ = await run_one(emu, W)
    assert status["output"] == {
        "retries": {"limit": 3, "delay": 500, "backoff": "exponential"},
        "timeout": "5 minutes",
    }


async def test_ctx_config_keeps_durations_in_their_original_form(emu):
    class W(WorkflowEntrypoint):
        async def run(self, event, step):
            @step.do("durations", config={"retries": {"limit": 1, "delay": "2 minutes"}, "timeout": 90000})
            async def durations(ctx):
                return ctx["config"]

            return await durations()

    status, _ = await run_one(emu, W)
    assert status["output"]["retries"]["delay"] == "2 minutes"
    assert status["output"]["timeout"] == 90000


async def test_ctx_config_with_only_timeout_keeps_default_retries(emu):
    class W(WorkflowEntrypoint):
        async def run(self, event, step):
            @step.do("t", config={"timeout": "30 seconds"})
            def t(ctx):
                return ctx["config"]

            return await t()

    status, _ = await run_one(emu, W)
    assert status["output"] == {"retries": DEFAULT_CONFIG["retries"], "timeout": "30 seconds"}


async def test_ctx_count_increments_for_repeated_step_names(emu):
    class W(WorkflowEntrypoint):
        async def run(self, event, step):
            counts = []
            for _ in range(3):

                @step.do("same")
                def same(ctx):
                    return ctx["step"]["count"]

                counts.append(await same())

            @step.do("other")
            def other(ctx):
                return ctx["step"]["count"]

            counts.append(await other())
            return counts

    status, described = await run_one(emu, W)
    assert status["output"] == [1, 2, 3, 1]
    assert [(s["cfwf"]["name"], s["cfwf"]["count"]) for s in described["steps"]] == [
        ("same", 1), ("same", 2), ("same", 3), ("other", 1)
    ]


async def test_ctx_attempt_counts_up_on_retries(emu):
    attempts = []

    class W(WorkflowEntrypoint):
        async def run(self, event, step):
            @step.do("flaky", config={"retries": {"limit": 5, "delay": 10}})
            def flaky(ctx):
                attempts.append(ctx["attempt"])
                if ctx["attempt"] < 3:
                    raise ValueError("not yet")
                return ctx["attempt"]

            return await flaky()

    status, _ = await run_one(emu, W)
    assert status == {"status": "complete", "output": 3}
    assert attempts == [1, 2, 3]


async def test_mutating_ctx_config_does_not_change_the_engine_config(emu):
    seen = []

    class W(WorkflowEntrypoint):
        async def run(self, event, step):
            @step.do("tamper", config={"retries": {"limit": 2, "delay": 10, "backoff": "constant"}})
            def tamper(ctx):
                seen.append(ctx["config"]["retries"]["limit"])
                ctx["config"]["retries"]["limit"] = 0
                ctx["config"]["timeout"] = 1
                raise ValueError("always")

            try:
                await tamper()
            except ValueError:
                return "gave up"

    status, described = await run_one(emu, W)
    assert status == {"status": "complete", "output": "gave up"}
    assert seen == [2, 2, 2]
    (record,) = described["steps"]
    assert len(record["attempts"]) == 3
    assert record["config"] == {
        "retries": {"limit": 2, "delay": 10, "backoff": "constant"},
        "timeout": "10 minutes",
    }


# -- implicit dependencies ---------------------------------------------------------------------


class LazyDag(WorkflowEntrypoint):
    calls: list = []

    async def run(self, event, step):
        calls = type(self).calls

        @step.do()
        async def base_value():
            calls.append("base_value")
            return 10

        @step.do()
        async def derived(base_value):
            calls.append("derived")
            return base_value + 5

        return await derived()


@pytest.mark.parametrize("compat_date", [None, "2026-02-25", "2026-07-01"])
async def test_implicit_dependency_injects_earlier_step_result_lazily(compat_date):
    emu = Emulator(clock=VirtualClock(START_MS), compatibility_date=compat_date)
    LazyDag.calls = []
    status, described = await run_one(emu, LazyDag)
    assert status == {"status": "complete", "output": 15}
    assert LazyDag.calls == ["base_value", "derived"]
    assert [s["cfwf"]["name"] for s in described["steps"]] == ["base_value", "derived"]


async def test_implicit_dependency_already_awaited_is_not_run_again(emu):
    calls = []

    class W(WorkflowEntrypoint):
        async def run(self, event, step):
            @step.do()
            async def base_value():
                calls.append("base_value")
                return {"n": 1}

            first = await base_value()

            @step.do()
            async def derived(base_value):
                calls.append("derived")
                return base_value["n"] + 1

            return [first["n"], await derived()]

    status, described = await run_one(emu, W)
    assert status["output"] == [1, 2]
    assert calls == ["base_value", "derived"]
    assert [(s["cfwf"]["name"], s["cfwf"]["count"]) for s in described["steps"]] == [("base_value", 1), ("derived", 1)]


async def test_implicit_dependency_shared_by_two_steps_runs_once(emu):
    calls = []

    class W(WorkflowEntrypoint):
        async def run(self, event, step):
            @step.do()
            async def source():
                calls.append("source")
                return 2

            @step.do()
            async def double(source):
                return source * 2

            @step.do()
            async def triple(source):
                return source * 3

            return [await double(), await triple()]

    status, _ = await run_one(emu, W)
    assert status["output"] == [4, 6]
    assert calls == ["source"]


@pytest.mark.parametrize("fails", [False, True], ids=["succeeds", "fails"])
async def test_a_dependency_awaited_by_concurrent_steps_runs_once_and_each_gets_its_outcome(emu, fails):
    calls = []

    class W(WorkflowEntrypoint):
        async def run(self, event, step):
            @step.do(config=NO_RETRY)
            async def source():
                calls.append("source")
                await asyncio.sleep(0)  # the second step arrives while this one runs
                if fails:
                    raise ValueError("source failed")
                return 2

            @step.do()
            async def double(source):
                return source * 2

            @step.do()
            async def triple(source):
                return source * 3

            outcomes = await asyncio.gather(double(), triple(), return_exceptions=True)
            return [repr(outcome) if isinstance(outcome, Exception) else outcome for outcome in outcomes]

    status, described = await run_one(emu, W)
    expected = ["ValueError('source failed')"] * 2 if fails else [4, 6]
    assert status == {"status": "complete", "output": expected}
    assert calls == ["source"]
    assert [s["name"] for s in described["steps"]] == (["source-1"] if fails else ["source-1", "double-1", "triple-1"])


async def test_a_decorated_step_awaited_twice_at_once_runs_twice(emu):
    class W(WorkflowEntrypoint):
        async def run(self, event, step):
            @step.do("twice")
            async def twice(ctx):
                await asyncio.sleep(0)
                return ctx["step"]["count"]

            return sorted(await asyncio.gather(twice(), twice()))

    status, described = await run_one(emu, W)
    assert status == {"status": "complete", "output": [1, 2]}
    assert [(s["cfwf"]["name"], s["cfwf"]["count"]) for s in described["steps"]] == [("twice", 1), ("twice", 2)]


async def test_implicit_dependencies_and_ctx_in_any_order(emu):
    class W(WorkflowEntrypoint):
        async def run(self, event, step):
            @step.do()
            async def left():
                return "L"

            @step.do()
            async def right():
                return "R"

            @step.do("combined")
            async def combined(right, ctx, left):
                return [left, right, ctx["step"]["name"]]

            return await combined()

    status, _ = await run_one(emu, W)
    assert status["output"] == ["L", "R", "combined"]


def _overlap_workflow(concurrent, log):
    class W(WorkflowEntrypoint):
        async def run(self, event, step):
            @step.do()
            async def dep_1():
                log.append("start dep_1")
                for _ in range(50):
                    if "start dep_2" in log:
                        break
                    await asyncio.sleep(0)
                log.append("end dep_1")
                return 1

            @step.do()
            async def dep_2():
                log.append("start dep_2")
                return 2

            @step.do(concurrent=concurrent)
            async def final_step(dep_1, dep_2):
                return dep_1 + dep_2

            return await final_step()

    return W


async def test_concurrent_true_resolves_dependencies_together(emu):
    log = []
    status, _ = await run_one(emu, _overlap_workflow(True, log))
    assert status == {"status": "complete", "output": 3}
    assert log.index("start dep_2") < log.index("end dep_1")


async def test_concurrent_false_resolves_dependencies_one_by_one(emu):
    log = []
    status, _ = await run_one(emu, _overlap_workflow(False, log))
    assert status == {"status": "complete", "output": 3}
    assert log == ["start dep_1", "end dep_1", "start dep_2"]


async def test_implicit_unexpected_parameter_raises_type_error(emu):
    calls = []

    class W(WorkflowEntrypoint):
        async def run(self, event, step):
            @step.do()
            async def needs_unknown(user_id):
                calls.append("ran")
                return user_id

            try:
                await needs_unknown()
            except TypeError as exc:
                return str(exc)

    status, described = await run_one(emu, W)
    assert status["status"] == "complete"
    assert status["output"].startswith("Received unexpected parameter user_id: ")  # the SDK's text, then ours
    assert calls == []
    assert described["steps"] == []


async def test_implicit_dependency_matches_step_name_not_function_name(emu):
    class W(WorkflowEntrypoint):
        async def run(self, event, step):
            @step.do("fetch user")
            async def fetch_user():
                return 1

            @step.do()
            async def uses(fetch_user):
                return fetch_user

            try:
                await uses()
            except TypeError as exc:
                return str(exc)

    status, _ = await run_one(emu, W)
    assert status["output"].startswith("Received unexpected parameter fetch_user: ")


async def test_bare_step_do_decorator_raises_type_error(emu):
    calls = []

    class W(WorkflowEntrypoint):
        async def run(self, event, step):
            try:
                @step.do
                async def bare():
                    calls.append("ran")
                    return 1

                await bare()
            except TypeError:
                return "TypeError"
            return "no error"

    status, described = await run_one(emu, W)
    assert status == {"status": "complete", "output": "TypeError"}
    assert calls == []
    assert described["steps"] == []


async def test_implicit_mode_rejects_depends_keyword(emu):
    class W(WorkflowEntrypoint):
        async def run(self, event, step):
            @step.do()
            async def a():
                return 1

            try:
                @step.do("b", depends=[a])
                async def b(x):
                    return x

                await b()
            except TypeError:
                return "TypeError"
            return "accepted"

    status, _ = await run_one(emu, W)
    assert status["output"] == "TypeError"


# -- legacy depends=[...] mode -----------------------------------------------------------------

LEGACY_OPTIONS = [
    {"compatibility_date": "2025-11-02"},
    {"compatibility_date": "2026-02-24"},
    {"compatibility_flags": ["no_python_workflows_implicit_dependencies"]},
    {"compatibility_date": "2026-06-01", "compatibility_flags": ["no_python_workflows_implicit_dependencies"]},
]
LEGACY_IDS = ["date-2025-11-02", "date-2026-02-24", "flag", "new-date-with-flag"]


class LegacyDag(WorkflowEntrypoint):
    async def run(self, event, step):
        @step.do("dependency 1")
        async def sleep_a_little():
            return "foo"

        @step.do("dependency 2")
        async def sleep_longer():
            return "bar"

        @step.do("final step", depends=[sleep_a_little, sleep_longer], concurrent=True)
        async def summarize(res1=None, res2=None):
            return res1 + res2

        return await summarize()


@pytest.mark.parametrize("options", LEGACY_OPTIONS, ids=LEGACY_IDS)
async def test_legacy_depends_fills_parameters_positionally(options):
    emu = Emulator(clock=VirtualClock(START_MS), **options)
    status, described = await run_one(emu, LegacyDag)
    assert status == {"status": "complete", "output": "foobar"}
    assert sorted(s["cfwf"]["name"] for s in described["steps"]) == ["dependency 1", "dependency 2", "final step"]


async def test_legacy_ctx_is_filled_by_name_anywhere():
    emu = Emulator(clock=VirtualClock(START_MS), compatibility_date="2025-11-02")

    class W(WorkflowEntrypoint):
        async def run(self, event, step):
            @step.do("step_1")
            async def step_1():
                return "foo"

            @step.do("step_2")
            async def step_2():
                return "bar"

            @step.do("step_3", depends=[step_1, step_2])
            async def step_3(result1=(), ctx=None, result2=()):
                return [result1, ctx["step"]["name"], result2]

            return await step_3()

    status, _ = await run_one(emu, W)
    assert status["output"] == ["foo", "step_3", "bar"]


async def test_legacy_parameters_without_depends_raise_type_error():
    emu = Emulator(clock=VirtualClock(START_MS), compatibility_date="2025-11-02")

    class W(WorkflowEntrypoint):
        async def run(self, event, step):
            @step.do("a")
            async def a():
                return 1

            @step.do("b")
            async def b(x, ctx, y):
                return x

            try:
                await b()
            except TypeError as exc:
                return str(exc)

    status, _ = await run_one(emu, W)
    assert status["output"] == "Step has 2 non-ctx parameter(s) but no 'depends' list provided"


async def test_legacy_depends_length_mismatch_raises_type_error():
    emu = Emulator(clock=VirtualClock(START_MS), compatibility_date="2025-11-02")

    class W(WorkflowEntrypoint):
        async def run(self, event, step):
            @step.do("a")
            async def a():
                return 1

            @step.do("b", depends=[a])
            async def b(x, y):
                return x

            try:
                await b()
            except TypeError as exc:
                return str(exc)

    status, _ = await run_one(emu, W)
    assert status["output"] == "Step declares 2 non-ctx parameter(s) but 'depends' has 1 item(s)"


async def test_legacy_step_do_requires_a_name():
    emu = Emulator(clock=VirtualClock(START_MS), compatibility_date="2025-11-02")

    class W(WorkflowEntrypoint):
        async def run(self, event, step):
            try:
                @step.do()
                async def unnamed():
                    return 1

                await unnamed()
            except TypeError:
                return "TypeError"
            return "accepted"

    status, _ = await run_one(emu, W)
    assert status["output"] == "TypeError"


async def test_legacy_parameter_named_after_step_is_not_injected():
    emu = Emulator(clock=VirtualClock(START_MS), compatibility_date="2025-11-02")

    class W(WorkflowEntrypoint):
        async def run(self, event, step):
            @step.do("a")
            async def a():
                return 1

            @step.do("b")
            async def b(a):
                return a

            try:
                await b()
            except TypeError as exc:
                return str(exc)

    status, _ = await run_one(emu, W)
    assert status["output"] == "Step has 1 non-ctx parameter(s) but no 'depends' list provided"


async def test_add_workflow_compatibility_date_selects_legacy_for_that_workflow(emu):
    status, _ = await run_one(emu, LegacyDag, compatibility_date="2025-11-02")
    assert status == {"status": "complete", "output": "foobar"}


async def test_add_workflow_compatibility_date_selects_implicit_for_that_workflow():
    emu = Emulator(clock=VirtualClock(START_MS), compatibility_date="2025-11-02")
    LazyDag.calls = []
    status, _ = await run_one(emu, LazyDag, compatibility_date="2026-03-01")
    assert status == {"status": "complete", "output": 15}


async def test_add_workflow_compatibility_date_affects_only_that_workflow():
    emu = Emulator(clock=VirtualClock(START_MS))
    LazyDag.calls = []
    emu.add_workflow("legacy", LegacyDag, binding="LEGACY", compatibility_date="2025-11-02")
    emu.add_workflow("modern", LazyDag, binding="MODERN")
    async with emu:
        old = await emu.env.LEGACY.create(id="o")
        new = await emu.env.MODERN.create(id="n")
        await emu.run_until_idle()
        assert await old.status() == {"status": "complete", "output": "foobar"}
        assert await new.status() == {"status": "complete", "output": 15}


# -- the event object --------------------------------------------------------------------------


async def test_event_is_a_dict_with_camel_case_keys(emu):
    class W(WorkflowEntrypoint):
        async def run(self, event, step):
            return {
                "is_dict": isinstance(event, dict),
                "keys": sorted(event.keys()),
                "payload": event["payload"],
                "instanceId": event["instanceId"],
                "workflowName": event["workflowName"],
            }

    status, _ = await run_one(emu, W, params={"order_id": 7})
    assert status["output"] == {
        "is_dict": True,
        "keys": ["instanceId", "payload", "timestamp", "workflowName"],
        "payload": {"order_id": 7},
        "instanceId": "i1",
        "workflowName": "wf",
    }


async def test_event_supports_attribute_access(emu):
    class W(WorkflowEntrypoint):
        async def run(self, event, step):
            return [event.payload.order_id, event.instanceId, event.workflowName]

    status, _ = await run_one(emu, W, params={"order_id": 7})
    assert status["output"] == [7, "i1", "wf"]


async def test_event_timestamp_is_naive_utc_creation_time_on_the_virtual_clock(emu):
    seen = []

    class W(WorkflowEntrypoint):
        async def run(self, event, step):
            seen.append(event["timestamp"])
            await step.sleep("later", "3 hours")
            seen.append(event["timestamp"])

    emu.add_workflow("wf", W, binding="WF")
    async with emu:
        await emu.advance("90 minutes")
        inst = await emu.env.WF.create(id="i1")
        await emu.run_until_idle()
        assert (await inst.status())["status"] == "complete"
    assert seen == [datetime(2026, 1, 1, 1, 30), datetime(2026, 1, 1, 1, 30)]
    assert all(isinstance(ts, datetime) and ts.tzinfo is None for ts in seen)


async def test_event_timestamp_stays_the_creation_time_when_replayed_later():
    emu = manual_emulator()
    seen = []

    class W(WorkflowEntrypoint):
        async def run(self, event, step):
            seen.append(event["timestamp"])
            await step.sleep("nap", "1 hour")

    emu.add_workflow("wf", W, binding="WF")
    async with emu:
        inst = await emu.env.WF.create(id="i1")
        await emu.advance("10 minutes")
        await inst.pause()
        await emu.advance("5 hours")
        await inst.resume()
        await emu.run_until_idle()
        assert (await inst.status())["status"] == "complete"
    assert seen == [START, START]


async def test_mutating_the_event_persists_nothing_across_a_replay():
    emu = manual_emulator()
    seen = []

    class W(WorkflowEntrypoint):
        async def run(self, event, step):
            seen.append({"payload": dict(event["payload"]), "instanceId": event["instanceId"],
                         "keys": sorted(event)})
            event["payload"]["x"] = "mutated"
            event["instanceId"] = "hacked"
            event["extra"] = True
            await step.sleep("nap", "1 hour")
            return event["payload"]

    emu.add_workflow("wf", W, binding="WF")
    async with emu:
        inst = await emu.env.WF.create(id="i1", params={"x": 1})
        await emu.advance("1 second")
        assert (await inst.status())["status"] == "waiting"
        await inst.pause()
        await inst.resume()
        await emu.run_until_idle()
        status = await inst.status()
        described = await inst.describe()
    original = {"payload": {"x": 1}, "instanceId": "i1",
                "keys": ["instanceId", "payload", "timestamp", "workflowName"]}
    assert seen == [original, original]
    assert status == {"status": "complete", "output": {"x": "mutated"}}
    assert described["params"] == {"x": 1}


async def test_mutating_the_event_persists_nothing_across_a_restart(emu):
    seen = []

    class W(WorkflowEntrypoint):
        async def run(self, event, step):
            seen.append(dict(event["payload"]))
            event["payload"]["x"] = "mutated"

    emu.add_workflow("wf", W, binding="WF")
    async with emu:
        inst = await emu.env.WF.create(id="i1", params={"x": 1})
        await emu.run_until_idle()
        await inst.restart()
        await emu.run_until_idle()
        assert (await inst.status())["status"] == "complete"
    assert seen == [{"x": 1}, {"x": 1}]


async def test_event_payload_defaults_to_empty_dict_without_params(emu):
    class W(WorkflowEntrypoint):
        async def run(self, event, step):
            return {"payload": event["payload"]}

    emu.add_workflow("wf", W, binding="WF")
    async with emu:
        inst = await emu.env.WF.create()
        await emu.run_until_idle()
        assert await inst.status() == {"status": "complete", "output": {"payload": {}}}


async def test_call_form_passes_ctx_only_to_a_required_parameter_or_one_named_ctx():
    emu = call_form_emulator()

    class W(WorkflowEntrypoint):
        async def run(self, event, step):
            bound = 41
            with_default = await step.do("default", lambda v=bound: v + 1)
            named = await step.do("named", lambda ctx=None: ctx["step"]["name"])
            required = await step.do("required", lambda c: c["attempt"])
            return [with_default, named, required]

    emu.add_workflow("w", W, binding="W")
    async with emu:
        inst = await emu.env.W.create(id="i")
        await emu.run_until_idle()
        assert await inst.status() == {"status": "complete", "output": [42, "named", 1]}
