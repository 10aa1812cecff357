"""Wrong arguments at the public entry points give a specific error that says what to do.

Each public call (step.do and the other step methods, the binding and instance methods, the
modifier methods, add_workflow, from_config) is fed wrong types, odd text and oversized or deeply
nested values; the error must be a WorkflowError, TypeError, ValueError or ConfigError naming the
argument and what it must be, and a second instance must not notice anything.

Contract: API.md §1-§3; spec cloudflare-workflows.md §2.6, §2.10, §4.4; python-workflows-api.md.
"""

from __future__ import annotations

import pytest

from cfwf_emulator import (
    ConfigError,
    Emulator,
    VirtualClock,
    WorkflowEntrypoint,
    WorkflowError,
    WorkflowFatalError,
)
from cfwf_emulator.testing import introspect_workflow, introspect_workflow_instance

START_MS = 1_767_225_600_000.0  # 2026-01-01T00:00:00Z
WRONG = [None, 42, [], b"x", object()]
WRONG_IDS = ["None", "int", "list", "bytes", "object"]
ODD_TEXT = ["\ud800", "a\x00b"]
LEGACY = {"compatibility_date": "2025-11-02"}


def _callback():
    return "ran"


def deeply_nested(depth: int) -> list:
    value: list = []
    for _ in range(depth):
        value = [value]
    return value


async def outcome_of(body, **emulator_options):
    """Run ``body(step)`` inside a workflow; return the exception ``run`` saw there, or None."""
    emu = Emulator(clock=VirtualClock(START_MS), **emulator_options)
    caught = {}

    class Capture(WorkflowEntrypoint):
        async def run(self, event, step):
            try:
                await body(step)
            except Exception as exc:
                caught["error"] = exc
            return "done"

    emu.add_workflow("wf", Capture, binding="WF")
    async with emu:
        inst = await emu.env.WF.create(id="i1")
        await emu.run_until_idle()
        assert (await inst.status())["status"] == "complete"
    return caught.get("error")


# -- step.do: the call form with a wrong argument (issue 14) ------------------------------------


@pytest.mark.parametrize(
    ("args", "wrong", "expected"),
    [
        (("c", [], _callback), "config (argument 2) must be a dict or None, got list []", "4 were given"),
        (("c", {}, None), "callback (argument 3) must be callable", "4 were given"),
        (("c", None, 42), "callback (argument 3) must be callable", "4 were given"),
        (("c", 42), "callback (argument 2) must be callable", "3 were given"),
        (("c", b"x", _callback), "config (argument 2) must be a dict or None, got bytes", "4 were given"),
    ],
    ids=["config-list", "callback-None", "callback-int", "two-args-int", "config-bytes"],
)
async def test_call_form_with_a_wrong_argument_names_it(args, wrong, expected):
    async def body(step):
        return await step.do(*args)

    error = await outcome_of(body)
    assert isinstance(error, TypeError)
    message = str(error)
    # starts with what Cloudflare's Python SDK raises for the same call
    assert message.startswith(
        f"_WorkflowStepWrapper._do_implicit() takes from 1 to 2 positional arguments but {expected}"
    )
    assert wrong in message
    assert "@step.do(" in message  # says how to write it instead
    assert "_decorator_implicit" not in message


@pytest.mark.parametrize(
    ("args", "wrong"),
    [
        (("c", [], _callback), "config (argument 2) must be a dict or None, got list []"),
        (("c", {}, None), "callback (argument 3) must be callable"),
        (("c", None, 42), "callback (argument 3) must be callable"),
    ],
    ids=["config-list", "callback-None", "callback-int"],
)
async def test_call_form_with_a_wrong_argument_names_it_under_legacy_dependencies(args, wrong):
    async def body(step):
        return await step.do(*args)

    error = await outcome_of(body, **LEGACY)
    assert isinstance(error, TypeError)
    assert wrong in str(error)
    assert '@step.do("name", depends=[...]' in str(error)


async def test_call_form_still_runs_with_right_arguments():
    async def body(step):
        return [await step.do("a", _callback), await step.do("b", None, _callback), await step.do("c", {}, _callback)]

    assert await outcome_of(body) is None


@pytest.mark.parametrize("concurrent", WRONG, ids=WRONG_IDS)
async def test_decorator_concurrent_must_be_a_bool(concurrent):
    async def body(step):
        @step.do("x", concurrent=concurrent)
        async def x():
            return 1

        return await x()

    error = await outcome_of(body)
    assert isinstance(error, TypeError)
    assert "concurrent must be True or False" in str(error)


@pytest.mark.parametrize("func", WRONG, ids=WRONG_IDS)
async def test_decorator_must_decorate_a_function(func):
    async def body(step):
        return step.do("x")(func)

    error = await outcome_of(body)
    assert isinstance(error, TypeError)
    assert "@step.do(...) must decorate a function" in str(error)


@pytest.mark.parametrize("name", [[], {}, b"x", object(), 42], ids=["list", "dict", "bytes", "object", "int"])
async def test_decorator_with_a_name_that_is_not_text_fails_with_cloudflares_error(name):
    async def body(step):
        @step.do(name)
        async def x():
            return 1

        return await x()

    error = await outcome_of(body)
    assert isinstance(error, WorkflowFatalError)
    assert "exceeds max length (256 chars) or invalid characters found" in str(error)


async def test_unknown_keyword_argument_is_named_with_the_allowed_ones():
    async def body(step):
        @step.do("x", confg={})
        async def x():
            return 1

        return await x()

    error = await outcome_of(body)
    assert isinstance(error, TypeError)
    assert str(error).startswith("_WorkflowStepWrapper._do_implicit() got an unexpected keyword argument 'confg'")
    assert "step.do takes name, concurrent, config" in str(error)


@pytest.mark.parametrize("depends", [42, "a", b"x", object()], ids=["int", "str", "bytes", "object"])
async def test_legacy_depends_must_be_a_list(depends):
    async def body(step):
        @step.do("x", depends=depends)
        async def x(a):
            return a

        return await x()

    error = await outcome_of(body, **LEGACY)
    assert isinstance(error, TypeError)
    assert "depends must be a list of functions decorated with step.do" in str(error)


async def test_legacy_step_do_without_a_name_says_so():
    async def body(step):
        @step.do()
        async def x():
            return 1

        return await x()

    error = await outcome_of(body, **LEGACY)
    assert isinstance(error, TypeError)
    assert str(error).startswith("_WorkflowStepWrapper._do_legacy() missing 1 required positional argument: 'name'")
    assert "every step needs a name" in str(error)


# -- from_config: importing main ------------------------------------------------------------------

ENTRY = """
from workers import WorkflowEntrypoint


class Echo(WorkflowEntrypoint):
    async def run(self, event, step):
        return event["payload"]
"""


def write_project(root, entry=ENTRY, extra=""):
    """A project in ``root`` whose main is ``src/entry.py``; returns the config path."""
    (root / "src").mkdir(parents=True, exist_ok=True)
    (root / "src" / "entry.py").write_text(entry)
    config = root / "wrangler.jsonc"
    config.write_text(
        '{"name": "p", "main": "src/entry.py", "compatibility_date": "2026-03-01",'
        ' "compatibility_flags": ["python_workers"],'
        f' "workflows": [{{"name": "echo", "binding": "ECHO", "class_name": "Echo"}}]{extra}}}'
    )
    return config


@pytest.mark.parametrize(
    ("statement", "shown"),
    [
        ("import sys\nsys.exit()", "SystemExit"),
        ("import sys\nsys.exit(3)", "SystemExit: 3"),
        ("exit('bye')", "SystemExit: bye"),
        ("class Stop(BaseException): pass\nraise Stop('odd')", "Stop: odd"),
    ],
    ids=["sys.exit()", "sys.exit(3)", "exit(msg)", "BaseException"],
)
def test_main_that_exits_while_imported_gives_a_config_error_naming_the_file(tmp_path, statement, shown):
    config = write_project(tmp_path, ENTRY + statement + "\n")
    with pytest.raises(ConfigError) as info:
        Emulator.from_config(config)
    message = str(info.value)
    assert str(tmp_path / "src" / "entry.py") in message
    assert f"importing the main module failed: {shown}" in message
    if "exit" in statement:
        assert "must not call sys.exit()" in message
