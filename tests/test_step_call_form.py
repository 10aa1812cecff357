"""The JavaScript-style call form ``await step.do(name, [config], callback)``: refused by default
exactly as Cloudflare's Python SDK refuses it, accepted on request for tests ported from JavaScript.

Contract: API.md §1 (the call form); spec python-workflows-api.md (``_do_implicit`` /
``_do_legacy`` of workers-runtime-sdk 1.9.5 ``workers/entrypoints.py``: decorator only).
"""

from __future__ import annotations

import pytest

from cfwf_emulator import ConfigError, Emulator, VirtualClock, WorkflowEntrypoint

pytest_plugins = ["pytester"]

START_MS = 1_767_225_600_000.0  # 2026-01-01T00:00:00Z
LEGACY = "2025-11-02"  # before 2026-02-25: python_workflows_implicit_dependencies is off

# What Cloudflare's SDK raises. Implicit dependencies: ``do = _do_implicit(self, name=None, *,
# concurrent=False, config=None)``, so Python refuses the extra positional arguments. Legacy:
# ``_do_legacy(self, name, depends=None, concurrent=False, config=None)`` returns the decorator
# (the callback taken as ``depends``), and ``await`` on a function fails.
IMPLICIT_TWO = "_WorkflowStepWrapper._do_implicit() takes from 1 to 2 positional arguments but 3 were given"
IMPLICIT_THREE = "_WorkflowStepWrapper._do_implicit() takes from 1 to 2 positional arguments but 4 were given"
LEGACY_AWAIT = "object function can't be used in 'await' expression"


def hint(decorator: str) -> str:
    return (
        f"Cloudflare's Python SDK has no call form of step.do: write it as a decorator, {decorator} "
        "above a def or async def holding the callback's body, then await the decorated function "
        "(Emulator(step_call_form=True) accepts the call form, for tests ported from JavaScript)"
    )


CALLS: list[str] = []


def charge() -> str:
    CALLS.append("charge")
    return "charged"


class TwoArguments(WorkflowEntrypoint):
    async def run(self, event, step):
        return await step.do("charge", charge)


class ThreeArguments(WorkflowEntrypoint):
    async def run(self, event, step):
        return await step.do("charge", {"retries": {"limit": 1, "delay": 0}}, charge)


class NoneConfig(WorkflowEntrypoint):
    async def run(self, event, step):
        return await step.do("charge", None, charge)


async def run_one(emu: Emulator, cls: type) -> tuple[dict, dict]:
    CALLS.clear()
    emu.add_workflow("wf", cls, binding="WF")
    async with emu:
        instance = await emu.env.WF.create(id="i1")
        await emu.run_until_idle()
        return await instance.status(), await instance.describe()


@pytest.mark.parametrize(
    ("cls", "compatibility_date", "sdk_error", "decorator"),
    [
        (TwoArguments, None, IMPLICIT_TWO, '@step.do("charge")'),
        (ThreeArguments, None, IMPLICIT_THREE, '@step.do("charge", config={...})'),
        (NoneConfig, None, IMPLICIT_THREE, '@step.do("charge")'),
        (TwoArguments, LEGACY, LEGACY_AWAIT, '@step.do("charge")'),
        (ThreeArguments, LEGACY, LEGACY_AWAIT, '@step.do("charge", config={...})'),
    ],
    ids=["implicit-2", "implicit-3", "implicit-None-config", "legacy-2", "legacy-3"],
)
async def test_call_form_fails_with_the_sdks_type_error_and_a_line_naming_the_decorator(
    cls: type, compatibility_date: str | None, sdk_error: str, decorator: str
) -> None:
    emu = Emulator(clock=VirtualClock(START_MS), compatibility_date=compatibility_date)

    status, described = await run_one(emu, cls)

    assert status["status"] == "errored"
    assert status["error"] == {"name": "TypeError", "message": f"{sdk_error}\n{hint(decorator)}"}
    assert CALLS == [] and described["steps"] == []  # the callback never ran, no step was journaled


async def test_a_call_form_caught_in_run_is_the_type_error_and_the_workflow_goes_on() -> None:
    seen: list[str] = []

    class Catches(WorkflowEntrypoint):
        async def run(self, event, step):
            try:
                await step.do("charge", charge)
            except TypeError as exc:
                seen.append(str(exc).splitlines()[0])

            @step.do("charge")
            def charge_step() -> str:
                return charge()

            return await charge_step()

    status, _ = await run_one(Emulator(clock=VirtualClock(START_MS)), Catches)

    assert seen == [IMPLICIT_TWO]
    assert status == {"status": "complete", "output": "charged"}


async def test_legacy_call_form_used_as_a_decorator_says_depends_is_wrong() -> None:
    class Decorates(WorkflowEntrypoint):
        async def run(self, event, step):
            try:
                @step.do("charge", charge)
                def later() -> None:
                    pass
            except TypeError as exc:
                return str(exc)

    status, _ = await run_one(Emulator(clock=VirtualClock(START_MS), compatibility_date=LEGACY), Decorates)

    assert status["status"] == "complete"
    assert "Cloudflare's Python SDK has no call form" in status["output"]
    assert '@step.do("name", depends=[...]' in status["output"]


@pytest.mark.parametrize("compatibility_date", [None, LEGACY], ids=["implicit", "legacy"])
@pytest.mark.parametrize("cls", [TwoArguments, ThreeArguments, NoneConfig], ids=["2", "3", "None-config"])
async def test_step_call_form_true_runs_the_callback(cls: type, compatibility_date: str | None) -> None:
    emu = Emulator(clock=VirtualClock(START_MS), compatibility_date=compatibility_date, step_call_form=True)

    status, described = await run_one(emu, cls)

    assert status == {"status": "complete", "output": "charged"}
    assert CALLS == ["charge"]
    assert [step["name"] for step in described["steps"]] == ["charge-1"]


async def test_step_call_form_keeps_the_decorator_form_working() -> None:
    class Both(WorkflowEntrypoint):
        async def run(self, event, step):
            @step.do("decorated")
            def decorated() -> int:
                return 1

            return [await decorated(), await step.do("called", lambda: 2)]

    status, _ = await run_one(Emulator(clock=VirtualClock(START_MS), step_call_form=True), Both)

    assert status == {"status": "complete", "output": [1, 2]}


@pytest.mark.parametrize("value", ["yes", 1, None], ids=["str", "int", "None"])
def test_step_call_form_must_be_a_bool(value: object) -> None:
    with pytest.raises(ConfigError, match=r"step_call_form must be True or False, got"):
        Emulator(step_call_form=value)  # type: ignore[arg-type]


ENTRY = """
from workers import WorkflowEntrypoint


class Charge(WorkflowEntrypoint):
    async def run(self, event, step):
        return await step.do("charge", lambda: "charged")
"""


def write_project(root) -> None:
    (root / "src").mkdir(parents=True, exist_ok=True)
    (root / "src" / "entry.py").write_text(ENTRY)
    (root / "wrangler.jsonc").write_text(
        '{"name": "p", "main": "src/entry.py", "compatibility_date": "2026-03-01",'
        ' "compatibility_flags": ["python_workers"],'
        ' "workflows": [{"name": "charge", "binding": "CHARGE", "class_name": "Charge"}]}'
    )


async def outcome(emu: Emulator) -> dict:
    async with emu:
        instance = await emu.env.CHARGE.create(id="i1")
        await emu.run_until_idle()
        return await instance.status()


@pytest.mark.parametrize("opted_in", [False, True], ids=["default", "step_call_form"])
async def test_from_config_takes_step_call_form(tmp_path, opted_in: bool) -> None:
    write_project(tmp_path)
    options = {"step_call_form": True} if opted_in else {}

    status = await outcome(Emulator.from_config(tmp_path, clock=VirtualClock(START_MS), **options))

    if opted_in:
        assert status == {"status": "complete", "output": "charged"}
    else:
        assert status["status"] == "errored"
        assert status["error"]["message"] == IMPLICIT_TWO + "\n" + hint('@step.do("charge")')


PLUGIN_TESTS = '''
import pytest


async def outcome(emu):
    instance = await emu.env.CHARGE.create()
    await emu.run_until_idle()
    return await instance.status()


async def test_default(cfwf):
    assert (await outcome(cfwf))["error"]["name"] == "TypeError"


@pytest.mark.cfwf(step_call_form=True)
async def test_marker(cfwf):
    assert await outcome(cfwf) == {"status": "complete", "output": "charged"}


async def test_factory(cfwf_factory):
    assert await outcome(cfwf_factory(step_call_form=True)) == {"status": "complete", "output": "charged"}
    assert (await outcome(cfwf_factory()))["status"] == "errored"
'''


def test_the_cfwf_marker_and_cfwf_factory_take_step_call_form(pytester: pytest.Pytester) -> None:
    write_project(pytester.path)
    pytester.makepyfile(test_user=PLUGIN_TESTS)

    pytester.runpytest("-p", "no:asyncio", "--strict-markers").assert_outcomes(passed=3)
