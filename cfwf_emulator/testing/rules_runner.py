"""Running one workflow instance under one scenario for the rules checker, and recording what it did.

Each scenario gets fresh emulators on a virtual clock without autojump, driven here timer by
timer through the emulator's public API (``settle``, ``advance_to_next_timer``, ``emu.api``):
events from the caller are sent when the workflow waits for them, a runaway journal is stopped,
and probes record where each step was awaited (hooks), calls to ``env`` bindings made outside
steps (a proxy per binding, asking :data:`~cfwf_emulator.hooks.current_step`), and changes to the
``event`` (a subclass wrapping ``run``). The crash scenario runs on a state file in a temporary
directory whose store "crashes" by failing the write of each step's result once; a new emulator
then recovers from the same file.

Private to :mod:`cfwf_emulator.testing.rules`; nothing here is public API.
"""

from __future__ import annotations

import asyncio
import copy
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from ..api import LocalAPI, StepDetails
from ..authoring.step import is_call_form
from ..bindings import Workflow
from ..clock import VirtualClock
from ..compat import Compatibility
from ..emulator import Emulator
from ..engine.core import WorkflowDefinition
from ..engine.records import TERMINAL, InstanceRecord, StepKey, StepRecord
from ..hooks import current_step, hookimpl
from ..limits import Limits
from ..store import SQLiteStore, Store, StoreError
from .introspector import WorkflowInstanceIntrospector
from .modifier import InstanceModifier
from .rules_source import (
    SourceLocation,
    UserFrame,
    current_user_frames,
    innermost_location,
    task_user_frames,
)

__all__ = [
    "CallFormUse",
    "EnvCall",
    "EventChange",
    "RunContext",
    "RunResult",
    "StepSnapshot",
    "Target",
    "make_target",
    "run_scenario",
]

_PLAIN = (str, bytes, int, float, bool, list, dict, tuple, type(None))


# -- what a run leaves behind -------------------------------------------------------------------


@dataclass
class StepSnapshot:
    """One step of the instance's timeline."""

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
    def of(cls, step: StepDetails, seq: int) -> "StepSnapshot":
        """A step of ``describe()``'s timeline, ``seq`` steps from its start.

        ``result`` is the step's output (for an event wait, the event's payload; ``"[REDACTED]"``
        for a sensitive step); ``state`` is ``ok``, ``error``, or, while unfinished, ``running``
        (a ``step.do``) or ``waiting``.
        """
        extension = step["cfwf"]
        error = extension["error"]
        result: Any = None
        attempt_errors: list[dict[str, Any]] = []
        limit: Any = None
        if step["type"] == "step":
            state = {True: "ok", False: "error", None: "running"}[step["success"]]
            result = step.get("output")
            attempt_errors = [dict(attempt["error"]) for attempt in step["attempts"] if attempt["error"]]
            limit = step["config"]["retries"]["limit"] if step["config"] else None
        else:
            state = "waiting" if not step["finished"] else "error" if step["error"] else "ok"
            if step["type"] == "waitForEvent" and step["output"] is not None:
                result = step["output"]["payload"]
        return cls(
            extension["type"],
            extension["name"],
            extension["count"],
            seq,
            state,
            result,
            dict(error) if error else None,
            attempt_errors,
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
class CallFormUse:
    """A ``step.do(name, [config], callback)``: the call form, which Cloudflare's Python SDK lacks."""

    name: Any
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
    call_forms: list[CallFormUse] = field(default_factory=list)
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
        source = workflow.emulator
        assert isinstance(source, Emulator)  # the only host bindings have
        definitions = {definition.name: definition for definition in source.workflow_definitions()}
        definition = definitions[workflow.name]
        others = [other for other in definitions.values() if other.name != definition.name]
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


class _Probe:
    """Hook observer and shared log of one scenario (it outlives the emulators of a crash run)."""

    def __init__(self, context: RunContext, result: RunResult, max_steps: int) -> None:
        self.context = context
        self.result = result
        self.max_steps = max_steps
        self.emulator: Emulator | None = None
        self.started = 0
        self.current_event: tuple[Any, Any] | None = None
        #: The task running the instance's current ``run`` (set by the probed class).
        self.task: "asyncio.Task[Any] | None" = None
        self.stopping: "asyncio.Task[None] | None" = None
        self._classes: dict[type, type] = {}

    def probed(self, cls: type) -> type:
        """``cls`` with a ``run`` that reports to this probe (one subclass per class)."""
        if cls not in self._classes:
            self._classes[cls] = _probe_class(cls, self)
        return self._classes[cls]

    def _mine(self, workflow: str, instance_id: str) -> bool:
        return workflow == self.context.target.name and instance_id == self.context.instance_id

    def _started(self, kind: str, name: str, count: int) -> None:
        key: StepKey = (kind, name, count)
        emulator = self.emulator
        if key not in self.result.locations and emulator is not None:
            # announced from the instance's own task, the stack leads to the step call; announced
            # once a commit is done (from the event loop), the suspended task does
            frames = current_user_frames()
            known = {frame.location for frame in frames}
            frames += [frame for frame in task_user_frames(self.task) if frame.location not in known]
            self.result.locations[key] = frames
        self.check_event(key)
        self.started += 1
        if self.started > self.max_steps and not self.result.runaway and emulator is not None:
            self.result.runaway = True
            self.stopping = asyncio.get_running_loop().create_task(self._stop(emulator.api))

    async def _stop(self, api: LocalAPI) -> None:
        try:
            await api.terminate(self.context.target.name, self.context.instance_id)
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
        if not isinstance(event, dict) or event.get("instanceId") != probe.context.instance_id:
            return await original(self, event, step)  # another instance of the same workflow
        probe.task = asyncio.current_task()
        try:
            snapshot = copy.deepcopy(event)
        except Exception:  # noqa: BLE001 - an uncopyable event is simply not watched
            snapshot = None
        probe.current_event = (event, snapshot) if snapshot is not None else None
        try:
            return await original(self, event, _StepProbe(step, probe.result.call_forms))
        finally:
            probe.check_event(None)
            probe.current_event = None

    return type(cls.__name__, (cls,), {"run": run, "__module__": cls.__module__, "__qualname__": cls.__qualname__})


class _StepProbe:
    """The ``step`` passed to ``run``, noting each ``step.do`` written in the call form."""

    def __init__(self, step: Any, calls: list[CallFormUse]) -> None:
        self._step = step
        self._calls = calls

    def do(self, *args: Any, **kwargs: Any) -> Any:
        """``step.do``, after noting where a call form is."""
        if is_call_form(args, kwargs):
            self._calls.append(CallFormUse(args[0], innermost_location(current_user_frames())))
        return self._step.do(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._step, name)


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
            inside = current_step.get() is not None
            calls.append(EnvCall(binding, attribute, inside, innermost_location(current_user_frames())))
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


class _CrashingStore(SQLiteStore):
    """The crash scenario's state file: the first write of a step's result fails, as if the
    process had died after the step ran and before its result was saved (once per step, and only
    while the step has a retry left, as the lost attempt counts).

    A SQLite store, not a wrapper around one: the emulator owns the file as usual (its lock, group
    commit), and a project's KV, D1 and R2 bindings are kept beside it and survive the crash.
    """

    def __init__(self, path: Path, plan: _Crash) -> None:
        super().__init__(path, synchronous="NORMAL")
        self.crash_plan = plan

    def _crash_here(self, step: StepRecord) -> None:
        plan = self.crash_plan
        retries = (step.config or {}).get("retries") or {}
        limit = retries.get("limit", 0) if isinstance(retries, dict) else 0
        if (
            step.kind == "do"
            and step.state == "ok"
            and step.key not in plan.done
            and isinstance(limit, int)
            and len(step.attempts) <= limit
        ):
            plan.done.add(step.key)
            plan.pending = True
            raise StoreError("simulated crash by the rules checker (the step ran; its result was not saved)")

    def save_step(self, record: InstanceRecord, step: StepRecord, *, header: bool = False) -> None:
        """``SQLiteStore.save_step``, unless this write is one to crash at."""
        self._crash_here(step)
        super().save_step(record, step, header=header)

    def save_step_deferred(
        self, record: InstanceRecord, step: StepRecord, *, header: bool = False
    ) -> "asyncio.Future[None]":
        """``SQLiteStore.save_step_deferred``, unless this write is one to crash at."""
        self._crash_here(step)
        return super().save_step_deferred(record, step, header=header)


def _env_values(context: RunContext, emulator: Emulator) -> dict[str, Any]:
    spec = context.target.env
    if spec is None:
        return {}
    values = spec(emulator) if callable(spec) else spec
    return dict(values)


def _build(
    context: RunContext,
    probe: _Probe,
    *,
    clock: VirtualClock,
    storage: "str | Store",
    hibernate: Any,
    env_values: dict[str, Any] | None,
) -> tuple[Emulator, Workflow, dict[str, Any]]:
    target = context.target
    if target.project is not None:

        class ProbedProject(Emulator):
            """The project, reloaded with the workflow under check probed."""

            def add_workflow(self, name: str, cls: type, **options: Any) -> Workflow:
                """Register ``cls``, probed when it is the workflow under check."""
                return super().add_workflow(name, probe.probed(cls) if name == target.name else cls, **options)

        emulator: Emulator = ProbedProject.from_config(
            target.project.path, env=target.project.environment, clock=clock, storage=storage,
            hibernate=hibernate, step_call_form=True,
        )
    else:
        emulator = Emulator(
            clock=clock, storage=storage, hibernate=hibernate, limits=target.limits, step_call_form=True
        )
        for other in target.others:
            emulator.add_workflow(
                other.name, other.cls, binding=other.binding, step_limit=other.limits.steps,
                compatibility_date=other.compat.date, compatibility_flags=other.compat.flags,
            )
        emulator.add_workflow(
            target.name, probe.probed(target.cls), binding=target.binding, step_limit=target.limits.steps,
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
        emulator.store.close()  # a state file is given up even when the emulator never started


def _step_key(step: StepDetails) -> StepKey:
    extension = step["cfwf"]
    return (extension["type"], extension["name"], extension["count"])


def _pending_wait(step: StepDetails) -> bool:
    """Whether ``step`` is a sleep or an event wait still in progress."""
    return step["type"] != "step" and not step["finished"]


async def _send_due_event(
    api: LocalAPI, context: RunContext, steps: list[StepDetails], sent: list[bool], result: RunResult
) -> bool:
    """Send the next given event of a type the instance waits for, unless one it has not taken
    yet is buffered; True when one was sent."""
    taken = Counter(
        step["cfwf"]["event_type"] for step in steps if step["type"] == "waitForEvent" and step["output"] is not None
    )
    given = Counter(event["type"] for event, done in zip(context.events, sent) if done)
    for step in steps:
        if step["type"] != "waitForEvent" or step["finished"]:
            continue
        event_type = step["cfwf"]["event_type"]
        if given[event_type] > taken[event_type]:
            continue
        for index, event in enumerate(context.events):
            if not sent[index] and event.get("type") == event_type:
                sent[index] = True
                await api.send_event(context.target.name, context.instance_id, event_type, event.get("payload"))
                result.events_sent.append(str(event_type))
                return True
    return False


async def _drive(
    emulator: Emulator, context: RunContext, sent: list[bool], result: RunResult, crash: _Crash | None
) -> str:
    """Run the instance until it finishes (``done``), is stuck, or must crash (``crash``)."""
    api = emulator.api
    while True:
        await emulator.settle()
        if crash is not None and crash.pending:
            crash.pending = False
            return "crash"
        details = await api.describe(context.target.name, context.instance_id)
        if details["status"] in TERMINAL:
            return "done"
        if details["status"] == "paused":
            return "paused"
        steps = details["steps"]
        if await _send_due_event(api, context, steps, sent, result):
            continue
        if crash is not None:
            waiting = [
                _step_key(step) for step in steps
                if _pending_wait(step) and _step_key(step) not in crash.waits
            ]
            if waiting:
                crash.waits.update(waiting)
                return "crash"
        if not await emulator.advance_to_next_timer():
            return "stuck"


async def run_scenario(
    context: RunContext,
    scenario: str,
    *,
    hibernate: Any = "auto",
    modify: Callable[[InstanceModifier], Any] | None = None,
    crash: bool = False,
    max_steps: int | None = None,
) -> RunResult:
    """Create the instance in fresh emulators configured for ``scenario`` and drive it to its end."""
    result = RunResult(scenario)
    probe = _Probe(context, result, max_steps or context.max_steps)
    clock = VirtualClock(context.start_ms, autojump=False)
    plan = _Crash() if crash else None
    path = context.workdir / f"{scenario}.sqlite3"

    def storage() -> "str | Store":
        return "memory" if plan is None else _CrashingStore(path, plan)

    emulator, binding, env_values = _build(
        context, probe, clock=clock, storage=storage(), hibernate=hibernate, env_values=None
    )
    sent = [False] * len(context.events)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + context.timeout_s
    try:
        await emulator.start()
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
                    status = (await emulator.api.status(context.target.name, context.instance_id))["status"]
                    result.problems.append(f"stopped making progress while {status}")
                elif outcome == "paused":
                    result.problems.append("was paused and never resumed")
                break
            result.crashes += 1
            await _shutdown(emulator)
            emulator, binding, _ = _build(
                context, probe, clock=clock, storage=storage(), hibernate=hibernate, env_values=env_values,
            )
            await emulator.start()
        await _snapshot(emulator, context, result)
    finally:
        await _shutdown(emulator)
    return result


async def _snapshot(emulator: Emulator, context: RunContext, result: RunResult) -> None:
    api = emulator.api
    details = await api.describe(context.target.name, context.instance_id)
    status = details["status"]
    if status not in TERMINAL:
        try:
            await api.terminate(context.target.name, context.instance_id)
        except Exception:  # noqa: BLE001 - best effort: the run is discarded anyway
            pass
        status = f"unfinished ({status})"
    result.status = status
    result.output = details["output"]
    result.error = dict(details["error"]) if details["error"] else None
    result.steps = [StepSnapshot.of(step, seq) for seq, step in enumerate(details["steps"])]
