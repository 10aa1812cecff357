"""Replay determinism: a program run normally and with ``Emulator(hibernate="always")`` (the
instance is evicted and replayed from the top after every step) gives the same observation and
the same ``describe()`` journal, on the memory and the SQLite store."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from hypothesis import given, settings, strategies as st

from conformance.programs import (
    EXECUTIONS,
    RUNS,
    INSTANCE_ID,
    action,
    config,
    do,
    examples,
    observe,
    program,
    programs,
    schedules,
    sleep,
    wait,
)


def run_both(prog: dict[str, Any], schedule: list[dict[str, Any]], storage: str) -> None:
    async def main() -> None:
        results = []
        runs: list[int] = []
        for hibernate in (None, "always"):
            described: list[Any] = []
            trace: list[Any] = []
            log: list[dict[str, Any]] = []
            EXECUTIONS[INSTANCE_ID] = log
            RUNS.pop(INSTANCE_ID, None)
            try:
                observed = await observe(
                    prog, schedule, storage=storage, hibernate=hibernate, trace=trace, describe=described
                )
            finally:
                EXECUTIONS.pop(INSTANCE_ID, None)
            results.append((observed, described[0], trace, log))
            runs.append(RUNS.pop(INSTANCE_ID, 0))
        (normal, normal_journal, normal_trace, normal_log), (replayed, replayed_journal, replayed_trace, replayed_log) = results
        context = f"\nprogram={prog!r}\nschedule={schedule!r}"
        assert replayed == normal, context
        assert replayed_journal == normal_journal, context
        assert replayed_trace == normal_trace, context
        # replay never calls a callback again: the same attempts ran, in the same order
        assert replayed_log == normal_log, context
        # and hibernate="always" really replayed: at least one more run() per finished step
        finished_steps = sum(1 for step in normal_journal["steps"] if step["end"] is not None)
        assert runs[1] >= runs[0] + finished_steps, (runs, finished_steps, context)

    asyncio.run(main())


@st.composite
def cases(draw: Any) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    prog = draw(programs())
    return prog, draw(schedules(prog))


@pytest.mark.parametrize("storage", ["memory", "sqlite"])
def test_replay_of_a_full_program(storage: str) -> None:
    prog = program(
        do("a", {"k": [1, 2]}, config=config(2, 1000, "constant"), fail_attempts=1),
        sleep("s", 5000),
        do("a", 2, fail_attempts=1, error="non_retryable", catch=True),
        wait("w", "e1", 10_000),
        wait("v", "e2", 10_000, catch=True),
        do("b", None),
    )
    schedule = [action(2000, "event", "e1", "p"), action(3000, "pause"), action(9000, "resume")]
    run_both(prog, schedule, storage)


@settings(max_examples=examples(1))
@given(cases())
def test_replay_determinism_memory(case: tuple[dict[str, Any], list[dict[str, Any]]]) -> None:
    run_both(*case, "memory")


@settings(max_examples=examples(0.3))
@given(cases())
def test_replay_determinism_sqlite(case: tuple[dict[str, Any], list[dict[str, Any]]]) -> None:
    run_both(*case, "sqlite")
