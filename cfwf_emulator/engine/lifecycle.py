"""The instance lifecycle: the status state machine and the commands that move it.

Cloudflare's rules (spec §3.7-3.12): ``queued`` → ``running`` ⇄ ``waiting`` → ``complete`` /
``errored``; ``pause`` goes through ``waitingForPause`` while a step attempt is in flight;
``resume`` replays from the top with timers shifted by the pause; ``terminate`` and ``restart``
cancel what is running; ``delete`` forgets the instance. :data:`TRANSITIONS` lists every status
change the engine makes.
"""

from __future__ import annotations

import asyncio
import warnings
from typing import Any, Callable

from ..errors import WorkflowError, quoted
from ..hooks import Announcer
from ..store import Store
from ..store.base import CorruptInstanceError, StorageWarning, StoreError, group_commit
from ..validation import check_delete_batch
from .instance import Commit, LiveInstance, RunState
from .instances import Instances
from .modifiers import misspelt_selectors
from .records import TERMINAL, InstanceRecord, StepRecord
from .stream import EventStream

__all__ = ["RESUMABLE", "TRANSITIONS", "Lifecycle"]

STEP_TYPES = ("do", "sleep", "waitForEvent")
RESTART_FROM_KEYS = ("name", "count", "type")
RESUMABLE = frozenset({"queued", "running", "waiting"})
_UNFINISHED = ("queued", "running", "waiting", "waitingForPause", "paused")
#: Every status change the engine makes, (old, new); ``None``: the instance is new.
TRANSITIONS = frozenset(
    {(None, "queued"), ("queued", "running"), ("waiting", "running"), ("running", "waiting")}
    | {(old, "waitingForPause") for old in ("running", "waiting")}
    | {(old, "paused") for old in ("queued", "running", "waiting", "waitingForPause")}
    | {("waitingForPause", "running"), ("paused", "queued")}
    | {(old, new) for old in ("running", "waiting", "waitingForPause") for new in ("complete", "errored")}
    | {(old, "terminated") for old in _UNFINISHED}
    | {(old, "queued") for old in (*_UNFINISHED, *TERMINAL) if old != "queued"}  # restart
)


class Lifecycle:
    """Moves instances between statuses, saving and announcing each change."""

    def __init__(
        self,
        instances: Instances,
        store: Store,
        announcer: Announcer,
        now: Callable[[], float],
        notify_change: Callable[[], None],
        stream: EventStream,
    ) -> None:
        self.instances = instances
        self.store = store
        self.announcer = announcer
        self.now = now
        self.notify_change = notify_change
        #: Delivers committed instance events to subscribers (status changes and deletions here).
        self.stream = stream
        #: The instances whose end each pending group commit saves: one callback per commit
        #: warns of them all if it fails (not one closure per instance, hundreds per wake).
        self._ends: dict[asyncio.Future[None], list[tuple[str, str]]] = {}

    def set_status(self, live: LiveInstance, status: str, *, grouped: bool = False) -> None:
        """Move the instance to ``status``: saved, watchers woken, observers told once it is durable.

        ``grouped``: the write joins the store's next group commit instead of committing alone
        (the end of a run: nothing of the workflow's runs after it, and replay ends it the same).
        """
        record = live.record
        old = record.status
        if old == status:
            return
        record.status = status
        record.status_ms = self.now()
        record.log.entries.append(("instance.status", record.status_ms, old, status, record.output, record.error))
        rows = record.log.rows(last=1) if self.stream.active else None  # read now: the save may drop it
        committed: Commit = None
        if old in RESUMABLE and status in RESUMABLE:
            # recovery resumes queued, running and waiting instances alike: nothing waits for this
            # write; a group-committing store joins it to its next commit (so the state file shows
            # the status to whoever lists it), else the next header write (or a clean stop) does
            live.status_unsaved, committed = self._save_lazily(record)
        else:
            committed = self._save_header(record, grouped)
            live.status_unsaved = False
        self.notify_change()
        if rows is not None:
            self.stream.publish_rows(record.workflow, record.id, rows, committed)
        if self.announcer.wants("cfwf_instance_status_changed"):
            self.announcer.announce(  # once the header write is committed: the status it reports is durable
                "cfwf_instance_status_changed", committed, workflow=record.workflow, instance_id=record.id,
                old=old, new=status, at=record.status_ms,
            )

    def _save_header(self, record: InstanceRecord, grouped: bool) -> Commit:
        """Save the header: durable now, or (``grouped``, with a group-committing store) written
        now and durable with the pending commit, returned; a failed commit is warned about."""
        store = group_commit(self.store) if grouped else None
        if store is None:
            self.store.save_header(record)
            return None
        committed = store.save_header_grouped(record)
        if committed is not None:
            ends = self._ends.get(committed)
            if ends is None:
                ends = self._ends[committed] = []
                committed.add_done_callback(self._ends_committed)
            ends.append((record.workflow, record.id))
        return committed

    def _ends_committed(self, batch: "asyncio.Future[None]") -> None:
        """The commit of instances' ends is done: if it failed, their saved state is their last
        committed one, and they end again by replay when the emulator next starts."""
        ends = self._ends.pop(batch, [])
        if batch.cancelled() or batch.exception() is None:
            return
        for workflow, instance_id in ends:
            warnings.warn(
                f"cfwf-emulator could not save the end of instance {workflow}/{instance_id}: "
                f"{batch.exception()}. Its last saved state is kept; it runs to its end again when "
                "the emulator starts again.",
                StorageWarning,
                stacklevel=1,
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

    def refresh_activity(self, live: LiveInstance) -> None:
        """``waiting`` while every flow of the current run is blocked on a timer or event."""
        run = live.run
        if run is None or run.closed or live.record.status not in ("running", "waiting"):
            return
        waiting = run.parked > 0 and run.in_flight == 0
        self.set_status(live, "waiting" if waiting else "running")

    def mark_started(self, live: LiveInstance) -> None:
        """A run began: ``queued`` becomes ``running``."""
        record = live.record
        if record.start_ms is None:
            record.start_ms = self.now()
        if record.status in ("queued", "waiting"):
            self.set_status(live, "running")

    def finish_run(
        self, live: LiveInstance, run: RunState, *, output: str | None = None, error: dict[str, Any] | None = None
    ) -> None:
        """``run`` returned (``output``) or raised (``error``): the instance ends."""
        if live.run is not run or live.record.status in TERMINAL:
            return
        record = live.record
        record.end_ms = self.now()
        if error is None:
            record.output = output
            self.set_status(live, "complete", grouped=True)
        else:
            record.error = error
            self.set_status(live, "errored", grouped=True)  # saves the header with the outcome
        for message in misspelt_selectors(record.modifiers, record.steps):
            warnings.warn(f"{message} (instance {quoted(record.id)} of workflow {quoted(record.workflow)})", UserWarning, stacklevel=1)

    def pause(self, workflow: str, instance_id: str) -> None:
        """Pause: at once when nothing is in flight, else through ``waitingForPause``."""
        live = self.instances.load(workflow, instance_id)
        status = live.record.status
        if status == "queued":
            self.finish_pause(live)
        elif status in ("running", "waiting"):
            run = live.run
            if run is not None and run.in_flight > 0:
                live.pause_pending = True
                self.set_status(live, "waitingForPause")
            else:
                self.finish_pause(live)

    def finish_pause(self, live: LiveInstance) -> None:
        """Nothing is in flight any more: the instance is ``paused`` and its run stops."""
        live.pause_pending = False
        live.record.pause_ms = self.now()
        self.instances.cancel(live)
        self.set_status(live, "paused")

    def resume(self, workflow: str, instance_id: str) -> None:
        """Resume a paused instance by replay (timers shifted by the pause); cancel a pending pause."""
        live = self.instances.load(workflow, instance_id)
        record = live.record
        if record.status == "waitingForPause":
            live.pause_pending = False
            if live.pause_gate is not None and not live.pause_gate.done():
                live.pause_gate.set_result(None)
            self.set_status(live, "running")
            self.refresh_activity(live)
        elif record.status == "paused":
            shift = self.now() - (record.pause_ms if record.pause_ms is not None else self.now())
            for step in record.steps.values():
                if step.deadline_ms is not None:
                    step.deadline_ms += shift
                    self.store.save_step(record, step)
            record.pause_ms = None
            self.set_status(live, "queued")
            self.instances.start(live)

    def terminate(self, workflow: str, instance_id: str) -> None:
        """Stop the instance for good; in-flight step results are discarded."""
        live = self.instances.load(workflow, instance_id)
        if live.record.status in TERMINAL:
            raise WorkflowError(
                "instance.cannot_terminate", "Cannot terminate instance since its on a finite state"
            )
        self.instances.cancel(live)
        live.pause_pending = False
        live.record.end_ms = self.now()
        self.set_status(live, "terminated")

    def restart(self, workflow: str, instance_id: str, from_step: Any = None) -> None:
        """Run again from the top, or from a step (keeping the results of the steps before it)."""
        live = self.instances.load(workflow, instance_id)
        record = live.record
        doomed = list(record.steps.values())
        if from_step is not None:
            cut = self._restart_point(record, from_step)
            doomed = [step for step in doomed if step.seq >= cut.seq]
        self.instances.cancel(live)
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
        self.set_status(live, "queued")
        self.instances.start(live)

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
            live: LiveInstance | None = self.instances.load(workflow, instance_id)
        except CorruptInstanceError:
            live = None  # it never ran: only its rows go
        if live is not None:
            self.instances.cancel(live)
            del self.instances.live[(workflow, instance_id)]
        if self.stream.active:
            try:
                saved = self.store.read_log(workflow, instance_id)
            except StoreError:
                saved = []  # a corrupt log: nothing of it can be shown
            self.stream.before_delete(workflow, instance_id, saved)
        self.store.delete_instance(workflow, instance_id)
        if self.stream.active:
            last = live.record.log.next_id if live is not None else 1
            self.stream.publish_rows(workflow, instance_id, [(last, "instance.deleted", self.now(), {})], None)

    def delete_batch(self, workflow: str, instance_ids: Any) -> dict[str, list[dict[str, Any]]]:
        """Delete up to ``limits.batch_size`` instances: ``{"deleted": [{"id"}], "errors": [{"id",
        "code", "message"}]}`` in input order (a repeated id is deleted once and reported at each
        position). The list is checked whole first (:func:`~cfwf_emulator.validation.check_delete_batch`)."""
        definition = self.instances.registry.definition(workflow)
        ids = check_delete_batch(instance_ids, definition.limits.batch_size)
        outcomes: dict[str, dict[str, Any] | None] = {}
        for instance_id in dict.fromkeys(ids):
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
        for instance_id in ids:
            error = outcomes[instance_id]
            if error is None:
                result["deleted"].append({"id": instance_id})
            else:
                result["errors"].append({"id": instance_id, **error})
        return result

