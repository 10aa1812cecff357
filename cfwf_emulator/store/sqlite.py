"""The durable store: instance state as JSON in SQLite (WAL journal, ``synchronous=FULL``).

Every store call is applied atomically and committed before it returns, so a process killed at
any moment leaves the last completed write on disk. Journal writes made by running instances
(``save_step_deferred``) are group-committed: every write made before the event loop's next turn
shares one commit, and the engine lets no user code run past a write until its commit is done.

Opening is in two stages. Constructing the store only reads the first page of the file (by its
own ``open`` with ``O_NOFOLLOW``, not through SQLite) and refuses, with an error saying what to do,
a file that is not ours (``application_id``), has a schema version (``user_version``) this code
cannot read or upgrade, or is a symbolic link, as are its ``-wal``, ``-shm``, ``-journal`` and
``.lock`` companions; nothing is created or written. The owner (:meth:`SQLiteStore.acquire`, or
the first write) then takes the state lock (:mod:`.lock`) and only then creates the schema of a
new file or upgrades an older one, in one transaction; a store that does not own the lock only
reads. Buffered events are kept one row per event, and the attempts of a step one row per
attempt (schema version 2; version 1 kept events inside the instance header and attempts inside
their step's row, and is upgraded on open): a journal write of a step writes its row and only
the attempts added or changed since its last write, so it costs the same at attempt 10,000 as at
attempt 2.

Each instance row also keeps its status and its created and modified times (epoch ms, engine
clock) in their own columns, written with every write of its header, and two indexes (workflow,
creation order; workflow, status, creation order) find them: listing and counting instances read
those columns only, never a JSON header or a step. A version-1 file gets them from its headers
when it is upgraded.

Inspection: ``SQLiteStore(path, readonly=True)`` opens the file through SQLite's read-only mode
(``mode=ro``) to look at it while another process (an emulator) owns it: no lock is taken,
nothing is created, upgraded, recovered or run, every read sees what was committed when it
began (one snapshot per read, so each new read sees the owner's later commits) and every write
raises :class:`StoreError`. SQLite may create the empty ``-wal`` and ``-shm`` companions it uses
to share the file, never writes the state file itself. A version-1 file is refused (it has no
listing columns) before anything is created: open it once normally to upgrade it.

SQLite opens files by path: the link checks run just before it does, so a link planted between
the check and the open by someone who can write to the state file's directory is not detected.
Keep that directory writable only by you.
"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import warnings
from pathlib import Path
from typing import Any, ClassVar, Iterable, Iterator
from urllib.parse import quote

from contextlib import contextmanager

from ..engine.eventlog import EventRow, entries_json, rows_from_json
from ..engine.records import STATUSES, InstanceRecord, StepRecord
from ..errors import ConfigError
from ..jsontext import compact, compact_same, number, storable, strings as _strings
from .base import (
    GROUP_COMMIT,
    MODIFIED_FROM,
    CorruptInstanceError,
    InstanceSummary,
    SharedCommit,
    StateReadOnlyError,
    StorageWarning,
    StoreError,
    check_created_bounds,
    check_listing,
    latest_ms,
    modified_ms,
)
from .lock import StateLock, link_refused, open_no_follow
from .sqlite_load import CURRENT_ATTEMPT, InstanceRows, decode, read_rows
from .sqlite_load import attempt_rows as _attempt_rows

__all__ = ["SCHEMA_VERSION", "SQLiteStore", "StoreError"]

APPLICATION_ID = 0x63667766  # "cfwf"
SCHEMA_VERSION = 2
#: Older schema versions this code upgrades on open.
UPGRADABLE = (1,)
SYNCHRONOUS = ("FULL", "NORMAL")
#: Files next to the state file that SQLite or the lock may open: none may be a link.
COMPANIONS = ("-wal", "-shm", "-journal", ".lock")

# An instance's event log (see engine/eventlog.py): one row per commit that added events, holding
# events ``n`` to ``last`` as a JSON array of ``[type, at_ms, data]``. Created when missing, so
# that a version-2 file written before the log existed gets one.
_LOG_TABLE = """
CREATE TABLE IF NOT EXISTS log (
    workflow TEXT NOT NULL,
    id TEXT NOT NULL,
    n INTEGER NOT NULL,
    last INTEGER NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (workflow, id, n)
) WITHOUT ROWID
"""

_EVENTS_TABLE = """
CREATE TABLE events (
    workflow TEXT NOT NULL,
    id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (workflow, id, seq)
)
"""

# ``created`` orders a workflow's instances by creation (1, 2, ... within the workflow). The
# listing columns come before ``header``, so reading them never reads a large header's overflow
# pages, and the indexes hold no column a header write changes but ``status``: each write of an
# instance's header updates one index entry at most.
_INSTANCES_TABLE = [
    """
CREATE TABLE instances (
    workflow TEXT NOT NULL,
    id TEXT NOT NULL,
    created INTEGER NOT NULL,
    status TEXT NOT NULL,
    created_ms REAL NOT NULL,
    modified_ms REAL NOT NULL,
    header TEXT NOT NULL,
    PRIMARY KEY (workflow, id)
)""",
    "CREATE INDEX instances_listed ON instances (workflow, created, created_ms)",
    "CREATE INDEX instances_listed_by_status ON instances (workflow, status, created, created_ms)",
]

_STEPS_TABLE = """
CREATE TABLE steps (
    workflow TEXT NOT NULL,
    id TEXT NOT NULL,
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    count INTEGER NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (workflow, id, kind, name, count)
)"""

# One row per attempt of a step (``n``: its number, from 1); the step's row holds no attempt.
_ATTEMPTS_TABLE = """
CREATE TABLE attempts (
    workflow TEXT NOT NULL,
    id TEXT NOT NULL,
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    count INTEGER NOT NULL,
    n INTEGER NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (workflow, id, kind, name, count, n)
)
"""

_SCHEMA = [
    *_INSTANCES_TABLE,
    _STEPS_TABLE,
    _ATTEMPTS_TABLE,
    _EVENTS_TABLE,
    _LOG_TABLE,
    """
CREATE TABLE resources (
    name TEXT PRIMARY KEY,
    data TEXT NOT NULL
)""",
]

#: What :meth:`SQLiteStore._examine` finds: no file, an empty one, or one without tables yet.
MISSING, EMPTY, BLANK = "missing", "empty", "blank"
_MAGIC = b"SQLite format 3\x00"


def _dumps(value: Any) -> str:
    return storable(compact(value), lambda: value)


def _step_json(step: StepRecord) -> str:
    """The JSON of a step's row: :meth:`StepRecord.to_json` with its newest attempt (as
    ``[number, attempt]``), the text ``_dumps`` writes for it, built directly (every step writes
    its row at least twice)."""
    attempts = step.attempts
    text = (
        f'{{"kind":{_strings(step.kind)},"name":{_strings(step.name)},"count":{number(step.count)},'
        f'"seq":{number(step.seq)},"start_ms":{number(step.start_ms)},"state":{_strings(step.state)},'
        f'"end_ms":{number(step.end_ms)},"result":{"null" if step.result is None else _strings(step.result)},'
        f'"error":{"null" if step.error is None else compact(step.error)},"config":{compact_same(step.config)},'
        f'"deadline_ms":{number(step.deadline_ms)}'
        + (f',"{CURRENT_ATTEMPT}":[{len(attempts)},{compact(attempts[-1])}]}}' if attempts else "}")
    )
    return storable(text, lambda: _step_data(step))


def _step_data(step: StepRecord) -> dict[str, Any]:
    data = step.to_json()
    if step.attempts:
        data[CURRENT_ATTEMPT] = [len(step.attempts), step.attempts[-1]]
    return data


class SQLiteStore:
    """Instance records in one SQLite file; one writer (the owner of the state lock) at a time.

    ``synchronous`` is ``"FULL"`` (default: a commit survives power loss) or ``"NORMAL"`` (faster;
    the last commits may be lost on an OS crash, never on a process crash). Constructing it checks
    the file without writing anything; :meth:`acquire` (or the first write) makes this store the
    owner; :meth:`close` gives everything up, and the store can be acquired again afterwards.

    ``readonly=True`` opens it for inspection (see the module docstring): the file must exist and
    be a current state file (``StoreError`` otherwise, at once), reads see each committed
    transaction of whoever owns it, and every write raises ``StoreError``.
    """

    capabilities: ClassVar[frozenset[str]] = frozenset({GROUP_COMMIT})

    def __init__(
        self,
        path: "str | os.PathLike[str]",
        *,
        synchronous: str = "FULL",
        busy_timeout_ms: int = 5_000,
        readonly: bool = False,
    ) -> None:
        if synchronous not in SYNCHRONOUS:
            raise ConfigError(f'synchronous must be "FULL" or "NORMAL", got {synchronous!r}')
        self.path = Path(path)
        self.lock = StateLock(self.path)
        self.readonly = readonly
        self._synchronous = synchronous
        self._busy_timeout_ms = int(busy_timeout_ms)
        self._batch: "asyncio.Future[None] | None" = None
        #: Header writes joined to the pending commit (``save_header_deferred``), by instance.
        self._lazy: dict[tuple[str, str], InstanceRecord] = {}
        #: Instances written since the last commit: their new log entries join that commit.
        self._logged: dict[tuple[str, str], InstanceRecord] = {}
        #: The log entries the open commit saves: (record, how many of its held entries).
        self._log_written: list[tuple[InstanceRecord, int]] = []
        #: Header writes in the open transaction: (record, its header snapshot or None when only
        #: the modified time was written, modified time), by instance; the records learn them
        #: (``saved_header``, ``saved_modified_ms``) once committed.
        self._headers: dict[tuple[str, str], tuple[InstanceRecord, tuple[Any, ...] | None, float]] = {}
        self._db: sqlite3.Connection | None = None
        self._prepared = False
        self._owner = False
        if not readonly:
            self._examine()
        elif self._examine() == MISSING:
            raise StoreError(
                f"{self.path}: there is no state file to inspect; check the path (an emulator "
                "creates the file when it starts)"
            )
        else:
            self._reader()  # refuse a file that cannot be inspected now, not at the first read

    # -- opening -------------------------------------------------------------------------------

    def _examine(self) -> str | int:
        """What the file is, from its first page, read without SQLite and without following a
        link: ``MISSING``, ``EMPTY`` (0 bytes), ``BLANK`` (SQLite, no tables) or our schema
        version. Raises :class:`StoreError` for a file to refuse. Writes nothing."""
        for suffix in COMPANIONS:
            companion = Path(f"{self.path}{suffix}")
            if companion.is_symlink():
                raise link_refused(companion, f"state file's {suffix} companion")
        try:
            fd = open_no_follow(self.path, os.O_RDONLY, "state file")
        except FileNotFoundError:
            if not self.path.parent.is_dir():
                raise StoreError(
                    f"{self.path}: cannot open the state file: its directory {self.path.parent} does "
                    "not exist; create it or point storage at another path"
                ) from None
            return MISSING
        except OSError as exc:
            raise StoreError(
                f"{self.path}: cannot open the state file ({exc.strerror}). Check the path and its "
                "permissions."
            ) from None
        try:
            size = os.fstat(fd).st_size
            page = os.pread(fd, 512, 0)
        except OSError as exc:
            raise StoreError(f"{self.path}: cannot read the state file ({exc.strerror})") from None
        finally:
            os.close(fd)
        if size == 0:
            return EMPTY
        if len(page) < 108 or not page.startswith(_MAGIC):
            raise StoreError(
                f"{self.path}: this is not a cfwf-emulator state file (not an SQLite database); "
                "point storage at another path"
            )
        application_id = int.from_bytes(page[68:72], "big", signed=True)
        version = int.from_bytes(page[60:64], "big", signed=True)
        # the schema table's root page: a leaf (type 13) with no cell holds no table yet
        blank = page[100] == 13 and int.from_bytes(page[103:105], "big") == 0
        return self._classify(application_id, version, blank)

    def _classify(self, application_id: int, version: int, blank: bool) -> str | int:
        if application_id not in (0, APPLICATION_ID) or (application_id == 0 and not blank):
            raise StoreError(
                f"{self.path}: this SQLite database is not a cfwf-emulator state file "
                f"(application_id {application_id}); point storage at another path"
            )
        if blank:
            return BLANK
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"{self.path}: the state file has schema version {version}, newer than this "
                f"cfwf-emulator understands ({SCHEMA_VERSION}); upgrade cfwf-emulator"
            )
        if version != SCHEMA_VERSION and version not in UPGRADABLE:
            raise StoreError(
                f"{self.path}: the state file has schema version {version}, which this "
                f"cfwf-emulator cannot read or upgrade (it reads versions {UPGRADABLE[0]} to "
                f"{SCHEMA_VERSION}); restore it from a backup or point storage at another path"
            )
        return version

    def _connect(self) -> sqlite3.Connection:
        target: "str | Path" = self.path
        if self.readonly:  # SQLite's read-only mode: this connection never writes the file
            target = f"file:{quote(os.path.abspath(self.path), safe='/')}?mode=ro"
        try:
            db = sqlite3.connect(
                target,
                isolation_level=None,
                check_same_thread=False,
                timeout=self._busy_timeout_ms / 1000,
                uri=self.readonly,
            )
        except sqlite3.Error as exc:
            raise StoreError(f"{self.path}: cannot open the state file: {exc}. Check the path and its permissions.") from None
        db.execute(f"PRAGMA busy_timeout = {self._busy_timeout_ms}")
        return db

    def _check(self, db: sqlite3.Connection) -> str | int:
        """``_examine`` through SQLite, which also sees what is still in the WAL."""
        try:
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
        return self._classify(application_id, version, not tables)

    def _reader(self) -> sqlite3.Connection | None:
        """The connection to read with; None while there is no file with tables to read."""
        if self._db is not None:
            return self._db
        found = self._examine()
        if found in (MISSING, EMPTY):
            return None
        if self.readonly and isinstance(found, int) and found != SCHEMA_VERSION:
            if not Path(f"{self.path}-wal").exists():  # no owner may have upgraded it since
                raise self._not_inspectable(found)
        db = self._connect()
        try:
            version = self._check(db)
            if version == BLANK:
                db.close()
                return None
            if self.readonly and version != SCHEMA_VERSION:
                raise self._not_inspectable(version)
        except BaseException:
            db.close()
            raise
        self._db = db
        return db

    async def acquire(self, wait: float | None = None) -> None:
        """Become the owner until :meth:`release`: take the state lock, waiting up to ``wait``
        real seconds for it (None: ``StateLockedError`` at once), then open the file for writing,
        creating the schema of a new file or upgrading an older one. A failure leaves nothing
        taken."""
        if self._owner:
            return
        self._refuse_if_readonly()
        await self.lock.acquire(wait)
        try:
            self._prepared = False  # check the file again: it may have changed while not ours
            self._prepare()
        except BaseException:
            self.lock.release()
            raise
        self._owner = True

    @contextmanager
    def _locked(self) -> Iterator[sqlite3.Connection]:
        """The connection to write with. A store that does not own the file (no emulator runs
        it) holds the lock just for the write: ``StateLockedError`` if an emulator runs it."""
        if self._owner:
            assert self._db is not None
            yield self._db
            return
        self._refuse_if_readonly()
        self.lock.acquire_now()
        try:
            self._prepare()
            assert self._db is not None
            yield self._db
        finally:
            self.lock.release()

    def _not_inspectable(self, version: "str | int") -> StoreError:
        return StoreError(
            f"{self.path}: the state file has schema version {version}, written by an older "
            f"cfwf-emulator; inspecting needs version {SCHEMA_VERSION}. Open it once normally "
            "(start an emulator on it, which upgrades it), then inspect it"
        )

    def _refuse_if_readonly(self) -> None:
        if self.readonly:
            raise StateReadOnlyError(
                f"{self.path}: this store was opened for inspection (read-only); writes need the "
                "owner: run an emulator on the state file to change it"
            )

    def _prepare(self) -> None:
        """With the lock held: open the file for writing (initialised or upgraded as needed)."""
        if self._prepared and self._db is not None:
            return
        self._close_connection()
        found = self._examine()
        db = self._connect()
        try:
            version = self._check(db)
            db.execute(f"PRAGMA synchronous = {self._synchronous}")
            if version == BLANK:
                self._transaction(db, "initialise", self._initialise)
                if found == EMPTY:
                    warnings.warn(
                        f"{self.path} is empty (0 bytes): it was taken as a new state file with no "
                        "instances. If it should hold instances, it was truncated or copied "
                        "badly: stop, and restore it from a backup.",
                        StorageWarning,
                        stacklevel=4,
                    )
            elif version != SCHEMA_VERSION:
                self._transaction(db, f"upgrade (from schema version {version})", self._upgrade)
            elif db.execute("SELECT 1 FROM sqlite_master WHERE name = 'log'").fetchone() is None:
                self._transaction(db, "add the event log to", lambda db: db.execute(_LOG_TABLE))
            db.execute("PRAGMA journal_mode = WAL")
        except BaseException:
            db.close()
            raise
        self._db = db
        self._prepared = True

    def _transaction(self, db: sqlite3.Connection, what: str, body: Any) -> None:
        try:
            db.execute("BEGIN IMMEDIATE")
            body(db)
            db.execute("COMMIT")
        except (sqlite3.Error, ValueError) as exc:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise StoreError(
                f"{self.path}: cannot {what} the state file, nothing was changed: {exc}. Check the "
                "free disk space and the file's permissions, then start again."
            ) from None

    @staticmethod
    def _initialise(db: sqlite3.Connection) -> None:
        for statement in _SCHEMA:
            db.execute(statement)
        db.execute(f"PRAGMA application_id = {APPLICATION_ID}")
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    @staticmethod
    def _upgrade(db: sqlite3.Connection) -> None:
        """Version 1 to 2: each instance's buffered events leave its header for the events table,
        each instance row is copied into the new ``instances`` table with its listing columns
        (status, created and modified times) filled from its header, in creation order, and each
        step's attempts leave its row for the attempts table.

        A header or step that cannot be parsed is copied as it is: the instance is reported
        corrupt when loaded (and listed with status ``unknown`` for a header), and the others
        are upgraded.
        """
        SQLiteStore._upgrade_steps(db)
        db.execute(_EVENTS_TABLE)
        db.execute("ALTER TABLE instances RENAME TO instances_v1")
        db.execute("DROP INDEX instances_by_creation")
        for statement in _INSTANCES_TABLE:
            db.execute(statement)
        rows = db.execute("SELECT workflow, id, created, header FROM instances_v1 ORDER BY created").fetchall()
        for workflow, instance_id, created, text in rows:
            try:
                header = json.loads(text)
            except ValueError:
                header = None
            if not isinstance(header, dict):
                header = {}
            events = header.pop("events", None)
            if isinstance(events, list):
                db.executemany(
                    "INSERT INTO events (workflow, id, seq, data) VALUES (?, ?, ?, ?)",
                    [(workflow, instance_id, seq, _dumps(event)) for seq, event in enumerate(events)],
                )
                text = _dumps(header)
            status = header.get("status")
            db.execute(
                "INSERT INTO instances (workflow, id, created, status, created_ms, modified_ms, header) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    workflow,
                    instance_id,
                    created,
                    status if status in STATUSES else "unknown",
                    latest_ms([header.get("created_ms")]),
                    latest_ms(header.get(name) for name in MODIFIED_FROM),
                    text,
                ),
            )
        db.execute("DROP TABLE instances_v1")
        db.execute(_LOG_TABLE)
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    @staticmethod
    def _upgrade_steps(db: sqlite3.Connection) -> None:
        """Version 1 to 2 for steps: each step's ``attempts`` become rows of the attempts table."""
        db.execute("ALTER TABLE steps RENAME TO steps_v1")
        db.execute(_STEPS_TABLE)
        db.execute(_ATTEMPTS_TABLE)
        for workflow, instance_id, kind, name, count, text in db.execute(
            "SELECT workflow, id, kind, name, count, data FROM steps_v1"
        ):
            key = (workflow, instance_id, kind, name, count)
            try:
                data = json.loads(text)
            except ValueError:
                data = None
            rows = _attempt_rows(data)
            if rows is not None:
                db.executemany(
                    "INSERT INTO attempts (workflow, id, kind, name, count, n, data) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    [(*key, number, _dumps(attempt)) for number, attempt in rows],
                )
                text = _dumps(data)
            db.execute(
                "INSERT INTO steps (workflow, id, kind, name, count, data) VALUES (?, ?, ?, ?, ?, ?)", (*key, text)
            )
        db.execute("DROP TABLE steps_v1")

    # -- transactions --------------------------------------------------------------------------

    def _write(
        self,
        statements: list[tuple[str, tuple[Any, ...]]],
        record: InstanceRecord | None = None,
        steps: Iterable[StepRecord] = (),
    ) -> None:
        """Apply ``statements`` (and ``record``'s event changes, ``steps``' attempt changes) and
        commit now, with any deferred writes still pending. The changes count as saved only once
        committed, so a failed write is tried again with the next write."""
        if record is not None:
            self._logged[(record.workflow, record.id)] = record
        with self._locked():
            self._apply(statements)
            self._commit()
        if record is not None:
            record.events.saved()
        for step in steps:
            step.attempts_saved()

    def _apply(self, statements: list[tuple[str, tuple[Any, ...]]]) -> None:
        """Apply ``statements`` atomically inside the open transaction (opening one if needed).

        A failed write undoes only itself (a savepoint) unless SQLite rolled back the whole
        transaction, which also fails the deferred writes waiting for the next commit. A single
        statement needs no savepoint: SQLite undoes a failed statement by itself (most writes of
        a wake are one statement, and a savepoint costs two more).
        """
        db = self._db
        assert db is not None and self._prepared
        opened = not db.in_transaction
        savepoint = not opened and len(statements) > 1
        try:
            if opened:
                db.execute("BEGIN IMMEDIATE")
            elif savepoint:
                db.execute("SAVEPOINT write")
            for sql, params in statements:
                db.execute(sql, params)
            if savepoint:
                db.execute("RELEASE write")
        except (sqlite3.Error, ValueError) as exc:  # UnicodeEncodeError is a ValueError
            error = StoreError(f"{self.path}: writing instance state failed, nothing was saved: {exc}")
            self._forget_headers()
            if opened or not db.in_transaction:
                self._abandon(error)
            elif not savepoint:
                pass  # the one statement undid itself; the transaction goes on
            else:
                try:
                    db.execute("ROLLBACK TO write")
                    db.execute("RELEASE write")
                except sqlite3.Error:
                    self._abandon(error)
            raise error from None

    def _commit(self) -> None:
        """Make every applied write durable: one commit (one fsync with ``synchronous=FULL``)."""
        assert self._db is not None
        self._flush_lazy()
        self._flush_log()
        if not self._db.in_transaction:
            return  # the lazy header writes alone failed: their batch was told
        try:
            self._db.execute("COMMIT")
        except sqlite3.Error as exc:
            error = StoreError(
                f"{self.path}: committing instance state failed, nothing since the last commit "
                f"was saved: {exc}"
            )
            self._abandon(error)
            raise error from None
        written, self._log_written = self._log_written, []
        for record, count in written:
            record.log.persisted(count)
        headers, self._headers = self._headers, {}
        for record, snapshot, modified in headers.values():
            if snapshot is not None:
                record.saved_header = snapshot
            if modified > record.saved_modified_ms:
                record.saved_modified_ms = modified
        self._settle(None)

    def _forget_headers(self) -> None:
        """A write failed: what the open transaction wrote of headers may not be committed, so
        their instances' next step writes write the whole header again."""
        headers, self._headers = self._headers, {}
        for record, _snapshot, _modified in headers.values():
            record.saved_header = None

    def _flush_log(self) -> None:
        """Write the log entries of the instances written since the last commit, one row per
        instance, into the open transaction; they leave memory once committed. If this write
        fails, the whole commit fails: no state is saved without the events that report it."""
        if not self._logged:
            return
        logged, self._logged = self._logged, {}
        rows = []
        for record in logged.values():
            log = record.log
            if not log.entries:
                continue
            rows.append((record.workflow, record.id, log.first_id, log.next_id - 1, entries_json(log.entries)))
            self._log_written.append((record, len(log.entries)))
        if not rows:
            return
        db = self._db
        assert db is not None
        try:
            if not db.in_transaction:
                db.execute("BEGIN IMMEDIATE")
            db.executemany("INSERT OR REPLACE INTO log (workflow, id, n, last, data) VALUES (?, ?, ?, ?, ?)", rows)
        except (sqlite3.Error, ValueError) as exc:
            error = StoreError(f"{self.path}: writing instance state failed, nothing was saved: {exc}")
            self._abandon(error)
            raise error from None

    def _abandon(self, error: StoreError) -> None:
        """Roll back the open transaction; deferred writes waiting in it fail with ``error``."""
        self._log_written = []
        self._forget_headers()
        if self._db is not None and self._db.in_transaction:
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

    def _flush_lazy(self) -> None:
        """Apply the header writes joined to this commit, less those a later header write of the
        same instance already made. One that fails is dropped (the instance's next header write
        saves its status) without failing the others' writes."""
        if not self._lazy:
            return
        lazy, self._lazy = self._lazy, {}
        statements = []
        for record in lazy.values():
            statements += [self._header_row(record), *self._event_changes(record)]
        try:
            self._apply(statements)
        except StoreError:
            return
        for record in lazy.values():
            record.events.saved()

    def _commit_batch(self, batch: "asyncio.Future[None]") -> None:
        if batch is self._batch:
            try:
                self._commit()
            except StoreError:
                pass  # the batch carries the error to its waiters

    @contextmanager
    def _reading(self) -> Iterator[sqlite3.Connection | None]:
        """The connection for a read of several statements, seen as one snapshot (a store that
        does not own the file reads while the owner writes); None when there is nothing to read."""
        db = self._reader()
        snapshot = db is not None and not self._owner and not db.in_transaction
        if snapshot:
            assert db is not None
            db.execute("BEGIN")
        try:
            yield db
        finally:
            if snapshot:
                assert db is not None
                db.execute("COMMIT")

    def _header_row(self, record: InstanceRecord, step: StepRecord | None = None) -> tuple[str, tuple[Any, ...]]:
        """The header with its listing columns (``step``: the step written with it, if any); a
        lazy write of the same header still waiting for the commit is no longer needed."""
        key = (record.workflow, record.id)
        self._lazy.pop(key, None)
        modified = modified_ms(record, step)
        self._headers[key] = (record, record.header_snapshot(), modified)
        return (
            "UPDATE instances SET header = ?, status = ?, modified_ms = MAX(modified_ms, ?) "
            "WHERE workflow = ? AND id = ?",
            (record.header_text(), record.status, modified, record.workflow, record.id),
        )

    def _header_change(self, record: InstanceRecord, step: StepRecord) -> tuple[str, tuple[Any, ...]] | None:
        """The header write a step asks for (a new step changes ``next_seq``): the whole header
        when anything else in it changed since its last committed write (or a write of it is still
        waiting for the commit), the modified time alone when only that moved, else nothing:
        loading derives ``next_seq`` from the steps. So a step on the straight path, which changes
        nothing else, writes its rows and no header."""
        key = (record.workflow, record.id)
        if key in self._headers or key in self._lazy or record.header_changed_since(record.saved_header):
            return self._header_row(record, step)
        modified = modified_ms(record, step)
        if modified <= record.saved_modified_ms:
            return None
        self._headers[key] = (record, None, modified)
        return (
            "UPDATE instances SET modified_ms = MAX(modified_ms, ?) WHERE workflow = ? AND id = ?",
            (modified, record.workflow, record.id),
        )

    @staticmethod
    def _step_rows(record: InstanceRecord, step: StepRecord) -> list[tuple[str, tuple[Any, ...]]]:
        """The step's row, carrying its newest attempt (the only one that still changes), and a
        row for each earlier attempt that has become final since the step's last write: a step
        that succeeds at once writes one row, and a retry adds one row whatever came before."""
        key = (record.workflow, record.id, step.kind, step.name, step.count)
        attempts = step.attempts
        rows: list[tuple[str, tuple[Any, ...]]] = [
            ("INSERT OR REPLACE INTO steps (workflow, id, kind, name, count, data) VALUES (?, ?, ?, ?, ?, ?)",
             (*key, _step_json(step))),
        ]
        # the attempts before the newest, from the last one already saved (the only one of them
        # that may have changed since: only the newest attempt ever changes, and attempts are only
        # appended), so a write costs the same at attempt 10,000 as at attempt 2
        for index in range(max(step.saved_attempts - 1, 0), len(attempts) - 1):
            rows.append(
                ("INSERT OR REPLACE INTO attempts (workflow, id, kind, name, count, n, data) VALUES (?, ?, ?, ?, ?, ?, ?)",
                 (*key, index + 1, _dumps(attempts[index])))
            )
        return rows

    @staticmethod
    def _event_row(record: InstanceRecord, seq: int, event: dict[str, Any]) -> tuple[str, tuple[Any, ...]]:
        return (
            "INSERT OR REPLACE INTO events (workflow, id, seq, data) VALUES (?, ?, ?, ?)",
            (record.workflow, record.id, seq, _dumps(event)),
        )

    def _event_changes(self, record: InstanceRecord) -> list[tuple[str, tuple[Any, ...]]]:
        """One statement per event buffered or taken since the instance's last write."""
        if not record.events.has_changes():
            return []
        return [
            self._event_row(record, seq, event) if event is not None else (
                "DELETE FROM events WHERE workflow = ? AND id = ? AND seq = ?",
                (record.workflow, record.id, seq),
            )
            for seq, event in record.events.changes()
        ]

    def _record_rows(self, record: InstanceRecord, step: StepRecord, header: bool) -> list[tuple[str, tuple[Any, ...]]]:
        statements = self._step_rows(record, step)
        if header:
            change = self._header_change(record, step)
            if change is not None:
                statements.append(change)
        return statements + self._event_changes(record)

    # -- the Store interface -------------------------------------------------------------------

    def insert_instance(self, record: InstanceRecord) -> None:
        """Persist a new instance with its steps and buffered events (usually none)."""
        self.insert_instances([record])

    def insert_instances(self, records: list[InstanceRecord]) -> None:
        """Persist new instances (a ``create_batch``) in one transaction, in creation order."""
        statements = []
        for record in records:
            statements.append((
                "INSERT INTO instances (workflow, id, created, status, created_ms, modified_ms, header) "
                "VALUES (?, ?, (SELECT COALESCE(MAX(created), 0) + 1 FROM instances WHERE workflow = ?), "
                "?, ?, ?, ?)",
                (
                    record.workflow,
                    record.id,
                    record.workflow,
                    record.status,
                    record.created_ms,
                    modified_ms(record),
                    record.header_text(),
                ),
            ))
            for step in record.steps.values():
                statements += self._step_rows(record, step)
            statements += [self._event_row(record, seq, event) for seq, event in record.events.rows()]
            self._logged[(record.workflow, record.id)] = record
        self._write(statements, steps=[step for record in records for step in record.steps.values()])
        for record in records:
            record.events.track()

    def load_instance(self, workflow: str, instance_id: str) -> InstanceRecord | None:
        """The instance with its steps (each with its attempts) and buffered events, or None.

        Raises :class:`CorruptInstanceError` when its saved state cannot be read.
        """
        rows = self._read_rows(workflow, [instance_id]).get(instance_id)
        return None if rows is None else self._decode(workflow, instance_id, rows)

    def load_instances(self, workflow: str, instance_ids: list[str]) -> dict[str, InstanceRecord]:
        """Those of ``instance_ids`` that exist and are readable, by id, read together (a few
        queries for hundreds of instances); a corrupt one is left out (``load_instance`` says
        what is wrong with it)."""
        records = {}
        for instance_id, rows in self._read_rows(workflow, instance_ids).items():
            try:
                records[instance_id] = self._decode(workflow, instance_id, rows)
            except CorruptInstanceError:
                continue
        return records

    def load_pending(self, workflow: str, instance_ids: list[str]) -> dict[str, InstanceRecord]:
        """Those of ``instance_ids`` that exist and are readable, by id, each with its header,
        buffered events and only the steps still running or waiting: enough to tell when a
        recovered instance runs again (``Hibernation.wake_deadline``), never to run it. A step
        row that is not JSON, or a corrupt instance, is left out (a full load says what is
        wrong)."""
        records = {}
        for instance_id, rows in self._read_rows(workflow, instance_ids, pending_only=True).items():
            try:
                records[instance_id] = decode(rows)
            except (ValueError, TypeError, KeyError):
                continue
        return records

    def _read_rows(self, workflow: str, instance_ids: list[str], *, pending_only: bool = False) -> dict[str, InstanceRows]:
        try:
            with self._reading() as db:
                return {} if db is None else read_rows(db, workflow, instance_ids, pending_only=pending_only)
        except sqlite3.Error as exc:
            what = f"instance {workflow}/{instance_ids[0]}" if len(instance_ids) == 1 else f"instances of {workflow}"
            raise StoreError(f"{self.path}: reading {what} failed: {exc}") from None

    def _decode(self, workflow: str, instance_id: str, rows: InstanceRows) -> InstanceRecord:
        """The record of saved rows, with its event log; ``CorruptInstanceError`` if malformed."""
        try:
            record = decode(rows)
        except (ValueError, TypeError, KeyError) as exc:
            raise CorruptInstanceError(
                f"{self.path}: the saved state of instance {workflow}/{instance_id} is corrupt "
                f"({type(exc).__name__}: {exc}); delete the instance (await instance.delete()) or "
                "restore the file from a backup",
                workflow,
                instance_id,
            ) from None
        pending = self._logged.get((workflow, instance_id))
        if pending is not None:  # loaded again before its last entries were committed
            record.log = pending.log  # one log: those entries keep their ids, ids go on after them
        return record

    def read_log(self, workflow: str, instance_id: str, after: int = 0) -> list[EventRow]:
        """The instance's events with ids above ``after``, oldest first: those saved, then those
        that the pending commit will save (:meth:`pending_commit`)."""
        key = (workflow, instance_id)
        rows: list[EventRow] = []
        try:
            with self._reading() as db:
                if db is not None:
                    for first, data in db.execute(
                        "SELECT n, data FROM log WHERE workflow = ? AND id = ? AND last > ? ORDER BY n",
                        (*key, after),
                    ):
                        rows += [row for row in rows_from_json(first, json.loads(data)) if row[0] > after]
        except sqlite3.OperationalError as exc:
            if "no such table" not in str(exc):
                raise StoreError(f"{self.path}: reading the events of {workflow}/{instance_id} failed: {exc}") from None
        except sqlite3.Error as exc:
            raise StoreError(f"{self.path}: reading the events of {workflow}/{instance_id} failed: {exc}") from None
        except (ValueError, TypeError) as exc:
            raise CorruptInstanceError(
                f"{self.path}: the event log of instance {workflow}/{instance_id} is corrupt ({exc}); "
                "delete the instance or restore the file from a backup",
                workflow,
                instance_id,
            ) from None
        record = self._logged.get(key)
        if record is not None:
            rows += record.log.rows(after=max(after, rows[-1][0] if rows else 0))
        return rows

    def pending_commit(self) -> "asyncio.Future[None] | None":
        """The commit that deferred writes (and the events :meth:`read_log` returned) wait for;
        None when everything read is durable."""
        return self._batch if self._owner else None

    def has_instance(self, workflow: str, instance_id: str) -> bool:
        """Whether the instance exists (without loading it)."""
        try:
            with self._reading() as db:
                if db is None:
                    return False
                row = db.execute(
                    "SELECT 1 FROM instances WHERE workflow = ? AND id = ?", (workflow, instance_id)
                ).fetchone()
        except sqlite3.Error as exc:
            raise StoreError(f"{self.path}: reading instance {workflow}/{instance_id} failed: {exc}") from None
        return row is not None

    def instance_ids(self, workflow: str) -> list[str]:
        """Ids of ``workflow``'s instances, oldest first."""
        try:
            with self._reading() as db:
                if db is None:
                    return []
                rows = db.execute(
                    "SELECT id FROM instances WHERE workflow = ? ORDER BY created", (workflow,)
                ).fetchall()
        except sqlite3.Error as exc:
            raise StoreError(
                f"{self.path}: listing the instances of {workflow} failed ({exc}); the file may be "
                "corrupt: restore it from a backup or point storage at another path"
            ) from None
        return [instance_id for (instance_id,) in rows]

    @staticmethod
    def _created_within(
        created_from_ms: float | None, created_to_ms: float | None
    ) -> tuple[str, tuple[float, ...]]:
        sql, params = "", tuple[float, ...]()
        for bound, operator in ((created_from_ms, ">="), (created_to_ms, "<=")):
            if bound is not None:
                sql += f" AND created_ms {operator} ?"
                params += (float(bound),)
        return sql, params

    def _summary_query(self, workflow: str, sql: str, params: tuple[Any, ...]) -> list[Any]:
        try:
            with self._reading() as db:
                return [] if db is None else db.execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            raise StoreError(
                f"{self.path}: listing the instances of {workflow} failed ({exc}); the file may be "
                "corrupt: restore it from a backup or point storage at another path"
            ) from None

    def list_instances(
        self,
        workflow: str,
        *,
        status: str | None = None,
        limit: int,
        offset: int = 0,
        newest_first: bool = True,
        created_from_ms: float | None = None,
        created_to_ms: float | None = None,
    ) -> list[InstanceSummary]:
        """A page of ``workflow``'s instances in creation order, found through an index
        (see ``Store.list_instances``)."""
        check_listing(status, limit, offset, created_from_ms, created_to_ms)
        within, bounds = self._created_within(created_from_ms, created_to_ms)
        where = "workflow = ?" + (" AND status = ?" if status is not None else "") + within
        order = "DESC" if newest_first else "ASC"
        rows = self._summary_query(
            workflow,
            f"SELECT id, status, created_ms, modified_ms FROM instances WHERE {where} "
            f"ORDER BY created {order} LIMIT ? OFFSET ?",  # unique within a workflow
            (workflow, *(() if status is None else (status,)), *bounds, limit, offset),
        )
        return [InstanceSummary(*row) for row in rows]

    def count_instances(
        self, workflow: str, *, created_from_ms: float | None = None, created_to_ms: float | None = None
    ) -> dict[str, int]:
        """How many of ``workflow``'s instances have each status, counted in the status index
        (see ``Store.count_instances``)."""
        check_created_bounds(created_from_ms, created_to_ms)
        within, bounds = self._created_within(created_from_ms, created_to_ms)
        rows = self._summary_query(
            workflow,
            f"SELECT status, count(*) FROM instances WHERE workflow = ?{within} GROUP BY status",
            (workflow, *bounds),
        )
        counts = dict(rows)
        ordered = {status: counts.pop(status) for status in STATUSES if status in counts}
        return {**ordered, **dict(sorted(counts.items()))}

    def save_header(self, record: InstanceRecord) -> None:
        """Persist the instance header and the events buffered or taken since its last write."""
        self._write([self._header_row(record), *self._event_changes(record)], record)

    def save_step(self, record: InstanceRecord, step: StepRecord, *, header: bool = False) -> None:
        """Persist one step, and the header when asked, in one transaction."""
        self._write(self._record_rows(record, step, header), record, [step])

    def save_step_deferred(
        self, record: InstanceRecord, step: StepRecord, *, header: bool = False
    ) -> "asyncio.Future[None]":
        """Like ``save_step``, but committed together with every write made before the event
        loop's next turn (group commit). The returned future completes when the write is durable,
        or fails with ``StoreError``; the engine lets no user code run past the write until then
        (and drops the instance from memory when it fails). A store no emulator owns writes at once.
        """
        if not self._owner:
            self.save_step(record, step, header=header)
            done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            done.set_result(None)
            return done
        return self._defer(self._record_rows(record, step, header), record, step)

    def _saved_at_once(self, record: InstanceRecord) -> bool:
        """Whether the header write cannot join a group commit (no event loop runs, or no emulator
        owns this store): then it is saved now, with a commit of its own, and this returns True."""
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            grouped = False
        else:
            grouped = self._owner
        if not grouped:
            self.save_header(record)
        return not grouped

    def save_header_deferred(self, record: InstanceRecord) -> "asyncio.Future[None] | None":
        """Like ``save_header``, but joined to the next group commit (no commit of its own), for
        a write no workflow code waits for (a status change among queued, running and waiting).
        The header is serialised at the commit, and not at all if another header write of the
        instance comes first. Returns the pending commit, or None when written at once (outside
        an event loop, or by a store no emulator owns)."""
        if self._saved_at_once(record):
            return None
        self._lazy[(record.workflow, record.id)] = record
        self._logged[(record.workflow, record.id)] = record
        return self._pending_batch()

    def save_header_grouped(self, record: InstanceRecord) -> "asyncio.Future[None] | None":
        """Like ``save_header``, written into the open transaction now (so every read sees it),
        and durable with the next group commit, shared with the other writes of this turn (the
        ends of many instances woken together). Returns the pending commit, or None when written
        at once (outside an event loop, or by a store no emulator owns)."""
        if self._saved_at_once(record):
            return None
        self._apply([self._header_row(record), *self._event_changes(record)])
        self._logged[(record.workflow, record.id)] = record
        record.events.saved()
        return self._pending_batch()

    def _defer(
        self, statements: list[tuple[str, tuple[Any, ...]]], record: InstanceRecord, step: StepRecord
    ) -> "asyncio.Future[None]":
        """Apply ``statements`` now; the returned batch completes when the next turn commits them
        (if that fails, the engine drops the instance from memory, so it counts as saved now)."""
        self._apply(statements)
        self._logged[(record.workflow, record.id)] = record
        record.events.saved()
        step.attempts_saved()
        return self._pending_batch()

    def _pending_batch(self) -> "asyncio.Future[None]":
        """The batch of the commit at the event loop's next turn (scheduled now if need be)."""
        if self._batch is None:
            loop = asyncio.get_running_loop()
            self._batch = SharedCommit(loop=loop)
            loop.call_soon(self._commit_batch, self._batch)
        return self._batch

    def delete_steps(self, record: InstanceRecord, steps: Iterable[StepRecord]) -> None:
        """Remove steps and persist the header, in one transaction."""
        statements = [
            (
                f"DELETE FROM {table} WHERE workflow = ? AND id = ? AND kind = ? AND name = ? AND count = ?",
                (record.workflow, record.id, step.kind, step.name, step.count),
            )
            for step in steps
            for table in ("attempts", "steps")
        ]
        statements.append(self._header_row(record))
        self._write(statements + self._event_changes(record), record)

    def delete_instance(self, workflow: str, instance_id: str) -> None:
        """Remove an instance, its steps with their attempts and its buffered events."""
        key = (workflow, instance_id)
        self._lazy.pop(key, None)
        self._logged.pop(key, None)
        self._write([
            ("DELETE FROM log WHERE workflow = ? AND id = ?", key),
            ("DELETE FROM attempts WHERE workflow = ? AND id = ?", key),
            ("DELETE FROM steps WHERE workflow = ? AND id = ?", key),
            ("DELETE FROM events WHERE workflow = ? AND id = ?", key),
            ("DELETE FROM instances WHERE workflow = ? AND id = ?", key),
        ])

    def save_resource(self, name: str, data: Any) -> None:
        """Persist a binding's state (KV namespaces) as JSON."""
        self._write([("INSERT OR REPLACE INTO resources (name, data) VALUES (?, ?)", (name, _dumps(data)))])

    def load_resource(self, name: str) -> Any:
        """A binding's persisted state, or None."""
        with self._reading() as db:
            row = None if db is None else db.execute("SELECT data FROM resources WHERE name = ?", (name,)).fetchone()
        return None if row is None else json.loads(row[0])

    def write_resources(self, saves: Iterable[tuple[str, Any]] = (), deletes: Iterable[str] = ()) -> None:
        """Persist rows of binding state (``saves``: name and JSON data) and remove the rows
        named in ``deletes``, in one transaction (a persisted KV namespace keeps a row per key)."""
        statements: list[tuple[str, tuple[Any, ...]]] = [
            ("DELETE FROM resources WHERE name = ?", (name,)) for name in deletes
        ]
        statements += [
            ("INSERT OR REPLACE INTO resources (name, data) VALUES (?, ?)", (name, _dumps(data)))
            for name, data in saves
        ]
        if statements:
            self._write(statements)

    def load_resources(self, prefix: str) -> list[tuple[str, Any]]:
        """The rows of binding state whose name starts with ``prefix``, by name, each with its
        data as saved (JSON text, not parsed: the caller decides what a corrupt row means)."""
        if not prefix:
            raise ValueError("load_resources() needs a non-empty prefix")
        after = prefix[:-1] + chr(ord(prefix[-1]) + 1)  # the first name past every prefix match
        try:
            with self._reading() as db:
                rows = [] if db is None else db.execute(
                    "SELECT name, data FROM resources WHERE name >= ? AND name < ? ORDER BY name", (prefix, after)
                ).fetchall()
        except sqlite3.Error as exc:
            raise StoreError(f"{self.path}: reading the saved state of bindings failed: {exc}") from None
        return [(name, data) for name, data in rows]

    def checkpoint(self) -> None:
        """Commit any deferred writes and move the WAL into the main file, so that the state file
        alone (without its ``-wal``) holds everything: a copy of it is a complete backup."""
        if not self._owner:
            return
        assert self._db is not None
        if self._db.in_transaction or self._lazy or self._logged:
            self._commit()
        try:
            self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        except sqlite3.Error as exc:
            raise StoreError(f"{self.path}: checkpointing the state file failed: {exc}") from None

    def release(self) -> None:
        """Checkpoint (see :meth:`checkpoint`), close the file and give the lock up; the store
        can be acquired again. Raises ``StoreError`` if the checkpoint fails, after closing."""
        try:
            self.checkpoint()
        finally:
            self.close()

    def _close_connection(self) -> None:
        db, self._db = self._db, None
        self._prepared = False
        if db is None:
            return
        if self._owner and (db.in_transaction or self._lazy or self._logged):
            self._db = db
            try:
                self._commit()
            except StoreError:
                pass  # their runs were told; the file keeps the last commit
            self._db = None
        self._lazy.clear()
        self._logged.clear()
        db.close()

    def close(self) -> None:
        """Commit any deferred writes, close the file and give the lock up (again: nothing
        happens); the store can be acquired again."""
        try:
            self._close_connection()
        finally:
            self._owner = False
            self.lock.release()
