"""Seeded generation of small programs + schedules that are safe to run in REAL time.

Cloudflare's local engine sleeps for real, so everything is tiny: delays, timeouts and sleeps of
0-1500 ms, retry limits <= 2, events sent at once.  Every ``step.do`` that can fail carries an
explicit config (the local engine's default retry delay is 1 s, production's 10 s).  Lifecycle
actions (pause/resume/terminate/restart) are placed inside a stretch where the instance is
certainly idle (a sleep, a retry delay, an event wait that will time out, a hanging attempt), at
least ``MARGIN_MS`` from both ends of it, according to the program's nominal timeline, so the
small real-time overheads of the local engine cannot change which side of a boundary they hit.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

EVENT_TYPES = ("approve", "ship", "retry_ok")
MARGIN_MS = 200
RESULTS: tuple[Any, ...] = (1, 0, -7, 2.5, True, False, None, "ok", "", [1, "two"], {"k": [1, 2]}, {"nested": {"a": None}})


@dataclass
class Interval:
    start: int
    end: int
    kind: str  # "sleep" | "retry" | "wait" | "hang"


@dataclass
class Timeline:
    intervals: list[Interval] = field(default_factory=list)
    end_ms: int = 0  # nominal time at which run() ends (without lifecycle actions)


def _retry_delay(config: dict[str, Any], attempt: int) -> int:
    r = config["retries"]
    d = int(r["delay"])
    backoff = r.get("backoff", "exponential")
    if backoff == "constant":
        return d
    if backoff == "linear":
        return d * attempt
    return int(d * 2 ** (attempt - 1))


def nominal_timeline(program: dict[str, Any], events: dict[str, int]) -> Timeline:
    """The program's timeline in ms from creation, with zero-cost callbacks and no actions.

    ``events`` counts the events of each type sent at time 0 (each satisfies one wait).
    """
    tl = Timeline()
    t = 0
    available = dict(events)
    for op in program["steps"]:
        if op["op"] == "do":
            cfg = op.get("config")
            limit = cfg["retries"]["limit"] if cfg else 5
            fail, hang = op.get("fail_attempts", 0), op.get("hang_attempts", 0)
            attempt = 1
            while True:
                if attempt <= fail:
                    failed, nonretry = True, op.get("error") == "non_retryable"
                elif attempt <= fail + hang:
                    timeout = int(cfg["timeout"])
                    tl.intervals.append(Interval(t, t + timeout, "hang"))
                    t += timeout
                    failed, nonretry = True, False
                else:
                    failed = nonretry = False
                if not failed:
                    break
                if nonretry or attempt > limit:
                    if not op.get("catch"):
                        tl.end_ms = t
                        return tl
                    break
                delay = _retry_delay(cfg, attempt)
                tl.intervals.append(Interval(t, t + delay, "retry"))
                t += delay
                attempt += 1
        elif op["op"] == "sleep":
            tl.intervals.append(Interval(t, t + op["ms"], "sleep"))
            t += op["ms"]
        elif op["op"] == "wait":
            if available.get(op["type"], 0) > 0:
                available[op["type"]] -= 1
            else:
                tl.intervals.append(Interval(t, t + op["timeout_ms"], "wait"))
                t += op["timeout_ms"]
                if not op.get("catch"):
                    tl.end_ms = t
                    return tl
    tl.end_ms = t
    return tl


def _gen_do(rng: random.Random, name: str) -> dict[str, Any]:
    op: dict[str, Any] = {"op": "do", "name": name, "result": rng.choice(RESULTS), "catch": rng.random() < 0.3}
    if rng.random() < 0.15:
        # default config: only for steps that succeed at once (defaults differ LOCAL vs production)
        op.update(config=None, fail_attempts=0, error="plain", hang_attempts=0)
        return op
    limit = rng.randint(0, 2)
    config = {
        "retries": {
            "limit": limit,
            "delay": rng.choice((0, 50, 100, 200, 300, 500, 800)),
            "backoff": rng.choice(("constant", "linear", "exponential")),
        },
        "timeout": rng.choice((250, 400, 600, 1000, 1500)),
    }
    fail = rng.choice((0, 0, 1, 1, 2, 3)) if limit else rng.choice((0, 0, 1))
    fail = min(fail, limit + 1)
    hang = 1 if (rng.random() < 0.2 and fail <= limit) else 0
    op.update(
        config=config,
        fail_attempts=fail,
        error="non_retryable" if rng.random() < 0.2 else "plain",
        hang_attempts=hang,
    )
    return op


def gen_program(rng: random.Random) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """One program and its schedule."""
    steps: list[dict[str, Any]] = []
    n = rng.randint(1, 5)
    do_names = ["a", "b", "c", "d"]
    for i in range(n):
        kind = rng.choices(("do", "sleep", "wait"), weights=(6, 2, 2))[0]
        if kind == "do":
            # names repeat sometimes, so counts > 1 are exercised
            steps.append(_gen_do(rng, rng.choice(do_names[: max(1, i)] + do_names[i : i + 1])))
        elif kind == "sleep":
            steps.append({"op": "sleep", "name": f"s{i}", "ms": rng.choice((0, 100, 300, 600, 1000, 1500))})
        else:
            steps.append({
                "op": "wait", "name": f"w{i}", "type": rng.choice(EVENT_TYPES),
                "timeout_ms": rng.choice((1000, 1200, 1500)), "catch": rng.random() < 0.5,
            })
    program = {"steps": steps}
    schedule: list[dict[str, Any]] = []
    events: dict[str, int] = {}
    wait_types = [s["type"] for s in steps if s["op"] == "wait"]
    for etype in wait_types:
        if rng.random() < 0.6:
            events[etype] = events.get(etype, 0) + 1
            schedule.append({"at_ms": 0, "action": "event", "type": etype,
                             "payload": rng.choice(({"ok": True}, 42, "yes", None, [1, 2]))})
    if rng.random() < 0.35:
        tl = nominal_timeline(program, events)
        slots = [iv for iv in tl.intervals if iv.end - iv.start >= 2 * MARGIN_MS + 50]
        if slots:
            iv = rng.choice(slots)
            at = rng.randint(iv.start + MARGIN_MS, iv.end - MARGIN_MS)
            choices = ["terminate", "restart"]
            if iv.kind != "hang":  # pausing a running attempt waits for it (waitingForPause)
                choices += ["pause+resume", "pause+resume", "pause"]
            what = rng.choice(choices)
            if what == "pause+resume":
                schedule.append({"at_ms": at, "action": "pause"})
                schedule.append({"at_ms": at + rng.choice((300, 500, 800)), "action": "resume"})
            else:
                schedule.append({"at_ms": at, "action": what})
    schedule.sort(key=lambda a: a["at_ms"])
    return program, schedule


def gen_programs(n: int, seed: int) -> list[tuple[dict[str, Any], list[dict[str, Any]]]]:
    rng = random.Random(seed)
    return [gen_program(rng) for _ in range(n)]


def real_time_budget_ms(program: dict[str, Any], schedule: list[dict[str, Any]]) -> int:
    """A generous upper bound of how long a program needs in real time on the local engine."""
    events: dict[str, int] = {}
    for a in schedule:
        if a["action"] == "event":
            events[a["type"]] = events.get(a["type"], 0) + 1
    tl = nominal_timeline(program, events)
    actions = [a["at_ms"] for a in schedule if a["action"] != "event"]
    extra = 0
    if any(a["action"] == "restart" for a in schedule):
        # the restarted run starts over, and its events are gone: every wait may time out
        extra = nominal_timeline(program, {}).end_ms
    last = max(actions, default=0)
    return int(max(tl.end_ms, last) + (max(actions) if actions else 0) + extra + 200 * len(program["steps"]) + 3000)
