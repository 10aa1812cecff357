"""The side journal: an append-only text file, one line per fact, each line written with
``os.write`` on an ``O_APPEND`` descriptor and fsynced before the writer goes on, so a line the
parent reads was really written before the process could be killed.

Lines (one process's lines are a *segment*, opened by its ``boot`` line):

- ``boot <pid>``                     the worker started (before the emulator starts)
- ``<step> <attempt> start|end|fail`` a step callback began / is returning / is raising
- ``send <n> begin|done|reconciled``  event ``n`` is being sent / was sent / was found sent
- ``d1|kv <step> <attempt> begin|done`` a callback is writing to D1 / KV, or its write returned
- ``obs <hook> <name> <n> begin|end``  an observer's hook call began / is returning
- ``finished <status>``              the worker saw the instance reach a terminal status
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

SPECIAL = ("boot", "send", "finished", "d1", "kv", "obs")


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


@dataclass(frozen=True)
class Bracket:
    """A ``d1``/``kv``/``obs`` line: ``site`` is d1, kv or obs; ``key`` names the call."""

    site: str
    key: tuple[str, ...]
    opens: bool

    @property
    def hook(self) -> str:
        return self.key[0]


def parse_bracket(line: str) -> Bracket | None:
    """A ``d1``/``kv``/``obs`` line, or None for any other."""
    parts = line.split()
    if parts[0] not in ("d1", "kv", "obs"):
        return None
    return Bracket(parts[0], tuple(parts[1:-1]), parts[-1] == "begin")


def open_brackets(lines: list[str]) -> list[Bracket]:
    """The ``begin`` lines with no matching ``end``/``done``: calls a kill interrupted."""
    open_: dict[tuple[str, tuple[str, ...]], Bracket] = {}
    for bracket in filter(None, map(parse_bracket, lines)):
        if bracket.opens:
            open_[(bracket.site, bracket.key)] = bracket
        else:
            open_.pop((bracket.site, bracket.key), None)
    return list(open_.values())


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
