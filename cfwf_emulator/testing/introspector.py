"""Introspectors: modify an instance before or while it runs, and wait for what it does.

Waiters drive the emulator themselves (virtual time jumps while they wait), and never hang: when
what they wait for can no longer happen — a terminal status reached, the instance paused, or
nothing left that could make progress — they raise at once, naming the instance, its status and
what it is blocked on.
"""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING, Any, Callable, Generator

from ..api import STATUSES, TERMINAL, InstanceView, PendingStep
from ..errors import StalledError, error_from_record
from ..validation import instance_not_found
from .modifier import PREFIX, InstanceModifier, ModificationRecorder
from .selector import to_selector

if TYPE_CHECKING:
    from ..bindings import Workflow
    from ..emulator import Emulator

__all__ = [
    "IntrospectionError",
    "WorkflowInstanceIntrospector",
    "WorkflowIntrospector",
    "introspect_workflow",
    "introspect_workflow_instance",
]


class IntrospectionError(AssertionError):
    """A waiter's target can no longer be reached, or a query does not fit the instance's state."""


class _Unreachable(Exception):
    pass


def _emulator_of(binding: "Workflow") -> "Emulator":
    emulator: Emulator | None = getattr(binding, "emulator", None)
    if emulator is None:
        raise TypeError(f"expected a workflow binding such as emu.env.MY_WORKFLOW, got {binding!r}")
    return emulator


def blocked_on(pending: list[PendingStep]) -> str:
    """A sentence saying what an instance waits for, from its steps in progress."""
    if not pending:
        return "nothing in its journal (no step in progress)"
    parts = []
    for step in pending:
        if step.kind == "waitForEvent":
            parts.append(f'an event of type "{step.event_type}" (wait "{step.name}", times out at {step.until})')
        elif step.kind == "sleep":
            parts.append(f'the sleep "{step.name}" (until {step.until})')
        elif step.until is not None:
            parts.append(f'the retry of step "{step.name}" (at {step.until})')
        else:
            parts.append(f'step "{step.name}" (attempt {step.attempts} running)')
    return ", ".join(parts)


class WorkflowInstanceIntrospector:
    """Inspect and steer one instance (it may not exist yet); use ``async with`` or ``dispose()``."""

    def __init__(self, binding: "Workflow", instance_id: str) -> None:
        if not binding or not instance_id:
            raise ValueError(f"{PREFIX} Workflow binding and instance id are required.")
        self._binding = binding
        self._emulator = _emulator_of(binding)
        self._testing = self._emulator.api.testing
        self.workflow = binding.name
        self.id = instance_id
        self.modifier = InstanceModifier(self._testing, self.workflow, instance_id)
        self._disposed = False

    def __repr__(self) -> str:
        return f"<WorkflowInstanceIntrospector {self.workflow}/{self.id}>"

    def __await__(self) -> Generator[Any, None, "WorkflowInstanceIntrospector"]:
        return self
        yield  # pragma: no cover - makes this a generator

    async def __aenter__(self) -> "WorkflowInstanceIntrospector":
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.dispose()

    async def modify(self, fn: Callable[[InstanceModifier], Any]) -> "WorkflowInstanceIntrospector":
        """Call ``fn(modifier)`` (sync or async) to change what the instance will do."""
        outcome = fn(self.modifier)
        if inspect.isawaitable(outcome):
            await outcome
        return self

    # -- waiting ---------------------------------------------------------------------------

    def _view(self) -> InstanceView | None:
        return self._testing.instance(self.workflow, self.id)

    def _blocked_on(self) -> str:
        return blocked_on(self._testing.pending_steps(self.workflow, self.id))

    @staticmethod
    def _describe_state(view: InstanceView) -> str:
        text = f"status '{view.status}'"
        if view.error is not None:
            text += f" ({view.error['name']}: {view.error['message']})"
        return text

    async def _drive(
        self,
        check: Callable[[], tuple[bool, Any]],
        what: str,
        timeout: float | None,
        explain: Callable[[], str] = str,
    ) -> Any:
        """Drive until ``check`` is done; ``explain()`` (when not "") is added to the error when it
        never can be."""
        def done() -> tuple[Any] | None:
            finished, value = check()
            return (value,) if finished else None

        try:
            outcome = await self._emulator.drive_until(done, timeout)
        except StalledError:
            view = self._view()
            state = "does not exist" if view is None else (
                f"is in {self._describe_state(view)}, waiting on {self._blocked_on()}"
            )
            raise IntrospectionError(
                f"{PREFIX} Waiting for {what} of instance {self.id} can never end: it {state}, "
                "and nothing else can make progress (no timer left, no step running). "
                "Send the event it waits for, resume it, or change what you wait for."
                + (f" Note: {note}." if (note := explain()) else "")
            ) from None
        except _Unreachable as exc:
            raise IntrospectionError(str(exc)) from None
        except TimeoutError:
            view = self._view()
            state = "does not exist" if view is None else f"is in {self._describe_state(view)}"
            raise IntrospectionError(
                f"{PREFIX} Timed out after {timeout} s (real time) waiting for {what} of instance "
                f"{self.id}; it {state}"
            ) from None
        return outcome[0]

    async def wait_for_status(self, status: str, timeout: float | None = None) -> None:
        """Return once the instance has ``status``; raise at once if it never can.

        ``timeout`` is in real seconds (virtual time jumps meanwhile, so it rarely matters).
        """
        if status == "unknown":
            raise ValueError("unknown cannot be parsed into a InstanceStatus")
        if status not in STATUSES:
            raise ValueError(f"{status} was not handled because it's not a valid InstanceStatus")

        def check() -> tuple[bool, Any]:
            view = self._view()
            if view is None:
                return (status == "queued", None)
            if view.status == status:
                return (True, None)
            if view.status in TERMINAL:
                if status in TERMINAL:
                    raise _Unreachable(
                        f"{PREFIX} The Workflow instance {self.id} has reached status "
                        f"'{view.status}'. This is a finite status that prevents it from ever "
                        f"reaching the expected status of '{status}'."
                        + (f" Its error: {view.error['name']}: {view.error['message']}" if view.error else "")
                    )
                raise _Unreachable(
                    f"{PREFIX} The Workflow instance {self.id} has reached {self._describe_state(view)}, "
                    f"which is final: it will never be '{status}'."
                )
            if view.status == "paused":
                raise _Unreachable(
                    f"{PREFIX} The Workflow instance {self.id} is paused (waiting on "
                    f"{self._blocked_on()}); it cannot become '{status}' until it is resumed."
                )
            return (False, None)

        await self._drive(check, f"status '{status}'", timeout)

    async def wait_for_step_result(self, step: Any, timeout: float | None = None) -> Any:
        """The result of the selected ``step.do`` once it has one; its error if it failed for good."""
        selector = to_selector(step)

        def check() -> tuple[bool, Any]:
            view = self._view()
            if view is None:
                return (False, None)
            outcome = self._testing.step_outcome(self.workflow, self.id, selector.name, selector.index)
            if outcome is not None and outcome.state == "ok":
                return (True, outcome.result)
            if outcome is not None and outcome.state == "error":
                assert outcome.error is not None
                raise error_from_record(outcome.error)
            if view.status in TERMINAL or view.status == "paused":
                raise _Unreachable(
                    f"{PREFIX} The Workflow instance {self.id} is in {self._describe_state(view)} "
                    f"and step '{selector.name}' (#{selector.index}) has no result: it will not get one"
                    + (" until the instance is resumed" if view.status == "paused" else "")
                    + (f"; {note}" if (note := unknown()) else "")
                )
            return (False, None)

        def unknown() -> str:
            note = self._testing.unknown_step(self.workflow, self.id, "do", selector.name)
            return "" if note is None else note

        what = f"the result of step '{selector.name}' (#{selector.index})"
        return await self._drive(check, what, timeout, unknown)

    async def get_output(self) -> Any:
        """The instance's output; it must be ``complete``."""
        view = self._require()
        if view.status != "complete":
            raise IntrospectionError(
                f'Cannot retrieve output: Workflow instance is in status "{view.status}" but must '
                'be "complete" to have an output available'
            )
        return view.output

    async def get_error(self) -> dict[str, Any]:
        """The instance's ``{"name", "message"}`` error; it must be ``errored``."""
        view = self._require()
        if view.status != "errored":
            raise IntrospectionError(
                f'Cannot retrieve error: Workflow instance is in status "{view.status}" but must '
                'be "errored" to have error information available'
            )
        if view.error is None:
            raise IntrospectionError("Cannot retrieve error: No workflow instance failure log found")
        return dict(view.error)

    def _require(self) -> InstanceView:
        view = self._view()
        if view is None:
            raise instance_not_found(self.workflow, self.id)
        return view

    async def dispose(self) -> None:
        """Delete the instance's state and modifications (its id can be used again); idempotent."""
        if self._disposed:
            return
        self._disposed = True
        try:
            self._testing.dispose(self.workflow, self.id)
        except Exception:  # noqa: BLE001 - disposal must not fail a test's teardown
            pass

    # JavaScript names, for code ported from Cloudflare's Vitest tests.
    waitForStatus = wait_for_status
    waitForStepResult = wait_for_step_result
    getOutput = get_output
    getError = get_error


class WorkflowIntrospector:
    """Captures every instance created through a binding from now on (``introspect_workflow``)."""

    def __init__(self, binding: "Workflow") -> None:
        if not binding:
            raise ValueError(f"{PREFIX} Workflow binding is required.")
        self._binding = binding
        emulator = _emulator_of(binding)
        self._testing = emulator.api.testing
        self.workflow = binding.name
        limits = {d.name: d.limits for d in emulator.workflow_definitions()}.get(binding.name, emulator.limits)
        self._recorder = ModificationRecorder(limits.event_type_length)
        self._instances: list[WorkflowInstanceIntrospector] = []
        self._testing.start_capture(self.workflow, self._capture)
        self._active = True

    def __repr__(self) -> str:
        return f"<WorkflowIntrospector {self.workflow} ({len(self._instances)} captured)>"

    def __await__(self) -> Generator[Any, None, "WorkflowIntrospector"]:
        return self
        yield  # pragma: no cover - makes this a generator

    async def __aenter__(self) -> "WorkflowIntrospector":
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.dispose()

    def _capture(self, workflow: str, instance_id: str) -> None:
        introspector = WorkflowInstanceIntrospector(self._binding, instance_id)
        self._recorder.apply(introspector.modifier)
        self._instances.append(introspector)

    def _check_active(self) -> None:
        if not self._active:
            raise RuntimeError(
                f'Workflow "{self.workflow}" does not have an active introspection session for this '
                "introspector."
            )

    async def modify_all(self, fn: Callable[[Any], Any]) -> None:
        """Record modifications (same methods as ``modify``) applied to every instance created later."""
        self._check_active()
        outcome = fn(self._recorder)
        if inspect.isawaitable(outcome):
            await outcome

    async def get(self) -> list[WorkflowInstanceIntrospector]:
        """An introspector for every instance created since the session began, in creation order."""
        self._check_active()
        return list(self._instances)

    async def dispose(self) -> None:
        """End the session and dispose of every captured instance; idempotent."""
        if not self._active:
            return
        self._active = False
        self._testing.stop_capture(self.workflow, self._capture)
        for introspector in self._instances:
            await introspector.dispose()

    modifyAll = modify_all


def introspect_workflow_instance(binding: "Workflow", instance_id: str) -> WorkflowInstanceIntrospector:
    """An introspector for instance ``instance_id`` of ``binding`` (call it before ``create``)."""
    return WorkflowInstanceIntrospector(binding, instance_id)


def introspect_workflow(binding: "Workflow") -> WorkflowIntrospector:
    """Capture every instance created through ``binding`` from now on (by tests or by code under test)."""
    return WorkflowIntrospector(binding)



