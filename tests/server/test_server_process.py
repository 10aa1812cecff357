"""``python -m cfwf_emulator.server`` as a process: address record, signals, persisted state."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from cfwf_emulator.server import API_ROOT

W = API_ROOT + "/workflows/demo-workflow"


def start(project: Path, state: Path, *extra: str) -> subprocess.Popen[str]:
    """The dev server on a free port, on ``state``."""
    command = [sys.executable, "-m", "cfwf_emulator.server", "--config", str(project), "--port", "0",
               "--persist-to", str(state), *extra]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def record_of(process: subprocess.Popen[str], state: Path) -> dict[str, Any]:
    """The address record ``process`` wrote (waits up to 30 s for it)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            record: dict[str, Any] = json.loads((state / "dev-server.json").read_text())
        except (OSError, ValueError):
            record = {}
        if record.get("pid") == process.pid:
            return record
        if process.poll() is not None:
            raise AssertionError(f"the server exited {process.returncode}: {process.communicate()}")
        time.sleep(0.05)
    process.kill()
    raise AssertionError(f"no address record after 30 s: {process.communicate()}")


def stop(process: subprocess.Popen[str], sig: int = signal.SIGTERM) -> tuple[int, str, str]:
    """Send ``sig``; the exit status, stdout and stderr."""
    process.send_signal(sig)
    out, err = process.communicate(timeout=30)
    return process.returncode, out, err


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_the_server_records_its_address_and_exits_0_on_a_signal_with_its_state_intact(
    project: Path, tmp_path: Path, sig: int
) -> None:
    state = tmp_path / "state"
    process = start(project, state)
    record = record_of(process, state)
    assert set(record) == {"pid", "url", "started"}
    assert record["url"].startswith("http://localhost:")
    with httpx.Client(base_url=record["url"], timeout=30) as client:
        created = client.post(W + "/instances", json={"id": "kept", "params": {"who": "ada"}})
        assert created.status_code == 200
        assert client.get("/anything").status_code == 200
    code, out, err = stop(process, sig)
    assert code == 0, err
    assert "[cfwf] demo-workflow kept: created -> queued" in out
    assert "[cfwf] GET /anything 200" in out
    assert out.rstrip().endswith("[cfwf] stopped; state saved")
    assert not (state / "dev-server.json").exists()
    assert (state / "workflows.sqlite3").exists()

    again = start(project, state)
    record = record_of(again, state)
    with httpx.Client(base_url=record["url"], timeout=30) as client:
        details = client.get(W + "/instances/kept").json()["result"]
    assert details["params"] == {"who": "ada"}
    assert details["steps"][0]["name"] in ("flaky", "flaky-1")  # it ran before the restart and was kept
    assert stop(again)[0] == 0


def test_a_stale_record_of_a_dead_process_is_replaced(project: Path, tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (state / "dev-server.json").write_text(json.dumps({"pid": dead.pid, "url": "http://localhost:1", "started": "x"}))
    process = start(project, state)
    record = record_of(process, state)
    assert record["pid"] == process.pid and record["url"] != "http://localhost:1"
    assert stop(process)[0] == 0


def test_a_second_server_on_the_same_state_refuses_to_start(project: Path, tmp_path: Path) -> None:
    state = tmp_path / "state"
    first = start(project, state)
    record = record_of(first, state)
    second = start(project, state)
    out, err = second.communicate(timeout=60)
    assert second.returncode == 1
    assert f"a dev server (pid {first.pid}) already serves {state} at {record['url']}" in err
    assert json.loads((state / "dev-server.json").read_text())["pid"] == first.pid
    assert stop(first)[0] == 0


def test_binding_beyond_loopback_warns(project: Path, tmp_path: Path) -> None:
    state = tmp_path / "state"
    process = start(project, state, "--ip", "0.0.0.0")
    record = record_of(process, state)
    assert record["url"].startswith("http://0.0.0.0:")
    code, _, err = stop(process)
    assert code == 0
    assert "WARNING: serving on 0.0.0.0, not loopback" in err


def test_the_state_directory_defaults_to_dot_cfwf_beside_the_config(project: Path) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "cfwf_emulator.server", "--port", "0"], cwd=project / "src",
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ},
    )
    record_of(process, project / ".cfwf" / "state")
    assert stop(process)[0] == 0
    assert (project / ".cfwf" / "state" / "workflows.sqlite3").exists()


def test_with_the_virtual_clock_sleeps_and_timeouts_pass_at_once(project: Path, tmp_path: Path) -> None:
    state = tmp_path / "state"
    process = start(project, state, "--clock", "virtual")
    record = record_of(process, state)
    with httpx.Client(base_url=record["url"], timeout=30) as client:
        client.post(W + "/instances", json={"id": "fast"})
        deadline = time.monotonic() + 30
        details = client.get(W + "/instances/fast").json()["result"]
        while details["status"] != "errored" and time.monotonic() < deadline:
            time.sleep(0.05)
            details = client.get(W + "/instances/fast").json()["result"]
    assert stop(process)[0] == 0
    # an hour's sleep, then a day's wait for an event that never comes: it times out
    assert details["status"] == "errored", details
    assert [step["name"] for step in details["steps"]] == ["flaky-1", "nap-1", "approval-1"]
    assert details["steps"][1]["finished"] is True and details["steps"][2]["error"] is not None
