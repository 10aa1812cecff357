"""Test support: a virtual-clock emulator (``async def`` tests run through the pytest-cfwf plugin)."""

from __future__ import annotations

from typing import Any

import pytest

from cfwf_emulator import Emulator, VirtualClock

START_MS = 1_767_225_600_000.0  # 2026-01-01T00:00:00Z


@pytest.fixture
def emu() -> Any:
    """A fresh emulator on a virtual clock starting at 2026-01-01T00:00:00Z (started lazily)."""
    return Emulator(clock=VirtualClock(START_MS))

# tests/projects holds user projects (some with their own test suites, run by the tests that own them)
collect_ignore = ["projects"]
