"""Regression tests: minimal reproductions of the engine bugs the conformance suites found.

Each bug was fixed in the engine; its reproduction stays here so it cannot come back.
"""

from __future__ import annotations

import asyncio
import gc
import os
import subprocess
import sys
import tempfile
import textwrap
import warnings
from typing import Any

import pytest

from cfwf_emulator import ConfigError, Emulator, VirtualClock, WorkflowEntrypoint, WorkflowError
from cfwf_emulator.hooks import hookimpl
from conformance.programs import BINDING, START_MS, WORKFLOW, InterpreterWorkflow, do, program, wait



def _emu(storage: str = "memory") -> Emulator:
    emu = Emulator(clock=VirtualClock(START_MS, autojump=False), storage=storage)
    emu.add_workflow(WORKFLOW, InterpreterWorkflow, binding=BINDING)
    return emu


def test_vars_must_be_a_dict() -> None:
    """vars-not-a-dict: was AttributeError."""
    with pytest.raises((ConfigError, TypeError)):
        Emulator(vars=[1, 2])


def test_binding_must_be_a_str() -> None:
    with pytest.raises((ConfigError, TypeError)):
        Emulator().add_workflow("wf", InterpreterWorkflow, binding=("X",))


def test_storage_must_be_a_store() -> None:
    with pytest.raises((ConfigError, TypeError)):
        Emulator(storage=object())  # was: accepted, then AttributeError in start()


def test_deeply_nested_params_are_refused_with_a_workflow_error() -> None:
    deep: Any = 1
    for _ in range(5_000):
        deep = [deep]

    async def main() -> None:
        async with _emu() as emu:
            with pytest.raises(WorkflowError):  # was: RecursionError
                await emu.env[BINDING].create(id="deep", params={"program": program(), "x": deep})

    asyncio.run(main())


class RaisesCancelled(WorkflowEntrypoint):
    async def run(self, event: Any, step: Any) -> Any:
        @step.do("x", config={"retries": {"limit": 0, "delay": 0}})
        def cancelled() -> None:
            raise asyncio.CancelledError()

        return await cancelled()


def test_a_step_raising_cancelled_error_fails_the_attempt() -> None:
    async def main() -> dict[str, Any]:
        emu = Emulator(clock=VirtualClock(START_MS, autojump=False))
        emu.add_workflow("cancelled", RaisesCancelled, binding="C")
        async with emu:
            instance = await emu.env.C.create(id="c")
            await emu.run_until_idle()
            return await instance.status()

    status = asyncio.run(main())
    assert status["status"] == "errored", status  # was: "running" for ever


class SurrogateStep(WorkflowEntrypoint):
    async def run(self, event: Any, step: Any) -> Any:
        @step.do("bad \ud800 name")
        def bad_name():
            return 1

        return await bad_name()


def test_a_surrogate_in_one_instance_does_not_break_the_store_for_the_others() -> None:
    canary = program(do("a", 1), wait("w", "e1", 60_000))

    async def main(tmp: str) -> dict[str, Any]:
        emu = _emu(f"sqlite:///{os.path.join(tmp, 's.db')}")
        emu.add_workflow("surrogate", SurrogateStep, binding="S")
        async with emu:
            other = await emu.env[BINDING].create(id="other", params={"program": canary})
            await emu.advance(0)
            await emu.env.S.create(id="bad")
            await emu.advance(0)
            await other.send_event(type="e1", payload="ok")
            await emu.run_until_idle()
            return await other.status()

    with tempfile.TemporaryDirectory() as tmp:
        status = asyncio.run(main(tmp))
    # was: "other" stopped with a StorageWarning ("cannot start a transaction within a transaction")
    assert status == {"status": "complete", "output": [1, "ok"]}, status


def test_circular_params_are_refused_instead_of_hanging() -> None:
    script = textwrap.dedent(
        """
        import asyncio
        from cfwf_emulator import Emulator, VirtualClock, WorkflowError
        from conformance.programs import InterpreterWorkflow

        async def main():
            emu = Emulator(clock=VirtualClock(0, autojump=False))
            emu.add_workflow("wf", InterpreterWorkflow, binding="WF")
            async with emu:
                circular = []
                circular.append(circular)
                try:
                    await emu.env.WF.create(id="c", params=circular)
                except (WorkflowError, TypeError, ValueError) as exc:
                    print("refused", type(exc).__name__)

        asyncio.run(main())
        """
    )
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    try:
        done = subprocess.run(
            [sys.executable, "-c", script], cwd=root, capture_output=True, text=True, timeout=8,
            env={**os.environ, "PYTHONPATH": root},
        )
    except subprocess.TimeoutExpired:
        pytest.fail("create(params=<a list containing itself>) hangs in serialization._refuse_rpc_types")
    assert "refused" in done.stdout, done.stderr


class StatusLog:
    def __init__(self) -> None:
        self.changes: list[tuple[str | None, str]] = []

    @hookimpl
    def cfwf_instance_status_changed(self, old: str | None, new: str) -> None:
        self.changes.append((old, new))


def test_a_recovered_instance_runs_before_it_ends() -> None:
    """Spec §3.7: an instance ends from ``running``; after a recovery whose wait timed out
    while the process was down, it went ``waiting`` -> ``errored`` directly."""
    prog = program(wait("w", "e1", 1_000))

    async def main(tmp: str) -> list[tuple[str | None, str]]:
        storage = f"sqlite:///{os.path.join(tmp, 'r.db')}"
        async with _emu(storage) as emu:
            await emu.env[BINDING].create(id="r", params={"program": prog})
            await emu.advance(0)
        log = StatusLog()
        emu = Emulator(clock=VirtualClock(START_MS + 5_000, autojump=False), storage=storage)
        emu.add_workflow(WORKFLOW, InterpreterWorkflow, binding=BINDING)
        emu.register(log)
        async with emu:
            await emu.advance(0)
        return log.changes

    with tempfile.TemporaryDirectory() as tmp:
        changes = asyncio.run(main(tmp))
    assert ("waiting", "errored") not in changes, changes


def test_a_waiter_with_a_bad_timeout_leaks_no_coroutine() -> None:
    from cfwf_emulator.testing import introspect_workflow_instance

    async def main() -> None:
        async with _emu() as emu:
            await emu.env[BINDING].create(id="x", params={"program": program(wait("w", "e1", 60_000))})
            introspector = introspect_workflow_instance(emu.env[BINDING], "x")
            with pytest.raises((TypeError, ValueError)):
                await introspector.wait_for_status("complete", timeout="soon")

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        asyncio.run(main())
        gc.collect()
    leaks = [str(w.message) for w in caught if "never awaited" in str(w.message)]
    assert not leaks, leaks


class SurrogateName(WorkflowEntrypoint):
    async def run(self, event: Any, step: Any) -> Any:
        @step.do("bad \ud800 name")
        def bad_name():
            return 1

        return await bad_name()


def test_a_refused_surrogate_step_name_errors_the_instance_on_sqlite_too() -> None:
    async def main(tmp: str) -> dict[str, Any]:
        emu = Emulator(clock=VirtualClock(START_MS, autojump=False), storage=f"sqlite:///{os.path.join(tmp, 'n.db')}")
        emu.add_workflow("surrogate", SurrogateName, binding="S")
        async with emu:
            instance = await emu.env.S.create(id="bad")
            await emu.run_until_idle()
            return await instance.status()

    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        status = asyncio.run(main(tmp))
    # the memory store: errored, WorkflowFatalError (bad step name); was on SQLite: "queued"
    assert status["status"] == "errored", status


def test_describe_survives_a_huge_retry_delay() -> None:
    """Found by the deep fuzz profile: a retry delay of '9000 years' moved virtual time past
    year 9999, and describe() then raised ValueError ('year 11026 is out of range')."""
    prog = program(do("a", 1, config={"retries": {"limit": 1, "delay": "9000 years"}}, fail_attempts=1))

    async def main() -> None:
        async with _emu() as emu:
            instance = await emu.env[BINDING].create(id="x", params={"program": prog})
            await emu.run_until_idle()
            await instance.describe()

    asyncio.run(main())


def test_a_retry_delay_ending_after_year_9999_fails_the_step_and_time_stays_sane() -> None:
    """Found by the deep fuzz profile: a delay function returning 3.87e25 ms moved virtual time so
    far that milliseconds lost precision and every later timer fired at once."""
    prog = program(do("a", 1, fail_attempts=1))

    class HugeDelay(WorkflowEntrypoint):
        async def run(self, event: Any, step: Any) -> Any:
            config = {"retries": {"limit": 1, "delay": lambda _arg: 3.868562622766637e25}}

            @step.do("a", config=config)
            def fail() -> None:
                raise RuntimeError("fail")

            try:
                await fail()
            except Exception as exc:  # noqa: BLE001 - the test looks at what arrives
                return getattr(exc, "name", type(exc).__name__)
            return "no error"

    async def main() -> None:
        emu = Emulator(clock=VirtualClock(START_MS, autojump=False))
        emu.add_workflow(WORKFLOW, InterpreterWorkflow, binding=BINDING)
        emu.add_workflow("huge", HugeDelay, binding="HUGE")
        async with emu:
            huge = await emu.env.HUGE.create(id="huge")
            await emu.run_until_idle()
            assert await huge.status() == {"status": "complete", "output": "NonRetryableDelayError"}
            assert emu.clock.now_ms() == START_MS
            canary = await emu.env[BINDING].create(id="canary", params={"program": prog})
            await emu.run_until_idle()
            assert (await canary.status())["status"] == "complete"

    asyncio.run(main())
