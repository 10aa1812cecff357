"""Retry limits up to the maximum (10,000) with every backoff: each attempt is scheduled, or the
step fails cleanly with the spec's ``NonRetryableDelayError``; the backoff arithmetic never
overflows into user code and the journal is never left half-written."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from cfwf_emulator import Emulator, VirtualClock, WorkflowEntrypoint

START_MS = 1_767_225_600_000.0  # 2026-01-01T00:00:00Z
CALLS: Counter[str] = Counter()
MAX_LIMIT = 10_000


def failing(delay: Any, backoff: str, failures: int = MAX_LIMIT + 1) -> type:
    """A step with the maximum retry limit whose first ``failures`` attempts fail."""

    class Fails(WorkflowEntrypoint):
        async def run(self, event: Any, step: Any) -> Any:
            config = {"retries": {"limit": MAX_LIMIT, "delay": delay, "backoff": backoff}}

            @step.do("flaky", config=config)
            def attempt() -> int:
                CALLS["attempts"] += 1
                if CALLS["attempts"] <= failures:
                    raise RuntimeError(f"attempt {CALLS['attempts']} failed")
                return CALLS["attempts"]

            return await attempt()

    return Fails


@pytest.fixture(params=["memory", "sqlite"])
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    CALLS.clear()
    return "memory" if request.param == "memory" else f"sqlite:///{tmp_path}/s.db"


async def run_to_the_end(storage: str, cls: type) -> tuple[dict[str, Any], dict[str, Any]]:
    emu = Emulator(clock=VirtualClock(START_MS), storage=storage)
    emu.add_workflow("flow", cls, binding="FLOW")
    async with emu:
        inst = await emu.env.FLOW.create(id="i")
        await asyncio.wait_for(emu.run_until_idle(), 50)
        return await inst.status(), await inst.describe()


@pytest.mark.parametrize(
    ("kind", "backoff"),
    [("memory", "exponential"), ("memory", "linear"), ("memory", "constant"), ("sqlite", "exponential")],
)
async def test_ten_thousand_retries_with_no_delay_all_run_and_the_step_fails_with_the_last_error(
    kind: str, backoff: str, tmp_path: Path
) -> None:
    # on SQLite each journal write stores the step's row and its newest attempts only, so the
    # 20,002 writes of 10,001 attempts take seconds, not minutes (one backoff is enough there)
    CALLS.clear()
    storage = "memory" if kind == "memory" else f"sqlite:///{tmp_path}/s.db"
    status, described = await run_to_the_end(storage, failing(0, backoff))
    last = f"attempt {MAX_LIMIT + 1} failed"
    assert status == {"status": "errored", "output": None, "error": {"name": "RuntimeError", "message": last}}
    assert CALLS["attempts"] == MAX_LIMIT + 1
    (step,) = described["steps"]
    assert step["success"] is False
    assert step["cfwf"]["error"] == {"name": "RuntimeError", "message": last}
    assert len(step["attempts"]) == MAX_LIMIT + 1
    assert all(a["success"] is False and a["end"] is not None for a in step["attempts"])


async def test_retries_past_attempt_1025_are_scheduled_and_journaled(storage: str) -> None:
    # 2**1024 is the first power of two no float holds: this one succeeds past it, at attempt 1031
    status, described = await run_to_the_end(storage, failing(0, "exponential", failures=1030))
    assert status == {"status": "complete", "output": 1031}
    (step,) = described["steps"]
    assert len(step["attempts"]) == 1031
    assert [a["success"] for a in step["attempts"][-2:]] == [False, True]
    assert all(a["end"] is not None for a in step["attempts"])


async def test_an_exponential_delay_that_would_end_after_year_9999_fails_the_step_cleanly(storage: str) -> None:
    status, described = await run_to_the_end(storage, failing("1 second", "exponential"))
    # 1 s * 2**(n-1) passes 9999-12-31 (about 2.5e14 ms from the epoch) after attempt 38
    assert CALLS["attempts"] == 38
    assert status["status"] == "errored"
    assert status["error"]["name"] == "NonRetryableDelayError"
    assert 'retry delay of step "flaky-1" after attempt 38 is 137438953472000ms' in status["error"]["message"]
    assert "ends after the year 9999" in status["error"]["message"]
    (step,) = described["steps"]
    assert step["cfwf"]["error"]["name"] == "NonRetryableDelayError"
    assert len(step["attempts"]) == 38
    assert all(a["end"] is not None for a in step["attempts"])
