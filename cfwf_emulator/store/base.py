"""The storage interface every store implements (memory now, SQLite for durability).

The engine owns instance state and calls the store at each durable point: an instance created,
its header changed (status, output, buffered events, modifications), a step journaled, steps
wiped by a restart, an instance deleted. Each call is one atomic write.

A store may also offer group commit: ``save_step_deferred(record, step, header=False)`` applies
the write at once and returns an ``asyncio.Future`` that completes when it is durable (SQLite
commits every write made before the event loop's next turn together). The engine then journals
running instances' steps that way and lets no workflow code run past a write until its future is
done; a store without it is called with ``save_step``. ``insert_instances(records)``, when
offered, persists a ``create_batch`` in one atomic write (else ``insert_instance`` is called for
each).

Buffered events are not part of the header: ``record.events`` is an
:class:`~cfwf_emulator.engine.records.EventBuffer`. A store either keeps the record objects (the
memory store) or persists the events itself; the SQLite store keeps one row per event and, with
each write of an instance, writes only the events buffered or taken since its last write
(``EventBuffer.changes``), so storing an event never costs more as more are buffered.
"""

from __future__ import annotations

from typing import Iterable, Protocol

from ..engine.records import InstanceRecord, StepRecord
from ..errors import ConfigError

__all__ = ["CorruptInstanceError", "StorageWarning", "Store", "StoreError"]


class StoreError(ConfigError):
    """The state file cannot be used (foreign, newer, corrupt, read-only, full, a link); what
    could not be done was not done, and the message says what to do."""


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


class Store(Protocol):
    """Durable home of instance records; one writer (the engine) per store."""

    def insert_instance(self, record: InstanceRecord) -> None:
        """Persist a new instance (its id is known to be free)."""
        ...

    def load_instance(self, workflow: str, instance_id: str) -> InstanceRecord | None:
        """The instance with its steps, or None when there is none."""
        ...

    def has_instance(self, workflow: str, instance_id: str) -> bool:
        """Whether the instance exists, without loading it."""
        ...

    def instance_ids(self, workflow: str) -> list[str]:
        """Ids of every instance of ``workflow``, oldest first."""
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

    def close(self) -> None:
        """Release resources; the store is not used afterwards."""
        ...
