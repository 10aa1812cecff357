"""Crash recovery of the durable store: SIGKILL a worker process at random points and restart it
on the same state file until its instance completes (see ``tests/crash/``).

The kill plans come from a seeded random; set ``CFWF_CRASH_SEED`` to replay a seed's plans (kill
times are real time, so the exact kill points may differ slightly from run to run).
"""

from __future__ import annotations

import os
import random
import sys
from pathlib import Path
from typing import Any

import pytest

REPO = str(Path(__file__).resolve().parents[1])
if REPO not in sys.path:  # plain `pytest` puts tests/ on sys.path, not the repository root
    sys.path.insert(0, REPO)

from tests.crash import harness, journal  # noqa: E402
from tests.crash.workflow import BASE_ATTEMPTS, DO_STEPS  # noqa: E402

MIN_KILLS = 24


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> harness.Trial:
    return harness.run_reference(tmp_path_factory.mktemp("crash-reference"))


def test_uninterrupted_run_is_the_reference(reference: harness.Trial) -> None:
    assert reference.result is not None
    status = reference.result["status"]
    assert status["status"] == "complete", status
    assert status["output"]["events"] == [{"n": 1}, {"n": 2}]
    assert len(reference.segments) == 1 and not reference.kills
    notes = harness.check_trial(reference, status["output"])
    assert notes == []
    lines = journal.read_lines(reference.journal)
    for name in DO_STEPS:
        steps = [p for p in map(journal.parse_step_line, lines) if p is not None and p.step == name]
        assert sum(p.what == "start" for p in steps) == BASE_ATTEMPTS[name], (name, steps)
        assert sum(p.what == "end" for p in steps) == 1, (name, steps)


def test_sigkill_at_random_points_recovers_exactly(reference: harness.Trial, tmp_path: Path) -> None:
    assert reference.result is not None
    expected: Any = reference.result["status"]["output"]
    seed = int(os.environ.get("CFWF_CRASH_SEED") or random.SystemRandom().randrange(2**32))
    try:
        campaign = harness.run_campaign(seed, tmp_path, expected, min_kills=MIN_KILLS)
    except harness.HarnessFailure as exc:
        pytest.fail(f"crash seed {seed} (rerun with CFWF_CRASH_SEED={seed}); state in {tmp_path}\n{exc}", pytrace=False)
    print(campaign.summary())
    context = f"crash seed {seed} (rerun with CFWF_CRASH_SEED={seed})\n{campaign.summary()}"
    assert len(campaign.kills) >= 20, context
    coverage = campaign.coverage()
    missing = [c for c in harness.REQUIRED_COVERAGE if not coverage[c]]
    assert not missing, f"no kill landed in {missing}; {context}"
