"""What the engine holds for a workflow and for an instance in memory.

:class:`WorkflowDefinition` is a registered workflow; :class:`LiveInstance` is an instance's
durable record plus what only exists while it runs. Both the engine (``core``) and the runner
(``run``) use them; this module depends on neither, so the two never import each other.
"""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass, field
from typing import Protocol, TypeAlias

from ..compat import Compatibility
from ..limits import Limits
from .records import InstanceRecord

__all__ = ["Commit", "LiveInstance", "RunState", "WorkflowDefinition"]

#: The store's pending group commit of a deferred write (None: already durable).
Commit: TypeAlias = "asyncio.Future[None] | None"


@dataclass
class WorkflowDefinition:
    """A workflow the emulator can run: its name, class, binding name, limits and compatibility,
    and whether its ``step.do`` accepts the JavaScript-style call form."""

    name: str
    cls: type
    binding: str
    limits: Limits
    compat: Compatibility
    step_call_form: bool = False


class RunState(Protocol):
    """What the engine reads of an instance's current run (a :class:`~cfwf_emulator.engine.run.Run`)."""

    #: The run was stopped: nothing it does any more counts.
    closed: bool
    #: Flows of the run blocked on a timer or an event.
    parked: int
    #: Step attempts between their journaled start and their journaled outcome.
    in_flight: int


@dataclass(slots=True)
class LiveInstance:
    """The in-memory side of an instance: its record plus what only exists while it runs."""

    record: InstanceRecord
    workflow: WorkflowDefinition
    task: "asyncio.Task[None] | None" = None
    run: RunState | None = None
    pause_pending: bool = False
    pause_gate: "asyncio.Future[None] | None" = None
    waiters: "dict[str, deque[asyncio.Future[None]]]" = field(default_factory=dict)
    status_unsaved: bool = False
    #: The workflow's class was replaced while a step ran: replay at the next step boundary.
    replay_pending: bool = False
