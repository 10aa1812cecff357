"""``cfwf dev``, and the ``cfwf`` commands going through it while it owns the project's state.

One dev server (a real ``cfwf dev`` subprocess, real clock) serves the module's project; every
command runs through the installed console script. Waiting for the server (to start, or to run
an instance) polls it: it is another process, so there is no virtual time to advance instead.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any, Iterator

import pytest

from conftest import CFWF, Project, make_project

API = "/cdn-cgi/local/explorer/api"


def start_dev(project: Project, *args: str) -> tuple[subprocess.Popen[str], str]:
    """``cfwf dev --port 0 ARGS`` in ``project``, once its record names its URL."""
    log = open(project.root / "dev.log", "w", encoding="utf-8")
    process = subprocess.Popen(
        [str(CFWF), "dev", "--port", "0", *args], cwd=project.root, stdout=log, stderr=subprocess.STDOUT, text=True
    )
    record = project.root / ".cfwf" / "state" / "dev-server.json"
    deadline = time.monotonic() + 30
    while not record.exists():
        assert process.poll() is None, (project.root / "dev.log").read_text(encoding="utf-8")
        assert time.monotonic() < deadline, "cfwf dev did not record its address within 30 s"
        time.sleep(0.05)
    return process, str(json.loads(record.read_text(encoding="utf-8"))["url"])


def stop(process: subprocess.Popen[str]) -> int:
    process.send_signal(signal.SIGTERM)
    return process.wait(timeout=30)


def get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read())


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Project, str]]:
    """The module's project, served by ``cfwf dev`` for the module's length."""
    project = make_project(tmp_path_factory.mktemp("dev") / "project")
    process, url = start_dev(project)
    try:
        yield project, url
    finally:
        assert stop(process) == 0


def status_of(project: Project, instance_id: str, *flags: str) -> str:
    return str(project.ok("workflows", "instances", "describe", "demo-workflow", instance_id, "--json", *flags).json()["status"])


def wait_for_status(project: Project, instance_id: str, wanted: str) -> None:
    deadline = time.monotonic() + 30
    while (seen := status_of(project, instance_id)) != wanted:
        assert time.monotonic() < deadline, f"{instance_id} stayed {seen}, expected {wanted}"
        time.sleep(0.05)


def test_cfwf_dev_serves_the_explorer_api_and_exits_0_on_sigterm(tmp_path: Path) -> None:
    project = make_project(tmp_path / "project")
    process, url = start_dev(project, "--clock", "virtual")
    try:
        listed = get(url + API + "/workflows")
        assert listed["success"] is True
        assert [row["name"] for row in listed["result"]] == ["demo-workflow"]
    finally:
        code = stop(process)
    assert code == 0
    assert not (project.root / ".cfwf" / "state" / "dev-server.json").exists()


def test_commands_go_through_the_running_server(served: tuple[Project, str]) -> None:
    project, url = served
    listed = project.ok("workflows", "list", "--json").json()
    assert listed == [{"name": "demo-workflow", "class_name": "DemoWorkflow", "script_name": "demo-service"}]
    triggered = project.ok("workflows", "trigger", "demo-workflow", '{"failTimes": 1}', "--id", "through-1", "--json")
    assert triggered.json() == {"id": "through-1"}
    wait_for_status(project, "through-1", "waiting")
    from_server = get(url + API + "/workflows/demo-workflow/instances")["result"]
    listed_ids = [row["id"] for row in project.ok("workflows", "instances", "list", "demo-workflow", "--json").json()]
    assert listed_ids == [row["id"] for row in from_server]
    assert "through-1" in listed_ids
    details = project.ok("workflows", "instances", "describe", "demo-workflow", "through-1", "--json").json()
    assert details["steps"][0]["name"] == "flaky-1" and details["steps"][0]["output"]["attempts"] == 2
    debug = project.run("workflows", "instances", "describe", "demo-workflow", "through-1", "--json", "--debug")
    assert debug.code == 0 and f"going through the dev server at {url}" in debug.stderr


def test_lifecycle_and_events_through_the_server(served: tuple[Project, str]) -> None:
    project, _ = served
    project.ok("workflows", "trigger", "demo-workflow", "--id", "through-2")
    wait_for_status(project, "through-2", "waiting")
    paused = project.ok("workflows", "instances", "pause", "demo-workflow", "through-2", "--json").json()
    assert paused["status"] in ("paused", "waitingForPause")
    wait_for_status(project, "through-2", "paused")
    project.ok("workflows", "instances", "resume", "demo-workflow", "through-2")
    wait_for_status(project, "through-2", "waiting")
    sent = project.ok("workflows", "instances", "send-event", "demo-workflow", "through-2", "--type", "approve",
                      "--payload", '{"ok": true}')
    assert '"approve"' in sent.stdout
    wait_for_status(project, "through-2", "complete")
    details = project.ok("workflows", "instances", "describe", "demo-workflow", "through-2", "--json").json()
    assert details["output"] == {"attempts": 1, "approved": {"ok": True}}
    project.ok("workflows", "instances", "restart", "demo-workflow", "through-2")
    wait_for_status(project, "through-2", "waiting")
    terminated = project.ok("workflows", "instances", "terminate", "demo-workflow", "through-2", "--json").json()
    assert terminated["status"] == "terminated"


def test_server_refusals_read_as_they_do_offline(served: tuple[Project, str]) -> None:
    project, _ = served
    project.ok("workflows", "trigger", "demo-workflow", "--id", "through-3")
    again = project.run("workflows", "trigger", "demo-workflow", "--id", "through-3")
    assert again.code == 1
    assert "already exists" in again.stderr and "pass another --id" in again.stderr
    wait_for_status(project, "through-3", "waiting")
    project.ok("workflows", "instances", "terminate", "demo-workflow", "through-3")
    refused = project.run("workflows", "instances", "terminate", "demo-workflow", "through-3")
    assert refused.code == 1 and "cfwf workflows instances describe demo-workflow through-3" in refused.stderr
    assert "(instance.cannot_terminate) Cannot terminate instance since its on a finite state" in refused.stderr
    missing = project.run("workflows", "instances", "describe", "demo-workflow", "no-such-instance")
    assert missing.code == 1 and "Workflow instance 'no-such-instance' not found" in missing.stderr


def test_local_port_targets_the_server_from_another_directory(served: tuple[Project, str], tmp_path: Path) -> None:
    project, url = served
    project.ok("workflows", "trigger", "demo-workflow", "--id", "through-4")
    elsewhere = make_project(tmp_path / "elsewhere")
    port = url.rsplit(":", 1)[1]
    listed = elsewhere.ok("workflows", "instances", "list", "demo-workflow", "--local", "--port", port, "--json").json()
    assert "through-4" in [row["id"] for row in listed]
    assert not elsewhere.state.exists()


def test_a_stale_record_is_ignored_and_removed(project: Project) -> None:
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    state_dir = project.root / ".cfwf" / "state"
    state_dir.mkdir(parents=True)
    record = state_dir / "dev-server.json"
    record.write_text(json.dumps({"pid": int(dead.stdout), "url": "http://localhost:9", "started": "x"}), encoding="utf-8")
    triggered = project.ok("workflows", "trigger", "demo-workflow", "--id", "offline-1", "--json")
    assert triggered.json() == {"id": "offline-1"}
    assert not record.exists()
    assert project.ok("workflows", "instances", "describe", "demo-workflow", "offline-1", "--json").json()["status"] == "waiting"


def test_a_recorded_server_that_does_not_answer_is_one_clear_error(project: Project) -> None:
    state_dir = project.root / ".cfwf" / "state"
    state_dir.mkdir(parents=True)
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    record = {"pid": os.getpid(), "url": f"http://localhost:{port}", "started": "2026-01-01T00:00:00.000Z"}
    (state_dir / "dev-server.json").write_text(json.dumps(record), encoding="utf-8")
    result = project.run("workflows", "instances", "list", "demo-workflow")
    assert result.code == 1
    assert f"cannot reach the dev server at http://localhost:{port}" in result.stderr
    assert "is `cfwf dev` still running?" in result.stderr
    assert (state_dir / "dev-server.json").exists()


def test_commands_other_than_dev_do_not_import_the_server() -> None:
    probe = "import sys, cfwf_emulator.cli.main; print(sorted(m for m in ('starlette', 'uvicorn') if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
