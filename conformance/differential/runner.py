"""`--run N`: the same generated programs on Cloudflare's local engine and on the emulator."""

from __future__ import annotations

import asyncio
import json
import sys
import threading
import time
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable

from .generate import gen_programs, nominal_timeline, real_time_budget_ms
from .install import Toolchain
from .normalise import (
    TIMING_EARLY_MS,
    TIMING_PAUSE_EARLY_MS,
    Diff,
    compare,
    local_observation,
    normalise,
    timing_deviation,
)
from .server import DevServer, ServerError

TERMINAL = ("complete", "errored", "terminated")
POLL_S = 0.1


def emulator_runner() -> Callable[..., dict[str, Any]]:
    """``conformance.programs.run_on_emulator`` (the shared interpreter and driver); when its
    async ``observe`` accepts a ``trace`` the returned callable also fills one: the
    ``WorkflowError`` code (or None) each schedule action raised on the emulator."""
    from conformance import programs

    observe = getattr(programs, "observe", None)
    if observe is None:
        return lambda program, schedule, trace=None: programs.run_on_emulator(program, schedule)

    def run_on_emulator(program: dict[str, Any], schedule: list[dict[str, Any]],
                        trace: list[Any] | None = None) -> dict[str, Any]:
        return asyncio.run(observe(program, schedule, trace=trace))

    return run_on_emulator


@dataclass
class Case:
    index: int
    program: dict[str, Any]
    schedule: list[dict[str, Any]]
    local_raw: dict[str, Any] | None = None
    local: dict[str, Any] | None = None
    emulator: dict[str, Any] | None = None
    diffs: list[Diff] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    local_seconds: float = 0.0


def run_local_case(server: DevServer, case: Case, tag: str) -> None:
    """Drive one program on the local engine, in real time, and record its observation."""
    iid = f"p{case.index}-{tag}"
    budget_s = real_time_budget_ms(case.program, case.schedule) / 1000.0
    pending = sorted(case.schedule, key=lambda a: a["at_ms"])
    t0 = time.time() * 1000.0
    start = time.monotonic()
    created = server.request("POST", "/create", {"id": iid, "program": case.program})
    if "error" in created:
        raise ServerError(f"create {iid} failed: {created['error']}")
    raw: dict[str, Any] = {}
    settled_since: float | None = None
    while True:
        elapsed_ms = (time.monotonic() - start) * 1000.0
        while pending and pending[0]["at_ms"] <= elapsed_ms:
            a = pending.pop(0)
            if a["action"] == "event":
                body = {"id": iid, "type": a["type"], "payload": a.get("payload")}
                resp = server.request("POST", "/event", body)
            else:
                resp = server.request("POST", "/" + a["action"], {"id": iid})
            if isinstance(resp, dict) and "error" in resp:
                case.notes.append(f"LOCAL {a['action']}@{a['at_ms']}ms raised {resp['error']}")
        raw = server.request("GET", f"/status?id={iid}")
        if "error" in raw and "status" not in raw:
            raise ServerError(f"status {iid} failed: {raw['error']}")
        status = raw["status"]["status"]
        if not pending and status in TERMINAL:
            # let a just-finished attempt log land (it is written before the status changes)
            break
        if not pending and status == "paused":
            settled_since = settled_since or time.monotonic()
            if time.monotonic() - settled_since > 0.5:
                break
        else:
            settled_since = None
        if time.monotonic() - start > budget_s:
            case.notes.append(f"LOCAL still {status} after its {budget_s:.1f}s real-time budget")
            break
        next_at = (pending[0]["at_ms"] / 1000.0 + start) if pending else time.monotonic() + POLL_S
        time.sleep(max(0.005, min(POLL_S, next_at - time.monotonic())))
    case.local_raw = raw
    case.local_seconds = time.monotonic() - start
    case.local = local_observation(raw, t0)


def early_slack(schedule: list[dict[str, Any]]) -> float:
    """How much earlier than the emulator a LOCAL timer may seem to fire (pauses add jitter)."""
    return TIMING_PAUSE_EARLY_MS if any(a["action"] in ("pause", "resume") for a in schedule) else TIMING_EARLY_MS


def _hang_actions(case: Case) -> list[dict[str, Any]]:
    """Lifecycle actions that fall while an attempt hangs (nominal timeline)."""
    events: dict[str, int] = {}
    for a in case.schedule:
        if a["action"] == "event":
            events[a["type"]] = events.get(a["type"], 0) + 1
    hangs = [iv for iv in nominal_timeline(case.program, events).intervals if iv.kind == "hang"]
    return [a for a in case.schedule if a["action"] != "event"
            and any(iv.start < a["at_ms"] < iv.end for iv in hangs)]


def explain(case: Case, diff: Diff) -> str:
    """Whether a disagreement is a documented LOCAL-vs-production difference (or known cause)."""
    steps = case.program["steps"]
    actions = {a["action"] for a in case.schedule}
    aborts = [c for c in (case.local or {}).get("_caught_all", [])
              if str(c.get("message", "")).startswith("Aborting engine:")]
    if aborts:
        return (f"LOCAL quirk (undocumented; not an emulator bug): the engine's abort "
                f"\"{aborts[0]['message']}\" reaches run() as a catchable Error, so a try/catch keeps "
                "the run going (steps execute while paused); spec §3.8 says the run stops")
    emu_action_errors = [n for n in case.notes if n.startswith("emulator ") and " raised " in n]
    if _hang_actions(case):
        return ("possible emulator bug: while a step callback hangs (awaits a non-emulator future) "
                "emu.advance(d) lets virtual time flow at the real rate up to the attempt's timeout, "
                "overshooting its target, so the driver applies the action too late"
                + (" (" + "; ".join(emu_action_errors) + ")" if emu_action_errors else ""))
    if diff.field == "attempts" and "local has more" in diff.signature:
        caught_nr = [s for s in steps if s["op"] == "do" and s.get("catch") and s.get("error") == "non_retryable"
                     and s.get("fail_attempts", 0) >= 1]
        if caught_nr and actions & {"resume"}:
            return ("documented: LOCAL does not journal a caught NonRetryableError and re-runs the step "
                    "on replay (README Fidelity 'A caught NonRetryableError'; spec §3.3 step 9)")
    if diff.field == "attempt_starts_ms":
        worst = timing_deviation(diff.local, diff.emulator, early_slack(case.schedule))
        if worst is not None and worst > 0:
            return f"timing: LOCAL runs in real time, overheads accumulate (worst extra gap {worst:.0f} ms)"
        return f"undocumented: a LOCAL timer fired {-(worst or 0):.0f} ms earlier than the emulator's"
    if diff.field == "status" and any("budget" in n for n in case.notes):
        return "LOCAL did not finish within the real-time budget (load?)"
    return "undocumented: possible emulator bug (or an undocumented LOCAL quirk)"


def program_cause(case: Case) -> str:
    """One explanation per disagreeing program: an unexplained field wins over explained ones."""
    whys = [explain(case, d) for d in case.diffs]
    worrying = [w for w in whys if w.startswith(("undocumented", "possible emulator bug"))]
    return worrying[0] if worrying else whys[0]


def _cause(why: str) -> str:
    """An explanation without its per-program details (for grouping)."""
    return why.split(" (")[0].split(":")[0]


def _short(value: Any, limit: int = 400) -> str:
    text = json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def run(toolchain: Toolchain, n: int, seed: int, jobs: int = 2, out: str | None = None,
        verbose: bool = False) -> int:
    """Run ``n`` programs on both backends; print the comparison; return an exit status."""
    started = time.monotonic()
    run_on_emulator = emulator_runner()
    cases = [Case(i, p, s) for i, (p, s) in enumerate(gen_programs(n, seed))]
    print(f"[differential] {n} programs, seed {seed}, {jobs} at a time on the local engine", flush=True)
    print(f"[differential] node {toolchain.node_version}, wrangler {toolchain.wrangler_version}", flush=True)

    # the emulator side first: virtual time, fast, and a crash here should not waste real time
    for case in cases:
        try:
            trace: list[Any] = []
            case.emulator = run_on_emulator(case.program, case.schedule, trace=trace)
            actions = sorted(case.schedule, key=lambda a: a["at_ms"])
            for a, code in zip(actions, trace):
                if code is not None:
                    case.notes.append(f"emulator {a['action']}@{a['at_ms']}ms raised {code}")
        except Exception as exc:  # noqa: BLE001 - reported as a disagreement class of its own
            case.notes.append(f"emulator raised {type(exc).__name__}: {exc}")
    print(f"[differential] emulator side done in {time.monotonic() - started:.1f}s", flush=True)

    server = DevServer(toolchain, verbose=verbose)
    done = 0
    lock = threading.Lock()
    tag = f"s{seed}-{int(time.time())}"
    try:
        t = time.monotonic()
        server.start()
        print(f"[differential] wrangler dev ready on {server.base} in {time.monotonic() - t:.1f}s", flush=True)

        def one(case: Case) -> None:
            nonlocal done
            try:
                run_local_case(server, case, tag)
            except Exception as exc:  # noqa: BLE001
                case.notes.append(f"LOCAL driver error {type(exc).__name__}: {exc}")
            with lock:
                done += 1
                if done % 10 == 0 or done == len(cases):
                    print(f"[differential] local engine: {done}/{len(cases)} programs "
                          f"({time.monotonic() - started:.0f}s)", flush=True)

        with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
            list(pool.map(one, cases))
    finally:
        server.stop()
        if verbose:
            print(f"[differential] wrangler log: {server.log_path}")
        else:
            server.cleanup()
        print("[differential] wrangler dev stopped", flush=True)

    for case in cases:
        if case.local is not None and case.emulator is not None:
            case.diffs = compare(normalise(case.local, case.program), normalise(case.emulator, case.program),
                                 early_ms=early_slack(case.schedule))
    code = report(cases, time.monotonic() - started)
    if out:
        with open(out, "w") as fh:
            json.dump([_case_json(c) for c in cases], fh, indent=1, default=str)
        print(f"[differential] details written to {out}")
    return code


def rereport(path: str) -> int:
    """Re-compare and re-print a run saved with ``--out`` (no node needed)."""
    with open(path) as fh:
        saved = json.load(fh)
    cases = []
    for d in saved:
        case = Case(d["index"], d["program"], d["schedule"], local=d.get("local"),
                    emulator=d.get("emulator"), notes=list(d.get("notes", [])),
                    local_seconds=d.get("local_seconds", 0.0))
        if case.local is not None and case.emulator is not None:
            case.diffs = compare(normalise(case.local, case.program), normalise(case.emulator, case.program),
                                 early_ms=early_slack(case.schedule))
        cases.append(case)
    return report(cases, None)


def _case_json(case: Case) -> dict[str, Any]:
    return {
        "index": case.index, "program": case.program, "schedule": case.schedule,
        "local": case.local, "emulator": case.emulator, "notes": case.notes,
        "diffs": [d.__dict__ for d in case.diffs], "local_seconds": case.local_seconds,
    }


def report(cases: list[Case], seconds: float | None, stream: Any = None) -> int:
    """Print the agreement table; return 0 when every disagreement is a documented difference,
    a LOCAL quirk or real-time overhead (1 when any may be an emulator bug, or a program could
    not be compared)."""
    out = stream or sys.stdout
    compared = [c for c in cases if c.local is not None and c.emulator is not None]
    broken = [c for c in cases if c not in compared]
    agree = [c for c in compared if not c.diffs]
    fields = ("status", "output", "error", "attempts", "attempt_starts_ms")
    print("", file=out)
    print("=" * 78, file=out)
    print(f"differential run: {len(cases)} programs, {len(compared)} compared, "
          f"{len(agree)} agree on every field, {len(compared) - len(agree)} disagree, "
          f"{len(broken)} not compared; "
          + (f"{seconds:.0f}s" if seconds is not None else "re-compared from a saved run"), file=out)
    print("-" * 78, file=out)
    print(f"{'field':<20}{'agree':>8}{'disagree':>10}", file=out)
    for f in fields:
        bad = sum(1 for c in compared if any(d.field == f for d in c.diffs))
        print(f"{f:<20}{len(compared) - bad:>8}{bad:>10}", file=out)
    causes: "OrderedDict[str, list[Case]]" = OrderedDict()
    for c in compared:
        if c.diffs:
            causes.setdefault(_cause(program_cause(c)), []).append(c)
    unexplained = 0
    if causes:
        print("-" * 78, file=out)
        print("disagreeing programs, by cause (one example each):", file=out)
    for _, items in sorted(causes.items(), key=lambda kv: -len(kv[1])):
        case = min(items, key=lambda c: len(json.dumps(c.program)) + len(json.dumps(c.schedule)))
        why = program_cause(case)
        if why.startswith(("undocumented", "possible emulator bug")):
            unexplained += len(items)
        ids = ", ".join("#%d" % c.index for c in items[:15]) + (", ..." if len(items) > 15 else "")
        fields = sorted({d.field for c in items for d in c.diffs})
        print(f"\n* {len(items)} program(s) [{ids}]; fields: {', '.join(fields)}\n  -> {why}", file=out)
        print(f"  example #{case.index}: program={_short(case.program)}", file=out)
        print(f"  schedule={_short(case.schedule)}", file=out)
        for d in case.diffs:
            print(f"  {d.signature}", file=out)
            print(f"    local   : {_short(d.local)}", file=out)
            print(f"    emulator: {_short(d.emulator)}", file=out)
        for note in case.notes:
            print(f"  note: {note}", file=out)
    for c in broken:
        print(f"\n! program #{c.index} not compared: {'; '.join(c.notes) or 'no observation'}", file=out)
        print(f"  program={_short(c.program)} schedule={_short(c.schedule)}", file=out)
    print("=" * 78, file=out)
    return 0 if not unexplained and not broken else 1
