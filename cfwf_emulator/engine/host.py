"""What a run needs of its engine: the narrow protocol between the runner and the engine.

The runner (``runbase``, ``waits``, ``retries``, ``run``) reaches the engine only through
:class:`RunHost`, and the engine reaches a run only through :class:`~.instance.RunState`, so the
two sides never import each other.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from .instance import Commit, LiveInstance, RunState
from .records import StepRecord

if TYPE_CHECKING:
    from ..store.base import Store
    from .scheduler import Scheduler

__all__ = ["RunHost"]


class RunHost(Protocol):
    """What a run needs of its engine (:class:`~cfwf_emulator.engine.core.Engine` is one).

    The runner reaches the engine only through these, so the two modules never import each other.
    """

    store: "Store"
    scheduler: "Scheduler"
    env: Any
    step_defaults: dict[str, Any]
    hibernate_after_ms: float | None
    replay_every_step: bool

    def now(self) -> float:
        """The emulator clock, epoch ms."""

    def mark_started(self, live: LiveInstance) -> None:
        """A run began."""

    def refresh_activity(self, live: LiveInstance) -> None:
        """Re-derive running/waiting from the run's flows."""

    def finish_run(self, live: LiveInstance, run: RunState, *, output: str | None = None, error: dict[str, Any] | None = None) -> None:
        """The run ended with an output or an error."""

    def uncaught_error(self, live: LiveInstance, exc: BaseException) -> dict[str, Any]:
        """The status error for an exception that escaped ``run``."""

    def storage_failed(self, live: LiveInstance, error: Exception) -> None:
        """A write failed mid-run: stop the instance."""

    def interrupted(self, live: LiveInstance, run: RunState) -> None:
        """User code raised KeyboardInterrupt or SystemExit."""

    def release_if_finished(self, live: LiveInstance) -> None:
        """A finished instance may leave memory."""

    def hibernate(self, live: LiveInstance, wake_at: float) -> None:
        """Evict a blocked instance until ``wake_at`` or an event."""

    def replay_now(self, live: LiveInstance) -> None:
        """Stop the run and replay the instance from the top."""

    def finish_pause(self, live: LiveInstance) -> None:
        """Nothing is in flight any more: the instance is paused."""

    def take_buffered_event(self, live: LiveInstance, event_type: str) -> dict[str, Any] | None:
        """Remove and return the oldest buffered event of ``event_type``."""

    def emit_step_start(self, live: LiveInstance, step: StepRecord, committed: Commit = None) -> None:
        """Announce the first attempt of a step."""

    def emit_attempt(
        self, live: LiveInstance, step: StepRecord, attempt: int, error: Any, retry_delay_ms: float | None,
        committed: Commit = None,
    ) -> None:
        """Announce the end of an attempt."""

    def emit_step_end(self, live: LiveInstance, step: StepRecord, committed: Commit = None) -> None:
        """Announce that a step finished for good."""

    def emit_sleep_start(self, live: LiveInstance, step: StepRecord, committed: Commit = None) -> None:
        """Announce a sleep."""

    def emit_sleep_end(self, live: LiveInstance, step: StepRecord, committed: Commit = None) -> None:
        """Announce the end of a sleep."""

    def emit_wait_start(self, live: LiveInstance, step: StepRecord, event_type: str, committed: Commit = None) -> None:
        """Announce an event wait."""

    def emit_wait_end(
        self, live: LiveInstance, step: StepRecord, event_type: str, timed_out: bool, committed: Commit = None
    ) -> None:
        """Announce the end of an event wait."""
