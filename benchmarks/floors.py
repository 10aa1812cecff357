"""Floors: the least any engine could spend on a workload, measured on this machine in the same run.

"asyncio" makes the same awaited calls with no engine; "sqlite" makes one commit per durable
point with the same journal mode and ``synchronous`` setting, and no engine.
"""

from __future__ import annotations

import asyncio
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
