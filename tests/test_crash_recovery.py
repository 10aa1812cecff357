"""Crash recovery of the durable store: SIGKILL a worker process at random points (also inside
observer hooks, D1 batches and KV puts) and restart it on the same state file until its instance
completes (see ``tests/crash/``).

The kill plans come from a seeded random; set ``CFWF_CRASH_SEED`` to replay a seed's plans (kill
times are real time, so the exact kill points may differ slightly from run to run). This is the
quick ``ci`` profile; ``python -m tests.crash.harness --profile deep`` runs at least 200 kills.
"""

from __future__ import annotations

import os
import random
import sys
from pathlib import Path

import pytest

REPO = str(Path(__file__).resolve().parents[1])
if REPO not in sys.path:  # plain `pytest` puts tests/ on sys.path, not the repository root
    sys.path.insert(0, REPO)

from tests.crash import harness, journal  # noqa: E402
from tests.crash.workflow import BASE_ATTEMPTS, D1_STEPS, DO_STEPS, KV_STEPS  # noqa: E402


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> harness.Trial:
    return harness.run_reference(tmp_path_factory.mktemp("crash-reference"))


def test_uninterrupted_run_is_the_reference(reference: harness.Trial) -> None:
    assert reference.result is not None
    status = reference.result["status"]
    assert status["status"] == "complete", status
    assert status["output"]["events"] == [{"n": 1}, {"n": 2}]
    assert len(reference.segments) == 1 and not reference.kills
    notes = harness.check_trial(reference, reference.result)
    assert notes == []
    lines = journal.read_lines(reference.journal)
    for name in DO_STEPS:
        steps = [p for p in map(journal.parse_step_line, lines) if p is not None and p.step == name]
        assert sum(p.what == "start" for p in steps) == BASE_ATTEMPTS[name], (name, steps)
        assert sum(p.what == "end" for p in steps) == 1, (name, steps)
    # every attempt wrote to D1 and KV once, failing attempts too
    assert sorted(reference.result["ledger"]) == sorted(
        [name, attempt, D1_STEPS[name]] for name in D1_STEPS for attempt in range(1, BASE_ATTEMPTS[name] + 1)
    )
    kv = reference.result["kv"]
    assert sorted(kv) == sorted(
        [f"result:{name}" for name in KV_STEPS]
        + [f"attempt:{name}:{attempt}" for name in KV_STEPS for attempt in range(1, BASE_ATTEMPTS[name] + 1)]
    )
    assert kv["result:init"] == {"attempt": 1, "value": 21}
    # the recorder observer heard every step, sleep and wait once
    announced = [line.split()[1:3] for line in lines if line.startswith("obs ") and line.endswith(" begin")]
    assert announced.count(["step_end", "finalize"]) == 1
    assert ["sleep_end", "nap"] in announced and ["wait_end", "wait-b"] in announced
    assert ["status", "complete"] in announced


def test_sigkill_at_random_points_recovers_exactly(reference: harness.Trial, tmp_path: Path) -> None:
    assert reference.result is not None
    seed = int(os.environ.get("CFWF_CRASH_SEED") or random.SystemRandom().randrange(2**32))
    try:
        campaign = harness.run_campaign(seed, tmp_path, reference.result, **harness.PROFILES["ci"])
    except harness.HarnessFailure as exc:
        pytest.fail(f"crash seed {seed} (rerun with CFWF_CRASH_SEED={seed}); state in {tmp_path}\n{exc}", pytrace=False)
    print(campaign.summary())
    context = f"crash seed {seed} (rerun with CFWF_CRASH_SEED={seed})\n{campaign.summary()}"
    assert len(campaign.kills) >= 20, context
    missing = campaign.missing()
    assert not missing, f"no kill landed in {missing}; {context}"


@pytest.mark.parametrize(
    ("hook", "name"), [("step_end", "init"), ("step_attempt", "flaky"), ("wait_end", "wait-a")]
)
def test_a_kill_inside_an_observer_undoes_nothing_it_was_told(
    reference: harness.Trial, tmp_path: Path, hook: str, name: str
) -> None:
    """Observers hear of a step's end, a failed attempt or a received event only once it is
    durable: a process killed inside the hook resumes past it (the step is not run again) and the
    observer is not told twice."""
    assert reference.result is not None
    plans = iter([harness.kill_inside_observer(reference, hook, name)])
    trial = harness.run_trial(0, tmp_path, lambda: next(plans, None), 1)
    assert [s.site for s in trial.kills] == [f"in-observer:{hook}"], trial.describe_kills()
    problems = ""
    try:
        harness.check_trial(trial, reference.result)
    except harness.HarnessFailure as exc:
        problems = str(exc)
    assert not problems, problems
