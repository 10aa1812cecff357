"""The engine: owns every instance's state and lifecycle; the doors (bindings, testing API,
plugin, CLI, server) only call it.

:class:`Engine` wires the parts, each a module with one job: :mod:`.registry` (workflows),
:mod:`.instances` (instances in memory, their run tasks), :mod:`.lifecycle` (the status state
machine and the commands that move it), :mod:`.hibernation`, :mod:`.creation`, :mod:`.mailbox`
(events), :mod:`.modifications` (test modifications), :mod:`.scheduler` (timers and virtual time);
runs (:mod:`.run`) reach it through the :class:`~.host.RunHost` protocol only.
"""

from __future__ import annotations

import asyncio
import warnings
from contextlib import contextmanager
from typing import Any, Callable, Iterable, Iterator

import pluggy

from ..errors import NonRetryableError, StepError, is_non_retryable
from ..hooks import Announcer
from ..serialization import AttrDict, decode
from ..stepconfig import PRODUCTION_DEFAULTS
from ..store import Store
from ..store.base import CorruptInstanceError, InstanceSummary, StorageWarning
from ..views import InstanceDetails
from .creation import Creation
from .describe import describe_instance
from .hibernation import Hibernation
from .instance import Commit, LiveInstance, RunState, WorkflowDefinition
from .instances import Instances
from .lifecycle import Lifecycle
from .mailbox import Mailbox
from .modifications import Modifications
from .records import InstanceRecord, StepRecord
from .registry import Registry
from .run import run_instance
from .scheduler import Scheduler
from .eventlog import STEP_DONE
from .stream import EventStream, history

__all__ = ["Engine", "LiveInstance", "WorkflowDefinition"]

NON_RETRYABLE_GENERIC = (
    "The execution of the Workflow instance was terminated, as a step threw an NonRetryableError "
    "and it was not handled"
)


#: Stored instances read together when the engine starts.
_RECOVERED_PER_READ = 500


class Engine:
    """Executes instances of registered workflows against a store, a scheduler and hooks."""

    def __init__(
        self,
        store: Store,
        scheduler: Scheduler,
        hooks: pluggy.PluginManager,
        env: Any,
        step_defaults: dict[str, Any] = PRODUCTION_DEFAULTS,
    ) -> None:
        self.store = store
        self.scheduler = scheduler
        self.hooks = hooks
        self.env = env
        self.step_defaults = step_defaults
        #: Calls the observers registered on ``hooks`` (``emu.register`` or ``emu.hooks.register``).
        self.announcer = Announcer(hooks)
        #: Delivers committed instance events to ``emu.api.subscribe`` subscribers.
        self.stream = stream = EventStream()
        #: One event per :meth:`watch` subscriber, each set at every change of instance state.
        self.watchers: set[asyncio.Event] = set()
        #: Test mode ``hibernate="always"``: replay every instance after each step.
        self.replay_every_step = False
        #: Storage failures that stopped instances mid-run (see ``storage_failed``).
        self.storage_errors: list[Exception] = []
        self.registry = registry = Registry()
        self.instances = instances = Instances(store, registry, lambda live: run_instance(self, live))
        self.lifecycle = lifecycle = Lifecycle(instances, store, self.announcer, self.now, self.notify_change, stream)
        self.hibernation = hibernation = Hibernation(instances, store, scheduler, lifecycle.set_status)
        self.mailbox = mailbox = Mailbox(instances, hibernation, store, self.now)
        self.modifications = modifications = Modifications(
            registry, instances, store, mailbox, self.now, lifecycle.delete
        )
        self.creation = Creation(registry, instances, modifications, store, self.announcer, self.now, stream)
        self._expose_parts()

    def _expose_parts(self) -> None:
        """Give the parts' tables, and the methods runs call on every step, the names the doors and
        the runs know the engine by (attributes: no call in between). Kept under 30 instance
        attributes in all: beyond that CPython stops sharing the keys of the instance dict, and
        every attribute read of the engine on a run's hot path gets slower."""
        registry, instances, lifecycle = self.registry, self.instances, self.lifecycle
        hibernation, mailbox, modifications = self.hibernation, self.mailbox, self.modifications
        self.workflows = registry.workflows
        self.live = instances.live
        self.pending = modifications.pending
        self.captures = modifications.captures
        self.refresh_activity = lifecycle.refresh_activity
        self.mark_started = lifecycle.mark_started
        self.finish_run = lifecycle.finish_run
        self.finish_pause = lifecycle.finish_pause
        self.hibernate = hibernation.hibernate
        self.release_if_finished = hibernation.release_if_finished
        self.take_buffered_event = mailbox.take_buffered_event

    @property
    def hibernate_after_ms(self) -> float | None:
        """Evict instances blocked longer than this (ms) and replay them when woken; None: never."""
        return self.hibernation.after_ms

    @hibernate_after_ms.setter
    def hibernate_after_ms(self, value: float | None) -> None:
        self.hibernation.after_ms = value

    # -- registration and start/stop -------------------------------------------------

    def add_workflow(self, definition: WorkflowDefinition) -> None:
        """Register a workflow; its instances already in the store resume when the engine starts."""
        self.registry.add(definition)
        if self.instances.loop is not None:
            self._recover(definition)

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        """Bind to ``loop`` and resume every unfinished instance found in the store."""
        self.instances.loop = loop
        self.scheduler.start(loop)
        for definition in self.workflows.values():
            self._recover(definition)

    def _recover(self, definition: WorkflowDefinition) -> None:
        name = definition.name
        ids = self.store.instance_ids(name)
        asleep, to_load = self._recovered_sleepers(name, ids)
        for index, live in self._stored(name, to_load):
            record = live.record
            if record.status == "waitingForPause":
                self.lifecycle.set_status(live, "paused")
                record.pause_ms = record.pause_ms or self.now()
            elif record.status in ("queued", "running", "waiting") and live.task is None:
                wake_at = self.hibernation.wake_deadline(record) if record.status == "waiting" else None
                if wake_at is None:
                    self.instances.start(live)
                else:
                    asleep.append((self.hibernation.waiting_since(record), index, record.id, wake_at))
        self.hibernation.sleep_recovered(name, asleep)

    def _recovered_sleepers(
        self, workflow: str, ids: list[str]
    ) -> tuple[list[tuple[float, int, str, float]], list[tuple[int, str]]]:
        """With hibernation on, the waiting instances that stay out of memory until their
        wake-up, told from their pending steps only (a long history is not read), as
        ``(waiting since, creation index, id, wake at)``; and the ``(index, id)`` of the rest,
        which recovery loads whole."""
        peek = getattr(self.store, "load_pending", None)
        if self.hibernation.after_ms is None or peek is None:
            return [], list(enumerate(ids))
        asleep: list[tuple[float, int, str, float]] = []
        rest: list[tuple[int, str]] = []
        for first in range(0, len(ids), _RECOVERED_PER_READ):
            chunk = ids[first:first + _RECOVERED_PER_READ]
            pending = peek(workflow, chunk)
            for index, instance_id in enumerate(chunk, first):
                record = pending.get(instance_id)
                wake_at = None
                if record is not None and record.status == "waiting" and (workflow, instance_id) not in self.live:
                    wake_at = self.hibernation.wake_deadline(record)
                if wake_at is None:
                    rest.append((index, instance_id))
                else:
                    asleep.append((self.hibernation.waiting_since(record), index, instance_id, wake_at))
        return asleep, rest

    def _stored(self, workflow: str, entries: list[tuple[int, str]]) -> Iterator[tuple[int, LiveInstance]]:
        """The readable instances of ``entries`` (``(creation index, id)``, oldest first) with
        their index, loaded in chunks; a corrupt one is warned about and left out."""
        for first in range(0, len(entries), _RECOVERED_PER_READ):
            chunk = entries[first:first + _RECOVERED_PER_READ]
            loaded = self.instances.load_many(workflow, [instance_id for _, instance_id in chunk])
            for index, instance_id in chunk:
                live = loaded.get(instance_id)
                if live is not None:
                    yield index, live
                    continue
                try:
                    yield index, self.instances.load(workflow, instance_id)
                except CorruptInstanceError as exc:
                    # quarantined: left out here, and its reads raise this error until it is deleted
                    warnings.warn(
                        f"cfwf-emulator cannot resume instance {workflow}/{instance_id}: {exc}. "
                        "The other instances run.",
                        StorageWarning,
                        stacklevel=4,
                    )

    def storage_failed(self, live: LiveInstance, error: Exception) -> None:
        """A write failed mid-run: stop the instance here; its last saved state is what counts.

        It is dropped from memory (so reads show what is on disk) and resumes from there when the
        emulator starts again. The error is kept in ``storage_errors`` and announced as a warning.
        """
        record = live.record
        self.instances.cancel(live)
        self.live.pop((record.workflow, record.id), None)
        self.storage_errors.append(error)
        warnings.warn(
            f"cfwf-emulator stopped instance {record.workflow}/{record.id}: {error}. Its last saved "
            "state is kept; it resumes from there when the emulator starts again.",
            StorageWarning,
            stacklevel=2,
        )

    def interrupted(self, live: LiveInstance, run: RunState) -> None:
        """User code raised ``KeyboardInterrupt`` or ``SystemExit``: stop the instance as a crash would.

        The exception goes on to stop the event loop (and the process); the instance's run stops
        here and the instance leaves memory. Its journal is what counts: the attempt that was
        running was journaled as started before its callback ran, so the next time the emulator
        starts it counts as interrupted and is retried as its config says.
        """
        if live.run is not run:
            return  # this run had already been stopped
        self.instances.cancel(live)
        key = (live.record.workflow, live.record.id)
        if self.live.get(key) is live:
            del self.live[key]

    def replace_workflow(self, name: str, cls: type) -> None:
        """Run ``cls`` for workflow ``name`` from now on, as after a deploy: new instances and every
        replay use it. An instance blocked on a timer or an event is replayed on it at once; one
        running a step attempt finishes the attempt and is replayed at its next step boundary."""
        definition = self.registry.definition(name)
        definition.cls = cls
        for live in list(self.live.values()):
            run = live.run
            if live.workflow is not definition or live.task is None or run is None or run.closed:
                continue
            if run.in_flight == 0 and run.parked > 0 and not live.pause_pending:
                self.replay_now(live)
            else:
                live.replay_pending = True

    def replay_now(self, live: LiveInstance) -> None:
        """Stop the current run and replay the instance from the top at once."""
        self.instances.cancel(live)
        self.instances.start(live)

    async def stop(self) -> None:
        """Cancel every running instance (state is kept as it is) and stop the scheduler."""
        tasks = [live.task for live in self.live.values() if live.task is not None]
        for live in self.live.values():
            self.instances.cancel(live)
        self.hibernation.stop()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        for live in self.live.values():
            if live.status_unsaved:
                self.store.save_header(live.record)
        self.live.clear()
        await self.scheduler.stop()
        self.instances.loop = None

    # -- time and hooks --------------------------------------------------------------

    def now(self) -> float:
        """The emulator clock, epoch ms."""
        return self.scheduler.clock.now_ms()

    def _announce(self, hook: str, committed: Commit = None, **kwargs: Any) -> None:
        self.announcer.announce(hook, committed, **kwargs)

    def emit_step_start(self, live: LiveInstance, step: StepRecord, committed: Commit = None) -> None:
        """Announce the first attempt of a ``step.do`` (once that attempt's start is committed)."""
        live.record.log.entries.append(step)  # step.start and step.attempt.start (see eventlog)
        if self.stream.active:
            self.stream.publish(live.record, 1, committed)
        if not self.announcer.wants("cfwf_step_start"):
            return
        self._announce(
            "cfwf_step_start", committed, workflow=live.workflow.name, instance_id=live.record.id,
            name=step.name, count=step.count, config=step.config or {}, at=step.start_ms,
        )

    def emit_attempt(
        self,
        live: LiveInstance,
        step: StepRecord,
        attempt: int,
        error: Any,
        retry_delay_ms: float | None,
        committed: Commit = None,
    ) -> None:
        """Announce the end of an attempt (once it is committed)."""
        if retry_delay_ms is not None:  # else the step ends: emit_step_end logs this attempt's end
            live.record.log.entries.append(
                ("step.attempt.end", step.attempts[attempt - 1]["end"], step, attempt, retry_delay_ms)
            )
            if self.stream.active:
                self.stream.publish(live.record, 1, committed)
        if not self.announcer.wants("cfwf_step_attempt"):
            return
        self._announce(
            "cfwf_step_attempt", committed, workflow=live.workflow.name, instance_id=live.record.id,
            name=step.name, count=step.count, attempt=attempt, success=error is None,
            error=error, retry_delay_ms=retry_delay_ms, at=self.now(),
        )

    def emit_attempt_start(self, live: LiveInstance, step: StepRecord, attempt: int, committed: Commit = None) -> None:
        """Log the start of a retry (attempt 2 on) of a ``step.do``; the first is :meth:`emit_step_start`'s."""
        live.record.log.entries.append(("step.attempt.start", step.attempts[-1]["start"], step, attempt))
        if self.stream.active:
            self.stream.publish(live.record, 1, committed)

    def emit_step_end(self, live: LiveInstance, step: StepRecord, committed: Commit = None) -> None:
        """Announce that a ``step.do`` finished for good (once that is committed)."""
        live.record.log.entries.append((STEP_DONE, step))  # its last step.attempt.end and step.end
        if self.stream.active:
            self.stream.publish(live.record, 1, committed)
        self.notify_change()
        if self.announcer.wants("cfwf_step_end"):
            self._announce(
                "cfwf_step_end", committed, workflow=live.workflow.name, instance_id=live.record.id,
                name=step.name, count=step.count, success=step.state == "ok",
                output=decode(step.result) if step.result is not None else None,
                error=step.error, at=self.now(),
            )

    def emit_sleep_start(self, live: LiveInstance, step: StepRecord, committed: Commit = None) -> None:
        """Announce a sleep (once it is committed)."""
        live.record.log.entries.append(("sleep.start", step.start_ms, step, step.deadline_ms))
        if self.stream.active:
            self.stream.publish(live.record, 1, committed)
        if not self.announcer.wants("cfwf_sleep_start"):
            return
        self._announce(
            "cfwf_sleep_start", committed, workflow=live.workflow.name, instance_id=live.record.id,
            name=step.name, count=step.count, until=step.deadline_ms, at=step.start_ms,
        )

    def emit_sleep_end(self, live: LiveInstance, step: StepRecord, committed: Commit = None) -> None:
        """Announce the end of a sleep (once it is committed)."""
        live.record.log.entries.append(("sleep.end", step.end_ms, step))
        if self.stream.active:
            self.stream.publish(live.record, 1, committed)
        if not self.announcer.wants("cfwf_sleep_end"):
            return
        self._announce(
            "cfwf_sleep_end", committed, workflow=live.workflow.name, instance_id=live.record.id,
            name=step.name, count=step.count, at=self.now(),
        )

    def emit_wait_start(
        self, live: LiveInstance, step: StepRecord, event_type: str, committed: Commit = None
    ) -> None:
        """Announce an event wait (once it is committed)."""
        live.record.log.entries.append(("wait.start", step.start_ms, step, event_type, step.deadline_ms))
        if self.stream.active:
            self.stream.publish(live.record, 1, committed)
        if not self.announcer.wants("cfwf_event_wait_start"):
            return
        self._announce(
            "cfwf_event_wait_start", committed, workflow=live.workflow.name,
            instance_id=live.record.id, name=step.name, count=step.count, event_type=event_type,
            until=step.deadline_ms, at=step.start_ms,
        )

    def emit_wait_end(
        self, live: LiveInstance, step: StepRecord, event_type: str, timed_out: bool, committed: Commit = None
    ) -> None:
        """Announce the end of an event wait (once it is committed)."""
        live.record.log.entries.append(("wait.end", step.end_ms, step, event_type, timed_out))
        if self.stream.active:
            self.stream.publish(live.record, 1, committed)
        if not self.announcer.wants("cfwf_event_wait_end"):
            return
        self._announce(
            "cfwf_event_wait_end", committed, workflow=live.workflow.name,
            instance_id=live.record.id, name=step.name, count=step.count, event_type=event_type,
            timed_out=timed_out, at=self.now(),
        )

    def event_history(
        self, workflow: str | None, instance_id: str | None, after: Callable[[str, str], int]
    ) -> "tuple[list[Any], asyncio.Future[None] | None]":
        """The events of the matching instances after ``after(workflow, id)``, in time order, and
        the store's pending commit some of them wait for (see :mod:`.stream`)."""
        return history(self, workflow, instance_id, after)

    # -- status ----------------------------------------------------------------------

    def notify_change(self) -> None:
        """Wake whoever waits for instance state to change (every :meth:`watch` subscriber)."""
        for event in self.watchers:
            event.set()

    def uncaught_error(self, live: LiveInstance, exc: BaseException) -> dict[str, Any]:
        """The status error for an exception that escaped ``run``."""
        if is_non_retryable(exc):
            if not live.workflow.compat.preserve_non_retryable:
                return {"name": "WorkflowFatalError", "message": NON_RETRYABLE_GENERIC}
            message = str(exc)
            if message.startswith("NonRetryableError:"):
                message = message[len("NonRetryableError:") :].lstrip()
            name = exc.name if isinstance(exc, NonRetryableError) else "NonRetryableError"
            return {"name": name, "message": message}
        if isinstance(exc, StepError):
            return {"name": exc.name, "message": exc.message}
        return {"name": type(exc).__name__, "message": str(exc)}

    # -- instances -------------------------------------------------------------------

    def count_instances(self, workflow: str) -> dict[str, int]:
        """How many of the workflow's instances have each status (statuses none has left out)."""
        self.definition(workflow)
        return self.store.count_instances(workflow)

    def list_instances(
        self, workflow: str, *, status: str | None, limit: int, offset: int, newest_first: bool
    ) -> "tuple[list[InstanceSummary], int, dict[str, int]]":
        """A page of the store's summaries, the number matching ``status``, and the counts per
        status; read from the instances' listing columns only."""
        counts = self.count_instances(workflow)
        total = counts.get(status, 0) if status is not None else sum(counts.values())
        page = self.store.list_instances(
            workflow, status=status, limit=limit, offset=offset, newest_first=newest_first
        )
        return page, total, counts

    def status(self, workflow: str, instance_id: str) -> dict[str, Any]:
        """``{"status", "output"}`` plus ``"error"`` when errored, as Cloudflare's ``status()``."""
        record = self.instances.read_status(workflow, instance_id)
        result = AttrDict(  # attribute access, as the SDK's JsDict gives (status.error.message)
            status=record.status,
            output=decode(record.output) if record.output is not None else None,
        )
        if record.status == "errored" and record.error is not None:
            result["error"] = AttrDict(name=record.error["name"], message=record.error["message"])
        return result

    def describe(self, workflow: str, instance_id: str) -> InstanceDetails:
        """Instance details exactly as Cloudflare's Local Explorer API shows them (:mod:`.describe`)."""
        return describe_instance(self._read(workflow, instance_id))

    # -- drivers and test tooling (doors/introspect) ---------------------------------

    @contextmanager
    def watch(self) -> Iterator[asyncio.Event]:
        """An event set at every change of instance state while the ``with`` block lasts.

        Each subscriber gets its own event and clears it when it likes, so any number of them
        (``Emulator.drive_until`` callers) can wait at once without missing each other's changes.
        """
        event = asyncio.Event()
        self.watchers.add(event)
        try:
            yield event
        finally:
            self.watchers.discard(event)

    def read(self, workflow: str, instance_id: str) -> InstanceRecord | None:
        """The instance's record for reading, None when it does not exist; never loads it for good.

        An instance not in memory is read from the store and not kept (a hibernated instance
        stays evicted). Callers must not change the record.
        """
        if not self.exists(workflow, instance_id):
            return None
        return self._read(workflow, instance_id)

    # -- the doors' commands and queries, served by the parts that own them -------------

    def definition(self, workflow: str) -> WorkflowDefinition:
        """The registered workflow, or a ConfigError naming the ones that exist."""
        return self.registry.definition(workflow)

    def exists(self, workflow: str, instance_id: str) -> bool:
        """Whether the instance exists."""
        return self.instances.exists(workflow, instance_id)

    def require(self, workflow: str, instance_id: str) -> LiveInstance:
        """The instance, or ``WorkflowError(instance.not_found)``."""
        return self.instances.load(workflow, instance_id)

    def _read(self, workflow: str, instance_id: str) -> InstanceRecord:
        return self.instances.read(workflow, instance_id)

    def create(self, workflow: str, instance_id: str | None, params: Any) -> str:
        """Create and queue an instance; return its id."""
        return self.creation.create(workflow, instance_id, params)

    def create_batch(self, workflow: str, items: Iterable[Any]) -> list[str]:
        """Create up to ``limits.batch_size`` instances; ids in use are skipped and left out of the result."""
        return self.creation.create_batch(workflow, items)

    def create_scheduled(self, workflow: str, cron: str, scheduled_ms: int) -> str | None:
        """Create the instance a cron firing makes (id ``<cron>-<scheduledTime>``); None when it exists."""
        return self.creation.create_scheduled(workflow, cron, scheduled_ms)

    def pause(self, workflow: str, instance_id: str) -> None:
        """Pause: at once when nothing is in flight, else through ``waitingForPause``."""
        self.lifecycle.pause(workflow, instance_id)

    def resume(self, workflow: str, instance_id: str) -> None:
        """Resume a paused instance by replay; cancel a pending pause."""
        self.lifecycle.resume(workflow, instance_id)

    def terminate(self, workflow: str, instance_id: str) -> None:
        """Stop the instance for good; in-flight step results are discarded."""
        self.lifecycle.terminate(workflow, instance_id)

    def restart(self, workflow: str, instance_id: str, from_step: Any = None) -> None:
        """Run again from the top, or from a step (keeping the results of the steps before it)."""
        self.lifecycle.restart(workflow, instance_id, from_step)

    def delete(self, workflow: str, instance_id: str) -> None:
        """Stop the instance (no rollbacks) and remove all its state; the id becomes free."""
        self.lifecycle.delete(workflow, instance_id)

    def delete_batch(self, workflow: str, instance_ids: Any) -> dict[str, list[dict[str, Any]]]:
        """Delete up to ``limits.batch_size`` instances, reporting each id as deleted or an error."""
        return self.lifecycle.delete_batch(workflow, instance_ids)

    def send_event(self, workflow: str, instance_id: str, event_type: Any, payload: Any) -> None:
        """Buffer an event for the instance and wake the oldest waiter of that type."""
        self.mailbox.send_event(workflow, instance_id, event_type, payload)

    def modifiers_for(self, workflow: str, instance_id: str) -> dict[str, Any]:
        """The instance's test modifications (kept for later if it does not exist yet)."""
        return self.modifications.modifiers_for(workflow, instance_id)

    def save_modifiers(self, workflow: str, instance_id: str) -> None:
        """Persist the modifications of an existing instance after a change."""
        self.modifications.save_modifiers(workflow, instance_id)

    def mock_event(self, workflow: str, instance_id: str, event_type: Any, payload: Any) -> None:
        """Buffer a mocked event: it survives restarts and satisfies the first wait of its type."""
        self.modifications.mock_event(workflow, instance_id, event_type, payload)

    def dispose(self, workflow: str, instance_id: str) -> None:
        """Forget the instance and its modifications entirely (its id becomes free)."""
        self.modifications.dispose(workflow, instance_id)
