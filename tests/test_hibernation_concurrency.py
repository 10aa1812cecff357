"""Hibernation never changes an outcome, also while several steps of one instance run at once.

An attempt is journaled (its start committed) before its callback runs; evicting the instance in
between used to leave that attempt looking interrupted on every replay (a ``WorkflowInternalError``
attempt that burns a retry), and on SQLite, where the journal write waits for a group commit,
the window is real.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from cfwf_emulator import Emulator, WorkflowEntrypoint

CALLS: Counter[str] = Counter()


class Trio(WorkflowEntrypoint):
    """Three steps at once: ``a`` succeeds, ``b`` fails once and waits 2 minutes to retry, ``c``
    succeeds and may not be retried (an attempt of ``c`` counted as interrupted errors the instance)."""

    async def run(self, event: Any, step: Any) -> Any:
        once = {"retries": {"limit": 0, "delay": 0}}
        retried = {"retries": {"limit": 1, "delay": "2 minutes", "backoff": "constant"}}

        @step.do("a", config=once)
        def a() -> str:
            CALLS["a"] += 1
            return "a"

        @step.do("b", config=retried)
        def b() -> str:
            CALLS["b"] += 1
            if CALLS["b"] == 1:
                raise RuntimeError("b fails once")
            return "b"

        @step.do("c", config=once)
        def c() -> str:
            CALLS["c"] += 1
            return "c"

        results = await asyncio.gather(a(), b(), c())
        return list(results)


def attempt_errors(described: dict[str, Any]) -> dict[str, list[str | None]]:
    return {
        s["cfwf"]["name"]: [a["error"]["name"] if a["error"] else None for a in s["attempts"]]
        for s in described["steps"]
    }


@pytest.mark.parametrize("hibernate", [None, "1 minute", "always"])
@pytest.mark.parametrize("storage", ["memory", "sqlite"])
async def test_concurrent_steps_end_the_same_with_and_without_hibernation(
    tmp_path: Path, storage: str, hibernate: str | None
) -> None:
    CALLS.clear()
    emu = Emulator(
        clock="virtual",
        storage="memory" if storage == "memory" else f"sqlite:///{tmp_path}/s.db",
        hibernate=hibernate,
    )
    emu.add_workflow("trio", Trio)
    async with emu:
        inst = await emu.env.TRIO.create(id="t")
        await asyncio.wait_for(emu.run_until_idle(), 10)
        assert await inst.status() == {"status": "complete", "output": ["a", "b", "c"]}
        assert attempt_errors(await inst.describe()) == {
            "a": [None],
            "b": ["RuntimeError", None],
            "c": [None],
        }
    assert CALLS == {"a": 1, "b": 2, "c": 1}
