"""The instance lifecycle as a hypothesis state machine, on a SQLite store.

Rules: create, send event, pause, resume, terminate, restart, delete, advance virtual time,
stop-and-recover (close the emulator and open a new one on the same SQLite file, optionally after
some downtime), and a pause while a step attempt is in flight. Each instance runs a generated
program and is mirrored by a :class:`~conformance.model.ModelInstance` that receives the same
actions at the same times.

Invariants, after every rule:

- every observed status change is legal (spec §3.7 table; the emulator's ``waiting`` and
  ``queued``-then-``paused`` included); a terminal status changes only through ``restart``;
- each instance's observation (status, output, error, attempts, attempt starts) equals the model's;
- no completed step is executed again (callback executions are counted through a side channel),
  and every journaled attempt executed exactly once since the last restart;
- events are delivered at most once and in order per type: the payloads the waits of an
  instance received are, per type, a prefix of what was sent to it since its last restart;
- a finished step's output never changes across replays (recoveries, resumes).
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from typing import Any

from hypothesis import settings, strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from cfwf_emulator import Emulator, VirtualClock, WorkflowEntrypoint, WorkflowError
from cfwf_emulator.hooks import hookimpl
from conformance.model import ModelInstance, resolve_config
from conformance.programs import (
    BACKOFFS,
    BINDING,
    DO_NAMES,
    EVENT_TYPES,
    EXECUTIONS,
    START_MS,
    UNUSED_EVENT_TYPE,
    WORKFLOW,
    InterpreterWorkflow,
    apply_action,
    config,
    do,
    examples,
    json_values,
    observation_from,
    sleep_ops,
    wait_ops,
)

TERMINAL = {"complete", "errored", "terminated"}
NON_TERMINAL = {"queued", "running", "waiting", "paused", "waitingForPause"}
LEGAL = {
    (None, "queued"),
    ("queued", "running"),
    ("queued", "paused"),  # README: pause() of a queued instance pauses it before it starts
    ("running", "waiting"),
    ("waiting", "running"),
    ("running", "complete"),
    ("running", "errored"),
    ("running", "waitingForPause"),
    ("waiting", "waitingForPause"),
    ("running", "paused"),
    ("waiting", "paused"),
    ("waitingForPause", "running"),
    ("waitingForPause", "paused"),
    ("paused", "queued"),
    *((status, "terminated") for status in NON_TERMINAL),
    *((status, "queued") for status in NON_TERMINAL | TERMINAL),  # restart, from any status
}
ADVANCES_MS = (0, 1_000, 1_000, 2_000, 5_000, 10_000, 60_000, 3_600_000)
#: Programs for the machine: short retry delays, so that runs reach their waits while the
#: machine's few advances happen, and more waits and sleeps than the model-agreement programs.
quick_do_ops = st.builds(
    do,
    st.sampled_from(DO_NAMES),
    json_values,
    config=st.builds(config, st.integers(0, 2), st.sampled_from((0, 1_000, 2_000)), st.sampled_from(BACKOFFS)),
    fail_attempts=st.integers(0, 3),
    error=st.sampled_from(("plain", "plain", "non_retryable")),
    catch=st.booleans(),
)
machine_programs = st.lists(
    st.one_of(quick_do_ops, sleep_ops, wait_ops, wait_ops), min_size=1, max_size=4
).map(lambda steps: {"steps": steps})
GATED = "conformance-gated"
GATED_BINDING = "GATED"


class GatedWorkflow(WorkflowEntrypoint):
    """One step whose callback waits for a gate: lets a test act while an attempt is in flight."""

    gates: dict[str, tuple[asyncio.Event, asyncio.Event, list[int]]] = {}

    async def run(self, event: Any, step: Any) -> Any:
        entered, release, calls = self.gates[event["instanceId"]]

        @step.do("gated")
        async def gated() -> str:
            calls.append(1)
            entered.set()
            await release.wait()
            return "released"

        first = await gated()

        @step.do("after")
        def after():
            return "done"

        return [first, await after()]


class StatusLog:
    """Collects every status change the engine announces, with the rule that caused it."""

    def __init__(self) -> None:
        self.rule = "init"
        self.changes: list[tuple[str, str | None, str, str]] = []

    @hookimpl
    def cfwf_instance_status_changed(self, workflow: str, instance_id: str, old: str | None, new: str) -> None:
        self.changes.append((instance_id, old, new, self.rule))


class LifecycleMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.runner = asyncio.Runner()
        self.tmp = tempfile.TemporaryDirectory(prefix="cfwf-lifecycle-")
        self.storage = f"sqlite:///{os.path.join(self.tmp.name, 'state.db')}?synchronous=NORMAL"
        self.now = 0  # virtual ms since START_MS
        self.log = StatusLog()
        self.models: dict[str, ModelInstance] = {}
        self.programs: dict[str, dict[str, Any]] = {}
        self.epoch_start: dict[str, int] = {}  # index into EXECUTIONS[id] where the run began
        self.sent: dict[str, dict[str, list[Any]]] = {}  # events accepted since the last restart
        self.step_outputs: dict[str, dict[str, Any]] = {}
        self.deleted: set[str] = set()
        self.created = 0
        self.payloads = 0
        self.emu = self._open()

    # -- plumbing -----------------------------------------------------------------------------

    def _open(self) -> Emulator:
        emu = Emulator(clock=VirtualClock(START_MS + self.now, autojump=False), storage=self.storage)
        emu.add_workflow(WORKFLOW, InterpreterWorkflow, binding=BINDING)
        emu.add_workflow(GATED, GatedWorkflow, binding=GATED_BINDING)
        emu.register(self.log)
        self.runner.run(emu.start())
        self.runner.run(emu.advance(0))
        return emu

    def _run(self, coro: Any) -> Any:
        return self.runner.run(coro)

    async def _instance(self, instance_id: str) -> Any:
        return await self.emu.env[BINDING].get(instance_id)

    def teardown(self) -> None:
        try:
            self.runner.run(self.emu.aclose())
        finally:
            self.runner.close()
            for instance_id in list(self.models) + list(self.deleted):
                EXECUTIONS.pop(instance_id, None)
            self.tmp.cleanup()

    def _new_epoch(self, instance_id: str) -> None:
        self.epoch_start[instance_id] = len(EXECUTIONS[instance_id])
        self.sent[instance_id] = {}
        self.step_outputs[instance_id] = {}

    def _act(self, instance_id: str, entry: dict[str, Any]) -> None:
        model = self.models[instance_id]
        if entry["action"] == "restart":
            self._new_epoch(instance_id)

        async def go() -> str | None:
            code = await apply_action(await self._instance(instance_id), entry)
            await self.emu.advance(0)
            return code

        self.log.rule = entry["action"]
        code = self._run(go())
        expected = model.apply(entry)
        assert code == expected, (instance_id, entry, code, expected)
        if entry["action"] == "event" and code is None:
            self.sent[instance_id].setdefault(entry["type"], []).append(entry["payload"])

    # -- rules --------------------------------------------------------------------------------

    @initialize(prog=machine_programs)
    def first(self, prog: dict[str, Any]) -> None:
        self.create(prog)

    @precondition(lambda self: len(self.models) < 3)
    @rule(prog=machine_programs)
    def create(self, prog: dict[str, Any]) -> None:
        self.created += 1
        instance_id = f"i{self.created}"
        EXECUTIONS[instance_id] = []
        self.programs[instance_id] = prog
        self._new_epoch(instance_id)
        self.log.rule = "create"

        async def go() -> None:
            await self.emu.env[BINDING].create(id=instance_id, params={"program": prog})
            await self.emu.advance(0)

        self._run(go())
        self.models[instance_id] = ModelInstance(prog, now=self.now)

    @precondition(lambda self: bool(self.models))
    @rule(data=st.data(), event_type=st.sampled_from([*EVENT_TYPES, UNUSED_EVENT_TYPE]))
    def send_event(self, data: st.DataObject, event_type: str) -> None:
        instance_id = data.draw(st.sampled_from(sorted(self.models)))
        self.payloads += 1
        self._act(instance_id, {"action": "event", "type": event_type, "payload": self.payloads})

    @precondition(lambda self: bool(self.models))
    @rule(data=st.data(), event_type=st.sampled_from(EVENT_TYPES), n=st.integers(2, 3))
    def send_burst(self, data: st.DataObject, event_type: str, n: int) -> None:
        """Several events of one type at once: they must be received in order (FIFO per type)."""
        instance_id = data.draw(st.sampled_from(sorted(self.models)))
        for _ in range(n):
            self.payloads += 1
            self._act(instance_id, {"action": "event", "type": event_type, "payload": self.payloads})

    @precondition(lambda self: bool(self.models))
    @rule(data=st.data(), kind=st.sampled_from(("pause", "resume", "pause", "resume", "terminate", "restart")))
    def lifecycle(self, data: st.DataObject, kind: str) -> None:
        instance_id = data.draw(st.sampled_from(sorted(self.models)))
        self._act(instance_id, {"action": kind})

    @precondition(lambda self: bool(self.models))
    @rule(data=st.data(), ms=st.sampled_from(ADVANCES_MS))
    def pause_advance_resume(self, data: st.DataObject, ms: int) -> None:
        """A pause that lasts ``ms``: pending timers are shifted by it (spec §3.5, §3.8)."""
        instance_id = data.draw(st.sampled_from(sorted(self.models)))
        self._act(instance_id, {"action": "pause"})
        self.advance(ms)
        self._act(instance_id, {"action": "resume"})

    @precondition(lambda self: bool(self.models))
    @rule(data=st.data())
    def delete(self, data: st.DataObject) -> None:
        instance_id = data.draw(st.sampled_from(sorted(self.models)))
        self.log.rule = "delete"

        async def go() -> None:
            await (await self._instance(instance_id)).delete()
            await self.emu.advance(0)

        self._run(go())
        del self.models[instance_id]
        self.deleted.add(instance_id)

    @rule(ms=st.sampled_from(ADVANCES_MS))
    def advance(self, ms: int) -> None:
        self.log.rule = "advance"
        self._run(self.emu.advance(ms))
        self.now += ms
        for model in self.models.values():
            model.advance_to(self.now)

    @rule(downtime=st.sampled_from((0, 0, 1_000, 60_000)))
    def stop_and_recover(self, downtime: int) -> None:
        """Close the emulator (state stays on disk) and open a new one on the same file."""
        self.log.rule = "recover"
        self._run(self.emu.aclose())
        self.now += downtime
        self.emu = self._open()
        for model in self.models.values():
            # while the process was down nothing ran; what fell due runs at once on recovery
            if model.status == "active":
                model.t = self.now
                model._run()
            model.t = self.now

    @rule(choice=st.sampled_from(("resume", "release", "terminate")))
    def pause_while_attempt_in_flight(self, choice: str) -> None:
        """pause() during an attempt: ``waitingForPause`` until the attempt ends (spec §3.8)."""
        self.created += 1
        instance_id = f"g{self.created}"
        self.log.rule = f"gated-{choice}"

        async def go() -> None:
            entered, release, calls = asyncio.Event(), asyncio.Event(), []
            GatedWorkflow.gates[instance_id] = (entered, release, calls)
            binding = self.emu.env[GATED_BINDING]
            instance = await binding.create(id=instance_id)
            # no emulator driving while the callback is in flight: virtual time must stand still
            await asyncio.wait_for(entered.wait(), 10)
            await instance.pause()
            assert (await instance.status())["status"] == "waitingForPause"
            if choice == "resume":
                self.log.rule = "resume"
                await instance.resume()  # cancels the pending pause
                assert (await instance.status())["status"] == "running"
                release.set()
                await self.emu.advance(0)
            elif choice == "release":
                release.set()
                await self.emu.advance(0)
                assert (await instance.status())["status"] == "paused"
                self.log.rule = "resume"
                await instance.resume()
                await self.emu.advance(0)
            else:
                self.log.rule = "terminate"
                await instance.terminate()
                release.set()
                await self.emu.advance(0)
                assert (await instance.status())["status"] == "terminated"
                assert calls == [1]
                return
            status = await instance.status()
            assert status == {"status": "complete", "output": ["released", "done"]}, status
            assert calls == [1], "the gated step ran again after the pause"
            await instance.delete()

        try:
            self._run(go())
        finally:
            GatedWorkflow.gates.pop(instance_id, None)

    # -- invariants ---------------------------------------------------------------------------------

    @invariant()
    def transitions_are_legal(self) -> None:
        for instance_id, old, new, rule_name in self.log.changes:
            assert (old, new) in LEGAL, f"illegal transition {old} -> {new} of {instance_id} during {rule_name}"
            if old in TERMINAL:
                assert rule_name == "restart", f"{instance_id} left {old} for {new} during {rule_name}"
            if new == "queued" and old is not None:
                assert rule_name in ("restart", "resume"), f"{instance_id} {old} -> queued during {rule_name}"
        self.log.changes.clear()

    @invariant()
    def instances_agree_with_the_model(self) -> None:
        async def read() -> dict[str, tuple[dict[str, Any], dict[str, Any]]]:
            out = {}
            for instance_id in self.models:
                instance = await self._instance(instance_id)
                out[instance_id] = (await instance.status(), await instance.describe())
            for instance_id in self.deleted - set(self.models):
                try:
                    await self.emu.env[BINDING].get(instance_id)
                except WorkflowError as exc:
                    assert exc.code == "instance.not_found"
                else:  # pragma: no cover - reported by the assertion
                    raise AssertionError(f"deleted instance {instance_id} still exists")
            return out

        for instance_id, (status, described) in self._run(read()).items():
            model = self.models[instance_id]
            observed = observation_from(status, described, START_MS)
            assert observed == model.observation(), f"{instance_id}: {self.programs[instance_id]!r}"
            self._check_executions(instance_id, model)
            self._check_events(instance_id, described)
            self._check_outputs(instance_id, described)

    def _check_executions(self, instance_id: str, model: ModelInstance) -> None:
        """Each journaled attempt ran exactly once since the last restart; nothing else ran."""
        log = EXECUTIONS[instance_id][self.epoch_start[instance_id]:]
        executed: dict[str, list[int]] = {}
        for entry in log:
            executed.setdefault(entry["key"], []).append(entry["attempt"])
        expected = {key: list(range(1, len(starts) + 1)) for key, starts in model.journal.items()}
        assert executed == expected, f"{instance_id}: callbacks ran {executed}, journal says {expected}"
        # and no attempt ran after its step finished for good
        prog = self.programs[instance_id]
        for key, attempts in executed.items():
            name, count = key.rsplit("#", 1)
            spec = [s for s in prog["steps"] if s["op"] == "do" and s["name"] == name][int(count) - 1]
            limit = resolve_config(spec.get("config"))["limit"]
            for attempt in attempts[:-1]:
                assert attempt <= spec.get("fail_attempts", 0), f"{key} ran again after succeeding"
                assert spec.get("error") != "non_retryable" and attempt <= limit, f"{key} ran after failing for good"

    def _check_events(self, instance_id: str, described: dict[str, Any]) -> None:
        received: dict[str, list[Any]] = {}
        for step in described["steps"]:  # in start order
            if step["type"] == "waitForEvent" and step["output"] is not None:
                received.setdefault(step["output"]["type"], []).append(step["output"]["payload"])
        for event_type, payloads in received.items():
            sent = self.sent[instance_id].get(event_type, [])
            assert payloads == sent[: len(payloads)], (
                f"{instance_id}: waits for {event_type} received {payloads}, sent {sent}"
            )

    def _check_outputs(self, instance_id: str, described: dict[str, Any]) -> None:
        seen = self.step_outputs[instance_id]
        for step in described["steps"]:
            if step.get("success") or step.get("output") is not None:
                key = f"{step['type']}:{step['name']}"
                if key in seen:
                    assert seen[key] == step.get("output"), f"{instance_id}: output of {key} changed"
                seen[key] = step.get("output")
        if described["status"] == "complete":
            if "__run__" in seen:
                assert seen["__run__"] == described["output"], f"{instance_id}: output of run changed"
            seen["__run__"] = described["output"]


LifecycleMachine.TestCase.settings = settings(
    max_examples=examples(0.5), stateful_step_count=settings.default.stateful_step_count
)
TestLifecycle = LifecycleMachine.TestCase
