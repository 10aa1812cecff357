"""The persisted shape of an instance: its header, its buffered events and its step journal.

Everything here is plain data that converts to and from JSON (``to_json``/``from_json``), so a
durable store can keep it as JSON in SQLite and the memory store can keep the objects themselves.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

__all__ = ["InstanceRecord", "StepRecord", "StepKey", "TERMINAL", "STATUSES"]

StepKey = tuple[str, str, int]

STATUSES = (
    "queued",
    "running",
    "paused",
    "errored",
    "terminated",
    "complete",
    "waiting",
    "waitingForPause",
)
TERMINAL = frozenset({"complete", "errored", "terminated"})


@dataclass(slots=True)
class StepRecord:
    """One journaled step call: ``kind`` is ``do``, ``sleep`` or ``waitForEvent``.

    ``state`` is ``running`` (an attempt or retry delay is in progress), ``waiting`` (a sleep or
    an event wait is in progress), ``ok`` or ``error``. ``deadline_ms`` is the absolute time a
    pending sleep, event wait or retry delay ends; ``result`` is the JSON text of the result.
    """

    kind: str
    name: str
    count: int
    seq: int
    start_ms: float
    state: str
    end_ms: float | None = None
    result: str | None = None
    error: dict[str, Any] | None = None
    config: dict[str, Any] | None = None
    attempts: list[dict[str, Any]] = field(default_factory=list)
    deadline_ms: float | None = None

    @property
    def key(self) -> StepKey:
        """The journal key ``(kind, name, count)``."""
        return (self.kind, self.name, self.count)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict of this record."""
        return {name: getattr(self, name) for name in _STEP_FIELDS}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "StepRecord":
        """Rebuild a record from :meth:`to_json` output."""
        return cls(**data)


@dataclass(slots=True)
class InstanceRecord:
    """Everything durable about one instance."""

    workflow: str
    id: str
    params: str
    created_ms: float
    status: str = "queued"
    queued_ms: float = 0.0
    start_ms: float | None = None
    end_ms: float | None = None
    output: str | None = None
    error: dict[str, Any] | None = None
    pause_ms: float | None = None
    events: list[dict[str, Any]] = field(default_factory=list)
    modifiers: dict[str, Any] = field(default_factory=dict)
    next_seq: int = 0
    steps: dict[StepKey, StepRecord] = field(default_factory=dict)

    def header_json(self) -> dict[str, Any]:
        """The header (everything but the steps) as a JSON-ready dict."""
        return {name: getattr(self, name) for name in _HEADER_FIELDS}

    @classmethod
    def from_json(cls, header: dict[str, Any], steps: list[dict[str, Any]]) -> "InstanceRecord":
        """Rebuild a record from its header and step dicts."""
        record = cls(**header)
        for data in steps:
            step = StepRecord.from_json(data)
            record.steps[step.key] = step
        return record


_STEP_FIELDS = tuple(f.name for f in fields(StepRecord))
_HEADER_FIELDS = tuple(f.name for f in fields(InstanceRecord) if f.name != "steps")
