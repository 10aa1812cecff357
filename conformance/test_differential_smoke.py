"""Fast checks of the differential harness that need neither node nor wrangler.

The observations marked "recorded" were produced by ``wrangler dev`` 4.164.0 (Node 22) running
``conformance/differential/worker.js``; the emulator side is computed here.
"""

from __future__ import annotations

import copy
import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from conformance.differential import __main__ as cli
from conformance.differential.generate import MARGIN_MS, gen_programs, nominal_timeline
from conformance.differential.install import CACHE_ENV, SetupError, load_toolchain, newest_node_22
from conformance.differential.normalise import (
    canon_error,
    compare,
    last_caught,
    local_observation,
    normalise,
    timing_deviation,
)
from conformance.differential.runner import Case, explain, report
from conformance.differential.server import WRANGLER_CONFIG, write_project
from conformance.programs import run_on_emulator

REPO = Path(__file__).resolve().parents[1]

PLAIN_RETRY = {"retries": {"limit": 2, "delay": 200, "backoff": "exponential"}, "timeout": 500}

# recorded: a retried step with a hanging attempt, a sleep, an event wait that gets its event, one
# that times out (caught), a caught NonRetryableError, and a hanging step that fails the instance
RECORDED_PROGRAM = {"steps": [
    {"op": "do", "name": "a", "config": PLAIN_RETRY, "fail_attempts": 1, "error": "plain",
     "hang_attempts": 1, "result": {"x": 1}, "catch": False},
    {"op": "sleep", "name": "s", "ms": 300},
    {"op": "wait", "name": "w", "type": "go", "timeout_ms": 1000, "catch": True},
    {"op": "wait", "name": "w2", "type": "nope", "timeout_ms": 1000, "catch": True},
    {"op": "do", "name": "b", "config": {"retries": {"limit": 1, "delay": 100, "backoff": "constant"}, "timeout": 500},
     "fail_attempts": 1, "error": "non_retryable", "result": 1, "catch": True},
    {"op": "do", "name": "c", "config": {"retries": {"limit": 0, "delay": 100, "backoff": "constant"}, "timeout": 500},
     "fail_attempts": 0, "hang_attempts": 1, "error": "plain", "result": 1, "catch": False},
]}
RECORDED_SCHEDULE = [{"at_ms": 0, "action": "event", "type": "go", "payload": {"p": 1}}]
RECORDED_T0 = 1795693546733
RECORDED_RAW = {
    "status": {
        "status": "errored",
        "__LOCAL_DEV_STEP_OUTPUTS": [{"x": 1}, {"p": 1}],
        "output": None,
        "error": {"message": "WorkflowTimeoutError: Execution timed out after 500ms", "name": "Error"},
    },
    "log": {
        "generation": 0,
        "attempts": [
            {"key": "a#1", "attempt": 1, "t": 1795693546764},
            {"key": "a#1", "attempt": 2, "t": 1795693546985},
            {"key": "a#1", "attempt": 3, "t": 1795693547893},
            {"key": "b#1", "attempt": 1, "t": 1795693549210},
            {"key": "c#1", "attempt": 1, "t": 1795693549226},
        ],
        "caught": [
            {"index": 3, "name": "Error", "message": "WorkflowTimeoutError: Execution timed out after 1000ms", "t": 1795693549200},
            {"index": 4, "name": "Error", "message": "NonRetryableError: fail b 1", "t": 1795693549212},
        ],
    },
}

# recorded: a pause during a caught waitForEvent; LOCAL delivers its internal abort to run()
ABORT_PROGRAM = {"steps": [
    {"op": "wait", "name": "w1", "type": "ship", "timeout_ms": 1500, "catch": True},
    {"op": "do", "name": "b", "config": {"retries": {"limit": 0, "delay": 300, "backoff": "constant"}, "timeout": 1000},
     "fail_attempts": 0, "error": "plain", "result": 0, "catch": False},
]}
ABORT_SCHEDULE = [{"at_ms": 500, "action": "pause"}, {"at_ms": 1300, "action": "resume"}]
ABORT_RAW = {
    "status": {"status": "complete", "output": [{"caught": "Error"}, 0]},
    "log": {"generation": 0, "attempts": [{"key": "b#1", "attempt": 1, "t": 10532}], "caught": [
        {"index": 0, "name": "Error", "message": "Aborting engine: User called pause", "t": 10530},
        {"index": 0, "name": "Error", "message": "WorkflowTimeoutError: Execution timed out after 1500ms", "t": 12300},
    ]},
}


# -- normalisation ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "message", "expected"),
    [
        ("Error", "WorkflowTimeoutError: Execution timed out after 500ms", ("WorkflowTimeoutError", "Execution timed out after 500ms")),
        ("WorkflowTimeoutError", "Execution timed out after 500ms", ("WorkflowTimeoutError", "Execution timed out after 500ms")),
        ("Error", "Execution timed out after 20ms", ("WorkflowTimeoutError", "Execution timed out after 20ms")),
        ("Error", "NonRetryableError: fail b 1", ("NonRetryableError", "fail b 1")),
        ("NonRetryableError", "fail b 1", ("NonRetryableError", "fail b 1")),
        ("ProgramError", "fail a 1", ("Error", "fail a 1")),
        ("StepError", "fail a 1", ("Error", "fail a 1")),
        ("Error", "fail a 1", ("Error", "fail a 1")),
        ("TypeError", "WorkflowTimeoutError: x", ("TypeError", "WorkflowTimeoutError: x")),
        (None, None, ("Error", "")),
    ],
)
def test_canon_error(name, message, expected):
    got = canon_error(name, message)
    assert (got["name"], got["message"]) == expected


def test_running_and_waiting_are_one_status_and_extra_keys_are_ignored():
    local = normalise({"status": "running", "output": None, "error": None, "attempts": {}, "attempt_starts_ms": {}}, {"steps": []})
    emu = normalise({"status": "waiting", "output": None, "error": None, "attempts": {}, "attempt_starts_ms": {}}, {"steps": []})
    assert local == emu
    assert compare(local, emu) == []


def test_recorded_local_observation_agrees_with_the_emulator():
    local = local_observation(RECORDED_RAW, RECORDED_T0)
    assert local["attempts"] == {"a#1": 3, "b#1": 1, "c#1": 1}
    assert local["attempt_starts_ms"]["a#1"] == [31, 252, 1160]
    emu = run_on_emulator(RECORDED_PROGRAM, RECORDED_SCHEDULE)
    assert emu["attempt_starts_ms"] == {"a#1": [0, 200, 1100], "b#1": [2400], "c#1": [2400]}
    nl, ne = normalise(local, RECORDED_PROGRAM), normalise(emu, RECORDED_PROGRAM)
    assert nl["error"] == ne["error"] == {"name": "WorkflowTimeoutError", "message": "Execution timed out after 500ms"}
    assert compare(nl, ne) == []


def test_caught_names_are_recovered_from_the_local_messages():
    program = {"steps": [
        {"op": "wait", "name": "w", "type": "t", "timeout_ms": 1000, "catch": True},
        {"op": "do", "name": "b", "config": PLAIN_RETRY, "fail_attempts": 3, "error": "non_retryable", "result": 1, "catch": True},
        {"op": "do", "name": "c", "config": PLAIN_RETRY, "fail_attempts": 3, "error": "plain", "result": 1, "catch": True},
    ]}
    raw = {"status": {"status": "complete", "output": [{"caught": "Error"}] * 3}, "log": {"attempts": [], "caught": [
        {"index": 0, "name": "Error", "message": "WorkflowTimeoutError: Execution timed out after 1000ms"},
        {"index": 1, "name": "Error", "message": "NonRetryableError: fail b 1"},
        {"index": 2, "name": "Error", "message": "fail c 3"},
    ]}}
    out = normalise(local_observation(raw, 0), program)["output"]
    assert out == [{"caught": "WorkflowTimeoutError"}, {"caught": "NonRetryableError"}, {"caught": "Error"}]
    emu = {"status": "complete", "output": [{"caught": "WorkflowTimeoutError"}, {"caught": "NonRetryableError"},
                                            {"caught": "ProgramError"}], "error": None, "attempts": {}, "attempt_starts_ms": {}}
    assert normalise(emu, program)["output"] == out
    # a result that merely looks like a caught marker on a step without catch is left alone
    plain = {"steps": [{"op": "do", "name": "a", "config": None, "result": {"caught": "Error"}, "catch": False}]}
    assert normalise({**emu, "output": [{"caught": "Error"}]}, plain)["output"] == [{"caught": "Error"}]


def test_last_caught_keeps_the_last_error_per_step():
    assert last_caught(ABORT_RAW["log"]["caught"]) == {
        "0": {"name": "Error", "message": "WorkflowTimeoutError: Execution timed out after 1500ms"}}
    assert last_caught({"1": {"name": "Error", "message": "x"}}) == {"1": {"name": "Error", "message": "x"}}


# -- comparison ---------------------------------------------------------------------------------


def _obs(**changes):
    base = {"status": "complete", "output": [1, None], "error": None, "attempts": {"a#1": 2},
            "attempt_starts_ms": {"a#1": [0, 500]}}
    base.update(changes)
    return normalise(base, {"steps": []})


def test_compare_reports_each_field():
    base = _obs()
    assert compare(base, _obs()) == []
    assert [d.field for d in compare(base, _obs(status="errored", error={"name": "Error", "message": "x"}))] == ["status", "error"]
    assert [d.field for d in compare(base, _obs(output=[1, 2]))] == ["output"]
    diffs = compare(base, _obs(attempts={"a#1": 3}, attempt_starts_ms={"a#1": [0, 500, 900]}))
    assert [(d.field, d.signature) for d in diffs] == [("attempts", "attempts: local has fewer")]


def test_timing_tolerance_is_per_gap():
    emu = {"a#1": [0, 500], "b#1": [2500]}
    assert timing_deviation({"a#1": [300, 850], "b#1": [2950]}, emu) is None  # overheads accumulate
    assert timing_deviation({"a#1": [550, 1050], "b#1": [3050]}, emu) is None  # slow start
    assert timing_deviation({"a#1": [0, 1000], "b#1": [3000]}, emu) == 500  # a retry 500 ms late
    assert timing_deviation({"a#1": [0, 300], "b#1": [2300]}, emu) == -200  # a timer fired early
    assert timing_deviation({"a#1": [0]}, {"a#1": [0, 5]}) == float("inf")
    late = compare(_obs(attempt_starts_ms={"a#1": [0, 1500]}), _obs())
    assert [d.field for d in late] == ["attempt_starts_ms"] and "longer" in late[0].signature


def test_the_recorded_pause_abort_quirk_is_classified():
    local = local_observation(ABORT_RAW, 10000)
    emu = run_on_emulator(ABORT_PROGRAM, ABORT_SCHEDULE)
    assert emu["attempt_starts_ms"] == {"b#1": [2300]}  # the wait's timeout moved by the pause
    case = Case(0, ABORT_PROGRAM, ABORT_SCHEDULE, local_raw=ABORT_RAW, local=local, emulator=emu)
    case.diffs = compare(normalise(local, ABORT_PROGRAM), normalise(emu, ABORT_PROGRAM))
    assert [d.field for d in case.diffs] == ["attempt_starts_ms"]
    assert "reaches run() as a catchable Error" in explain(case, case.diffs[0])
    out = io.StringIO()
    assert report([case], 1.0, stream=out) == 0  # explained, so not a failure
    text = out.getvalue()
    assert "1 programs, 1 compared, 0 agree" in text and "example #0" in text


def test_report_counts_unexplained_disagreements():
    program = {"steps": [{"op": "do", "name": "a", "config": None, "fail_attempts": 0, "error": "plain", "result": 1, "catch": False}]}
    good = Case(0, program, [], local=_obs(), emulator=_obs())
    bad = Case(1, program, [], local=_obs(), emulator=_obs(status="errored"))
    for c in (good, bad):
        c.diffs = compare(c.local, c.emulator)
    out = io.StringIO()
    assert report([good, bad], 2.0, stream=out) == 1
    assert "possible emulator bug" in out.getvalue()
    assert re.search(r"status\s+1\s+1", out.getvalue())


# -- generation ---------------------------------------------------------------------------------


def test_generation_is_seeded_and_real_time_safe():
    first = gen_programs(80, seed=3)
    assert first == gen_programs(80, seed=3)
    assert first != gen_programs(80, seed=4)
    for program, schedule in first:
        for op in program["steps"]:
            if op["op"] == "do":
                if op["config"] is None:  # defaults differ between LOCAL and production
                    assert op["fail_attempts"] == 0 and op.get("hang_attempts", 0) == 0
                else:
                    assert op["config"]["retries"]["limit"] <= 2
                    assert 0 <= op["config"]["retries"]["delay"] <= 1500
                    assert 0 < op["config"]["timeout"] <= 1500
            elif op["op"] == "sleep":
                assert 0 <= op["ms"] <= 1500
            else:
                assert 1000 <= op["timeout_ms"] <= 1500 and re.fullmatch(r"[a-zA-Z0-9_][a-zA-Z0-9-_]*", op["type"])
        assert all(a["at_ms"] == 0 for a in schedule if a["action"] == "event")
        assert schedule == sorted(schedule, key=lambda a: a["at_ms"])


def test_lifecycle_actions_fall_inside_idle_stretches():
    for program, schedule in gen_programs(200, seed=11):
        events: dict[str, int] = {}
        for a in schedule:
            if a["action"] == "event":
                events[a["type"]] = events.get(a["type"], 0) + 1
        first = next((a for a in schedule if a["action"] != "event"), None)
        if first is None:
            continue
        tl = nominal_timeline(program, events)
        assert any(iv.start + MARGIN_MS <= first["at_ms"] <= iv.end - MARGIN_MS for iv in tl.intervals)


def test_generated_programs_run_on_the_emulator():
    for program, schedule in gen_programs(15, seed=5):
        obs = run_on_emulator(copy.deepcopy(program), copy.deepcopy(schedule))
        assert obs["status"] in ("complete", "errored", "terminated", "paused")
        json.dumps(obs)


# -- setup and CLI --------------------------------------------------------------------------------


def test_newest_node_22():
    assert newest_node_22(["20.1.0", "22.2.0", "22.10.1", "22.9.9", "23.0.0", "22.11.0-rc.1"]) == "22.10.1"
    with pytest.raises(SetupError):
        newest_node_22(["20.1.0"])


def test_run_without_setup_says_what_to_do(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "nothing-here"))
    with pytest.raises(SetupError, match="--setup"):
        load_toolchain()
    assert cli.main(["--run", "3"]) == 2
    err = capsys.readouterr().err
    assert "not set up" in err and "python -m conformance.differential --setup" in err


def test_run_without_setup_as_a_module(tmp_path):
    env = {**os.environ, CACHE_ENV: str(tmp_path / "empty")}
    proc = subprocess.run([sys.executable, "-m", "conformance.differential", "--run", "2"],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert "--setup" in proc.stderr and proc.stdout == ""


def test_the_generated_project(tmp_path):
    project = write_project(tmp_path)
    config = json.loads("\n".join(line for line in WRANGLER_CONFIG.splitlines() if not line.strip().startswith("//")))
    assert config["workflows"] == [{"name": "interp", "binding": "WF", "class_name": "Interp"}]
    assert (project / "wrangler.jsonc").read_text() == WRANGLER_CONFIG
    js = (project / "src" / "index.js").read_text()
    assert "class Interp extends WorkflowEntrypoint" in js and "NonRetryableError" in js


def test_an_action_during_a_hanging_attempt_on_the_emulator_is_flagged():
    from conformance.differential.runner import emulator_runner

    program = {"steps": [{"op": "do", "name": "a", "config": {"retries": {"limit": 0, "delay": 0}, "timeout": 300},
                          "fail_attempts": 0, "hang_attempts": 1, "error": "plain", "result": 1, "catch": False}]}
    schedule = [{"at_ms": 150, "action": "terminate"}]
    trace: list = []
    emu = emulator_runner()(program, schedule, trace=trace)
    # handmade LOCAL side, as wrangler dev reports it: terminated while the attempt hangs
    local = {"status": "terminated", "output": None, "error": None, "attempts": {"a#1": 1},
             "attempt_starts_ms": {"a#1": [40]}}
    case = Case(0, program, schedule, local=local, emulator=emu)
    if trace and trace[0] is not None:
        case.notes.append(f"emulator terminate@150ms raised {trace[0]}")
    case.diffs = compare(normalise(local, program), normalise(emu, program))
    if not case.diffs:  # the emulator applied the action in time: nothing to flag
        assert emu["status"] == "terminated"
        return
    assert "advance" in explain(case, case.diffs[0])
    assert report([case], 1.0, stream=io.StringIO()) == 1


def test_report_from_a_saved_run(tmp_path, capsys):
    saved = [{"index": 0, "program": RECORDED_PROGRAM, "schedule": RECORDED_SCHEDULE,
              "local": local_observation(RECORDED_RAW, RECORDED_T0),
              "emulator": run_on_emulator(RECORDED_PROGRAM, RECORDED_SCHEDULE), "notes": []}]
    path = tmp_path / "run.json"
    path.write_text(json.dumps(saved))
    assert cli.main(["--report", str(path)]) == 0
    assert "1 programs, 1 compared, 1 agree on every field" in capsys.readouterr().out
