"""The engine's public API: the one way in for every door.

The doors (the ``Workflow`` bindings, the testing API, the rules checker, the pytest plugin, the
command line and the local dev server) change and read instances only through a
:class:`WorkflowsAPI`; none touches the engine's internals. :class:`LocalAPI` implements it
in-process, over an emulator's engine (``emu.api``); the dev server will serve the same calls over
HTTP, and a client of that server will implement the same protocol.

Commands: ``create``, ``create_batch``, ``pause``, ``resume``, ``terminate``, ``restart``,
``send_event``, ``delete``, ``delete_batch``. Queries: ``workflows``, ``list_instances``, ``status``, ``describe``,
``exists``; in-process only, ``export`` (an instance's journal, for ``cfwf replay``). Every method
is a coroutine; an instance that does not exist raises
:class:`~cfwf_emulator.WorkflowError` (``instance.not_found``), a workflow that is not registered
:class:`~cfwf_emulator.ConfigError` naming the registered ones. An emulator opened with
``mode="inspect"`` answers the queries from what its state file last committed and refuses every
command with :class:`~cfwf_emulator.StateReadOnlyError`. Events: ``subscribe`` is not a coroutine but an async
iterator of :class:`InstanceEvent` (history, then live events).

``emu.api.testing`` (:class:`LocalTestingAPI`) adds in-process test tooling: test modifications,
captures, disposal and synchronous reads, for the testing API and the pytest plugin.
"""

from __future__ import annotations

import asyncio

import copy
from dataclasses import dataclass
from typing import Any, AsyncIterator, Awaitable, Callable, Iterable, Mapping, Protocol, TypedDict, cast

from .engine.core import Engine
from .engine.eventlog import EVENT_TYPES
from .engine.stream import InstanceEvent, Subscription
from .engine.records import TERMINAL  # the statuses an instance never leaves (public here)
from .errors import WorkflowError, did_you_mean
from .engine.modifiers import unknown_step
from .serialization import decode, iso_from_ms
from .store.base import StateReadOnlyError
from .views import (
    AttemptDetails,
    AttemptExtension,
    DoStepDetails,
    ErrorDetails,
    EventDetails,
    InstanceDetails,
    InstanceExtension,
    InstanceStatus,
    RetriesDetails,
    SleepStepDetails,
    StatusDetails,
    StepConfigDetails,
    StepDetails,
    StepExtension,
    WaitStepDetails,
)
from .validation import check_mocked_event

__all__ = [
    "EVENT_TYPES",
    "JOURNAL_FORMAT",
    "STATUSES",
    "TERMINAL",
    "AttemptDetails",
    "AttemptExtension",
    "AttemptView",
    "BatchDeleteResult",
    "DeleteError",
    "DeletedInstance",
    "DoStepDetails",
    "ErrorDetails",
    "EventDetails",
    "InstanceDetails",
    "InstanceExtension",
    "InstanceEvent",
    "InstancePage",
    "InstanceStatus",
    "InstanceSummary",
    "InstanceView",
    "LocalAPI",
    "LocalTestingAPI",
    "PendingStep",
    "RetriesDetails",
    "SleepStepDetails",
    "StatusDetails",
    "StepConfigDetails",
    "StepDetails",
    "StepExtension",
    "StepOutcome",
    "WaitStepDetails",
    "WorkflowSummary",
    "WorkflowsAPI",
]

#: Every instance status, in Cloudflare's spelling.
STATUSES = ("queued", "running", "paused", "errored", "terminated", "complete", "waiting", "waitingForPause")
#: The ``format`` of :meth:`LocalAPI.export`'s journals (a new version changes the number).
JOURNAL_FORMAT = "cfwf-journal/1"
#: The most instances one page of ``list_instances`` holds.
MAX_PER_PAGE = 1_000


class InstanceSummary(TypedDict):
    """One instance in a listing: its id, status, and when it was created and last changed (ISO 8601, UTC)."""

    id: str
    status: str
    created: str
    modified: str


class InstancePage(TypedDict):
    """A page of instances, newest first unless asked otherwise, with the counts per status."""

    instances: list[InstanceSummary]
    #: Instances matching the status filter, on every page.
    total: int
    #: Instances of the workflow per status, in :data:`STATUSES` order (statuses none has left out).
    counts: dict[str, int]
    page: int
    per_page: int


class WorkflowSummary(TypedDict):
    """A registered workflow: its name, its binding on ``env``, its class and its instance counts."""

    name: str
    binding: str
    class_name: str
    counts: dict[str, int]


class DeletedInstance(TypedDict):
    """An id ``delete_batch`` deleted."""

    id: str


class DeleteError(TypedDict):
    """An id ``delete_batch`` could not delete: ``code`` 10400 (not found) or 10001 (internal error)."""

    id: str
    code: int
    message: str


class BatchDeleteResult(TypedDict):
    """What ``delete_batch`` did, per input id in input order (Cloudflare's ``WorkflowBatchDeleteResult``)."""

    deleted: list[DeletedInstance]
    errors: list[DeleteError]


class WorkflowsAPI(Protocol):
    """What every door may ask of the engine (see the module docstring)."""

    async def workflows(self) -> list[WorkflowSummary]:
        """The registered workflows, by name."""

    async def create(self, workflow: str, instance_id: str | None = None, params: Any = None) -> str:
        """Create and queue an instance; its id (a UUID4 when none is given)."""

    async def create_batch(self, workflow: str, items: list[Any]) -> list[str]:
        """Create up to 100 instances from ``{"id", "params"}`` dicts; ids in use are skipped."""

    async def exists(self, workflow: str, instance_id: str) -> bool:
        """Whether the instance exists."""

    async def status(self, workflow: str, instance_id: str) -> StatusDetails:
        """``{"status", "output"}``, and ``"error": {"name", "message"}`` when errored."""

    async def describe(self, workflow: str, instance_id: str) -> InstanceDetails:
        """The instance's details with its step timeline, exactly as Cloudflare's Local Explorer
        API shows them, plus ``"cfwf"`` (see :mod:`cfwf_emulator.views`)."""

    async def list_instances(
        self,
        workflow: str,
        *,
        status: InstanceStatus | str | None = None,
        page: int = 1,
        per_page: int = 50,
        newest_first: bool = True,
    ) -> InstancePage:
        """A page of the workflow's instances, filtered by status."""

    async def pause(self, workflow: str, instance_id: str) -> None:
        """Pause the instance."""

    async def resume(self, workflow: str, instance_id: str) -> None:
        """Resume a paused instance."""

    async def terminate(self, workflow: str, instance_id: str) -> None:
        """Terminate the instance."""

    async def restart(self, workflow: str, instance_id: str, from_step: Any = None) -> None:
        """Restart from the beginning, or from ``{"name", "count", "type"}``."""

    async def send_event(self, workflow: str, instance_id: str, event_type: Any, payload: Any = None) -> None:
        """Deliver an event of ``event_type`` to the instance."""

    async def delete(self, workflow: str, instance_id: str) -> None:
        """Stop the instance and delete its state."""

    async def delete_batch(self, workflow: str, instance_ids: list[str]) -> BatchDeleteResult:
        """Delete 1-100 instances; per-id outcomes in input order (Cloudflare's ``deleteBatch``)."""

    def subscribe(
        self,
        workflow: str | None = None,
        instance_id: str | None = None,
        types: Iterable[str] | None = None,
        cursor: "int | Mapping[str, int] | None" = None,
    ) -> AsyncIterator[InstanceEvent]:
        """The matching instances' events: their history, then live ones as they are committed."""


def _check_subscription(types: Any, cursor: Any) -> tuple[frozenset[str] | None, "int | Mapping[str, int]"]:
    """``subscribe`` arguments checked: the event types (None: all) and the cursor (0: from the
    start), else ``WorkflowError`` saying what to pass."""
    if isinstance(types, str):
        types = [types]
    wanted: frozenset[str] | None = None
    if types is not None:
        wanted = frozenset(types)
        for kind in sorted(wanted, key=str):
            if kind not in EVENT_TYPES:
                close = did_you_mean(kind, EVENT_TYPES) if isinstance(kind, str) else ""
                raise WorkflowError(
                    "subscribe.invalid_type",
                    f"Unknown event type {kind!r}{close}: valid types are {', '.join(EVENT_TYPES)}",
                )
    if cursor is None:
        return wanted, 0
    values = list(cursor.values()) if isinstance(cursor, Mapping) else [cursor]
    if any(isinstance(value, bool) or not isinstance(value, int) or value < 0 for value in values):
        raise WorkflowError(
            "subscribe.invalid_cursor",
            f"cursor must be the id of the last event seen (an int >= 0) or a dict of instance id "
            f"to such an id, got {cursor!r}",
        )
    return wanted, cursor


def _check_page(status: str | None, page: int, per_page: int) -> None:
    """The rules for ``list_instances`` arguments, as ``WorkflowError`` saying what to pass."""
    if status is not None and status not in STATUSES:
        raise WorkflowError(
            "instance.invalid_status", f"Unknown status {status!r}: pass one of {', '.join(STATUSES)}"
        )
    if isinstance(page, bool) or not isinstance(page, int) or page < 1:
        raise WorkflowError("instance.invalid_page", f"page must be a whole number from 1, got {page!r}")
    if isinstance(per_page, bool) or not isinstance(per_page, int) or not 1 <= per_page <= MAX_PER_PAGE:
        raise WorkflowError(
            "instance.invalid_page", f"per_page must be a whole number from 1 to {MAX_PER_PAGE}, got {per_page!r}"
        )


async def _committed(barrier: "asyncio.Future[None] | None") -> None:
    """Wait for the commit pending when a read was made: everything the read saw is then durable
    (deferred journal writes share the next commit; a read returns nothing a crash could undo).
    A failed commit is reported to the writers waiting for it, not to the reader."""
    if barrier is not None and not barrier.done():
        await asyncio.wait([barrier])


class LocalAPI:
    """The engine's API in-process: ``emu.api``. Every call first makes sure the emulator runs.

    ``inspected`` is the state file an emulator with ``mode="inspect"`` reads (None: it
    operates): every command then raises :class:`~cfwf_emulator.StateReadOnlyError` before it
    does anything.
    """

    def __init__(
        self, engine: "Engine", ready: Callable[[], Awaitable[object]], *, inspected: str | None = None
    ) -> None:
        self.engine = engine
        self.ready = ready
        #: The state file opened for inspection, or None.
        self.inspected = inspected
        #: In-process test tooling (:class:`LocalTestingAPI`): synchronous, never starts anything.
        self.testing = LocalTestingAPI(engine, inspected=inspected)

    async def _command(self, what: str) -> None:
        """Refuse the command ``what`` in inspect mode, else make sure the emulator runs."""
        if self.inspected is not None:
            raise StateReadOnlyError.inspecting(self.inspected, what)
        await self.ready()

    async def workflows(self) -> list[WorkflowSummary]:
        """The registered workflows, by name, with their instance counts per status."""
        await self.ready()
        return [
            WorkflowSummary(
                name=definition.name,
                binding=definition.binding,
                class_name=definition.cls.__name__,
                counts=self.engine.count_instances(definition.name),
            )
            for definition in sorted(self.engine.workflows.values(), key=lambda d: d.name)
        ]

    async def create(self, workflow: str, instance_id: str | None = None, params: Any = None) -> str:
        """Create and queue an instance; its id."""
        await self._command("create")
        return self.engine.create(workflow, instance_id, params)

    async def create_batch(self, workflow: str, items: list[Any]) -> list[str]:
        """Create up to 100 instances; ids in use are skipped and left out of the result."""
        await self._command("create_batch")
        return self.engine.create_batch(workflow, items)

    async def exists(self, workflow: str, instance_id: str) -> bool:
        """Whether the instance exists (``ConfigError`` for an unknown workflow)."""
        await self.ready()
        self.engine.definition(workflow)
        return self.engine.exists(workflow, instance_id)

    async def status(self, workflow: str, instance_id: str) -> StatusDetails:
        """The instance's status, output and error (its dicts also allow attribute access)."""
        await self.ready()
        barrier = self.engine.store.pending_commit()
        details = cast(StatusDetails, self.engine.status(workflow, instance_id))
        await _committed(barrier)
        return details

    async def describe(self, workflow: str, instance_id: str) -> InstanceDetails:
        """The instance's details with its step timeline, in Cloudflare's shape plus ``"cfwf"``."""
        await self.ready()
        barrier = self.engine.store.pending_commit()
        details = self.engine.describe(workflow, instance_id)
        await _committed(barrier)
        return details

    async def list_instances(
        self,
        workflow: str,
        *,
        status: InstanceStatus | str | None = None,
        page: int = 1,
        per_page: int = 50,
        newest_first: bool = True,
    ) -> InstancePage:
        """A page of the workflow's instances (read from their headers only), filtered by status
        (an :class:`InstanceStatus` or its string)."""
        if isinstance(status, InstanceStatus):
            status = status.value
        _check_page(status, page, per_page)
        await self.ready()
        barrier = self.engine.store.pending_commit()
        rows, total, counts = self.engine.list_instances(
            workflow, status=status, limit=per_page, offset=(page - 1) * per_page, newest_first=newest_first
        )
        await _committed(barrier)
        instances = [
            InstanceSummary(
                id=row.id,
                status=row.status,
                created=iso_from_ms(row.created_ms) or "",
                modified=iso_from_ms(row.modified_ms) or "",
            )
            for row in rows
        ]
        return InstancePage(instances=instances, total=total, counts=counts, page=page, per_page=per_page)

    async def pause(self, workflow: str, instance_id: str) -> None:
        """Pause; an attempt in flight finishes first (status ``waitingForPause``)."""
        await self._command("pause")
        self.engine.pause(workflow, instance_id)

    async def resume(self, workflow: str, instance_id: str) -> None:
        """Resume a paused instance."""
        await self._command("resume")
        self.engine.resume(workflow, instance_id)

    async def terminate(self, workflow: str, instance_id: str) -> None:
        """Terminate; ``instance.cannot_terminate`` when already finished."""
        await self._command("terminate")
        self.engine.terminate(workflow, instance_id)

    async def restart(self, workflow: str, instance_id: str, from_step: Any = None) -> None:
        """Restart from the beginning, or from ``{"name", "count", "type"}``."""
        await self._command("restart")
        self.engine.restart(workflow, instance_id, from_step)

    async def send_event(self, workflow: str, instance_id: str, event_type: Any, payload: Any = None) -> None:
        """Deliver an event."""
        await self._command("send_event")
        self.engine.send_event(workflow, instance_id, event_type, payload)

    async def delete(self, workflow: str, instance_id: str) -> None:
        """Stop the instance and delete its state."""
        await self._command("delete")
        self.engine.delete(workflow, instance_id)

    async def export(self, workflow: str, instance_id: str) -> dict[str, Any]:
        """The instance's journal as JSON-ready data (:data:`JOURNAL_FORMAT`), for ``cfwf replay``.

        ``{"format", "workflow", "id", "status", "params", "output", "error", "steps"}``; each
        step, in the order it began: ``{"type": "do" | "sleep" | "waitForEvent", "name",
        "count", "state": "running" | "waiting" | "ok" | "error", "result", "error"}``, plus
        ``"event_type"`` for an event wait. Results are the real values (a step configured with
        ``sensitive: "output"`` too): keep exports where you keep test data, not in logs.
        """
        status = await self.status(workflow, instance_id)  # instance.not_found for a missing one
        record = self.engine.read(workflow, instance_id)
        if record is None:  # deleted since: status() now says so
            await self.status(workflow, instance_id)
            raise AssertionError("unreachable: status() raises for an instance that does not exist")
        steps = sorted(record.steps.values(), key=lambda step: step.seq)
        return {
            "format": JOURNAL_FORMAT,
            "workflow": workflow,
            "id": instance_id,
            "status": status["status"],
            "params": decode(record.params),
            "output": status.get("output"),
            "error": status.get("error"),
            "steps": [
                {
                    "type": step.kind,
                    "name": step.name,
                    "count": step.count,
                    "state": step.state,
                    "result": decode(step.result) if step.result is not None else None,
                    "error": {"name": step.error["name"], "message": step.error["message"]} if step.error else None,
                    **({"event_type": (step.config or {}).get("type")} if step.kind == "waitForEvent" else {}),
                }
                for step in steps
            ],
        }

    async def delete_batch(self, workflow: str, instance_ids: list[str]) -> BatchDeleteResult:
        """Delete 1-100 instances (stopping running ones, no rollbacks); per-id outcomes in input order.

        Not a list, empty, over 100 or any invalid id: ``WorkflowError`` and nothing is deleted.
        """
        await self._command("delete_batch")
        result = self.engine.delete_batch(workflow, instance_ids)
        return BatchDeleteResult(
            deleted=[DeletedInstance(id=item["id"]) for item in result["deleted"]],
            errors=[DeleteError(id=item["id"], code=item["code"], message=item["message"]) for item in result["errors"]],
        )

    def subscribe(
        self,
        workflow: str | None = None,
        instance_id: str | None = None,
        types: Iterable[str] | None = None,
        cursor: "int | Mapping[str, int] | None" = None,
        *,
        until_final: bool = False,
    ) -> Subscription:
        """An async iterator of the events of the instances selected (by ``workflow`` and
        ``instance_id``; None: all), of the ``types`` given (None: all of :data:`EVENT_TYPES`):
        first those already recorded with ids above ``cursor`` (an int, per instance, or a dict
        of instance id to id), then each new one once the state it reports is committed.

        It ends by itself only with ``until_final=True``: after an event that ends an instance's
        run (status complete, errored or terminated, or its deletion) when no other event
        follows; else stop it with ``aclose()``, ``async with``, or ``break``. A
        subscriber that falls behind never slows an instance: it catches up from the store.
        ``WorkflowError`` for an unknown type or a bad cursor, ``ConfigError`` for an unknown
        workflow, at once.
        """
        wanted, start = _check_subscription(types, cursor)
        if workflow is not None:
            self.engine.definition(workflow)
        return Subscription(
            self.engine, self.engine.stream, self.ready,
            workflow=workflow, instance_id=instance_id, types=wanted, cursor=start, until_final=until_final,
        )


# -- test tooling, in-process only (doors/introspect) ---------------------------------------------
#
# What the testing API (introspectors, modifiers) and the pytest plugin's failure report need.
# Every method is synchronous and works whether or not the emulator runs (the report reads after
# the test, maybe with its event loop closed); none starts the emulator. Not part of
# ``WorkflowsAPI``: a remote emulator is not introspected this way.


@dataclass(frozen=True)
class InstanceView:
    """One instance as a test waiter sees it, read at one moment (``emu.api.testing.instance``)."""

    workflow: str
    id: str
    #: One of :data:`STATUSES`.
    status: str
    #: ``{"name", "message"}`` when the instance errored, else None.
    error: dict[str, str] | None
    #: The instance's output once it is complete, else None.
    output: Any


@dataclass(frozen=True)
class PendingStep:
    """A step in progress, what an instance is blocked on (``emu.api.testing.pending_steps``)."""

    #: ``"do"``, ``"sleep"`` or ``"waitForEvent"``.
    kind: str
    name: str
    #: Which call of that name and kind in the run (1-based).
    count: int
    #: When its timer ends (ISO 8601, UTC): the sleep's end, the event wait's timeout, the next
    #: retry of a ``do``; None for an attempt that is running.
    until: str | None
    #: The event type a ``waitForEvent`` waits for, else None.
    event_type: str | None
    #: Attempts made so far (``do`` only).
    attempts: int


@dataclass(frozen=True)
class StepOutcome:
    """How a journaled ``step.do`` stands (``emu.api.testing.step_outcome``)."""

    #: ``"running"`` (an attempt or a retry delay in progress), ``"ok"`` or ``"error"``.
    state: str
    #: Its result once ``"ok"``, else None.
    result: Any
    #: Its final error record (``{"name", "message", ...}``) once ``"error"``, else None.
    error: dict[str, Any] | None
    #: The Python traceback of the attempt that failed it for good, from the user's code on (an
    #: emulator extension); None unless ``"error"``, or when no user code raised the error.
    traceback: str | None = None


@dataclass(frozen=True)
class AttemptView:
    """One attempt of a ``step.do`` (``emu.api.testing.step_attempts``)."""

    #: Its number in the step (1-based).
    number: int
    #: When it began and ended (ISO 8601, UTC); ``end`` is None while it runs.
    start: str | None
    end: str | None
    #: True when it returned, False when it failed, None while it runs.
    success: bool | None
    #: Cloudflare's ``{"name", "message"}`` of its failure, else None.
    error: dict[str, str] | None
    #: The Python traceback of its failure from the user's code on, at most 16 KiB (an emulator
    #: extension, kept as ``"traceback"`` on the attempt record); None when it did not fail, or
    #: when no user code raised the error (a mocked error, a timeout).
    traceback: str | None


class LocalTestingAPI:
    """``emu.api.testing``: test modifications, captures, disposal and reads, in-process only.

    For the testing API (``cfwf_emulator.testing``) and test tooling such as the pytest plugin's
    failure report. Synchronous; never starts the emulator. Modifications are the JSON shape
    described in :mod:`cfwf_emulator.engine.modifiers`.
    """

    def __init__(self, engine: Engine, *, inspected: str | None = None) -> None:
        self.engine = engine
        self._inspected = inspected

    def _refuse_if_inspecting(self, what: str) -> None:
        if self._inspected is not None:
            raise StateReadOnlyError.inspecting(self._inspected, what)

    # -- modifications

    def modifiers_for(self, workflow: str, instance_id: str) -> dict[str, Any]:
        """The instance's modifications, to change in place and then :meth:`save_modifiers`.

        For an instance that does not exist yet they are kept, and apply when it is created.
        """
        self._refuse_if_inspecting("modifiers_for")
        return self.engine.modifiers_for(workflow, instance_id)

    def save_modifiers(self, workflow: str, instance_id: str) -> None:
        """Persist the changed modifications of an existing instance (nothing to do otherwise)."""
        self._refuse_if_inspecting("save_modifiers")
        self.engine.save_modifiers(workflow, instance_id)

    def mock_event(self, workflow: str, instance_id: str, event_type: Any, payload: Any) -> None:
        """Deliver a mocked event (kept for an instance not created yet); it survives restarts."""
        self._refuse_if_inspecting("mock_event")
        self.engine.mock_event(workflow, instance_id, event_type, payload)

    @staticmethod
    def check_mocked_event(event_type: Any, payload: Any) -> str:
        """The JSON of a mocked event's payload; ``WorkflowError`` as ``send_event`` would raise."""
        return check_mocked_event(event_type, payload)

    def modifications(self, workflow: str, instance_id: str) -> dict[str, Any]:
        """A copy of the modifications of an existing instance (``{}`` when it has none)."""
        record = self.engine.read(workflow, instance_id)
        return copy.deepcopy(record.modifiers) if record is not None and record.modifiers else {}

    def introspected(self) -> list[tuple[str, str]]:
        """``(workflow, id)`` of instances modified before they were created, not created yet."""
        return list(self.engine.pending)

    # -- captures and disposal

    def start_capture(self, workflow: str, capture: Callable[[str, str], None]) -> None:
        """Call ``capture(workflow, id)`` for every instance of ``workflow`` created from now on,
        before it starts (its modifications then apply to it). One capture per workflow: a second
        raises ``RuntimeError``."""
        definition = self.engine.definition(workflow)
        if workflow in self.engine.captures:
            raise RuntimeError(
                f'Workflow "{workflow}" already has an active introspection session for binding '
                f'"{definition.binding}".'
            )
        self.engine.captures[workflow] = capture

    def stop_capture(self, workflow: str, capture: Callable[[str, str], None]) -> None:
        """End the capture :meth:`start_capture` began with ``capture``; idempotent."""
        if self.engine.captures.get(workflow) == capture:
            del self.engine.captures[workflow]

    def dispose(self, workflow: str, instance_id: str) -> None:
        """Stop the instance and forget it with its modifications (its id becomes free); idempotent."""
        self._refuse_if_inspecting("dispose")
        self.engine.dispose(workflow, instance_id)

    # -- reads

    def workflow_names(self) -> list[str]:
        """The registered workflows' names, in registration order."""
        return list(self.engine.workflows)

    def instance_ids(self, workflow: str) -> list[str]:
        """The ids of every instance of ``workflow`` in the store."""
        return list(self.engine.store.instance_ids(workflow))

    def instance(self, workflow: str, instance_id: str) -> InstanceView | None:
        """The instance's status, error and output now; None when it does not exist."""
        record = self.engine.read(workflow, instance_id)
        if record is None:
            return None
        error = None
        if record.status == "errored" and record.error is not None:
            error = {"name": record.error["name"], "message": record.error["message"]}
        output = decode(record.output) if record.status == "complete" and record.output is not None else None
        return InstanceView(workflow, instance_id, record.status, error, output)

    def pending_steps(self, workflow: str, instance_id: str) -> list[PendingStep]:
        """The steps in progress, in the order they began ([] when none, or no such instance)."""
        record = self.engine.read(workflow, instance_id)
        if record is None:
            return []
        pending = sorted(
            (step for step in record.steps.values() if step.state in ("running", "waiting")),
            key=lambda step: step.seq,
        )
        return [
            PendingStep(
                kind=step.kind,
                name=step.name,
                count=step.count,
                until=iso_from_ms(step.deadline_ms),
                event_type=(step.config or {}).get("type") if step.kind == "waitForEvent" else None,
                attempts=len(step.attempts),
            )
            for step in pending
        ]

    def step_outcome(self, workflow: str, instance_id: str, name: str, count: int) -> StepOutcome | None:
        """The ``count``-th ``step.do`` named ``name``, None until it is journaled (or no instance)."""
        record = self.engine.read(workflow, instance_id)
        step = None if record is None else record.steps.get(("do", name, count))
        if step is None:
            return None
        if step.state == "ok":
            return StepOutcome("ok", decode(step.result) if step.result is not None else None, None)
        if step.state == "error":
            last = step.attempts[-1] if step.attempts else {}
            return StepOutcome("error", None, dict(step.error or {}), last.get("traceback"))
        return StepOutcome("running", None, None)

    def step_attempts(self, workflow: str, instance_id: str, name: str, count: int = 1) -> list[AttemptView]:
        """The attempts of the ``count``-th ``step.do`` named ``name``, oldest first ([] until it
        is journaled, or when there is no such instance)."""
        record = self.engine.read(workflow, instance_id)
        step = None if record is None else record.steps.get(("do", name, count))
        if step is None:
            return []
        return [
            AttemptView(
                number=number,
                start=iso_from_ms(attempt["start"]),
                end=iso_from_ms(attempt["end"]),
                success=attempt["success"],
                error=(
                    {"name": attempt["error"]["name"], "message": attempt["error"]["message"]}
                    if attempt["error"]
                    else None
                ),
                traceback=attempt.get("traceback"),
            )
            for number, attempt in enumerate(step.attempts, 1)
        ]

    def unknown_step(self, workflow: str, instance_id: str, kind: str, name: str) -> str | None:
        """None when a step of ``kind`` (``"do"``, ``"sleep"``, ``"waitForEvent"``) named ``name``
        is in the instance's journal; else a sentence saying none ran, with the closest names that
        did ("did you mean ...") and every name that ran."""
        record = self.engine.read(workflow, instance_id)
        return unknown_step(kind, name, () if record is None else record.steps)

    def describe(self, workflow: str, instance_id: str) -> InstanceDetails:
        """What :meth:`LocalAPI.describe` returns, without starting the emulator."""
        return self.engine.describe(workflow, instance_id)
