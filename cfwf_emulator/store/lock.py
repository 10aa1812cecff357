"""Single-owner safety: one emulator at a time may run the instances of a state file.

The owner holds an advisory lock (``flock``) on ``<state file>.lock``; the operating system
releases it when the owner's process ends, even by SIGKILL, so a crashed owner never blocks the
next one. The lock file is opened without following links (``O_NOFOLLOW``) and must be a regular
file: a link planted there is refused, never written through.
"""

from __future__ import annotations

import asyncio
import errno
import os
import stat
from pathlib import Path

from ..errors import ConfigError
from .base import StoreError

__all__ = ["StateLock", "StateLockedError", "link_refused", "open_no_follow"]

#: How often a waiting emulator (``on_locked="wait"``) tries the lock again, in real seconds.
POLL_S = 0.05


class StateLockedError(ConfigError):
    """Another emulator (in this or another process) already runs this state file."""


def link_refused(path: Path, what: str) -> StoreError:
    """The error for a symbolic link found where the state file or one of its companions goes."""
    return StoreError(
        f"{path}: the {what} is a symbolic link; cfwf-emulator follows no link next to its state "
        "file, so it was not opened: remove the link (nothing was written through it) and start again"
    )


def open_no_follow(path: Path, flags: int, what: str) -> int:
    """``os.open`` that refuses a symbolic link (and anything but a regular file) at ``path``.

    ``O_NONBLOCK`` keeps a FIFO planted there from blocking the open. Raises :class:`StoreError`
    for a link or a special file, ``OSError`` otherwise.
    """
    try:
        fd = os.open(path, flags | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, 0o644)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise link_refused(path, what) from None
        raise
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise StoreError(
            f"{path}: the {what} is not a regular file; remove it or point storage at another path"
        )
    return fd


class StateLock:
    """The advisory lock on a state file's instances."""

    def __init__(self, state_path: Path) -> None:
        self.state_path = state_path
        self.path = state_path.with_name(state_path.name + ".lock")
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        """Whether this object holds the lock."""
        return self._fd is not None

    def _try(self) -> bool:
        import fcntl

        try:
            fd = open_no_follow(self.path, os.O_RDWR | os.O_CREAT, "lock file")
        except OSError as exc:
            raise StoreError(
                f"{self.state_path}: cannot open the state file: its lock file {self.path} cannot "
                f"be opened ({exc.strerror}); check that the directory exists and that you may "
                "write in it"
            ) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        try:
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
        except OSError:
            pass  # the PID is only a hint for the error message of the next one
        self._fd = fd
        return True

    def _holder(self) -> str:
        try:
            fd = open_no_follow(self.path, os.O_RDONLY, "lock file")
        except (OSError, StoreError):
            return "another emulator"
        try:
            pid = os.read(fd, 32).decode(errors="replace").strip()
        finally:
            os.close(fd)
        return f"process {pid}" if pid.isdigit() else "another emulator"

    def _locked_error(self, wait: float | None) -> StateLockedError:
        waited = "" if wait is None else f" (waited {wait:g} s)"
        return StateLockedError(
            f"{self.state_path}: the state file is in use by {self._holder()}{waited}; "
            "two emulators must not run the same instances. Stop the other one, use another "
            "state file, or pass on_locked=\"wait\" to wait for it."
        )

    def acquire_now(self) -> None:
        """Take the lock or raise :class:`StateLockedError` at once."""
        if self._fd is None and not self._try():
            raise self._locked_error(None)

    async def acquire(self, wait: float | None) -> None:
        """Take the lock; wait up to ``wait`` real seconds for it (None: fail at once)."""
        if self._fd is not None or self._try():
            return
        if wait is not None:
            loop = asyncio.get_running_loop()
            give_up = loop.time() + wait
            while loop.time() < give_up:
                await asyncio.sleep(POLL_S)
                if self._try():
                    return
        raise self._locked_error(wait)

    def release(self) -> None:
        """Give the lock up."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
