"""The emulator follows the installed workers-runtime-sdk where its releases differ.

``pywrangler sync`` vendors the project's SDK into the Worker, so the release in the project's
environment is the one that runs on Cloudflare. Releases compared: 1.5.4, 1.7.0, 1.8.0 to 1.8.6,
1.9.0, 1.9.5. The tests pretend another release is installed by answering
``importlib.metadata.version`` for it, as a venv holding that release would.
"""

from __future__ import annotations

from importlib import metadata
from types import SimpleNamespace
from typing import Any, Callable, Iterator

import pytest

from cfwf_emulator import Emulator, NonRetryableError, VirtualClock, WorkflowEntrypoint
from cfwf_emulator.sdk import DISTRIBUTION, behaviour_of, installed_sdk
from cfwf_emulator.testing import introspect_workflow_instance

START_MS = 1_767_225_600_000.0  # 2026-01-01T00:00:00Z


@pytest.fixture
def installed(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[str | None], None]]:
    """``installed("1.8.0")``: from now on the environment holds that release (None: none)."""
    real = metadata.version

    def pretend(version: str | None) -> None:
        def version_of(name: str) -> str:
            if name != DISTRIBUTION:
                return real(name)
            if version is None:
                raise metadata.PackageNotFoundError(name)
            return version

        monkeypatch.setattr(metadata, "version", version_of)
        installed_sdk.cache_clear()

    yield pretend
    installed_sdk.cache_clear()


def test_the_installed_release_is_read_from_the_environment(installed: Callable[[str | None], None]) -> None:
    assert installed_sdk().version == metadata.version(DISTRIBUTION)  # the dev extra installs it
    installed("1.8.0")
    assert installed_sdk().version == "1.8.0"
    installed(None)
    assert installed_sdk() == behaviour_of(None)


@pytest.mark.parametrize(
    ("version", "non_retryable", "per_function"),
    [
        ("1.5.4", False, False),
        ("1.8.5", False, False),
        ("1.8.6", False, True),
        ("1.9.0", True, True),
        ("1.9.5", True, True),
        ("2.0.0rc1", True, True),
        (None, True, True),  # none installed: the newest behaviour
        ("not a version", True, True),
    ],
)
def test_what_each_release_does(version: str | None, non_retryable: bool, per_function: bool) -> None:
    behaviour = behaviour_of(version)
    assert behaviour.non_retryable_in_steps is non_retryable
    assert behaviour.memoise_per_function is per_function
    assert behaviour.refuse_tuples is per_function
    assert behaviour.checks_depends is per_function


class GiveUp(WorkflowEntrypoint):
    async def run(self, event: Any, step: Any) -> Any:
        @step.do("validate", config={"retries": {"limit": 2, "delay": "1 second", "backoff": "constant"}})
        async def validate() -> None:
            raise NonRetryableError("bad input")

        try:
            await validate()
        except NonRetryableError as error:
            return f"caught NonRetryableError: {error}"


async def attempts_of(cls: type, step_name: str, modify: Any = None) -> tuple[int, Any]:
    emu = Emulator(clock=VirtualClock(START_MS))
    emu.add_workflow("wf", cls, binding="WF")
    async with emu:
        async with introspect_workflow_instance(emu.env.WF, "i-1") as instance:
            if modify is not None:
                await instance.modify(modify)
            await emu.env.WF.create(id="i-1")
            await emu.run_until_idle()
            status = await (await emu.env.WF.get("i-1")).status()
            attempts = emu.api.testing.step_attempts("wf", "i-1", step_name)
    return len(attempts), status["output"]


async def test_from_1_9_0_a_non_retryable_error_raised_in_a_step_stops_its_retries(installed: Any) -> None:
    installed("1.9.0")
    assert await attempts_of(GiveUp, "validate") == (1, "caught NonRetryableError: bad input")


async def test_before_1_9_0_a_non_retryable_error_raised_in_a_step_is_retried(installed: Any) -> None:
    installed("1.8.6")  # cloudflare/workers-py#266: it reached the engine as a PythonError,
    # and _from_js_error rebuilt it from the traceback's last line, qualified name and all
    expected = "caught NonRetryableError: workers.workflows.NonRetryableError: bad input"
    assert await attempts_of(GiveUp, "validate") == (3, expected)


class GiveUpUncaught(WorkflowEntrypoint):
    async def run(self, event: Any, step: Any) -> Any:
        @step.do("validate", config={"retries": {"limit": 1, "delay": 0}})
        async def validate() -> None:
            raise NonRetryableError("bad input")

        @step.do("bare", config={"retries": {"limit": 0, "delay": 0}})
        async def bare() -> None:
            raise NonRetryableError()

        if event["payload"] == "bare":
            await bare()
        await validate()


async def uncaught_status(payload: str) -> Any:
    emu = Emulator(clock=VirtualClock(START_MS))
    emu.add_workflow("wf", GiveUpUncaught, binding="WF")
    async with emu:
        instance = await emu.env.WF.create(id="i-1", params=payload)
        await emu.run_until_idle()
        return await instance.status()


@pytest.mark.parametrize(
    ("version", "payload", "message"),
    [
        ("1.8.5", "message", "workers.workflows.NonRetryableError: bad input"),
        ("1.8.6", "bare", "workers.workflows.NonRetryableError"),  # no message: no colon either
        ("1.9.0", "message", "bad input"),
        (None, "bare", ""),
    ],
)
async def test_the_error_of_an_uncaught_non_retryable_error_from_a_step(
    installed: Any, version: str | None, payload: str, message: str
) -> None:
    installed(version)
    status = await uncaught_status(payload)
    assert (status["status"], status["error"]) == ("errored", {"name": "NonRetryableError", "message": message})


async def test_a_mocked_non_retryable_error_stops_retries_whatever_the_release(installed: Any) -> None:
    installed("1.8.0")  # the engine reads the error's name: no SDK in between
    mocked = {"name": "NonRetryableError", "message": "mocked"}
    count, output = await attempts_of(GiveUp, "validate", lambda m: m.mock_step_error("validate", mocked))
    assert (count, output) == (1, "caught NonRetryableError: mocked")


class SameName(WorkflowEntrypoint):
    async def run(self, event: Any, step: Any) -> Any:
        @step.do("fetch")
        async def fetch_cached() -> str:
            return "cached copy"

        @step.do("fetch")
        async def fetch_fresh() -> str:
            return "fresh copy"

        await fetch_cached()

        @step.do()
        async def report(fetch: str) -> str:  # the step named "fetch": fetch_fresh, declared last
            return fetch

        return await report()


async def run_output(cls: type) -> Any:
    emu = Emulator(clock=VirtualClock(START_MS))
    emu.add_workflow("wf", cls, binding="WF")
    async with emu:
        instance = await emu.env.WF.create(id="i-1")
        await emu.run_until_idle()
        return await instance.status()


async def test_from_1_8_6_dependencies_are_memoised_per_decorated_function(installed: Any) -> None:
    installed("1.8.6")
    assert (await run_output(SameName))["output"] == "fresh copy"


async def test_before_1_8_6_dependencies_are_memoised_by_step_name(installed: Any) -> None:
    installed("1.8.5")
    assert (await run_output(SameName))["output"] == "cached copy"


class TupleResult(WorkflowEntrypoint):
    async def run(self, event: Any, step: Any) -> Any:
        @step.do("pair", config={"retries": {"limit": 0, "delay": 0}})
        async def pair() -> Any:
            return {"point": (1, 2)}

        return await pair()


async def test_from_1_8_6_a_tuple_in_a_step_result_is_refused(installed: Any) -> None:
    installed("1.9.5")
    status = await run_output(TupleResult)
    assert status["status"] == "errored"
    assert status["error"] == {"name": "TypeError", "message": "<class 'tuple'> cannot be sent over RPC."}


async def test_before_1_8_6_a_tuple_in_a_step_result_becomes_a_list(installed: Any) -> None:
    installed("1.8.0")  # the result went through to_js, which makes tuples arrays
    status = await run_output(TupleResult)
    assert status == {"status": "complete", "output": {"point": [1, 2]}}


class BadDepends(WorkflowEntrypoint):
    async def run(self, event: Any, step: Any) -> Any:
        @step.do("first")
        async def first() -> str:
            return "one"

        @step.do("second", depends=[first, "first"])
        async def second(a: str, b: str) -> str:
            return a + b

        try:
            await second()
        except (AttributeError, TypeError) as error:
            return {"raised": type(error).__name__, "first line": str(error).splitlines()[0]}


async def bad_depends_run(installed: Any, version: str) -> tuple[Any, int]:
    installed(version)
    emu = Emulator(clock=VirtualClock(START_MS), compatibility_date="2025-10-01")  # legacy depends=
    emu.add_workflow("wf", BadDepends, binding="WF")
    async with emu:
        instance = await emu.env.WF.create(id="i-1")
        await emu.run_until_idle()
        output = (await instance.status())["output"]
        first_attempts = len(emu.api.testing.step_attempts("wf", "i-1", "first"))
    return output, first_attempts


async def test_from_1_8_6_a_bad_depends_entry_raises_type_error_before_any_step_runs(installed: Any) -> None:
    output, steps = await bad_depends_run(installed, "1.8.6")
    assert output == {
        "raised": "TypeError",
        "first line": "'depends' entry for parameter 'b' is not a function decorated with step.do",
    }
    assert steps == 0


async def test_before_1_8_6_a_bad_depends_entry_raises_attribute_error_when_its_turn_comes(installed: Any) -> None:
    output, steps = await bad_depends_run(installed, "1.8.5")
    assert output == {"raised": "AttributeError", "first line": "'str' object has no attribute '_step_name'"}
    assert steps == 1  # the entries before it were resolved: their steps ran


class NamedCtx(WorkflowEntrypoint):
    async def run(self, event: Any, step: Any) -> Any:
        entry = SimpleNamespace(name="ctx", note="not a step")

        @step.do("uses", depends=[entry])
        async def uses(value: Any) -> str:
            return str(value.note)

        return await uses()


async def test_before_1_8_6_a_depends_entry_named_ctx_is_passed_as_it_is(installed: Any) -> None:
    installed("1.8.5")  # _resolve_dependency: hasattr(dep, "name") and dep.name == "ctx"
    emu = Emulator(clock=VirtualClock(START_MS), compatibility_date="2025-10-01")
    emu.add_workflow("wf", NamedCtx, binding="WF")
    async with emu:
        instance = await emu.env.WF.create(id="i-1")
        await emu.run_until_idle()
        assert await instance.status() == {"status": "complete", "output": "not a step"}
