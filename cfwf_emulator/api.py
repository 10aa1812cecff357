"""The engine's public API: the one way in for every door.

The doors (the ``Workflow`` bindings, the testing API, the rules checker, the pytest plugin, the
command line and the local dev server) change and read instances only through a
:class:`WorkflowsAPI`; none touches the engine's internals. :class:`LocalAPI` implements it
in-process, over an emulator's engine (``emu.api``); the dev server will serve the same calls over
HTTP, and a client of that server will implement the same protocol.

Commands: ``create``, ``create_batch``, ``pause``, ``resume``, ``terminate``, ``restart``,
``send_event``, ``delete``. Queries: ``workflows``, ``list_instances``, ``status``, ``describe``,
``exists``. Every method is a coroutine; an instance that does not exist raises
:class:`~cfwf_emulator.WorkflowError` (``instance.not_found``), a workflow that is not registered
:class:`~cfwf_emulator.ConfigError` naming the registered ones.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Awaitable, Callable, Protocol, TypedDict

from .errors import WorkflowError

if TYPE_CHECKING:
    from .engine.core import Engine

__all__ = [
    "STATUSES",
    "InstancePage",
    "InstanceSummary",
    "LocalAPI",
    "WorkflowSummary",
    "WorkflowsAPI",
]

#: Every instance status, in Cloudflare's spelling.
STATUSES = ("queued", "running", "paused", "errored", "terminated", "complete", "waiting", "waitingForPause")
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

    async def status(self, workflow: str, instance_id: str) -> dict[str, Any]:
        """``{"status", "output"}``, and ``"error": {"name", "message"}`` when errored."""

    async def describe(self, workflow: str, instance_id: str) -> dict[str, Any]:
        """The instance's details with its step timeline."""

    async def list_instances(
        self,
        workflow: str,
        *,
        status: str | None = None,
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


class LocalAPI:
    """The engine's API in-process: ``emu.api``. Every call first makes sure the emulator runs."""

    def __init__(self, engine: "Engine", ready: Callable[[], Awaitable[object]]) -> None:
        self.engine = engine
        self.ready = ready

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
        await self.ready()
        return self.engine.create(workflow, instance_id, params)

    async def create_batch(self, workflow: str, items: list[Any]) -> list[str]:
        """Create up to 100 instances; ids in use are skipped and left out of the result."""
        await self.ready()
        return self.engine.create_batch(workflow, items)

    async def exists(self, workflow: str, instance_id: str) -> bool:
        """Whether the instance exists (``ConfigError`` for an unknown workflow)."""
        await self.ready()
        self.engine.definition(workflow)
        return self.engine.exists(workflow, instance_id)

    async def status(self, workflow: str, instance_id: str) -> dict[str, Any]:
        """The instance's status, output and error."""
        await self.ready()
        return self.engine.status(workflow, instance_id)

    async def describe(self, workflow: str, instance_id: str) -> dict[str, Any]:
        """The instance's details with its step timeline."""
        await self.ready()
        return self.engine.describe(workflow, instance_id)

    async def list_instances(
        self,
        workflow: str,
        *,
        status: str | None = None,
        page: int = 1,
        per_page: int = 50,
        newest_first: bool = True,
    ) -> InstancePage:
        """A page of the workflow's instances (read from their headers only), filtered by status."""
        _check_page(status, page, per_page)
        await self.ready()
        rows, total, counts = self.engine.list_instances(
            workflow, status=status, limit=per_page, offset=(page - 1) * per_page, newest_first=newest_first
        )
        instances = [InstanceSummary(id=r["id"], status=r["status"], created=r["created"], modified=r["modified"]) for r in rows]
        return InstancePage(instances=instances, total=total, counts=counts, page=page, per_page=per_page)

    async def pause(self, workflow: str, instance_id: str) -> None:
        """Pause; an attempt in flight finishes first (status ``waitingForPause``)."""
        await self.ready()
        self.engine.pause(workflow, instance_id)

    async def resume(self, workflow: str, instance_id: str) -> None:
        """Resume a paused instance."""
        await self.ready()
        self.engine.resume(workflow, instance_id)

    async def terminate(self, workflow: str, instance_id: str) -> None:
        """Terminate; ``instance.cannot_terminate`` when already finished."""
        await self.ready()
        self.engine.terminate(workflow, instance_id)

    async def restart(self, workflow: str, instance_id: str, from_step: Any = None) -> None:
        """Restart from the beginning, or from ``{"name", "count", "type"}``."""
        await self.ready()
        self.engine.restart(workflow, instance_id, from_step)

    async def send_event(self, workflow: str, instance_id: str, event_type: Any, payload: Any = None) -> None:
        """Deliver an event."""
        await self.ready()
        self.engine.send_event(workflow, instance_id, event_type, payload)

    async def delete(self, workflow: str, instance_id: str) -> None:
        """Stop the instance and delete its state."""
        await self.ready()
        self.engine.delete(workflow, instance_id)
