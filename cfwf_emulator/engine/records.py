"""The persisted shape of an instance: its header, its buffered events and its step journal.

Everything here is plain data that converts to and from JSON (``to_json``/``from_json``), so a
durable store can keep it as JSON in SQLite and the memory store can keep the objects themselves.
``from_json`` checks what it rebuilds (known fields, statuses and step kinds), so a damaged row is
reported as corrupt instead of running as something it never was.
"""

from __future__ import annotations

from collections import deque
from copy import deepcopy
from dataclasses import dataclass, field, fields
from operator import attrgetter
from typing import Any, Iterable, Iterator, Mapping

from ..jsontext import compact, storable
from ..jsontext import number as _number
from .eventlog import EventLog

__all__ = ["EventBuffer", "InstanceRecord", "StepRecord", "StepKey", "TERMINAL", "STATUSES"]

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
STEP_KINDS = frozenset({"do", "sleep", "waitForEvent"})
STEP_STATES = frozenset({"running", "waiting", "ok", "error"})


class EventBuffer:
    """An instance's buffered events, oldest first; each is ``{"type", "payload", "ms"}`` (plus
    ``"mocked"`` for a mocked one).

    Appending one and taking the oldest of a type (what an event wait does) cost O(1), however many
    are buffered. Every event gets a sequence number, unique within the instance, so a durable
    store can keep one row per event: once :meth:`track` is called the buffer notes each change,
    and the store writes just those (:meth:`changes`, then :meth:`saved`) with the instance's next
    write, so a write costs O(1) in the number of events already stored.
    """

    __slots__ = ("_events", "_by_type", "_next_seq", "_changes")

    def __init__(self, events: Iterable[dict[str, Any]] = ()) -> None:
        self._events: dict[int, dict[str, Any]] = {}
        self._by_type: dict[str, deque[int]] = {}
        self._next_seq = 0
        self._changes: dict[int, dict[str, Any] | None] | None = None
        for event in events:
            self.append(event)

    @classmethod
    def restore(cls, rows: Iterable[tuple[int, Any]]) -> "EventBuffer":
        """The buffer a store saved as ``(seq, event)`` rows (in ``seq`` order), tracking changes.

        Raises ``ValueError`` naming the first malformed event.
        """
        buffer = cls()
        for seq, event in rows:
            if (
                not isinstance(seq, int)
                or not isinstance(event, dict)
                or not isinstance(event.get("type"), str)
                or not isinstance(event.get("payload"), str)
            ):
                raise ValueError(f"buffered event {seq!r} is malformed: {str(event)[:200]}")
            buffer._add(seq, event)
            buffer._next_seq = max(buffer._next_seq, seq + 1)
        buffer.track()
        return buffer

    def _add(self, seq: int, event: dict[str, Any]) -> None:
        self._events[seq] = event
        queue = self._by_type.get(event["type"])
        if queue is None:
            queue = self._by_type[event["type"]] = deque()
        queue.append(seq)
        if self._changes is not None:
            self._changes[seq] = event

    def append(self, event: dict[str, Any]) -> None:
        """Buffer ``event`` after the others."""
        self._add(self._next_seq, event)
        self._next_seq += 1

    def take(self, event_type: str) -> dict[str, Any] | None:
        """Remove and return the oldest event of ``event_type``, or None when there is none."""
        queue = self._by_type.get(event_type)
        if not queue:
            return None
        seq = queue.popleft()
        if not queue:
            del self._by_type[event_type]
        if self._changes is not None:
            self._changes[seq] = None
        return self._events.pop(seq)

    def replace(self, events: Iterable[dict[str, Any]]) -> None:
        """Drop every buffered event and buffer ``events`` instead (a restart)."""
        if self._changes is not None:
            self._changes.update(dict.fromkeys(self._events))
        self._events.clear()
        self._by_type.clear()
        for event in events:
            self.append(event)

    def types(self) -> set[str]:
        """The types of the buffered events."""
        return set(self._by_type)

    def rows(self) -> list[tuple[int, dict[str, Any]]]:
        """Every buffered event with its sequence number, oldest first."""
        return list(self._events.items())

    def track(self) -> None:
        """Start noting changes (a store calls this once everything buffered so far is saved)."""
        self._changes = {}

    def has_changes(self) -> bool:
        """Whether anything changed since :meth:`track` or :meth:`saved`."""
        return bool(self._changes)

    def changes(self) -> list[tuple[int, dict[str, Any] | None]]:
        """What changed since :meth:`track` or :meth:`saved`: ``(seq, event)`` for an event
        buffered, ``(seq, None)`` for one removed."""
        return [] if not self._changes else list(self._changes.items())

    def saved(self) -> None:
        """The store has persisted :meth:`changes`."""
        if self._changes:
            self._changes = {}

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self._events.values())

    def __len__(self) -> int:
        return len(self._events)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, EventBuffer):
            return list(self) == list(other)
        if isinstance(other, list):
            return list(self) == other
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"EventBuffer({list(self)!r})"


@dataclass(slots=True)
class StepRecord:
    """One journaled step call: ``kind`` is ``do``, ``sleep`` or ``waitForEvent``.

    ``state`` is ``running`` (an attempt or retry delay is in progress), ``waiting`` (a sleep or
    an event wait is in progress), ``ok`` or ``error``. ``deadline_ms`` is the absolute time a
    pending sleep, event wait or retry delay ends; ``result`` is the JSON text of the result.

    ``attempts`` (each ``{"start", "end", "success", "error"}``, oldest first) only grow: an
    attempt is appended, and only the last one is ever changed afterwards (its outcome). So a
    durable store writes, with each write of the step, only the attempts from the last one it
    saved on (``saved_attempts`` counts them; :meth:`attempts_saved` updates it): a write costs
    O(1) in the number of attempts already stored. ``saved_attempts`` is bookkeeping, not part
    of the record (not in :meth:`to_json`, not compared).
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
    saved_attempts: int = field(default=0, init=False, repr=False, compare=False)

    @property
    def key(self) -> StepKey:
        """The journal key ``(kind, name, count)``."""
        return (self.kind, self.name, self.count)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict of this record, less its attempts (each attempt is JSON-ready
        itself; a store keeps them apart, see :attr:`saved_attempts`)."""
        return dict(zip(_STEP_FIELDS, _step_values(self)))

    def attempts_saved(self) -> None:
        """The store has persisted every attempt (see :attr:`saved_attempts`)."""
        self.saved_attempts = len(self.attempts)

    @classmethod
    def from_json(cls, data: dict[str, Any], attempts: "Iterable[tuple[int, Any]]" = ()) -> "StepRecord":
        """Rebuild a record from :meth:`to_json` output and the ``(number, attempt)`` rows a
        store saved (in order, numbered from 1), all counted as saved. ``ValueError``/``TypeError``
        when malformed."""
        unknown = _object("step", data).keys() - _STEP_KEYS
        if unknown:
            raise ValueError(f"the step has unknown fields {sorted(map(str, unknown))}")
        step = cls(**data)
        if step.kind not in STEP_KINDS or step.state not in STEP_STATES:
            raise ValueError(f"step {step.name!r} has kind {step.kind!r} and state {step.state!r}")
        step.restore_attempts(attempts)
        return step

    def restore_attempts(self, rows: "Iterable[tuple[int, Any]]") -> None:
        """Append the ``(number, attempt)`` rows a store saved (in order, numbered on from the
        attempts already here) and count every attempt as saved. ``ValueError`` naming the first
        malformed or misnumbered one."""
        if not rows:
            self.saved_attempts = len(self.attempts)
            return
        for number, attempt in rows:
            if (
                number != len(self.attempts) + 1
                or not isinstance(attempt, dict)
                or not _ATTEMPT_KEYS <= attempt.keys()
            ):
                raise ValueError(
                    f"attempt {number!r} of step {self.name!r} is malformed or out of order: "
                    f"{str(attempt)[:200]}"
                )
            self.attempts.append(attempt)
        self.attempts_saved()


@dataclass(slots=True)
class InstanceRecord:
    """Everything durable about one instance.

    ``status_ms`` is the engine-clock time of the last status change (None until the first
    change after creation); stores derive an instance's ``modified_ms`` from it and the other times.
    """

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
    events: EventBuffer = field(default_factory=EventBuffer)
    modifiers: dict[str, Any] = field(default_factory=dict)
    next_seq: int = 0
    status_ms: float | None = None
    schedule: dict[str, Any] | None = None
    steps: dict[StepKey, StepRecord] = field(default_factory=dict)
    #: The instance's event log (see :mod:`~cfwf_emulator.engine.eventlog`): not part of the
    #: header; a store saves it apart and sets where its ids continue when loading.
    log: EventLog = field(default_factory=EventLog, compare=False, repr=False)
    #: What a durable store last committed of the header (bookkeeping, not part of the record):
    #: see :meth:`header_snapshot`; None when unknown.
    saved_header: tuple[Any, ...] | None = field(default=None, init=False, repr=False, compare=False)
    #: The ``modified_ms`` a durable store last committed for the instance (bookkeeping).
    saved_modified_ms: float = field(default=float("-inf"), init=False, repr=False, compare=False)
    #: :meth:`header_text`'s cache: the fields that start the header and the JSON text of them.
    _header_start: tuple[Any, ...] | None = field(default=None, init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.events, EventBuffer):  # a plain list of events
            self.events = EventBuffer(self.events)

    def header_json(self) -> dict[str, Any]:
        """The header (everything but the steps and the buffered events) as a JSON-ready dict."""
        return dict(zip(_HEADER_FIELDS, _header_values(self)))

    def header_snapshot(self) -> tuple[Any, ...]:
        """The header's values but ``next_seq``, compared by value with a later snapshot: equal
        snapshots mean the header changed in nothing but ``next_seq``, which loading derives from
        the steps (:meth:`from_json`), so a store need not write the header for a new step."""
        values = _snapshot_values(self)
        if self.modifiers or self.error or self.schedule:  # dicts may change in place: keep copies
            values = tuple(deepcopy(value) if type(value) is dict else value for value in values)
        return values

    def header_changed_since(self, snapshot: tuple[Any, ...] | None) -> bool:
        """Whether anything in the header but ``next_seq`` differs from ``snapshot`` (a
        :meth:`header_snapshot`; None: unknown, so changed). Compares the live values: no copy."""
        return snapshot is None or _snapshot_values(self) != snapshot

    def header_text(self) -> str:
        """:meth:`header_json` as compact JSON text (``separators=(",", ":")``, non-ASCII kept,
        a lone surrogate escaped): the same text as encoding the dict, built from the text of
        the fields that never change (workflow, id, params, creation time; kept) and of the
        others, most of them times (an instance writes its header several times in a run)."""
        start = self._header_start
        if (
            start is None
            or start[0] is not self.workflow
            or start[1] is not self.id
            or start[2] is not self.params
            or start[3] is not self.created_ms
        ):
            begins = (
                f'{{"workflow":{compact(self.workflow)},"id":{compact(self.id)},'
                f'"params":{compact(self.params)},"created_ms":{_number(self.created_ms)},"status":'
            )
            start = self._header_start = (self.workflow, self.id, self.params, self.created_ms, begins)
        output, error, modifiers, schedule = self.output, self.error, self.modifiers, self.schedule
        text = (
            f'{start[4]}{compact(self.status)},"queued_ms":{_number(self.queued_ms)},'
            f'"start_ms":{_number(self.start_ms)},"end_ms":{_number(self.end_ms)},'
            f'"output":{"null" if output is None else compact(output)},'
            f'"error":{"null" if error is None else compact(error)},"pause_ms":{_number(self.pause_ms)},'
            f'"modifiers":{"{}" if type(modifiers) is dict and not modifiers else compact(modifiers)},'
            f'"next_seq":{_number(self.next_seq)},"status_ms":{_number(self.status_ms)},'
            f'"schedule":{"null" if schedule is None else compact(schedule)}}}'
        )
        return storable(text, self.header_json)

    @classmethod
    def from_json(
        cls,
        header: dict[str, Any],
        steps: list[dict[str, Any]],
        events: "Iterable[tuple[int, Any]]" = (),
        attempts: "Mapping[StepKey, list[tuple[int, Any]]] | None" = None,
        log: EventLog | None = None,
    ) -> "InstanceRecord":
        """Rebuild a record from its header, step dicts, ``(seq, event)`` rows and each step's
        ``(number, attempt)`` rows (by step key; a step with none has none); ``log``: its event
        log (a new, empty one when not given).

        Raises ``ValueError``/``TypeError`` naming what is wrong when the data is malformed (a
        missing or unknown field, an unknown status or step kind, a malformed event or attempt,
        attempts of a step that is not there).
        """
        unknown = _object("header", header).keys() - _HEADER_KEYS
        if unknown:
            raise ValueError(f"the header has unknown fields {sorted(map(str, unknown))}")
        # the buffer and the log passed in: a default one of each made and dropped costs a wake
        record = cls(**header, events=EventBuffer.restore(events), log=EventLog() if log is None else log)
        if record.status not in STATUSES:
            raise ValueError(f"unknown status {record.status!r}")
        unclaimed = dict(attempts) if attempts else {}
        for data in steps:
            step = StepRecord.from_json(data, unclaimed.pop(_step_key(data), ()) if unclaimed else ())
            record.steps[step.key] = step
        if unclaimed:
            raise ValueError(f"there are attempts of steps that are not saved: {sorted(unclaimed)[:5]}")
        # a store may leave the header unwritten when a new step changed nothing else in it
        numbered = [step.seq for step in record.steps.values() if type(step.seq) is int]
        if numbered and type(record.next_seq) is int:
            record.next_seq = max(record.next_seq, max(numbered) + 1)
        return record


def _step_key(data: Any) -> Any:
    """The key a step dict will have as a record (None when it is not a dict: from_json says why)."""
    return (data.get("kind"), data.get("name"), data.get("count")) if isinstance(data, dict) else None


def _object(what: str, data: Any) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise TypeError(f"the {what} is a JSON {type(data).__name__}, not an object")
    return data


_STEP_FIELDS = tuple(f.name for f in fields(StepRecord) if f.name not in ("attempts", "saved_attempts"))
_STEP_KEYS = frozenset(_STEP_FIELDS)
#: The values of those fields, read in one call (a getattr per field costs a Python loop).
_step_values = attrgetter(*_STEP_FIELDS)
_ATTEMPT_KEYS = frozenset({"start", "end", "success", "error"})
_HEADER_FIELDS = tuple(
    f.name
    for f in fields(InstanceRecord)
    if f.name not in ("steps", "events", "log", "saved_header", "saved_modified_ms", "_header_start")
)
_HEADER_KEYS = frozenset(_HEADER_FIELDS)
_header_values = attrgetter(*_HEADER_FIELDS)
_snapshot_values = attrgetter(*(name for name in _HEADER_FIELDS if name != "next_seq"))
