"""Bad input to every public entry point.

The only acceptable outcomes are the documented error types — ``WorkflowError``, ``ConfigError``
(``StoreError`` and ``StateLockedError`` are ConfigErrors), ``TypeError``, ``ValueError``, and
inside ``run`` an ``errored`` instance (``WorkflowFatalError``, ``TypeError``, ``ValueError``,
...) — or success when the value happens to be valid. Never another exception type, a hang, or a
corrupted state: after each bad call, the instances around it still complete normally, and their
``status()``/``describe()`` still read.
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import tempfile
from datetime import datetime, timedelta
import warnings
from typing import Any, Awaitable, Callable

import pytest
from hypothesis import example, given, settings, strategies as st

from cfwf_emulator import (
    ConfigError,
    Emulator,
    Limits,
    NonRetryableError,
    VirtualClock,
    WorkflowEntrypoint,
    WorkflowError,
)
from cfwf_emulator.testing import (
    IntrospectionError,
    StepSelector,
    introspect_workflow,
    introspect_workflow_instance,
)
from conformance.programs import (
    BINDING,
    START_MS,
    WORKFLOW,
    InterpreterWorkflow,
    do,
    examples,
    program,
    sleep,
    wait,
)

API_ERRORS = (WorkflowError, ConfigError, TypeError, ValueError)
RUN_ERRORS = {
    "WorkflowFatalError", "TypeError", "ValueError", "WorkflowTimeoutError", "NonRetryableError",
    "NonRetryableDelayError", "Error", "ProgramError", "WorkflowInternalError",
}
REAL_TIMEOUT_S = 20.0
FUZZ = "conformance-fuzz"
FUZZ_BINDING = "FUZZ"
CANARY = program(sleep("s", 1_000), do("a", 1, fail_attempts=1), wait("w", "e1", 30 * 86_400_000))
CANARY_OUTPUT = [None, 1, "ok"]
STORAGES = ["memory", "sqlite"]
FUZZ_EXAMPLES = examples(0.5, minimum=10)


# -- bad values -----------------------------------------------------------------------------------


class Opaque:
    """A class instance nothing can serialise."""

    def __repr__(self) -> str:
        return "Opaque()"


class Shouty(Exception):
    """A user exception with a non-str-friendly payload."""


def _deep(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = [value]
    return value


def _circular() -> Any:
    value: list[Any] = []
    value.append(value)
    return value


#: Values with an unprintable repr are named in examples and built in the test (hypothesis
#: prints failing examples, and a 5000-deep list takes it forever to pretty-print).
SENTINELS: dict[str, Callable[[], Any]] = {
    "<deep>": lambda: _deep(5_000),
    "<circular>": _circular,
    "<huge-str>": lambda: "x" * (1 << 20),
}


def has_surrogate(value: Any) -> bool:
    """Whether a str anywhere in ``value`` (dict keys included) has a lone surrogate."""
    stack, seen = [value], set()
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if any("\ud800" <= ch <= "\udfff" for ch in item):
                return True
        elif isinstance(item, (dict, list, tuple, set, frozenset)) and id(item) not in seen:
            seen.add(id(item))
            stack.extend(item.items() if isinstance(item, dict) else item)
    return False


def real(value: Any) -> Any:
    """The value a sentinel names, or the value itself."""
    if isinstance(value, str) and value in SENTINELS:
        return SENTINELS[value]()
    return value


SPECIAL_STRINGS = [
    "", " ", "a", "-a", "_a", "a" * 100, "a" * 101, "a" * 257, "a.b", "a b", "a\n", "\n", "a\x00",
    "é", "\ud800", "\U0001f600", "10 seconds", "10 secs", "1 hr", "-5 seconds", "Infinity seconds",
    "1e400 seconds", "NaN", "0", "0 seconds", "1.5 hours", "366 days", "1 year", "5seconds",
    " 5 seconds", "10 SECONDS", "sqlite:", "sqlite://", "paid", "free", "real", "virtual",
    "always", "2026-02-30", "2026-01-01", "0000-00-00", "constant", "exponential",
]
SPECIAL_VALUES = [
    None, True, False, 0, -1, 1, 10**30, -(10**30), 0.5, -0.5, float("nan"), float("inf"),
    float("-inf"), b"bytes", bytearray(b"x"), (1, 2), {1, 2}, frozenset(), object(), Opaque(),
    Opaque, lambda: 1, print, ValueError("v"), Shouty, datetime(2026, 1, 1), timedelta(seconds=5),
    timedelta(days=-1), [], {}, {"": 1}, {1: 2}, {(1, 2): 3}, [None], {"a": Opaque()},
    {"retries": {"limit": 1}}, {"retries": {"limit": -1, "delay": 0}}, {"timeout": 0},
    {"retries": {"limit": 1, "delay": "1 second", "backoff": "quadratic"}},
    {"retries": {"limit": float("inf"), "delay": 0}}, {"sensitive": True}, {"extra": 1},
    _deep(50), StepSelector("a"), {"name": "a", "index": 0}, {"name": "a", "index": -1},
    {"name": 1}, {"type": "e1"}, {"type": 5, "payload": 1}, {"from": {"name": "a"}},
    {"from": {"name": "nope", "count": 1, "type": "do"}}, {"from": None}, {"rollback": False},
]
_leaves = st.one_of(
    st.sampled_from(SPECIAL_VALUES),
    st.sampled_from(SPECIAL_STRINGS),
    st.integers(),
    st.floats(),
    st.text(max_size=20),
    st.binary(max_size=5),
    st.datetimes(),
    st.timedeltas(),
)
anything = st.recursive(
    _leaves,
    lambda children: st.lists(children, max_size=3)
    | st.dictionaries(st.one_of(st.text(max_size=5), st.integers(), st.sampled_from(["id", "params", "type", "payload", "name", "index", "from", "retries", "timeout", "limit", "delay", "count"])), children, max_size=3)
    | st.tuples(children),
    max_leaves=6,
)


# -- harness --------------------------------------------------------------------------------------


class FuzzWorkflow(WorkflowEntrypoint):
    """Calls one step API with a bad value taken from ``BAD[instance id]`` (the ``do_name``,
    ``do_config`` and ``do_callback`` kinds use the call form: see :data:`CALL_FORM_KINDS`)."""

    BAD: dict[str, tuple[str, Any]] = {}

    async def run(self, event: Any, step: Any) -> Any:
        kind, value = self.BAD.get(event["instanceId"], ("run_result", None))
        if kind == "do_name":
            return await step.do(value, lambda: 1)
        if kind == "do_config":
            return await step.do("x", value, lambda: 1)
        if kind == "do_callback":
            return await step.do("x", value)
        if kind == "decorator_name":
            @step.do(value)
            async def named() -> int:
                return 1

            return await named()
        if kind == "decorator_config":
            @step.do("x", config=value)
            async def configured() -> int:
                return 1

            return await configured()
        if kind == "do_result":
            @step.do("x", config={"retries": {"limit": 0, "delay": 0}})
            def result() -> Any:
                return value

            return await result()
        if kind == "do_raise":
            @step.do("x", config={"retries": {"limit": 1, "delay": 0}})
            def boom() -> None:
                raise value if isinstance(value, BaseException) else Shouty(value)

            return await boom()
        if kind == "delay_function":
            @step.do("x", config={"retries": {"limit": 1, "delay": lambda _: value}})
            def fail() -> None:
                raise Shouty("again")

            return await fail()
        if kind == "sleep_duration":
            await step.sleep("s", value)
        elif kind == "sleep_name":
            await step.sleep(value, 1_000)
        elif kind == "sleep_until":
            await step.sleep_until("s", value)
        elif kind == "wait_timeout":
            await step.wait_for_event("w", "e1", timeout=value)
        elif kind == "wait_type":
            await step.wait_for_event("w", value, timeout=1_000)
        elif kind == "wait_name":
            await step.wait_for_event(value, "e1", timeout=1_000)
        elif kind == "run_result":
            return value
        else:  # pragma: no cover - a typo in this test
            raise AssertionError(kind)
        return "done"


def _storage(kind: str, tmp: str) -> str:
    if kind == "memory":
        return "memory"
    return f"sqlite:///{os.path.join(tmp, 'fuzz.db')}?synchronous=NORMAL"


def _emulator(storage: str, tmp: str, **options: Any) -> Emulator:
    emu = Emulator(clock=VirtualClock(START_MS, autojump=False), storage=_storage(storage, tmp), **options)
    emu.add_workflow(WORKFLOW, InterpreterWorkflow, binding=BINDING)
    emu.add_workflow(FUZZ, FuzzWorkflow, binding=FUZZ_BINDING)
    return emu


async def _bounded(awaitable: Awaitable[Any]) -> Any:
    """No bad call may hang: each gets REAL_TIMEOUT_S of real time."""
    return await asyncio.wait_for(awaitable, REAL_TIMEOUT_S)


async def expect_only(allowed: tuple[type[BaseException], ...], call: Callable[[], Awaitable[Any]]) -> Any:
    """Run ``call``; an exception outside ``allowed`` fails the test, as does a hang."""
    try:
        return await _bounded(call())
    except allowed as exc:
        assert isinstance(str(exc), str)
        return exc


#: Emulators whose "canary-before" already got its event (see :func:`settle`).
_FED: set[int] = set()


async def settle(emu: Emulator) -> None:
    """``run_until_idle`` without letting the canary's event wait time out: feed it first."""
    if id(emu) not in _FED:
        _FED.add(id(emu))
        if emu._engine.exists(WORKFLOW, "canary-before"):
            await (await emu.env[BINDING].get("canary-before")).send_event(type="e1", payload="ok")
    await _bounded(emu.run_until_idle())


async def canaries_complete(emu: Emulator, ids: tuple[str, ...] = ("canary-before",)) -> None:
    """The canaries created around the bad call all complete normally."""
    binding = emu.env[BINDING]
    after = await binding.create(id="canary-after", params={"program": CANARY})
    await _bounded(emu.advance(0))
    instances = [await binding.get(i) for i in ids] + [after]
    for instance in instances:
        if instance is after or id(emu) not in _FED:
            await instance.send_event(type="e1", payload="ok")
    _FED.discard(id(emu))
    await _bounded(emu.run_until_idle())
    for instance in instances:
        assert await instance.status() == {"status": "complete", "output": CANARY_OUTPUT}, instance.id
        described = await instance.describe()
        assert [s["type"] for s in described["steps"]] == ["sleep", "step", "waitForEvent"]


def around(storage: str, bad: Callable[[Emulator], Awaitable[None]], **options: Any) -> None:
    """Start an emulator with one canary, make the bad call, then check the canaries."""

    async def main(tmp: str) -> None:
        emu = _emulator(storage, tmp, **options)
        async with emu:
            await emu.env[BINDING].create(id="canary-before", params={"program": CANARY})
            await _bounded(emu.advance(0))
            await bad(emu)
            await canaries_complete(emu)

    with tempfile.TemporaryDirectory(prefix="cfwf-fuzz-") as tmp:
        asyncio.run(main(tmp))


# -- Emulator options -----------------------------------------------------------------------------

EMULATOR_OPTIONS = [
    "clock", "storage", "limits", "compatibility_date", "compatibility_flags", "vars",
    "freeze_user_time", "on_locked", "hibernate", "step_call_form",
]
STORAGE_SPECS = [
    "sqlite:", "sqlite://", "sqlite:///", "sqlite:///{tmp}/x.db?synchronous=weird",
    "sqlite:///{tmp}/x.db?foo=1", "sqlite:///{tmp}/missing/dir/x.db", "sqlite:///{tmp}",
    "sqlite:///{tmp}/garbage.db", "sqlite:///{tmp}/x.db?synchronous=normal", "memory", "MEMORY",
    "postgres://x",
]


@settings(max_examples=FUZZ_EXAMPLES)
@given(
    option=st.sampled_from(EMULATOR_OPTIONS + ["unknown_option"]),
    value=st.one_of(anything, st.sampled_from(STORAGE_SPECS), st.just(VirtualClock(START_MS)), st.just(Limits(steps=2))),
)
@example(option="vars", value=[1, 2])
@example(option="vars", value="abc")
@example(option="compatibility_flags", value=5)
@example(option="storage", value="sqlite:///{tmp}/garbage.db")
@example(option="hibernate", value=float("nan"))
def test_emulator_options(option: str, value: Any) -> None:
    async def main(tmp: str) -> None:
        if isinstance(value, str) and "{tmp}" in value:
            with open(os.path.join(tmp, "garbage.db"), "wb") as handle:
                handle.write(b"not a database at all" * 100)
        options = {option: value.replace("{tmp}", tmp) if isinstance(value, str) else value}
        if option != "clock":
            options["clock"] = VirtualClock(START_MS, autojump=False)
        if option == "storage" and isinstance(value, str) and value.startswith("sqlite:") and "{tmp}" not in value:
            return  # relative paths would create files in the working directory

        async def build() -> Emulator:
            return Emulator(**options)

        emu = await expect_only(API_ERRORS, build)
        if not isinstance(emu, Emulator):
            return
        emu.add_workflow(WORKFLOW, InterpreterWorkflow, binding=BINDING)
        started = await expect_only(API_ERRORS, emu.start)
        if isinstance(started, BaseException):
            return
        try:
            if getattr(emu.clock, "virtual", False):
                await emu.env[BINDING].create(id="canary-before", params={"program": CANARY})
                await _bounded(emu.advance(0))
                await canaries_complete(emu)
        finally:
            await emu.aclose()

    with tempfile.TemporaryDirectory(prefix="cfwf-fuzz-") as tmp:
        asyncio.run(main(tmp))


# -- add_workflow ---------------------------------------------------------------------------------

WORKFLOW_NAMES = ["", "a" * 64, "a" * 65, "-x", "x y", "ok-name", WORKFLOW, FUZZ]


@settings(max_examples=FUZZ_EXAMPLES)
@given(
    name=st.one_of(anything, st.sampled_from(WORKFLOW_NAMES)),
    cls=st.one_of(st.just(InterpreterWorkflow), anything),
    binding=st.one_of(st.none(), st.sampled_from([BINDING, "OTHER", "not an identifier", "1X", ""]), anything),
    step_limit=st.one_of(st.none(), anything),
    compatibility_date=st.one_of(st.none(), anything),
    compatibility_flags=st.one_of(st.none(), anything),
)
def test_add_workflow(name: Any, cls: Any, binding: Any, step_limit: Any, compatibility_date: Any, compatibility_flags: Any) -> None:
    async def bad(emu: Emulator) -> None:
        async def call() -> Any:
            return emu.add_workflow(
                name, cls, binding=binding, step_limit=step_limit,
                compatibility_date=compatibility_date, compatibility_flags=compatibility_flags,
            )

        await expect_only(API_ERRORS, call)

    around("memory", bad)


# -- bindings: create, create_batch, get ----------------------------------------------------------

ID_VALUES = st.one_of(st.sampled_from(SPECIAL_STRINGS), st.sampled_from(["canary-before", "fresh-1"]), anything)


@settings(max_examples=FUZZ_EXAMPLES)
@given(storage=st.sampled_from(STORAGES), instance_id=ID_VALUES, params=anything, as_dict=st.booleans())
@example(storage="sqlite", instance_id="fresh-1", params={"x": "\ud800"}, as_dict=False)
@example(storage="sqlite", instance_id="fresh-1", params="<deep>", as_dict=False)
@example(storage="memory", instance_id="fresh-1", params="<circular>", as_dict=False)
def test_create(storage: str, instance_id: Any, params: Any, as_dict: bool) -> None:
    params = real(params)
    async def bad(emu: Emulator) -> None:
        binding = emu.env[FUZZ_BINDING]
        FuzzWorkflow.BAD[instance_id if isinstance(instance_id, str) else ""] = ("run_result", None)

        async def call() -> Any:
            if as_dict:
                return await binding.create({"id": instance_id, "params": params})
            return await binding.create(id=instance_id, params=params)

        created = await expect_only(API_ERRORS, call)
        if not isinstance(created, BaseException):
            await settle(emu)
            assert (await created.status())["status"] == "complete"
            await created.describe()

    around(storage, bad)


@settings(max_examples=FUZZ_EXAMPLES)
@given(options=anything)
def test_create_with_bad_options(options: Any) -> None:
    async def bad(emu: Emulator) -> None:
        FuzzWorkflow.BAD[""] = ("run_result", None)

        async def call() -> Any:
            return await emu.env[FUZZ_BINDING].create(options)

        created = await expect_only(API_ERRORS, call)
        if not isinstance(created, BaseException):
            FuzzWorkflow.BAD[created.id] = ("run_result", None)
            await settle(emu)
            assert (await created.status())["status"] in ("complete", "errored")

    around("memory", bad)


@settings(max_examples=FUZZ_EXAMPLES)
@given(
    storage=st.sampled_from(STORAGES),
    batch=st.one_of(
        anything,
        st.lists(st.one_of(anything, st.fixed_dictionaries({"id": ID_VALUES}, optional={"params": anything})), max_size=4),
        st.just([{"id": f"b{i}"} for i in range(101)]),
    ),
)
def test_create_batch(storage: str, batch: Any) -> None:
    async def bad(emu: Emulator) -> None:
        binding = emu.env[FUZZ_BINDING]

        async def call() -> Any:
            for item in batch if isinstance(batch, list) else ():
                item_id = item.get("id") if isinstance(item, dict) else None
                FuzzWorkflow.BAD[item_id if isinstance(item_id, str) else ""] = ("run_result", None)
            return await binding.create_batch(batch)

        created = await expect_only(API_ERRORS, call)
        if isinstance(created, BaseException):
            return
        assert len({i.id for i in created}) == len(created), "create_batch returned an id twice"
        for instance in created:
            FuzzWorkflow.BAD.setdefault(instance.id, ("run_result", None))
        await settle(emu)
        for instance in created:
            assert (await instance.status())["status"] in ("complete", "errored")

    around(storage, bad)


@settings(max_examples=FUZZ_EXAMPLES)
@given(instance_id=ID_VALUES)
def test_get(instance_id: Any) -> None:
    async def bad(emu: Emulator) -> None:
        async def call() -> Any:
            return await emu.env[BINDING].get(instance_id)

        got = await expect_only((WorkflowError,), call)
        if not isinstance(got, BaseException):
            assert instance_id == "canary-before"
            await got.status()

    around("memory", bad)


# -- instance methods -----------------------------------------------------------------------------


@settings(max_examples=FUZZ_EXAMPLES)
@given(
    storage=st.sampled_from(STORAGES),
    event_type=st.one_of(st.sampled_from(["e1", "e2", "-e", "e.1", "a" * 101, "\ud800"]), anything),
    payload=anything,
    shape=st.sampled_from(["kwargs", "dict", "raw"]),
)
@example(storage="sqlite", event_type="e2", payload="\ud800", shape="kwargs")
@example(storage="memory", event_type="e2", payload={"\ud800": 1}, shape="kwargs")
@example(storage="memory", event_type="e2", payload="<circular>", shape="kwargs")
@example(storage="memory", event_type="e2", payload="<huge-str>", shape="kwargs")
def test_send_event(storage: str, event_type: Any, payload: Any, shape: str) -> None:
    payload = real(payload)
    async def bad(emu: Emulator) -> None:
        target = await emu.env[BINDING].create(id="target", params={"program": CANARY})
        await _bounded(emu.advance(0))

        async def call() -> Any:
            if shape == "kwargs":
                return await target.send_event(type=event_type, payload=payload)
            if shape == "dict":
                return await target.send_event({"type": event_type, "payload": payload})
            return await target.send_event(payload)

        outcome = await expect_only(API_ERRORS, call)
        await settle(emu)
        status = await target.status()
        assert status["status"] in ("complete", "errored"), status
        if outcome is None and shape == "kwargs" and event_type == "e1":
            assert status["status"] == "complete"
            try:
                expected = json.dumps(payload)
            except (TypeError, ValueError):  # datetimes cross too, but not as plain JSON
                expected = None
            if expected is not None:
                assert json.dumps(status["output"][-1]) == expected, status
        await target.describe()

    around(storage, bad)


LIFECYCLE = ["pause", "resume", "terminate", "restart", "status", "describe", "delete"]


@settings(max_examples=FUZZ_EXAMPLES)
@given(storage=st.sampled_from(STORAGES), method=st.sampled_from(LIFECYCLE), options=anything)
@example(storage="memory", method="restart", options={"from": {"name": "a", "count": 1, "type": "do"}})
@example(storage="memory", method="restart", options={"from": {"name": "a", "count": 2, "type": "do"}})
@example(storage="memory", method="terminate", options={"rollback": True})
def test_lifecycle_options(storage: str, method: str, options: Any) -> None:
    """Lifecycle methods given an options argument (only terminate and restart take one)."""

    async def bad(emu: Emulator) -> None:
        victim = await emu.env[BINDING].create(id="victim", params={"program": CANARY})
        await _bounded(emu.advance(0))

        async def call() -> Any:
            return await getattr(victim, method)(options)

        outcome = await expect_only(API_ERRORS, call)
        await _bounded(emu.advance(0))
        if method == "delete" and not isinstance(outcome, BaseException):
            return
        status = await victim.status()
        assert status["status"] in ("waiting", "running", "paused", "terminated", "complete", "errored"), status
        await victim.describe()

    around(storage, bad)


# -- step APIs inside run -------------------------------------------------------------------------

STEP_KINDS = [
    "do_name", "do_config", "do_callback", "decorator_name", "decorator_config", "do_result",
    "do_raise", "delay_function", "sleep_duration", "sleep_name", "sleep_until", "wait_timeout",
    "wait_type", "wait_name", "run_result",
]
#: Kinds that fuzz the arguments of the call form ``step.do(name, [config], callback)``: their
#: emulator opts in to it (``step_call_form=True``); the decorator kinds fuzz the default.
CALL_FORM_KINDS = ("do_name", "do_config", "do_callback")


@settings(max_examples=examples(1.5, minimum=20))
@given(storage=st.sampled_from(STORAGES), kind=st.sampled_from(STEP_KINDS), value=anything)
@example(storage="sqlite", kind="do_name", value="\ud800")
@example(storage="sqlite", kind="do_result", value="\ud800")
@example(storage="sqlite", kind="run_result", value={"\ud800": 1})
@example(storage="memory", kind="do_result", value="<circular>")
@example(storage="memory", kind="run_result", value="<deep>")
@example(storage="memory", kind="do_raise", value=NonRetryableError("x", "CustomName"))
@example(storage="memory", kind="do_raise", value=asyncio.CancelledError())
@example(storage="memory", kind="sleep_duration", value=365 * 86_400_000)
@example(storage="memory", kind="wait_timeout", value="365 days")
@example(storage="memory", kind="sleep_until", value=datetime(2000, 1, 1))
@example(storage="memory", kind="delay_function", value="-1 seconds")
@example(storage="memory", kind="delay_function", value=9.2e21)
@example(storage="memory", kind="do_config", value={"retries": {"limit": 1, "delay": "9000 years"}})
def test_step_apis_in_run(storage: str, kind: str, value: Any) -> None:
    value = real(value)
    async def bad(emu: Emulator) -> None:
        FuzzWorkflow.BAD["fuzzed"] = (kind, value)
        instance = await emu.env[FUZZ_BINDING].create(id="fuzzed")
        await settle(emu)
        status = await instance.status()
        assert status["status"] in ("complete", "errored"), status
        if status["status"] == "errored":
            error = status["error"]
            allowed = set(RUN_ERRORS)
            if kind == "do_raise":  # the raised class keeps its name (API.md §1)
                allowed |= {type(value).__name__, str(getattr(value, "name", "")), "Shouty"}
            if kind == "delay_function":
                allowed.add("Shouty")
            assert error["name"] in allowed, error
            assert isinstance(error["message"], str)
        await instance.describe()

    try:
        around(storage, bad, step_call_form=kind in CALL_FORM_KINDS)
    finally:
        FuzzWorkflow.BAD.pop("fuzzed", None)


# -- the testing API ------------------------------------------------------------------------------

MODIFIERS = [
    "disable_sleeps", "disable_retry_delays", "mock_step_result", "mock_step_error",
    "force_step_timeout", "mock_event", "force_event_timeout",
]
SELECTORS = st.one_of(
    st.sampled_from(["a", "s", "w", "", {"name": "a", "index": 2}, {"name": "a"}, StepSelector("w")]),
    anything,
)


@settings(max_examples=FUZZ_EXAMPLES)
@given(
    storage=st.sampled_from(STORAGES),
    method=st.sampled_from(MODIFIERS),
    selector=SELECTORS,
    value=anything,
    times=st.one_of(st.none(), st.integers(-2, 3), anything),
    before_create=st.booleans(),
)
def test_modifiers(storage: str, method: str, selector: Any, value: Any, times: Any, before_create: bool) -> None:
    """Modifier calls with bad selectors and values; the modified instance still ends sanely."""

    async def bad(emu: Emulator) -> None:
        binding = emu.env[BINDING]
        introspector = introspect_workflow_instance(binding, "modified")

        def modify(m: Any) -> Any:
            fn = getattr(m, method)
            if method in ("disable_sleeps", "disable_retry_delays"):
                return fn(selector if not isinstance(selector, str) else [selector])
            if method == "mock_step_result":
                return fn(selector, value)
            if method == "mock_step_error":
                return fn(selector, value, times)
            if method == "force_step_timeout":
                return fn(selector, times)
            if method == "mock_event":
                return fn(value)
            return fn(selector)

        async def call() -> Any:
            return await introspector.modify(modify)

        async with introspector:
            if before_create:
                await expect_only(API_ERRORS, call)
            instance = await binding.create(id="modified", params={"program": CANARY})
            await _bounded(emu.advance(0))
            if not before_create:
                await expect_only(API_ERRORS, call)
            if (await instance.status())["status"] not in ("complete", "errored", "terminated"):
                await instance.send_event(type="e1", payload="ok")
            await settle(emu)
            status = await instance.status()
            assert status["status"] in ("complete", "errored"), status
            await instance.describe()

    around(storage, bad)


@settings(max_examples=FUZZ_EXAMPLES)
@given(
    method=st.sampled_from(["wait_for_status", "wait_for_step_result", "introspect", "introspect_workflow", "modify_all"]),
    value=st.one_of(st.sampled_from(["complete", "unknown", "waiting", "nope", "a"]), SELECTORS),
    timeout=st.one_of(st.none(), st.sampled_from([0, -1, 0.001, 5]), anything),
)
def test_introspection_entry_points(method: str, value: Any, timeout: Any) -> None:
    """Introspectors and waiters with bad arguments; waiters never hang."""
    allowed = API_ERRORS + (IntrospectionError,)

    async def bad(emu: Emulator) -> None:
        binding = emu.env[BINDING]

        async def call() -> Any:
            if method == "introspect":
                async with introspect_workflow_instance(binding, value):
                    return None
            if method == "introspect_workflow":
                async with introspect_workflow(value):
                    return None
            if method == "modify_all":
                async with introspect_workflow(binding) as captured:
                    await captured.modify_all(lambda m: m.mock_step_result(value, 1))
                    created = await binding.create(id="captured-1", params={"program": CANARY})
                    await created.send_event(type="e1", payload="ok")
                    await settle(emu)
                    return None
            async with introspect_workflow_instance(binding, "canary-before") as introspector:
                waiter = getattr(introspector, method)
                # the canary waits for an event: waiting on it alone can never finish
                return await waiter(value, timeout=timeout)

        await expect_only(allowed, call)

    async def main(tmp: str) -> None:
        emu = _emulator("memory", tmp)
        async with emu:
            await emu.env[BINDING].create(id="canary-before", params={"program": CANARY})
            await _bounded(emu.advance(0))
            await bad(emu)
            # the introspector disposed of the canary (and with it its id); start afresh
            if not emu._engine.exists(WORKFLOW, "canary-before"):
                await emu.env[BINDING].create(id="canary-before", params={"program": CANARY})
                await _bounded(emu.advance(0))
            await canaries_complete(emu)

    with tempfile.TemporaryDirectory(prefix="cfwf-fuzz-") as tmp, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        asyncio.run(main(tmp))
        gc.collect()
    leaks = [str(w.message) for w in caught if "never awaited" in str(w.message)]
    assert not leaks, leaks


@pytest.mark.parametrize("storage", STORAGES)
def test_canaries_alone(storage: str) -> None:
    """The harness itself: with no bad call, the canaries complete."""

    async def nothing(emu: Emulator) -> None:
        return None

    around(storage, nothing)
