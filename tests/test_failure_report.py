"""The plugin's failure report reads emulators after the test: synchronously, without starting
them, also once their event loop is closed."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from pytest_cfwf.report import format_emulators

from cfwf_emulator import Emulator, VirtualClock, WorkflowEntrypoint
from cfwf_emulator.testing import introspect_workflow_instance

pytest_plugins = ["pytester"]

START_MS = 1_767_225_600_000.0  # 2026-01-01T00:00:00Z


class Greeter(WorkflowEntrypoint):
    async def run(self, event: Any, step: Any) -> str:
        @step.do("greet")
        def greet():
            return f"hello {event['payload']['name']}"

        return str(await greet())


def test_an_emulator_that_never_started_reports_nothing_and_stays_stopped() -> None:
    emu = Emulator(clock=VirtualClock(START_MS))
    emu.add_workflow("greeter", Greeter, binding="G")
    assert format_emulators([emu]) == ""
    assert emu.loop is None


def test_the_report_reads_an_emulator_whose_loop_is_closed() -> None:
    emu = Emulator(clock=VirtualClock(START_MS))
    emu.add_workflow("greeter", Greeter, binding="G")

    async def scenario() -> None:
        await emu.start()  # left running: asyncio.run closes the loop under it, as a test may
        await introspect_workflow_instance(emu.env.G, "later").modify(lambda m: m.disable_sleeps())
        await emu.env.G.create(id="g-1", params={"name": "Ada"})
        await emu.run_until_idle()

    asyncio.run(scenario())
    lines = format_emulators([emu]).splitlines()
    assert lines[0] == "emulator 1 (virtual clock, now 2026-01-01T00:00:00.000Z)"
    assert lines[1] == 'greeter/g-1: complete  output="hello Ada"  params={"name": "Ada"}'
    assert lines[2].startswith('  do "greet" #1  2026-01-01T00:00:00.000Z -> 2026-01-01T00:00:00.000Z  ok')
    assert lines[3] == "greeter/later: never created (introspected, modifications pending)"
    assert emu.loop is not None and emu.loop.is_closed()  # read as it was left: not started again


def lookup_price(sku: str) -> int:
    prices = {"apple": 3}
    return prices[sku]


class Pricing(WorkflowEntrypoint):
    async def run(self, event: Any, step: Any) -> Any:
        @step.do("issue token", config={"sensitive": "output"})
        async def issue_token() -> str:
            return "tok-secret-123"

        token = await issue_token()

        @step.do("price", config={"retries": {"limit": 1, "delay": "1 second"}})
        async def price() -> int:
            return lookup_price(event["payload"]["sku"])

        return {"token": token, "price": await price()}


def test_the_report_shows_the_traceback_of_the_failing_attempt() -> None:
    emu = Emulator(clock=VirtualClock(START_MS))
    emu.add_workflow("pricing", Pricing, binding="P")

    async def scenario() -> None:
        await emu.start()
        await emu.env.P.create(id="p-1", params={"sku": "pear"})
        await emu.run_until_idle()

    asyncio.run(scenario())
    lines = format_emulators([emu]).splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith('  do "price" #1'))
    assert lines[start + 1].endswith("KeyError: 'pear'") and lines[start + 1].startswith("    attempt 1  ")
    assert lines[start + 2].endswith("KeyError: 'pear'") and lines[start + 2].startswith("    attempt 2  ")
    trace = lines[start + 3 :]
    assert trace[0] == "      Traceback (most recent call last):"
    assert any(line.endswith(", in price") for line in trace)
    assert '          return lookup_price(event["payload"]["sku"])' in trace
    assert "          return prices[sku]" in trace
    assert trace[-1] == "      KeyError: 'pear'"
    assert sum("Traceback (most recent call last)" in line for line in lines) == 1  # the last attempt only


def test_the_report_redacts_sensitive_outputs_while_waiters_and_the_workflow_get_them() -> None:
    emu = Emulator(clock=VirtualClock(START_MS))
    emu.add_workflow("pricing", Pricing, binding="P")

    async def scenario() -> tuple[Any, Any]:
        await emu.start()
        async with introspect_workflow_instance(emu.env.P, "p-1") as instance:
            created = await emu.env.P.create(id="p-1", params={"sku": "apple"})
            token = await instance.wait_for_step_result("issue token")
            await instance.wait_for_status("complete")
            report = format_emulators([emu])  # read before the introspector disposes of it
            return token, (await created.status(), report)

    token, (status, report) = asyncio.run(scenario())
    assert token == "tok-secret-123"  # the waiter gets the real value
    assert status["output"] == {"token": "tok-secret-123", "price": 3}  # and so does the workflow
    step_line = next(line for line in report.splitlines() if line.startswith('  do "issue token" #1'))
    assert step_line.endswith("ok  output=[REDACTED]")
    price_line = next(line for line in report.splitlines() if line.startswith('  do "price" #1'))
    assert price_line.endswith("ok  output=3")
    assert report.count("tok-secret-123") == 1  # only in the instance's output, which is the workflow's own


USER_TEST = '''
from cfwf_emulator import WorkflowEntrypoint


def parse_sku(payload):
    return payload["sku"].upper()


class Shop(WorkflowEntrypoint):
    async def run(self, event, step):
        @step.do("lookup", config={"retries": {"limit": 0, "delay": 0}})
        async def lookup():
            return parse_sku(event["payload"])

        return await lookup()


async def test_shop(cfwf):
    cfwf.add_workflow("shop", Shop, binding="SHOP")
    instance = await cfwf.env.SHOP.create(id="s-1", params={"item": 3})
    await cfwf.run_until_idle()
    assert (await instance.status())["status"] == "complete"
'''


def test_a_failing_tests_report_shows_where_the_users_code_raised(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_user=USER_TEST)
    result = pytester.runpytest("-p", "no:asyncio")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*- cfwf instances -*",
            "shop/s-1: errored (KeyError: 'sku')  params={\"item\": 3}",
            '  do "lookup" #1  *Z -> *Z  failed',
            "    attempt 1  *Z -> *Z  KeyError: 'sku'",
            "      Traceback (most recent call last):",
            '        File "*test_user.py", line 12, in lookup',
            "          return parse_sku(event[[]\"payload\"[]])",
            '        File "*test_user.py", line 5, in parse_sku',
            "          return payload[[]\"sku\"[]].upper()",
            "      KeyError: 'sku'",
        ],
        consecutive=False,
    )
