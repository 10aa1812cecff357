"""The step timeline of ``instances describe`` drawn from details in Cloudflare's shape plus the
emulator's ``cfwf`` extension: wake times, event types, ``[REDACTED]`` outputs and the traceback
of the failing attempt."""

from __future__ import annotations

import io
import time
from typing import Any, Iterator

import pytest

from cfwf_emulator.cli.output import Output
from cfwf_emulator.cli.timeline import render_instance, status_line


def extension(kind: str, name: str, until: str | None = None, event_type: str | None = None,
              tracebacks: list[str | None] | None = None) -> dict[str, Any]:
    return {"name": name, "count": 1, "type": kind, "until": until, "event_type": event_type, "error": None,
            "attempts": [{"traceback": text} for text in tracebacks or []]}


DETAILS: dict[str, Any] = {
    "status": "waiting", "params": {}, "queued": "2026-12-05T01:00:00.000Z", "start": "2026-12-05T01:00:00.000Z",
    "end": None, "output": None, "error": None, "step_count": 4,
    "cfwf": {"workflow": "demo-workflow", "id": "i-1"},
    "steps": [
        {"name": "secret-1", "start": "2026-12-05T01:00:00.000Z", "end": "2026-12-05T01:00:01.000Z", "success": True,
         "type": "step", "output": "[REDACTED]", "config": None,
         "attempts": [{"start": "2026-12-05T01:00:00.000Z", "end": "2026-12-05T01:00:01.000Z", "success": True, "error": None}],
         "cfwf": extension("do", "secret", tracebacks=[None])},
        {"name": "charge-1", "start": "2026-12-05T01:00:01.000Z", "end": None, "success": None, "type": "step",
         "config": None,
         "attempts": [{"start": "2026-12-05T01:00:01.000Z", "end": "2026-12-05T01:00:02.000Z", "success": False,
                       "error": {"name": "ConnectionError", "message": "card service down"}}],
         "cfwf": extension("do", "charge", until="2026-12-05T01:00:12.000Z",
                           tracebacks=['Traceback (most recent call last):\n  File "src/entry.py", line 9, in charge\n'
                                       "ConnectionError: card service down"])},
        {"name": "nap-1", "start": "2026-12-05T01:00:01.000Z", "end": None, "finished": False, "type": "sleep",
         "error": None, "cfwf": extension("sleep", "nap", until="2026-12-05T02:00:01.000Z")},
        {"name": "approval-1", "start": "2026-12-05T01:00:01.000Z", "end": None, "finished": False,
         "type": "waitForEvent", "error": None, "output": None,
         "cfwf": extension("waitForEvent", "approval", until="2026-12-06T01:00:01.000Z", event_type="approve")},
    ],
}


@pytest.fixture
def utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Local time is UTC during the test (the dates shown are local), as before afterwards."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def rendered(**options: Any) -> str:
    out = Output(stdout=io.StringIO(), stderr=io.StringIO())
    render_instance(out, "demo-workflow", "i-1", DETAILS, show_output=options.get("show_output", True), limit=5000)
    return out.stdout.getvalue()  # type: ignore[attr-defined, no-any-return]


def test_the_timeline_shows_what_the_extension_adds(utc: None) -> None:
    text = rendered()
    lines = text.splitlines()
    assert "  Output:    [REDACTED]" in lines
    assert "  Retries At:  12/5/2026, 1:00:12 AM" in lines
    assert "  Wakes At:  12/5/2026, 2:00:01 AM" in lines
    assert "  Event Type:    approve" in lines and "  Times Out At:  12/6/2026, 1:00:01 AM" in lines
    assert "  Success:     ▶ Running" in lines
    assert "  Traceback of the failing attempt:" in lines
    assert '      File "src/entry.py", line 9, in charge' in lines
    assert "    ConnectionError: card service down" in lines
    assert text.count("Traceback of the failing attempt") == 1  # only the failed step has one


def test_outputs_can_be_hidden(utc: None) -> None:
    assert "Output:" not in rendered(show_output=False)


def test_the_status_line_says_what_a_waiting_instance_waits_for(utc: None) -> None:
    assert status_line(DETAILS) == (
        'Status: ⏰ Waiting for an event of type "approve" (approval-1) until 12/6/2026, 1:00:01 AM'
    )
    sleeping = {**DETAILS, "steps": DETAILS["steps"][:3]}
    assert status_line(sleeping) == "Status: ⏰ Waiting: nap-1 sleeps until 12/5/2026, 2:00:01 AM"
    retrying = {**DETAILS, "steps": DETAILS["steps"][:2]}
    assert status_line(retrying) == "Status: ⏰ Waiting: charge-1 retries at 12/5/2026, 1:00:12 AM"
    assert status_line({**DETAILS, "status": "complete"}) == "Status: ✅ Completed"
