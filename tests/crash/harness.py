"""The parent side: run the worker, SIGKILL it at seeded-random points, restart it on the same
state file until the instance completes, and check the run against an uninterrupted one.

Run it from the command line for a longer campaign than CI's::

    python -m tests.crash.harness --profile deep            # at least 200 kills
    python -m tests.crash.harness --kills 500 --seed 7 --dir /tmp/crash

Kill plans (one per worker process, chosen by a seeded ``random.Random``):

- ``timed``: a uniform delay of 0-300 ms after the worker's ``boot`` line (lands anywhere: in
  recovery, replay, steps, retry delays, sleeps, waits, sends);
- ``phase``: wait for the next marker of a randomly chosen phase, then kill at a uniform offset
  inside it: a callback's ``start`` line (0-12 ms: inside the callback), its ``end``/``fail``
  line (0-1.5 ms: between the journal write and the engine's commit or the next step), a
  ``done`` trace line (0-1 ms: a step's end was just announced, the next has not begun), a
  ``retry`` / ``sleep`` trace line (anywhere before its absolute deadline), a ``wait`` line
  (0-45 ms: inside the event wait), a ``send n begin`` line (0-2 ms: around ``send_event``), an
  ``obs ... begin`` line (inside an observer's hook call), a ``d1``/``kv ... begin`` line (inside
  a step's D1 batch or KV puts);
- ``write``: the worker kills itself right before or after its N-th commit
  (N uniform in 1-14): exactly between two durable states;
- ``site``: the worker kills itself inside its N-th observer hook call, D1 statement or KV put
  (see :mod:`tests.crash.worker`).

After every kill the state file is read raw (a copy) and the kill is classified by the durable
state it left: ``in-step`` (an attempt in flight: ``before-callback``, ``in-callback`` or
``after-callback``), ``retry-delay``, ``sleep``, ``sleep-until``, ``event-wait``,
``between-steps``, ``before-create`` or ``after-complete``, plus ``+buffered`` when an event sat
in the instance's buffer; and by the call the journal shows it interrupted, if any:
``in-observer:<hook>``, ``in-d1-write`` or ``in-kv-put``. The campaign runs trials until it has
at least ``min_kills`` kills and every kind in ``REQUIRED_COVERAGE``; trials after the first
steer most of their plans at the kinds still missing.

The checks (:func:`check_trial`): the output equals the uninterrupted run's; completed steps never
run again and every step ran at most once per kill that interrupted it; attempt errors, retry
delays and timer deadlines are as configured; both events were delivered exactly once; every fact
announced to an observer was durable when the process died, and none is announced twice (so a
step whose end an observer saw never runs again); D1 and KV hold exactly the effects of the
executions the journal shows (at least once for a completed step, never twice for one execution,
each D1 batch whole or absent, every write that returned still there).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, NoReturn

from . import journal
from .state import InstanceView, read_instance
from .worker import OBSERVER_BUSY_MS
from .workflow import (
    BASE_ATTEMPTS,
    D1_STEPS,
    DO_STEPS,
    EVENT_TIMEOUT_MS,
    INSTANCE_ID,
    KV_STEPS,
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
REQUIRED_COVERAGE = (
    "in-step", "retry-delay", "sleep", "sleep-until", "event-wait", "between-steps",
    "in-observer", "in-d1-write", "in-kv-put",
)
SITE_KINDS = {"obs": "in-observer", "d1": "in-d1-write", "kv": "in-kv-put"}


class HarnessFailure(AssertionError):
    """A check failed; the message says which, with the seed and the trial directory."""


class TrialFailure(HarnessFailure):
    """One or more groups of checks failed for a trial; ``problems`` holds one message each."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


# -- kill plans ---------------------------------------------------------------------------------

@dataclass
class Plan:
    mode: str  # timed | phase | write | site
    phase: str = ""
    delay_s: float = 0.0  # timed
    fraction: float = 0.0  # phase: where in the phase window
    write: int = 0  # write: which commit; site: which call
    when: str = "after"
    site: str = ""  # site: observer | d1 | kv

    def worker_args(self) -> list[str]:
        if self.mode == "write":
            return ["--kill-at-write", str(self.write), "--kill-when", self.when]
        if self.mode == "site":
            return ["--kill-in", f"{self.site}:{self.write}:{self.when}"]
        return []

    def __str__(self) -> str:
        if self.mode == "timed":
            return f"timed +{self.delay_s * 1000:.0f}ms"
        if self.mode == "phase":
            return f"phase {self.phase} @{self.fraction:.2f}"
        if self.mode == "site":
            return f"inside {self.site} #{self.write} ({self.when})"
        return f"write {self.when} #{self.write}"


PHASES = ("attempt", "callback-end", "retry", "sleep", "wait", "send", "boundary", "observer", "d1", "kv")
#: how many calls of each site one worker process makes at most, roughly (the N of site plans)
SITE_CALLS = {"observer": 45, "d1": 90, "kv": 12}
KV_WHEN = ("before", "mid", "after")


#: the phase a kill must be aimed at to land in each kill point kind
STEER = {"in-step": "attempt", "retry-delay": "retry", "sleep": "sleep", "sleep-until": "sleep",
         "event-wait": "wait", "between-steps": "boundary", "in-observer": "observer",
         "in-d1-write": "d1", "in-kv-put": "kv"}
SITE_OF_KIND = {"in-observer": "observer", "in-d1-write": "d1", "in-kv-put": "kv"}


def site_plan(rng: random.Random, site: str) -> Plan:
    """The worker kills itself inside its N-th call at ``site``."""
    when = rng.choice(KV_WHEN) if site == "kv" else "mid"
    return Plan("site", site=site, write=rng.randint(1, SITE_CALLS[site]), when=when)


def choose_plan(rng: random.Random, wanted: tuple[str, ...] = ()) -> Plan:
    """A random plan; with ``wanted`` kill point kinds, most plans aim at them."""
    if wanted and rng.random() < 0.6:
        kind = rng.choice(sorted(wanted))
        if kind in SITE_OF_KIND and rng.random() < 0.6:
            return site_plan(rng, SITE_OF_KIND[kind])
        return Plan("phase", phase=STEER[kind], fraction=rng.random())
    mode = rng.choices(("timed", "phase", "write", "site"), weights=(20, 45, 20, 15))[0]
    if mode == "timed":
        return Plan("timed", delay_s=rng.uniform(0.0, 0.3))
    if mode == "phase":
        return Plan("phase", phase=rng.choice(PHASES), fraction=rng.random())
    if mode == "site":
        return site_plan(rng, rng.choice(sorted(SITE_CALLS)))
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
    if plan.phase == "observer" and source == "journal" and parts[0] == "obs" and parts[-1] == "begin":
        return plan.fraction * OBSERVER_BUSY_MS / 1000
    if plan.phase in ("d1", "kv") and source == "journal" and parts[0] == plan.phase and parts[-1] == "begin":
        return plan.fraction * (0.006 if plan.phase == "d1" else 0.004)
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
    site: str = ""  # the call the kill interrupted: in-observer:<hook>, in-d1-write, in-kv-put
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


def interrupted_site(lines: list[str]) -> str:
    """The observer hook, D1 write or KV put the journal shows a kill interrupted, or ``""``."""
    for bracket in journal.open_brackets(lines):
        kind = SITE_KINDS[bracket.site]
        return f"{kind}:{bracket.hook}" if bracket.site == "obs" else kind
    return ""


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
            f"  process {s.index}: {s.plan} -> "
            + (f"killed in {s.category}" + (f", {s.site}" if s.site else "") if s.killed else f"not killed, rc={s.returncode}")
            for s in self.segments
        )


def run_trial(index: int, directory: Path, next_plan: Callable[[], Plan | None], max_kills: int) -> Trial:
    """A trial, with its kills, until the instance completes (raises on a stall or a crash)."""
    trial = Trial(index, directory)
    play_trial(trial, next_plan, max_kills)
    return trial


def play_trial(trial: Trial, next_plan: Callable[[], Plan | None], max_kills: int) -> None:
    """Run (and kill) workers for ``trial`` until its instance completes."""
    index, directory = trial.index, trial.directory
    directory.mkdir(parents=True, exist_ok=True)
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
            segment.site = interrupted_site(segment.lines)
            continue
        if segment.returncode != 0:
            raise HarnessFailure(
                f"trial {index}: worker {number} exited with {segment.returncode}:\n{segment.log.read_text()[-3000:]}"
            )
        break
    trial.result = json.loads(Path(str(trial.journal) + ".result").read_text())
    trial.final = read_instance(trial.db, WORKFLOW, INSTANCE_ID)


# -- checks ------------------------------------------------------------------------------------------

def check_trial(trial: Trial, reference: dict[str, Any]) -> list[str]:
    """Every invariant of a crash-interrupted run against ``reference`` (the uninterrupted run's
    result); returns notes, raises :class:`TrialFailure` with one problem per failed group of
    checks (the run itself, what observers were told, what D1 and KV hold)."""
    notes: list[str] = []
    problems: list[str] = []
    for group in (check_run, check_observers, check_resources):
        try:
            notes += group(trial, reference)
        except HarnessFailure as exc:
            name = group.__name__.removeprefix("check_")
            problems.append(f"trial {trial.index} [{name}]: {exc}\nkills:\n{trial.describe_kills()}")
    if problems:
        raise TrialFailure(problems)
    return notes


def fail(message: str) -> NoReturn:
    raise HarnessFailure(message)


def check_run(trial: Trial, reference: dict[str, Any]) -> list[str]:
    """The instance: output, step executions and attempts, timers, events."""
    notes: list[str] = []
    reference_output = reference["status"]["output"]
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


#: the journaled step each observer hook reports on (``status`` reports on the header)
HOOK_STEP_KIND = {
    "step_start": "do", "step_attempt": "do", "step_end": "do", "sleep_start": "sleep",
    "sleep_end": "sleep", "wait_start": "waitForEvent", "wait_end": "waitForEvent",
}


def announced_durably(view: InstanceView | None, hook: str, name: str, n: int) -> bool:
    """Whether the state file holds the fact the hook announced (``n``: attempt or count)."""
    if view is None:
        return False
    if hook == "status":
        return name not in TERMINAL or view.header["status"] == name
    step = view.step(HOOK_STEP_KIND[hook], name, 1 if hook == "step_attempt" else n)
    if step is None:
        return False
    if hook == "step_attempt":
        return len(step["attempts"]) >= n and step["attempts"][n - 1]["end"] is not None
    if hook.endswith("_end"):
        return bool(step["state"] in ("ok", "error"))
    return True


def check_observers(trial: Trial, reference: dict[str, Any]) -> list[str]:
    """What the recorder observer was told: announced once, and only once durable.

    Hooks report state the engine has committed (a kill inside an observer therefore never
    undoes what it was told), so: a step whose end was announced never runs again; each step,
    attempt, sleep and wait is announced at most once over all processes (replays announce
    nothing); and at every kill, each fact announced in that process is in the state file.
    """
    announced: Counter[tuple[str, str, int]] = Counter()
    finished: dict[str, int] = {}  # step -> the process that announced its end
    for segment in trial.segments:
        for line in segment.lines:
            bracket = journal.parse_bracket(line)
            if bracket is not None and bracket.site == "obs" and bracket.opens:
                hook, name, n = bracket.key[0], bracket.key[1], int(bracket.key[2])
                if hook != "status" or name in TERMINAL:
                    announced[(hook, name, n)] += 1
                if hook == "step_end":
                    finished.setdefault(name, segment.index)
                continue
            step = journal.parse_step_line(line)
            if step is not None and step.what == "start" and step.step in finished:
                fail(f'step "{step.step}" ran again (attempt {step.attempt}, process {segment.index}) after '
                     f"an observer was told it had finished (process {finished[step.step]})")
    twice = sorted(key for key, times in announced.items() if times > 1)
    if twice:
        fail("announced to observers more than once: " + ", ".join(f"{h} {n} #{i}" for h, n, i in twice))
    for segment in trial.kills:
        for line in segment.lines:
            bracket = journal.parse_bracket(line)
            if bracket is None or bracket.site != "obs" or not bracket.opens:
                continue
            hook, name, n = bracket.key[0], bracket.key[1], int(bracket.key[2])
            if not announced_durably(segment.snapshot, hook, name, n):
                fail(f"an observer was told what the state file did not hold when its process was killed: "
                     f"{hook} {name} #{n} in process {segment.index}")
    return []


def check_resources(trial: Trial, reference: dict[str, Any]) -> list[str]:
    """D1 and KV hold the effects of the executions the journal shows, no more, no less.

    Steps run at least once, so a step's writes may be repeated by later attempts, but each
    execution (step, attempt) writes once; a completed step's writes are all there; a D1 batch
    is whole or absent; a write that returned to the step survives every later kill.
    """
    assert trial.result is not None and trial.final is not None
    lines = journal.read_lines(trial.journal)
    started = {(p.step, p.attempt) for p in filter(None, map(journal.parse_step_line, lines)) if p.what == "start"}
    returned = {
        (b.site, b.key[0], int(b.key[1]))
        for b in filter(None, map(journal.parse_bracket, lines)) if b.site in ("d1", "kv") and not b.opens
    }
    completed = {name: len(trial.final.step("do", name)["attempts"]) for name in DO_STEPS}  # type: ignore[index]

    ledger = [(str(step), int(attempt), int(amount)) for step, attempt, amount in trial.result["ledger"]]
    rows = Counter((step, attempt) for step, attempt, _ in ledger)
    for (step, attempt), times in sorted(rows.items()):
        if times > 1:
            fail(f"D1 holds {times} ledger rows of one execution: {step} attempt {attempt}")
        if (step, attempt) not in started:
            fail(f"D1 holds a ledger row of {step} attempt {attempt}, which never started")
    wrong = [row for row in ledger if D1_STEPS.get(row[0]) != row[2]]
    if wrong:
        fail(f"D1 ledger rows with wrong amounts: {wrong}")
    for site, step, attempt in sorted(returned):
        if site == "d1" and step in D1_STEPS and (step, attempt) not in rows:
            fail(f"the D1 batch of {step} attempt {attempt} returned, but its row is gone")
    for step in D1_STEPS:
        if (step, completed[step]) not in rows:
            fail(f"D1 lacks the write of {step}'s completed attempt {completed[step]}")
    totals = trial.result["totals"]
    expected_totals = {"total": sum(amount for _, _, amount in ledger), "writes": len(ledger)}
    if totals != expected_totals:
        fail(f"D1 totals disagree with the ledger (a batch was applied in part): totals {totals}, "
             f"ledger {expected_totals}")

    kv = trial.result["kv"]
    for key, value in sorted(kv.items()):
        kind, step, *rest = key.split(":")
        if kind == "attempt":
            attempt = int(rest[0])
            if (step, attempt) not in started:
                fail(f"KV holds {key}, but {step} attempt {attempt} never started")
            if value != {"step": step, "attempt": attempt}:
                fail(f"KV {key} holds {value}")
        elif kind != "result" or step not in KV_STEPS:
            fail(f"KV holds an unexpected key {key!r}")
    for site, step, attempt in sorted(returned):
        if site == "kv" and f"attempt:{step}:{attempt}" not in kv:
            fail(f"the KV puts of {step} attempt {attempt} returned, but attempt:{step}:{attempt} is gone")
    for step in KV_STEPS:
        got = kv.get(f"result:{step}")
        value = reference["kv"][f"result:{step}"]["value"]
        if got != {"attempt": completed[step], "value": value}:
            fail(f"KV result:{step} holds {got}; expected the completed attempt's "
                 f"{ {'attempt': completed[step], 'value': value} }")
        if f"attempt:{step}:{completed[step]}" not in kv:
            fail(f"KV lacks attempt:{step}:{completed[step]}, the put of {step}'s completed attempt")
    return []


# -- the campaign --------------------------------------------------------------------------------

#: ``ci`` runs in the test suite (fast); ``deep`` is the long campaign run from the command line
PROFILES: dict[str, dict[str, Any]] = {
    "ci": {"min_kills": 24, "min_trials": 3, "max_kills_per_trial": 10, "budget_s": 600.0},  # ends at 24 kills; the budget only caps a stuck run
    "deep": {"min_kills": 200, "min_trials": 20, "max_kills_per_trial": 10, "budget_s": 3600.0},
}


@dataclass
class Campaign:
    seed: int
    trials: list[Trial] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    elapsed_s: float = 0.0

    @property
    def kills(self) -> list[Segment]:
        return [s for t in self.trials for s in t.kills]

    def coverage(self) -> Counter[str]:
        """Kills per kill point kind: durable state kinds and interrupted call kinds."""
        kinds = Counter(main_category(s.category) for s in self.kills)
        kinds.update(s.site.split(":")[0] for s in self.kills if s.site)
        return kinds

    def missing(self) -> list[str]:
        """Kinds of ``REQUIRED_COVERAGE`` no kill landed in yet."""
        coverage = self.coverage()
        return [kind for kind in REQUIRED_COVERAGE if not coverage[kind]]

    def headline(self) -> str:
        """One line: kills, failures, trials, processes, seed, time."""
        return (
            f"crash campaign: {len(self.kills)} kills, {len(self.failures)} failures; "
            f"{len(self.trials)} trials, {sum(len(t.segments) for t in self.trials)} processes, "
            f"seed {self.seed}, {self.elapsed_s:.1f} s"
        )

    def summary(self) -> str:
        detailed = Counter(s.category for s in self.kills)
        sites = Counter(s.site for s in self.kills if s.site)
        plans = Counter(s.plan.mode for s in self.kills if s.plan)
        buffered = sum(1 for s in self.kills if "+buffered" in s.category)
        return (
            f"{self.headline()}\n"
            f"  plans: {', '.join(f'{k} {v}' for k, v in sorted(plans.items()))}; {buffered} kills with an event buffered\n"
            f"  kill points: {', '.join(f'{k} {v}' for k, v in sorted(detailed.items()))}\n"
            f"  inside calls: {', '.join(f'{k} {v}' for k, v in sorted(sites.items())) or 'none'}"
            + "".join(f"\n  note: {n}" for n in self.notes)
        )

    def failure_kinds(self) -> Counter[str]:
        """Failures grouped by check and kind: the first line up to its first colon, with step
        names and numbers masked."""
        kinds: Counter[str] = Counter()
        for failure in self.failures:
            first = failure.split("\n", 1)[0]
            group = re.search(r"\[(\w+)\]", first)
            text = first.split(": ", 1)[-1].split(": ", 1)[0]
            text = re.sub(r"\b[0-9]+\b", "N", re.sub(r'"[^"]*"', "X", text))
            kinds[f"[{group.group(1) if group else 'trial'}] {text}"] += 1
        return kinds


def run_campaign(
    seed: int,
    directory: Path,
    reference: dict[str, Any],
    *,
    min_kills: int = 24,
    min_trials: int = 3,
    max_kills_per_trial: int = 10,
    budget_s: float = 40.0,
    keep_going: bool = False,
    progress: Callable[[Campaign], None] | None = None,
) -> Campaign:
    """Trials until ``min_kills`` kills over ``min_trials`` trials have covered every kill point
    kind in ``REQUIRED_COVERAGE`` (or the time budget is spent); every trial is checked against
    ``reference`` (the uninterrupted run's result). The first failure raises, unless
    ``keep_going``: then every failure is collected in ``campaign.failures`` and the trials go on."""
    rng = random.Random(seed)
    campaign = Campaign(seed)
    started = time.monotonic()
    while True:
        enough = len(campaign.kills) >= min_kills and len(campaign.trials) >= min_trials and not campaign.missing()
        if enough or (campaign.trials and time.monotonic() - started > budget_s):
            break
        trial_rng = random.Random(rng.getrandbits(64))
        # after the first trial, steer towards kill point kinds not covered yet
        wanted = tuple(campaign.missing()) if campaign.trials else ()
        index = len(campaign.trials)
        trial = Trial(index, directory / f"trial-{index}")
        campaign.trials.append(trial)
        try:
            play_trial(trial, lambda: choose_plan(trial_rng, wanted), max_kills_per_trial)
            campaign.notes += [f"trial {index}: {n}" for n in check_trial(trial, reference)]
        except TrialFailure as exc:
            if not keep_going:
                raise
            campaign.failures += exc.problems
        except HarnessFailure as exc:
            if not keep_going:
                raise
            campaign.failures.append(f"trial {index}: {exc}\nkills:\n{trial.describe_kills()}")
        if progress is not None:
            campaign.elapsed_s = time.monotonic() - started
            progress(campaign)
    campaign.elapsed_s = time.monotonic() - started
    return campaign


def kill_inside_observer(reference: Trial, hook: str, name: str) -> Plan:
    """A plan killing the first worker inside the recorder's ``hook`` call for ``name``, at the
    point of the uninterrupted run where it was first called (hook calls come in a fixed order)."""
    begins = [line for line in journal.read_lines(reference.journal) if line.startswith("obs ") and line.endswith(" begin")]
    index = next(i for i, line in enumerate(begins) if line.split()[1:3] == [hook, name])
    return Plan("site", site="observer", write=index + 1, when="mid")


def run_reference(directory: Path) -> Trial:
    """The uninterrupted run every crash-interrupted run must match."""
    return run_trial(0, directory, lambda: None, 0)


def main(argv: list[str] | None = None) -> int:
    """``python -m tests.crash.harness``: a campaign; exit status 1 on any failure."""
    parser = argparse.ArgumentParser(
        prog="python -m tests.crash.harness",
        description="SIGKILL a worker running the crash workflow at random points until its instance "
        "completes, over many trials, and check every run against an uninterrupted one.",
    )
    parser.add_argument("--profile", choices=sorted(PROFILES), default="deep",
                        help="ci: the test suite's quick campaign; deep (default): at least 200 kills")
    parser.add_argument("--kills", type=int, default=None, help="at least this many kills (overrides the profile)")
    parser.add_argument("--seed", type=int, default=None, help="the plans' seed (default: random, printed)")
    parser.add_argument("--dir", type=Path, default=None,
                        help="where trials keep their state files and journals (default: a temporary "
                        "directory, removed unless something failed)")
    args = parser.parse_args(argv)
    options = dict(PROFILES[args.profile])
    if args.kills is not None:
        options["min_kills"] = args.kills
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(2**32)
    directory = args.dir or Path(tempfile.mkdtemp(prefix="cfwf-crash-"))
    directory.mkdir(parents=True, exist_ok=True)
    reference = run_reference(directory / "reference")
    assert reference.result is not None
    check_trial(reference, reference.result)

    def progress(campaign: Campaign) -> None:
        print(f"  {campaign.headline()}", file=sys.stderr, flush=True)

    campaign = run_campaign(seed, directory, reference.result, keep_going=True, progress=progress, **options)
    missing = campaign.missing()
    print(campaign.summary())
    for kind, times in campaign.failure_kinds().most_common():
        print(f"  failure x{times}: {kind}")
    if campaign.failures:
        report = directory / "failures.txt"
        report.write_text("\n\n".join(campaign.failures) + "\n")
        print(f"  every failure in full: {report}; rerun with --seed {seed}")
    if missing:
        print(f"  no kill landed in {missing}")
    print(f"{args.profile} profile: {len(campaign.kills)} kills, {len(campaign.failures)} failures")
    ok = not campaign.failures and not missing and len(campaign.kills) >= options["min_kills"]
    if ok and args.dir is None:
        shutil.rmtree(directory, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
