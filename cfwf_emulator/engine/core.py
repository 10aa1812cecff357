"""The engine: owns every instance's state and lifecycle; the doors (bindings, testing API,
plugin, CLI, server) only call it.

Lifecycle rules follow Cloudflare's (spec §3.7-3.12): ``queued`` → ``running`` ⇄ ``waiting``
→ ``complete``/``errored``; ``pause`` goes through ``waitingForPause`` while a step attempt is in
flight; ``resume`` replays from the top with timers shifted by the pause; ``terminate`` and
``restart`` cancel what is running; ``delete`` forgets the instance.
"""

from __future__ import annotations

import asyncio
import re
import uuid
import warnings
from collections import deque
from contextlib import contextmanager
from typing import Any, Callable, Iterable, Iterator

import pluggy

from ..errors import ConfigError, NonRetryableError, StepError, WorkflowError, did_you_mean, is_non_retryable, quoted
from ..hooks import Announcer
from ..serialization import AttrDict, NotSerialisable, RpcTypeError, decode, encode
from ..stepconfig import PRODUCTION_DEFAULTS
from ..store import Store
from ..store.base import CorruptInstanceError, InstanceSummary, StorageWarning, StoreError, group_commit
from ..views import InstanceDetails
from .describe import describe_instance
from .instance import Commit, LiveInstance, WorkflowDefinition
from .modifiers import misspelt_selectors
from .records import TERMINAL, InstanceRecord, StepRecord
from .run import Run, check_event_type, run_instance
from .scheduler import Scheduler

__all__ = ["Engine", "LiveInstance", "WorkflowDefinition"]

#: The ``locationHint`` values of workerd's ``WorkflowInstanceLocationHint`` (types/defines/workflows.d.ts).
LOCATION_HINTS = ("wnam", "enam", "sam", "weur", "eeur", "apac", "apac-ne", "apac-se", "oc", "afr", "me")
INSTANCE_ID = re.compile(r"[a-zA-Z0-9_][a-zA-Z0-9\-_]*\Z")
# ids that address existing instances (delete, deleteBatch), cron-made ``<cron>-<ms>`` ones included
ADDRESSABLE_ID = re.compile(r"[a-zA-Z0-9, */#_-]{1,271}")
WORKFLOW_NAME = re.compile(r"[a-zA-Z0-9_][a-zA-Z0-9\-_]*\Z")
WORKFLOW_NAME_RULE = (
    "Workflow names must be 1-64 characters long, start with a letter, number, or underscore, "
    "and may only contain letters, numbers, underscores, or hyphens."
)
NON_RETRYABLE_GENERIC = (
    "The execution of the Workflow instance was terminated, as a step threw an NonRetryableError "
    "and it was not handled"
)
STEP_TYPES = ("do", "sleep", "waitForEvent")
RESTART_FROM_KEYS = ("name", "count", "type")
RESUMABLE = frozenset({"queued", "running", "waiting"})
#: Hibernated instances woken per event-loop turn when many of their timers end at once: waking
#: 100,000 in one turn held them all in memory together (benchmarks: peak resident memory).
WAKE_CHUNK = 1_000


def encode_input(value: Any, code: str, subject: str) -> str:
    """The JSON text of params or an event payload a caller sends, else ``WorkflowError(code)``.

    ``subject`` names the value in the message (``"Instance params"``, ``"Event payload"``).
    """
    try:
        return encode(value)
    except RpcTypeError as exc:
        if "tuple" in str(exc):
            fix = "use a list instead of a tuple"
        elif str(exc).startswith("Awaitable"):
            fix = "await it and send the result"
        else:
            fix = "send binary data as text (base64, say)"
        raise WorkflowError(
            code, f"{subject} cannot be sent over RPC (Cloudflare's Python SDK: {exc}); {fix}"
        ) from None
    except NotSerialisable as exc:
        raise WorkflowError(code, f"{subject} cannot be stored: {exc}") from None


def _invalid_event_type(message: str) -> WorkflowError:
    return WorkflowError("workflow.invalid_event_type", message)


def check_workflow_name(name: object) -> str:
    """Cloudflare's rule for workflow names, as a :class:`ConfigError`."""
    if not isinstance(name, str) or not 1 <= len(name) <= 64 or not WORKFLOW_NAME.match(name):
        raise ConfigError(f"Invalid workflow name {name!r}: {WORKFLOW_NAME_RULE}")
    return name


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
        self.workflows: dict[str, WorkflowDefinition] = {}
        self.live: dict[tuple[str, str], LiveInstance] = {}
        self.loop: asyncio.AbstractEventLoop | None = None
        #: Calls the observers registered on ``hooks`` (``emu.register`` or ``emu.hooks.register``).
        self.announcer = Announcer(hooks)
        #: Test modifications and mocked events for instances not created yet, by (workflow, id).
        self.pending: dict[tuple[str, str], dict[str, Any]] = {}
        #: ``introspect_workflow`` sessions: called with (workflow, id) before a new instance starts.
        self.captures: dict[str, Callable[[str, str], None]] = {}
        #: One event per :meth:`watch` subscriber, each set at every change of instance state.
        self.watchers: set[asyncio.Event] = set()
        #: Evict instances blocked longer than this (ms) and replay them when woken; None: never.
        self.hibernate_after_ms: float | None = None
        #: Test mode ``hibernate="always"``: replay every instance after each step.
        self.replay_every_step = False
        self.sleepers: dict[tuple[str, str], Any] = {}
        self._due_wakes: deque[tuple[str, str]] = deque()
        #: Storage failures that stopped instances mid-run (see ``storage_failed``).
        self.storage_errors: list[Exception] = []

    # -- registration and start/stop -------------------------------------------------------

    def add_workflow(self, definition: WorkflowDefinition) -> None:
        """Register a workflow; its instances already in the store resume when the engine starts."""
        if definition.name in self.workflows:
            raise ConfigError(f'A workflow named "{definition.name}" is already registered')
        self.workflows[definition.name] = definition
        if self.loop is not None:
            self._recover(definition)

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        """Bind to ``loop`` and resume every unfinished instance found in the store."""
        self.loop = loop
        self.scheduler.start(loop)
        for definition in self.workflows.values():
            self._recover(definition)

    def _recover(self, definition: WorkflowDefinition) -> None:
        for instance_id in self.store.instance_ids(definition.name):
            try:
                live = self._live(definition.name, instance_id)
            except CorruptInstanceError as exc:
                # quarantined: left out here, and its reads raise this error until it is deleted
                warnings.warn(
                    f"cfwf-emulator cannot resume instance {definition.name}/{instance_id}: {exc}. "
                    "The other instances run.",
                    StorageWarning,
                    stacklevel=2,
                )
                continue
            record = live.record
            if record.status == "waitingForPause":
                self._set_status(live, "paused")
                record.pause_ms = record.pause_ms or self.now()
            elif record.status in ("queued", "running", "waiting") and live.task is None:
                wake_at = self._wake_deadline(record) if record.status == "waiting" else None
                if wake_at is not None and self.hibernate_after_ms is not None:
                    del self.live[(definition.name, instance_id)]
                    self._schedule_wake(definition.name, instance_id, wake_at)
                else:
                    self._start(live)

    @staticmethod
    def _wake_deadline(record: InstanceRecord) -> float | None:
        """When a waiting instance needs to run again; None when it must run now."""
        buffered = record.events.types()
        deadlines = []
        for step in record.steps.values():
            if step.state not in ("running", "waiting") or step.deadline_ms is None:
                return None
            if step.kind == "waitForEvent" and (step.config or {}).get("type") in buffered:
                return None
            deadlines.append(step.deadline_ms)
        return min(deadlines) if deadlines else None

    def storage_failed(self, live: LiveInstance, error: Exception) -> None:
        """A write failed mid-run: stop the instance here; its last saved state is what counts.

        It is dropped from memory (so reads show what is on disk) and resumes from there when the
        emulator starts again. The error is kept in ``storage_errors`` and announced as a warning.
        """
        record = live.record
        self._cancel(live)
        self.live.pop((record.workflow, record.id), None)
        self.storage_errors.append(error)
        warnings.warn(
            f"cfwf-emulator stopped instance {record.workflow}/{record.id}: {error}. Its last saved "
            "state is kept; it resumes from there when the emulator starts again.",
            StorageWarning,
            stacklevel=2,
        )

    def interrupted(self, live: LiveInstance, run: Run) -> None:
        """User code raised ``KeyboardInterrupt`` or ``SystemExit``: stop the instance as a crash would.

        The exception goes on to stop the event loop (and the process); the instance's run stops
        here and the instance leaves memory. Its journal is what counts: the attempt that was
        running was journaled as started before its callback ran, so the next time the emulator
        starts it counts as interrupted and is retried as its config says.
        """
        if live.run is not run:
            return  # this run had already been stopped
        self._cancel(live)
        key = (live.record.workflow, live.record.id)
        if self.live.get(key) is live:
            del self.live[key]

    # -- hibernation -----------------------------------------------------------------------

    def release_if_finished(self, live: LiveInstance) -> None:
        """With hibernation on, a finished instance leaves memory; it is reloaded when asked about."""
        key = (live.record.workflow, live.record.id)
        if (
            self.hibernate_after_ms is not None
            and live.record.status in TERMINAL
            and self.live.get(key) is live
            and not live.status_unsaved
        ):
            live.task = None
            del self.live[key]

    def hibernate(self, live: LiveInstance, wake_at: float) -> None:
        """Evict a blocked instance from memory; it is replayed at ``wake_at`` or on an event."""
        record = live.record
        self._set_status(live, "waiting")
        if live.status_unsaved:
            self.store.save_header(record)
        self._cancel(live)
        self.live.pop((record.workflow, record.id), None)
        self._schedule_wake(record.workflow, record.id, wake_at)

    def _schedule_wake(self, workflow: str, instance_id: str, wake_at: float) -> None:
        self.sleepers[(workflow, instance_id)] = self.scheduler.call_at(
            wake_at, lambda: self._wake(workflow, instance_id)
        )

    def _wake(self, workflow: str, instance_id: str) -> None:
        """A hibernated instance's timer ended: queue it, to be woken ``WAKE_CHUNK`` per turn."""
        self.sleepers.pop((workflow, instance_id), None)
        if self.loop is None:
            return
        self._due_wakes.append((workflow, instance_id))
        if len(self._due_wakes) == 1:
            self.loop.call_soon(self._wake_due)

    def _wake_due(self) -> None:
        due = self._due_wakes
        for _ in range(min(WAKE_CHUNK, len(due))):
            self._wake_now(*due.popleft())
        if due and self.loop is not None:
            self.loop.call_soon(self._wake_due)

    def _wake_now(self, workflow: str, instance_id: str) -> None:
        if self.loop is None or not self.exists(workflow, instance_id):
            return
        live = self._live(workflow, instance_id)
        if live.task is None and live.record.status in ("queued", "running", "waiting"):
            self._start(live)

    def replay_now(self, live: LiveInstance) -> None:
        """Stop the current run and replay the instance from the top at once."""
        self._cancel(live)
        self._start(live)

    async def stop(self) -> None:
        """Cancel every running instance (state is kept as it is) and stop the scheduler."""
        tasks = [live.task for live in self.live.values() if live.task is not None]
        for live in self.live.values():
            self._cancel(live)
        for sleeper in self.sleepers.values():
            sleeper.cancel()
        self.sleepers.clear()
        self._due_wakes.clear()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        for live in self.live.values():
            if live.status_unsaved:
                self.store.save_header(live.record)
        self.live.clear()
        await self.scheduler.stop()
        self.loop = None

    # -- time and hooks --------------------------------------------------------------------

    def now(self) -> float:
        """The emulator clock, epoch ms."""
        return self.scheduler.clock.now_ms()

    def _announce(self, hook: str, committed: Commit = None, **kwargs: Any) -> None:
        self.announcer.announce(hook, committed, **kwargs)

    def emit_step_start(self, live: LiveInstance, step: StepRecord, committed: Commit = None) -> None:
        """Announce the first attempt of a ``step.do`` (once that attempt's start is committed)."""
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
        if not self.announcer.wants("cfwf_step_attempt"):
            return
        self._announce(
            "cfwf_step_attempt", committed, workflow=live.workflow.name, instance_id=live.record.id,
            name=step.name, count=step.count, attempt=attempt, success=error is None,
            error=error, retry_delay_ms=retry_delay_ms, at=self.now(),
        )

    def emit_step_end(self, live: LiveInstance, step: StepRecord, committed: Commit = None) -> None:
        """Announce that a ``step.do`` finished for good (once that is committed)."""
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
        if not self.announcer.wants("cfwf_sleep_start"):
            return
        self._announce(
            "cfwf_sleep_start", committed, workflow=live.workflow.name, instance_id=live.record.id,
            name=step.name, count=step.count, until=step.deadline_ms, at=step.start_ms,
        )

    def emit_sleep_end(self, live: LiveInstance, step: StepRecord, committed: Commit = None) -> None:
        """Announce the end of a sleep (once it is committed)."""
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
        if not self.announcer.wants("cfwf_event_wait_end"):
            return
        self._announce(
            "cfwf_event_wait_end", committed, workflow=live.workflow.name,
            instance_id=live.record.id, name=step.name, count=step.count, event_type=event_type,
            timed_out=timed_out, at=self.now(),
        )

    # -- status ------------------------------------------------------------------------------

    def _set_status(self, live: LiveInstance, status: str) -> None:
        record = live.record
        old = record.status
        if old == status:
            return
        record.status = status
        record.status_ms = self.now()
        committed: Commit = None
        if old in RESUMABLE and status in RESUMABLE:
            # recovery resumes queued, running and waiting instances alike: nothing waits for this
            # write; a group-committing store joins it to its next commit (so the state file shows
            # the status to whoever lists it), else the next header write (or a clean stop) does
            live.status_unsaved, committed = self._save_lazily(record)
        else:
            self.store.save_header(record)
            live.status_unsaved = False
        self.notify_change()
        if self.announcer.wants("cfwf_instance_status_changed"):
            self._announce(  # once the header write is committed: the status it reports is durable
                "cfwf_instance_status_changed", committed, workflow=record.workflow, instance_id=record.id,
                old=old, new=status, at=record.status_ms,
            )

    def _save_lazily(self, record: InstanceRecord) -> tuple[bool, Commit]:
        """Join a header write to the store's next group commit: (whether it is still unsaved,
        the pending commit). Unsaved when the store has no group commit or the write failed; the
        instance's next header write then saves it."""
        grouped = group_commit(self.store)
        if grouped is None:
            return True, None
        try:
            return False, grouped.save_header_deferred(record)
        except StoreError:
            return True, None

    def notify_change(self) -> None:
        """Wake whoever waits for instance state to change (every :meth:`watch` subscriber)."""
        for event in self.watchers:
            event.set()

    def refresh_activity(self, live: LiveInstance) -> None:
        """``waiting`` while every flow of the current run is blocked on a timer or event."""
        run = live.run
        if run is None or run.closed or live.record.status not in ("running", "waiting"):
            return
        waiting = run.parked > 0 and run.in_flight == 0
        self._set_status(live, "waiting" if waiting else "running")

    def mark_started(self, live: LiveInstance) -> None:
        """A run began: ``queued`` becomes ``running``."""
        record = live.record
        if record.start_ms is None:
            record.start_ms = self.now()
        if record.status in ("queued", "waiting"):
            self._set_status(live, "running")

    def finish_run(
        self, live: LiveInstance, run: Run, *, output: str | None = None, error: dict[str, Any] | None = None
    ) -> None:
        """``run`` returned (``output``) or raised (``error``): the instance ends."""
        if live.run is not run or live.record.status in TERMINAL:
            return
        record = live.record
        record.end_ms = self.now()
        if error is None:
            record.output = output
            self._set_status(live, "complete")
        else:
            record.error = error
            self._set_status(live, "errored")  # saves the header with the outcome
        for message in misspelt_selectors(record.modifiers, record.steps):
            warnings.warn(f"{message} (instance {quoted(record.id)} of workflow {quoted(record.workflow)})", UserWarning, stacklevel=1)

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

    # -- instances -------------------------------------------------------------------------

    def definition(self, workflow: str) -> WorkflowDefinition:
        """The registered workflow, or a ConfigError naming the ones that exist."""
        try:
            return self.workflows[workflow]
        except KeyError:
            known = ", ".join(sorted(self.workflows)) or "none"
            raise ConfigError(f'No workflow named "{workflow}" is registered (known: {known})') from None

    def _live(self, workflow: str, instance_id: str) -> LiveInstance:
        key = (workflow, instance_id)
        live = self.live.get(key)
        if live is None:
            record = self.store.load_instance(workflow, instance_id)
            if record is None:
                raise WorkflowError(
                    "instance.not_found",
                    f'Instance not found: no instance "{instance_id}" in workflow "{workflow}"',
                )
            live = LiveInstance(record, self.definition(workflow))
            self.live[key] = live
        return live

    def _read(self, workflow: str, instance_id: str) -> InstanceRecord:
        """The instance's record for reading: one not in memory is loaded, not kept."""
        live = self.live.get((workflow, instance_id))
        if live is not None:
            return live.record
        record = self.store.load_instance(workflow, instance_id)
        if record is None:
            return self._live(workflow, instance_id).record  # raises instance.not_found
        return record

    def exists(self, workflow: str, instance_id: str) -> bool:
        """Whether the instance exists."""
        return (workflow, instance_id) in self.live or self.store.has_instance(workflow, instance_id)

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

    def _require_loop(self) -> asyncio.AbstractEventLoop:
        if self.loop is None:
            raise RuntimeError(
                "The emulator is not started: use `async with emu:` (or call it from inside a "
                "running event loop, which starts it)"
            )
        return self.loop

    def _start(self, live: LiveInstance) -> None:
        loop = self._require_loop()
        live.pause_pending = False
        live.task = loop.create_task(run_instance(self, live), name=f"cfwf:{live.record.id}")

    def _cancel(self, live: LiveInstance) -> None:
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

    @staticmethod
    def check_instance_id(instance_id: object) -> str:
        """Production's id rule, as a ``WorkflowError(instance.invalid_id)``."""
        if (
            not isinstance(instance_id, str)
            or len(instance_id) > 100
            or not INSTANCE_ID.match(instance_id)
        ):
            raise WorkflowError(
                "instance.invalid_id",
                f"Instance has invalid id {instance_id!r}: ids are 1-100 letters, digits, '_' or "
                "'-' and may not start with '-'",
            )
        return instance_id

    @staticmethod
    def check_location_hint(hint: object) -> None:
        """A ``locationHint`` Cloudflare accepts (None: none), else ``WorkflowError(instance.invalid_location_hint)``."""
        if hint is None or (isinstance(hint, str) and hint in LOCATION_HINTS):
            return
        close = did_you_mean(hint.lower(), LOCATION_HINTS) if isinstance(hint, str) else ""
        raise WorkflowError(
            "instance.invalid_location_hint",
            f"Instance has invalid locationHint {hint!r}{close}: use one of "
            f"{', '.join(repr(h) for h in LOCATION_HINTS)}, or leave it out",
        )

    @staticmethod
    def _encode_params(params: Any) -> str:
        return encode_input({} if params is None else params, "instance.invalid_params", "Instance params")

    def create(self, workflow: str, instance_id: str | None, params: Any) -> str:
        """Create and queue an instance; return its id."""
        definition = self.definition(workflow)
        instance_id = str(uuid.uuid4()) if instance_id is None else self.check_instance_id(instance_id)
        params_json = self._encode_params(params)
        if self.exists(workflow, instance_id):
            raise WorkflowError(
                "instance.already_exists",
                f'Instance already exists: "{instance_id}" in workflow "{workflow}"; restart it, '
                "or create with another id",
            )
        self._insert(definition, [(instance_id, params_json)])
        return instance_id

    def _insert(
        self, definition: WorkflowDefinition, items: list[tuple[str, str]], schedule: dict[str, Any] | None = None
    ) -> None:
        """Persist new instances in one atomic write, then start them."""
        self._require_loop()  # refuse before anything is written
        now = self.now()
        records = [
            InstanceRecord(definition.name, instance_id, params_json, now, queued_ms=now, schedule=schedule)
            for instance_id, params_json in items
        ]
        capture = self.captures.get(definition.name)
        if capture is not None:  # introspect_workflow: its modifications join ``pending`` now
            for record in records:
                capture(definition.name, record.id)
        pending = {
            record.id: self.pending.pop((definition.name, record.id), None) for record in records
        }
        for record in records:
            entry = pending[record.id]
            if entry is not None:
                record.modifiers = entry["modifiers"]
                record.events.replace(entry["events"])
        try:
            self.store.insert_instances(records)
        except BaseException:
            for instance_id, entry in pending.items():
                if entry is not None:  # nothing was created: keep the modifications for later
                    self.pending[(definition.name, instance_id)] = entry
            raise
        for record in records:
            live = LiveInstance(record, definition)
            self.live[(definition.name, record.id)] = live
            if self.announcer.wants("cfwf_instance_status_changed"):
                self._announce(
                    "cfwf_instance_status_changed", workflow=definition.name, instance_id=record.id,
                    old=None, new="queued", at=now,
                )
            self._start(live)

    def create_batch(self, workflow: str, items: Iterable[Any]) -> list[str]:
        """Create up to 100 instances; ids already in use are skipped and left out of the result."""
        definition = self.definition(workflow)
        batch = list(items)
        if not batch:
            raise WorkflowError("body", "createBatch should have at least 1 instance")
        if len(batch) > 100:
            raise WorkflowError("body", f"createBatch only supports 100 instances at a time, got {len(batch)}")
        prepared: list[tuple[str, str]] = []
        for item in batch:
            if item is None:
                item = {}
            if not isinstance(item, dict):
                raise WorkflowError(
                    "body", f'each createBatch item must be a dict with "id" and/or "params", got {item!r}'
                )
            unknown = set(item) - {"id", "params", "retention", "locationHint"}
            if unknown:
                raise WorkflowError("body", f"unknown createBatch option(s): {', '.join(sorted(map(str, unknown)))}")
            self.check_location_hint(item.get("locationHint"))
            raw_id = item.get("id")
            instance_id = str(uuid.uuid4()) if raw_id is None else self.check_instance_id(raw_id)
            prepared.append((instance_id, self._encode_params(item.get("params"))))
        fresh: dict[str, str] = {}
        for instance_id, params_json in prepared:
            if instance_id not in fresh and not self.exists(workflow, instance_id):
                fresh[instance_id] = params_json
        if fresh:
            self._insert(definition, list(fresh.items()))
        return list(fresh)

    def create_scheduled(self, workflow: str, cron: str, scheduled_ms: int) -> str | None:
        """Create the instance a workflow's cron schedule makes at ``scheduled_ms``: id
        ``<cron>-<scheduledTime>``, no params, ``event["schedule"]`` set. None when that id exists
        (the same firing already made it)."""
        definition = self.definition(workflow)
        instance_id = f"{cron}-{scheduled_ms}"
        if self.exists(workflow, instance_id):
            return None
        schedule = {"cron": cron, "scheduledTime": scheduled_ms}
        self._insert(definition, [(instance_id, self._encode_params(None))], schedule)
        return instance_id

    def require(self, workflow: str, instance_id: str) -> LiveInstance:
        """The instance, or ``WorkflowError(instance.not_found)``."""
        return self._live(workflow, instance_id)

    def status(self, workflow: str, instance_id: str) -> dict[str, Any]:
        """``{"status", "output"}`` plus ``"error"`` when errored, as Cloudflare's ``status()``."""
        record = self._read(workflow, instance_id)
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

    # -- lifecycle -------------------------------------------------------------------------

    def pause(self, workflow: str, instance_id: str) -> None:
        """Pause: at once when nothing is in flight, else through ``waitingForPause``."""
        live = self._live(workflow, instance_id)
        status = live.record.status
        if status == "queued":
            self.finish_pause(live)
        elif status in ("running", "waiting"):
            run = live.run
            if run is not None and run.in_flight > 0:
                live.pause_pending = True
                self._set_status(live, "waitingForPause")
            else:
                self.finish_pause(live)

    def finish_pause(self, live: LiveInstance) -> None:
        """Nothing is in flight any more: the instance is ``paused`` and its run stops."""
        live.pause_pending = False
        live.record.pause_ms = self.now()
        self._cancel(live)
        self._set_status(live, "paused")

    def resume(self, workflow: str, instance_id: str) -> None:
        """Resume a paused instance by replay (timers shifted by the pause); cancel a pending pause."""
        live = self._live(workflow, instance_id)
        record = live.record
        if record.status == "waitingForPause":
            live.pause_pending = False
            if live.pause_gate is not None and not live.pause_gate.done():
                live.pause_gate.set_result(None)
            self._set_status(live, "running")
            self.refresh_activity(live)
        elif record.status == "paused":
            shift = self.now() - (record.pause_ms if record.pause_ms is not None else self.now())
            for step in record.steps.values():
                if step.deadline_ms is not None:
                    step.deadline_ms += shift
                    self.store.save_step(record, step)
            record.pause_ms = None
            self._set_status(live, "queued")
            self._start(live)

    def terminate(self, workflow: str, instance_id: str) -> None:
        """Stop the instance for good; in-flight step results are discarded."""
        live = self._live(workflow, instance_id)
        if live.record.status in TERMINAL:
            raise WorkflowError(
                "instance.cannot_terminate", "Cannot terminate instance since its on a finite state"
            )
        self._cancel(live)
        live.pause_pending = False
        live.record.end_ms = self.now()
        self._set_status(live, "terminated")

    def restart(self, workflow: str, instance_id: str, from_step: Any = None) -> None:
        """Run again from the top, or from a step (keeping the results of the steps before it)."""
        live = self._live(workflow, instance_id)
        record = live.record
        doomed = list(record.steps.values())
        if from_step is not None:
            cut = self._restart_point(record, from_step)
            doomed = [step for step in doomed if step.seq >= cut.seq]
        self._cancel(live)
        for step in doomed:
            del record.steps[step.key]
        record.events.replace(self._mocked_events_after_restart(record))
        record.output = None
        record.error = None
        record.end_ms = None
        record.pause_ms = None
        record.start_ms = None
        record.queued_ms = self.now()
        self.store.delete_steps(record, doomed)
        self._set_status(live, "queued")
        self._start(live)

    @staticmethod
    def _mocked_events_after_restart(record: InstanceRecord) -> list[dict[str, Any]]:
        """Mocked events survive restarts: buffer them again, less those consumed by kept waits."""
        consumed: dict[str, int] = {}
        for step in record.steps.values():
            if step.kind == "waitForEvent" and step.state == "ok" and step.config:
                consumed[step.config["type"]] = consumed.get(step.config["type"], 0) + 1
        events = []
        for event in record.modifiers.get("events", ()):
            if consumed.get(event["type"], 0) > 0:
                consumed[event["type"]] -= 1
                continue
            events.append(dict(event))
        return events

    @staticmethod
    def _restart_point(record: InstanceRecord, from_step: Any) -> StepRecord:
        unknown = sorted(map(repr, set(from_step) - set(RESTART_FROM_KEYS))) if isinstance(from_step, dict) else []
        if unknown:
            raise WorkflowError(
                "instance.cannot_restart",
                f'restart "from" has unknown key(s) {", ".join(unknown)}; the allowed keys are '
                f"{', '.join(RESTART_FROM_KEYS)}",
            )
        if not isinstance(from_step, dict) or not isinstance(from_step.get("name"), str):
            raise WorkflowError(
                "instance.cannot_restart",
                'restart "from" must be a dict {"name": str, "count": int (default 1), '
                f'"type": "do" | "sleep" | "waitForEvent" (default "do")}}, got {from_step!r}',
            )
        name = from_step["name"]
        count = from_step.get("count", 1)
        kind = from_step.get("type", "do")
        if kind not in STEP_TYPES or isinstance(count, bool) or not isinstance(count, int) or count < 1:
            raise WorkflowError(
                "instance.cannot_restart",
                f'restart "from" needs a positive int "count" and a "type" of do, sleep or '
                f"waitForEvent, got {from_step!r}",
            )
        matches = sorted(
            (s for s in record.steps.values() if s.kind == kind and s.name == name), key=lambda s: s.seq
        )
        if len(matches) < count:
            raise WorkflowError("instance.cannot_restart", f"Step {quoted(name)} not found in execution history")
        return matches[count - 1]

    def delete(self, workflow: str, instance_id: str) -> None:
        """Stop the instance (no rollbacks) and remove all its state; the id becomes free.

        A corrupt instance (one whose saved state cannot be read) is deleted too.
        """
        try:
            live: LiveInstance | None = self._live(workflow, instance_id)
        except CorruptInstanceError:
            live = None  # it never ran: only its rows go
        if live is not None:
            self._cancel(live)
            del self.live[(workflow, instance_id)]
        self.store.delete_instance(workflow, instance_id)

    def delete_batch(self, workflow: str, instance_ids: Any) -> dict[str, list[dict[str, Any]]]:
        """Delete up to 100 instances: ``{"deleted": [{"id"}], "errors": [{"id", "code", "message"}]}``
        in input order (a repeated id is deleted once and reported at each position). The list is
        checked whole first: not a list, empty, over 100 or any invalid id refuses the call."""
        self.definition(workflow)
        if not isinstance(instance_ids, list):
            raise WorkflowError(
                "body", f"Provided argument is invalid: deleteBatch takes a list of instance ids, got {instance_ids!r}"
            )
        if len(instance_ids) > 100:
            raise WorkflowError(
                "body", f"batchDeleteInstances only supports 100 instances at a time (got {len(instance_ids)})"
            )
        if not instance_ids:
            raise WorkflowError("body", "batchDeleteInstances should have at least 1 instance")
        for instance_id in instance_ids:
            if not isinstance(instance_id, str) or not ADDRESSABLE_ID.fullmatch(instance_id):
                raise WorkflowError(
                    "instance.invalid_id",
                    f"Instance ID is invalid: {instance_id!r} (ids are 1-271 letters, digits, spaces or "
                    "',*/#_-'); nothing was deleted",
                )
        outcomes: dict[str, dict[str, Any] | None] = {}
        for instance_id in dict.fromkeys(instance_ids):
            try:
                self.delete(workflow, instance_id)
                outcomes[instance_id] = None
            except Exception as exc:  # reported per id, as Cloudflare does; the others still go
                missing = isinstance(exc, WorkflowError) and exc.code == "instance.not_found"
                outcomes[instance_id] = (
                    {"code": 10400, "message": "workflows.api.error.instance.not_found"}
                    if missing
                    else {"code": 10001, "message": "workflows.api.error.internal_server"}
                )
        result: dict[str, list[dict[str, Any]]] = {"deleted": [], "errors": []}
        for instance_id in instance_ids:
            error = outcomes[instance_id]
            if error is None:
                result["deleted"].append({"id": instance_id})
            else:
                result["errors"].append({"id": instance_id, **error})
        return result

    # -- events ----------------------------------------------------------------------------

    def send_event(self, workflow: str, instance_id: str, event_type: Any, payload: Any) -> None:
        """Buffer an event for the instance and wake the oldest waiter of that type."""
        live = self._live(workflow, instance_id)
        check_event_type(event_type, _invalid_event_type)
        record = live.record
        if record.status in TERMINAL:
            raise WorkflowError(
                "instance.not_running",
                f'Cannot send event "{event_type}" to instance "{instance_id}": it is '
                f"{record.status} and will never wait for events again",
            )
        payload_json = encode_input(payload, "workflow.invalid_event_payload", "Event payload")
        limit = live.workflow.limits.event_payload_bytes
        if len(payload_json.encode()) > limit:
            raise WorkflowError(
                "workflow.invalid_event_payload",
                f"Event payload is {len(payload_json.encode())} bytes; the maximum is {limit} (1 MiB)",
            )
        record.events.append({"type": event_type, "payload": payload_json, "ms": self.now()})
        self.store.save_header(record)
        self._deliver(live, event_type)

    def _deliver(self, live: LiveInstance, event_type: str) -> None:
        """Wake the oldest waiter of ``event_type``, or replay a hibernated instance."""
        for waiter in live.waiters.get(event_type, ()):
            if not waiter.done():
                waiter.set_result(None)
                return
        key = (live.record.workflow, live.record.id)
        if key in self.sleepers and self.loop is not None:
            self._cancel(live)
            self._start(live)

    # -- test modifications ------------------------------------------------------------------

    def _modifiable(self, workflow: str, instance_id: str) -> tuple[dict[str, Any], LiveInstance | None]:
        self.definition(workflow)
        if self.exists(workflow, instance_id):
            live = self._live(workflow, instance_id)
            return {"modifiers": live.record.modifiers, "events": live.record.events}, live
        entry = self.pending.setdefault((workflow, instance_id), {"modifiers": {}, "events": []})
        return entry, None

    def modifiers_for(self, workflow: str, instance_id: str) -> dict[str, Any]:
        """The instance's test modifications (kept for later if it does not exist yet)."""
        modifiers: dict[str, Any] = self._modifiable(workflow, instance_id)[0]["modifiers"]
        return modifiers

    def save_modifiers(self, workflow: str, instance_id: str) -> None:
        """Persist the modifications of an existing instance after a change."""
        if self.exists(workflow, instance_id):
            self.store.save_header(self._live(workflow, instance_id).record)

    @staticmethod
    def check_mocked_event(event_type: Any, payload: Any) -> str:
        """The JSON of a mocked event's payload, once its type passes ``send_event``'s rule."""
        check_event_type(event_type, _invalid_event_type)
        return encode_input(payload, "workflow.invalid_event_payload", "Event payload")

    def mock_event(self, workflow: str, instance_id: str, event_type: Any, payload: Any) -> None:
        """Buffer a mocked event: it survives restarts and satisfies the first wait of its type."""
        payload_json = self.check_mocked_event(event_type, payload)
        entry, live = self._modifiable(workflow, instance_id)
        event = {"type": event_type, "payload": payload_json, "ms": self.now(), "mocked": True}
        entry["modifiers"].setdefault("events", []).append(dict(event))
        entry["events"].append(event)
        if live is not None:
            self.store.save_header(live.record)
            self._deliver(live, event_type)

    def dispose(self, workflow: str, instance_id: str) -> None:
        """Forget the instance and its modifications entirely (its id becomes free)."""
        self.pending.pop((workflow, instance_id), None)
        if workflow in self.workflows and self.exists(workflow, instance_id):
            self.delete(workflow, instance_id)

    def take_buffered_event(self, live: LiveInstance, event_type: str) -> dict[str, Any] | None:
        """Remove and return the oldest buffered event of ``event_type`` (the caller persists)."""
        return live.record.events.take(event_type)

    # -- drivers and test tooling (doors/introspect) -----------------------------------------

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
