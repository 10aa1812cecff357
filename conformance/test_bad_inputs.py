"""Hostile input to the bindings and the clock, on durable storage: a specific error, nothing lost.

Each example loads a real project (a workflow, KV, D1 and R2 on SQLite), starts a canary
instance that writes to KV and D1 and sleeps, makes one hostile call, then closes and reopens the
state in a new emulator. The property: the call either succeeds harmlessly or raises its
binding's own error type with a message (never a raw ``sqlite3``, ``OverflowError``,
``JSONDecodeError`` or ``RecursionError``), no file appears or changes outside the state's own
files, and after the reopen the canary completes with everything it wrote intact.
"""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Awaitable, Callable

from hypothesis import example, given, settings, strategies as st

from cfwf_emulator import ConfigError, Emulator, VirtualClock, WorkflowError
from cfwf_emulator.resources import D1Error, KVError, R2Error
from conformance.programs import START_MS, examples

REAL_TIMEOUT_S = 20.0
MAIN = '''
from workers import WorkflowEntrypoint


class Canary(WorkflowEntrypoint):
    async def run(self, event, step):
        @step.do("write")
        async def write():
            await self.env.KV.put("canary", "alive")
            await self.env.DB.prepare("INSERT INTO canary (v) VALUES (?)").bind(1).run()
            await self.env.BUCKET.put("canary", "alive")
            return "written"

        written = await write()
        await step.sleep("nap", "1 day")
        return written
'''
CONFIG = {
    "name": "bad-inputs",
    "main": "entry.py",
    "compatibility_date": "2026-10-01",
    "compatibility_flags": ["python_workers"],
    "workflows": [{"name": "canary", "binding": "CANARY", "class_name": "Canary"}],
    "kv_namespaces": [{"binding": "KV", "id": "kv"}],
    "d1_databases": [{"binding": "DB", "database_name": "db", "database_id": "db"}],
    "r2_buckets": [{"binding": "BUCKET", "bucket_name": "bucket"}],
}
#: What must never reach a caller: raw errors from the layers under the bindings.
RAW = ("sqlite3", "OverflowError", "JSONDecodeError", "RecursionError", "UnicodeEncodeError")


def _files(root: Path) -> dict[str, tuple[int, int]]:
    return {
        str(path.relative_to(root)): (path.stat().st_size, path.stat().st_mtime_ns)
        for path in root.rglob("*")
        if path.is_file() or path.is_symlink()
    }


def _own_file(name: str) -> bool:
    """The state's own files, which a legitimate call may change (instances, KV rows, D1, R2)."""
    return name.startswith("state/state.db")


async def _bounded(awaitable: Awaitable[Any]) -> Any:
    return await asyncio.wait_for(awaitable, REAL_TIMEOUT_S)


async def expect(allowed: tuple[type[BaseException], ...], call: Callable[[], Awaitable[Any]]) -> BaseException | None:
    """Run ``call``: success, or an ``allowed`` error with a message that is not a raw one."""
    try:
        await _bounded(call())
    except allowed as exc:
        text = f"{type(exc).__module__}.{type(exc).__name__}: {exc}"
        assert str(exc), text
        assert not any(raw in text for raw in RAW), text
        return exc
    return None


def around(bad: Callable[[Emulator, Path], Awaitable[None]]) -> None:
    """Project + canary on SQLite, the bad call, then reopen and check that nothing was lost."""

    async def main(root: Path) -> None:
        project = root / "project"
        project.mkdir()
        (project / "wrangler.json").write_text(json.dumps(CONFIG))
        (project / "entry.py").write_text(MAIN)
        state = root / "state"
        state.mkdir()
        outside = root / "outside"
        outside.mkdir()
        (outside / "secret.txt").write_text("secret")
        storage = f"sqlite:///{state / 'state.db'}?synchronous=NORMAL"
        emu = Emulator.from_config(project, clock=VirtualClock(START_MS, autojump=False), storage=storage)
        async with emu:
            await emu.env.DB.exec("CREATE TABLE IF NOT EXISTS canary (v INTEGER)")
            await emu.env.CANARY.create(id="canary")
            await _bounded(emu.advance(0))
            before = _files(root)
            await bad(emu, outside)
        after = _files(root)
        changed = {name for name in before.keys() | after.keys() if before.get(name) != after.get(name)}
        assert all(_own_file(name) for name in changed), sorted(changed)
        assert (outside / "secret.txt").read_text() == "secret"
        assert sorted(p.name for p in outside.iterdir()) == ["secret.txt"]

        again = Emulator.from_config(project, clock=VirtualClock(START_MS, autojump=False), storage=storage)
        async with again:
            instance = await again.env.CANARY.get("canary")
            await _bounded(again.run_until_idle())
            assert await instance.status() == {"status": "complete", "output": "written"}
            assert await again.env.KV.get("canary") == "alive"
            assert await (await again.env.BUCKET.get("canary")).text() == "alive"
            rows = await again.env.DB.prepare("SELECT v FROM canary WHERE v = 1").all()
            assert len(rows["results"]) == 1

    with tempfile.TemporaryDirectory(prefix="cfwf-bad-") as tmp:
        asyncio.run(main(Path(tmp)))


# -- D1: hostile SQL --------------------------------------------------------------------------------

HOSTILE_SQL = [
    "ATTACH DATABASE '{outside}/x.db' AS x",
    "ATTACH DATABASE '{state}' AS s",
    "ATTACH '{state}' AS s; DELETE FROM s.instances",
    "DETACH DATABASE main",
    "VACUUM INTO '{outside}/copy.db'",
    "VACUUM",
    "BEGIN",
    "BEGIN IMMEDIATE",
    "COMMIT",
    "ROLLBACK",
    "END",
    "SAVEPOINT sp",
    "RELEASE sp",
    "PRAGMA writable_schema = ON",
    "PRAGMA journal_mode = OFF",
    "PRAGMA query_only = ON",
    "PRAGMA database_list",
    "SELECT load_extension('{outside}/evil')",
    "DELETE FROM canary",
    "DROP TABLE canary",
    "INSERT INTO canary (v) VALUES (2)",
    "SELECT * FROM sqlite_master",
    "CREATE TABLE t (x); INSERT INTO t VALUES (1)",
    "SELECT 1; ATTACH '{outside}/y.db' AS y",
    "",
    ";",
    "SELECT '\ud800'",
    "SELECT '\x00'",
    "SELECT " + "(" * 2_000 + "1" + ")" * 2_000,
]
_sql = st.one_of(
    st.sampled_from(HOSTILE_SQL),
    st.lists(st.sampled_from(HOSTILE_SQL), min_size=2, max_size=3).map("; ".join),
    st.text(max_size=40),
)


@settings(max_examples=examples(0.5, minimum=12), deadline=None)
@given(template=_sql, how=st.sampled_from(["exec", "run", "all", "first", "raw", "batch"]))
@example(template="ATTACH DATABASE '{state}' AS s", how="run")
@example(template="VACUUM INTO '{outside}/copy.db'", how="exec")
@example(template="COMMIT", how="batch")
@example(template="BEGIN", how="run")
def test_hostile_sql(template: str, how: str) -> None:
    async def bad(emu: Emulator, outside: Path) -> None:
        sql = template.replace("{outside}", str(outside)).replace(
            "{state}", str(outside.parent / "state" / "state.db")
        )
        db = emu.env.DB
        marker = db.prepare("INSERT INTO canary (v) VALUES (99)")

        async def call() -> Any:
            if how == "exec":
                return await db.exec(sql)
            if how == "batch":
                return await db.batch([marker, db.prepare(sql)])
            return await getattr(db.prepare(sql), how)()

        failed = await expect((D1Error,), call)
        tables = await db.prepare("SELECT name FROM sqlite_master WHERE name = 'canary'").all()
        if failed and how == "batch":
            assert tables["results"], "a failed batch changes nothing"
            marked = await db.prepare("SELECT count(*) AS n FROM canary WHERE v = 99").first("n")
            assert marked == 0, "a batch is atomic whatever it contains"
        # put back what a legitimate statement may have changed, so the canary's checks hold
        if not tables["results"]:
            await db.exec("CREATE TABLE canary (v INTEGER)")
        await db.exec("DELETE FROM canary WHERE v <> 1")
        if not await db.prepare("SELECT count(*) AS n FROM canary").first("n"):
            await db.prepare("INSERT INTO canary (v) VALUES (1)").run()

    around(bad)


# -- KV: hostile keys, values and options ------------------------------------------------------------

HOSTILE_KEYS = ["", ".", "..", "../x", "/etc/passwd", "a\x00b", "\ud800", "é" * 300, "k" * 513, "canary2", "\n"]
NUMBERS = st.one_of(
    st.sampled_from([float("nan"), float("inf"), float("-inf"), 1e308, -1.0, 0, 59, 60, 10**30, True]),
    st.floats(),
    st.integers(),
    st.text(max_size=5),
)


@settings(max_examples=examples(0.5, minimum=12), deadline=None)
@given(
    key=st.one_of(st.sampled_from(HOSTILE_KEYS), st.text(max_size=20)),
    value=st.one_of(st.text(max_size=20), st.sampled_from(["\ud800", b"bytes", None, 42, {"a": 1}])),
    option=st.sampled_from(["expirationTtl", "expiration", "metadata", "cacheTtl"]),
    number=NUMBERS,
)
@example(key="k", value="v", option="expirationTtl", number=float("inf"))
@example(key="k", value="v", option="expiration", number=float("nan"))
@example(key="\ud800", value="v", option="expirationTtl", number=60)
def test_hostile_kv_calls(key: str, value: Any, option: str, number: Any) -> None:
    async def bad(emu: Emulator, _outside: Path) -> None:
        kv = emu.env.KV
        errors = (KVError, TypeError, ValueError)
        if option == "cacheTtl":
            await expect(errors, lambda: kv.get(key, {"cacheTtl": number}))
        else:
            await expect(errors, lambda: kv.put(key, value, {option: number}))
        await expect(errors, lambda: kv.get(key))
        await expect(errors, lambda: kv.list({"prefix": key}))
        await expect(errors, lambda: kv.delete(key))

    around(bad)


# -- R2: hostile keys --------------------------------------------------------------------------------


@settings(max_examples=examples(0.5, minimum=12), deadline=None)
@given(
    key=st.one_of(
        st.sampled_from(HOSTILE_KEYS + ["../outside/secret.txt", "../../outside/secret.txt", "a/../../b"]),
        st.text(max_size=20),
    ),
    body=st.one_of(st.text(max_size=20), st.binary(max_size=20), st.sampled_from([None, 42, {"a": 1}, "\ud800"])),
)
@example(key="../../outside/secret.txt", body="overwritten")
def test_hostile_r2_calls(key: str, body: Any) -> None:
    async def bad(emu: Emulator, _outside: Path) -> None:
        bucket = emu.env.BUCKET
        errors = (R2Error, TypeError, ValueError)
        await expect(errors, lambda: bucket.put(key, body))
        got: list[Any] = []

        async def read() -> None:
            obj = await bucket.get(key)
            if obj is not None:
                got.append(await obj.text())

        await expect(errors, read)
        assert "secret" not in got
        await expect(errors, lambda: bucket.head(key))
        await expect(errors, lambda: bucket.list({"prefix": key}))
        await expect(errors, lambda: bucket.delete(key))

    around(bad)


# -- time: non-finite and out-of-range values ----------------------------------------------------------

TIMES = st.one_of(
    st.sampled_from([float("nan"), float("inf"), float("-inf"), 1e18, -1e18, 1e308, 10**30, -1, "nan", "inf seconds", None]),
    st.floats(),
    st.integers(),
)


@settings(max_examples=examples(0.5, minimum=12), deadline=None)
@given(value=TIMES, where=st.sampled_from(["advance", "clock"]))
@example(value=float("nan"), where="advance")
@example(value=float("inf"), where="clock")
@example(value=1e18, where="clock")
def test_non_finite_times(value: Any, where: str) -> None:
    async def bad(emu: Emulator, _outside: Path) -> None:
        errors = (ValueError, TypeError, ConfigError, WorkflowError)
        if where == "advance":
            await expect(errors, lambda: emu.advance(value))
        else:
            async def make_clock() -> None:
                clock = VirtualClock(value)
                # an accepted start must leave room for a year of sleeps, shown as dates
                for ms in (clock.now_ms(), clock.now_ms() + 366 * 86_400_000):
                    datetime.fromtimestamp(ms / 1000, timezone.utc)

            await expect(errors, make_clock)

    around(bad)


def test_the_canary_alone() -> None:
    """The harness itself: with no bad call, everything is intact (guards against a vacuous pass)."""

    async def nothing(_emu: Emulator, _outside: Path) -> None:
        return None

    around(nothing)
    assert os.path.exists(tempfile.gettempdir())
