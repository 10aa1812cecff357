"""Reading instances back from a SQLite state file: one, or many at once.

A wake of many hibernated instances (their timers ending at the same instant) reads each table
once per :data:`IDS_PER_QUERY` instances instead of five queries per instance. The rows are
decoded into records here too; what cannot be decoded is reported as a corrupt instance.
"""

from __future__ import annotations

import json
import json.scanner
import sqlite3
from dataclasses import dataclass, field
from typing import Any, Iterator

from ..engine.eventlog import EventLog
from ..engine.records import InstanceRecord, StepKey

__all__ = ["CURRENT_ATTEMPT", "IDS_PER_QUERY", "InstanceRows", "attempt_rows", "decode", "read_rows"]

#: Instance ids bound in one query (SQLite allows 32,766 parameters; the queries stay short).
IDS_PER_QUERY = 500

#: The key, in a step row's JSON, of the step's newest attempt: ``[number, attempt]``.
CURRENT_ATTEMPT = "current_attempt"


@dataclass(slots=True)
class InstanceRows:
    """One instance's saved rows, still JSON text."""

    header: str
    steps: list[str] = field(default_factory=list)
    attempts: list[tuple[str, str, int, int, str]] = field(default_factory=list)
    events: list[tuple[int, str]] = field(default_factory=list)
    last_event_id: int = 0


def _chunks(ids: list[str]) -> Iterator[list[str]]:
    for first in range(0, len(ids), IDS_PER_QUERY):
        yield ids[first:first + IDS_PER_QUERY]


def _optional(db: sqlite3.Connection, sql: str, params: tuple[Any, ...]) -> list[Any]:
    """The rows of a query on a table a file may not have yet (one inspected before its owner
    upgraded it): none when the table is missing."""
    try:
        return db.execute(sql, params).fetchall()
    except sqlite3.OperationalError as exc:
        if "no such table" in str(exc):
            return []
        raise


#: The steps a recovery needs to see to know when a waiting instance runs again.
#: (A row that is not JSON is kept: decoding it fails, and the full load that follows reports it.)
_PENDING_STEPS = "AND (NOT json_valid(data) OR json_extract(data, '$.state') IN ('running', 'waiting'))"


def read_rows(db: sqlite3.Connection, workflow: str, ids: list[str], *, pending_only: bool = False) -> dict[str, InstanceRows]:
    """The saved rows of those of ``workflow``'s instances ``ids`` that exist, by id.

    ``pending_only``: only the steps still running or waiting (each with its newest attempt,
    kept in its row) and the buffered events: what deciding when a recovered instance runs
    again needs, without reading the finished steps of a long history.
    """
    found: dict[str, InstanceRows] = {}
    for chunk in _chunks(ids):
        marks = ",".join("?" * len(chunk))
        where = f"WHERE workflow = ? AND id IN ({marks})"
        params = (workflow, *chunk)
        for instance_id, header, last in _headers(db, where, params, with_last_event=not pending_only):
            found[instance_id] = InstanceRows(header, last_event_id=0 if last is None else int(last))
        if not found:
            continue
        steps = f"SELECT id, data FROM steps {where} {_PENDING_STEPS if pending_only else ''} ORDER BY id, kind, name, count"
        for instance_id, data in db.execute(steps, params):
            found[instance_id].steps.append(data)
        for instance_id, seq, data in _optional(db, f"SELECT id, seq, data FROM events {where} ORDER BY id, seq", params):
            found[instance_id].events.append((seq, data))
        if pending_only:
            continue
        for instance_id, *attempt in _optional(
            db, f"SELECT id, kind, name, count, n, data FROM attempts {where} ORDER BY id, kind, name, count, n", params
        ):
            found[instance_id].attempts.append(tuple(attempt))
    return found


#: Each instance's header with the id of its last saved event (from its newest log row, found by
#: the log's key: a query of its own, grouping every row of each instance, cost as much again).
_HEADERS_WITH_LAST_EVENT = (
    "SELECT id, header, (SELECT last FROM log WHERE log.workflow = instances.workflow AND "
    "log.id = instances.id ORDER BY n DESC LIMIT 1) FROM instances {where}"
)


def _headers(db: sqlite3.Connection, where: str, params: tuple[Any, ...], *, with_last_event: bool) -> list[Any]:
    """``(id, header, last event id or None)`` of the instances ``where`` selects; the last event
    id is None without ``with_last_event`` or in a file with no log table yet."""
    if with_last_event:
        try:
            return db.execute(_HEADERS_WITH_LAST_EVENT.format(where=where), params).fetchall()
        except sqlite3.OperationalError as exc:
            if "no such table" not in str(exc):
                raise
    return db.execute(f"SELECT id, header, NULL FROM instances {where}", params).fetchall()


#: The JSON decoder's scanner, called directly: ``json.loads`` adds two regular expression
#: matches and three Python calls around it, a quarter of decoding a small row.
_scan: Any = json.scanner.make_scanner(json.JSONDecoder())  # type: ignore[arg-type]


def _loads(text: Any) -> Any:
    """``json.loads(text)`` for a row the store wrote (no whitespace around the value); anything
    else, and whatever is malformed, goes to ``json.loads``, which accepts or refuses it."""
    try:
        value, end = _scan(text, 0)
    except (StopIteration, TypeError):
        return json.loads(text)
    if end != len(text):
        return json.loads(text)
    return value


def decode(rows: InstanceRows) -> InstanceRecord:
    """The record the rows hold, its ``log`` going on after the last saved event.

    Raises ``ValueError``/``TypeError``/``KeyError`` saying what is malformed.
    """
    steps = [_loads(data) for data in rows.steps]
    header = _loads(rows.header)
    attempts: dict[StepKey, list[tuple[int, Any]]] = {}
    if isinstance(header, dict) and "events" in header:  # schema version 1, read as it is
        events = list(enumerate(header.pop("events")))
        for data in steps:
            taken = attempt_rows(data)
            if taken is not None:
                attempts[(data["kind"], data["name"], data["count"])] = taken
    else:
        events = [(seq, _loads(data)) for seq, data in rows.events]
        for kind, name, count, number, data in rows.attempts:
            attempts.setdefault((kind, name, count), []).append((number, _loads(data)))
        _attach_current_attempts(steps, attempts)
    return InstanceRecord.from_json(header, steps, events, attempts, EventLog(rows.last_event_id + 1))


def _attach_current_attempts(steps: list[Any], attempts: "dict[StepKey, list[tuple[int, Any]]]") -> None:
    """Move each step row's newest attempt (kept in the row) after its earlier attempt rows; a
    row for the same or a later number (left by an upgrade from version 1) gives way to it."""
    for data in steps:
        if not isinstance(data, dict) or CURRENT_ATTEMPT not in data:
            continue
        current = data.pop(CURRENT_ATTEMPT)
        if not (isinstance(current, list) and len(current) == 2 and isinstance(current[0], int)):
            raise ValueError(f"step {data.get('name')!r} has a malformed current attempt {current!r}")
        key = (data.get("kind"), data.get("name"), data.get("count"))
        number, attempt = current
        earlier = attempts.get(key)  # type: ignore[arg-type]
        if not earlier:
            attempts[key] = [(number, attempt)]  # type: ignore[index]
            continue
        attempts[key] = [*(row for row in earlier if row[0] < number), (number, attempt)]  # type: ignore[index]


def attempt_rows(step: Any) -> list[tuple[int, Any]] | None:
    """A schema-version-1 step's attempts, taken out of it as ``(number, attempt)`` rows; None
    (the step left as it is) when it is not a step object with a list of attempts."""
    if not isinstance(step, dict) or not isinstance(step.get("attempts"), list):
        return None
    return list(enumerate(step.pop("attempts"), 1))
