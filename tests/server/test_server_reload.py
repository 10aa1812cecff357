"""``cfwf dev`` reloads the project's code when its files change (``--no-reload`` turns it off).

Each test runs the server as a process on a free loopback port over a project of its own, edits
the project's files and waits (with a deadline) for the line the server prints when the change
is applied: a reload, a failed reload, an instance's status change.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import httpx

from cfwf_emulator.server import API_ROOT

W = API_ROOT + "/workflows/flow"
DEADLINE_S = 30

CONFIG = """{
  "name": "reloading", "main": "src/entry.py", "compatibility_date": "2026-03-01",
  "compatibility_flags": ["python_workers"],
  "workflows": [{"name": "flow", "binding": "FLOW", "class_name": "Flow"}]
}"""

ENTRY = '''
from workers import Response, WorkerEntrypoint, WorkflowEntrypoint
from words import VERSION


class Flow(WorkflowEntrypoint):
    async def run(self, event, step):
        @step.do("first")
        async def first():
            return "one"

        one = await first()
        await step.wait_for_event("go", "go", "1 hour")

        @step.do("last")
        async def last():
            return VERSION

        return [one, await last()]


class Default(WorkerEntrypoint):
    async def fetch(self, request):
        return Response(VERSION)
'''


def write_project(root: Path) -> Path:
    """The project: main ``src/entry.py`` takes ``VERSION`` from its sibling ``src/words.py``."""
    (root / "src").mkdir(parents=True)
    (root / "wrangler.jsonc").write_text(CONFIG)
    (root / "src" / "entry.py").write_text(ENTRY)
    (root / "src" / "words.py").write_text('VERSION = "v1"\n')
    return root


class DevServer:
    """``python -m cfwf_emulator.server`` on a free port, its output lines collected as they come."""

    def __init__(self, project: Path, state: Path, *extra: str) -> None:
        command = [sys.executable, "-m", "cfwf_emulator.server", "--config", str(project), "--port", "0",
                   "--persist-to", str(state), *extra]
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.lines: list[str] = []
        self.ended = False
        self.arrived = threading.Condition()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        ready = self.wait_for("[cfwf] ready on ")
        self.url = ready.split("ready on ")[1].split()[0]
        self.client = httpx.Client(base_url=self.url, timeout=30)

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            with self.arrived:
                self.lines.append(line)
                self.arrived.notify_all()
        with self.arrived:
            self.ended = True
            self.arrived.notify_all()

    def wait_for(self, text: str) -> str:
        """The first output line containing ``text``, waiting for it
        (woken by each line the server prints) for at most :data:`DEADLINE_S` seconds."""
        with self.arrived:
            found = self.arrived.wait_for(
                lambda: next((line for line in self.lines if text in line), None) or self.ended,
                timeout=DEADLINE_S,
            )
            assert isinstance(found, str), f"no line with {text!r} within {DEADLINE_S} s:\n{''.join(self.lines)}"
            return found

    def text(self) -> str:
        """The Worker's answer to ``GET /`` (asserting it answered 200)."""
        response = self.client.get("/")
        assert response.status_code == 200, response.text
        return response.text

    def finish(self, instance_id: str) -> Any:
        """Send ``go`` to the instance; its output once complete."""
        sent = self.client.post(f"{W}/instances/{instance_id}/events/go", json={})
        assert sent.status_code == 200, sent.text
        self.wait_for(f" {instance_id}: running -> complete")
        result = self.client.get(f"{W}/instances/{instance_id}").json()["result"]
        assert result["status"] == "complete", result
        return result["output"]

    def status(self, instance_id: str) -> str:
        """The instance's status."""
        return str(self.client.get(f"{W}/instances/{instance_id}").json()["result"]["status"])

    def create(self, instance_id: str) -> None:
        """Create an instance of ``flow``."""
        created = self.client.post(W + "/instances", json={"id": instance_id})
        assert created.status_code == 200, created.text

    def stop(self) -> str:
        """SIGTERM; everything it printed (asserting it exited 0)."""
        self.client.close()
        self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(timeout=30)
        self.reader.join(timeout=30)
        output = "".join(self.lines)
        assert code == 0, output
        return output


def test_an_edit_reloads_the_code_and_a_waiting_instance_finishes_on_it(tmp_path: Path) -> None:
    project = write_project(tmp_path / "project")
    server = DevServer(project, tmp_path / "state")
    try:
        assert server.text() == "v1"
        server.create("across")
        server.wait_for(" across: running -> waiting")
        assert server.status("across") == "waiting"
        (project / "src" / "words.py").write_text('VERSION = "v2"\n')
        server.wait_for("[cfwf] reloaded ")
        assert server.text() == "v2"
        assert server.finish("across") == ["one", "v2"]
        server.create("after")
        assert server.finish("after") == ["one", "v2"]
    finally:
        output = server.stop()
    reloads = [line for line in output.splitlines() if "reloaded" in line]
    assert reloads == [
        "[cfwf] reloaded src/entry.py after a change to src/words.py "
        "(running instances take the new code at their next replay)"
    ]


def test_a_broken_edit_keeps_the_old_code_serving_until_it_is_fixed(tmp_path: Path) -> None:
    project = write_project(tmp_path / "project")
    words = project / "src" / "words.py"
    server = DevServer(project, tmp_path / "state")
    try:
        server.create("before")
        words.write_text('VERSION = "v2"\nVERSION = (\n')
        failed = server.wait_for("[cfwf] reload failed")
        assert f"{words.resolve()}:2" in failed and "SyntaxError" in failed
        assert "still running the previous code" in failed
        assert server.text() == "v1"
        assert server.finish("before") == ["one", "v1"]
        words.write_text('VERSION = "v3"\n')
        server.wait_for("[cfwf] reloaded ")
        assert server.text() == "v3"
        server.create("fixed")
        assert server.finish("fixed") == ["one", "v3"]
    finally:
        server.stop()


def test_a_config_change_says_a_restart_is_needed(tmp_path: Path) -> None:
    project = write_project(tmp_path / "project")
    server = DevServer(project, tmp_path / "state")
    try:
        (project / "wrangler.jsonc").write_text(CONFIG.replace('"name": "reloading",', '"name": "renamed",'))
        said = server.wait_for("[cfwf] wrangler.jsonc changed")
        assert "restart it to apply them" in said
    finally:
        server.stop()


def test_no_reload_keeps_the_code_it_started_with(tmp_path: Path) -> None:
    project = write_project(tmp_path / "project")
    fixed = DevServer(project, tmp_path / "fixed-state", "--no-reload")
    watching = DevServer(project, tmp_path / "watching-state")
    try:
        (project / "src" / "words.py").write_text('VERSION = "v2"\n')
        # the watching server sees the edit: the other had the same time to see it
        watching.wait_for("[cfwf] reloaded ")
        assert watching.text() == "v2"
        assert fixed.text() == "v1"
    finally:
        watching.stop()
        output = fixed.stop()
    assert "watching" not in output and "reloaded" not in output


def test_cfwf_dev_and_the_server_module_take_no_reload_alike() -> None:
    from cfwf_emulator.cli.parser import build_parser
    from cfwf_emulator.server.__main__ import parser
    from cfwf_emulator.server.runner import describe_options

    assert describe_options(build_parser().parse_args(["dev", "--no-reload"])).reload is False
    assert describe_options(build_parser().parse_args(["dev"])).reload is True
    assert describe_options(parser().parse_args(["--no-reload"])).reload is False
    assert describe_options(parser().parse_args([])).reload is True
