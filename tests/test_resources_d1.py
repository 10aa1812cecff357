"""D1Database: D1's statement API, result shapes, batch transactions, exec and error texts."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from cfwf_emulator.resources import D1Database, D1Error, D1TypeError

META_KEYS = [
    "served_by",
    "served_by_primary",
    "timings",
    "duration",
    "changes",
    "last_row_id",
    "changed_db",
    "size_after",
    "rows_read",
    "rows_written",
]


@pytest.fixture
def db() -> D1Database:
    database = D1Database("DB")
    asyncio.run(
        database.exec(
            "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, age INTEGER, data BLOB);"
        )
    )
    return database


async def seed(db: D1Database) -> None:
    await db.batch(
        [
            db.prepare("INSERT INTO users (name, age) VALUES (?, ?)").bind("Ada", 36),
            db.prepare("INSERT INTO users (name, age) VALUES (?, ?)").bind("Bob", 41),
        ]
    )


# -- first -------------------------------------------------------------------------------------


async def test_first_returns_the_row(db: D1Database) -> None:
    await seed(db)
    row = await db.prepare("SELECT id, name FROM users ORDER BY id").first()
    assert row == {"id": 1, "name": "Ada"}
    assert row.name == "Ada"


async def test_first_with_column_returns_the_value(db: D1Database) -> None:
    await seed(db)
    assert await db.prepare("SELECT name FROM users WHERE id = ?").bind(2).first("name") == "Bob"


async def test_first_column_keyword(db: D1Database) -> None:
    await seed(db)
    assert await db.prepare("SELECT COUNT(*) AS n FROM users").first(column="n") == 2


async def test_first_without_rows_is_none(db: D1Database) -> None:
    assert await db.prepare("SELECT * FROM users").first() is None
    assert await db.prepare("SELECT * FROM users").first("name") is None


async def test_first_unknown_column(db: D1Database) -> None:
    await seed(db)
    with pytest.raises(D1Error) as info:
        await db.prepare("SELECT name FROM users").first("nope")
    assert str(info.value) == "D1_COLUMN_NOTFOUND: Column not found (nope)"


async def test_first_null_column_is_none(db: D1Database) -> None:
    await db.prepare("INSERT INTO users (name) VALUES ('Cy')").run()
    assert await db.prepare("SELECT age FROM users").first("age") is None


# -- all / run ---------------------------------------------------------------------------------


async def test_all_shape(db: D1Database) -> None:
    await seed(db)
    result = await db.prepare("SELECT id, name, age FROM users ORDER BY id").all()
    assert result["success"] is True
    assert result["results"] == [
        {"id": 1, "name": "Ada", "age": 36},
        {"id": 2, "name": "Bob", "age": 41},
    ]
    assert list(result) == ["results", "success", "meta"]
    assert list(result["meta"]) == META_KEYS
    assert result["meta"]["served_by"] == "cfwf-emulator"
    assert result["meta"]["rows_read"] == 2 and result["meta"]["changes"] == 0
    assert result["meta"]["changed_db"] is False
    assert result.results[1].name == "Bob"


async def test_all_to_py(db: D1Database) -> None:
    await seed(db)
    plain = (await db.prepare("SELECT name FROM users ORDER BY id").all()).to_py()
    assert plain["results"] == [{"name": "Ada"}, {"name": "Bob"}]
    assert type(plain) is dict and type(plain["results"][0]) is dict


async def test_run_insert_meta(db: D1Database) -> None:
    result = await db.prepare("INSERT INTO users (name, age) VALUES (?, ?)").bind("Ada", 36).run()
    assert result["success"] is True and result["results"] == []
    meta = result["meta"]
    assert meta["changes"] == 1 and meta["last_row_id"] == 1
    assert meta["changed_db"] is True and meta["rows_written"] == 1
    assert meta["size_after"] > 0 and meta["duration"] >= 0
    assert meta["timings"] == {"sql_duration_ms": meta["duration"]}


async def test_run_returning_gives_rows(db: D1Database) -> None:
    result = await db.prepare("INSERT INTO users (name) VALUES (?) RETURNING id, name").bind("Ada").run()
    assert result["results"] == [{"id": 1, "name": "Ada"}]


async def test_run_update_counts_changes(db: D1Database) -> None:
    await seed(db)
    result = await db.prepare("UPDATE users SET age = age + 1").run()
    assert result["meta"]["changes"] == 2


async def test_ddl_changes_db(db: D1Database) -> None:
    result = await db.prepare("CREATE TABLE t (x)").run()
    assert result["meta"]["changed_db"] is True and result["meta"]["changes"] == 0


async def test_duplicate_column_names_keep_the_last_in_objects(db: D1Database) -> None:
    result = await db.prepare("SELECT 1 AS a, 2 AS a").all()
    assert result["results"] == [{"a": 2}]


# -- raw -----------------------------------------------------------------------------------------


async def test_raw_rows(db: D1Database) -> None:
    await seed(db)
    assert await db.prepare("SELECT id, name FROM users ORDER BY id").raw() == [[1, "Ada"], [2, "Bob"]]


async def test_raw_with_column_names(db: D1Database) -> None:
    await seed(db)
    rows = await db.prepare("SELECT id, name FROM users ORDER BY id").raw(columnNames=True)
    assert rows == [["id", "name"], [1, "Ada"], [2, "Bob"]]


async def test_raw_options_dict(db: D1Database) -> None:
    rows = await db.prepare("SELECT 1 AS a, 2 AS a").raw({"columnNames": True})
    assert rows == [["a", "a"], [1, 2]]


async def test_raw_column_names_without_rows(db: D1Database) -> None:
    rows = await db.prepare("SELECT id, name FROM users").raw(columnNames=True)
    assert rows == [["id", "name"]]


# -- bind --------------------------------------------------------------------------------------


async def test_bind_returns_a_new_statement(db: D1Database) -> None:
    base = db.prepare("SELECT ? AS v")
    bound = base.bind(5)
    assert bound is not base
    assert base.params == [] and bound.params == [5]
    assert await bound.first("v") == 5


async def test_bind_types_round_trip(db: D1Database) -> None:
    row = await db.prepare("SELECT ? AS n, ? AS i, ? AS f, ? AS s, ? AS t, ? AS b").bind(
        None, 7, 1.5, "x", True, False
    ).first()
    assert row == {"n": None, "i": 7, "f": 1.5, "s": "x", "t": 1, "b": 0}


async def test_bind_bytes_come_back_as_byte_arrays(db: D1Database) -> None:
    await db.prepare("INSERT INTO users (name, data) VALUES (?, ?)").bind("Ada", b"\x00\xff").run()
    await db.prepare("INSERT INTO users (name, data) VALUES (?, ?)").bind("Bob", bytearray(b"a")).run()
    rows = await db.prepare("SELECT data FROM users ORDER BY id").raw()
    assert rows == [[[0, 255]], [[97]]]


async def test_bind_ordered_parameters(db: D1Database) -> None:
    assert await db.prepare("SELECT ?2 || ?1 AS v").bind("a", "b").first("v") == "ba"


@pytest.mark.parametrize(
    ("value", "kind"),
    [({"a": 1}, "object"), ([1, 2], "object"), (object(), "object"), (print, "function")],
)
async def test_bind_refuses_other_types(db: D1Database, value: object, kind: str) -> None:
    with pytest.raises(D1TypeError) as info:
        db.prepare("SELECT ?").bind(value)
    assert str(info.value).startswith(f"D1_TYPE_ERROR: Type '{kind}' not supported for value ")
    assert isinstance(info.value, TypeError)


async def test_bind_refuses_integers_beyond_javascript_safe_range(db: D1Database) -> None:
    with pytest.raises(D1TypeError) as info:
        db.prepare("SELECT ?").bind(2**53)
    assert str(info.value) == "D1_TYPE_ERROR: Type 'bigint' not supported for value '9007199254740992'"


async def test_wrong_number_of_bindings(db: D1Database) -> None:
    with pytest.raises(D1Error) as info:
        await db.prepare("SELECT ?, ?").bind(1).all()
    assert str(info.value) == "D1_ERROR: Wrong number of parameter bindings for SQL query."


async def test_more_than_100_bound_parameters(db: D1Database) -> None:
    sql = "SELECT " + ", ".join("?" for _ in range(101))
    with pytest.raises(D1Error, match=r"^D1_ERROR: too many SQL variables"):
        await db.prepare(sql).bind(*range(101)).all()


# -- errors --------------------------------------------------------------------------------------


async def test_sql_error_text(db: D1Database) -> None:
    with pytest.raises(D1Error) as info:
        await db.prepare("SELECT * FROM nope").all()
    assert str(info.value) == "D1_ERROR: no such table: nope: SQLITE_ERROR"


async def test_constraint_error_text(db: D1Database) -> None:
    await seed(db)
    with pytest.raises(D1Error) as info:
        await db.prepare("INSERT INTO users (name) VALUES ('Ada')").run()
    assert str(info.value) == "D1_ERROR: UNIQUE constraint failed: users.name: SQLITE_CONSTRAINT"


async def test_syntax_error_text(db: D1Database) -> None:
    with pytest.raises(D1Error, match=r'^D1_ERROR: near "SELEC": syntax error: SQLITE_ERROR$'):
        await db.prepare("SELEC 1").all()


async def test_empty_statement(db: D1Database) -> None:
    with pytest.raises(D1Error, match=r"^D1_ERROR: No SQL statements detected\.$"):
        await db.prepare("  ").all()


async def test_prepare_needs_a_string(db: D1Database) -> None:
    with pytest.raises(TypeError):
        db.prepare(1)


async def test_foreign_keys_are_enforced(db: D1Database) -> None:
    await db.exec("CREATE TABLE orders (id INTEGER PRIMARY KEY, user_id INTEGER REFERENCES users(id));")
    with pytest.raises(D1Error, match="FOREIGN KEY constraint failed: SQLITE_CONSTRAINT"):
        await db.prepare("INSERT INTO orders (user_id) VALUES (99)").run()


# -- batch -------------------------------------------------------------------------------------


async def test_batch_returns_a_result_per_statement(db: D1Database) -> None:
    results = await db.batch(
        [
            db.prepare("INSERT INTO users (name) VALUES (?)").bind("Ada"),
            db.prepare("SELECT name FROM users"),
        ]
    )
    assert len(results) == 2
    assert results[0]["meta"]["changes"] == 1 and results[0]["results"] == []
    assert results[1]["results"] == [{"name": "Ada"}]
    assert all(result["success"] is True for result in results)


async def test_batch_rolls_back_on_failure(db: D1Database) -> None:
    with pytest.raises(D1Error) as info:
        await db.batch(
            [
                db.prepare("INSERT INTO users (name) VALUES (?)").bind("Ada"),
                db.prepare("INSERT INTO users (name) VALUES (?)").bind("Ada"),
            ]
        )
    assert str(info.value) == "D1_ERROR: UNIQUE constraint failed: users.name: SQLITE_CONSTRAINT"
    assert await db.prepare("SELECT COUNT(*) AS n FROM users").first("n") == 0


async def test_batch_rolls_back_on_sql_error(db: D1Database) -> None:
    with pytest.raises(D1Error, match="no such table"):
        await db.batch([db.prepare("INSERT INTO users (name) VALUES ('Ada')"), db.prepare("SELECT * FROM nope")])
    assert await db.prepare("SELECT COUNT(*) AS n FROM users").first("n") == 0
    await db.prepare("INSERT INTO users (name) VALUES ('Ada')").run()  # no transaction left open


async def test_batch_empty_list(db: D1Database) -> None:
    assert await db.batch([]) == []


async def test_batch_refuses_non_statements(db: D1Database) -> None:
    with pytest.raises(TypeError, match="prepared statements"):
        await db.batch(["SELECT 1"])


async def test_batch_refuses_statements_of_another_database(db: D1Database) -> None:
    other = D1Database("OTHER")
    with pytest.raises(TypeError, match="this database"):
        await db.batch([other.prepare("SELECT 1")])


# -- exec ----------------------------------------------------------------------------------------


async def test_exec_counts_lines(db: D1Database) -> None:
    result = await db.exec(
        "INSERT INTO users (name) VALUES ('a');\n"
        "INSERT INTO users (name) VALUES ('b'); INSERT INTO users (name) VALUES ('c');\n"
    )
    assert list(result) == ["count", "duration"]
    assert result["count"] == 2 and result["duration"] >= 0
    assert await db.prepare("SELECT COUNT(*) AS n FROM users").first("n") == 3


async def test_exec_multiline_statement_fails_like_d1(db: D1Database) -> None:
    with pytest.raises(D1Error) as info:
        await db.exec("CREATE TABLE t (\n  id INTEGER\n);")
    assert str(info.value) == "D1_EXEC_ERROR: Error in line 1: CREATE TABLE t (: incomplete input: SQLITE_ERROR"


async def test_exec_error_names_the_line(db: D1Database) -> None:
    with pytest.raises(D1Error) as info:
        await db.exec("INSERT INTO users (name) VALUES ('a');\nINSERT INTO nope VALUES (1);")
    assert str(info.value) == (
        "D1_EXEC_ERROR: Error in line 2: INSERT INTO nope VALUES (1);: no such table: nope: SQLITE_ERROR"
    )


async def test_exec_empty(db: D1Database) -> None:
    with pytest.raises(D1Error) as info:
        await db.exec("   ")
    assert str(info.value) == "D1_EXEC_ERROR: Error in line 1: : No SQL statements detected."


# -- files and lifecycle -------------------------------------------------------------------------


async def test_file_database_persists(tmp_path: Path) -> None:
    path = str(tmp_path / "sub" / "db.sqlite")
    first = D1Database("DB", path)
    await first.exec("CREATE TABLE t (x);\nINSERT INTO t VALUES (1);")
    first.close()
    second = D1Database("DB", path)
    assert await second.prepare("SELECT x FROM t").first("x") == 1
    second.close()


async def test_closed_database_fails(db: D1Database) -> None:
    db.close()
    with pytest.raises(D1Error, match="^D1_ERROR: Cannot operate on a closed database"):
        await db.prepare("SELECT 1").all()


async def test_dump_gives_sqlite_bytes(db: D1Database) -> None:
    data = await db.dump()
    assert data.startswith(b"SQLite format 3\x00")


def test_repr() -> None:
    assert repr(D1Database("DB")) == "<D1Database 'DB' at ':memory:'>"
