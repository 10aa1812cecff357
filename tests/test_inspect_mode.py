"""``Emulator(mode="inspect")``: the API's queries read a state file, also one another process
runs, and nothing is ever run, recovered, locked or written; every command is refused with
``StateReadOnlyError``."""

from __future__ import annotations

import os
import queue
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # plain `pytest` puts tests/ on sys.path, not the repository root
    sys.path.insert(0, str(REPO))

from cfwf_emulator import (  # noqa: E402
    Emulator,
    StateReadOnlyError,
    StoreError,
    VirtualClock,
    WorkflowEntrypoint,
)
from cfwf_emulator.store import MemoryStore, SQLiteStore  # noqa: E402

START_MS = 1_767_225_600_000.0  # 2026-01-01T00:00:00Z
WAIT_S = 60  # the longest any wait on the other process may take

RUNS: list[str] = []


class Recorded(WorkflowEntrypoint):
    """Records each run; an inspecting emulator must never run it."""

    async def run(self, event: Any, step: Any) -> Any:
        RUNS.append(event["instanceId"])

        @step.do("prepare")
        async def prepare() -> int:
            return 1

        return await prepare()


class LineReader:
    """The lines a process writes, each awaited with a timeout (never a sleep)."""

    def __init__(self, process: "subprocess.Popen[str]") -> None:
        self._lines: "queue.Queue[str]" = queue.Queue()
        assert process.stdout is not None
        stdout = process.stdout
        threading.Thread(target=lambda: [self._lines.put(line) for line in stdout], daemon=True).start()

    def next(self) -> str:
        try:
            return self._lines.get(timeout=WAIT_S).strip()
        except queue.Empty:
            raise AssertionError(f"the owner process said nothing for {WAIT_S} s") from None


class Owner:
    """``tests.data.blocked_owner`` in its own process, owning ``state``."""

    def __init__(self, state: Path, marks: Path) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.data.blocked_owner", str(state), str(marks)],
            cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
            env={**os.environ, "PYTHONPATH": str(REPO)},
        )
        self.lines = LineReader(self.process)
        assert self.lines.next() == "ready"

    def create_blocked(self, instance_id: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(f"create {instance_id}\n")
        self.process.stdin.flush()
        assert self.lines.next() == f"blocked {instance_id}"

    def quit(self) -> int:
        assert self.process.stdin is not None
        self.process.stdin.write("quit\n")
        self.process.stdin.flush()
        return self.process.wait(timeout=WAIT_S)

    def kill_if_running(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=WAIT_S)


def inspector(state: Path, **options: Any) -> Emulator:
    emu = Emulator(storage=f"sqlite:///{state}", mode="inspect", **options)
    emu.add_workflow("blocked", Recorded)
    return emu


async def test_an_instance_blocked_in_another_process_is_inspected_and_never_run_again(tmp_path: Path) -> None:
    state, marks = tmp_path / "state.db", tmp_path / "marks"
    marks.mkdir()
    owner = Owner(state, marks)
    RUNS.clear()
    try:
        owner.create_blocked("a")
        emu = inspector(state)
        assert emu.mode == "inspect"
        async with emu:  # no StateLockedError: an inspector takes no lock
            assert await emu.api.workflows() == [
                {"name": "blocked", "binding": "BLOCKED", "class_name": "Recorded", "counts": {"running": 1}}
            ]
            assert await emu.api.exists("blocked", "a") and not await emu.api.exists("blocked", "b")
            assert await emu.api.status("blocked", "a") == {"status": "running", "output": None}
            described = await emu.api.describe("blocked", "a")
            assert described["status"] == "running"
            assert [(s["name"], s["success"]) for s in described["steps"]] == [("prepare-1", True), ("block-1", None)]
            assert [s["start"] is not None for s in described["steps"][1]["attempts"]] == [True]

            owner.create_blocked("b")  # committed after the inspector opened: the next query sees it
            page = await emu.api.list_instances("blocked")
            assert [(i["id"], i["status"]) for i in page["instances"]] == [("b", "running"), ("a", "running")]
            assert await emu.api.status("blocked", "b") == {"status": "running", "output": None}
            with pytest.raises(StateReadOnlyError, match='terminate: .*opened for inspection.*mode="operate"'):
                await emu.api.terminate("blocked", "a")
            with pytest.raises(StateReadOnlyError):
                await emu.env.BLOCKED.create(id="c")
            assert not await emu.api.exists("blocked", "c")
        assert RUNS == []
        assert (marks / "a").read_text() == "ran\n"  # its side effect ran once, in the owner
        assert (marks / "b").read_text() == "ran\n"
        assert owner.process.poll() is None  # the owner still runs, undisturbed
        assert owner.quit() == 0
    finally:
        owner.kill_if_running()


async def test_a_queued_instance_stays_queued_and_every_command_is_refused(tmp_path: Path) -> None:
    state = tmp_path / "state.db"
    owner = Emulator(clock=VirtualClock(START_MS), storage=f"sqlite:///{state}")
    owner.add_workflow("blocked", Recorded)
    RUNS.clear()
    async with owner:
        await owner.env.BLOCKED.create(id="q", params={"n": 1})
    # closed before the instance's task ever ran: the state file holds it queued
    assert RUNS == []
    before = state.read_bytes()

    emu = inspector(state, clock=VirtualClock(START_MS))
    async with emu:
        instance = await emu.env.BLOCKED.get("q")
        assert await instance.status() == {"status": "queued", "output": None}
        commands = {
            "create": emu.api.create("blocked", "x"),
            "create_batch": emu.api.create_batch("blocked", [{"id": "y"}]),
            "pause": instance.pause(),
            "resume": instance.resume(),
            "terminate": instance.terminate(),
            "restart": instance.restart(),
            "send_event": instance.send_event(type="go"),
            "delete": instance.delete(),
            "run_until_idle": emu.run_until_idle(),
            "advance": emu.advance("1 hour"),
            "settle": emu.settle(),
            "advance_to_next_timer": emu.advance_to_next_timer(),
            "drive_until": emu.drive_until(lambda: False),
        }
        for what, command in commands.items():
            with pytest.raises(StateReadOnlyError) as refused:
                await command
            message = str(refused.value)
            assert message.startswith(f"{what}: the state file {state} was opened for inspection"), message
            assert 'open it with mode="operate"' in message
            assert isinstance(refused.value, StoreError)
        testing = emu.api.testing
        for what, call in {
            "modifiers_for": lambda: testing.modifiers_for("blocked", "q"),
            "save_modifiers": lambda: testing.save_modifiers("blocked", "q"),
            "mock_event": lambda: testing.mock_event("blocked", "q", "go", None),
            "dispose": lambda: testing.dispose("blocked", "q"),
        }.items():
            with pytest.raises(StateReadOnlyError, match=f"^{what}: "):
                call()
        page = await emu.api.list_instances("blocked")
        assert [(i["id"], i["status"]) for i in page["instances"]] == [("q", "queued")]
        assert (await emu.api.describe("blocked", "q"))["steps"] == []
    assert RUNS == []
    assert state.read_bytes() == before  # not a byte of the state file changed

    again = Emulator(clock=VirtualClock(START_MS), storage=f"sqlite:///{state}")  # operate: it runs now
    again.add_workflow("blocked", Recorded)
    async with again:
        await again.run_until_idle()
        assert (await again.api.status("blocked", "q"))["status"] == "complete"
    assert RUNS == ["q"]


def test_inspect_needs_a_state_file(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match='mode="inspect" reads a state file .* storage=\'memory\' has none: pass storage="sqlite:///PATH"'):
        Emulator(mode="inspect")
    with pytest.raises(ValueError, match="has none"):
        Emulator(mode="inspect", storage=MemoryStore())
    with pytest.raises(ValueError, match="has none"):
        Emulator(mode="inspect", storage=SQLiteStore(tmp_path / "owned.db"))  # a store that would write
    with pytest.raises(ValueError, match='mode must be "operate" .* or "inspect" .* got \'read\''):
        Emulator(mode="read")
    with pytest.raises(StoreError, match="there is no state file to inspect"):
        Emulator(mode="inspect", storage=f"sqlite:///{tmp_path / 'missing.db'}")
    assert not (tmp_path / "missing.db").exists()
    assert Emulator().mode == "operate"


async def test_an_inspector_takes_a_readonly_store_and_from_config_passes_the_mode(tmp_path: Path) -> None:
    state = tmp_path / "state.db"
    owner = Emulator(clock=VirtualClock(START_MS), storage=f"sqlite:///{state}")
    owner.add_workflow("blocked", Recorded)
    async with owner:
        await owner.env.BLOCKED.create(id="done", params={})
        await owner.run_until_idle()
    emu = Emulator(storage=SQLiteStore(state, readonly=True), mode="inspect")
    emu.add_workflow("blocked", Recorded)
    async with emu:
        assert await emu.api.status("blocked", "done") == {"status": "complete", "output": 1}

    project = tmp_path / "project"
    (project / "src").mkdir(parents=True)
    (project / "src" / "entry.py").write_text(
        "from workers import WorkflowEntrypoint\n\n"
        "class Blocked(WorkflowEntrypoint):\n"
        "    async def run(self, event, step):\n"
        "        return 1\n"
    )
    (project / "wrangler.json").write_text(
        '{"name": "p", "main": "src/entry.py", "compatibility_date": "2025-10-01",'
        ' "compatibility_flags": ["python_workers", "python_workflows"],'
        ' "workflows": [{"name": "blocked", "binding": "BLOCKED", "class_name": "Blocked"}]}'
    )
    from_config = Emulator.from_config(project, storage=f"sqlite:///{state}", mode="inspect")
    assert from_config.mode == "inspect"
    async with from_config:
        assert await from_config.api.status("blocked", "done") == {"status": "complete", "output": 1}
        done = await from_config.env.BLOCKED.get("done")
        with pytest.raises(StateReadOnlyError, match="^restart: "):
            await done.restart()
