"""The side journal: an append-only text file, one line per fact, each line written with
``os.write`` on an ``O_APPEND`` descriptor and fsynced before the writer goes on, so a line the
parent reads was really written before the process could be killed.

Lines (one process's lines are a *segment*, opened by its ``boot`` line):

- ``boot <pid>``                     the worker started (before the emulator starts)
- ``<step> <attempt> start|end|fail`` a step callback began / is returning / is raising
- ``send <n> begin|done|reconciled``  event ``n`` is being sent / was sent / was found sent
- ``finished <status>``              the worker saw the instance reach a terminal status
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

SPECIAL = ("boot", "send", "finished")


def append(path: "str | os.PathLike[str]", line: str) -> None:
    """Append ``line`` durably (write + fsync)."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, (line + "\n").encode())
        os.fsync(fd)
    finally:
        os.close(fd)


def append_fast(path: "str | os.PathLike[str]", line: str) -> None:
    """Append ``line`` without fsync (the trace file: survives a process kill, not an OS crash)."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, (line + "\n").encode())
    finally:
        os.close(fd)


def read_lines(path: "str | os.PathLike[str]") -> list[str]:
    """Every complete line of the file (a missing file has none)."""
    try:
        text = Path(path).read_text()
    except FileNotFoundError:
        return []
    lines = text.split("\n")
    return [line for line in lines[:-1] if line]


@dataclass
class StepLine:
    step: str
    attempt: int
    what: str  # start | end | fail


def parse_step_line(line: str) -> StepLine | None:
    """A step callback line, or None for the special lines."""
    if line.split(" ", 1)[0] in SPECIAL:
        return None
    step, attempt, what = line.rsplit(" ", 2)
    if what not in ("start", "end", "fail"):
        raise ValueError(f"bad journal line {line!r}")
    return StepLine(step, int(attempt), what)


@dataclass
class SendState:
    """What the journal says about event sends."""

    begun: set[int] = field(default_factory=set)
    done: set[int] = field(default_factory=set)

    @property
    def ambiguous(self) -> set[int]:
        """Sends that began but are not known to have reached the store."""
        return self.begun - self.done


def send_state(lines: list[str]) -> SendState:
    state = SendState()
    for line in lines:
        parts = line.split()
        if parts[0] == "send":
            n = int(parts[1])
            (state.begun if parts[2] == "begin" else state.done).add(n)
    return state


def segments(lines: list[str]) -> list[list[str]]:
    """The journal split at ``boot`` lines: one list per worker process."""
    result: list[list[str]] = []
    for line in lines:
        if line.startswith("boot "):
            result.append([])
        if not result:
            raise ValueError(f"journal line before any boot line: {line!r}")
        result[-1].append(line)
    return result
