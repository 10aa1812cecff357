"""Per-test bookkeeping: the emulators and introspectors a test's fixtures created, and their end.

An emulator must be closed in the event loop it ran in. The plugin closes a test's emulators:

* inside the test's own loop right after the test coroutine, when the plugin's runner or
  anyio's runs it (:meth:`Tracker.aclose_running`);
* right after the test call with ``loop.run_until_complete`` when that loop is still open and
  idle, as pytest-asyncio leaves it (:meth:`Tracker.close_idle`);
* otherwise (the loop is already closed, as after ``asyncio.run``) it is dropped: its tasks
  died with their loop, and only the freezegun patch of ``freeze_user_time`` is undone.

Introspectors are disposed after every fixture of the test has been torn down. Nothing here
raises: a failure while cleaning up never fails a test's teardown.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from cfwf_emulator import Emulator

__all__ = ["State", "Tracker", "state_of", "tracker_for", "tracker_of"]


class Tracker:
    """What one test's fixtures created: emulators to close and introspectors to dispose."""

    def __init__(self) -> None:
        self.emulators: list[Emulator] = []
        self.disposables: list[Any] = []

    def add_emulator(self, emulator: "Emulator") -> None:
        """Close ``emulator`` at the end of the test (and show its instances if the test fails)."""
        self.emulators.append(emulator)

    def add_disposable(self, introspector: Any) -> None:
        """Dispose ``introspector`` (it has ``async dispose()``) at the end of the test."""
        self.disposables.append(introspector)

    async def aclose_running(self) -> None:
        """Close every tracked emulator bound to the running loop (call it from inside that loop)."""
        import asyncio

        loop = asyncio.get_running_loop()
        for emulator in self.emulators:
            if emulator.loop is loop:
                try:
                    await emulator.aclose()
                except Exception:  # noqa: BLE001 - cleanup must never fail the test
                    pass

    def close_idle(self) -> None:
        """Close every tracked emulator whose loop is still open and not running."""
        for emulator in self.emulators:
            loop = emulator.loop
            if loop is None or loop.is_closed() or loop.is_running():
                continue
            try:
                loop.run_until_complete(emulator.aclose())
            except Exception:  # noqa: BLE001 - e.g. another loop runs in this thread
                pass

    def finalize(self) -> None:
        """Close what can be closed, drop the rest, dispose every introspector; idempotent."""
        self.close_idle()
        for emulator in self.emulators:
            _drop(emulator)
        self.emulators.clear()
        disposables, self.disposables = self.disposables, []
        for introspector in reversed(disposables):
            _dispose(introspector)


def _drop(emulator: "Emulator") -> None:
    """Undo what outlives a closed loop: the freezegun patch of ``freeze_user_time``."""
    try:
        emulator.unfreeze_user_time()
    except Exception:  # noqa: BLE001 - cleanup must never fail the test
        pass


def _dispose(introspector: Any) -> None:
    """Run ``introspector.dispose()`` to its end without an event loop (it never suspends)."""
    try:
        coroutine = introspector.dispose()
    except Exception:  # noqa: BLE001
        return
    try:
        coroutine.send(None)
    except StopIteration:
        return
    except Exception:  # noqa: BLE001 - cleanup must never fail the test
        return
    coroutine.close()


class State:
    """Plugin state for one pytest session: the test running now, and session-level leftovers."""

    def __init__(self) -> None:
        self.current: pytest.Item | None = None
        self.session = Tracker()


_STATE = pytest.StashKey[State]()
_TRACKER = pytest.StashKey[Tracker]()


def state_of(config: pytest.Config) -> State:
    """The plugin state of ``config`` (created on first use)."""
    state = config.stash.get(_STATE, None)
    if state is None:
        state = config.stash[_STATE] = State()
    return state


def tracker_for(item: pytest.Item) -> Tracker:
    """The tracker of ``item`` (created on first use)."""
    tracker = item.stash.get(_TRACKER, None)
    if tracker is None:
        tracker = item.stash[_TRACKER] = Tracker()
    return tracker


def tracker_of(item: pytest.Item) -> Tracker | None:
    """The tracker of ``item`` if its fixtures created anything."""
    return item.stash.get(_TRACKER, None)
