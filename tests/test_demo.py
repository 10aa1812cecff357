"""The demo's progress output: step outputs (``[REDACTED]`` when sensitive) and, for a failed
attempt, where the user's code raised; a step that fails for good shows its whole traceback."""

from __future__ import annotations

from typing import Any

import pytest

from cfwf_emulator import Emulator, VirtualClock, WorkflowEntrypoint
from cfwf_emulator.demo import ProgressPrinter, main

START_MS = 1_767_225_600_000.0  # 2026-01-01T00:00:00Z


def read_sensor() -> float:
    raise ConnectionError("sensor offline")


class Telemetry(WorkflowEntrypoint):
    async def run(self, event: Any, step: Any) -> Any:
        @step.do("api key", config={"sensitive": "output"})
        async def api_key() -> str:
            return "key-42-secret"

        key = await api_key()

        @step.do("read", config={"retries": {"limit": 1, "delay": "2 seconds", "backoff": "constant"}})
        async def read() -> float:
            return read_sensor()

        return {"key": key, "value": await read()}


async def test_progress_redacts_sensitive_outputs_and_shows_where_a_step_failed(capsys: pytest.CaptureFixture[str]) -> None:
    emu = Emulator(clock=VirtualClock(START_MS))
    emu.add_workflow("telemetry", Telemetry, binding="T")
    emu.register(ProgressPrinter(START_MS, emu.api.testing))
    async with emu:
        await emu.env.T.create(id="t-1")
        await emu.run_until_idle()
    out = capsys.readouterr().out.splitlines()
    assert '[+00:00:00.000] t-1: step "api key" returned [REDACTED]' in out
    assert not any("key-42-secret" in line for line in out)
    retried = out.index('[+00:00:00.000] t-1: step "read" attempt 1 failed: ConnectionError: sensor offline (retrying in 2s)')
    assert out[retried + 1].startswith("[+00:00:00.000] t-1:   raised at ")
    raising_line = read_sensor.__code__.co_firstlineno + 1
    assert out[retried + 1].endswith(f"test_demo.py:{raising_line} in read_sensor")
    final = out.index('[+00:00:02.000] t-1: step "read" attempt 2 failed: ConnectionError: sensor offline (giving up)')
    trace = out[final + 1 : final + 1 + out[final + 1 :].index("    ConnectionError: sensor offline") + 1]
    assert trace[0] == "    Traceback (most recent call last):"
    assert "        return read_sensor()" in trace
    assert '        raise ConnectionError("sensor offline")' in trace


async def test_progress_without_the_testing_api_shows_outputs_but_no_traceback(capsys: pytest.CaptureFixture[str]) -> None:
    emu = Emulator(clock=VirtualClock(START_MS))
    emu.add_workflow("telemetry", Telemetry, binding="T")
    emu.register(ProgressPrinter(START_MS))
    async with emu:
        await emu.env.T.create(id="t-1")
        await emu.run_until_idle()
    out = capsys.readouterr().out
    assert 'step "api key" returned [REDACTED]' in out
    assert "raised at" not in out and "Traceback" not in out


async def test_the_demo_redacts_the_card_charge_and_shows_where_the_gateway_failed(capsys: pytest.CaptureFixture[str]) -> None:
    status = await main()
    out = capsys.readouterr().out.splitlines()
    assert status["status"] == "complete"
    assert status["output"]["charge"] == {"charge_id": "ch_7", "amount": 4200}  # the workflow has the real value
    assert '[+00:00:15.000] order-7: step "charge card" returned [REDACTED]' in out
    assert '[+00:00:00.000] order-7: step "fetch order" returned {"order_id": 7, "amount": 4200}' in out
    raised = [line for line in out if "raised at" in line]
    assert len(raised) == 2 and all(line.endswith(" in charge_card") and "orders.py:" in line for line in raised)


class SecretAfterRetry(WorkflowEntrypoint):
    async def run(self, event: Any, step: Any) -> Any:
        @step.do("token", config={"sensitive": "output", "retries": {"limit": 1, "delay": "1 minute"}})
        async def token(ctx: Any) -> str:
            if ctx["attempt"] == 1:
                raise ConnectionError("vault sealed")
            return "tok-from-vault"

        @step.do("plain", config={"retries": {"limit": 1, "delay": "1 minute"}})
        async def plain() -> str:
            return "visible"

        return [await token(), await plain()]


@pytest.mark.parametrize("with_testing", [True, False])
async def test_a_sensitive_step_begun_before_a_restart_is_still_redacted(
    tmp_path: Any, capsys: pytest.CaptureFixture[str], with_testing: bool
) -> None:
    storage = f"sqlite:///{tmp_path / 'state.sqlite3'}"
    first = Emulator(clock=VirtualClock(START_MS, autojump=False), storage=storage)
    first.add_workflow("secrets", SecretAfterRetry, binding="S")
    async with first:
        await first.env.S.create(id="s-1")
        await first.settle()  # attempt 1 failed; the retry waits a minute
    second = Emulator(clock=VirtualClock(START_MS, autojump=False), storage=storage)
    second.add_workflow("secrets", SecretAfterRetry, binding="S")
    second.register(ProgressPrinter(START_MS, second.api.testing if with_testing else None))
    async with second:
        await second.advance("2 minutes")
        status = await (await second.env.S.get("s-1")).status()
    out = capsys.readouterr().out
    assert status["output"] == ["tok-from-vault", "visible"]
    assert 'step "token" returned [REDACTED]' in out and "tok-from-vault" not in out
    assert 'step "plain" returned "visible"' in out
