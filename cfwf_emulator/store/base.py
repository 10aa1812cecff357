"""The storage interface every store implements (memory now, SQLite for durability).

The engine owns instance state and calls the store at each durable point: an instance created,
its header changed (status, output, buffered events, modifications), a step journaled, steps
wiped by a restart, an instance deleted. Each call is one atomic write.

Optional abilities are declared, not probed: a store's ``capabilities`` (a frozenset) names
them. :data:`GROUP_COMMIT`: ``save_step_deferred(record, step, header=False)`` applies the write at
once and returns an ``asyncio.Future`` that completes when it is durable (SQLite commits every
write made before the event loop's next turn together); the engine then journals running
instances' steps that way and lets no workflow code run past a write until its future is done; a
store without it is called with ``save_step``. ``save_header_deferred(record)`` joins a header
write to the next group commit too: the engine writes that way the status changes it need not
wait for (among queued, running and waiting), so that the file shows them; it awaits a
:class:`SharedCommit` as it is, any other future through ``asyncio.shield``. :data:`KEEPS_RECORDS`:
the store holds the engine's record objects, so the engine skips writes that change nothing.

A new step is saved with ``header=True`` because it moves the header's ``next_seq``. A store may
leave the header unwritten when nothing else in it changed since its last committed write
(``InstanceRecord.header_snapshot``; the SQLite store does, on every step of the straight path):
``InstanceRecord.from_json`` gives a loaded record a ``next_seq`` past its highest step number.

Listing (``list_instances``, ``count_instances``) reads only what a store keeps beside each
instance for that purpose (:class:`InstanceSummary`: id, status, created and modified times),
never an instance's JSON header or its steps, so a page costs the rows it shows and skips,
whatever the instances hold. ``modified_ms`` is the latest engine-clock time written with the
instance's header (:func:`modified_ms`): its creation, its last status change, its restart, the
start of its newest step. A step's outcome counts once the header is next written (its next step
starts, its status changes or it ends), so that journaling an outcome never rewrites the
instance's header. It never decreases.

Buffered events are not part of the header: ``record.events`` is an
:class:`~cfwf_emulator.engine.records.EventBuffer`. A store either keeps the record objects (the
memory store) or persists the events itself; the SQLite store keeps one row per event and, with
each write of an instance, writes only the events buffered or taken since its last write
(``EventBuffer.changes``), so storing an event never costs more as more are buffered. Likewise a
step's attempts only grow and only the last one changes: the SQLite store keeps one row per
attempt and writes with each write of a step only the attempts added or changed since
(``StepRecord.saved_attempts``), so a step's ten-thousandth attempt costs what its second did.
"""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass
from typing import Any, ClassVar, Iterable, Protocol, cast

from ..engine.eventlog import EventRow
from ..engine.records import STATUSES, InstanceRecord, StepRecord
from ..errors import ConfigError

__all__ = [
    "GROUP_COMMIT",
    "KEEPS_RECORDS",
    "CorruptInstanceError",
    "GroupCommitStore",
    "SharedCommit",
    "InstanceSummary",
    "StateReadOnlyError",
    "StorageWarning",
    "Store",
    "StoreError",
    "check_created_bounds",
    "check_listing",
    "group_commit",
    "modified_ms",
]

GROUP_COMMIT = "group_commit"
"""Capability: the store offers ``save_step_deferred`` (see :class:`GroupCommitStore`)."""

KEEPS_RECORDS = "keeps_records"
"""Capability: the store keeps the engine's record objects themselves (the memory store), so
``save_step`` of a step already in ``record.steps`` changes nothing and the engine may skip it."""

#: The header times :func:`modified_ms` takes the latest of.
MODIFIED_FROM = ("created_ms", "queued_ms", "start_ms", "end_ms", "pause_ms", "status_ms")


class StoreError(ConfigError):
    """The state file cannot be used (foreign, newer, corrupt, read-only, full, a link); what
    could not be done was not done, and the message says what to do."""


class StateReadOnlyError(StoreError):
    """A write to a state file opened for inspection (``Emulator(mode="inspect")`` or
    ``SQLiteStore(readonly=True)``): nothing was changed or run. Open it with ``mode="operate"``
    (once the process that owns it has stopped) to change or run its instances."""

    @classmethod
    def inspecting(cls, path: object, what: str) -> "StateReadOnlyError":
        """The error for the command ``what`` on the state file ``path`` opened with ``mode="inspect"``."""
        return cls(
            f'{what}: the state file {path} was opened for inspection (mode="inspect"), which only '
            'reads it and never runs an instance. To change or run instances, open it with '
            'mode="operate" (stop the process that owns it first)'
        )


class CorruptInstanceError(StoreError):
    """One instance's saved state cannot be read; the other instances are not affected.

    ``workflow`` and ``instance_id`` name it; deleting it (``instance.delete()``) removes it.
    """

    def __init__(self, message: str, workflow: str, instance_id: str) -> None:
        super().__init__(message)
        self.workflow = workflow
        self.instance_id = instance_id


class StorageWarning(UserWarning):
    """Something about stored state the user should know, while everything else goes on: an
    instance stopped because its state could not be saved (disk full, read-only, ...), a corrupt
    instance left out when resuming, an empty state file taken as a new one."""


@dataclass(frozen=True, slots=True)
class InstanceSummary:
    """One instance in a listing, read without loading the instance.

    ``status`` is one of :data:`~cfwf_emulator.engine.records.STATUSES` (or ``"unknown"`` for an
    instance whose header could not be read when its state file was upgraded); ``created_ms``
    and ``modified_ms`` are engine-clock times in epoch milliseconds (see the module docstring
    for what ``modified_ms`` covers).
    """

    id: str
    status: str
    created_ms: float
    modified_ms: float


def latest_ms(values: Iterable[Any]) -> float:
    """The greatest finite number among ``values`` (others are skipped), or 0.0."""
    return max(
        (
            float(value)
            for value in values
            if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
        ),
        default=0.0,
    )


def modified_ms(record: InstanceRecord, step: StepRecord | None = None) -> float:
    """The ``modified_ms`` a write of ``record``'s header (with ``step``, if it goes with it)
    records: the latest of the header's times and the step's start and end. Stores keep the
    greatest value written, so it never decreases."""
    latest = record.created_ms  # the MODIFIED_FROM times; the engine keeps them floats or None
    for value in (record.queued_ms, record.start_ms, record.end_ms, record.pause_ms, record.status_ms):
        if value is not None and value > latest:
            latest = value
    if step is not None:
        for value in (step.start_ms, step.end_ms):
            if value is not None and value > latest:
                latest = value
    return float(latest)


def check_created_bounds(created_from_ms: Any, created_to_ms: Any) -> None:
    """Refuse creation-time bounds that are not None or finite numbers (``ValueError``)."""
    for name, value in (("created_from_ms", created_from_ms), ("created_to_ms", created_to_ms)):
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value)
        ):
            raise ValueError(f"{name} must be None or a finite number of epoch ms, got {value!r}")


def check_listing(
    status: Any, limit: Any, offset: Any, created_from_ms: Any = None, created_to_ms: Any = None
) -> None:
    """Refuse listing arguments no store accepts, saying which are valid (``ValueError``)."""
    if status is not None and status not in STATUSES:
        raise ValueError(
            f"unknown status {status!r}: valid statuses are {', '.join(STATUSES)} (or None for all)"
        )
    for name, value in (("limit", limit), ("offset", offset)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"{name} must be an int >= 0, got {value!r}")
    check_created_bounds(created_from_ms, created_to_ms)


class Store(Protocol):
    """Durable home of instance records; one writer (the engine) per store."""

    #: The optional abilities this store offers (e.g. :data:`GROUP_COMMIT`).
    capabilities: ClassVar[frozenset[str]]

    def insert_instance(self, record: InstanceRecord) -> None:
        """Persist a new instance (its id is known to be free)."""
        ...

    def insert_instances(self, records: list[InstanceRecord]) -> None:
        """Persist new instances (a ``create_batch``, ids known to be free) in one atomic write."""
        ...

    def load_instance(self, workflow: str, instance_id: str) -> InstanceRecord | None:
        """The instance with its steps, or None when there is none."""
        ...

    def load_instances(self, workflow: str, instance_ids: list[str]) -> dict[str, InstanceRecord]:
        """Those of ``instance_ids`` that exist and can be read, by id, loaded together (a store
        may read them in a few queries); one that cannot be read is left out."""
        ...

    def has_instance(self, workflow: str, instance_id: str) -> bool:
        """Whether the instance exists, without loading it."""
        ...

    def instance_ids(self, workflow: str) -> list[str]:
        """Ids of every instance of ``workflow``, oldest first."""
        ...

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
        """Up to ``limit`` of ``workflow``'s instances after skipping ``offset``, in creation
        order (newest first unless ``newest_first`` is false), only those with ``status`` when
        given and created within the inclusive bounds given. Reads no instance's header or
        steps. ``ValueError`` for an unknown status, a negative limit or offset, or a bound
        that is not a finite number."""
        ...

    def count_instances(
        self, workflow: str, *, created_from_ms: float | None = None, created_to_ms: float | None = None
    ) -> dict[str, int]:
        """How many of ``workflow``'s instances (created within the inclusive bounds given) have
        each status, in :data:`~cfwf_emulator.engine.records.STATUSES` order; statuses no
        instance has are left out. Reads no instance's header or steps."""
        ...

    def save_header(self, record: InstanceRecord) -> None:
        """Persist the instance header (status, times, output, error, events, modifiers)."""
        ...

    def save_step(self, record: InstanceRecord, step: StepRecord, *, header: bool = False) -> None:
        """Persist one step record, and the header too when ``header`` is true, atomically."""
        ...

    def delete_steps(self, record: InstanceRecord, steps: Iterable[StepRecord]) -> None:
        """Remove steps (a restart) and persist the header, atomically."""
        ...

    def delete_instance(self, workflow: str, instance_id: str) -> None:
        """Remove an instance and everything it owns."""
        ...

    def read_log(self, workflow: str, instance_id: str, after: int = 0) -> "list[EventRow]":
        """The instance's event log (:mod:`~cfwf_emulator.engine.eventlog`) from the event after
        ``after``, oldest first; ``[]`` for an instance that does not exist. A store saves the
        log entries an instance's record holds with each write of that instance, in the same
        transaction, and continues the ids after the last saved one when it loads the instance."""
        ...

    def pending_commit(self) -> "asyncio.Future[None] | None":
        """The pending commit that some events :meth:`read_log` returned still wait for (a group
        commit), or None when everything read is durable."""
        ...

    def close(self) -> None:
        """Release resources; the store is not used afterwards."""
        ...


class GroupCommitStore(Store, Protocol):
    """A store declaring :data:`GROUP_COMMIT`."""

    def save_step_deferred(
        self, record: InstanceRecord, step: StepRecord, *, header: bool = False
    ) -> "asyncio.Future[None]":
        """Like ``save_step``, durable once the returned future completes (group commit)."""
        ...

    def save_header_deferred(self, record: InstanceRecord) -> "asyncio.Future[None] | None":
        """Like ``save_header``, joined to the next group commit: its future, or None when the
        write is already durable (no event loop runs, or no emulator owns the store)."""
        ...

    def save_header_grouped(self, record: InstanceRecord) -> "asyncio.Future[None] | None":
        """Like ``save_header`` (written now: reads see it; ``StoreError`` if that fails), but
        durable with the next group commit: its future, or None when already durable."""
        ...


class SharedCommit(asyncio.Future[None]):
    """The outcome of one group commit, shared by every write in it: cancelling one waiter
    cannot cancel it (``cancel`` does nothing and returns False; the waiting task is cancelled
    when the commit is done), so the engine awaits it as it is, with no ``asyncio.shield``. A
    store's ``save_step_deferred`` may return one."""

    def cancel(self, msg: Any = None) -> bool:
        """Refuse: the commit goes on for its other writes (see the class docstring)."""
        return False


def group_commit(store: Store) -> GroupCommitStore | None:
    """``store`` typed as a :class:`GroupCommitStore` when it declares :data:`GROUP_COMMIT`."""
    return cast(GroupCommitStore, store) if GROUP_COMMIT in store.capabilities else None
