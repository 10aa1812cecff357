"""The durable store: instance state as JSON in SQLite (WAL journal, ``synchronous=FULL``).

Every store call is applied atomically and committed before it returns, so a process killed at
any moment leaves the last completed write on disk. Journal writes made by running instances
(``save_step_deferred``) are group-committed: every write made before the event loop's next turn
shares one commit, and the engine lets no user code run past a write until its commit is done. The file is marked as ours (``application_id``) and
versioned (``user_version``): a foreign file or one from a newer version is refused with an error
saying so, before anything is written to it.
"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
from pathlib import Path
from typing import Any, Iterable

from ..engine.records import InstanceRecord, StepRecord
from ..errors import ConfigError

__all__ = ["SCHEMA_VERSION", "SQLiteStore", "StoreError"]

APPLICATION_ID = 0x63667766  # "cfwf"
SCHEMA_VERSION = 1
SYNCHRONOUS = ("FULL", "NORMAL")

_SCHEMA = """
CREATE TABLE instances (
    workflow TEXT NOT NULL,
    id TEXT NOT NULL,
    created INTEGER NOT NULL,
    header TEXT NOT NULL,
    PRIMARY KEY (workflow, id)
);
CREATE INDEX instances_by_creation ON instances (created);
CREATE TABLE steps (
    workflow TEXT NOT NULL,
    id TEXT NOT NULL,
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    count INTEGER NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (workflow, id, kind, name, count)
);
CREATE TABLE resources (
    name TEXT PRIMARY KEY,
    data TEXT NOT NULL
);
"""


class StoreError(ConfigError):
    """The state file cannot be used (foreign, newer, corrupt, read-only, full); nothing was changed."""


def _dumps(value: Any) -> str:
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate (e.g. in an error message): escape it
            text = json.dumps(value, separators=(",", ":"), ensure_ascii=True)
    return text


class SQLiteStore:
    """Instance records in one SQLite file; one writer (the engine) at a time.

    ``synchronous`` is ``"FULL"`` (default: a commit survives power loss) or ``"NORMAL"`` (faster;
    the last commits may be lost on an OS crash, never on a process crash).
    """

    def __init__(self, path: "str | os.PathLike[str]", *, synchronous: str = "FULL", busy_timeout_ms: int = 5_000) -> None:
        if synchronous not in SYNCHRONOUS:
            raise ConfigError(f'synchronous must be "FULL" or "NORMAL", got {synchronous!r}')
        self.path = Path(path)
        self._batch: "asyncio.Future[None] | None" = None
        try:
            self._db = sqlite3.connect(
                self.path, isolation_level=None, check_same_thread=False, timeout=busy_timeout_ms / 1000
            )
        except sqlite3.Error as exc:
            raise StoreError(f"{self.path}: cannot open the state file: {exc}. Check the path and its permissions.") from None
        try:
            self._open(synchronous, busy_timeout_ms)
        except BaseException:
            self._db.close()
            raise

    def _open(self, synchronous: str, busy_timeout_ms: int) -> None:
        db = self._db
        try:
            db.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
            application_id = db.execute("PRAGMA application_id").fetchone()[0]
            version = db.execute("PRAGMA user_version").fetchone()[0]
            tables = db.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
        except sqlite3.OperationalError as exc:
            raise StoreError(
                f"{self.path}: cannot open the state file ({exc}): its directory may be missing or "
                "read-only, or you lack permission; SQLite needs to create -wal and -shm files "
                "next to it"
            ) from None
        except sqlite3.DatabaseError as exc:
            raise StoreError(
                f"{self.path}: this is not a cfwf-emulator state file (SQLite says: {exc}); "
                "point storage at another path"
            ) from None
        if tables and application_id != APPLICATION_ID:
            raise StoreError(
                f"{self.path}: this SQLite database is not a cfwf-emulator state file "
                f"(application_id {application_id}); point storage at another path"
            )
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"{self.path}: the state file has schema version {version}, newer than this "
                f"cfwf-emulator understands ({SCHEMA_VERSION}); upgrade cfwf-emulator"
            )
        try:
            db.execute("PRAGMA journal_mode = WAL")
            db.execute(f"PRAGMA synchronous = {synchronous}")
            if not tables:
                db.execute("BEGIN IMMEDIATE")
                for statement in filter(None, (part.strip() for part in _SCHEMA.split(";"))):
                    db.execute(statement)
                db.execute(f"PRAGMA application_id = {APPLICATION_ID}")
                db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
                db.execute("COMMIT")
        except sqlite3.Error as exc:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise StoreError(f"{self.path}: cannot initialise the state file: {exc}") from None

    # -- transactions --------------------------------------------------------------------------

    def _write(self, statements: list[tuple[str, tuple[Any, ...]]]) -> None:
        """Apply ``statements`` and commit now, with any deferred writes still pending."""
        self._apply(statements)
        self._commit()

    def _apply(self, statements: list[tuple[str, tuple[Any, ...]]]) -> None:
        """Apply ``statements`` atomically inside the open transaction (opening one if needed).

        A failed write undoes only itself (a savepoint) unless SQLite rolled back the whole
        transaction, which also fails the deferred writes waiting for the next commit.
        """
        db = self._db
        opened = not db.in_transaction
        try:
            db.execute("BEGIN IMMEDIATE" if opened else "SAVEPOINT write")
            for sql, params in statements:
                db.execute(sql, params)
            if not opened:
                db.execute("RELEASE write")
        except (sqlite3.Error, ValueError) as exc:  # UnicodeEncodeError is a ValueError
            error = StoreError(f"{self.path}: writing instance state failed, nothing was saved: {exc}")
            if opened or not db.in_transaction:
                self._abandon(error)
            else:
                try:
                    db.execute("ROLLBACK TO write")
                    db.execute("RELEASE write")
                except sqlite3.Error:
                    self._abandon(error)
            raise error from None

    def _commit(self) -> None:
        """Make every applied write durable: one commit (one fsync with ``synchronous=FULL``)."""
        try:
            self._db.execute("COMMIT")
        except sqlite3.Error as exc:
            error = StoreError(
                f"{self.path}: committing instance state failed, nothing since the last commit "
                f"was saved: {exc}"
            )
            self._abandon(error)
            raise error from None
        self._settle(None)

    def _abandon(self, error: StoreError) -> None:
        """Roll back the open transaction; deferred writes waiting in it fail with ``error``."""
        if self._db.in_transaction:
            try:
                self._db.execute("ROLLBACK")
            except sqlite3.Error:
                pass  # SQLite already rolled it back
        self._settle(error)

    def _settle(self, error: StoreError | None) -> None:
        """Tell the deferred writes of the open batch (if any) their commit's outcome."""
        batch, self._batch = self._batch, None
        if batch is None or batch.done():
            return
        try:
            if error is None:
                batch.set_result(None)
            else:
                batch.set_exception(error)
                batch.exception()  # retrieved here: a batch with no waiter left must not log
        except RuntimeError:
            pass  # its event loop is closed (a store closed at garbage collection): nobody waits

    def _commit_batch(self, batch: "asyncio.Future[None]") -> None:
        if batch is self._batch:
            try:
                self._commit()
            except StoreError:
                pass  # the batch carries the error to its waiters

    @staticmethod
    def _header_row(record: InstanceRecord) -> tuple[str, tuple[Any, ...]]:
        return (
            "UPDATE instances SET header = ? WHERE workflow = ? AND id = ?",
            (_dumps(record.header_json()), record.workflow, record.id),
        )

    @staticmethod
    def _step_row(record: InstanceRecord, step: StepRecord) -> tuple[str, tuple[Any, ...]]:
        return (
            "INSERT OR REPLACE INTO steps (workflow, id, kind, name, count, data) VALUES (?, ?, ?, ?, ?, ?)",
            (record.workflow, record.id, step.kind, step.name, step.count, _dumps(step.to_json())),
        )

    # -- the Store interface -------------------------------------------------------------------

    def insert_instance(self, record: InstanceRecord) -> None:
        """Persist a new instance with its steps (usually none)."""
        self.insert_instances([record])

    def insert_instances(self, records: list[InstanceRecord]) -> None:
        """Persist new instances (a ``create_batch``) in one transaction, in creation order."""
        statements = []
        for record in records:
            statements.append((
                "INSERT INTO instances (workflow, id, created, header) "
                "VALUES (?, ?, (SELECT COALESCE(MAX(created), 0) + 1 FROM instances), ?)",
                (record.workflow, record.id, _dumps(record.header_json())),
            ))
            statements += [self._step_row(record, step) for step in record.steps.values()]
        self._write(statements)

    def load_instance(self, workflow: str, instance_id: str) -> InstanceRecord | None:
        """The instance with its steps, or None."""
        try:
            row = self._db.execute(
                "SELECT header FROM instances WHERE workflow = ? AND id = ?", (workflow, instance_id)
            ).fetchone()
            if row is None:
                return None
            steps = self._db.execute(
                "SELECT data FROM steps WHERE workflow = ? AND id = ?", (workflow, instance_id)
            ).fetchall()
            return InstanceRecord.from_json(json.loads(row[0]), [json.loads(data) for (data,) in steps])
        except sqlite3.Error as exc:
            raise StoreError(f"{self.path}: reading instance {workflow}/{instance_id} failed: {exc}") from None
        except (ValueError, TypeError, KeyError) as exc:
            raise StoreError(
                f"{self.path}: the saved state of instance {workflow}/{instance_id} is corrupt "
                f"({type(exc).__name__}: {exc}); delete the instance or restore the file from a backup"
            ) from None

    def has_instance(self, workflow: str, instance_id: str) -> bool:
        """Whether the instance exists (without loading it)."""
        try:
            row = self._db.execute(
                "SELECT 1 FROM instances WHERE workflow = ? AND id = ?", (workflow, instance_id)
            ).fetchone()
        except sqlite3.Error as exc:
            raise StoreError(f"{self.path}: reading instance {workflow}/{instance_id} failed: {exc}") from None
        return row is not None

    def instance_ids(self, workflow: str) -> list[str]:
        """Ids of ``workflow``'s instances, oldest first."""
        try:
            rows = self._db.execute(
                "SELECT id FROM instances WHERE workflow = ? ORDER BY created", (workflow,)
            ).fetchall()
        except sqlite3.Error as exc:
            raise StoreError(
                f"{self.path}: listing the instances of {workflow} failed ({exc}); the file may be "
                "corrupt: restore it from a backup or point storage at another path"
            ) from None
        return [instance_id for (instance_id,) in rows]

    def save_header(self, record: InstanceRecord) -> None:
        """Persist the instance header."""
        self._write([self._header_row(record)])

    def save_step(self, record: InstanceRecord, step: StepRecord, *, header: bool = False) -> None:
        """Persist one step, and the header when asked, in one transaction."""
        record.steps[step.key] = step
        statements = [self._step_row(record, step)]
        if header:
            statements.append(self._header_row(record))
        self._write(statements)

    def save_step_deferred(
        self, record: InstanceRecord, step: StepRecord, *, header: bool = False
    ) -> "asyncio.Future[None]":
        """Like ``save_step``, but committed together with every write made before the event
        loop's next turn (group commit). The returned future completes when the write is durable,
        or fails with ``StoreError``; the engine lets no user code run past the write until then.
        """
        record.steps[step.key] = step
        statements = [self._step_row(record, step)]
        if header:
            statements.append(self._header_row(record))
        self._apply(statements)
        if self._batch is None:
            loop = asyncio.get_running_loop()
            self._batch = loop.create_future()
            loop.call_soon(self._commit_batch, self._batch)
        return self._batch

    def delete_steps(self, record: InstanceRecord, steps: Iterable[StepRecord]) -> None:
        """Remove steps and persist the header, in one transaction."""
        statements = [
            (
                "DELETE FROM steps WHERE workflow = ? AND id = ? AND kind = ? AND name = ? AND count = ?",
                (record.workflow, record.id, step.kind, step.name, step.count),
            )
            for step in steps
        ]
        statements.append(self._header_row(record))
        self._write(statements)

    def delete_instance(self, workflow: str, instance_id: str) -> None:
        """Remove an instance and its steps."""
        self._write([
            ("DELETE FROM steps WHERE workflow = ? AND id = ?", (workflow, instance_id)),
            ("DELETE FROM instances WHERE workflow = ? AND id = ?", (workflow, instance_id)),
        ])

    def save_resource(self, name: str, data: Any) -> None:
        """Persist a binding's state (KV namespaces) as JSON."""
        self._write([("INSERT OR REPLACE INTO resources (name, data) VALUES (?, ?)", (name, _dumps(data)))])

    def load_resource(self, name: str) -> Any:
        """A binding's persisted state, or None."""
        row = self._db.execute("SELECT data FROM resources WHERE name = ?", (name,)).fetchone()
        return None if row is None else json.loads(row[0])

    def checkpoint(self) -> None:
        """Commit any deferred writes and move the WAL into the main file, so that the state file
        alone (without its ``-wal``) holds everything: a copy of it is a complete backup."""
        if self._db.in_transaction:
            self._commit()
        try:
            self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        except sqlite3.Error as exc:
            raise StoreError(f"{self.path}: checkpointing the state file failed: {exc}") from None

    def close(self) -> None:
        """Commit any deferred writes and close the database (again: nothing happens)."""
        try:
            pending = self._db.in_transaction
        except sqlite3.ProgrammingError:
            return  # already closed
        if pending:
            try:
                self._commit()
            except StoreError:
                pass  # their runs were told; the file keeps the last commit
        self._db.close()
