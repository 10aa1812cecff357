"""An instance's event log: what happened to it, in order, each event numbered from 1.

The engine appends a raw entry as events happen: a tuple ``(type, at_ms, *details)`` referring
to the journal objects it is about (a step record, an attempt's number), or a compact form that
stands for two events (see :class:`EventLog`), so recording costs a small tuple and no encoding.
An entry becomes event rows, ``(id, type, at_ms, data)`` with ``data`` a JSON-ready dict, only
when something reads it (:meth:`EventLog.rows`) or a durable store saves it (:func:`entries_json`).

Ids count events: :attr:`EventLog.first_id` is the id of the first event of the first entry still
held. The memory store keeps every entry; a durable store saves the entries with the write that
commits the state they report, then drops them (:meth:`EventLog.persisted`), and a log loaded
again starts after the last saved id, so ids never change across a restart.

Step outputs of a step configured ``sensitive: "output"`` are shown as ``"[REDACTED]"`` in every
event: the log never holds them.
"""

from __future__ import annotations

import json
from typing import Any, Iterable, Protocol

from ..jsontext import compact, compact_same, storable
from ..serialization import iso_from_ms


class StepRecord(Protocol):
    """What an entry reads of a journaled step (a :class:`~cfwf_emulator.engine.records.StepRecord`;
    records holds an :class:`EventLog` in each instance record, so this module does not import it)."""

    name: str
    count: int
    start_ms: float
    end_ms: float | None
    state: str
    result: str | None
    error: dict[str, Any] | None
    config: dict[str, Any] | None
    attempts: list[dict[str, Any]]

__all__ = ["EVENT_TYPES", "REDACTED", "STEP_DONE", "EventLog", "EventRow", "entries_json", "is_final", "rows_from_json"]

#: Every event type, in the order an instance usually emits them.
EVENT_TYPES = (
    "instance.created",
    "instance.status",
    "step.start",
    "step.attempt.start",
    "step.attempt.end",
    "step.end",
    "sleep.start",
    "sleep.end",
    "wait.start",
    "wait.end",
    "instance.deleted",
)
#: What an event shows instead of the output of a step configured ``sensitive: "output"``.
REDACTED = "[REDACTED]"

#: One event: its id, type, engine-clock time (epoch ms) and JSON-ready data.
EventRow = tuple[int, str, float, dict[str, Any]]


#: Raw entry kinds that stand for two events: a ``step.do``'s start with its first attempt's start
#: (the entry is the step record itself), and its last attempt's end with the step's end.
STEP_DONE = "step.done"


class EventLog:
    """The raw entries of one instance's events not yet saved (all of them, in memory).

    An entry is a tuple ``(type, at_ms, *details)`` for one event, or one of two compact forms
    for the events every ``step.do`` emits (so a step records two entries, not four): the
    :class:`~cfwf_emulator.engine.records.StepRecord` itself for ``step.start`` and
    ``step.attempt.start`` of attempt 1, and ``(STEP_DONE, step)`` for ``step.attempt.end`` of its
    last attempt and ``step.end``. Their times and details are read from the step record, which
    never changes those once written.
    """

    __slots__ = ("entries", "first_id", "_counted", "_counted_id")

    def __init__(self, first_id: int = 1) -> None:
        #: Raw entries, oldest first; the engine appends to this list directly (it is hot).
        self.entries: list[Any] = []
        #: The id of the first event of ``entries[0]`` (or of the next event when there is none).
        self.first_id = first_id
        self._counted = 0  # entries[:_counted] hold the events before _counted_id
        self._counted_id = first_id

    def _id_at(self, index: int) -> int:
        """The id of the first event of ``entries[index]`` (counted on from the last call)."""
        if index < self._counted:
            self._counted, self._counted_id = 0, self.first_id
        entries = self.entries
        position, event_id = self._counted, self._counted_id
        while position < index:
            event_id += _size(entries[position])
            position += 1
        self._counted, self._counted_id = position, event_id
        return event_id

    @property
    def next_id(self) -> int:
        """The id the next event gets."""
        return self._id_at(len(self.entries))

    def rows(self, after: int = 0, last: int | None = None) -> list[EventRow]:
        """The events of the held entries (only the ``last`` ones when given) with ids above
        ``after``, as event rows."""
        entries = self.entries
        start = 0 if last is None else max(len(entries) - last, 0)
        event_id = self._id_at(start)
        rows: list[EventRow] = []
        for entry in entries[start:]:
            for row in _expand(event_id, entry):
                if row[0] > after:
                    rows.append(row)
            event_id += _size(entry)
        return rows

    def persisted(self, count: int) -> None:
        """A store saved the first ``count`` entries: forget them."""
        self.first_id = self._id_at(count)
        del self.entries[:count]
        self._counted, self._counted_id = 0, self.first_id

    def __len__(self) -> int:
        return len(self.entries)

    def __repr__(self) -> str:
        return f"EventLog(first_id={self.first_id}, held={len(self.entries)})"


def _size(entry: Any) -> int:
    """How many events a raw entry stands for."""
    return 1 if type(entry) is tuple and entry[0] != STEP_DONE else 2


def is_final(row_type: str, data: dict[str, Any]) -> bool:
    """Whether an event ends an instance's run: a status change to complete, errored or terminated."""
    return row_type == "instance.status" and data.get("new") in ("complete", "errored", "terminated")


def _step(step: StepRecord) -> dict[str, Any]:
    return {"name": step.name, "count": step.count}


def _output(step: StepRecord) -> Any:
    if step.result is None:
        return None
    if step.config is not None and step.config.get("sensitive") == "output":
        return REDACTED
    return json.loads(step.result)


def _error(error: Any) -> Any:
    if not error:
        return None
    return {"name": error.get("name"), "message": error.get("message")}


def _status(details: tuple[Any, ...]) -> dict[str, Any]:
    old, new, output, error = details
    data: dict[str, Any] = {"old": old, "new": new}
    if new == "complete":
        data["output"] = None if output is None else json.loads(output)
    elif new == "errored":
        data["error"] = _error(error)
    return data


def _attempt_end(step: StepRecord, number: int, retry_delay_ms: Any) -> dict[str, Any]:
    attempt = step.attempts[number - 1] if len(step.attempts) >= number else {}
    return {
        **_step(step),
        "attempt": number,
        "success": bool(attempt.get("success")),
        "error": _error(attempt.get("error")),
        "retry_delay_ms": retry_delay_ms,
    }


def _step_end(step: StepRecord) -> dict[str, Any]:
    return {**_step(step), "success": step.state == "ok", "output": _output(step), "error": _error(step.error)}


def _data(kind: str, details: tuple[Any, ...]) -> dict[str, Any]:
    if kind == "instance.status":
        return _status(details)
    if kind in ("instance.created", "instance.deleted"):
        return {"status": details[0]} if details else {}
    step: StepRecord = details[0]
    if kind == "step.start":
        return {**_step(step), "config": step.config}
    if kind == "step.attempt.start":
        return {**_step(step), "attempt": details[1]}
    if kind == "step.attempt.end":
        return _attempt_end(step, details[1], details[2])
    if kind == "step.end":
        return _step_end(step)
    if kind == "sleep.start":
        return {**_step(step), "until": iso_from_ms(details[1])}
    if kind == "sleep.end":
        return _step(step)
    if kind == "wait.start":
        timeout = (step.config or {}).get("timeout")
        return {**_step(step), "event_type": details[1], "timeout": timeout, "until": iso_from_ms(details[2])}
    if kind == "wait.end":
        return {**_step(step), "event_type": details[1], "outcome": "timeout" if details[2] else "received"}
    raise ValueError(f"unknown event entry {kind!r}")


def _expand(event_id: int, entry: Any) -> list[EventRow]:
    """The event rows of raw ``entry``, numbered from ``event_id``."""
    if type(entry) is not tuple:  # a step record: its start, with its first attempt's
        step = entry
        return [
            (event_id, "step.start", float(step.start_ms), {**_step(step), "config": step.config}),
            (event_id + 1, "step.attempt.start", float(step.attempts[0]["start"]), {**_step(step), "attempt": 1}),
        ]
    kind = entry[0]
    if kind == STEP_DONE:
        step = entry[1]
        number = len(step.attempts)
        attempt_end = step.attempts[-1]["end"] if step.attempts else step.end_ms
        return [
            (event_id, "step.attempt.end", float(attempt_end), _attempt_end(step, number, None)),
            (event_id + 1, "step.end", float(step.end_ms), _step_end(step)),
        ]
    return [(event_id, kind, float(entry[1]), _data(kind, entry[2:]))]


#: JSON text of a value.
_text = compact



def _entry_json(entry: Any) -> str:
    """The saved form of raw ``entry``'s events (``[type, at_ms, data]`` items, comma-separated);
    the two forms every step writes are built directly (a step's output is its JSON already)."""
    if type(entry) is not tuple:
        step = entry
        head = f'"name":{_text(step.name)},"count":{step.count}'
        return (
            f'["step.start",{float(step.start_ms)!r},{{{head},"config":{compact_same(step.config)}}}],'
            f'["step.attempt.start",{float(step.attempts[0]["start"])!r},{{{head},"attempt":1}}]'
        )
    if entry[0] == STEP_DONE:
        step = entry[1]
        if step.result is None:
            output = "null"
        elif step.config is not None and step.config.get("sensitive") == "output":
            output = f'"{REDACTED}"'
        else:
            output = step.result
        attempt = step.attempts[-1] if step.attempts else {}
        head = f'"name":{_text(step.name)},"count":{step.count}'
        end = attempt.get("end", step.end_ms)
        attempt_error = attempt.get("error")
        return (
            f'["step.attempt.end",{float(end)!r},{{{head},"attempt":{len(step.attempts)},'
            f'"success":{"true" if attempt.get("success") else "false"},'
            f'"error":{_text(_error(attempt_error)) if attempt_error else "null"},"retry_delay_ms":null}}],'
            f'["step.end",{float(step.end_ms)!r},{{{head},"success":{"true" if step.state == "ok" else "false"},'
            f'"output":{output},"error":{_text(_error(step.error)) if step.error else "null"}}}]'
        )
    return ",".join(_text([kind, at, data]) for _id, kind, at, data in _expand(0, entry))


def entries_json(entries: Iterable[Any]) -> str:
    """The saved form (a JSON array of ``[type, at_ms, data]``) of raw entries' events, which
    :func:`rows_from_json` reads back as :meth:`EventLog.rows` gives them."""
    text = "[" + ",".join(map(_entry_json, entries)) + "]"
    return storable(text, lambda: json.loads(text))


def rows_from_json(first_id: int, items: Iterable[Any]) -> list[EventRow]:
    """Event rows from a saved chunk: ``[type, at_ms, data]`` items numbered from ``first_id``.

    ``ValueError`` naming the first malformed item.
    """
    rows: list[EventRow] = []
    for offset, item in enumerate(items):
        if (
            not isinstance(item, list)
            or len(item) != 3
            or item[0] not in EVENT_TYPES
            or not isinstance(item[1], (int, float))
            or not isinstance(item[2], dict)
        ):
            raise ValueError(f"event {first_id + offset} of the log is malformed: {str(item)[:200]}")
        rows.append((first_id + offset, item[0], float(item[1]), item[2]))
    return rows
