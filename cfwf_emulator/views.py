"""The typed shapes the engine's API returns: ``status()``, ``describe()`` and their parts.

``describe()`` is exactly what Cloudflare's Local Explorer API returns for an instance
(``GET /workflows/NAME/instances/ID``, what ``wrangler workflows instances describe --json``
prints, less the ``id`` the CLI adds): :class:`InstanceDetails`, whose steps are
:class:`DoStepDetails`, :class:`SleepStepDetails` or :class:`WaitStepDetails`, each with Cloudflare's
exact key set. What the emulator adds is under one key, ``"cfwf"``, at instance level
(:class:`InstanceExtension`) and in each step (:class:`StepExtension`).

Every value is plain JSON (``str`` statuses, ISO 8601 times such as ``2026-12-05T01:13:24.536Z``),
so a view serialises as Cloudflare's does. The public names are re-exported by
:mod:`cfwf_emulator.api`.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Literal, NotRequired, TypedDict, Union

__all__ = [
    "AttemptDetails",
    "AttemptExtension",
    "DoStepDetails",
    "ErrorDetails",
    "EventDetails",
    "InstanceDetails",
    "InstanceExtension",
    "InstanceStatus",
    "RetriesDetails",
    "SleepStepDetails",
    "StatusDetails",
    "StepConfigDetails",
    "StepDetails",
    "StepExtension",
    "WaitStepDetails",
]

#: The key, at instance level and in each step of ``describe()``, of what the emulator adds.
EXTENSION = "cfwf"


class InstanceStatus(StrEnum):
    """An instance status, in Cloudflare's spelling; each member equals its ``str`` value.

    The API accepts a member or its string wherever it takes a status and returns plain strings.
    ``UNKNOWN`` is only ever listed, for an instance whose saved state cannot be read.
    """

    QUEUED = "queued"
    RUNNING = "running"
    PAUSED = "paused"
    ERRORED = "errored"
    TERMINATED = "terminated"
    COMPLETE = "complete"
    WAITING = "waiting"
    WAITING_FOR_PAUSE = "waitingForPause"
    UNKNOWN = "unknown"


class ErrorDetails(TypedDict):
    """An error as Cloudflare shows it: the error's class name and message."""

    name: str
    message: str


class StatusDetails(TypedDict):
    """What ``status()`` returns (its dicts also allow attribute access: ``status.error.message``)."""

    #: One of :class:`InstanceStatus`' values.
    status: str
    #: What ``run`` returned once the instance is complete, else None.
    output: Any
    #: Present only while the instance is errored.
    error: NotRequired[ErrorDetails]


class RetriesDetails(TypedDict):
    """A step's effective retry settings: durations as the workflow wrote them."""

    limit: int | float
    backoff: str
    #: Milliseconds or a duration string; ``"[dynamic]"`` for a delay function.
    delay: int | float | str


class StepConfigDetails(TypedDict):
    """A ``step.do``'s effective config: the workflow's values over the defaults."""

    retries: RetriesDetails
    timeout: int | float | str
    #: Present when the workflow set it: the step's output shows as ``"[REDACTED]"``.
    sensitive: NotRequired[Literal["output"]]


class AttemptDetails(TypedDict):
    """One attempt of a ``step.do``: ``end``, ``success`` and ``error`` are None while it runs."""

    start: str
    end: str | None
    success: bool | None
    error: ErrorDetails | None


class EventDetails(TypedDict):
    """The event a ``waitForEvent`` received."""

    type: str
    payload: Any
    timestamp: str


class AttemptExtension(TypedDict):
    """What the emulator adds about one attempt (``step["cfwf"]["attempts"]``, in attempt order)."""

    #: The Python traceback of a failed attempt, when the engine recorded one; else None.
    traceback: str | None


class StepExtension(TypedDict):
    """What the emulator adds to each step (``step["cfwf"]``); the same keys for every kind."""

    #: The name the workflow gave (Cloudflare's ``name`` is ``"<name>-<count>"``).
    name: str
    #: Which call of that name and kind in the run (1-based).
    count: int
    #: The call's kind as ``restart(from=...)`` takes it: ``"do"``, ``"sleep"`` or ``"waitForEvent"``.
    type: Literal["do", "sleep", "waitForEvent"]
    #: When its pending timer ends (a sleep, an event wait's timeout, a retry delay), else None.
    until: str | None
    #: The event type a ``waitForEvent`` waits for, else None.
    event_type: str | None
    #: The step's final error once it failed, else None.
    error: ErrorDetails | None
    #: One entry per attempt of a ``step.do`` ([] for the other kinds).
    attempts: list[AttemptExtension]


class DoStepDetails(TypedDict):
    """A ``step.do`` in ``describe()`` (Cloudflare's ``type: "step"``)."""

    #: ``"<name>-<count>"``.
    name: str
    start: str
    #: None until the step succeeded or failed for good.
    end: str | None
    #: None while an attempt or a retry delay is in progress.
    success: bool | None
    type: Literal["step"]
    #: Present only once the step succeeded with a value other than None; ``"[REDACTED]"`` for a
    #: step configured with ``sensitive: "output"``.
    output: NotRequired[Any]
    config: StepConfigDetails | None
    attempts: list[AttemptDetails]
    cfwf: StepExtension


class SleepStepDetails(TypedDict):
    """A ``step.sleep``/``step.sleep_until`` in ``describe()``."""

    name: str
    start: str
    #: None until the sleep ended (also while paused or after a terminate mid-sleep).
    end: str | None
    finished: bool
    type: Literal["sleep"]
    error: None
    cfwf: StepExtension


class WaitStepDetails(TypedDict):
    """A ``step.wait_for_event`` in ``describe()``."""

    name: str
    start: str
    end: str | None
    finished: bool
    type: Literal["waitForEvent"]
    #: The timeout error once the wait timed out, else None.
    error: ErrorDetails | None
    #: The event once it arrived, else None.
    output: EventDetails | None
    cfwf: StepExtension


StepDetails = Union[DoStepDetails, SleepStepDetails, WaitStepDetails]
"""A step of ``describe()``: tell them apart by ``type`` (``"step"``, ``"sleep"``, ``"waitForEvent"``)."""


class InstanceExtension(TypedDict):
    """What the emulator adds to ``describe()`` at instance level (``details["cfwf"]``)."""

    workflow: str
    id: str


class InstanceDetails(TypedDict):
    """What ``describe()`` returns: Cloudflare's instance details, plus ``cfwf``."""

    status: str
    params: Any
    #: When it was queued (reset by a restart).
    queued: str | None
    #: When it started running (reset by a restart), None while queued.
    start: str | None
    #: When it completed, errored or was terminated, else None.
    end: str | None
    output: Any
    #: Set while the instance is errored, else None.
    error: ErrorDetails | None
    steps: list[StepDetails]
    step_count: int
    cfwf: InstanceExtension
