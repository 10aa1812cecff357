"""What reads and writes do to the state: reads never run anything, a write runs what is due,
and the live progress line (and colour) appear on a terminal only."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import time
from pathlib import Path

from conftest import CFWF, Project

WF = "demo-workflow"


def test_reads_never_run_anything_and_the_next_write_runs_what_is_due(project: Project, tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    params = json.dumps({"sleep": "1 second", "marker": str(marker)})
    started = time.monotonic()
    project.ok("workflows", "trigger", WF, params, "--id", "sleepy")
    details = project.ok("workflows", "instances", "describe", WF, "sleepy", "--json").json()
    assert details["status"] == "waiting" and details["steps"][-1]["name"] == "nap-1"
    time.sleep(max(0.0, 1.2 - (time.monotonic() - started)))  # the real clock: the nap is due now
    for read in (["workflows", "list"], ["workflows", "describe", WF], ["workflows", "instances", "list", WF],
                 ["workflows", "instances", "describe", WF, "sleepy"], ["workflows", "instances", "export", WF, "sleepy"]):
        project.ok(*read)
    assert not marker.exists()
    assert project.ok("workflows", "instances", "describe", WF, "sleepy", "--json").json()["status"] == "waiting"
    project.ok("workflows", "trigger", WF, "--id", "another")  # any write runs what fell due
    assert marker.read_text() == "ran\n"
    steps = project.ok("workflows", "instances", "describe", WF, "sleepy", "--json").json()["steps"]
    assert [step["name"] for step in steps] == ["flaky-1", "nap-1", "mark-1", "approval-1"]


def run_in_terminal(project: Project, *args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    """Run ``cfwf`` with stdout and stderr on a pseudo-terminal; its exit status and everything it wrote."""
    master, slave = pty.openpty()
    environment = {**os.environ, "TZ": "UTC", "TERM": "xterm", **(env or {})}
    if env is None or "NO_COLOR" not in env:
        environment.pop("NO_COLOR", None)
    process = subprocess.Popen([str(CFWF), *args], cwd=project.root, stdout=slave, stderr=slave, env=environment)
    os.close(slave)
    chunks = []
    while True:
        try:
            chunk = os.read(master, 4096)
        except OSError:  # the other end closed
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(master)
    return process.wait(timeout=60), b"".join(chunks).decode()


def test_a_write_shows_a_progress_line_on_a_terminal_only(project: Project) -> None:
    code, shown = run_in_terminal(project, "workflows", "trigger", WF, "--id", "tty-1")
    assert code == 0
    assert "\rtty-1  waiting  step: approval-1\x1b[K\r\n" in shown
    assert '🚀 Workflow instance "tty-1" has been triggered successfully' in shown
    piped = project.ok("workflows", "trigger", WF, "--id", "piped-1")
    assert piped.stderr == "" and "\r" not in piped.stdout


def test_colour_on_a_terminal_unless_no_color(project: Project) -> None:
    project.ok("workflows", "trigger", WF, '{"fatal": true}', "--id", "red")
    code, coloured = run_in_terminal(project, "workflows", "instances", "describe", WF, "red")
    assert code == 0 and "\x1b[31mWorkflowFatalError: " in coloured
    code, plain = run_in_terminal(project, "workflows", "instances", "describe", WF, "red", env={"NO_COLOR": "1"})
    assert code == 0 and "\x1b[" not in plain and "WorkflowFatalError: " in plain
    piped = project.ok("workflows", "instances", "describe", WF, "red")
    assert "\x1b[" not in piped.stdout
