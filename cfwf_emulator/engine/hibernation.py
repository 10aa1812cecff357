"""Hibernation: blocked instances leave memory and are replayed when their timer ends or an event
comes; finished ones leave memory too. On by default with a durable store (``Emulator(hibernate=...)``).
"""

from __future__ import annotations

import warnings
from collections import deque
from typing import Callable

from ..store import Store
from ..store.base import CorruptInstanceError, StorageWarning
from .instance import LiveInstance
from .instances import Instances, Key
from .records import TERMINAL, InstanceRecord
from .scheduler import Scheduler

__all__ = ["DEFAULT_AFTER_MS", "WAKE_CHUNK", "Hibernation"]

#: The default threshold with a durable store (``hibernate="auto"``): an instance that will wait
#: at least a minute leaves memory. Cloudflare gives no figure (a wait "too short" may not make an
#: instance ``waiting``); a minute keeps the short sleeps and retry delays of tests in memory, with
#: no replay, while anything waiting for hours or days costs disk, not RAM.
DEFAULT_AFTER_MS = 60_000.0

#: Hibernated instances woken per event-loop turn when many of their timers end at once. Each
#: woken instance takes several turns to end (one per group commit it waits for), so several
#: chunks are in flight at a time (100,000 woken in one turn held them all in memory together).
#: 50 costs the least CPU per instance: with ``python -m benchmarks.sleepers 100000 sqlite
#: default``, 192-195 µs against 203-205 µs for 100 (30 and 40 no better), 250 18% and 1,000 55%
#: more at 30,000; most of the difference is the garbage collector walking the instances in
#: flight, and fewer per turn means more commits.
WAKE_CHUNK = 50


class Hibernation:
    """Evicts blocked and finished instances from memory and wakes them again."""

    def __init__(
        self,
        instances: Instances,
        store: Store,
        scheduler: Scheduler,
        set_status: Callable[[LiveInstance, str], None],
    ) -> None:
        self.instances = instances
        self.store = store
        self.scheduler = scheduler
        self.set_status = set_status
        #: Evict instances blocked longer than this (ms) and replay them when woken; None: never.
        self.after_ms: float | None = None
        self._due_wakes: deque[Key] = deque()

    @staticmethod
    def wake_deadline(record: InstanceRecord) -> float | None:
        """When a waiting instance needs to run again; None when it must run now."""
        buffered = record.events.types()
        deadlines = []
        for step in record.steps.values():
            if step.state not in ("running", "waiting"):
                continue  # finished: replay returns its outcome
            if step.deadline_ms is None:
                return None
            if step.kind == "waitForEvent" and (step.config or {}).get("type") in buffered:
                return None
            deadlines.append(step.deadline_ms)
        return min(deadlines) if deadlines else None

    @staticmethod
    def waiting_since(record: InstanceRecord) -> float:
        """When a waiting instance began waiting: the latest start of its pending waits (for a
        retry delay, the end of the attempt before it)."""
        since = record.created_ms
        for step in record.steps.values():
            if step.state in ("running", "waiting"):
                began = step.start_ms
                if step.attempts and step.attempts[-1].get("end") is not None:
                    began = max(began, step.attempts[-1]["end"])
                since = max(since, began)
        return since

    def sleep_recovered(self, workflow: str, asleep: list[tuple[float, int, str, float]]) -> None:
        """Set the wake-ups of recovered instances waiting on a timer, given as ``(waiting since,
        creation index, id, wake at)``: in the order they began waiting, then of creation, which
        is the order those due at the same instant wake in. Until then they are not run; with
        hibernation on they also leave memory."""
        for _, _, instance_id, wake_at in sorted(asleep):
            if self.after_ms is not None:
                self.instances.live.pop((workflow, instance_id), None)
            self.schedule_wake(workflow, instance_id, wake_at)

    def release_if_finished(self, live: LiveInstance) -> None:
        """With hibernation on, a finished instance leaves memory; it is reloaded when asked about."""
        key = (live.record.workflow, live.record.id)
        if (
            self.after_ms is not None
            and live.record.status in TERMINAL
            and self.instances.live.get(key) is live
            and not live.status_unsaved
        ):
            live.task = None
            del self.instances.live[key]
            self.instances.released.add(key)

    def hibernate(self, live: LiveInstance, wake_at: float) -> None:
        """Evict a blocked instance from memory; it is replayed at ``wake_at`` or on an event."""
        record = live.record
        self.set_status(live, "waiting")
        if live.status_unsaved:
            self.store.save_header(record)
        self.instances.cancel(live)
        self.instances.live.pop((record.workflow, record.id), None)
        self.schedule_wake(record.workflow, record.id, wake_at)

    def schedule_wake(self, workflow: str, instance_id: str, wake_at: float) -> None:
        """Wake the instance (out of memory, not running) at ``wake_at``."""
        self.instances.sleepers[(workflow, instance_id)] = self.scheduler.call_at(
            wake_at, _Wake(self, workflow, instance_id)
        )

    def _wake(self, workflow: str, instance_id: str) -> None:
        """A hibernated instance's timer ended: queue it, to be woken ``WAKE_CHUNK`` per turn."""
        self.instances.sleepers.pop((workflow, instance_id), None)
        if self.instances.loop is None:
            return
        self._due_wakes.append((workflow, instance_id))
        if len(self._due_wakes) == 1:
            self.instances.loop.call_soon(self._wake_due)

    def _wake_due(self) -> None:
        """Wake up to ``WAKE_CHUNK`` queued instances, in the order their timers ended, reading
        those of each workflow from the store together."""
        due = self._due_wakes
        chunk = [due.popleft() for _ in range(min(WAKE_CHUNK, len(due)))]
        if due and self.instances.loop is not None:
            self.instances.loop.call_soon(self._wake_due)
        if self.instances.loop is None:
            return
        by_workflow: dict[str, list[str]] = {}
        for workflow, instance_id in chunk:
            by_workflow.setdefault(workflow, []).append(instance_id)
        loaded = {
            (workflow, instance_id): live
            for workflow, ids in by_workflow.items()
            for instance_id, live in self.instances.load_many(workflow, ids).items()
        }
        for key in chunk:
            live = loaded.get(key)
            if live is None:
                live = self._load_alone(*key)  # deleted meanwhile, or unreadable
            if live is not None and live.task is None and live.record.status in ("queued", "running", "waiting"):
                self.instances.start(live)

    def _load_alone(self, workflow: str, instance_id: str) -> LiveInstance | None:
        """An instance a batch read left out: None when it no longer exists; a corrupt one is
        warned about (its reads say what is wrong) and left asleep."""
        if not self.instances.exists(workflow, instance_id):
            return None
        try:
            return self.instances.load(workflow, instance_id)
        except CorruptInstanceError as exc:
            warnings.warn(
                f"cfwf-emulator cannot wake instance {workflow}/{instance_id}: {exc}. The other instances run.",
                StorageWarning,
                stacklevel=1,
            )
            return None

    def wake_on_event(self, live: LiveInstance) -> bool:
        """An event came for ``live``: replay it now if it is hibernated (True), else False."""
        key = (live.record.workflow, live.record.id)
        if key in self.instances.sleepers and self.instances.loop is not None:
            self.instances.cancel(live)
            self.instances.start(live)
            return True
        return False

    def stop(self) -> None:
        """Cancel every wake-up timer and queued wake (the engine is stopping)."""
        for sleeper in self.instances.sleepers.values():
            sleeper.cancel()
        self.instances.sleepers.clear()
        self._due_wakes.clear()


class _Wake:
    """A hibernated instance's wake-up: one small object per sleeping instance (a closure took
    six, which every full garbage collection walks, 100,000 sleepers or not)."""

    __slots__ = ("hibernation", "workflow", "instance_id")

    def __init__(self, hibernation: Hibernation, workflow: str, instance_id: str) -> None:
        self.hibernation = hibernation
        self.workflow = workflow
        self.instance_id = instance_id

    def __call__(self) -> None:
        self.hibernation._wake(self.workflow, self.instance_id)
