"""D1 (``env.DB``) as a Cloudflare Python Worker calls it, on the standard library's sqlite3.

``prepare(sql).bind(*values)`` makes statements; ``first``/``all``/``run``/``raw`` run them;
``batch`` runs several in one transaction; ``exec`` runs raw SQL one line at a time, as D1 does.
Results have D1's shapes (``{"results", "success", "meta"}`` with D1's meta key names) and read
as attributes too (``result.results[0].name``). SQL errors raise :class:`D1Error` with D1's
text: ``D1_ERROR: no such table: users: SQLITE_ERROR``.

An SQLite authorizer refuses what D1 refuses, when SQLite compiles each statement:
``ATTACH``/``DETACH`` and ``VACUUM`` (which could open or create files anywhere), transaction
statements (D1 commits each statement; ``batch`` is its transaction), temporary objects,
extension loading, virtual tables other than FTS5, and every PRAGMA outside D1's list. The error
is D1's, ``D1_ERROR: not authorized: SQLITE_AUTH``, with a note saying what was refused and why.
"""

from __future__ import annotations

import math
import os
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any, Sequence

from .kv import JsArray, JsBytes, JsObject, as_bytes, lone_surrogate, merge_options

__all__ = ["D1Database", "D1Error", "D1PreparedStatement", "D1TypeError"]

MAX_BOUND_PARAMETERS = 100
MAX_SQL_LENGTH = 100_000
MAX_VALUE_LENGTH = 2_000_000
_MAX_SAFE_INTEGER = 2**53 - 1
SERVED_BY = "cfwf-emulator"


class D1Error(Exception):
    """A D1 call failed; the message starts like D1's (``D1_ERROR: ...``, ``D1_EXEC_ERROR: ...``)."""


class D1TypeError(D1Error, TypeError):
    """``bind()`` got a value D1 cannot store: ``D1_TYPE_ERROR: Type 'object' not supported ...``."""


def _js_typeof(value: Any) -> str:
    if isinstance(value, int):
        return "bigint"
    if callable(value):
        return "function"
    return "object"


def _bind_value(index: int, value: Any) -> Any:
    if value is None:
        return value
    if isinstance(value, str):
        at = lone_surrogate(value)
        if at >= 0:
            raise D1Error(
                f"D1_ERROR: bind(): value {index} has a lone surrogate (U+{ord(value[at]):04X} at index "
                f"{at}), which is not valid UTF-8; D1 would store U+FFFD in its place. Fix the text "
                "(decode it with errors='replace') or bind bytes."
            )
        return value
    if isinstance(value, float):
        # D1 sends bound values as JSON, where NaN and the infinities become null.
        return value if math.isfinite(value) else None
    if isinstance(value, bool):
        return 1 if value else 0
    if isinstance(value, int):
        if -_MAX_SAFE_INTEGER <= value <= _MAX_SAFE_INTEGER:
            return value
    else:
        raw = as_bytes(value)
        if raw is not None:
            return raw
    kind = _js_typeof(value)
    shown = str(value) if kind == "bigint" else repr(value)
    raise D1TypeError(f"D1_TYPE_ERROR: Type '{kind}' not supported for value '{shown}'")


def _result_value(value: Any) -> Any:
    if isinstance(value, bytes):
        return JsArray(value)  # D1 returns BLOBs as arrays of byte values
    if isinstance(value, int) and not -_MAX_SAFE_INTEGER <= value <= _MAX_SAFE_INTEGER:
        return float(value)  # a JavaScript number cannot hold it exactly
    return value


def _error_text(exc: Exception) -> str:
    message = str(exc)
    if getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_AUTH:
        # SQLite words a refusal found while running (VACUUM's ATTACH) "authorization denied".
        return "not authorized: SQLITE_AUTH"
    if message == "query string is too large":  # Python's own check of SQLITE_LIMIT_SQL_LENGTH
        return "statement too long: SQLITE_TOOBIG"
    if message.startswith("Incorrect number of bindings supplied"):
        return "Wrong number of parameter bindings for SQL query."
    if message.startswith("You can only execute one statement at a time"):
        return (
            "cfwf-emulator runs one SQL statement per prepared statement; "
            "use db.batch([...]) or db.exec(sql) for several"
        )
    name = getattr(exc, "sqlite_errorname", None)
    if isinstance(name, str) and name.startswith("SQLITE_"):
        primary = "_".join(name.split("_")[:2])
        return f"{message}: {primary}"
    return message


def _sql_text_problem(sql: str) -> str | None:
    """Why SQLite cannot be given ``sql`` as it is, or None."""
    at = lone_surrogate(sql)
    if at >= 0:
        return (
            f"the SQL text has a lone surrogate (U+{ord(sql[at]):04X} at index {at}), which is not "
            "valid UTF-8; fix the text or bind the value with ?"
        )
    nul = sql.find("\x00")
    if nul >= 0:
        return f"the SQL text has a NUL character (at index {nul}); remove it, or bind the value with ?"
    return None


# What D1 refuses, and why; the note added to its "not authorized" error.
_REFUSED_FILES = (
    "ATTACH, DETACH and VACUUM (INTO) are refused, as on Cloudflare D1: a D1 database cannot open, "
    "copy or create other database files."
)
_REFUSED_TRANSACTION = (
    "BEGIN, COMMIT, END, ROLLBACK, SAVEPOINT and RELEASE are refused, as on Cloudflare D1, where "
    "every statement commits on its own. To run statements in one transaction, pass them to "
    "db.batch([...]): it commits all of them or none."
)
_REFUSED_TEMPORARY = (
    "temporary tables, views, indexes and triggers are refused, as on Cloudflare D1; create an "
    "ordinary table and drop it when done."
)
_REFUSED_OTHER_DATABASE = "only the main database can be used, as on Cloudflare D1."
_REFUSED_VIRTUAL_TABLE = "virtual tables other than fts5 are refused, as on Cloudflare D1."

# The PRAGMAs D1 runs (https://developers.cloudflare.com/d1/sql-api/sql-statements/), with the
# argument each accepts: none, a boolean, or any (a table or index name, a number).
_NO_ARGUMENT, _BOOLEAN, _ANY_ARGUMENT = "none", "boolean", "any"
D1_PRAGMAS: dict[str, str] = {
    "case_sensitive_like": _BOOLEAN,
    "data_version": _NO_ARGUMENT,
    "defer_foreign_keys": _BOOLEAN,
    "foreign_key_check": _ANY_ARGUMENT,
    "foreign_key_list": _ANY_ARGUMENT,
    "foreign_keys": _BOOLEAN,
    "ignore_check_constraints": _BOOLEAN,
    "index_info": _ANY_ARGUMENT,
    "index_list": _ANY_ARGUMENT,
    "index_xinfo": _ANY_ARGUMENT,
    "legacy_alter_table": _BOOLEAN,
    "optimize": _ANY_ARGUMENT,
    "quick_check": _ANY_ARGUMENT,
    "recursive_triggers": _BOOLEAN,
    "reverse_unordered_selects": _BOOLEAN,
    "table_info": _ANY_ARGUMENT,
    "table_list": _ANY_ARGUMENT,
    "table_xinfo": _ANY_ARGUMENT,
}
_BOOLEAN_WORDS = frozenset({"1", "0", "true", "false", "yes", "no", "on", "off"})
_REFUSED_FUNCTIONS = frozenset({"load_extension", "fts3_tokenizer"})
_TEMPORARY_ACTIONS = frozenset({
    sqlite3.SQLITE_CREATE_TEMP_INDEX,
    sqlite3.SQLITE_CREATE_TEMP_TABLE,
    sqlite3.SQLITE_CREATE_TEMP_TRIGGER,
    sqlite3.SQLITE_CREATE_TEMP_VIEW,
    sqlite3.SQLITE_DROP_TEMP_INDEX,
    sqlite3.SQLITE_DROP_TEMP_TABLE,
    sqlite3.SQLITE_DROP_TEMP_TRIGGER,
    sqlite3.SQLITE_DROP_TEMP_VIEW,
})


def _pragma_refusal(name: str, argument: str | None) -> str | None:
    signature = D1_PRAGMAS.get(name.lower())
    if signature is None:
        return (
            f"PRAGMA {name} is refused, as on Cloudflare D1, which runs only these PRAGMAs: "
            f"{', '.join(sorted(D1_PRAGMAS))}."
        )
    if signature == _NO_ARGUMENT and argument is not None:
        return f"PRAGMA {name} takes no value on Cloudflare D1 (it only reads)."
    if signature == _BOOLEAN and argument is not None and argument.lower() not in _BOOLEAN_WORDS:
        return f"PRAGMA {name} takes a boolean (ON/OFF, TRUE/FALSE, YES/NO, 1/0) on Cloudflare D1, not {argument!r}."
    return None


def _refusal(action: int, first: str | None, second: str | None, database: str | None) -> str | None:
    """Why D1 refuses the step SQLite is about to compile into a statement, or None to allow it."""
    if action in (sqlite3.SQLITE_ATTACH, sqlite3.SQLITE_DETACH):
        return _REFUSED_FILES
    if action in (sqlite3.SQLITE_TRANSACTION, sqlite3.SQLITE_SAVEPOINT):
        return _REFUSED_TRANSACTION
    if action == sqlite3.SQLITE_PRAGMA:
        if database not in (None, "main"):
            return f"PRAGMA {database}.{first} is refused: {_REFUSED_OTHER_DATABASE}"
        return _pragma_refusal(first or "", second)
    if action in _TEMPORARY_ACTIONS or (
        database == "temp" and action not in (sqlite3.SQLITE_READ, sqlite3.SQLITE_SELECT)
    ):
        return _REFUSED_TEMPORARY
    if database not in (None, "main", "temp"):
        return _REFUSED_OTHER_DATABASE
    if action == sqlite3.SQLITE_FUNCTION and (second or "").lower() in _REFUSED_FUNCTIONS:
        return f"{second}() is refused, as on Cloudflare D1: extensions cannot be loaded."
    if action in (sqlite3.SQLITE_CREATE_VTABLE, sqlite3.SQLITE_DROP_VTABLE) and (second or "").lower() != "fts5":
        return _REFUSED_VIRTUAL_TABLE
    return None


def _is_blank_sql(sql: str) -> bool:
    text = sql.strip()
    while text:
        if text.startswith("--"):
            newline = text.find("\n")
            text = "" if newline < 0 else text[newline + 1 :].strip()
        elif text.startswith("/*"):
            end = text.find("*/")
            text = "" if end < 0 else text[end + 2 :].strip()
        elif text.startswith(";"):
            text = text[1:].strip()
        else:
            return False
    return True


def _split_statements(line: str) -> list[str]:
    """The complete SQL statements in ``line``, plus any unterminated rest (which then fails)."""
    statements: list[str] = []
    start = 0
    for index, char in enumerate(line):
        if char == ";":
            candidate = line[start : index + 1]
            if sqlite3.complete_statement(candidate):
                if not _is_blank_sql(candidate):
                    statements.append(candidate)
                start = index + 1
    rest = line[start:]
    if not _is_blank_sql(rest):
        statements.append(rest)
    return statements


class _Outcome:
    __slots__ = ("columns", "rows", "meta")

    def __init__(self, columns: list[str], rows: list[tuple[Any, ...]], meta: JsObject) -> None:
        self.columns = columns
        self.rows = rows
        self.meta = meta

    def objects(self) -> JsArray:
        objects = JsArray()
        for row in self.rows:
            item = JsObject()
            for name, cell in zip(self.columns, row):
                item[name] = _result_value(cell)
            objects.append(item)
        return objects

    def result(self) -> JsObject:
        return JsObject(results=self.objects(), success=True, meta=self.meta)


class D1Database:
    """One D1 binding on a sqlite3 database (``":memory:"`` or a file path)."""

    def __init__(self, binding: str, path: str = ":memory:") -> None:
        self.binding = binding
        self.path = path
        if path != ":memory:" and not path.startswith("file:"):
            parent = Path(path).expanduser().resolve().parent
            os.makedirs(parent, exist_ok=True)
        self._lock = threading.RLock()
        self._trusted = False  # True while the emulator runs its own SQL
        self._refused: str | None = None  # why the authorizer last refused a step
        # No statement cache: every statement is compiled, and so authorized, each time it runs
        # (a cached "BEGIN" compiled for batch() would otherwise run for the user unchecked).
        self._conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, cached_statements=0)
        self._conn.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, MAX_BOUND_PARAMETERS)
        self._conn.setlimit(sqlite3.SQLITE_LIMIT_SQL_LENGTH, MAX_SQL_LENGTH)
        self._conn.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, MAX_VALUE_LENGTH)
        self._conn.setlimit(sqlite3.SQLITE_LIMIT_ATTACHED, 0)
        if hasattr(self._conn, "enable_load_extension"):
            self._conn.enable_load_extension(False)
        self._conn.set_authorizer(self._authorize)
        self._internal("PRAGMA foreign_keys = ON")  # D1 enforces foreign keys

    def __repr__(self) -> str:
        return f"<D1Database {self.binding!r} at {self.path!r}>"

    def _authorize(
        self, action: int, first: str | None, second: str | None, database: str | None, source: str | None
    ) -> int:
        if self._trusted:
            return sqlite3.SQLITE_OK
        refused = _refusal(action, first, second, database)
        if refused is None:
            return sqlite3.SQLITE_OK
        self._refused = refused
        return sqlite3.SQLITE_DENY

    def _internal(self, sql: str) -> list[Any]:
        """Run the emulator's own statement (not the user's), past the authorizer."""
        self._trusted = True
        try:
            return self._conn.execute(sql).fetchall()
        finally:
            self._trusted = False

    def _error(self, prefix: str, exc: Exception) -> D1Error:
        """``exc`` as D1 words it after ``prefix``; a refusal carries a note saying why."""
        error = D1Error(f"{prefix}{_error_text(exc)}")
        if self._refused is not None:
            error.add_note(f"cfwf-emulator: {self._refused}")
            self._refused = None
        return error

    # -- statements ---------------------------------------------------------------------------

    def prepare(self, query: Any, /) -> "D1PreparedStatement":
        """A statement for ``query``; bind values with ``.bind(*values)``."""
        if not isinstance(query, str):
            raise TypeError(f"prepare(): the query must be a str, got {type(query).__name__}")
        return D1PreparedStatement(self, query, ())

    def _scalar(self, sql: str) -> Any:
        return self._internal(sql)[0][0]

    def _run(self, sql: str, params: Sequence[Any]) -> _Outcome:
        """Run one statement; ``sqlite3.Error`` passes through for the caller to word."""
        problem = _sql_text_problem(sql)
        if problem is not None:
            raise sqlite3.ProgrammingError(problem)
        if _is_blank_sql(sql):
            raise sqlite3.OperationalError("No SQL statements detected.")
        conn = self._conn
        changes_before = conn.total_changes
        schema_before = self._scalar("PRAGMA schema_version")
        self._refused = None
        started = time.perf_counter()
        cursor = conn.execute(sql, tuple(params))
        rows = cursor.fetchall()
        duration = (time.perf_counter() - started) * 1000.0
        columns = [column[0] for column in cursor.description or ()]
        changes = conn.total_changes - changes_before
        changed_db = changes > 0 or self._scalar("PRAGMA schema_version") != schema_before
        size_after = int(self._scalar("PRAGMA page_count")) * int(self._scalar("PRAGMA page_size"))
        meta = JsObject(
            served_by=SERVED_BY,
            served_by_primary=True,
            timings=JsObject(sql_duration_ms=duration),
            duration=duration,
            changes=changes,
            last_row_id=int(self._scalar("SELECT last_insert_rowid()")),
            changed_db=changed_db,
            size_after=size_after,
            rows_read=len(rows),
            rows_written=changes,
        )
        return _Outcome(columns, rows, meta)

    def _execute(self, sql: str, params: Sequence[Any]) -> _Outcome:
        with self._lock:
            try:
                return self._run(sql, params)
            except sqlite3.Error as exc:
                raise self._error("D1_ERROR: ", exc) from None

    def _rollback(self) -> None:
        """End the batch's transaction, if SQLite has not already (a closed database has none)."""
        try:
            if self._conn.in_transaction:
                self._internal("ROLLBACK")
        except sqlite3.Error:
            pass  # nothing is left to undo

    async def batch(self, statements: Any, /) -> JsArray:
        """Run ``statements`` in one transaction; any failure rolls all back and raises.

        Returns one result per statement, each shaped like ``all()``'s. Transaction statements
        (``BEGIN``, ``COMMIT``, ...) are refused inside a batch as everywhere, so a batch is
        always all or nothing.
        """
        if not isinstance(statements, (list, tuple)):
            raise TypeError(f"batch() takes a list of prepared statements, got {type(statements).__name__}")
        for statement in statements:
            if not isinstance(statement, D1PreparedStatement):
                raise TypeError(
                    f"batch() takes prepared statements (db.prepare(...)), got {type(statement).__name__}"
                )
            if statement._database is not self:
                raise TypeError("batch(): every statement must come from this database's prepare()")
        results = JsArray()
        if not statements:
            return results
        with self._lock:
            try:
                self._internal("BEGIN")
                for statement in statements:
                    results.append(self._run(statement.statement, statement._params).result())
                self._internal("COMMIT")  # fails on deferred foreign keys: rolled back below
            except sqlite3.Error as exc:
                self._rollback()
                raise self._error("D1_ERROR: ", exc) from None
            except BaseException:
                self._rollback()
                raise
        return results

    async def exec(self, query: Any, /) -> JsObject:
        """Run raw SQL as D1 does: split on newlines, each line run on its own.

        A line may hold several ``;``-separated statements; a statement spread over several
        lines fails (``incomplete input``), as on Cloudflare. Returns ``{"count", "duration"}``.
        """
        if not isinstance(query, str):
            raise TypeError(f"exec(): the query must be a str, got {type(query).__name__}")
        lines = query.strip().split("\n")
        total = 0.0
        with self._lock:
            for number, line in enumerate(lines, start=1):
                try:
                    problem = _sql_text_problem(line)
                    if problem is not None:
                        raise sqlite3.ProgrammingError(problem)
                    if _is_blank_sql(line):
                        raise sqlite3.OperationalError("No SQL statements detected.")
                    for statement in _split_statements(line):
                        total += float(self._run(statement, ()).meta["duration"])
                except sqlite3.Error as exc:
                    raise self._error(f"D1_EXEC_ERROR: Error in line {number}: {line}: ", exc) from None
        return JsObject(count=len(lines), duration=total)

    async def dump(self) -> JsBytes:
        """The database file's bytes (D1's deprecated ``dump()``)."""
        with self._lock:
            self._trusted = True  # serialize() runs SQL of its own
            try:
                return JsBytes(self._conn.serialize())
            except sqlite3.Error as exc:
                raise self._error("D1_ERROR: ", exc) from None
            finally:
                self._trusted = False

    def close(self) -> None:
        """Close the sqlite3 connection; later calls fail with ``D1_ERROR``."""
        with self._lock:
            self._conn.close()


class D1PreparedStatement:
    """A SQL statement with its bound values; ``bind()`` returns a new statement."""

    def __init__(self, database: D1Database, statement: str, params: Sequence[Any]) -> None:
        self._database = database
        self._statement = statement
        self._params = tuple(params)

    def __repr__(self) -> str:
        return f"<D1PreparedStatement {self._statement!r} params={list(self._params)!r}>"

    @property
    def statement(self) -> str:
        """The SQL text."""
        return self._statement

    @property
    def params(self) -> list[Any]:
        """The bound values, as D1 will receive them (booleans as 1/0)."""
        return list(self._params)

    def bind(self, *values: Any) -> "D1PreparedStatement":
        """A new statement with ``values`` bound to ``?``/``?NNN`` in order.

        Accepted: ``None``, ``bool`` (stored as 1/0), ``int`` (within JavaScript's safe range),
        ``float``, ``str``, ``bytes``/``bytearray``/``memoryview``; anything else raises
        :class:`D1TypeError`.
        """
        return D1PreparedStatement(
            self._database,
            self._statement,
            tuple(_bind_value(index, value) for index, value in enumerate(values, start=1)),
        )

    async def first(self, column: Any = None) -> Any:
        """The first row as a dict (or ``None``), or with ``column`` that column's value.

        A ``column`` the row does not have raises ``D1_COLUMN_NOTFOUND: Column not found (<name>)``.
        """
        outcome = self._database._execute(self._statement, self._params)
        rows = outcome.objects()
        if not rows:
            return None
        row = rows[0]
        if column is None:
            return row
        if not isinstance(column, str) or column not in row:
            raise D1Error(f"D1_COLUMN_NOTFOUND: Column not found ({column})")
        return row[column]

    async def all(self) -> JsObject:
        """``{"results": [row dicts], "success": True, "meta": {...}}``."""
        return self._database._execute(self._statement, self._params).result()

    async def run(self) -> JsObject:
        """Same shape as :meth:`all` (D1 returns the rows of ``run()`` too)."""
        return self._database._execute(self._statement, self._params).result()

    async def raw(self, options: Any = None, /, **kwargs: Any) -> JsArray:
        """Rows as lists; with ``columnNames=True`` the first list is the column names."""
        opts = merge_options("raw", options, kwargs, ("columnNames",))
        outcome = self._database._execute(self._statement, self._params)
        rows = JsArray()
        if opts.get("columnNames"):
            rows.append(JsArray(outcome.columns))
        for row in outcome.rows:
            rows.append(JsArray(_result_value(cell) for cell in row))
        return rows
