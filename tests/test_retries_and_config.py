"""Retries, backoff, dynamic delay functions and step-config validation (spec §2.1-§2.5, API §1)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from cfwf_emulator import StepError, WorkflowEntrypoint, WorkflowFatalError

START_MS = 1_767_225_600_000.0  # 2026-01-01T00:00:00Z, the `emu` fixture's start
CONFIG_ERROR_PREFIX = (
    'Step config for "{name}" is in a invalid format. '
    "See https://developers.cloudflare.com/workflows/build/sleeping-and-retrying/"
)
SECOND = 1_000
MINUTE = 60 * SECOND
HOUR = 60 * MINUTE


class Boom(Exception):
    """The error the flaky steps raise."""


def flaky_flow(config: Any, record: list, clock: Any, *, fail_first: int | None = None) -> type:
    """A workflow with one call-form step "flaky" that fails its first ``fail_first`` attempts
    (every attempt when None); each attempt appends ``(attempt, clock time)`` to ``record``."""

    class Flaky(WorkflowEntrypoint):
        async def run(self, event, step):
            def callback(ctx):
                record.append((ctx["attempt"], clock.now_ms()))
                if fail_first is None or ctx["attempt"] <= fail_first:
                    raise Boom(f"boom {ctx['attempt']}")
                return "done"

            if config is None:
                return await step.do("flaky")(callback)()
            return await step.do("flaky", config=config)(callback)()

    return Flaky


async def drive(emu: Any, cls: type) -> tuple[dict, dict]:
    """Run one instance of ``cls`` to idle; return its status and describe()."""
    emu.add_workflow("flow", cls, binding="FLOW")
    async with emu:
        inst = await emu.env.FLOW.create(id="i1")
        await emu.run_until_idle()
        return await inst.status(), await inst.describe()


def gaps(record: list) -> list[float]:
    """Virtual-time gaps between consecutive attempt starts."""
    times = [at for _attempt, at in record]
    return [later - earlier for earlier, later in zip(times, times[1:])]


def iso_ms(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000.0


# -- attempt counts -------------------------------------------------------------------------


@pytest.mark.parametrize("limit", [0, 1, 3])
async def test_retry_limit_l_gives_exactly_l_plus_one_attempts(emu, limit):
    record: list = []
    config = {"retries": {"limit": limit, "delay": 100, "backoff": "constant"}}
    status, describe = await drive(emu, flaky_flow(config, record, emu.clock))
    assert [attempt for attempt, _ in record] == list(range(1, limit + 2))
    assert len(describe["steps"][0]["attempts"]) == limit + 1
    assert status["status"] == "errored"
    assert status["error"] == {"name": "Boom", "message": f"boom {limit + 1}"}


async def test_a_step_that_fails_then_succeeds_returns_its_value(emu):
    record: list = []
    config = {"retries": {"limit": 3, "delay": 100, "backoff": "constant"}}
    status, describe = await drive(emu, flaky_flow(config, record, emu.clock, fail_first=2))
    assert status == {"status": "complete", "output": "done"}
    assert [a["success"] for a in describe["steps"][0]["attempts"]] == [False, False, True]


async def test_fractional_limit_allows_retries_while_attempt_number_is_at_most_limit(emu):
    # Cloudflare retries while attemptedCount <= limit: limit 1.5 gives attempts 1 and 2 only.
    record: list = []
    config = {"retries": {"limit": 1.5, "delay": 100, "backoff": "constant"}}
    status, _ = await drive(emu, flaky_flow(config, record, emu.clock))
    assert [attempt for attempt, _ in record] == [1, 2]
    assert status["status"] == "errored"


# -- backoff ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("backoff", "expected"),
    [
        ("constant", [1000, 1000, 1000]),
        ("linear", [1000, 2000, 3000]),
        ("exponential", [1000, 2000, 4000]),
    ],
)
async def test_backoff_sets_the_virtual_gaps_between_attempt_starts(emu, backoff, expected):
    record: list = []
    config = {"retries": {"limit": 3, "delay": 1000, "backoff": backoff}}
    await drive(emu, flaky_flow(config, record, emu.clock))
    assert gaps(record) == expected


async def test_describe_attempt_start_times_follow_the_backoff(emu):
    record: list = []
    config = {"retries": {"limit": 2, "delay": "3 seconds", "backoff": "linear"}}
    _, describe = await drive(emu, flaky_flow(config, record, emu.clock))
    starts = [iso_ms(a["start"]) for a in describe["steps"][0]["attempts"]]
    assert [b - a for a, b in zip(starts, starts[1:])] == [3000, 6000]
    assert starts[0] == START_MS


async def test_default_config_is_six_attempts_with_production_exponential_gaps(emu):
    record: list = []
    status, _ = await drive(emu, flaky_flow(None, record, emu.clock))
    assert [attempt for attempt, _ in record] == [1, 2, 3, 4, 5, 6]
    assert gaps(record) == [10_000, 20_000, 40_000, 80_000, 160_000]
    assert status["status"] == "errored"


async def test_retries_without_backoff_use_exponential(emu):
    record: list = []
    config = {"retries": {"limit": 3, "delay": 500}}
    await drive(emu, flaky_flow(config, record, emu.clock))
    assert gaps(record) == [500, 1000, 2000]


@pytest.mark.parametrize(
    ("delay", "ms"),
    [(250, 250), (1.5, 1.5), ("5 seconds", 5 * SECOND), ("1.5 hours", 1.5 * HOUR),
     ("2 minutes", 2 * MINUTE), ("1 second", SECOND)],
)
async def test_delay_as_milliseconds_or_duration_string(emu, delay, ms):
    record: list = []
    config = {"retries": {"limit": 2, "delay": delay, "backoff": "constant"}}
    await drive(emu, flaky_flow(config, record, emu.clock))
    assert gaps(record) == [ms, ms]


async def test_ctx_config_shows_the_merged_config_in_the_form_written(emu):
    seen: list = []

    class Flow(WorkflowEntrypoint):
        async def run(self, event, step):
            @step.do("a", config={"retries": {"limit": 3, "delay": 500}, "timeout": "5 minutes"})
            def a(ctx):
                seen.append(ctx["config"])

            @step.do("b")
            def b(ctx):
                seen.append(ctx["config"])

            await a()
            await b()

    await drive(emu, Flow)
    assert seen == [
        {"retries": {"limit": 3, "delay": 500, "backoff": "exponential"}, "timeout": "5 minutes"},
        {"retries": {"limit": 5, "delay": 10000, "backoff": "exponential"}, "timeout": "10 minutes"},
    ]


# -- dynamic delay functions -----------------------------------------------------------------


async def test_delay_function_receives_ctx_without_delay_key_and_the_error(emu):
    calls: list = []

    def delay(arg):
        calls.append({"ctx": arg["ctx"], "error": str(arg["error"])})
        return 1000

    record: list = []
    config = {"retries": {"limit": 2, "delay": delay, "backoff": "constant"}}
    await drive(emu, flaky_flow(config, record, emu.clock))
    expected_config = {"retries": {"limit": 2, "backoff": "constant"}, "timeout": "10 minutes"}
    assert calls == [
        {"ctx": {"step": {"name": "flaky", "count": 1}, "attempt": 1, "config": expected_config},
         "error": "boom 1"},
        {"ctx": {"step": {"name": "flaky", "count": 1}, "attempt": 2, "config": expected_config},
         "error": "boom 2"},
    ]


async def test_delay_function_is_not_called_after_the_last_attempt(emu):
    calls: list = []
    record: list = []
    config = {"retries": {"limit": 2, "delay": lambda arg: calls.append(1) or 10,
                          "backoff": "constant"}}
    await drive(emu, flaky_flow(config, record, emu.clock))
    assert len(record) == 3
    assert len(calls) == 2


@pytest.mark.parametrize(
    ("backoff", "returned", "expected"),
    [
        ("linear", 1000, [1000, 2000, 3000]),
        ("constant", "2 seconds", [2000, 2000, 2000]),
        (None, "2 seconds", [2000, 4000, 8000]),  # no backoff key: exponential
    ],
)
async def test_delay_function_result_is_multiplied_by_the_backoff(emu, backoff, returned, expected):
    retries: dict = {"limit": 3, "delay": lambda arg: returned}
    if backoff is not None:
        retries["backoff"] = backoff
    record: list = []
    await drive(emu, flaky_flow({"retries": retries}, record, emu.clock))
    assert gaps(record) == expected


async def test_async_delay_function_is_awaited(emu):
    async def delay(arg):
        return "3 seconds"

    record: list = []
    config = {"retries": {"limit": 1, "delay": delay, "backoff": "constant"}}
    await drive(emu, flaky_flow(config, record, emu.clock))
    assert gaps(record) == [3000]


async def test_delay_function_that_raises_ends_the_step_with_non_retryable_delay_error(emu):
    def delay(arg):
        raise RuntimeError("no delay for you")

    record: list = []
    config = {"retries": {"limit": 5, "delay": delay}}
    status, describe = await drive(emu, flaky_flow(config, record, emu.clock))
    error = {
        "name": "NonRetryableDelayError",
        "message": 'The delay function for step "flaky-1" threw an error: no delay for you',
    }
    assert len(record) == 1
    assert describe["steps"][0]["cfwf"]["error"] == error
    assert status["status"] == "errored"
    assert status["error"] == error


@pytest.mark.parametrize("returned", ["soon", "10 secs", -5, None, {"ms": 5}, float("nan")])
async def test_delay_function_returning_an_invalid_value_ends_the_step(emu, returned):
    record: list = []
    config = {"retries": {"limit": 5, "delay": lambda arg: returned}}
    status, describe = await drive(emu, flaky_flow(config, record, emu.clock))
    error = {
        "name": "NonRetryableDelayError",
        "message": 'The delay function for step "flaky-1" returned an invalid delay value '
        '(expected a number of ms or a duration string like "30 seconds")',
    }
    assert len(record) == 1
    assert describe["steps"][0]["cfwf"]["error"] == error
    assert status["error"] == error


async def test_delay_function_failure_reaches_run_with_its_name_and_message(emu):
    seen: list = []

    class Flow(WorkflowEntrypoint):
        async def run(self, event, step):
            @step.do("s", config={"retries": {"limit": 3, "delay": lambda arg: "never"}})
            def callback():
                raise Boom("boom")

            try:
                await callback()
            except Exception as exc:  # noqa: BLE001 - the test inspects what arrived
                seen.append((getattr(exc, "name", None), str(exc)))
            return "continued"

    status, _ = await drive(emu, Flow)
    assert status == {"status": "complete", "output": "continued"}
    assert seen == [(
        "NonRetryableDelayError",
        'The delay function for step "s-1" returned an invalid delay value '
        '(expected a number of ms or a duration string like "30 seconds")',
    )]


# -- config validation --------------------------------------------------------------------------

REJECTED_CONFIGS = {
    "retries without delay": {"retries": {"limit": 1}},
    "retries without limit": {"retries": {"delay": 50}},
    "retries with only backoff": {"retries": {"backoff": "exponential"}},
    "extra key inside retries": {"retries": {"limit": 1, "delay": 50, "jitter": True}},
    "delay not a duration": {"retries": {"limit": 1, "delay": "i like trains"}},
    "unknown backoff": {"retries": {"limit": 1, "delay": 50, "backoff": "quadratic"}},
    "negative delay": {"retries": {"limit": 1, "delay": -1}},
    "negative limit": {"retries": {"limit": -1, "delay": 50}},
    "limit nan": {"retries": {"limit": float("nan"), "delay": 50}},
    "limit inf": {"retries": {"limit": float("inf"), "delay": 50}},
    "limit a string": {"retries": {"limit": "3", "delay": 50}},
    "limit a bool": {"retries": {"limit": True, "delay": 50}},
    "retries not a dict": {"retries": 3},
    "timeout 0": {"timeout": 0},
    'timeout "0"': {"timeout": "0"},
    "timeout not a duration": {"timeout": "soon"},
    'sensitive "all"': {"sensitive": "all"},
    "sensitive True": {"sensitive": True},
    "unknown top-level key": {"retry": {"limit": 1, "delay": 50}},
    "config a string": "fast",
    "config a list": [1, 2],
    "config a number": 5,
}

BAD_DURATIONS = ["10 secs", "5seconds", " 5 seconds", "5 seconds ", "1 hr", "10 Seconds", "1 h"]


def validating_flow(config: Any, calls: list, outcome: list) -> type:
    class Flow(WorkflowEntrypoint):
        async def run(self, event, step):
            @step.do("configured", config=config)
            async def configured():
                calls.append(1)
                return "ran"

            try:
                return await configured()
            except WorkflowFatalError as exc:
                outcome.append(str(exc))
                raise

    return Flow


@pytest.mark.parametrize("config", list(REJECTED_CONFIGS.values()), ids=list(REJECTED_CONFIGS))
async def test_invalid_step_config_raises_workflow_fatal_error_before_any_attempt(emu, config):
    calls: list = []
    outcome: list = []
    status, describe = await drive(emu, validating_flow(config, calls, outcome))
    prefix = CONFIG_ERROR_PREFIX.format(name="configured")
    assert calls == []
    assert len(outcome) == 1 and outcome[0].startswith(prefix)
    assert status["status"] == "errored"
    assert status["error"]["name"] == "WorkflowFatalError"
    assert status["error"]["message"].startswith(prefix)
    assert describe["steps"] == []  # validation happens before the step is journaled


@pytest.mark.parametrize("duration", BAD_DURATIONS)
@pytest.mark.parametrize("field", ["delay", "timeout"])
async def test_duration_strings_outside_the_typed_grammar_are_rejected(emu, field, duration):
    if field == "delay":
        config: dict = {"retries": {"limit": 1, "delay": duration}}
    else:
        config = {"timeout": duration}
    calls: list = []
    outcome: list = []
    status, _ = await drive(emu, validating_flow(config, calls, outcome))
    assert calls == []
    assert outcome and outcome[0].startswith(CONFIG_ERROR_PREFIX.format(name="configured"))
    assert status["error"]["name"] == "WorkflowFatalError"


async def test_invalid_config_can_be_caught_and_run_continues(emu):
    class Flow(WorkflowEntrypoint):
        async def run(self, event, step):
            try:
                @step.do("bad", config={"timeout": 0})
                def bad():
                    return "never"

                await bad()
            except StepError as exc:
                return exc.name
            return "not raised"

    status, _ = await drive(emu, Flow)
    assert status == {"status": "complete", "output": "WorkflowFatalError"}


ACCEPTED_CONFIGS = {
    "delay 0 constant": {"retries": {"limit": 5, "delay": 0, "backoff": "constant"},
                         "timeout": "2 minutes"},
    "limit 0 huge delay": {"retries": {"limit": 0, "delay": 100000, "backoff": "exponential"},
                           "timeout": "15 minutes"},
    "delay function": {"retries": {"limit": 1, "delay": lambda arg: 10}},
    "sensitive output": {"sensitive": "output"},
    "timeout in ms": {"timeout": 30000},
    "singular unit": {"retries": {"limit": 1, "delay": "1 second"}, "timeout": "1 minute"},
    "empty config": {},
}


@pytest.mark.parametrize("config", list(ACCEPTED_CONFIGS.values()), ids=list(ACCEPTED_CONFIGS))
async def test_valid_step_config_runs_the_step(emu, config):
    calls: list = []
    outcome: list = []
    status, _ = await drive(emu, validating_flow(config, calls, outcome))
    assert outcome == []
    assert calls == [1]
    assert status == {"status": "complete", "output": "ran"}


async def test_delay_zero_constant_retries_without_time_passing(emu):
    record: list = []
    config = {"retries": {"limit": 5, "delay": 0, "backoff": "constant"}, "timeout": "2 minutes"}
    status, _ = await drive(emu, flaky_flow(config, record, emu.clock, fail_first=2))
    assert status == {"status": "complete", "output": "done"}
    assert gaps(record) == [0, 0]


async def test_limit_zero_with_huge_delay_fails_after_one_attempt_without_waiting(emu):
    record: list = []
    config = {"retries": {"limit": 0, "delay": 100000, "backoff": "exponential"},
              "timeout": "15 minutes"}
    status, _ = await drive(emu, flaky_flow(config, record, emu.clock))
    assert record == [(1, START_MS)]
    assert status["error"] == {"name": "Boom", "message": "boom 1"}
    assert emu.clock.now_ms() == START_MS
