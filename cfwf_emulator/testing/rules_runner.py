"""Running one workflow instance under one scenario for the rules checker, and recording what it did.

Each scenario gets fresh emulators on a virtual clock without autojump, driven here step by step:
events from the caller are sent when the workflow waits for them, a runaway journal is stopped,
and probes record where each step was awaited (hooks), calls to ``env`` bindings made outside
steps (a proxy per binding), and changes to the ``event`` (a subclass wrapping ``run``). The
crash scenario runs on SQLite in a temporary directory and "crashes" by failing the write of each
step's result once, then recovers with a new emulator on the same file.

Private to :mod:`cfwf_emulator.testing.rules`; nothing here is public API.
"""

from __future__ import annotations

import asyncio
import copy
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from ..bindings import Workflow
from ..clock import VirtualClock
from ..compat import Compatibility
from ..emulator import Emulator
from ..engine.core import WorkflowDefinition
from ..engine.records import TERMINAL, StepKey, StepRecord
from ..engine.run import Run
from ..hooks import hookimpl
from ..limits import Limits
from ..serialization import decode
from ..store.sqlite import StoreError
from .introspector import WorkflowInstanceIntrospector
from .modifier import InstanceModifier
from .rules_source import (
    SourceLocation,
    UserFrame,
    innermost_location,
    stack_user_frames,
    task_user_frames,
)

__all__ = [
    "EnvCall",
    "EventChange",
    "RunContext",
    "RunResult",
    "StepSnapshot",
    "Target",
    "make_target",
    "run_scenario",
]

_ATTEMPT_CODE = Run._one_attempt.__code__
_PLAIN = (str, bytes, int, float, bool, list, dict, tuple, type(None))


# -- what a run leaves behind -------------------------------------------------------------------


@dataclass
class StepSnapshot:
    """One journal entry, decoded."""

    kind: str
    name: str
    count: int
    seq: int
    state: str
    result: Any
    error: dict[str, Any] | None
    attempt_errors: list[dict[str, Any]]
    retry_limit: int | None

    @property
    def key(self) -> StepKey:
        """``(kind, name, count)``."""
        return (self.kind, self.name, self.count)

    @classmethod
    def of(cls, step: StepRecord) -> "StepSnapshot":
        """Decode a journal record."""
        retries = (step.config or {}).get("retries") if step.kind == "do" else None
        limit = retries.get("limit") if isinstance(retries, dict) else None
        return cls(
            step.kind,
            step.name,
            step.count,
            step.seq,
            step.state,
            decode(step.result) if step.result is not None else None,
            dict(step.error) if step.error else None,
            [dict(a["error"]) for a in step.attempts if a.get("error")],
            limit if isinstance(limit, int) else None,
        )


@dataclass(frozen=True)
class EnvCall:
    """A call on an ``env`` binding."""

    binding: str
    method: str
    in_step: bool
    location: SourceLocation | None


@dataclass(frozen=True)
class EventChange:
    """The ``event`` passed to ``run`` was changed."""

    paths: tuple[str, ...]
    before_step: StepKey | None


@dataclass
class RunResult:
    """Everything one scenario observed."""

    scenario: str
    status: str = "unknown"
    output: Any = None
    error: dict[str, Any] | None = None
    steps: list[StepSnapshot] = field(default_factory=list)
    locations: dict[StepKey, list[UserFrame]] = field(default_factory=dict)
    env_calls: list[EnvCall] = field(default_factory=list)
    event_changes: list[EventChange] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    events_sent: list[str] = field(default_factory=list)
    runaway: bool = False
    crashes: int = 0

    def step(self, key: StepKey) -> StepSnapshot | None:
        """The journal entry for ``key``."""
        for snapshot in self.steps:
            if snapshot.key == key:
                return snapshot
        return None

    def outcome(self) -> str:
        """``complete``, or ``errored (Name: message)``, for messages."""
        if self.status == "errored" and self.error:
            return f"errored ({self.error.get('name')}: {self.error.get('message')})"
        return self.status


# -- what is checked -----------------------------------------------------------------------------


@dataclass
class Target:
    """The workflow under check and how to host it again, as often as needed."""

    name: str
    binding: str
    cls: type
    limits: Limits
    compat: Compatibility
    project: Any = None
    others: list[WorkflowDefinition] = field(default_factory=list)
    base_env: dict[str, Any] = field(default_factory=dict)
    env: Any = None

    @property
    def label(self) -> str:
        """The class name, for the report."""
        return self.cls.__name__


def make_target(
    workflow: Any,
    *,
    name: str | None,
    compatibility_date: str | None,
    compatibility_flags: tuple[str, ...],
    env: Any,
) -> Target:
    """Describe a ``WorkflowEntrypoint`` subclass or a binding (``emu.env.MY_WORKFLOW``)."""
    if isinstance(workflow, Workflow):
        source = workflow._emulator
        definition = source._engine.definition(workflow.name)
        others = [d for d in source._engine.workflows.values() if d.name != definition.name]
        base_env = {
            key: source.env[key] for key in source.env if not isinstance(source.env[key], Workflow)
        }
        return Target(
            definition.name, definition.binding, definition.cls, definition.limits, definition.compat,
            project=source.project, others=others, base_env=base_env, env=env,
        )
    if isinstance(workflow, type) and callable(getattr(workflow, "run", None)):
        compat = Compatibility.resolve(compatibility_date, compatibility_flags)
        return Target(
            name or "rules-check", "WORKFLOW", workflow, Limits.paid(), compat, env=env,
        )
    raise TypeError(
        "check_workflow needs a WorkflowEntrypoint subclass or a workflow binding "
        f"(emu.env.MY_WORKFLOW), got {workflow!r}"
    )


@dataclass
class RunContext:
    """Settings shared by every scenario of one check."""

    target: Target
    params: Any
    events: list[dict[str, Any]]
    instance_id: str
    start_ms: float
    timeout_s: float
    workdir: Path
    max_steps: int = 1000


# -- probes --------------------------------------------------------------------------------------


def _in_step() -> bool:
    """Whether the caller runs inside a step callback (an engine attempt is on the stack)."""
    frame = sys._getframe(2)
    while frame is not None:
        if frame.f_code is _ATTEMPT_CODE:
            return True
        frame = frame.f_back  # type: ignore[assignment]
    return False


class _Probe:
    """Hook observer and shared log of one scenario (it outlives the emulators of a crash run)."""

    def __init__(self, context: RunContext, result: RunResult, max_steps: int) -> None:
        self.context = context
        self.result = result
        self.max_steps = max_steps
        self.emulator: Emulator | None = None
        self.started = 0
        self.current_event: tuple[Any, Any] | None = None

    def _mine(self, workflow: str, instance_id: str) -> bool:
        return workflow == self.context.target.name and instance_id == self.context.instance_id

    def _started(self, kind: str, name: str, count: int) -> None:
        key: StepKey = (kind, name, count)
        emulator = self.emulator
        if key not in self.result.locations and emulator is not None:
            live = emulator._engine.live.get((self.context.target.name, self.context.instance_id))
            frames = stack_user_frames(sys._getframe(1))
            task_frames = task_user_frames(live.task if live is not None else None)
            known = {frame.location for frame in frames}
            frames += [frame for frame in task_frames if frame.location not in known]
            self.result.locations[key] = frames
        self.check_event(key)
        self.started += 1
        if self.started > self.max_steps and not self.result.runaway and emulator is not None:
            self.result.runaway = True
            asyncio.get_running_loop().call_soon(self._stop, emulator)

    def _stop(self, emulator: Emulator) -> None:
        try:
            emulator._engine.terminate(self.context.target.name, self.context.instance_id)
        except Exception:  # noqa: BLE001 - already finished: nothing to stop
            pass

    def check_event(self, before: StepKey | None) -> None:
        """Record the first change to the current run's ``event``."""
        if self.current_event is None or self.result.event_changes:
            return
        event, snapshot = self.current_event
        if event != snapshot:
            paths = tuple(_changed_paths(snapshot, event, "event"))
            self.result.event_changes.append(EventChange(paths, before))

    @hookimpl
    def cfwf_step_start(self, workflow: str, instance_id: str, name: str, count: int) -> None:
        """A ``step.do`` began."""
        if self._mine(workflow, instance_id):
            self._started("do", name, count)

    @hookimpl
    def cfwf_sleep_start(self, workflow: str, instance_id: str, name: str, count: int) -> None:
        """A sleep began."""
        if self._mine(workflow, instance_id):
            self._started("sleep", name, count)

    @hookimpl
    def cfwf_event_wait_start(self, workflow: str, instance_id: str, name: str, count: int) -> None:
        """An event wait began."""
        if self._mine(workflow, instance_id):
            self._started("waitForEvent", name, count)


def _changed_paths(before: Any, after: Any, path: str) -> list[str]:
    if isinstance(before, dict) and isinstance(after, dict):
        changed: list[str] = []
        for key in list(before) + [k for k in after if k not in before]:
            child = f"{path}[{key!r}]"
            if key not in after:
                changed.append(f"{child} (deleted)")
            elif key not in before:
                changed.append(f"{child} (added)")
            else:
                changed += _changed_paths(before[key], after[key], child)
        return changed
    if isinstance(before, list) and isinstance(after, list) and len(before) == len(after):
        changed = []
        for index, (old, new) in enumerate(zip(before, after)):
            changed += _changed_paths(old, new, f"{path}[{index}]")
        return changed
    return [] if before == after else [path]


def _probe_class(cls: type, probe: _Probe) -> type:
    """A subclass of the user's workflow whose ``run`` watches the ``event`` for changes."""
    original = getattr(cls, "run")

    async def run(self: Any, event: Any, step: Any) -> Any:
        try:
            snapshot = copy.deepcopy(event)
        except Exception:  # noqa: BLE001 - an uncopyable event is simply not watched
            snapshot = None
        probe.current_event = (event, snapshot) if snapshot is not None else None
        try:
            return await original(self, event, step)
        finally:
            probe.check_event(None)
            probe.current_event = None

    return type(cls.__name__, (cls,), {"run": run, "__module__": cls.__module__, "__qualname__": cls.__qualname__})


class _EnvProxy:
    """Records every method call on a binding, and whether it came from inside a step."""

    def __init__(self, name: str, target: Any, calls: list[EnvCall]) -> None:
        self._cfwf_name = name
        self._cfwf_target = target
        self._cfwf_calls = calls

    def __getattr__(self, attribute: str) -> Any:
        value = getattr(self._cfwf_target, attribute)
        if attribute.startswith("_") or not callable(value):
            return value
        calls = self._cfwf_calls
        binding = self._cfwf_name

        def call(*args: Any, **kwargs: Any) -> Any:
            inside = _in_step()
            location = innermost_location(stack_user_frames(sys._getframe(1)))
            calls.append(EnvCall(binding, attribute, inside, location))
            return value(*args, **kwargs)

        return call

    def __getitem__(self, key: Any) -> Any:
        return self._cfwf_target[key]

    def __repr__(self) -> str:
        return repr(self._cfwf_target)


# -- hosting and driving -------------------------------------------------------------------------


@dataclass
class _Crash:
    """The crash scenario's plan: fail the result write of each step once; restart at each wait."""

    done: set[StepKey] = field(default_factory=set)
    waits: set[StepKey] = field(default_factory=set)
    pending: bool = False


def _arm_crash(emulator: Emulator, crash: _Crash) -> None:
    store: Any = emulator._engine.store
    original = store.save_step_deferred  # the crash scenario runs on SQLite, which journals so

    def save_step_deferred(record: Any, step: StepRecord, *, header: bool = False) -> Any:
        retries = (step.config or {}).get("retries") or {}
        limit = retries.get("limit", 0) if isinstance(retries, dict) else 0
        if (
            step.kind == "do"
            and step.state == "ok"
            and step.key not in crash.done
            and isinstance(limit, int)
            and len(step.attempts) <= limit
        ):
            crash.done.add(step.key)
            crash.pending = True
            raise StoreError("simulated crash by the rules checker (the step ran; its result was not saved)")
        return original(record, step, header=header)

    store.save_step_deferred = save_step_deferred


def _env_values(context: RunContext, emulator: Emulator) -> dict[str, Any]:
    spec = context.target.env
    if spec is None:
        return {}
    values = spec(emulator) if callable(spec) else spec
    return dict(values)


def _build(
    context: RunContext,
    probe: _Probe,
    cls: type,
    *,
    clock: VirtualClock,
    storage: str,
    hibernate: Any,
    env_values: dict[str, Any] | None,
) -> tuple[Emulator, Workflow, dict[str, Any]]:
    target = context.target
    if target.project is not None:
        emulator = Emulator.from_config(
            target.project.path, env=target.project.environment, clock=clock, storage=storage,
            hibernate=hibernate,
        )
        emulator._engine.workflows[target.name].cls = cls
    else:
        emulator = Emulator(clock=clock, storage=storage, hibernate=hibernate, limits=target.limits)
        for other in target.others:
            emulator.add_workflow(
                other.name, other.cls, binding=other.binding, step_limit=other.limits.steps,
                compatibility_date=other.compat.date, compatibility_flags=other.compat.flags,
            )
        emulator.add_workflow(
            target.name, cls, binding=target.binding, step_limit=target.limits.steps,
            compatibility_date=target.compat.date, compatibility_flags=target.compat.flags,
        )
        for key, value in target.base_env.items():
            emulator.env.bind(key, value)
    binding = emulator.env[target.binding]
    if env_values is None:
        env_values = _env_values(context, emulator)
    for key, value in env_values.items():
        emulator.env.bind(key, value)
    for key in list(emulator.env):
        value = emulator.env[key]
        if not isinstance(value, _PLAIN):
            emulator.env.bind(key, _EnvProxy(key, value, probe.result.env_calls))
    emulator.register(probe)
    probe.emulator = emulator
    return emulator, binding, env_values


async def _shutdown(emulator: Emulator) -> None:
    try:
        await emulator.aclose()
    finally:
        if emulator._lock is not None:  # a state file: close it (every store has close())
            emulator._store.close()


def _send_due_events(emulator: Emulator, context: RunContext, sent: list[bool], result: RunResult) -> bool:
    """Send the next given event of each type the instance waits for; True when one was sent."""
    engine = emulator._engine
    record = engine.require(context.target.name, context.instance_id).record
    buffered = {event["type"] for event in record.events}
    for step in sorted(record.steps.values(), key=lambda s: s.seq):
        if step.kind != "waitForEvent" or step.state != "waiting":
            continue
        event_type = (step.config or {}).get("type")
        if event_type in buffered:
            continue
        for index, event in enumerate(context.events):
            if not sent[index] and event.get("type") == event_type:
                sent[index] = True
                engine.send_event(context.target.name, context.instance_id, event_type, event.get("payload"))
                result.events_sent.append(str(event_type))
                return True
    return False


async def _drive(
    emulator: Emulator, context: RunContext, sent: list[bool], result: RunResult, crash: _Crash | None
) -> str:
    """Run the instance until it finishes (``done``), is stuck, or must crash (``crash``)."""
    scheduler = emulator._scheduler
    engine = emulator._engine
    key = (context.target.name, context.instance_id)
    async with scheduler.driving():
        while True:
            await scheduler.settle()
            if crash is not None and crash.pending:
                crash.pending = False
                return "crash"
            record = engine.require(*key).record
            if record.status in TERMINAL:
                return "done"
            if record.status == "paused":
                return "paused"
            if _send_due_events(emulator, context, sent, result):
                continue
            if crash is not None:
                waiting = [
                    s.key for s in record.steps.values()
                    if s.kind in ("sleep", "waitForEvent") and s.state == "waiting" and s.key not in crash.waits
                ]
                if waiting:
                    crash.waits.update(waiting)
                    return "crash"
            if not scheduler.jump_to_next():
                return "stuck"


async def run_scenario(
    context: RunContext,
    scenario: str,
    *,
    hibernate: Any = None,
    modify: Callable[[InstanceModifier], Any] | None = None,
    crash: bool = False,
    max_steps: int | None = None,
) -> RunResult:
    """Create the instance in fresh emulators configured for ``scenario`` and drive it to its end."""
    result = RunResult(scenario)
    probe = _Probe(context, result, max_steps or context.max_steps)
    cls = _probe_class(context.target.cls, probe)
    clock = VirtualClock(context.start_ms, autojump=False)
    storage = "memory"
    plan: _Crash | None = None
    if crash:
        path = context.workdir / f"{scenario}.sqlite3"
        storage = f"sqlite:///{path}?synchronous=NORMAL"
        plan = _Crash()
    emulator, binding, env_values = _build(
        context, probe, cls, clock=clock, storage=storage, hibernate=hibernate, env_values=None
    )
    sent = [False] * len(context.events)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + context.timeout_s
    try:
        await emulator.start()
        if plan is not None:
            _arm_crash(emulator, plan)
        if modify is not None:
            await WorkflowInstanceIntrospector(binding, context.instance_id).modify(modify)
        await binding.create(id=context.instance_id, params=context.params)
        while True:
            remaining = deadline - loop.time()
            try:
                outcome = await asyncio.wait_for(_drive(emulator, context, sent, result, plan), max(remaining, 0.01))
            except asyncio.TimeoutError:
                result.problems.append(
                    f"did not finish within {context.timeout_s:g} s of real time (stopped there)"
                )
                break
            if outcome != "crash":
                if outcome == "stuck":
                    status = emulator._engine.require(context.target.name, context.instance_id).record.status
                    result.problems.append(f"stopped making progress while {status}")
                elif outcome == "paused":
                    result.problems.append("was paused and never resumed")
                break
            result.crashes += 1
            await _shutdown(emulator)
            emulator, binding, _ = _build(
                context, probe, cls, clock=clock, storage=storage, hibernate=hibernate,
                env_values=env_values,
            )
            await emulator.start()
            if plan is not None:
                _arm_crash(emulator, plan)
        _snapshot(emulator, context, result)
    finally:
        await _shutdown(emulator)
    return result


def _snapshot(emulator: Emulator, context: RunContext, result: RunResult) -> None:
    engine = emulator._engine
    record = engine.require(context.target.name, context.instance_id).record
    status = record.status
    if status not in TERMINAL:
        try:
            engine.terminate(context.target.name, context.instance_id)
        except Exception:  # noqa: BLE001 - best effort: the run is discarded anyway
            pass
        status = f"unfinished ({status})"
    result.status = status
    result.output = decode(record.output) if record.output is not None else None
    result.error = dict(record.error) if record.error and record.status == "errored" else None
    result.steps = [StepSnapshot.of(step) for step in sorted(record.steps.values(), key=lambda s: s.seq)]
