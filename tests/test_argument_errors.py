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


async def decorated_step_error(*args, emulator_options=None, **kwargs):
    """The exception ``run`` sees for ``@step.do(*args, **kwargs)`` on a function, then awaiting it."""

    async def body(step):
        @step.do(*args, **kwargs)
        async def x():
            return 1

        return await x()

    return await outcome_of(body, **(emulator_options or {}))


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


async def test_call_form_still_runs_with_right_arguments_when_opted_in():
    async def body(step):
        return [await step.do("a", _callback), await step.do("b", None, _callback), await step.do("c", {}, _callback)]

    assert await outcome_of(body, step_call_form=True) is None


async def test_decorator_concurrent_must_not_be_a_callback():
    error = await decorated_step_error("x", concurrent=_callback)
    assert isinstance(error, TypeError)
    assert "concurrent must be True or False" in str(error)


@pytest.mark.parametrize("concurrent", WRONG, ids=WRONG_IDS)
async def test_decorator_concurrent_is_read_by_truthiness_as_cloudflares_sdk_does(concurrent):
    assert await decorated_step_error("x", concurrent=concurrent) is None


@pytest.mark.parametrize("func", WRONG, ids=WRONG_IDS)
async def test_decorator_must_decorate_a_function(func):
    async def body(step):
        return step.do("x")(func)

    error = await outcome_of(body)
    assert isinstance(error, TypeError)
    assert "@step.do(...) must decorate a function" in str(error)


@pytest.mark.parametrize("name", [[], {}, b"x", object(), 42], ids=["list", "dict", "bytes", "object", "int"])
async def test_decorator_with_a_name_that_is_not_text_fails_with_cloudflares_error(name):
    error = await decorated_step_error(name)
    assert isinstance(error, WorkflowFatalError)
    assert "exceeds max length (256 chars) or invalid characters found" in str(error)


async def test_unknown_keyword_argument_is_named_with_the_allowed_ones():
    error = await decorated_step_error("x", confg={})
    assert isinstance(error, TypeError)
    assert str(error).startswith("_WorkflowStepWrapper._do_implicit() got an unexpected keyword argument 'confg'")
    assert "step.do takes name, concurrent, config" in str(error)


@pytest.mark.parametrize("depends", [42, "a", b"x", object()], ids=["int", "str", "bytes", "object"])
async def test_legacy_depends_must_be_a_list(depends):
    error = await decorated_step_error("x", depends=depends, emulator_options=LEGACY)
    assert isinstance(error, TypeError)
    assert "depends must be a list of functions decorated with step.do" in str(error)


async def test_legacy_step_do_without_a_name_says_so():
    error = await decorated_step_error(emulator_options=LEGACY)
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


# -- bindings and instances ---------------------------------------------------------------------


class Echo(WorkflowEntrypoint):
    async def run(self, event, step):
        return event["payload"]


class Waiter(WorkflowEntrypoint):
    async def run(self, event, step):
        await step.do("first")(_callback)()
        received = await step.wait_for_event("wait", "go", timeout="1 hour")
        return received["payload"]


def echo_emulator():
    emu = Emulator(clock=VirtualClock(START_MS))
    emu.add_workflow("echo", Echo, binding="ECHO")
    emu.add_workflow("waiter", Waiter, binding="WAITER")
    return emu


async def assert_others_unaffected(emu):
    """A fresh instance still runs to completion after the refused calls."""
    other = await emu.env.ECHO.create(id="bystander", params={"ok": True})
    await emu.run_until_idle()
    assert await other.status() == {"status": "complete", "output": {"ok": True}}


@pytest.mark.parametrize(
    "params",
    [(1, 2), {"nested": (1, 2)}, [bytearray(b"x")]],
    ids=["tuple", "nested-tuple", "bytearray"],
)
async def test_create_with_params_that_cannot_cross_rpc_is_a_workflow_error(params):
    emu = echo_emulator()
    async with emu:
        with pytest.raises(WorkflowError) as info:
            await emu.env.ECHO.create(id="t1", params=params)
        assert info.value.code == "instance.invalid_params"
        assert "cannot be sent over RPC" in str(info.value)
        if "tuple" in repr(params):
            assert "use a list instead of a tuple" in str(info.value)
        with pytest.raises(WorkflowError) as batch_info:
            await emu.env.ECHO.create_batch([{"id": "t2", "params": params}])
        assert batch_info.value.code == "instance.invalid_params"
        with pytest.raises(WorkflowError, match="instance.not_found"):
            await emu.env.ECHO.get("t1")
        await assert_others_unaffected(emu)


async def test_send_event_with_a_tuple_payload_is_a_workflow_error():
    emu = echo_emulator()
    async with emu:
        inst = await emu.env.WAITER.create(id="w1")
        await emu.advance(0)
        with pytest.raises(WorkflowError) as info:
            await inst.send_event(type="go", payload=(1, 2))
        assert info.value.code == "workflow.invalid_event_payload"
        assert "use a list instead of a tuple" in str(info.value)
        await inst.send_event(type="go", payload=[1, 2])
        await emu.run_until_idle()
        assert await inst.status() == {"status": "complete", "output": [1, 2]}


@pytest.mark.parametrize("depth", [2_000, 10_000])
async def test_params_nested_too_deeply_are_a_workflow_error_not_a_recursion_error(depth):
    emu = echo_emulator()
    async with emu:
        with pytest.raises(WorkflowError) as info:
            await emu.env.ECHO.create(id="deep", params=deeply_nested(depth))
        assert info.value.code == "instance.invalid_params"
        assert "nested too deeply" in str(info.value)
        inst = await emu.env.WAITER.create(id="w1")
        await emu.advance(0)
        with pytest.raises(WorkflowError) as event_info:
            await inst.send_event(type="go", payload=deeply_nested(depth))
        assert event_info.value.code == "workflow.invalid_event_payload"
        await assert_others_unaffected(emu)


# -- event types: one rule for send_event, wait_for_event and mock_event -------------------------

BAD_EVENT_TYPES = ["a b", "a.b", "-a", "", "x" * 101, "\ud800", "a\x00b", "ok\n"]
BAD_EVENT_IDS = ["space", "dot", "leading-dash", "empty", "too-long", "surrogate", "nul", "newline"]


@pytest.mark.parametrize("event_type", BAD_EVENT_TYPES, ids=BAD_EVENT_IDS)
async def test_mock_event_refuses_an_event_type_send_event_refuses(event_type):
    emu = echo_emulator()
    async with emu:
        inst = await emu.env.WAITER.create(id="w1")
        await emu.advance(0)
        with pytest.raises(WorkflowError) as sent:
            await inst.send_event(type=event_type, payload=1)
        async with introspect_workflow_instance(emu.env.WAITER, "w2") as intro:
            with pytest.raises(WorkflowError) as mocked:
                await intro.modify(lambda m: m.mock_event({"type": event_type, "payload": 1}))
        assert sent.value.code == mocked.value.code == "workflow.invalid_event_type"
        assert str(sent.value) == str(mocked.value)


@pytest.mark.parametrize("event_type", BAD_EVENT_TYPES, ids=BAD_EVENT_IDS)
async def test_wait_for_event_refuses_the_same_event_types(event_type):
    async def body(step):
        return await step.wait_for_event("wait", event_type, timeout="1 second")

    error = await outcome_of(body)
    assert isinstance(error, WorkflowFatalError)
    assert "Event type" in str(error) and "is invalid" in str(error)


async def test_modify_all_refuses_a_bad_event_type_when_recorded_not_at_each_create():
    emu = echo_emulator()
    async with emu:
        async with introspect_workflow(emu.env.WAITER) as intro:
            with pytest.raises(WorkflowError, match="invalid_event_type"):
                await intro.modify_all(lambda m: m.mock_event({"type": "a b", "payload": 1}))
            await intro.modify_all(lambda m: m.mock_event({"type": "go", "payload": "mocked"}))
            inst = await emu.env.WAITER.create(id="w1")
            await emu.run_until_idle()
            assert await inst.status() == {"status": "complete", "output": "mocked"}


# -- modifier methods ---------------------------------------------------------------------------

def shown(value):
    """A short, stable test id for a value (object() reprs hold addresses, which differ between runs)."""
    if type(value) is object:
        return "object()"
    if isinstance(value, list) and value and isinstance(value[0], list):
        return "deeply-nested"
    text = repr(value)
    return text if len(text) <= 24 else f"{text[:12]}...({len(text)} chars)"


SELECTOR = 'a step selector is a name, {"name": str, "index": int} or a StepSelector'
STEPS_LIST = "steps must be a list of step selectors"
TIMES = "times must be a positive int or None"
MODIFIER_CASES = [
    *[(f"disable_sleeps({shown(v)})", lambda m, v=v: m.disable_sleeps(v), TypeError, STEPS_LIST) for v in (42, "s", b"x", object())],
    *[(f"disable_retry_delays({shown(v)})", lambda m, v=v: m.disable_retry_delays(v), TypeError, STEPS_LIST) for v in (42, "s", {"name": "s"})],
    ("disable_sleeps([42])", lambda m: m.disable_sleeps([42]), TypeError, SELECTOR),
    *[(f"mock_step_result({shown(v)})", lambda m, v=v: m.mock_step_result(v, 1), TypeError, SELECTOR) for v in (None, 42, b"x", object())],
    ("mock_step_result(index=0.5)", lambda m: m.mock_step_result({"name": "s", "index": 0.5}, 1), ValueError, "1-based"),
    ("mock_step_result(name='')", lambda m: m.mock_step_result("", 1), TypeError, "non-empty str name"),
    ("mock_step_result(result=tuple)", lambda m: m.mock_step_result("s", (1, 2)), TypeError, "cannot be sent over RPC"),
    ("mock_step_result(result=bytes)", lambda m: m.mock_step_result("s", b"x"), TypeError, "not serialisable"),
    ("mock_step_result(result=deep)", lambda m: m.mock_step_result("s", deeply_nested(10_000)), TypeError, "nested too deeply"),
    *[(f"mock_step_error(error={shown(v)})", lambda m, v=v: m.mock_step_error("s", v), TypeError, "needs an exception") for v in (None, 42, b"x")],
    *[(f"mock_step_error(times={shown(v)})", lambda m, v=v: m.mock_step_error("s", ValueError("x"), v), TypeError, TIMES) for v in ("2", [], 1.5, True)],
    *[(f"force_step_timeout(times={shown(v)})", lambda m, v=v: m.force_step_timeout("s", v), ValueError, TIMES) for v in (0, -1)],
    *[(f"force_event_timeout({shown(v)})", lambda m, v=v: m.force_event_timeout(v), TypeError, SELECTOR) for v in (None, 42, b"x")],
    *[(f"mock_event({shown(v)})", lambda m, v=v: m.mock_event(v), TypeError, "mock_event needs") for v in (None, 42, [], {"payload": 1})],
    ("mock_event(unknown key)", lambda m: m.mock_event({"type": "t", "payloda": 1}), TypeError, "unknown key(s) 'payloda'"),
    *[(f"mock_event(type={shown(v)})", lambda m, v=v: m.mock_event({"type": v}), WorkflowError, "Event type") for v in (None, 42, b"x")],
    ("mock_event(payload=tuple)", lambda m: m.mock_event({"type": "t", "payload": (1,)}), WorkflowError, "use a list instead of a tuple"),
]


@pytest.mark.parametrize(("call", "error", "text"), [case[1:] for case in MODIFIER_CASES], ids=[case[0] for case in MODIFIER_CASES])
async def test_modifier_methods_refuse_wrong_arguments_with_a_specific_error(call, error, text):
    emu = echo_emulator()
    async with emu:
        async with introspect_workflow_instance(emu.env.ECHO, "m1") as intro:
            with pytest.raises(error) as info:
                await intro.modify(call)
            assert text in str(info.value)
        async with introspect_workflow(emu.env.ECHO) as all_intro:  # modify_all refuses it at once too
            with pytest.raises(error) as recorded:
                await all_intro.modify_all(call)
            assert text in str(recorded.value)
            await assert_others_unaffected(emu)  # and the next create is not affected


# -- add_workflow and from_config ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("binding", "problem"),
    [
        ("class", 'binding name "class" is a Python keyword, so env.class cannot be written'),
        ("None", 'binding name "None" is a Python keyword'),
        ("MY-WF", 'binding name "MY-WF" is not a valid Python identifier'),
        ("1ST", 'binding name "1ST" is not a valid Python identifier'),
        ("", 'binding name "" is not a valid Python identifier'),
    ],
    ids=["class", "None", "dash", "digit", "empty"],
)
def test_binding_names_follow_one_rule_in_add_workflow_and_the_config(tmp_path, binding, problem):
    emu = Emulator()
    with pytest.raises(ConfigError) as added:
        emu.add_workflow("echo", Echo, binding=binding)
    config = write_project(tmp_path)
    config.write_text(config.read_text().replace('"binding": "ECHO"', f'"binding": "{binding}"'))
    with pytest.raises(ConfigError) as loaded:
        Emulator.from_config(config)
    assert problem in str(added.value) and problem in str(loaded.value)
    fix = "not starting with a digit and not a Python keyword"
    assert fix in str(added.value) and fix in str(loaded.value)
    assert "workflows[0].binding" in str(loaded.value)
    assert list(emu.env) == []


def test_add_workflow_derived_binding_that_breaks_the_rule_says_to_pass_binding():
    with pytest.raises(ConfigError, match=r"made from the workflow name; pass binding="):
        Emulator().add_workflow("1-flow", Echo)


@pytest.mark.parametrize(
    ("options", "text"),
    [
        ({"binding": 42}, "binding must be a str"),
        ({"binding": b"X"}, "binding must be a str"),
        ({"binding": []}, "binding must be a str"),
        ({"compatibility_flags": "python_workers"}, "compatibility_flags must be a list of str"),
        ({"compatibility_flags": 42}, "compatibility_flags must be a list of str"),
        ({"compatibility_flags": [b"x"]}, "compatibility_flags must be a list of str"),
        ({"step_limit": "10"}, "limits.steps must be a positive integer"),
        ({"step_limit": 0}, "limits.steps must be a positive integer"),
        ({"compatibility_date": 20260101}, "compatibility_date must be a date"),
    ],
    ids=["binding-int", "binding-bytes", "binding-list", "flags-str", "flags-int", "flags-bytes",
         "steps-str", "steps-zero", "date-int"],
)
def test_add_workflow_options_of_the_wrong_type_are_config_errors(options, text):
    emu = Emulator()
    with pytest.raises(ConfigError, match=text):
        emu.add_workflow("echo", Echo, **options)
    assert list(emu.env) == []
    emu.add_workflow("echo", Echo)  # the name was not taken by the refused call


@pytest.mark.parametrize("name", [*WRONG, *ODD_TEXT, "a" * 65, "-x", "a b"], ids=[*WRONG_IDS, "surrogate", "nul", "long", "dash", "space"])
def test_add_workflow_name_is_checked(name):
    with pytest.raises(ConfigError, match="Workflow names must be 1-64 characters long"):
        Emulator().add_workflow(name, Echo)


@pytest.mark.parametrize("cls", [*WRONG, "Echo", Echo(None, None)], ids=[*WRONG_IDS, "str", "instance"])
def test_add_workflow_class_is_checked(cls):
    with pytest.raises(ConfigError, match=r"is not a class with a run\(self, event, step\) method"):
        Emulator().add_workflow("echo", cls)


@pytest.mark.parametrize("path", [42, b"wrangler.jsonc", [], object()], ids=["int", "bytes", "list", "object"])
def test_from_config_path_of_the_wrong_type_is_named(path):
    with pytest.raises(TypeError, match="from_config: path must be a wrangler config file or a directory"):
        Emulator.from_config(path)


@pytest.mark.parametrize("env", [42, b"x", []], ids=["int", "bytes", "list"])
def test_from_config_env_of_the_wrong_type_is_named(tmp_path, env):
    with pytest.raises(TypeError, match="from_config: env must be the name of an environment"):
        Emulator.from_config(write_project(tmp_path), env=env)


@pytest.mark.parametrize("path", ["nowhere/\x00/wrangler.jsonc", "nowhere/\ud800.jsonc"], ids=["nul", "surrogate"])
def test_from_config_odd_path_is_a_config_error(path):
    with pytest.raises(ConfigError, match="config file not found"):
        Emulator.from_config(path)


async def test_from_config_accepts_var_names_wrangler_accepts(tmp_path):
    config = write_project(tmp_path, extra=', "vars": {"my-var": 1, "class": 2, "PLAIN": 3}')
    emu = Emulator.from_config(config, clock="virtual", vars={"PLAIN": "mine"})
    assert (emu.env["my-var"], emu.env["class"], emu.env.PLAIN) == (1, 2, "mine")
    async with emu:
        inst = await emu.env.ECHO.create(id="e1", params=1)
        await emu.run_until_idle()
        assert (await inst.status())["output"] == 1


# -- the sweep: binding and instance methods ----------------------------------------------------

NOT_A_DICT = "expected a dict of options"
BINDING_CASES = [
    *[(f"create(id={shown(v)})", lambda w, v=v: w.create(id=v), WorkflowError, "instance.invalid_id")
      for v in (42, [], b"x", object(), *ODD_TEXT, "", "-x", "x" * 101, "a b", "ok\n")],
    *[(f"create({shown(v)})", lambda w, v=v: w.create(v), TypeError, NOT_A_DICT) for v in (42, [], b"x", object(), "id")],
    ("create(unknown option)", lambda w: w.create(id="x", param={}), TypeError, "unknown option(s) param"),
    ("create(dict and kwargs)", lambda w: w.create({"id": "x"}, params={}), TypeError, "not both"),
    *[(f"create(params={shown(v)})", lambda w, v=v: w.create(params=v), WorkflowError, "instance.invalid_params")
      for v in (b"x", object(), {1, 2}, (1,), deeply_nested(10_000), {"k": object()})],
    *[(f"create_batch({shown(v)})", lambda w, v=v: w.create_batch(v), TypeError, "create_batch takes a list")
      for v in (None, 42, b"x", object(), "abc", {"id": "x"})],
    *[(f"create_batch([{shown(v)}])", lambda w, v=v: w.create_batch([v]), WorkflowError, "each createBatch item must be a dict")
      for v in (42, [], b"x", object(), "x")],
    ("create_batch([])", lambda w: w.create_batch([]), WorkflowError, "at least 1 instance"),
    ("create_batch(101)", lambda w: w.create_batch([{}] * 101), WorkflowError, "100 instances at a time"),
    ("create_batch(unknown option)", lambda w: w.create_batch([{"idd": "x"}]), WorkflowError, "unknown createBatch option(s): idd"),
    *[(f"get({shown(v)})", lambda w, v=v: w.get(v), WorkflowError, "instance ids are str") for v in (None, 42, [], b"x", object())],
    *[(f"get({shown(v)})", lambda w, v=v: w.get(v), WorkflowError, "instance.not_found") for v in (*ODD_TEXT, "", "x" * 1000)],
]


@pytest.mark.parametrize(("call", "error", "text"), [c[1:] for c in BINDING_CASES], ids=[c[0] for c in BINDING_CASES])
async def test_binding_methods_refuse_wrong_arguments(call, error, text):
    emu = echo_emulator()
    async with emu:
        with pytest.raises(error) as info:
            await call(emu.env.ECHO)
        assert text in str(info.value)
        str(info.value).encode("utf-8")  # printable: no lone surrogate in the message
        await assert_others_unaffected(emu)


INSTANCE_CASES = [
    *[(f"send_event({shown(v)})", lambda i, v=v: i.send_event(v), TypeError, NOT_A_DICT) for v in (42, [], b"x", object(), "go")],
    ("send_event(no type)", lambda i: i.send_event(payload=1), TypeError, 'needs a "type"'),
    ("send_event(unknown key)", lambda i: i.send_event(type="go", payloda=1), TypeError, "unknown option(s) payloda"),
    *[(f"send_event(type={shown(v)})", lambda i, v=v: i.send_event(type=v), WorkflowError, "workflow.invalid_event_type")
      for v in (None, 42, [], b"x", object(), *ODD_TEXT)],
    *[(f"send_event(payload={shown(v)})", lambda i, v=v: i.send_event(type="go", payload=v), WorkflowError, "workflow.invalid_event_payload")
      for v in (b"x", object(), (1,), deeply_nested(10_000), "x" * (1024 * 1024 + 1))],
    *[(f"terminate({shown(v)})", lambda i, v=v: i.terminate(v), TypeError, NOT_A_DICT) for v in (42, [], b"x", object())],
    ("terminate(unknown key)", lambda i: i.terminate({"rollbak": True}), TypeError, "unknown option(s) rollbak"),
    *[(f"restart({shown(v)})", lambda i, v=v: i.restart(v), TypeError, NOT_A_DICT) for v in (42, [], b"x", object())],
    ("restart(unknown key)", lambda i: i.restart({"form": {"name": "first"}}), TypeError, "unknown option(s) form"),
    *[(f"restart(from={shown(v)})", lambda i, v=v: i.restart({"from": v}), WorkflowError, 'restart "from" must be a dict')
      for v in (42, [], b"x", object(), "first")],
    *[(f"restart(from.name={shown(v)})", lambda i, v=v: i.restart({"from": {"name": v}}), WorkflowError, "instance.cannot_restart")
      for v in (None, 42, *ODD_TEXT)],
    *[(f"restart(from.count={shown(v)})", lambda i, v=v: i.restart({"from": {"name": "first", "count": v}}), WorkflowError, 'a positive int "count"')
      for v in (None, "1", 0, 1.0, True)],
    ("restart(from.type)", lambda i: i.restart({"from": {"name": "first", "type": "step"}}), WorkflowError, "waitForEvent"),
    # issue 14: unknown keys inside "from" were ignored
    *[(f"restart(from with unknown {keys})", lambda i, v=v: i.restart({"from": v}), WorkflowError,
       f"instance.cannot_restart) restart \"from\" has unknown key(s) {keys}; the allowed keys are name, count, type")
      for v, keys in (({"name": "first", "cout": 2}, "'cout'"), ({"name": "first", "step": "x", "kind": "do"}, "'kind', 'step'"),
                      ({"nmae": "first"}, "'nmae'"))],
]


@pytest.mark.parametrize(("call", "error", "text"), [c[1:] for c in INSTANCE_CASES], ids=[c[0] for c in INSTANCE_CASES])
async def test_instance_methods_refuse_wrong_arguments_and_leave_the_instance_as_it_was(call, error, text):
    emu = echo_emulator()
    async with emu:
        inst = await emu.env.WAITER.create(id="w1")
        await emu.advance(0)
        before = await inst.describe()
        with pytest.raises(error) as info:
            await call(inst)
        assert text in str(info.value)
        str(info.value).encode("utf-8")
        assert await inst.describe() == before
        await inst.send_event(type="go", payload="after")
        await emu.run_until_idle()
        assert await inst.status() == {"status": "complete", "output": "after"}
        await assert_others_unaffected(emu)


# -- the sweep: step.sleep, sleep_until and wait_for_event --------------------------------------

STEP_CASES = [
    *[(f"sleep({shown(v)}, 1)", lambda s, v=v: s.sleep(v, 1), "The name of a sleep must be a str of valid text")
      for v in (None, 42, [], b"x", object(), "\ud800")],
    *[(f"sleep('s', {shown(v)})", lambda s, v=v: s.sleep("s", v), 'sleep duration for "s"')
      for v in (None, [], b"x", object(), "\ud800", "a\x00b", "10 fortnights", float("nan"))],
    ("sleep('s', 400 days)", lambda s: s.sleep("s", "400 days"), "longer than the maximum"),
    *[(f"sleep_until({shown(v)}, later)", lambda s, v=v: s.sleep_until(v, START_MS + 1000), "The name of a sleep must be a str")
      for v in (None, 42, b"x", "\ud800")],
    *[(f"sleep_until('s', {shown(v)})", lambda s, v=v: s.sleep_until("s", v), "pass a datetime (naive means UTC) or a finite number of epoch milliseconds")
      for v in (None, [], b"x", object(), "2026-01-02", True)],
    *[(f"wait_for_event({shown(v)}, 'go')", lambda s, v=v: s.wait_for_event(v, "go"), "The name of a wait_for_event must be a str")
      for v in (None, 42, b"x", "\ud800")],
    *[(f"wait_for_event('w', 'go', timeout={shown(v)})", lambda s, v=v: s.wait_for_event("w", "go", timeout=v), 'timeout of the event wait "w"')
      for v in ([], b"x", object(), "soon", 10, "400 days")],
]


@pytest.mark.parametrize(("call", "text"), [c[1:] for c in STEP_CASES], ids=[c[0] for c in STEP_CASES])
async def test_step_methods_refuse_wrong_arguments_with_cloudflares_fatal_error(call, text):
    async def body(step):
        return await call(step)

    error = await outcome_of(body)
    assert isinstance(error, WorkflowFatalError)
    assert text in str(error)


@pytest.mark.parametrize(
    "call",
    [lambda s: s.sleep("s"), lambda s: s.sleep("s", 1, 2), lambda s: s.sleep(name="s", duration=1)],
    ids=["one-arg", "three-args", "keywords"],
)
async def test_sleep_with_the_wrong_number_of_arguments_is_a_type_error(call):
    async def body(step):
        return await call(step)

    error = await outcome_of(body)
    assert isinstance(error, TypeError)
    assert "step.sleep takes exactly two positional arguments (name, duration)" in str(error)
