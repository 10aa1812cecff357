"""The parent side: run the worker, SIGKILL it at seeded-random points, restart it on the same
state file until the instance completes, and check the run against an uninterrupted one.

Kill plans (one per worker process, chosen by a seeded ``random.Random``):

- ``timed``: a uniform delay of 0-300 ms after the worker's ``boot`` line (lands anywhere: in
  recovery, replay, steps, retry delays, sleeps, waits, sends);
- ``phase``: wait for the next marker of a randomly chosen phase, then kill at a uniform offset
  inside it: a callback's ``start`` line (0-12 ms: inside the callback), its ``end``/``fail``
  line (0-1.5 ms: between the journal write and the engine's commit or the next step), a
  ``done`` trace line (0-1 ms: a step's result was just journaled, the next has not begun), a
  ``retry`` / ``sleep`` trace line (anywhere before its absolute deadline), a ``wait`` line
  (0-45 ms: inside the event wait), a ``send n begin`` line (0-2 ms: around ``send_event``);
- ``write``: the worker kills itself right before or after its N-th commit
  (N uniform in 1-14): exactly between two durable states.

After every kill the state file is read raw (a copy) and the kill is classified by the durable
state it left: ``in-step`` (an attempt in flight: ``before-callback``, ``in-callback`` or
``after-callback``), ``retry-delay``, ``sleep``, ``sleep-until``, ``event-wait``,
``between-steps``, ``before-create`` or ``after-complete``, plus ``+buffered`` when an event sat
in the instance's buffer. The campaign runs trials until it has at least ``min_kills`` kills
and every kind in ``REQUIRED_COVERAGE``; trials after the first steer most of their plans at the
phases of the kinds still missing.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from . import journal
from .state import InstanceView, read_instance
from .workflow import (
    BASE_ATTEMPTS,
    DO_STEPS,
    EVENT_TIMEOUT_MS,
    INSTANCE_ID,
    NAP_MS,
    PAST_TARGET,
    WORKFLOW,
    retry_delay_ms,
)

REPO = Path(__file__).resolve().parents[2]
TERMINAL = ("complete", "errored", "terminated")
SEGMENT_TIMEOUT_S = 20.0
MAX_SEGMENTS_PER_TRIAL = 40
POLL_S = 0.0005
INTERNAL = {"name": "WorkflowInternalError", "message": "Attempt failed due to internal workflows error"}
REQUIRED_COVERAGE = ("in-step", "retry-delay", "sleep", "sleep-until", "event-wait", "between-steps")


class HarnessFailure(AssertionError):
    """A check failed; the message says which, with the seed and the trial directory."""


# -- kill plans ---------------------------------------------------------------------------------

@dataclass
class Plan:
    mode: str  # timed | phase | write
    phase: str = ""
    delay_s: float = 0.0  # timed
    fraction: float = 0.0  # phase: where in the phase window
    write: int = 0
    when: str = "after"

    def worker_args(self) -> list[str]:
        if self.mode == "write":
            return ["--kill-at-write", str(self.write), "--kill-when", self.when]
        return []

    def __str__(self) -> str:
        if self.mode == "timed":
            return f"timed +{self.delay_s * 1000:.0f}ms"
        if self.mode == "phase":
            return f"phase {self.phase} @{self.fraction:.2f}"
        return f"write {self.when} #{self.write}"


PHASES = ("attempt", "callback-end", "retry", "sleep", "wait", "send", "boundary")


#: the phase a kill must be aimed at to land in each kill point kind
STEER = {"in-step": "attempt", "retry-delay": "retry", "sleep": "sleep", "sleep-until": "sleep",
         "event-wait": "wait", "between-steps": "boundary"}


def choose_plan(rng: random.Random, wanted: tuple[str, ...] = ()) -> Plan:
    """A random plan; with ``wanted`` kill point kinds, most plans aim at their phases."""
    if wanted and rng.random() < 0.6:
        return Plan("phase", phase=rng.choice(sorted({STEER[c] for c in wanted})), fraction=rng.random())
    mode = rng.choices(("timed", "phase", "write"), weights=(25, 50, 25))[0]
    if mode == "timed":
        return Plan("timed", delay_s=rng.uniform(0.0, 0.3))
    if mode == "phase":
        return Plan("phase", phase=rng.choice(PHASES), fraction=rng.random())
    return Plan("write", write=rng.randint(1, 14), when=rng.choice(("before", "after")))


def phase_offset_s(plan: Plan, source: str, line: str) -> float | None:
    """Seconds from now to the kill if ``line`` (from ``source``) opens the plan's phase."""
    parts = line.split()
    if plan.phase == "attempt" and source == "journal" and parts[-1] == "start" and parts[0] not in journal.SPECIAL:
        return plan.fraction * 0.012
    if plan.phase == "callback-end" and source == "journal" and parts[-1] in ("end", "fail") and parts[0] not in journal.SPECIAL:
        return plan.fraction * 0.0015
    if plan.phase == "send" and source == "journal" and parts[0] == "send" and parts[2] == "begin":
        return plan.fraction * 0.002
    if plan.phase == "boundary" and source == "trace" and parts[0] == "done":
        return plan.fraction * 0.001
    if plan.phase == "wait" and source == "trace" and parts[0] == "wait":
        return plan.fraction * 0.045
    if (plan.phase, parts[0]) in (("retry", "retry"), ("sleep", "sleep")) and source == "trace":
        remaining = float(parts[-1]) / 1000 - time.time()
        return plan.fraction * max(0.0, remaining)
    return None


# -- one worker process ---------------------------------------------------------------------------

class Tail:
    """Complete lines appended to a file since the last call."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = path.stat().st_size if path.exists() else 0
        self.partial = b""

    def new_lines(self) -> list[str]:
        try:
            with open(self.path, "rb") as handle:
                handle.seek(self.offset)
                data = handle.read()
        except FileNotFoundError:
            return []
        self.offset += len(data)
        data = self.partial + data
        *lines, self.partial = data.split(b"\n")
        return [line.decode() for line in lines if line]


@dataclass
class Segment:
    index: int
    plan: Plan | None
    returncode: int
    lines: list[str]
    log: Path
    parent_kill: bool = False
    snapshot: InstanceView | None = None
    category: str = ""
    elapsed_s: float = 0.0

    @property
    def killed(self) -> bool:
        return self.returncode == -signal.SIGKILL


def run_segment(index: int, db: Path, journal_path: Path, plan: Plan | None, log: Path) -> Segment:
    """Start a worker; kill it per ``plan`` (or let it finish); return what it did."""
    journal_tail = Tail(journal_path)
    trace_tail = Tail(Path(str(journal_path) + ".trace"))
    lines: list[str] = []
    started = time.monotonic()
    kill_at: float | None = None
    parent_kill = False
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "tests.crash.worker", str(db), str(journal_path), *(plan.worker_args() if plan else [])],
            cwd=REPO, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )
        try:
            while proc.poll() is None:
                now = time.monotonic()
                if now - started > SEGMENT_TIMEOUT_S:
                    raise HarnessFailure(f"worker {proc.pid} made no end within {SEGMENT_TIMEOUT_S:.0f} s (stalled)")
                fresh = [("journal", line) for line in journal_tail.new_lines()]
                fresh += [("trace", line) for line in trace_tail.new_lines()]
                lines += [line for source, line in fresh if source == "journal"]
                if plan is not None and plan.mode != "write" and kill_at is None:
                    for source, line in fresh:
                        if plan.mode == "timed" and line.startswith("boot "):
                            kill_at = now + plan.delay_s
                        elif plan.mode == "phase" and any(l.startswith("boot ") for l in lines):
                            offset = phase_offset_s(plan, source, line)
                            if offset is not None:
                                kill_at = now + offset
                        if kill_at is not None:
                            break
                if kill_at is not None and time.monotonic() >= kill_at:
                    os.kill(proc.pid, signal.SIGKILL)
                    parent_kill = True
                    break
                time.sleep(POLL_S)
        finally:
            if proc.poll() is None and not parent_kill:
                os.kill(proc.pid, signal.SIGKILL)
            returncode = proc.wait()
    lines += journal_tail.new_lines()
    return Segment(index, plan, returncode, lines, log, parent_kill, elapsed_s=time.monotonic() - started)


# -- classification ---------------------------------------------------------------------------------

def classify(view: InstanceView | None, lines: list[str]) -> str:
    """What the durable state says the process was doing when it died."""
    if view is None:
        return "before-create"
    if view.header["status"] in TERMINAL:
        return "after-complete"
    suffix = "+buffered" if view.header.get("events") else ""
    steps = view.ordered()
    last = steps[-1] if steps else None
    if last is None or last["state"] in ("ok", "error"):
        return "between-steps" + suffix
    if last["kind"] == "do":
        attempts = last["attempts"]
        if attempts and attempts[-1]["end"] is None:
            number = len(attempts)
            seen = [
                p.what for p in map(journal.parse_step_line, lines)
                if p is not None and p.step == last["name"] and p.attempt == number
            ]
            where = "before-callback" if not seen else ("in-callback" if seen[-1] == "start" else "after-callback")
            return f"in-step:{where}" + suffix
        return "retry-delay" + suffix
    if last["kind"] == "sleep":
        return ("sleep" if last["name"] == "nap" else "sleep-until") + suffix
    return "event-wait" + suffix


def main_category(category: str) -> str:
    return category.split(":")[0].split("+")[0]


# -- a trial: one instance, killed until it completes --------------------------------------------

@dataclass
class Trial:
    index: int
    directory: Path
    segments: list[Segment] = field(default_factory=list)
    result: dict[str, Any] | None = None
    final: InstanceView | None = None

    @property
    def db(self) -> Path:
        return self.directory / "state.db"

    @property
    def journal(self) -> Path:
        return self.directory / "journal.txt"

    @property
    def kills(self) -> list[Segment]:
        return [s for s in self.segments if s.killed]

    def describe_kills(self) -> str:
        return "\n".join(
            f"  process {s.index}: {s.plan} -> killed in {s.category}"
            + ("" if s.killed else f" (not killed, rc={s.returncode})")
            for s in self.segments
        )


def run_trial(index: int, directory: Path, next_plan: Callable[[], Plan | None], max_kills: int) -> Trial:
    directory.mkdir(parents=True, exist_ok=True)
    trial = Trial(index, directory)
    while True:
        if len(trial.segments) >= MAX_SEGMENTS_PER_TRIAL:
            raise HarnessFailure(f"trial {index}: no completion after {MAX_SEGMENTS_PER_TRIAL} processes")
        plan = next_plan() if len(trial.kills) < max_kills else None
        number = len(trial.segments)
        segment = run_segment(number, trial.db, trial.journal, plan, directory / f"worker-{number}.log")
        trial.segments.append(segment)
        if segment.killed:
            segment.snapshot = read_instance(trial.db, WORKFLOW, INSTANCE_ID)
            segment.category = classify(segment.snapshot, segment.lines)
            continue
        if segment.returncode != 0:
            raise HarnessFailure(
                f"trial {index}: worker {number} exited with {segment.returncode}:\n{segment.log.read_text()[-3000:]}"
            )
        break
    trial.result = json.loads(Path(str(trial.journal) + ".result").read_text())
    trial.final = read_instance(trial.db, WORKFLOW, INSTANCE_ID)
    return trial


# -- checks ------------------------------------------------------------------------------------------

def check_trial(trial: Trial, reference_output: Any) -> list[str]:
    """Every invariant of a crash-interrupted run; returns notes, raises HarnessFailure."""
    notes: list[str] = []

    def fail(message: str) -> None:
        raise HarnessFailure(f"trial {trial.index}: {message}\nkills:\n{trial.describe_kills()}")

    assert trial.result is not None
    status = trial.result["status"]
    if status["status"] != "complete":
        fail(f"instance ended {status}")
    if status["output"] != reference_output:
        fail(f"output differs from the uninterrupted run:\n  got      {status['output']}\n  expected {reference_output}")
    final = trial.final
    if final is None or final.header["status"] != "complete":
        fail("the state file does not hold a complete instance")
    assert final is not None

    lines = journal.read_lines(trial.journal)
    segs = journal.segments(lines)
    if len(segs) != len(trial.segments):
        fail(f"{len(trial.segments)} processes but {len(segs)} boot lines in the journal")
    for seg, segment in zip(segs, trial.segments):
        if seg != segment.lines:
            fail(f"process {segment.index}: journal lines seen by the parent differ from the file")

    killed = [s for s in trial.segments if s.killed]
    in_flight_at_kill: set[tuple[str, int]] = set()  # (step, attempt index) in flight when killed
    for s in killed:
        view = s.snapshot
        for step in (view.ordered() if view else []):
            if step["kind"] == "do" and step["attempts"] and step["attempts"][-1]["end"] is None:
                in_flight_at_kill.add((step["name"], len(step["attempts"]) - 1))

    for name in DO_STEPS:
        key = ("do", name, 1)
        parsed = [[p for p in map(journal.parse_step_line, s.lines) if p is not None and p.step == name] for s in trial.segments]
        starts = sum(1 for seg in parsed for p in seg if p.what == "start")
        ends = sum(1 for seg in parsed for p in seg if p.what == "end")
        ok_after = [s.snapshot is not None and key in s.snapshot.ok() for s in trial.segments]
        # an interrupted execution: a kill while the callback ran, or after it returned but
        # before the engine journaled its result
        interrupted = [
            s.killed and bool(parsed[i]) and (parsed[i][-1].what == "start" or (parsed[i][-1].what == "end" and not ok_after[i]))
            for i, s in enumerate(trial.segments)
        ]
        uncommitted_ends = sum(
            1 for i, s in enumerate(trial.segments) if s.killed and not ok_after[i] and any(p.what == "end" for p in parsed[i])
        )
        if ends != 1 + uncommitted_ends:
            fail(f'step "{name}" completed {ends} times; expected once, plus {uncommitted_ends} for kills '
                 "between its callback's return and the journaling of its result")
        first_ok = next((i for i, s in enumerate(trial.segments) if s.killed and ok_after[i]), None)
        if first_ok is not None and any(parsed[j] for j in range(first_ok + 1, len(trial.segments))):
            fail(f'step "{name}" executed again after its result was journaled (in process {first_ok})')
        allowance = BASE_ATTEMPTS[name] + sum(interrupted)
        if starts > allowance:
            fail(f'step "{name}" executed {starts} times; at most {BASE_ATTEMPTS[name]} plus one per kill '
                 f"that interrupted it ({sum(interrupted)}) is allowed")
        journaled = final.step("do", name)
        if journaled is None or journaled["state"] != "ok":
            fail(f'step "{name}" is not journaled as ok: '
                 + ("missing" if journaled is None else f'state {journaled["state"]}, {len(journaled["attempts"])} attempts'))
        assert journaled is not None
        attempts = journaled["attempts"]
        if len(attempts) < starts:
            fail(f'step "{name}": {starts} callback starts but only {len(attempts)} attempts journaled')
        for i, attempt in enumerate(attempts):
            last = i == len(attempts) - 1
            if last != bool(attempt["success"]):
                fail(f'step "{name}" attempt {i + 1}: success={attempt["success"]} (only the last may succeed)')
            internal = attempt["error"] is not None and {k: attempt["error"][k] for k in ("name", "message")} == INTERNAL
            if internal != ((name, i) in in_flight_at_kill):
                fail(f'step "{name}" attempt {i + 1}: error {attempt["error"]}, but in flight at a kill: '
                     f"{(name, i) in in_flight_at_kill}")
            if not last and not internal and "fails on purpose" not in attempt["error"]["message"]:
                fail(f'step "{name}" attempt {i + 1} failed unexpectedly: {attempt["error"]}')
            if not last:
                due = attempt["end"] + retry_delay_ms(name, i + 1)
                if attempts[i + 1]["start"] < due:
                    fail(f'step "{name}": attempt {i + 2} started {due - attempts[i + 1]["start"]:.1f} ms before its retry delay ended')
    # every kill interrupts at most one execution (the workflow is sequential), and a step's
    # callback never starts before the result of every earlier step is durable
    for i, s in enumerate(trial.segments):
        if not s.killed:
            continue
        assert s.snapshot is not None or not any(map(journal.parse_step_line, s.lines))
        started = [p.step for p in filter(None, map(journal.parse_step_line, s.lines)) if p.what == "start"]
        if started:
            latest = max(DO_STEPS.index(name) for name in started)
            ok = s.snapshot.ok() if s.snapshot is not None else set()
            early = [name for name in DO_STEPS[:latest] if ("do", name, 1) not in ok]
            if early:
                fail(f"process {i}: step {DO_STEPS[latest]!r} ran while {early} had no durable result")
        open_steps = set()
        for p in filter(None, map(journal.parse_step_line, s.lines)):
            if p.what == "start":
                open_steps.add(p.step)
            else:
                open_steps.discard(p.step)
        if len(open_steps) > 1:
            fail(f"process {i} died with several callbacks running: {open_steps}")

    # timers keep their absolute deadlines: every snapshot shows the deadline set at creation
    target = json.loads(final.step("do", "pick-deadline")["result"])  # type: ignore[index]
    for s in killed:
        for step in (s.snapshot.ordered() if s.snapshot else []):
            if step["state"] != "waiting":
                continue
            expected = {"nap": step["start_ms"] + NAP_MS, "until": target}.get(step["name"], step["start_ms"] + EVENT_TIMEOUT_MS)
            if abs(step["deadline_ms"] - expected) > 0.5:
                fail(f'process {s.index}: {step["kind"]} "{step["name"]}" has deadline {step["deadline_ms"]}, expected {expected}')
    nap = final.step("sleep", "nap")
    # start_ms is read a few microseconds after the deadline was computed: allow 0.5 ms
    if nap is None or nap["state"] != "ok" or nap["end_ms"] < nap["start_ms"] + NAP_MS - 0.5:
        fail(f"sleep nap ended early or not at all: {nap}")
    assert nap is not None
    until = final.step("sleep", "until")
    if until is None:
        # allowed only if a kill fell between journaling the target and starting the sleep
        gap = any(
            s.snapshot is not None and ("do", "pick-deadline", 1) in s.snapshot.ok()
            and s.snapshot.step("sleep", "until") is None for s in killed
        )
        if not gap:
            fail(f"sleep_until never ran ({PAST_TARGET} without a kill before it)")
        notes.append("sleep_until target passed during a restart (tolerated past-target error)")
    elif until["state"] != "ok" or until["end_ms"] < target:
        fail(f"sleep_until ended before its target {target}: {until}")

    ns = final.event_ns()
    if ns != {"buffered": [], "consumed": [1, 2]}:
        fail(f"events lost or duplicated: consumed {ns['consumed']}, still buffered {ns['buffered']} (expected [1, 2], [])")
    sends = journal.send_state(lines)
    if sends.done != {1, 2}:
        fail(f"the journal does not record both sends as done: {sorted(sends.done)}")
    return notes


# -- the campaign --------------------------------------------------------------------------------

@dataclass
class Campaign:
    seed: int
    trials: list[Trial] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    elapsed_s: float = 0.0

    @property
    def kills(self) -> list[Segment]:
        return [s for t in self.trials for s in t.kills]

    def coverage(self) -> Counter[str]:
        return Counter(main_category(s.category) for s in self.kills)

    def summary(self) -> str:
        detailed = Counter(s.category for s in self.kills)
        plans = Counter(s.plan.mode for s in self.kills if s.plan)
        buffered = sum(1 for s in self.kills if "+buffered" in s.category)
        return (
            f"seed {self.seed}: {len(self.trials)} trials, {len(self.kills)} kills "
            f"({', '.join(f'{k} {v}' for k, v in sorted(plans.items()))}; {buffered} with an event buffered), "
            f"{sum(len(t.segments) for t in self.trials)} processes, {self.elapsed_s:.1f} s\n"
            f"  kill points: {', '.join(f'{k} {v}' for k, v in sorted(detailed.items()))}"
            + "".join(f"\n  note: {n}" for n in self.notes)
        )


def run_campaign(
    seed: int,
    directory: Path,
    reference_output: Any,
    *,
    min_kills: int = 24,
    min_trials: int = 3,
    max_kills_per_trial: int = 10,
    budget_s: float = 35.0,
) -> Campaign:
    """Trials until ``min_kills`` kills over ``min_trials`` trials have covered every kill point
    kind in ``REQUIRED_COVERAGE`` (or the time budget is spent); every trial is checked."""
    rng = random.Random(seed)
    campaign = Campaign(seed)
    started = time.monotonic()
    while True:
        coverage = campaign.coverage()
        enough = (
            len(campaign.kills) >= min_kills
            and len(campaign.trials) >= min_trials
            and all(coverage[c] for c in REQUIRED_COVERAGE)
        )
        if enough or (campaign.trials and time.monotonic() - started > budget_s):
            break
        trial_rng = random.Random(rng.getrandbits(64))
        # after the first trial, steer towards kill point kinds not covered yet
        wanted = tuple(c for c in REQUIRED_COVERAGE if not coverage[c]) if campaign.trials else ()
        trial = run_trial(
            len(campaign.trials), directory / f"trial-{len(campaign.trials)}",
            lambda: choose_plan(trial_rng, wanted), max_kills_per_trial,
        )
        campaign.trials.append(trial)
        campaign.notes += [f"trial {trial.index}: {n}" for n in check_trial(trial, reference_output)]
    campaign.elapsed_s = time.monotonic() - started
    return campaign


def run_reference(directory: Path) -> Trial:
    """The uninterrupted run every crash-interrupted run must match."""
    return run_trial(0, directory, lambda: None, 0)
