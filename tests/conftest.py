"""Test support: run ``async def`` tests on a fresh event loop, and a virtual-clock emulator."""

from __future__ import annotations

import asyncio
import inspect
from typing import Any

import pytest

from cfwf_emulator import Emulator, VirtualClock

START_MS = 1_767_225_600_000.0  # 2026-01-01T00:00:00Z


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    """Run coroutine test functions with asyncio.run (no async plugin needed)."""
    if not inspect.iscoroutinefunction(pyfuncitem.obj):
        return None
    names = pyfuncitem._fixtureinfo.argnames
    kwargs = {name: pyfuncitem.funcargs[name] for name in names}
    asyncio.run(asyncio.wait_for(pyfuncitem.obj(**kwargs), timeout=30))
    return True


@pytest.fixture
def emu() -> Any:
    """A fresh emulator on a virtual clock starting at 2026-01-01T00:00:00Z (started lazily)."""
    return Emulator(clock=VirtualClock(START_MS))
