"""Exceptions that are not ``Exception``s, raised by workflow code.

- A custom ``BaseException`` subclass or ``GeneratorExit`` raised by a step callback fails the
  attempt like any error (retried as configured; the error's name is the class name); raised by
  ``run`` itself or a delay function, it fails the instance or the step the same way. No instance
  is ever left ``running``.
- ``KeyboardInterrupt`` and ``SystemExit`` still stop the process (they leave the event loop, and
  ``asyncio.run``/``emu.run``, at once); the attempt that raised them was journaled as started,
  so the next start of the emulator counts it as interrupted and retries it, as after a crash.
"""

from __future__ import annotations

import asyncio
import gc
import logging
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from cfwf_emulator import Emulator, StepError, WorkflowEntrypoint

CALLS: Counter[str] = Counter()
TWO_ATTEMPTS = {"retries": {"limit": 1, "delay": "1 second", "backoff": "constant"}}


class Custom(BaseException):
    """A BaseException of the workflow's own, not an Exception."""


def storage_for(kind: str, tmp_path: Path) -> str:
    return "memory" if kind == "memory" else f"sqlite:///{tmp_path}/s.db"


@pytest.fixture(params=["memory", "sqlite"])
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    CALLS.clear()
    return storage_for(request.param, tmp_path)


async def finish(emu: Emulator, cls: type) -> tuple[dict[str, Any], dict[str, Any]]:
    emu.add_workflow("flow", cls, binding="FLOW")
    async with emu:
        inst = await emu.env.FLOW.create(id="i")
        await asyncio.wait_for(emu.run_until_idle(), 10)
        return await inst.status(), await inst.describe()


def attempt_errors(described: dict[str, Any], step: str) -> list[str | None]:
    found = next(s for s in described["steps"] if s["cfwf"]["name"] == step)
    return [a["error"]["name"] if a["error"] else None for a in found["attempts"]]


@pytest.mark.parametrize(
    "raised, name",
    [(Custom("custom trouble"), "Custom"), (GeneratorExit("generator trouble"), "GeneratorExit")],
    ids=["custom", "GeneratorExit"],
)
@pytest.mark.parametrize("style", ["sync", "async"])
async def test_a_base_exception_from_a_callback_fails_the_attempt_like_an_error(
    storage: str, raised: BaseException, name: str, style: str
) -> None:
    class Raises(WorkflowEntrypoint):
        async def run(self, event: Any, step: Any) -> Any:
            def sync_callback() -> None:
                CALLS["step"] += 1
                raise raised

            async def async_callback() -> None:
                CALLS["step"] += 1
                await asyncio.sleep(0)
                raise raised

            callback = sync_callback if style == "sync" else async_callback
            try:
                await step.do("s", config=TWO_ATTEMPTS)(callback)()
            except StepError as exc:
                return {"caught": exc.name, "message": str(exc)}
            return "no error"

    status, described = await finish(Emulator(clock="virtual", storage=storage), Raises)
    assert status == {"status": "complete", "output": {"caught": name, "message": str(raised)}}
    assert attempt_errors(described, "s") == [name, name]
    assert CALLS["step"] == 2


async def test_an_uncaught_base_exception_from_a_step_errors_the_instance(storage: str) -> None:
    class Uncaught(WorkflowEntrypoint):
        async def run(self, event: Any, step: Any) -> Any:
            @step.do("s", config={"retries": {"limit": 0, "delay": 0}})
            def boom() -> None:
                raise Custom("not an Exception")

            await boom()

    status, _ = await finish(Emulator(clock="virtual", storage=storage), Uncaught)
    assert status == {"status": "errored", "output": None, "error": {"name": "Custom", "message": "not an Exception"}}


@pytest.mark.parametrize(
    "raised, name",
    [(Custom("from run"), "Custom"), (GeneratorExit("from run"), "GeneratorExit"),
     (asyncio.CancelledError("from run"), "CancelledError")],
    ids=["custom", "GeneratorExit", "CancelledError"],
)
async def test_a_base_exception_raised_by_run_itself_errors_the_instance(
    storage: str, raised: BaseException, name: str, caplog: pytest.LogCaptureFixture
) -> None:
    class RunRaises(WorkflowEntrypoint):
        async def run(self, event: Any, step: Any) -> Any:
            @step.do("first")
            def first():
                return 1

            await first()
            raise raised

    with caplog.at_level(logging.ERROR, logger="asyncio"):
        status, _ = await finish(Emulator(clock="virtual", storage=storage), RunRaises)
        gc.collect()
    assert status == {"status": "errored", "output": None, "error": {"name": name, "message": "from run"}}
    assert "never retrieved" not in caplog.text


async def test_a_base_exception_from_a_delay_function_fails_the_step_as_the_delay_function_error(
    storage: str,
) -> None:
    def delay(_: Any) -> int:
        raise Custom("no delay today")

    class DelayRaises(WorkflowEntrypoint):
        async def run(self, event: Any, step: Any) -> Any:
            @step.do("s", config={"retries": {"limit": 3, "delay": delay}})
            def fail() -> None:
                raise RuntimeError("fails")

            await fail()

    status, _ = await finish(Emulator(clock="virtual", storage=storage), DelayRaises)
    assert status["status"] == "errored"
    assert status["error"] == {
        "name": "NonRetryableDelayError",
        "message": 'The delay function for step "s-1" threw an error: no delay today',
    }


# -- KeyboardInterrupt and SystemExit ----------------------------------------------------------


class StopsTheProcessOnce(WorkflowEntrypoint):
    """Its step raises the exception named in ``params["raise"]`` on its first attempt only; with
    ``params["gather"]`` the step runs in a task of the workflow's own next to another step."""

    async def run(self, event: Any, step: Any) -> Any:
        exit_class = {"KeyboardInterrupt": KeyboardInterrupt, "SystemExit": SystemExit}[event["payload"]["raise"]]

        config = {"retries": {"limit": 2, "delay": "1 minute", "backoff": "constant"}}

        @step.do("stop", config=config)
        def stop_once() -> str:
            CALLS["stop"] += 1
            if CALLS["stop"] == 1:
                raise exit_class()
            return "done"

        @step.do("other", config=config)
        async def other() -> str:
            CALLS["other"] += 1
            return "other"

        if event["payload"]["gather"]:
            results = await asyncio.gather(stop_once(), other())
            return list(results)
        return await stop_once()


@pytest.mark.parametrize("gather", [False, True], ids=["in-run", "in-gather"])
@pytest.mark.parametrize("exit_class", [KeyboardInterrupt, SystemExit])
@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_keyboard_interrupt_and_system_exit_stop_the_loop_and_the_attempt_is_retried_on_restart(
    tmp_path: Path, kind: str, exit_class: type[BaseException], gather: bool,
    caplog: pytest.LogCaptureFixture,
) -> None:
    CALLS.clear()
    storage = storage_for(kind, tmp_path)
    emu = Emulator(clock="virtual", storage=storage)
    emu.add_workflow("flow", StopsTheProcessOnce, binding="FLOW")

    async def start() -> None:
        await emu.env.FLOW.create(id="i", params={"raise": exit_class.__name__, "gather": gather})
        await asyncio.wait_for(emu.run_until_idle(), 10)
        raise AssertionError("the step's exception did not stop the event loop")

    with caplog.at_level(logging.ERROR, logger="asyncio"):
        with pytest.raises(exit_class):
            emu.run(start())
        gc.collect()
    assert "never retrieved" not in caplog.text
    assert CALLS["stop"] == 1

    if kind == "sqlite":  # a new process would open the file again
        emu = Emulator(clock="virtual", storage=storage)
        emu.add_workflow("flow", StopsTheProcessOnce, binding="FLOW")

    async def restart() -> tuple[dict[str, Any], dict[str, Any]]:
        inst = await emu.env.FLOW.get("i")
        await asyncio.wait_for(emu.run_until_idle(), 10)
        return await inst.status(), await inst.describe()

    status, described = emu.run(restart())
    assert status == {"status": "complete", "output": ["done", "other"] if gather else "done"}
    assert attempt_errors(described, "stop") == ["WorkflowInternalError", None]
    assert CALLS["stop"] == 2
    if gather:  # the sibling ran once; an attempt of it journaled but not run yet is interrupted too
        assert attempt_errors(described, "other")[-1] is None
        assert CALLS["other"] == 1
