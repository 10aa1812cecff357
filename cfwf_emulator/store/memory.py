"""The in-memory store: instance records live in a dict for the life of the emulator."""

from __future__ import annotations

from typing import ClassVar, Iterable

from ..engine.eventlog import EventRow
from ..engine.records import STATUSES, InstanceRecord, StepRecord
from .base import KEEPS_RECORDS, InstanceSummary, check_created_bounds, check_listing, modified_ms

__all__ = ["MemoryStore"]


class MemoryStore:
    """Keeps the engine's record objects themselves; writes are bookkeeping only.

    A listing shows each instance's current status (the record's own), and its ``modified_ms``
    is kept from the writes as the SQLite store does, and includes the last status change.
    """

    capabilities: ClassVar[frozenset[str]] = frozenset({KEEPS_RECORDS})

    def __init__(self) -> None:
        self._instances: dict[tuple[str, str], InstanceRecord] = {}
        self._modified: dict[tuple[str, str], float] = {}

    @staticmethod
    def _latest(record: InstanceRecord) -> float:
        """The record's ``modified_ms`` now: its header times and its steps' starts and ends."""
        latest = modified_ms(record)
        for step in record.steps.values():
            for value in (step.start_ms, step.end_ms):
                if value is not None and value > latest:
                    latest = value
        return latest

    def insert_instance(self, record: InstanceRecord) -> None:
        """Keep a new instance."""
        key = (record.workflow, record.id)
        self._instances[key] = record
        self._modified[key] = modified_ms(record)

    def insert_instances(self, records: list[InstanceRecord]) -> None:
        """Keep new instances, in creation order."""
        for record in records:
            self.insert_instance(record)

    def load_instance(self, workflow: str, instance_id: str) -> InstanceRecord | None:
        """The instance, or None."""
        return self._instances.get((workflow, instance_id))

    def load_instances(self, workflow: str, instance_ids: list[str]) -> dict[str, InstanceRecord]:
        """Those of ``instance_ids`` that exist, by id."""
        kept = self._instances
        return {iid: kept[(workflow, iid)] for iid in instance_ids if (workflow, iid) in kept}

    def has_instance(self, workflow: str, instance_id: str) -> bool:
        """Whether the instance exists."""
        return (workflow, instance_id) in self._instances

    def instance_ids(self, workflow: str) -> list[str]:
        """Ids of ``workflow``'s instances, oldest first."""
        return [iid for (wf, iid) in self._instances if wf == workflow]

    def _selected(
        self, workflow: str, created_from_ms: float | None, created_to_ms: float | None
    ) -> list[InstanceRecord]:
        return [
            record
            for (wf, _), record in self._instances.items()
            if wf == workflow
            and (created_from_ms is None or record.created_ms >= created_from_ms)
            and (created_to_ms is None or record.created_ms <= created_to_ms)
        ]

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
        """A page of ``workflow``'s instances in creation order (see ``Store.list_instances``)."""
        check_listing(status, limit, offset, created_from_ms, created_to_ms)
        records = [
            record
            for record in self._selected(workflow, created_from_ms, created_to_ms)
            if status is None or record.status == status
        ]
        if newest_first:
            records.reverse()
        return [
            InstanceSummary(
                record.id,
                record.status,
                record.created_ms,
                max(self._modified.get((workflow, record.id), 0.0), self._latest(record)),
            )
            for record in records[offset : offset + limit]
        ]

    def count_instances(
        self, workflow: str, *, created_from_ms: float | None = None, created_to_ms: float | None = None
    ) -> dict[str, int]:
        """How many of ``workflow``'s instances have each status (see ``Store.count_instances``)."""
        check_created_bounds(created_from_ms, created_to_ms)
        counts = dict.fromkeys(STATUSES, 0)
        for record in self._selected(workflow, created_from_ms, created_to_ms):
            counts[record.status] = counts.get(record.status, 0) + 1
        return {status: count for status, count in counts.items() if count}

    def save_header(self, record: InstanceRecord) -> None:
        """Nothing to keep: the record object is the stored state."""

    def save_step(self, record: InstanceRecord, step: StepRecord, *, header: bool = False) -> None:
        """Nothing to do beyond the engine's own ``record.steps`` entry."""
        record.steps[step.key] = step

    def delete_steps(self, record: InstanceRecord, steps: Iterable[StepRecord]) -> None:
        """Drop steps from the record (its modified time keeps what they had brought)."""
        key = (record.workflow, record.id)
        self._modified[key] = max(self._modified.get(key, 0.0), self._latest(record))
        for step in list(steps):
            record.steps.pop(step.key, None)

    def delete_instance(self, workflow: str, instance_id: str) -> None:
        """Forget an instance."""
        self._instances.pop((workflow, instance_id), None)
        self._modified.pop((workflow, instance_id), None)

    def read_log(self, workflow: str, instance_id: str, after: int = 0) -> list[EventRow]:
        """The instance's events with ids above ``after``, oldest first (the record holds them)."""
        record = self._instances.get((workflow, instance_id))
        return [] if record is None else record.log.rows(after=after)

    def pending_commit(self) -> None:
        """Nothing waits for a commit here: every write is done when made."""
        return None

    def close(self) -> None:
        """Nothing to release."""
