"""The in-memory store: instance records live in a dict for the life of the emulator."""

from __future__ import annotations

from typing import Iterable

from ..engine.records import InstanceRecord, StepRecord

__all__ = ["MemoryStore"]


class MemoryStore:
    """Keeps the engine's record objects themselves; writes are bookkeeping only."""

    def __init__(self) -> None:
        self._instances: dict[tuple[str, str], InstanceRecord] = {}

    def insert_instance(self, record: InstanceRecord) -> None:
        """Keep a new instance."""
        self._instances[(record.workflow, record.id)] = record

    def load_instance(self, workflow: str, instance_id: str) -> InstanceRecord | None:
        """The instance, or None."""
        return self._instances.get((workflow, instance_id))

    def has_instance(self, workflow: str, instance_id: str) -> bool:
        """Whether the instance exists."""
        return (workflow, instance_id) in self._instances

    def instance_ids(self, workflow: str) -> list[str]:
        """Ids of ``workflow``'s instances, oldest first."""
        return [iid for (wf, iid) in self._instances if wf == workflow]

    def save_header(self, record: InstanceRecord) -> None:
        """Nothing to do: the record object is the stored state."""

    def save_step(self, record: InstanceRecord, step: StepRecord, *, header: bool = False) -> None:
        """Nothing to do beyond the engine's own ``record.steps`` entry."""
        record.steps[step.key] = step

    def delete_steps(self, record: InstanceRecord, steps: Iterable[StepRecord]) -> None:
        """Drop steps from the record."""
        for step in list(steps):
            record.steps.pop(step.key, None)

    def delete_instance(self, workflow: str, instance_id: str) -> None:
        """Forget an instance."""
        self._instances.pop((workflow, instance_id), None)

    def close(self) -> None:
        """Nothing to release."""
