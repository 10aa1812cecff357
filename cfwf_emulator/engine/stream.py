"""Live delivery of instance events to subscribers, and the subscription iterator.

:class:`EventStream` (``engine.stream``) hands each event to the live subscribers once the write
that recorded it is committed, in the order the events were recorded (the Announcer's rule for
observers). While nobody subscribes it does nothing: the engine only appends raw entries to the
instance's log (:mod:`.eventlog`).

:class:`Subscription` is what ``emu.api.subscribe`` returns: it reads the history of the
matching instances from the store first, then follows live events. Each subscriber has its own
buffer of live events, so a subscriber that does not read never slows an instance down; when
the buffer overflows it is dropped and the subscriber reads the log again from the store, from
the last event it yielded. Ids per instance tell history and live events apart at the seam, so
no event is yielded twice or skipped.
"""

from __future__ import annotations

import asyncio
import heapq
import json
import weakref
from collections import deque
from typing import Any, Awaitable, Callable, Iterable, Mapping, Protocol, TypedDict

from ..serialization import iso_from_ms
from .eventlog import EventRow, is_final
from .records import TERMINAL, InstanceRecord

__all__ = ["BUFFER_SIZE", "EventSource", "EventStream", "InstanceEvent", "Subscriber", "Subscription"]

#: Live events a subscriber's buffer holds before it falls back to reading the store.
BUFFER_SIZE = 1_000

Commit = "asyncio.Future[None] | None"


class InstanceEvent(TypedDict):
    """One event of an instance's log; ``id`` counts from 1 within the instance and never changes."""

    id: int
    #: One of :data:`~cfwf_emulator.engine.eventlog.EVENT_TYPES`.
    type: str
    workflow: str
    instance_id: str
    #: When it happened, emulator clock (ISO 8601, UTC, milliseconds).
    at: str
    #: What happened (JSON data; see the README's "Event stream" for each type's fields).
    data: dict[str, Any]


def make_event(workflow: str, instance_id: str, row: EventRow) -> InstanceEvent:
    """The public shape of an event row (its data a fresh JSON copy: changing it changes nothing)."""
    event_id, kind, at, data = row
    return InstanceEvent(
        id=event_id,
        type=kind,
        workflow=workflow,
        instance_id=instance_id,
        at=iso_from_ms(at) or "",
        data=json.loads(json.dumps(data)),
    )


class Subscriber:
    """A live subscriber's side in the stream: what it selects and its buffer of live events."""

    __slots__ = ("workflow", "instance_id", "limit", "buffer", "overflowed", "rescued", "wake", "__weakref__")

    def __init__(self, workflow: str | None, instance_id: str | None, limit: int) -> None:
        self.workflow = workflow
        self.instance_id = instance_id
        self.limit = limit
        self.buffer: deque[InstanceEvent] = deque()
        #: The buffer overflowed and was dropped: read the store again before going on.
        self.overflowed = False
        #: Events of instances deleted while overflowed, read before their log went.
        self.rescued: list[InstanceEvent] = []
        self.wake = asyncio.Event()

    def matches(self, workflow: str, instance_id: str) -> bool:
        """Whether events of this instance are for this subscriber."""
        return (self.workflow is None or self.workflow == workflow) and (
            self.instance_id is None or self.instance_id == instance_id
        )

    def push(self, event: InstanceEvent) -> None:
        """Buffer a live event; past the limit, drop the buffer and mark the subscriber overflowed."""
        if not self.overflowed:
            if len(self.buffer) >= self.limit:
                self.overflowed = True
                self.buffer.clear()
            else:
                self.buffer.append(event)
        self.wake.set()


class EventStream:
    """Hands committed events to live subscribers, in the order they were recorded."""

    def __init__(self) -> None:
        self._subscribers: dict[int, "weakref.ref[Subscriber]"] = {}
        #: Whether anyone subscribes (checked on every event: a plain attribute).
        self.active = False
        self._queue: deque[tuple["asyncio.Future[None] | None", list[InstanceEvent]]] = deque()
        self._waiting_on: "asyncio.Future[None] | None" = None

    def add(self, workflow: str | None, instance_id: str | None, limit: int = BUFFER_SIZE) -> Subscriber:
        """A new live subscriber; it stays until :meth:`remove`, or until nothing references it."""
        subscriber = Subscriber(workflow, instance_id, limit)
        key = id(subscriber)
        self._subscribers[key] = weakref.ref(subscriber, lambda _ref: self._forget(key))
        self.active = True
        return subscriber

    def remove(self, subscriber: Subscriber) -> None:
        """Stop delivering to ``subscriber`` (again: nothing happens)."""
        self._forget(id(subscriber))

    def _forget(self, key: int) -> None:
        self._subscribers.pop(key, None)
        self.active = bool(self._subscribers)

    def subscribers(self) -> list[Subscriber]:
        """The live subscribers."""
        found = [ref() for ref in list(self._subscribers.values())]
        return [subscriber for subscriber in found if subscriber is not None]

    def publish(self, record: InstanceRecord, count: int, committed: "asyncio.Future[None] | None") -> None:
        """The last ``count`` entries of ``record``'s log are recorded; deliver them once
        ``committed`` (the write that saves them; None: already durable) has succeeded."""
        rows = record.log.rows(last=count)
        self.publish_rows(record.workflow, record.id, rows, committed)

    def publish_rows(
        self, workflow: str, instance_id: str, rows: Iterable[EventRow], committed: "asyncio.Future[None] | None"
    ) -> None:
        """Deliver event rows of one instance once ``committed`` has succeeded."""
        events = [make_event(workflow, instance_id, row) for row in rows]
        if events:
            self._queue.append((committed, events))
            self._drain()

    def _drain(self, _done: "asyncio.Future[None] | None" = None) -> None:
        if _done is not None and _done is self._waiting_on:
            self._waiting_on = None
        queue = self._queue
        while queue:
            committed, events = queue[0]
            if committed is not None and not committed.done():
                if self._waiting_on is not committed:
                    self._waiting_on = committed
                    committed.add_done_callback(self._drain)
                return
            queue.popleft()
            if committed is None or (not committed.cancelled() and committed.exception() is None):
                self._deliver(events)

    def before_delete(self, workflow: str, instance_id: str, saved: list[EventRow]) -> None:
        """An instance's log is about to go: subscribers that overflowed (and would read it from
        the store later) keep its events now."""
        for subscriber in self.subscribers():
            if subscriber.overflowed and subscriber.matches(workflow, instance_id):
                subscriber.rescued += [make_event(workflow, instance_id, row) for row in saved]

    def _deliver(self, events: list[InstanceEvent]) -> None:
        subscribers = self.subscribers()
        for event in events:
            for subscriber in subscribers:
                if subscriber.matches(event["workflow"], event["instance_id"]):
                    subscriber.push(event)


class EventSource(Protocol):
    """What a subscription reads the history from (the engine is one)."""

    def event_history(
        self, workflow: str | None, instance_id: str | None, after: Callable[[str, str], int]
    ) -> "tuple[list[InstanceEvent], asyncio.Future[None] | None]":
        """The matching instances' events with ids above ``after(workflow, id)``, merged in time
        order, and the store's pending commit that some of them wait for (None: all durable)."""

    def read(self, workflow: str, instance_id: str) -> InstanceRecord | None:
        """The instance's record as it is now, None when it does not exist."""


class HistoryHost(Protocol):
    """What :func:`history` reads: the engine's store, workflows and instances."""

    store: Any

    @property
    def workflows(self) -> Mapping[str, Any]:
        """The registered workflows, by name."""

    def exists(self, workflow: str, instance_id: str) -> bool:
        """Whether the instance exists."""


def history(
    host: HistoryHost, workflow: str | None, instance_id: str | None, after: Callable[[str, str], int]
) -> "tuple[list[InstanceEvent], asyncio.Future[None] | None]":
    """The events of the matching instances (every workflow's when ``workflow`` is None, every
    instance's when ``instance_id`` is None) with ids above ``after(workflow, id)``, in time
    order, and the store's pending commit some of them wait for."""
    store = host.store
    barrier = store.pending_commit()  # before reading: what is read is in it or already durable
    histories = []
    for name in [workflow] if workflow is not None else list(host.workflows):
        if instance_id is not None:
            ids = [instance_id] if host.exists(name, instance_id) else []
        else:
            ids = store.instance_ids(name)
        for one in ids:
            histories.append((name, one, store.read_log(name, one, after(name, one))))
    return merge_histories(histories), barrier


def merge_histories(histories: Iterable[tuple[str, str, list[EventRow]]]) -> list[InstanceEvent]:
    """Several instances' event rows as one list in time order (each instance's own order kept)."""
    streams = [[(row[2], workflow, instance_id, row) for row in rows] for workflow, instance_id, rows in histories]
    return [
        make_event(workflow, instance_id, row)
        for _at, workflow, instance_id, row in heapq.merge(*streams, key=lambda item: item[0])
    ]


class Subscription:
    """An async iterator of instance events: history first, then live (see the module docstring).

    ``cursor`` skips, per instance, the events with ids up to it (an int for every instance, or a
    mapping of instance id to id). ``until_final`` ends the iteration after an event that ends
    the instance's run (complete, errored, terminated) or its deletion, when nothing follows it
    (and, for one instance followed, at once when it has ended and shows nothing after ``cursor``).
    Live events are kept from the moment it is made; the history is read when it is first
    iterated. Closing it (``aclose()``, leaving ``async with``, or dropping it after ``break``)
    stops delivery.
    """

    def __init__(
        self,
        source: EventSource,
        stream: EventStream,
        ready: Callable[[], Awaitable[object]],
        *,
        workflow: str | None = None,
        instance_id: str | None = None,
        types: frozenset[str] | None = None,
        cursor: "int | Mapping[str, int]" = 0,
        until_final: bool = False,
        buffer_size: int = BUFFER_SIZE,
    ) -> None:
        self._source = source
        self._stream = stream
        self._ensure_started = ready
        self._workflow = workflow
        self._instance_id = instance_id
        self._types = types
        self._cursor = cursor
        self._until_final = until_final
        # live events are kept from now on (history is read at the first ``__anext__``)
        self._subscriber: Subscriber | None = stream.add(workflow, instance_id, buffer_size)
        self._started = False
        self._last: dict[tuple[str, str], int] = {}
        self._pending: deque[InstanceEvent] = deque()
        self._ended = False
        self._closed = False

    def _after(self, workflow: str, instance_id: str) -> int:
        last = self._last.get((workflow, instance_id))
        if last is not None:
            return last
        cursor = self._cursor
        return cursor if isinstance(cursor, int) else int(cursor.get(instance_id, 0))

    def __aiter__(self) -> "Subscription":
        return self

    async def __aenter__(self) -> "Subscription":
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Stop: no more events are delivered, iteration ends."""
        self._closed = True
        if self._subscriber is not None:
            self._subscriber.wake.set()  # a reader waiting for the next event stops now
            self._stream.remove(self._subscriber)
            self._subscriber = None

    async def __anext__(self) -> InstanceEvent:
        subscriber = self._subscriber
        if self._closed or subscriber is None:
            raise StopAsyncIteration
        if not self._started:
            self._started = True
            await self._ensure_started()
            await self._refill(subscriber)
            if self._until_final and not self._pending:
                self._ended = self._already_final()
        while True:
            event = self._next_pending()
            if event is not None:
                return event
            if subscriber.overflowed or subscriber.rescued:
                await self._refill(subscriber)
                continue
            if subscriber.buffer:
                self._pending.extend(subscriber.buffer)
                subscriber.buffer.clear()
                continue
            if self._ended or self._closed:
                await self.aclose()
                raise StopAsyncIteration
            subscriber.wake.clear()
            await subscriber.wake.wait()

    def _next_pending(self) -> InstanceEvent | None:
        """The next pending event not yielded before and of a wanted type, or None."""
        pending = self._pending
        while pending:
            event = pending.popleft()
            key = (event["workflow"], event["instance_id"])
            if event["id"] <= self._after(*key) and event["type"] != "instance.deleted":
                continue
            # a deleted instance's id may be used again: the new instance's log starts from 1
            self._last[key] = 0 if event["type"] == "instance.deleted" else event["id"]
            if self._until_final:
                self._ended = is_final(event["type"], event["data"]) or event["type"] == "instance.deleted"
            if self._types is None or event["type"] in self._types:
                return event
        return None

    def _already_final(self) -> bool:
        """Whether the one instance followed has ended its run already (or is gone), with no
        event left to show (the cursor was past its last one, or it logged none)."""
        if self._workflow is None or self._instance_id is None:
            return False
        record = self._source.read(self._workflow, self._instance_id)
        return record is None or record.status in TERMINAL

    async def _refill(self, subscriber: Subscriber) -> None:
        """Read the log from the store, from the last event yielded (history, or after an overflow)."""
        subscriber.overflowed = False
        # what is buffered is committed: in the store too (then skipped as seen), unless its
        # instance was deleted since (its events are only here), so it goes after the history
        buffered = list(subscriber.buffer)
        subscriber.buffer.clear()
        rescued, subscriber.rescued = subscriber.rescued, []
        while True:
            events, barrier = self._source.event_history(self._workflow, self._instance_id, self._after)
            if barrier is None:
                break
            try:
                await asyncio.shield(barrier)
                break
            except Exception:  # noqa: BLE001 - that commit failed: what it held is gone, read again
                continue
        self._pending.extend(rescued)
        self._pending.extend(events)
        self._pending.extend(buffered)
