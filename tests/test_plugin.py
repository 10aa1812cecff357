"""The pytest plugin (API §4): test files written as a user would, run with ``pytester``."""

from __future__ import annotations

import hypothesis  # noqa: F401 - kept loaded: in-process runs would otherwise re-import it each time
import pytest

pytest_plugins = ["pytester"]

# Workflows the user test files import (written as ``flows.py`` next to them).
FLOWS = '''
from cfwf_emulator import WorkflowEntrypoint


class Echo(WorkflowEntrypoint):
    async def run(self, event, step):
        @step.do()
        async def echo():
            return event["payload"]

        return await echo()


class Order(WorkflowEntrypoint):
    async def run(self, event, step):
        @step.do()
        async def charge():
            return {"charged": "for real"}

        await charge()

        @step.do(config={"retries": {"limit": 2, "delay": "10 seconds"}})
        async def reserve():
            return "reserved"

        await reserve()
        await step.sleep("nap", "1 hour")
        approval = await step.wait_for_event("approval", "approved", timeout="1 day")
        return {"approved": approval["payload"]}


class Clock(WorkflowEntrypoint):
    async def run(self, event, step):
        await step.sleep("wait a day", "1 day")

        @step.do()
        async def read_time():
            import time

            return time.time() * 1000

        return await read_time()
'''

# A conftest recording every emulator the plugin creates, through the plugin's hook.
TRACKING_CONFTEST = '''
import pytest

CREATED = []


@pytest.hookimpl(optionalhook=True)
def pytest_cfwf_configure(emulator, request):
    CREATED.append(emulator)


@pytest.fixture
def created():
    return CREATED
'''

# Runs last in a file: every emulator created by earlier tests was closed in its loop.
ALL_CLOSED = '''

def test_zz_every_emulator_was_closed(created):
    assert created
    assert [e for e in created if e._loop is not None] == []
'''

ASYNC_TESTS = '''
import pytest

from flows import Echo


async def echo(cfwf, instance_id):
    cfwf.add_workflow("echo", Echo, binding="ECHO")
    inst = await cfwf.env.ECHO.create(id=instance_id, params={"x": 1})
    await cfwf.run_until_idle()
    return await inst.status()


async def test_unmarked(cfwf):
    assert await echo(cfwf, "u-1") == {"status": "complete", "output": {"x": 1}}
    assert cfwf.clock.virtual


@pytest.mark.asyncio
async def test_marked_asyncio(cfwf):
    assert (await echo(cfwf, "a-1"))["status"] == "complete"


async def test_env_and_introspection(cfwf, cfwf_env, introspect_workflow_instance):
    cfwf.add_workflow("echo", Echo, binding="ECHO")
    async with introspect_workflow_instance(cfwf_env.ECHO, "i-1") as instance:
        await instance.modify(lambda m: m.mock_step_result("echo", "mocked"))
        await cfwf_env.ECHO.create(id="i-1")
        await instance.wait_for_status("complete")
        assert await instance.get_output() == "mocked"


def test_sync(cfwf):
    cfwf.add_workflow("echo", Echo, binding="ECHO")

    async def go():
        inst = await cfwf.env.ECHO.create(id="s-1", params=5)
        await cfwf.run_until_idle()
        return await inst.status()

    assert cfwf.run(go())["output"] == 5
''' + ALL_CLOSED

ASYNCIO_INI = ["-o", "asyncio_default_fixture_loop_scope=function"]

# A minimal Cloudflare project, as `wrangler init` + Python Workers would lay it out.
WRANGLER = '''// a Python Worker with one workflow
{
  "name": "greeter",
  "main": "src/entry.py",
  "compatibility_date": "2026-03-01",
  "compatibility_flags": ["python_workers"],
  "vars": { "GREETING": "%s", },
  "workflows": [
    { "name": "greet-workflow", "binding": "GREETER", "class_name": "Greeter", },
  ],
}
'''
ENTRY = '''from workers import WorkflowEntrypoint


class Greeter(WorkflowEntrypoint):
    async def run(self, event, step):
        @step.do()
        async def greet():
            return f"{self.env.GREETING}, {event['payload']['name']}"

        return await greet()
'''


def write_project(pytester: pytest.Pytester, directory: str, greeting: str) -> None:
    root = pytester.path / directory
    (root / "src").mkdir(parents=True)
    (root / "wrangler.jsonc").write_text(WRANGLER % greeting)
    (root / "src" / "entry.py").write_text(ENTRY)


GREET_TEST = '''
import pytest


async def greet(env):
    inst = await env.GREETER.create(id="g-1", params={"name": "Ada"})
    return inst


async def test_greets(cfwf, cfwf_env):
    inst = await greet(cfwf_env)
    await cfwf.run_until_idle()
    assert (await inst.status())["output"] == "%s, Ada"
'''


@pytest.fixture
def user_project(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makepyfile(flows=FLOWS)
    pytester.makeconftest(TRACKING_CONFTEST)
    return pytester


# -- running async tests ------------------------------------------------------------------------


def test_async_tests_run_without_any_async_plugin(user_project: pytest.Pytester) -> None:
    user_project.makepyfile(test_user=ASYNC_TESTS)
    result = user_project.runpytest("-p", "no:asyncio", "-p", "no:anyio", "-W", "ignore::pytest.PytestUnknownMarkWarning")
    result.assert_outcomes(passed=5)


@pytest.mark.parametrize("mode", ["strict", "auto"])
def test_async_tests_with_pytest_asyncio(user_project: pytest.Pytester, mode: str) -> None:
    user_project.makepyfile(test_user=ASYNC_TESTS)
    result = user_project.runpytest_subprocess("-o", f"asyncio_mode={mode}", *ASYNCIO_INI, "-p", "no:anyio")
    result.assert_outcomes(passed=5, warnings=0)


def test_anyio_tests_are_anyio_s(user_project: pytest.Pytester) -> None:
    user_project.makepyfile(
        test_user='''
import anyio
import pytest

from flows import Echo


@pytest.fixture
def anyio_backend():
    return "asyncio"


@pytest.mark.anyio
async def test_with_anyio(cfwf):
    cfwf.add_workflow("echo", Echo, binding="ECHO")
    inst = await cfwf.env.ECHO.create(id="n-1", params=1)
    await anyio.sleep(0)
    await cfwf.run_until_idle()
    assert (await inst.status())["output"] == 1
''' + ALL_CLOSED
    )
    result = user_project.runpytest("-p", "no:asyncio")
    result.assert_outcomes(passed=2, warnings=0)


def test_xdist(user_project: pytest.Pytester) -> None:
    user_project.makepyfile(test_user=ASYNC_TESTS.replace(ALL_CLOSED, ""))
    result = user_project.runpytest_subprocess("-n", "2", *ASYNCIO_INI)
    result.assert_outcomes(passed=4)
    result.stdout.fnmatch_lines(["*2 workers*"])


def test_async_runner_options(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_user='''
import asyncio


async def test_slow(cfwf):
    await asyncio.Event().wait()  # never ends: only the 0.2 s cfwf_async_timeout stops it
'''
    )
    result = pytester.runpytest("-p", "no:asyncio", "-o", "cfwf_async_timeout=0.2")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*did not finish within 0.2 s (ini option cfwf_async_timeout)*"])
    result = pytester.runpytest("-p", "no:asyncio", "-o", "cfwf_asyncio=false")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*async def functions are not natively supported*"])


# -- markers, options, config loading -------------------------------------------------------------


def test_marker_and_clock_option(user_project: pytest.Pytester) -> None:
    user_project.makepyfile(
        test_user='''
import pytest

pytestmark = pytest.mark.cfwf(limits="free")


@pytest.mark.cfwf(clock="virtual", storage="memory", compatibility_date="2025-01-01")
def test_marked(cfwf):
    assert cfwf.clock.virtual
    assert cfwf.limits.steps < 10_000


def test_option_clock(cfwf):
    assert not cfwf.clock.virtual


def test_factory_overrides(cfwf_factory):
    assert cfwf_factory(clock="virtual").clock.virtual
    assert not cfwf_factory().clock.virtual
'''
    )
    result = user_project.runpytest("-p", "no:asyncio", "--strict-markers", "--cfwf-clock", "real")
    result.assert_outcomes(passed=3)
    result = user_project.runpytest("-p", "no:asyncio", "--markers")
    result.stdout.fnmatch_lines(["@pytest.mark.cfwf(config=None, clock=None, *"])


def test_config_from_option_ini_rootdir_and_marker(pytester: pytest.Pytester) -> None:
    write_project(pytester, "app", "hello")
    write_project(pytester, "other", "hi")
    pytester.makepyfile(test_greet=GREET_TEST % "hello")
    result = pytester.runpytest("-p", "no:asyncio", "--cfwf-config", "app/wrangler.jsonc")
    result.assert_outcomes(passed=1)

    pytester.makeini("[pytest]\ncfwf_config = app\n")
    result = pytester.runpytest("-p", "no:asyncio")
    result.assert_outcomes(passed=1)

    pytester.makepyfile(
        test_greet=(GREET_TEST % "hi").replace("async def test_greets", '@pytest.mark.cfwf(config="other")\nasync def test_greets')
        + '''

@pytest.mark.cfwf(config=False)
def test_empty(cfwf):
    assert list(cfwf.env) == []
'''
    )
    result = pytester.runpytest("-p", "no:asyncio")
    result.assert_outcomes(passed=2)


def test_config_in_rootdir_is_found(pytester: pytest.Pytester) -> None:
    write_project(pytester, ".", "hey")
    pytester.makepyfile(test_greet=GREET_TEST % "hey")
    pytester.runpytest("-p", "no:asyncio").assert_outcomes(passed=1)


def test_config_above_the_rootdir_is_found(pytester: pytest.Pytester) -> None:
    write_project(pytester, ".", "hey")
    tests = pytester.mkdir("tests")
    (tests / "pytest.ini").write_text("[pytest]\n")  # makes tests/ the rootdir
    (tests / "test_greet.py").write_text(GREET_TEST % "hey")
    result = pytester.runpytest("-p", "no:asyncio", "tests")
    result.stdout.fnmatch_lines([f"rootdir: {tests}*"])
    result.assert_outcomes(passed=1)


def test_no_config_anywhere_says_where_the_plugin_looked(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_greet=GREET_TEST % "hey")
    result = pytester.runpytest("-p", "no:asyncio")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([
        "*env has no binding or var named 'GREETER'; known: none yet (the cfwf fixture found no wrangler "
        f"config in the rootdir {pytester.path} or any directory above it (looked for wrangler.json, "
        "wrangler.jsonc, wrangler.toml)*--cfwf-config PATH*",
    ])


def test_bad_config_errors_in_setup(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_bad="def test_bad(cfwf):\n    pass\n")
    result = pytester.runpytest("-p", "no:asyncio", "--cfwf-config", "missing/wrangler.jsonc")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*ConfigError*config file not found*"])


# -- hooks ----------------------------------------------------------------------------------------

HOOK_CONFTEST = '''
import pytest

from flows import Echo


@pytest.hookimpl(optionalhook=True)
def pytest_cfwf_configure(emulator, request):
    emulator.add_workflow("echo", Echo, binding="ECHO")
    request.node.user_properties.append(("configured", request.node.name))
'''


def test_configure_hook_and_optionalhook(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(flows=FLOWS)
    pytester.makeconftest(HOOK_CONFTEST)
    pytester.makepyfile(
        test_user='''
async def test_hook_added_the_workflow(cfwf, request):
    inst = await cfwf.env.ECHO.create(params="hi")
    await cfwf.run_until_idle()
    assert (await inst.status())["output"] == "hi"
    assert ("configured", "test_hook_added_the_workflow") in request.node.user_properties


def test_factory_calls_the_hook(cfwf_factory):
    assert "ECHO" in cfwf_factory().env
'''
    )
    pytester.runpytest("-p", "no:asyncio").assert_outcomes(passed=2)
    pytester.makepyfile(test_user="def test_plain():\n    pass\n")
    result = pytester.runpytest("-p", "no:cfwf", "-p", "no:asyncio")
    result.assert_outcomes(passed=1)
    result.stdout.no_fnmatch_line("*INTERNALERROR*")


# -- failure report -------------------------------------------------------------------------------


def test_failure_report_shows_the_timeline(user_project: pytest.Pytester) -> None:
    user_project.makepyfile(
        test_user='''
from flows import Order


async def test_order(cfwf, introspect_workflow_instance):
    cfwf.add_workflow("order", Order, binding="ORDER")
    instance = introspect_workflow_instance(cfwf.env.ORDER, "o-1")

    async def setup(m):
        m.mock_step_result("charge", {"charged": "mocked"})
        m.mock_step_error("reserve", {"name": "Error", "message": "boom"}, times=2)
        m.disable_sleeps()
        m.mock_event({"type": "approved", "payload": True})

    await instance.modify(setup)
    await cfwf.env.ORDER.create(id="o-1", params={"order": 7})
    await instance.wait_for_status("complete")
    assert await instance.get_output() == {"approved": False}


def test_passing(cfwf):
    pass
'''
    )
    result = user_project.runpytest("-p", "no:asyncio")
    result.assert_outcomes(passed=1, failed=1)
    expected = [
        "*- cfwf instances -*",
        "emulator 1 (virtual clock, now *Z)",
        'order/o-1: complete  output={"approved": true}  params={"order": 7}',
        "  mocked: result of charge#1; error of reserve#1 x2; event 'approved'; sleeps disabled: all",
        '  do "charge" #1  *Z -> *Z  ok  [mocked result]  output={"charged": "mocked"}',
        '  do "reserve" #1  *Z -> *Z  ok  [mocked error x2]  output="reserved"',
        "    attempt 1  *Z -> *Z  Error: boom",
        "    attempt 2  *Z -> *Z  Error: boom",
        "    attempt 3  *Z -> *Z  ok",
        '  sleep "nap" #1  *  ok  [mocked: sleep disabled]',
        '  waitForEvent "approval" #1  *  ok  [mocked event]  output=true',
    ]
    result.stdout.fnmatch_lines([line.replace("[", "[[]") for line in expected], consecutive=True)
    assert result.stdout.str().count("cfwf instances") == 1


# -- hypothesis -----------------------------------------------------------------------------------

HYPOTHESIS_TESTS = '''
import pytest
from hypothesis import given, settings, strategies as st

from flows import Echo

EXAMPLES = []


@settings(max_examples=15, deadline=None)
@given(n=st.integers(0, 1000))
async def test_async_given(cfwf_factory, n):
    emu = cfwf_factory(config=False)
    emu.add_workflow("echo", Echo, binding="ECHO")
    inst = await emu.env.ECHO.create(id="same-id", params={"n": n})
    await emu.run_until_idle()
    assert (await inst.status())["output"] == {"n": n}
    EXAMPLES.append(emu)


@settings(max_examples=5, deadline=None)
@given(text=st.text(max_size=5))
def test_sync_given(cfwf_factory, text):
    emu = cfwf_factory()
    emu.add_workflow("echo", Echo, binding="ECHO")

    async def go():
        inst = await emu.env.ECHO.create(id="same-id", params=text)
        await emu.run_until_idle()
        return await inst.status()

    assert emu.run(go())["output"] == text


def test_one_emulator_per_example():
    assert len(set(map(id, EXAMPLES))) == len(EXAMPLES) >= 10
''' + ALL_CLOSED


@pytest.mark.parametrize(
    "args", [("-p", "no:asyncio"), ("-o", "asyncio_mode=auto", *ASYNCIO_INI)], ids=["own-runner", "asyncio-auto"]
)
def test_hypothesis_given_with_the_factory(user_project: pytest.Pytester, args: tuple[str, ...]) -> None:
    user_project.makepyfile(test_user=HYPOTHESIS_TESTS)
    result = user_project.runpytest(*args)
    result.assert_outcomes(passed=4)
    result.stdout.no_fnmatch_line("*FailedHealthCheck*")


# -- cleanup --------------------------------------------------------------------------------------


def test_introspected_instances_are_disposed_at_test_end(user_project: pytest.Pytester) -> None:
    user_project.makepyfile(
        test_user='''
import pytest

from flows import Echo

# Durable state shared by the tests of this file: only disposal frees an id.
pytestmark = pytest.mark.cfwf(storage="sqlite:///state.db")


@pytest.fixture
def echo(cfwf):
    cfwf.add_workflow("echo", Echo, binding="ECHO")
    return cfwf.env.ECHO


@pytest.mark.parametrize("round", [1, 2])
async def test_instance_introspector(echo, introspect_workflow_instance, round):
    instance = introspect_workflow_instance(echo, "o-1")
    await echo.create(id="o-1", params=round)
    await instance.wait_for_status("complete")


@pytest.mark.parametrize("round", [1, 2])
async def test_workflow_introspector(echo, introspect_workflow, round):
    captured = introspect_workflow(echo)
    await echo.create(id="w-1", params=round)
    (instance,) = await captured.get()
    await instance.wait_for_status("complete")


async def test_without_introspector_the_id_stays(echo, cfwf):
    await echo.create(id="kept", params=1)
    await cfwf.run_until_idle()


async def test_kept(echo):
    assert (await (await echo.get("kept")).status())["status"] == "complete"
''' + ALL_CLOSED
    )
    user_project.runpytest("-p", "no:asyncio").assert_outcomes(passed=7)


# -- freezegun (opt-in) ---------------------------------------------------------------------------


def test_freeze_user_time_is_opt_in(user_project: pytest.Pytester) -> None:
    user_project.makepyfile(
        test_user='''
import asyncio
import datetime
import time

import pytest

from flows import Clock

DAY = 86_400_000


def real_ms():
    return time.clock_gettime(time.CLOCK_REALTIME) * 1000


async def run_clock(cfwf):
    cfwf.add_workflow("clock", Clock, binding="CLOCK")
    inst = await cfwf.env.CLOCK.create(id="c-1")
    await cfwf.run_until_idle()
    return (await inst.status())["output"]


@pytest.mark.cfwf(freeze_user_time=True)
async def test_frozen(cfwf):
    start = cfwf.clock.now_ms()
    seen = await run_clock(cfwf)
    assert start + DAY <= seen <= start + DAY + 5_000


async def test_not_patched_by_default(cfwf):
    assert datetime.datetime.__name__ == "datetime"
    seen = await run_clock(cfwf)
    assert abs(seen - real_ms()) < 5_000


@pytest.mark.cfwf(freeze_user_time=True)
def test_dropped_emulator_releases_freezegun(cfwf):
    # asyncio.run without closing the emulator: the plugin drops it at test end.
    asyncio.run(run_clock(cfwf))
    assert abs(time.time() * 1000 - real_ms()) > DAY / 2


def test_time_is_real_again():
    assert datetime.datetime.__name__ == "datetime"
    assert abs(time.time() * 1000 - real_ms()) < 5_000
'''
    )
    user_project.runpytest("-p", "no:asyncio").assert_outcomes(passed=4)
