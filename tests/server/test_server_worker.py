"""Ordinary paths go to the project's Worker ``fetch``, with one log line per request."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest

from cfwf_emulator import Emulator


async def test_a_get_reaches_the_worker_with_its_url_and_headers(
    emulator: Emulator, served: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    async with served(emulator) as api:
        response = await api.client.get(api.url + "/greet?name=ada")
        assert response.status_code == 200
        assert response.headers["x-demo"] == "yes"
        assert response.text == f"hello from the worker: GET {api.url}/greet?name=ada"
    assert "[cfwf] GET /greet?name=ada 200 (" in capsys.readouterr().out


async def test_a_post_body_reaches_the_worker_which_starts_a_workflow(emulator: Emulator, served: Any) -> None:
    async with served(emulator) as api:
        response = await api.client.post(api.url + "/start", json={"who": "grace"})
        assert response.status_code == 201
        instance_id = response.json()["id"]
        details = await api.ok("GET", f"/workflows/demo-workflow/instances/{instance_id}")
        assert details["params"] == {"who": "grace"}


async def test_a_failing_worker_answers_500_and_the_server_goes_on(
    emulator: Emulator, served: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    async with served(emulator) as api:
        response = await api.client.get(api.url + "/boom")
        assert response.status_code == 500
        assert "RuntimeError: the worker broke" in response.text
        assert (await api.client.get(api.url + "/fine")).status_code == 200
    captured = capsys.readouterr()
    assert "[cfwf] GET /boom 500 (" in captured.out
    assert "RuntimeError: the worker broke" in captured.err


def test_importing_the_engine_or_the_plugin_does_not_import_the_server() -> None:
    code = (
        "import sys, cfwf_emulator, pytest_cfwf\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in ('starlette', 'uvicorn', 'httpx')"
        " or m.startswith('cfwf_emulator.server'))\n"
        "print(loaded)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert result.stdout.strip() == "[]"


async def test_status_changes_are_printed_with_the_failing_attempts_traceback(
    emulator: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    from cfwf_emulator.server.runner import StatusPrinter

    printer = StatusPrinter(emulator)
    emulator.register(printer)
    async with emulator:
        await emulator.api.create("demo-workflow", "bad", {"fail_times": 3})
        await emulator.advance("5 seconds")
        await printer.flush()
    out = capsys.readouterr().out
    assert "[cfwf] demo-workflow bad: created -> queued\n" in out
    assert "[cfwf] demo-workflow bad: running -> errored\n" in out
    shown = out.split("[cfwf] demo-workflow bad: the failing attempt raised:\n", 1)[1]
    assert shown.startswith("Traceback (most recent call last):")
    assert 'entry.py", line' in shown and "ValueError: flaky failure #3" in shown
