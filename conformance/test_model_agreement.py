"""Generated programs and schedules: the emulator (memory and SQLite stores) agrees with the
reference model on status, output, error, per-step attempt counts and attempt start offsets, and
on which outside actions are refused."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import assume, example, given, settings, strategies as st

from conformance.model import predict
from conformance.programs import (
    action,
    config,
    do,
    examples,
    program,
    programs,
    run_on_emulator,
    schedules,
    sleep,
    wait,
)


def check(program_: dict[str, Any], schedule: list[dict[str, Any]], storage: str) -> None:
    model_trace: list[Any] = []
    expected, collided = predict(program_, schedule, model_trace)
    if collided:  # an action inside a hanging attempt's real-time window: not modelled
        assume(False)
    emu_trace: list[Any] = []
    observed = run_on_emulator(program_, schedule, storage=storage, trace=emu_trace)
    assert observed == expected, f"\nprogram={program_!r}\nschedule={schedule!r}"
    assert emu_trace == model_trace, "outside actions were refused differently"


@st.composite
def cases(draw: Any, hang: bool = False) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    prog = draw(programs(hang=hang))
    return prog, draw(schedules(prog))


# Hand-written cases that must always run (the spec's headline rules).
HEADLINE = [
    # limit + 1 attempts, linear backoff; then a default-config step failing once (10 s exponential)
    (program(do("a", 1, config=config(2, 1000, "linear"), fail_attempts=2), do("b", 2, fail_attempts=1)), []),
    # retries exhausted -> errored with the original class name and message
    (program(do("a", 1, config=config(1, 2000, "exponential"), fail_attempts=5)), []),
    # NonRetryableError stops at once; uncaught it keeps its name and message
    (program(do("a", 1, fail_attempts=1, error="non_retryable")), []),
    # events buffered before the wait, FIFO per type; a timed-out wait does not take a later event
    (program(sleep("s", 5000), wait("w", "e1", 1000, catch=True), wait("v", "e1", 60_000), wait("w", "e1", 60_000)),
     [action(1000, "event", "e1", 1), action(7000, "event", "e1", 2)]),
    # pause during a sleep shifts the remaining time
    (program(sleep("s", 10_000), do("a", "x")), [action(4000, "pause"), action(64_000, "resume")]),
    # terminate -> terminated, no error; restart -> from scratch with the same params
    (program(sleep("s", 10_000), do("a", "x")), [action(1000, "terminate"), action(2000, "restart")]),
    # an event to a finished instance is refused
    (program(do("a", 1)), [action(1000, "event", "e1", None), action(1000, "terminate")]),
]


@pytest.mark.parametrize("storage", ["memory", "sqlite"])
@pytest.mark.parametrize("case", range(len(HEADLINE)))
def test_headline_cases(case: int, storage: str) -> None:
    prog, schedule = HEADLINE[case]
    check(prog, schedule, storage)


@settings(max_examples=examples(2))
@given(cases())
def test_model_agreement_memory(case: tuple[dict[str, Any], list[dict[str, Any]]]) -> None:
    check(*case, "memory")


@settings(max_examples=examples(0.75))
@given(cases())
def test_model_agreement_sqlite(case: tuple[dict[str, Any], list[dict[str, Any]]]) -> None:
    check(*case, "sqlite")


@settings(max_examples=examples(0.25, minimum=3))
@given(cases(hang=True))
@example((program(do("a", 7, config={"retries": {"limit": 2, "delay": 0}, "timeout": 20}, hang_attempts=2)), []))
@example((program(do("a", 7, config={"retries": {"limit": 1, "delay": 0}, "timeout": 20}, hang_attempts=2, catch=True)), []))
def test_model_agreement_hanging_attempts(case: tuple[dict[str, Any], list[dict[str, Any]]]) -> None:
    """Attempts that never return time out after their (tiny, real-time) step timeout."""
    check(*case, "memory")
