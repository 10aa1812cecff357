"""Single-owner safety: one emulator at a time may run the instances of a state file.

The owner holds an advisory lock (``flock``) on ``<state file>.lock``; the operating system
releases it when the owner's process ends, even by SIGKILL, so a crashed owner never blocks the
next one.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from ..errors import ConfigError

__all__ = ["StateLock", "StateLockedError"]


class StateLockedError(ConfigError):
    """Another emulator (in this or another process) already runs this state file."""


class StateLock:
    """The advisory lock on a state file's instances."""

    def __init__(self, state_path: Path) -> None:
        self.path = state_path.with_name(state_path.name + ".lock")
        self._fd: int | None = None

    def _try(self) -> bool:
        import fcntl

        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd
        return True

    def _holder(self) -> str:
        try:
            pid = self.path.read_text().strip()
        except OSError:
            pid = ""
        return f"process {pid}" if pid else "another emulator"

    async def acquire(self, wait: float | None) -> None:
        """Take the lock; wait up to ``wait`` real seconds for it (None: fail at once)."""
        if self._fd is not None:
            return
        try:
            if self._try():
                return
            if wait is not None:
                loop = asyncio.get_running_loop()
                give_up = loop.time() + wait
                while loop.time() < give_up:
                    await asyncio.sleep(0.05)
                    if self._try():
                        return
        except OSError as exc:
            raise StateLockedError(f"{self.path}: cannot create the lock file: {exc}") from None
        waited = "" if wait is None else f" (waited {wait:g} s)"
        raise StateLockedError(
            f"{self.path.with_suffix('')}: the state file is in use by {self._holder()}{waited}; "
            "two emulators must not run the same instances. Stop the other one, use another "
            "state file, or pass on_locked=\"wait\" to wait for it."
        )

    def release(self) -> None:
        """Give the lock up."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
