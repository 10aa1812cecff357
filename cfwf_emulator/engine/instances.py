"""The instances in memory: loaded from the store when asked about, their runs started and stopped.

Every other part of the engine reaches an instance through :class:`Instances`: ``load`` keeps it
in memory, ``read`` looks at it without keeping it, ``start`` and ``cancel`` begin and stop its run.
"""

from __future__ import annotations

import asyncio
from typing import Any, Callable, Coroutine

from ..store import Store
from ..validation import instance_not_found
from .instance import LiveInstance
from .records import InstanceRecord
from .registry import Registry
from .scheduler import Timer

__all__ = ["Instances", "Key"]

#: An instance's key: (workflow name, instance id).
Key = tuple[str, str]


class Instances:
    """The table of instances in memory, and the one place their run tasks are made and cancelled."""

    def __init__(
        self, store: Store, registry: Registry, run: Callable[[LiveInstance], Coroutine[Any, Any, None]]
    ) -> None:
        self.store = store
        self.registry = registry
        self._run = run
        self.live: dict[Key, LiveInstance] = {}
        #: The event loop the runs go on, once the engine started.
        self.loop: asyncio.AbstractEventLoop | None = None
        #: Wake-up timers of hibernated instances (see :mod:`.hibernation`); ``cancel`` stops them.
        self.sleepers: dict[Key, Timer] = {}
        #: Finished instances this process held whole and then let go (hibernation): known
        #: readable, so their status is read without their steps.
        self.released: set[Key] = set()

    def load(self, workflow: str, instance_id: str) -> LiveInstance:
        """The instance, loaded into memory (and kept) when needed; else ``instance.not_found``."""
        key = (workflow, instance_id)
        live = self.live.get(key)
        if live is None:
            record = self.store.load_instance(workflow, instance_id)
            if record is None:
                raise instance_not_found(workflow, instance_id)
            live = LiveInstance(record, self.registry.definition(workflow))
            self.live[key] = live
        return live

    def load_many(self, workflow: str, instance_ids: list[str]) -> dict[str, LiveInstance]:
        """Those of the instances that exist and can be read, loaded into memory (and kept), by id:
        the ones not in memory are read from the store together."""
        live = self.live
        found = {iid: live[(workflow, iid)] for iid in instance_ids if (workflow, iid) in live}
        missing = [iid for iid in instance_ids if iid not in found]
        if missing:
            definition = self.registry.definition(workflow)
            for instance_id, record in self.store.load_instances(workflow, missing).items():
                found[instance_id] = live[(workflow, instance_id)] = LiveInstance(record, definition)
        return found

    def read(self, workflow: str, instance_id: str) -> InstanceRecord:
        """The instance's record for reading: one not in memory is loaded, not kept."""
        live = self.live.get((workflow, instance_id))
        if live is not None:
            return live.record
        record = self.store.load_instance(workflow, instance_id)
        if record is None:
            return self.load(workflow, instance_id).record  # raises instance.not_found
        return record

    def read_status(self, workflow: str, instance_id: str) -> InstanceRecord:
        """The instance's record for reading its status, output and error: one hibernated, or
        finished and let go, is read without its finished steps where the store can
        (``load_pending``), and not kept."""
        key = (workflow, instance_id)
        live = self.live.get(key)
        if live is not None:
            return live.record
        evicted = key in self.sleepers or key in self.released
        peek = getattr(self.store, "load_pending", None) if evicted else None
        record = None if peek is None else peek(workflow, [instance_id]).get(instance_id)
        return record if record is not None else self.read(workflow, instance_id)

    def exists(self, workflow: str, instance_id: str) -> bool:
        """Whether the instance exists."""
        return (workflow, instance_id) in self.live or self.store.has_instance(workflow, instance_id)

    def require_loop(self) -> asyncio.AbstractEventLoop:
        """The engine's event loop; a RuntimeError saying how to start the emulator when there is none."""
        if self.loop is None:
            raise RuntimeError(
                "The emulator is not started: use `async with emu:` (or call it from inside a "
                "running event loop, which starts it)"
            )
        return self.loop

    def start(self, live: LiveInstance) -> None:
        """Start a run of the instance (from the top: the journal replays what is done)."""
        loop = self.require_loop()
        live.pause_pending = False
        live.replay_pending = False
        live.task = loop.create_task(self._run(live), name=f"cfwf:{live.record.id}")

    def cancel(self, live: LiveInstance) -> None:
        """Stop whatever runs or sleeps for the instance; its state is kept as it is."""
        sleeper = self.sleepers.pop((live.record.workflow, live.record.id), None)
        if sleeper is not None:
            sleeper.cancel()
        task = live.task
        live.task = None
        run = live.run
        if run is not None:
            run.closed = True
            live.run = None
        if task is not None and not task.done():
            task.cancel()
        if live.pause_gate is not None and not live.pause_gate.done():
            live.pause_gate.cancel()
        live.pause_gate = None
