"""The resume workload: a new process opens a SQLite state file holding one instance that finished
``steps`` steps and waits for an event, sends the event and lets it complete.

    python -m benchmarks.resume STATE_FILE STEPS     # one JSON line: import_s, waiting_s, resume_s

``resume_s`` runs from opening the state file until the instance, sent its event, has replayed
every step from the journal (none executed: checked) and completed: where the replay happens
(at start, or when the event wakes a hibernated instance) is the engine's business. The floor
reads the same journal rows and decodes their JSON with no engine.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

_BEGAN = time.perf_counter()

from cfwf_emulator import Emulator, WorkflowEntrypoint  # noqa: E402 - timed import

_IMPORTED = time.perf_counter()
EXECUTED: list[int] = []


def _add_one(value: int) -> int:
    EXECUTED.append(value)
    return value + 1


class LongWorkflow(WorkflowEntrypoint):
    """``steps`` trivial steps, then a wait for the ``go`` event."""

    async def run(self, event: Any, step: Any) -> Any:
        value = 0
        for index in range(event["payload"]["steps"]):

            @step.do(f"step {index}")
            async def add_one() -> int:
                return _add_one(value)

            value = await add_one()
        await step.wait_for_event("go", "go", "365 days")
        return value


def _emulator(state: Path, synchronous: str = "FULL") -> Emulator:
    emu = Emulator(clock="virtual", storage=f"sqlite:///{state}?synchronous={synchronous}")
    emu.add_workflow("long", LongWorkflow, binding="LONG")
    return emu


async def _build(state: Path, steps: int) -> None:
    async with _emulator(state, "NORMAL") as emu:
        await emu.env.LONG.create(id="long", params={"steps": steps})
        await emu.advance(0)
        status = await (await emu.env.LONG.get("long")).status()
        assert status["status"] == "waiting", status


def build_state(state: Path, steps: int) -> None:
    """Write the state file: one instance with ``steps`` finished steps, waiting for ``go``."""
    asyncio.run(_build(state, steps))


async def _resume(state: Path, steps: int) -> dict[str, float]:
    began = time.perf_counter()
    async with _emulator(state) as emu:
        await emu.advance(0)
        handle = await emu.env.LONG.get("long")
        waiting = time.perf_counter()
        assert (await handle.status())["status"] == "waiting"
        assert not EXECUTED, f"{len(EXECUTED)} steps executed again"
        await handle.send_event(type="go", payload=None)
        await emu.advance(0)
        assert await handle.status() == {"status": "complete", "output": steps}
        finished = time.perf_counter()
        assert not EXECUTED, f"{len(EXECUTED)} steps executed again"
    return {
        "import_s": _IMPORTED - _BEGAN,
        "waiting_s": waiting - began,
        "resume_s": finished - began,
    }


def resume_in_new_process(state: Path, steps: int) -> dict[str, float]:
    """Run the resume in a fresh interpreter; its figures plus ``process_s`` (whole process)."""
    began = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.resume", str(state), str(steps)],
        capture_output=True, text=True, check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"resume failed: {done.stderr.strip().splitlines()[-1:]}")
    result: dict[str, float] = json.loads(done.stdout)
    result["process_s"] = time.perf_counter() - began
    return result


def read_floor(state: Path) -> float:
    """Seconds to read and decode every journal row of the state file, with no engine.

    The state file is written by the engine under test (:func:`build_state`, public API only), so
    an older checkout's format is read: its ``steps`` table, and ``attempts`` where it has one."""
    began = time.perf_counter()
    db = sqlite3.connect(state)
    try:
        tables = {name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        rows = db.execute("SELECT data FROM steps WHERE workflow = 'long' AND id = 'long'").fetchall()
        if "attempts" in tables:  # older state files journal no attempts
            rows += db.execute(
                "SELECT data FROM attempts WHERE workflow = 'long' AND id = 'long' ORDER BY kind, name, count, n"
            ).fetchall()
    finally:
        db.close()
    decoded = [json.loads(data) for (data,) in rows]
    assert decoded
    return time.perf_counter() - began


if __name__ == "__main__":
    print(json.dumps(asyncio.run(_resume(Path(sys.argv[1]), int(sys.argv[2])))))
