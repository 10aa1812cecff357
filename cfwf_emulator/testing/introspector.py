"""Introspectors: modify an instance before or while it runs, and wait for what it does.

Waiters drive the emulator themselves (virtual time jumps while they wait), and never hang: when
what they wait for can no longer happen — a terminal status reached, the instance paused, or
nothing left that could make progress — they raise at once, naming the instance, its status and
what it is blocked on.
"""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING, Any, Callable, Generator

from ..engine.records import STATUSES, TERMINAL, InstanceRecord
from ..errors import StalledError, WorkflowError, error_from_record
from ..serialization import decode, iso_from_ms
from .modifier import PREFIX, InstanceModifier, ModificationRecorder
from .selector import to_selector

if TYPE_CHECKING:
    from ..bindings import Workflow
    from ..engine.core import Engine

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


def _engine_of(binding: "Workflow") -> "Engine":
    emulator = getattr(binding, "_emulator", None)
    if emulator is None:
        raise TypeError(f"expected a workflow binding such as emu.env.MY_WORKFLOW, got {binding!r}")
    engine: Engine = emulator._engine
    return engine


def blocked_on(record: InstanceRecord) -> str:
    """A sentence saying what the instance waits for, from its journal."""
    pending = [s for s in record.steps.values() if s.state in ("running", "waiting")]
    if not pending:
        return "nothing in its journal (no step in progress)"
    parts = []
    for step in sorted(pending, key=lambda s: s.seq):
        until = iso_from_ms(step.deadline_ms) if step.deadline_ms is not None else None
        if step.kind == "waitForEvent":
            event_type = (step.config or {}).get("type")
            parts.append(f'an event of type "{event_type}" (wait "{step.name}", times out at {until})')
        elif step.kind == "sleep":
            parts.append(f'the sleep "{step.name}" (until {until})')
        elif step.deadline_ms is not None:
            parts.append(f'the retry of step "{step.name}" (at {until})')
        else:
            parts.append(f'step "{step.name}" (attempt {len(step.attempts)} running)')
    return ", ".join(parts)


class WorkflowInstanceIntrospector:
    """Inspect and steer one instance (it may not exist yet); use ``async with`` or ``dispose()``."""

    def __init__(self, binding: "Workflow", instance_id: str) -> None:
        if not binding or not instance_id:
            raise ValueError(f"{PREFIX} Workflow binding and instance id are required.")
        self._binding = binding
        self._engine = _engine_of(binding)
        self.workflow = binding.name
        self.id = instance_id
        self.modifier = InstanceModifier(self._engine, self.workflow, instance_id)
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

    def _record(self) -> InstanceRecord | None:
        if not self._engine.exists(self.workflow, self.id):
            return None
        return self._engine.require(self.workflow, self.id).record

    def _describe_state(self, record: InstanceRecord) -> str:
        text = f"status '{record.status}'"
        if record.status == "errored" and record.error:
            text += f" ({record.error['name']}: {record.error['message']})"
        return text

    async def _drive(self, check: Callable[[], tuple[bool, Any]], what: str, timeout: float | None) -> Any:
        def done() -> tuple[Any] | None:
            finished, value = check()
            return (value,) if finished else None

        try:
            outcome = await self._binding._emulator.drive_until(done, timeout)
        except StalledError:
            record = self._record()
            state = "does not exist" if record is None else (
                f"is in {self._describe_state(record)}, waiting on {blocked_on(record)}"
            )
            raise IntrospectionError(
                f"{PREFIX} Waiting for {what} of instance {self.id} can never end: it {state}, "
                "and nothing else can make progress (no timer left, no step running). "
                "Send the event it waits for, resume it, or change what you wait for."
            ) from None
        except _Unreachable as exc:
            raise IntrospectionError(str(exc)) from None
        except TimeoutError:
            record = self._record()
            state = "does not exist" if record is None else f"is in {self._describe_state(record)}"
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
            record = self._record()
            if record is None:
                if self._engine.pending.get((self.workflow, self.id)) is not None or status == "queued":
                    return (status == "queued", None)
                return (False, None)
            if record.status == status:
                return (True, None)
            if record.status in TERMINAL:
                if status in TERMINAL:
                    raise _Unreachable(
                        f"{PREFIX} The Workflow instance {self.id} has reached status "
                        f"'{record.status}'. This is a finite status that prevents it from ever "
                        f"reaching the expected status of '{status}'."
                        + (f" Its error: {record.error['name']}: {record.error['message']}"
                           if record.status == "errored" and record.error else "")
                    )
                raise _Unreachable(
                    f"{PREFIX} The Workflow instance {self.id} has reached {self._describe_state(record)}, "
                    f"which is final: it will never be '{status}'."
                )
            if record.status == "paused":
                raise _Unreachable(
                    f"{PREFIX} The Workflow instance {self.id} is paused (waiting on "
                    f"{blocked_on(record)}); it cannot become '{status}' until it is resumed."
                )
            return (False, None)

        await self._drive(check, f"status '{status}'", timeout)

    async def wait_for_step_result(self, step: Any, timeout: float | None = None) -> Any:
        """The result of the selected ``step.do`` once it has one; its error if it failed for good."""
        selector = to_selector(step)
        key = ("do", selector.name, selector.index)

        def check() -> tuple[bool, Any]:
            record = self._record()
            if record is None:
                return (False, None)
            journaled = record.steps.get(key)
            if journaled is not None and journaled.state == "ok":
                assert journaled.result is not None
                return (True, decode(journaled.result))
            if journaled is not None and journaled.state == "error":
                assert journaled.error is not None
                raise error_from_record(journaled.error)
            if record.status in TERMINAL or record.status == "paused":
                raise _Unreachable(
                    f"{PREFIX} The Workflow instance {self.id} is in {self._describe_state(record)} "
                    f"and step '{selector.name}' (#{selector.index}) has no result: it will not get one"
                    + (" until the instance is resumed" if record.status == "paused" else "")
                )
            return (False, None)

        return await self._drive(check, f"the result of step '{selector.name}' (#{selector.index})", timeout)

    async def get_output(self) -> Any:
        """The instance's output; it must be ``complete``."""
        record = self._require()
        if record.status != "complete":
            raise IntrospectionError(
                f'Cannot retrieve output: Workflow instance is in status "{record.status}" but must '
                'be "complete" to have an output available'
            )
        return decode(record.output) if record.output is not None else None

    async def get_error(self) -> dict[str, Any]:
        """The instance's ``{"name", "message"}`` error; it must be ``errored``."""
        record = self._require()
        if record.status != "errored":
            raise IntrospectionError(
                f'Cannot retrieve error: Workflow instance is in status "{record.status}" but must '
                'be "errored" to have error information available'
            )
        if record.error is None:
            raise IntrospectionError("Cannot retrieve error: No workflow instance failure log found")
        return {"name": record.error["name"], "message": record.error["message"]}

    def _require(self) -> InstanceRecord:
        record = self._record()
        if record is None:
            raise WorkflowError(
                "instance.not_found",
                f'Instance not found: no instance "{self.id}" in workflow "{self.workflow}"',
            )
        return record

    async def dispose(self) -> None:
        """Delete the instance's state and modifications (its id can be used again); idempotent."""
        if self._disposed:
            return
        self._disposed = True
        try:
            self._engine.dispose(self.workflow, self.id)
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
        self._engine = _engine_of(binding)
        self.workflow = binding.name
        if self.workflow in self._engine.captures:
            definition = self._engine.definition(self.workflow)
            raise RuntimeError(
                f'Workflow "{self.workflow}" already has an active introspection session for '
                f'binding "{definition.binding}".'
            )
        self._recorder = ModificationRecorder()
        self._instances: list[WorkflowInstanceIntrospector] = []
        self._active = True
        self._engine.captures[self.workflow] = self._capture

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
        if self._engine.captures.get(self.workflow) == self._capture:
            del self._engine.captures[self.workflow]
        for introspector in self._instances:
            await introspector.dispose()

    modifyAll = modify_all


def introspect_workflow_instance(binding: "Workflow", instance_id: str) -> WorkflowInstanceIntrospector:
    """An introspector for instance ``instance_id`` of ``binding`` (call it before ``create``)."""
    return WorkflowInstanceIntrospector(binding, instance_id)


def introspect_workflow(binding: "Workflow") -> WorkflowIntrospector:
    """Capture every instance created through ``binding`` from now on (by tests or by code under test)."""
    return WorkflowIntrospector(binding)



