"""Floors: the least any engine could spend on a workload, measured on this machine in the same run.

"asyncio" makes the same awaited calls with no engine; "sqlite" makes one commit per durable
point with the same journal mode and ``synchronous`` setting, and no engine. "journal" (the
single-instance durable-steps rows) makes one commit per step of the rows this engine's journal
writes for a step, with its tables and indexes, and no engine: what the state format itself costs.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from pathlib import Path


def sqlite_commits(path: Path, synchronous: str, commits: int) -> float:
    """Seconds for ``commits`` one-row commits in a fresh WAL database at ``path``."""
    db = sqlite3.connect(path, isolation_level=None)
    try:
        db.execute("PRAGMA journal_mode = WAL")
        db.execute(f"PRAGMA synchronous = {synchronous}")
        db.execute("CREATE TABLE steps (n INTEGER, result TEXT)")
        began = time.perf_counter()
        for index in range(commits):
            db.execute("INSERT INTO steps VALUES (?, ?)", (index, str(index + 1)))
        return time.perf_counter() - began
    finally:
        db.close()


async def _awaited_steps(instances: int, steps: int) -> None:
    async def one_step(value: int) -> int:
        return value + 1

    async def one_instance() -> int:
        value = 0
        for _ in range(steps):
            value = await one_step(value)
        return value

    await asyncio.gather(*(one_instance() for _ in range(instances)))


def asyncio_steps(instances: int, steps: int) -> float:
    """Seconds for ``instances`` tasks each awaiting ``steps`` trivial coroutines."""
    began = time.perf_counter()
    asyncio.run(_awaited_steps(instances, steps))
    return time.perf_counter() - began


_JOURNAL_SCHEMA = (
    "CREATE TABLE instances (workflow TEXT NOT NULL, id TEXT NOT NULL, created INTEGER NOT NULL, "
    "status TEXT NOT NULL, created_ms REAL NOT NULL, modified_ms REAL NOT NULL, header TEXT NOT NULL, "
    "PRIMARY KEY (workflow, id))",
    "CREATE INDEX instances_listed ON instances (workflow, created, created_ms)",
    "CREATE INDEX instances_listed_by_status ON instances (workflow, status, created, created_ms)",
    "CREATE TABLE steps (workflow TEXT NOT NULL, id TEXT NOT NULL, kind TEXT NOT NULL, name TEXT NOT NULL, "
    "count INTEGER NOT NULL, data TEXT NOT NULL, PRIMARY KEY (workflow, id, kind, name, count))",
    "CREATE TABLE log (workflow TEXT NOT NULL, id TEXT NOT NULL, n INTEGER NOT NULL, last INTEGER NOT NULL, "
    "data TEXT NOT NULL, PRIMARY KEY (workflow, id, n)) WITHOUT ROWID",
)
_CONFIG = {"retries": {"limit": 5, "delay": 10000, "backoff": "exponential"}, "timeout": "10 minutes"}
_AT = 1_796_465_113_527.0


def _journal_texts(index: int) -> tuple[str, str, str]:
    """The JSON a durable step ``index`` writes, as the engine's SQLite store shapes it: the
    finished step's row, the next step's row with its attempt started, and the event-log row of
    the commit (the step's end, the next step's start)."""
    def step(number: int, done: bool) -> str:
        attempt = {"start": _AT, "end": _AT if done else None, "success": True if done else None, "error": None}
        return json.dumps({
            "kind": "do", "name": f"step {number}", "count": 1, "seq": number, "start_ms": _AT,
            "state": "ok" if done else "running", "end_ms": _AT if done else None,
            "result": str(number + 1) if done else None, "error": None, "config": _CONFIG, "deadline_ms": None,
            "current_attempt": [1, attempt],
        }, separators=(",", ":"))

    named = {"name": f"step {index}", "count": 1}
    following = {"name": f"step {index + 1}", "count": 1}
    log = json.dumps([
        ["step.attempt.end", _AT, {**named, "attempt": 1, "success": True, "error": None, "retry_delay_ms": None}],
        ["step.end", _AT, {**named, "success": True, "output": index + 1, "error": None}],
        ["step.start", _AT, {**following, "config": _CONFIG}],
        ["step.attempt.start", _AT, {**following, "attempt": 1}],
    ], separators=(",", ":"))
    return step(index, True), step(index + 1, False), log


def sqlite_journal_commits(path: Path, synchronous: str, steps: int) -> float:
    """Seconds for ``steps`` commits each writing the rows one durable step of this engine writes
    (its finished row, the next step's row, the event-log row: the JSON built before timing), in
    a WAL database with the engine's tables and indexes: the least this state format can cost
    per step, with no engine."""
    texts = [_journal_texts(index) for index in range(steps)]
    db = sqlite3.connect(path, isolation_level=None)
    try:
        db.execute("PRAGMA journal_mode = WAL")
        db.execute(f"PRAGMA synchronous = {synchronous}")
        for statement in _JOURNAL_SCHEMA:
            db.execute(statement)
        db.execute("INSERT INTO instances VALUES ('trivial', 'i0', 1, 'running', ?, ?, '{}')", (_AT, _AT))
        insert_step = "INSERT OR REPLACE INTO steps VALUES ('trivial', 'i0', 'do', ?, 1, ?)"
        began = time.perf_counter()
        for index, (finished, started, log) in enumerate(texts):
            db.execute("BEGIN IMMEDIATE")
            db.execute(insert_step, (f"step {index}", finished))
            db.execute(insert_step, (f"step {index + 1}", started))
            db.execute("INSERT INTO log VALUES ('trivial', 'i0', ?, ?, ?)", (4 * index + 1, 4 * index + 4, log))
            db.execute("COMMIT")
        return time.perf_counter() - began
    finally:
        db.close()
