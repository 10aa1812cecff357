"""The conformance program format, its hypothesis strategies, an interpreter workflow and a driver.

A *program* is a JSON-able dict run by one interpreter workflow's ``run()``; a *schedule* is a
list of outside actions at absolute offsets (virtual ms) from the instance's creation; an
*observation* is what every backend (the reference model, this emulator, the JavaScript
interpreter of the differential suite) reports, compared field by field::

    program = {"steps": [
        {"op": "do", "name": str, "config": <step config or None>,
         "fail_attempts": int,                # attempts 1..fail_attempts raise
         "error": "plain" | "non_retryable",  # ProgramError / NonRetryableError, "fail <name> <attempt>"
         "hang_attempts": int,                # (optional, default 0) the next attempts never return
         "result": <json>, "catch": bool},    # catch: run() records {"caught": <error name>}
        {"op": "sleep", "name": str, "ms": int},
        {"op": "wait", "name": str, "type": str, "timeout_ms": int, "catch": bool},
    ]}
    # config: {"retries": {"limit": int, "delay": int ms, "backoff": "constant"|"linear"|"exponential"},
    #          "timeout": int ms}; each key optional, None for the defaults
    # run() returns one outcome per step: do -> result (or {"caught": name}); sleep -> None;
    # wait -> the event payload (or {"caught": "WorkflowTimeoutError"})

    schedule = [{"at_ms": int, "action": "event", "type": str, "payload": <json>},
                {"at_ms": int, "action": "pause" | "resume" | "terminate" | "restart"}]

    observation = {"status": str, "output": <json or None>, "error": {"name", "message"} | None,
                   "attempts": {"<name>#<count>": int},
                   "attempt_starts_ms": {"<name>#<count>": [offsets from creation]}}

Timing convention of the driver (and so of the model): an action at ``at_ms`` is applied after
everything the instance does at or before ``at_ms`` (a timer due exactly then fires first), and
everything it does in reaction to the action happens before the next action.
"""

from __future__ import annotations

import asyncio
import copy
import json
import os
import tempfile
from datetime import datetime, timezone
from typing import Any, Iterable

from hypothesis import strategies as st

from cfwf_emulator import Emulator, NonRetryableError, VirtualClock, WorkflowEntrypoint, WorkflowError

__all__ = [
    "BACKOFFS",
    "BINDING",
    "EXECUTIONS",
    "INSTANCE_ID",
    "InterpreterWorkflow",
    "ProgramError",
    "RUNS",
    "START_MS",
    "WORKFLOW",
    "action",
    "config",
    "do",
    "error_name",
    "examples",
    "iso_to_ms",
    "json_values",
    "observe",
    "observation_from",
    "program",
    "programs",
    "run_on_emulator",
    "schedules",
    "sleep",
    "wait",
]

START_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z: creation time of every driven instance
WORKFLOW = "conformance-interpreter"
BINDING = "INTERP"
INSTANCE_ID = "conformance-1"
BACKOFFS = ("constant", "linear", "exponential")

# -- dict helpers -------------------------------------------------------------------------------


def config(
    limit: int | None = None,
    delay: int | None = None,
    backoff: str | None = None,
    timeout: int | None = None,
) -> dict[str, Any]:
    """A step config; ``limit`` and ``delay`` go together (Cloudflare requires both in retries)."""
    cfg: dict[str, Any] = {}
    if limit is not None or delay is not None:
        retries: dict[str, Any] = {"limit": 5 if limit is None else limit, "delay": 10_000 if delay is None else delay}
        if backoff is not None:
            retries["backoff"] = backoff
        cfg["retries"] = retries
    if timeout is not None:
        cfg["timeout"] = timeout
    return cfg


def do(
    name: str,
    result: Any = None,
    *,
    config: dict[str, Any] | None = None,
    fail_attempts: int = 0,
    error: str = "plain",
    hang_attempts: int = 0,
    catch: bool = False,
) -> dict[str, Any]:
    """A ``step.do`` operation."""
    spec = {
        "op": "do", "name": name, "config": config, "fail_attempts": fail_attempts,
        "error": error, "result": result, "catch": catch,
    }
    if hang_attempts:
        spec["hang_attempts"] = hang_attempts
    return spec


def sleep(name: str, ms: int) -> dict[str, Any]:
    """A ``step.sleep`` operation."""
    return {"op": "sleep", "name": name, "ms": ms}


def wait(name: str, type: str, timeout_ms: int, *, catch: bool = False) -> dict[str, Any]:
    """A ``step.wait_for_event`` operation."""
    return {"op": "wait", "name": name, "type": type, "timeout_ms": timeout_ms, "catch": catch}


def program(*steps: dict[str, Any]) -> dict[str, Any]:
    """A program made of ``steps``."""
    return {"steps": list(steps)}


def action(at_ms: int, kind: str, type: str | None = None, payload: Any = None) -> dict[str, Any]:
    """A schedule entry: ``action(1000, "pause")`` or ``action(0, "event", "e1", {"n": 1})``."""
    if kind == "event":
        return {"at_ms": at_ms, "action": "event", "type": type, "payload": payload}
    return {"at_ms": at_ms, "action": kind}


# -- the interpreter ----------------------------------------------------------------------------


class ProgramError(Exception):
    """What a "plain" failing attempt raises (it reaches ``run`` as a StepError named ProgramError)."""


#: Side channel: when a list is registered under an instance id, every callback execution of that
#: instance appends ``{"key", "attempt", "outcome"}`` to it (outcome "error", "hang" or "ok").
EXECUTIONS: dict[str, list[dict[str, Any]]] = {}
#: Side channel: how many times ``run()`` was invoked (first run, replays) per instance id.
RUNS: dict[str, int] = {}


def error_name(exc: BaseException) -> str:
    """The portable name of an error seen in ``run`` (``.name`` of StepError and NonRetryableError)."""
    name = getattr(exc, "name", None)
    return name if isinstance(name, str) else type(exc).__name__


def _callback(spec: Any, instance_id: str) -> Any:
    name = spec["name"]
    fail = int(spec.get("fail_attempts", 0))
    hang = int(spec.get("hang_attempts", 0) or 0)
    non_retryable = spec.get("error") == "non_retryable"
    result = spec.get("result")

    async def callback(ctx: Any) -> Any:
        attempt = ctx["attempt"]
        log = EXECUTIONS.get(instance_id)
        entry = {"key": f"{name}#{ctx['step']['count']}", "attempt": attempt}
        if attempt <= fail:
            if log is not None:
                log.append({**entry, "outcome": "error"})
            message = f"fail {name} {attempt}"
            raise NonRetryableError(message) if non_retryable else ProgramError(message)
        if attempt <= fail + hang:
            if log is not None:
                log.append({**entry, "outcome": "hang"})
            await asyncio.Event().wait()  # never set: the attempt can only time out
        if log is not None:
            log.append({**entry, "outcome": "ok"})
        return copy.deepcopy(result)

    return callback


def _plain(value: Any) -> Any:
    """A plain JSON copy (AttrDicts become dicts)."""
    return json.loads(json.dumps(value))


class InterpreterWorkflow(WorkflowEntrypoint):
    """Runs the program given as ``event["payload"]["program"]`` and returns its step outcomes."""

    async def run(self, event: Any, step: Any) -> Any:
        program = event["payload"]["program"]
        instance_id = event["instanceId"]
        RUNS[instance_id] = RUNS.get(instance_id, 0) + 1
        outcomes: list[Any] = []
        for spec in program["steps"]:
            op = spec["op"]
            if op == "do":
                try:
                    run_step = step.do(spec["name"], config=spec.get("config"))(_callback(spec, instance_id))
                    value = await run_step()
                except Exception as exc:
                    if not spec.get("catch"):
                        raise
                    value = {"caught": error_name(exc)}
                outcomes.append(value)
            elif op == "sleep":
                await step.sleep(spec["name"], spec["ms"])
                outcomes.append(None)
            elif op == "wait":
                try:
                    received = await step.wait_for_event(spec["name"], spec["type"], timeout=spec["timeout_ms"])
                    value = received["payload"]
                except Exception as exc:
                    if not spec.get("catch"):
                        raise
                    value = {"caught": error_name(exc)}
                outcomes.append(value)
            else:
                raise ValueError(f"unknown op {op!r}")
        return outcomes


# -- the driver ---------------------------------------------------------------------------------


def iso_to_ms(text: str) -> int:
    """Epoch ms of an ISO string as ``describe()`` prints it (``...T00:00:01.250Z``)."""
    moment = datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)
    epoch = datetime(1970, 1, 1, tzinfo=timezone.utc)
    return (moment - epoch) // _ONE_MS


_ONE_MS = datetime(1970, 1, 1, 0, 0, 0, 1000) - datetime(1970, 1, 1)


def observation_from(status: dict[str, Any], described: dict[str, Any], created_ms: float = START_MS) -> dict[str, Any]:
    """The observation of an instance from its ``status()`` and ``describe()``."""
    attempts: dict[str, int] = {}
    starts: dict[str, list[int]] = {}
    for step in described["steps"]:
        if step["type"] != "step":
            continue
        key = f"{step['cfwf']['name']}#{step['cfwf']['count']}"
        attempts[key] = len(step["attempts"])
        starts[key] = [iso_to_ms(a["start"]) - int(created_ms) for a in step["attempts"]]
    error = status.get("error")
    return {
        "status": status["status"],
        "output": _plain(status.get("output")),
        "error": None if error is None else {"name": error["name"], "message": error["message"]},
        "attempts": attempts,
        "attempt_starts_ms": starts,
    }


def sorted_schedule(schedule: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """The schedule in time order; actions at the same offset keep their order."""
    return sorted(schedule, key=lambda entry: entry["at_ms"])


async def apply_action(instance: Any, entry: dict[str, Any]) -> str | None:
    """Apply one schedule action; return the ``WorkflowError`` code it raised, if any."""
    kind = entry["action"]
    try:
        if kind == "event":
            await instance.send_event(type=entry["type"], payload=entry.get("payload"))
        elif kind in ("pause", "resume", "terminate", "restart"):
            await getattr(instance, kind)()
        else:
            raise ValueError(f"unknown action {kind!r}")
    except WorkflowError as exc:
        return exc.code
    return None


async def observe(
    program: dict[str, Any],
    schedule: Iterable[dict[str, Any]] = (),
    *,
    storage: str = "memory",
    tmp_path: "str | os.PathLike[str] | None" = None,
    hibernate: Any = "auto",
    trace: list[Any] | None = None,
    describe: list[Any] | None = None,
) -> dict[str, Any]:
    """Run ``program`` with ``schedule`` on a fresh emulator; return the observation.

    ``trace`` (when given) receives, per action, the WorkflowError code it raised or None;
    ``describe`` receives the final ``describe()`` of the instance.
    """
    if storage == "sqlite":
        if tmp_path is None:
            with tempfile.TemporaryDirectory(prefix="cfwf-conformance-") as tmp:
                return await observe(
                    program, schedule, storage=storage, tmp_path=tmp, hibernate=hibernate,
                    trace=trace, describe=describe,
                )
        store = f"sqlite:///{os.path.join(os.fspath(tmp_path), 'conformance.db')}?synchronous=NORMAL"
    elif storage == "memory":
        store = "memory"
    else:
        raise ValueError(f'storage must be "memory" or "sqlite", got {storage!r}')
    clock = VirtualClock(START_MS, autojump=False)
    emu = Emulator(clock=clock, storage=store, hibernate=hibernate)
    emu.add_workflow(WORKFLOW, InterpreterWorkflow, binding=BINDING)
    async with emu:
        instance = await emu.env[BINDING].create(id=INSTANCE_ID, params={"program": program})
        await emu.advance(0)
        for entry in sorted_schedule(schedule):
            delta = entry["at_ms"] - (clock.now_ms() - START_MS)
            await emu.advance(max(0, delta))
            code = await apply_action(instance, entry)
            if trace is not None:
                trace.append(code)
            await emu.advance(0)
        await emu.run_until_idle()
        status = await instance.status()
        described = await instance.describe()
    if describe is not None:
        describe.append(described)
    return observation_from(status, described)


def run_on_emulator(
    program: dict[str, Any],
    schedule: Iterable[dict[str, Any]] = (),
    storage: str = "memory",
    tmp_path: "str | os.PathLike[str] | None" = None,
    **options: Any,
) -> dict[str, Any]:
    """Synchronous :func:`observe` (one fresh event loop per call)."""
    return asyncio.run(observe(program, list(schedule), storage=storage, tmp_path=tmp_path, **options))


def examples(factor: float = 1.0, minimum: int = 5) -> int:
    """``max_examples`` for a test: the loaded hypothesis profile's, scaled by ``factor``."""
    from hypothesis import settings

    return max(minimum, int(settings.default.max_examples * factor))


# -- strategies ---------------------------------------------------------------------------------

DO_NAMES = ("a", "b", "c")
SLEEP_NAMES = ("s", "t")
WAIT_NAMES = ("w", "v")
EVENT_TYPES = ("e1", "e2")
UNUSED_EVENT_TYPE = "e3"
DELAYS_MS = (0, 1_000, 2_000, 5_000, 10_000, 60_000, 3_600_000)
TIMEOUTS_MS = (1_000, 2_000, 10_000, 60_000, 600_000, 3_600_000)
SLEEPS_MS = (0, 1_000, 2_000, 5_000, 30_000, 60_000, 3_600_000)
HANG_TIMEOUTS_MS = (20, 30, 50)

_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-1_000_000, max_value=1_000_000)
    | st.text(alphabet="abcxyz -_", max_size=5)
)
#: Small JSON values without floats (JavaScript prints 1.0 as 1, which a differential run would flag).
json_values = st.recursive(
    _SCALARS,
    lambda children: st.lists(children, max_size=3)
    | st.dictionaries(st.text(alphabet="abkxy", min_size=1, max_size=3), children, max_size=3),
    max_leaves=5,
)

_retries = st.fixed_dictionaries(
    {"limit": st.integers(0, 3), "delay": st.sampled_from(DELAYS_MS)},
    optional={"backoff": st.sampled_from(BACKOFFS)},
)
step_configs = st.none() | st.fixed_dictionaries(
    {}, optional={"retries": _retries, "timeout": st.sampled_from(TIMEOUTS_MS)}
)


@st.composite
def do_ops(draw: Any, hang: bool = False) -> dict[str, Any]:
    """A ``do`` operation; with ``hang`` some attempts may hang (the config then has a tiny timeout)."""
    cfg = draw(step_configs)
    spec = do(
        draw(st.sampled_from(DO_NAMES)),
        draw(json_values),
        config=cfg,
        fail_attempts=draw(st.integers(0, 5)),
        error=draw(st.sampled_from(("plain", "plain", "non_retryable"))),
        catch=draw(st.booleans()),
    )
    if hang and draw(st.integers(0, 3)) == 0:
        spec["hang_attempts"] = draw(st.integers(1, 2))
        spec["config"] = {**(cfg or {}), "timeout": draw(st.sampled_from(HANG_TIMEOUTS_MS))}
        # keep hangs rare and short: at most one retry budget worth of real time
        spec["config"].setdefault("retries", {"limit": 2, "delay": 0})
    return spec


sleep_ops = st.builds(sleep, st.sampled_from(SLEEP_NAMES), st.sampled_from(SLEEPS_MS))
wait_ops = st.builds(
    wait, st.sampled_from(WAIT_NAMES), st.sampled_from(EVENT_TYPES), st.sampled_from(TIMEOUTS_MS),
    catch=st.booleans(),
)


def programs(max_steps: int = 6, hang: bool = False, waits: int = 1) -> st.SearchStrategy[dict[str, Any]]:
    """Small programs: at most ``max_steps`` steps; hanging attempts only when ``hang``; ``waits``
    weighs event waits (and sleeps) against ``do`` steps."""
    ops = st.one_of(do_ops(hang=hang), do_ops(hang=hang), *[sleep_ops] * waits, *[wait_ops] * waits)
    return st.lists(ops, min_size=0, max_size=max_steps).map(lambda steps: {"steps": steps})


def _interesting_offsets(program: dict[str, Any]) -> list[int]:
    """Offsets where something may happen if no action intervened (a rough, schedule-free walk)."""
    t = 0
    points = {0}
    for spec in program["steps"]:
        if spec["op"] == "do":
            cfg = spec.get("config") or {}
            retries = cfg.get("retries") or {}
            limit = retries.get("limit", 5)
            delay = retries.get("delay", 10_000)
            backoff = retries.get("backoff", "exponential")
            timeout = cfg.get("timeout", 600_000)
            failing = spec.get("fail_attempts", 0) + spec.get("hang_attempts", 0)
            for n in range(1, min(failing, limit) + 1):
                if n > spec.get("fail_attempts", 0):
                    t += timeout
                    points.add(t)
                t += {"constant": delay, "linear": delay * n}.get(backoff, delay * 2 ** (n - 1))
                points.add(t)
        elif spec["op"] == "sleep":
            t += spec["ms"]
        else:
            t += spec["timeout_ms"] // 2
        points.add(t)
    return sorted(points)


@st.composite
def schedules(draw: Any, program: dict[str, Any], max_actions: int = 6) -> list[dict[str, Any]]:
    """Outside actions for ``program``: events (of the types it waits for, and one it never
    waits for), pause, resume, terminate and restart, at offsets around its interesting times."""
    points = _interesting_offsets(program)
    nearby = st.builds(
        lambda base, shift: max(0, base + shift),
        st.sampled_from(points),
        st.sampled_from((0, 0, 0, -1_000, 1_000, 500)),
    )
    offsets = st.one_of(nearby, st.integers(0, 20).map(lambda s: s * 1_000))
    types = sorted({s["type"] for s in program["steps"] if s["op"] == "wait"}) or list(EVENT_TYPES)
    events = st.builds(
        lambda at, type_, payload: action(at, "event", type_, payload),
        offsets, st.sampled_from([*types, UNUSED_EVENT_TYPE]), json_values,
    )
    lifecycle = st.builds(
        action, offsets, st.sampled_from(("pause", "resume", "pause", "resume", "terminate", "restart"))
    )
    entries = draw(st.lists(st.one_of(events, events, lifecycle), max_size=max_actions))
    return sorted_schedule(entries)
