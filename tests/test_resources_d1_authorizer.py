"""D1Database refuses what Cloudflare D1 refuses, at the SQLite level (an authorizer), with D1's text.

ATTACH/DETACH and VACUUM (INTO) would open or create files anywhere; transaction statements would
break ``batch`` atomicity or leave a transaction open; PRAGMAs outside D1's list would change how
the file is written. Each is refused with ``D1_ERROR: not authorized: SQLITE_AUTH``, as on
Cloudflare, and nothing is written.
"""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from cfwf_emulator.resources import D1Database, D1Error

NOT_AUTHORIZED = "D1_ERROR: not authorized: SQLITE_AUTH"


@pytest.fixture
def db() -> D1Database:
    database = D1Database("DB")
    asyncio.run(database.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT UNIQUE);"))
    return database


async def count(db: D1Database) -> int:
    return int(await db.prepare("SELECT COUNT(*) AS n FROM t").first("n"))


def notes(error: BaseException) -> str:
    return "\n".join(getattr(error, "__notes__", []))


async def refused(db: D1Database, sql: str) -> D1Error:
    """The error running ``sql`` raises, after checking it is D1's refusal."""
    with pytest.raises(D1Error) as info:
        await db.prepare(sql).all()
    assert str(info.value) == NOT_AUTHORIZED
    return info.value


# -- files outside the database ----------------------------------------------------------------


@pytest.mark.parametrize(
    "sql",
    [
        "ATTACH DATABASE '{target}' AS other",
        "ATTACH '{target}' AS other",
        "VACUUM INTO '{target}'",
        "VACUUM",
        "DETACH DATABASE other",
    ],
)
async def test_statements_that_open_other_files_are_refused(db: D1Database, tmp_path: Path, sql: str) -> None:
    target = tmp_path / "outside.sqlite3"
    error = await refused(db, sql.format(target=target))
    assert "as on Cloudflare D1" in notes(error)
    assert not target.exists()


async def test_attach_cannot_reach_another_database_file(tmp_path: Path) -> None:
    victim_path = tmp_path / "state.db"
    victim = sqlite3.connect(victim_path)
    victim.execute("CREATE TABLE instances (id TEXT)")
    victim.execute("INSERT INTO instances VALUES ('keep me')")
    victim.commit()
    victim.close()
    db = D1Database("DB", str(tmp_path / "d1.sqlite3"))
    for sql in (
        f"ATTACH DATABASE '{victim_path}' AS state",
        "DELETE FROM state.instances",
    ):
        with pytest.raises(D1Error):
            await db.exec(sql)
    db.close()
    check = sqlite3.connect(victim_path)
    assert check.execute("SELECT id FROM instances").fetchall() == [("keep me",)]
    check.close()


async def test_exec_reports_the_refusal_in_d1_exec_shape(db: D1Database, tmp_path: Path) -> None:
    target = tmp_path / "copy.sqlite3"
    with pytest.raises(D1Error) as info:
        await db.exec(f"VACUUM INTO '{target}';")
    assert str(info.value) == (
        f"D1_EXEC_ERROR: Error in line 1: VACUUM INTO '{target}';: not authorized: SQLITE_AUTH"
    )
    assert not target.exists()


# -- transactions ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "sql",
    [
        "BEGIN",
        "BEGIN TRANSACTION",
        "BEGIN IMMEDIATE",
        "BEGIN EXCLUSIVE",
        "COMMIT",
        "END",
        "ROLLBACK",
        "SAVEPOINT s",
        "RELEASE s",
        "ROLLBACK TO s",
    ],
)
async def test_transaction_statements_are_refused(db: D1Database, sql: str) -> None:
    assert "db.batch([...])" in notes(await refused(db, sql))


async def test_a_stray_begin_leaves_no_transaction_open(db: D1Database, tmp_path: Path) -> None:
    path = tmp_path / "d1.sqlite3"
    writer = D1Database("DB", str(path))
    await writer.exec("CREATE TABLE t (x);")
    await writer.batch([writer.prepare("INSERT INTO t VALUES (1)")])  # the emulator's own BEGIN/COMMIT
    with pytest.raises(D1Error):
        await writer.prepare("BEGIN").run()
    await writer.prepare("INSERT INTO t VALUES (2)").run()
    reader = sqlite3.connect(path)  # sees the insert: it was committed, not held in a transaction
    assert reader.execute("SELECT x FROM t ORDER BY x").fetchall() == [(1,), (2,)]
    reader.close()
    writer.close()


async def test_exec_refuses_begin_and_commit(db: D1Database) -> None:
    with pytest.raises(D1Error) as info:
        await db.exec("BEGIN; INSERT INTO t (name) VALUES ('a'); COMMIT;")
    assert str(info.value).endswith(": not authorized: SQLITE_AUTH")
    assert await count(db) == 0


@pytest.mark.parametrize("sql", ["COMMIT", "ROLLBACK", "END", "BEGIN", "SAVEPOINT s", "RELEASE s"])
async def test_batch_with_a_transaction_statement_is_atomic(db: D1Database, sql: str) -> None:
    with pytest.raises(D1Error) as info:
        await db.batch(
            [
                db.prepare("INSERT INTO t (name) VALUES ('first')"),
                db.prepare(sql),
                db.prepare("INSERT INTO t (name) VALUES ('second')"),
            ]
        )
    assert str(info.value) == NOT_AUTHORIZED
    assert await count(db) == 0
    await db.prepare("INSERT INTO t (name) VALUES ('after')").run()
    assert await count(db) == 1


async def test_batch_failing_at_commit_leaves_nothing_behind(db: D1Database) -> None:
    await db.exec("CREATE TABLE child (id INTEGER PRIMARY KEY, parent INTEGER REFERENCES t(id));")
    with pytest.raises(D1Error) as info:
        await db.batch(
            [
                db.prepare("PRAGMA defer_foreign_keys = ON"),
                db.prepare("INSERT INTO t (name) VALUES ('kept?')"),
                db.prepare("INSERT INTO child (parent) VALUES (99)"),
            ]
        )
    assert str(info.value) == "D1_ERROR: FOREIGN KEY constraint failed: SQLITE_CONSTRAINT"
    assert await count(db) == 0
    await db.prepare("INSERT INTO t (name) VALUES ('after')").run()  # no transaction left open
    assert await count(db) == 1


async def test_batch_on_a_closed_database_is_a_d1_error(db: D1Database) -> None:
    db.close()
    with pytest.raises(D1Error, match="^D1_ERROR: Cannot operate on a closed database"):
        await db.batch([db.prepare("SELECT 1")])


# -- PRAGMAs -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "sql",
    [
        "PRAGMA table_list",
        "PRAGMA table_info(t)",
        "PRAGMA table_xinfo('t')",
        "PRAGMA main.table_info(t)",
        "PRAGMA index_list(t)",
        "PRAGMA index_info('sqlite_autoindex_t_1')",
        "PRAGMA index_xinfo('sqlite_autoindex_t_1')",
        "PRAGMA foreign_key_list(t)",
        "PRAGMA foreign_key_check",
        "PRAGMA foreign_key_check(t)",
        "PRAGMA quick_check",
        "PRAGMA foreign_keys",
        "PRAGMA foreign_keys = OFF",
        "PRAGMA FOREIGN_KEYS = on",
        "PRAGMA defer_foreign_keys = true",
        "PRAGMA case_sensitive_like = 1",
        "PRAGMA ignore_check_constraints = 'no'",
        "PRAGMA legacy_alter_table = off",
        "PRAGMA recursive_triggers = yes",
        "PRAGMA reverse_unordered_selects = false",
        "PRAGMA data_version",
        "PRAGMA optimize",
        "SELECT name FROM pragma_table_info('t')",
    ],
)
async def test_pragmas_d1_allows_run(db: D1Database, sql: str) -> None:
    result = await db.prepare(sql).all()
    assert result["success"] is True


@pytest.mark.parametrize(
    "sql",
    [
        "PRAGMA journal_mode = OFF",
        "PRAGMA journal_mode",
        "PRAGMA synchronous = OFF",
        "PRAGMA writable_schema = ON",
        "PRAGMA user_version = 7",
        "PRAGMA application_id",
        "PRAGMA schema_version",
        "PRAGMA page_size = 512",
        "PRAGMA locking_mode = EXCLUSIVE",
        "PRAGMA temp_store_directory = '/tmp'",
        "PRAGMA database_list",
        "PRAGMA temp.foreign_keys",
        "PRAGMA foreign_keys = 'maybe'",
        "PRAGMA data_version = 3",
        "SELECT * FROM pragma_database_list",
    ],
)
async def test_pragmas_d1_forbids_are_refused(db: D1Database, sql: str) -> None:
    assert "PRAGMA" in notes(await refused(db, sql))


# -- other refusals ----------------------------------------------------------------------------


@pytest.mark.parametrize("sql", ["CREATE TEMP TABLE scratch (x)", "CREATE TEMPORARY VIEW v AS SELECT 1"])
async def test_temporary_objects_are_refused(db: D1Database, sql: str) -> None:
    assert "temporary" in notes(await refused(db, sql))


async def test_extension_loading_is_refused(db: D1Database) -> None:
    with pytest.raises(D1Error) as info:
        await db.prepare("SELECT load_extension('/tmp/evil.so')").all()
    assert str(info.value) == "D1_ERROR: not authorized to use function: load_extension: SQLITE_ERROR"
    assert "extensions cannot be loaded" in notes(info.value)


async def test_ordinary_statements_still_run(db: D1Database) -> None:
    await db.exec(
        "CREATE TABLE u (id INTEGER PRIMARY KEY, v TEXT);\n"
        "CREATE INDEX u_v ON u (v);\n"
        "CREATE VIEW uv AS SELECT v FROM u;\n"
        "CREATE TRIGGER u_t AFTER INSERT ON u BEGIN UPDATE u SET v = upper(v) WHERE id = new.id; END;\n"
        "INSERT INTO u (v) VALUES ('a');\n"
        "ALTER TABLE u ADD COLUMN w INTEGER;\n"
        "ANALYZE;\n"
        "REINDEX;\n"
        "WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c WHERE n < 3) SELECT * FROM c;\n"
        "DROP VIEW uv;\n"
    )
    assert await db.prepare("SELECT v FROM u").first("v") == "A"
