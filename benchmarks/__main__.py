"""Print the benchmark tables: median, min and max of several runs, and the ratio to each baseline
measured in the same run.

    python -m benchmarks              # full sizes (about 4 minutes on a 2-core machine)
    python -m benchmarks --smoke      # tiny sizes, no peers (CI runs this so it cannot rot)
    python -m benchmarks --json OUT.json          # also save every figure and the machine's facts
    python -m benchmarks --compare BASE.json      # ratio of each row to a saved run
    python -m benchmarks --code ../old            # another checkout's engine, these workloads

Judging a change. ``--json OUT`` saves each row's runs, median, floor, "x floor" and peer figures,
the sleepers, plugin and command-line tables, and the machine (CPU count, Python, the git commit
of the engine timed and of this harness). ``--compare BASE`` prints, for each row present in both
runs, the ratio now/base of the median time and of "x floor", and flags ``WORSE`` a row whose
"x floor" grew by more than 10% (:mod:`benchmarks.compare`, which also compares two saved files).
``--code DIR`` times DIR's ``cfwf_emulator`` with these workloads (:mod:`benchmarks.checkout`):
the harness runs again in a process, and every process it starts, importing DIR's engine; the
resume row's state file is written by that engine, so each reads its own format; a row the older
engine cannot run is shown "n/a for this engine" with its error, and the plugin and command-line
tables, which are this checkout's, are left out.

Two rows time every write on its own as durable state grows (10,000 events buffered by one
instance that waits for none of them, 4,000 persisted KV puts) and report the median per-write
time of the last 10% over that of the first 10%: flat per-write cost keeps it near 1.

Baselines. Floors, the least any engine could spend: "asyncio" makes the same awaited calls with
no engine; "sqlite" makes one commit per durable point with the same settings and no engine.
Peers, what users would otherwise run: Cloudflare's local engine (``wrangler dev``, through the
conformance differential runner, when ``python -m conformance.differential --setup`` was run) for
the in-memory rows, and DBOS on SQLite (the ``bench`` extra) for the SQLite rows, steps and
events. A baseline that is not installed is shown as "not run"; a row no peer runs says why
("n/a: ...").
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Callable

from cfwf_emulator import Emulator, WorkflowEntrypoint

from . import checkout, cli, compare, events, growth, plugin, resume
from .floors import asyncio_steps, sqlite_commits, sqlite_journal_commits

SHAPES = ((100, 10), (1, 1_000), (1, 10_000))
"""(instances, steps) of the trivial-steps rows."""
SKIPPED = "not run (--smoke/--no-peers)"
NO_PEER = {
    "normal": "n/a: DBOS fixes its SQLite settings (rollback journal, FULL); CF local has no such setting",
    "buffered": "n/a: peers send 30-40 events/s, ~5 min/run (see the events rows)",
    "kv": "n/a: neither peer's workflow engine has a KV store",
    "sleepers": "n/a: both peers sleep in real time (30 days)",
    "call form": "n/a: the decorator-form row above has the peer",
}
"""Why a row has no peer, shown in its peer column."""
DBOS_MAX_STEPS = 1_000
"""DBOS takes about 40 s for one instance of 10,000 steps; its 1,000-step row gives its rate."""
PEER_MAX_EVENTS = 1_000
"""Both peers deliver about 30-40 events/s (DBOS on SQLite: each ``DBOS.send`` from outside a
workflow commits several rows; the local engine: each ``sendEvent``), so 10,000 events would take
about 5 minutes a run: the 100-waiter rows give their rates."""


class TrivialSteps(WorkflowEntrypoint):
    """``n`` trivial steps (i -> i + 1), each a real journaled step."""

    async def run(self, event: Any, step: Any) -> Any:
        value = 0
        for index in range(event["payload"]["steps"]):

            @step.do(f"step {index}")
            async def add_one() -> int:
                return value + 1

            value = await add_one()
        return value


class TrivialStepsCallForm(WorkflowEntrypoint):
    """:class:`TrivialSteps` in the JavaScript-style call form with a synchronous lambda."""

    async def run(self, event: Any, step: Any) -> Any:
        value = 0
        for index in range(event["payload"]["steps"]):
            value = await step.do(f"step {index}", lambda v=value: v + 1)
        return value


def _call_form_options() -> dict[str, Any]:
    """``step_call_form=True`` where the engine has the option (older engines took the call form
    without one)."""
    return {"step_call_form": True} if "step_call_form" in inspect.signature(Emulator).parameters else {}


async def _emulator_steps(instances: int, steps: int, storage: str, call_form: bool = False) -> float:
    began = time.perf_counter()
    emu = Emulator(clock="virtual", storage=storage, **(_call_form_options() if call_form else {}))
    emu.add_workflow("trivial", TrivialStepsCallForm if call_form else TrivialSteps, binding="TRIVIAL")
    async with emu:
        for index in range(instances):
            await emu.env.TRIVIAL.create(id=f"i{index}", params={"steps": steps})
        await emu.run_until_idle()
        last = await emu.env.TRIVIAL.get(f"i{instances - 1}")
        status = await last.status()
        assert status == {"status": "complete", "output": steps}, status
    return time.perf_counter() - began


def _steps_run(instances: int, steps: int, synchronous: str | None, scratch: Path, call_form: bool = False) -> float:
    storage = "memory" if synchronous is None else f"sqlite:///{scratch / 'state.db'}?synchronous={synchronous}"
    return asyncio.run(_emulator_steps(instances, steps, storage, call_form))


def _asyncio_floor(instances: int, steps: int, _scratch: Path) -> float:
    return asyncio_steps(instances, steps)


def _sqlite_floor(synchronous: str, commits: int, scratch: Path) -> float:
    return sqlite_commits(scratch / "floor.db", synchronous, commits)


def _journal_floor(synchronous: str, steps: int, scratch: Path) -> float:
    return sqlite_journal_commits(scratch / "journal.db", synchronous, steps)


@dataclass
class Row:
    """One workload: the emulator's run and its floor, each returning seconds for one run (or,
    for a per-write row, :class:`growth.PerWrite`: seconds and the last/first 10% ratio)."""

    label: str
    shape: str
    work: int
    unit: str
    run: "Callable[[Path], float | growth.PerWrite]"
    floor_label: str
    floor: Callable[[Path], float]
    peer: tuple[str, int, int] | None = None
    """("cloudflare" or "dbos", instances, steps), ("cloudflare events" or "dbos events", waiters,
    events per waiter) or ("dbos resume", 1, steps)."""
    no_peer: str = ""
    """Why no peer runs this row ("n/a: ..." in the peer column)."""
    journal_floor: Callable[[Path], float] | None = None
    """A second floor for the durable-steps rows: the journal's own rows, no engine
    (:func:`~benchmarks.floors.sqlite_journal_commits`)."""


@dataclass
class Measured:
    """A row's timings."""

    row: Row
    times: list[float]
    floor: float
    peer_label: str
    peer: list[float] | None
    peer_note: str = ""
    ratios: list[float] | None = None  # per-write rows: last 10% / first 10%, one per run
    error: str = ""
    """Why the row could not run (an older engine under ``--code`` may lack what it uses)."""
    journal: float | None = None
    """Median seconds of the row's journal floor, if it has one."""

    @property
    def median(self) -> float:
        """Median seconds of the emulator's runs."""
        return statistics.median(self.times)

    @property
    def ratio(self) -> float:
        """Median over the runs of the last-10%/first-10% per-write time ratio (per-write rows)."""
        assert self.ratios is not None
        return statistics.median(self.ratios)


def _rows(scale: int) -> list[Row]:
    rows = []
    for synchronous in (None, "FULL", "NORMAL"):
        for instances, steps in SHAPES:
            n, k = max(1, instances // scale), max(1, steps // scale)
            if synchronous == "NORMAL" and steps > 1_000:
                continue
            where = "memory" if synchronous is None else f"SQLite WAL+{synchronous}"
            floor: Callable[[Path], float]
            if synchronous is None:
                floor_label, floor = "asyncio", partial(_asyncio_floor, n, k)
            else:
                floor_label, floor = f"sqlite {synchronous}", partial(_sqlite_floor, synchronous, n * k)
            rows.append(Row(
                f"{n} x {k:,} steps, {where}", f"{n} x {k:,} steps", n * k, "steps",
                partial(_steps_run, n, k, synchronous), floor_label, floor,
                peer=None if synchronous == "NORMAL" else ("cloudflare" if synchronous is None else "dbos", n, k),
                no_peer=NO_PEER["normal"] if synchronous == "NORMAL" else "",
                journal_floor=partial(_journal_floor, synchronous, k) if synchronous == "FULL" and n == 1 else None,
            ))
    k = max(1, 1_000 // scale)
    rows.append(Row(
        f"1 x {k:,} steps, memory, call form (lambda)", f"1 x {k:,} steps, call form", k, "steps",
        partial(_steps_run, 1, k, None, call_form=True), "asyncio", partial(_asyncio_floor, 1, k),
        no_peer=NO_PEER["call form"],
    ))
    return rows + _events_rows(scale)


def _events_rows(scale: int) -> list[Row]:
    """Events sent one at a time to waiting instances; DBOS beside the SQLite rows it can run."""
    rows = []
    per_instance = 10
    for full_waiters, storage in ((1_000, "memory"), (100, "memory"), (1_000, "FULL"), (100, "FULL")):
        waiters = max(1, full_waiters // scale)
        where = "memory" if storage == "memory" else "SQLite WAL+FULL"

        def run(scratch: Path, storage: str = storage, waiters: int = waiters) -> float:
            url = "memory" if storage == "memory" else f"sqlite:///{scratch / 'state.db'}"
            return events.run_emulator(waiters, per_instance, url)

        def floor(scratch: Path, storage: str = storage, waiters: int = waiters) -> float:
            if storage == "memory":
                return events.run_asyncio_floor(waiters, per_instance)
            return events.run_sqlite_floor(scratch / "floor.db", "FULL", waiters, per_instance)

        rows.append(Row(
            f"{waiters * per_instance:,} events -> {waiters:,} waiting, {where}",
            f"{waiters * per_instance:,} events", waiters * per_instance, "events", run,
            "asyncio" if storage == "memory" else "sqlite FULL", floor,
            peer=("cloudflare events" if storage == "memory" else "dbos events", waiters, per_instance),
        ))
    return rows


def _growth_rows(scale: int) -> list[Row]:
    """The per-write rows: events buffered by one instance, persisted KV puts."""
    count_events, count_puts = max(10, 10_000 // scale), max(10, 4_000 // scale)
    return [
        Row(
            f"{count_events:,} events buffered by 1 instance, SQLite WAL+FULL", f"{count_events:,} events",
            count_events, "events", partial(growth.buffered_events, count_events),
            "sqlite FULL", partial(_sqlite_floor, "FULL", count_events), no_peer=NO_PEER["buffered"],
        ),
        Row(
            f"{count_puts:,} KV puts, SQLite WAL+FULL", f"{count_puts:,} KV puts", count_puts, "puts",
            partial(growth.kv_puts, count_puts), "sqlite FULL", partial(_sqlite_floor, "FULL", count_puts),
            no_peer=NO_PEER["kv"],
        ),
    ]


def _resume_row(steps: int, template: Path) -> Row:
    def run(scratch: Path) -> float:
        copy = scratch / "state.db"
        shutil.copy(template, copy)
        return resume.resume_in_new_process(copy, steps)["resume_s"]

    return Row(
        f"resume {steps:,}-step instance, new process", f"resume {steps:,} steps", steps, "steps",
        run, "sqlite read", lambda _scratch: resume.read_floor(template), peer=("dbos resume", 1, steps),
    )


def _timed(make: "Callable[[Path], float | growth.PerWrite]", repeat: int) -> list[Any]:
    results = []
    for _ in range(repeat):
        with tempfile.TemporaryDirectory() as scratch:
            results.append(make(Path(scratch)))
    return results


def _measure(row: Row, repeat: int, peers: "Peers") -> Measured:
    try:
        results = _timed(row.run, repeat)
    except Exception as exc:  # noqa: BLE001 - the row says why; the run goes on (an older engine may lack a feature)
        return Measured(row, [], float("nan"), "", None, error=f"{type(exc).__name__}: {exc}".splitlines()[0][:200])
    floor = statistics.median(_timed(row.floor, repeat))
    journal = None if row.journal_floor is None else statistics.median(_timed(row.journal_floor, repeat))
    label, peer_times, note = peers.measure(row)
    if results and isinstance(results[0], growth.PerWrite):
        times = [result.total_s for result in results]
        return Measured(row, times, floor, label, peer_times, note, ratios=[result.ratio for result in results])
    return Measured(row, results, floor, label, peer_times, note, journal=journal)


class Peers:
    """Runs the peer baselines for the rows that have one; "not run" when not installed."""

    def __init__(self, enabled: bool, repeat: int) -> None:
        self.enabled = enabled
        self.repeat = repeat
        self.notes: list[str] = []
        self._cloudflare: Any = None
        self._cloudflare_missing = "" if enabled else SKIPPED
        self._stack = ExitStack()

    def __enter__(self) -> "Peers":
        if not self.enabled:
            return self
        try:
            from . import cloudflare_local
            from conformance.differential.install import SetupError
        except ImportError as exc:
            self._cloudflare_missing = f"not run ({exc})"
            return self
        try:
            self._cloudflare = self._stack.enter_context(cloudflare_local.local_engine())
        except SetupError:
            self._cloudflare_missing = "not run (python -m conformance.differential --setup)"
            return self
        self.notes.append(
            f"Cloudflare local engine: wrangler dev (startup {self._cloudflare.startup_seconds:.1f} s, "
            "excluded), real time, polled every 20 ms; events rows: the instances get "
            f"{cloudflare_local.SETTLE_S:.0f} s + {cloudflare_local.SETTLE_PER_INSTANCE_S * 1000:.0f} ms each to reach "
            "their wait (it reports them running), excluded"
        )
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stack.close()

    def measure(self, row: Row) -> tuple[str, list[float] | None, str]:
        """(peer label, its times or None, why not run)."""
        if row.peer is None:
            return "", None, row.no_peer
        kind, instances, steps = row.peer
        if kind.endswith("events") and instances * steps > PEER_MAX_EVENTS:
            name = "CF local" if kind.startswith("cloudflare") else "DBOS"
            return name, None, "not run (~5 min/run; see 100 waiting)" if self.enabled else SKIPPED
        if kind.startswith("cloudflare"):
            if self._cloudflare is None:
                return "CF local", None, self._cloudflare_missing
            if kind == "cloudflare events":
                return "CF local", self._cloudflare.measure_events(instances, steps, self.repeat), ""
            return "CF local", self._cloudflare.measure(instances, steps, self.repeat), ""
        if not self.enabled:
            return "DBOS", None, SKIPPED
        if kind == "dbos" and steps > DBOS_MAX_STEPS:
            return "DBOS", None, "not run (~40 s/run)"
        from . import dbos_baseline

        if kind == "dbos resume":
            resumed = dbos_baseline.measure_resume(steps, self.repeat)
            return "DBOS", resumed, "" if resumed is not None else 'not run (pip install -e ".[bench]")'

        times = dbos_baseline.measure(instances, steps, self.repeat, "events" if kind == "dbos events" else "steps")
        return "DBOS", times, "" if times is not None else 'not run (pip install -e ".[bench]")'


def _print_table(measured: list[Measured], extra_header: str, extra_cells: Callable[[Measured], str]) -> None:
    """The columns every row has (times, rate, floor), then the table's own."""
    width = max([48, *(len(m.row.label) for m in measured)])
    header = (
        f"| {'workload':<{width}} | {'median s':>8} | {'min s':>8} | {'max s':>8} | {'per s':>7} | "
        f"{'floor':<13} | {'floor s':>8} | {'x floor':>7} | {extra_header} |"
    )
    print(header)
    print("|" + "|".join("-" * len(part) for part in header.split("|")[1:-1]) + "|")
    for m in measured:
        row = m.row
        print(
            f"| {row.label:<{width}} | {m.median:>8.4f} | {min(m.times):>8.4f} | {max(m.times):>8.4f} | "
            f"{row.work / m.median:>7.0f} | {row.floor_label:<13} | {m.floor:>8.4f} | "
            f"{m.median / m.floor:>7.1f} | {extra_cells(m)} |"
        )


def _peer_cells(m: Measured) -> str:
    if m.peer is not None:
        peer_median = statistics.median(m.peer)
        return f"{m.peer_label:<8} | {peer_median:>8.3f} | {peer_median / m.median:>7.1f}x"
    if m.peer_label or m.peer_note:
        return f"{m.peer_label:<8} | {m.peer_note:<19}"
    return f"{'':<8} | {'':>8} | {'':>8}"


def _print_steps_table(measured: list[Measured]) -> None:
    _print_table(measured, f"{'peer':<8} | {'peer s':>8} | {'peer/emu':>8}", _peer_cells)


def _print_journal_table(measured: list[Measured]) -> None:
    """The single-instance durable rows against both floors: one row per commit, and the rows
    this engine's journal writes per step."""
    rows = [m for m in measured if m.journal is not None]
    if not rows:
        return
    print("\nDurable steps against two floors: 'one-row' = a one-row commit per step; 'journal' = a commit "
          "per step of the rows this engine's journal writes (the finished step, the next step with its "
          "attempt, the event-log row; JSON built before timing), no engine")
    print(f"| {'workload':<34} | {'median s':>8} | {'one-row s':>9} | {'x one-row':>9} | {'journal s':>9} | "
          f"{'x journal':>9} | {'journal/one-row':>15} |")
    print(f"|{'-' * 36}|{'-' * 10}|{'-' * 11}|{'-' * 11}|{'-' * 11}|{'-' * 11}|{'-' * 17}|")
    for m in rows:
        assert m.journal is not None
        print(f"| {m.row.label:<34} | {m.median:>8.4f} | {m.floor:>9.4f} | {m.median / m.floor:>9.2f} | "
              f"{m.journal:>9.4f} | {m.median / m.journal:>9.2f} | {m.journal / m.floor:>15.2f} |")


def _print_growth_table(measured: list[Measured]) -> None:
    print("\nPer-write cost as durable state grows: every write timed on its own; 'last/first' = median "
          "per-write time of the last 10% of the writes / of the first 10% (median over the runs)")
    _print_table(measured, f"{'last/first':>10}", lambda m: f"{m.ratio:>9.2f}x")


#: The call-form row at full size (issue 16 compares the decorator form with it).
CALL_FORM_LABEL = "1 x 1,000 steps, memory, call form (lambda)"

SLEEPER_CASES = (
    ("memory, no hibernation", ["memory", "none"]),
    ("memory, hibernate after 1 hour", ["memory", "1 hour"]),
    ("SQLite WAL+NORMAL, hibernate", ["sqlite", "1 hour", "NORMAL"]),
    ("SQLite WAL+FULL, default options", ["sqlite", "default"]),
)


def _sleepers_table(count: int) -> dict[str, dict[str, Any]]:
    """Each case in its own process, so peak resident memory is the case's own."""
    print(f"\n{count:,} instances sleeping 30 days (virtual), then one step; created 100 per create_batch")
    print(f"peers: {NO_PEER['sleepers']}")
    print(f"| {'case':<34} | {'create all s':>12} | {'total s':>8} | {'wake all s':>10} | {'wake us/inst':>12} | "
          f"{'RSS asleep MB':>13} | {'peak RSS MB':>11} |")
    print(f"|{'-' * 36}|{'-' * 14}|{'-' * 10}|{'-' * 12}|{'-' * 14}|{'-' * 15}|{'-' * 13}|")
    results = {}
    for label, case in SLEEPER_CASES:
        done = subprocess.run(
            [sys.executable, "-m", "benchmarks.sleepers", str(count), *case],
            capture_output=True, text=True, check=False,
        )
        if done.returncode != 0:
            print(f"| {label:<34} | failed: {done.stderr.strip().splitlines()[-1] if done.stderr else done.returncode} |")
            continue
        result = json.loads(done.stdout)
        results[label] = result
        print(
            f"| {label:<34} | {result['create_s']:>12.2f} | {result['total_s']:>8.2f} | "
            f"{result['wake_s']:>10.2f} | {result['wake_us']:>12.0f} | "
            f"{result['sleeping_rss_mb']:>13.0f} | {result['peak_rss_mb']:>11.0f} |",
            flush=True,
        )
    return results


def _plugin_table(tests: int, repeat: int) -> dict[str, float]:
    print(f"\npytest plugin: per test = pytest's setup + call + teardown durations, median of "
          f"{tests} tests per process (first test: one-time imports); import in a fresh interpreter")
    print(f"| {'what':<52} | {'median ms':>9} | {'min ms':>7} | {'max ms':>7} | {'first test ms':>13} |")
    print(f"|{'-' * 54}|{'-' * 11}|{'-' * 9}|{'-' * 9}|{'-' * 15}|")
    figures: dict[str, float] = {}
    per_test = [
        ("test without fixtures (floor)", "bare"),
        ("test taking cfwf", "cfwf"),
        ("async test taking cfwf, one 1-step instance", "cfwf_async"),
    ]
    for label, kind in per_test:
        runs = [plugin.per_test_ms(kind, tests) for _ in range(repeat)]
        values, firsts = [median for median, _ in runs], [first for _, first in runs]
        figures[label] = statistics.median(values)
        print(f"| {label:<52} | {figures[label]:>9.2f} | {min(values):>7.2f} | {max(values):>7.2f} | "
              f"{statistics.median(firsts):>13.1f} |", flush=True)
    imports = [
        ("import pytest_cfwf (pytest already imported)", "pytest_cfwf", "pytest"),
        ("import pytest (baseline)", "pytest", ""),
    ]
    for label, module, after in imports:
        values = [plugin.import_ms(module, after=after) for _ in range(repeat)]
        figures[label] = statistics.median(values)
        print(f"| {label:<52} | {figures[label]:>9.2f} | {min(values):>7.2f} | {max(values):>7.2f} | {'':>13} |",
              flush=True)
    overhead = figures["test taking cfwf"] - figures["test without fixtures (floor)"]
    print(f"cfwf fixture overhead per test: {overhead:.2f} ms")
    figures["overhead"] = overhead
    return figures


def _targets(measured: list[Measured], sleepers: dict[str, dict[str, Any]], plugin_figures: dict[str, float]) -> None:
    by_label = {m.row.label: m for m in measured}

    def rate(label: str) -> float:
        m = by_label[label]
        return m.row.work / m.median

    def line(what: str, figure: str, met: bool) -> None:
        print(f"- {what}: {figure} -> {'met' if met else 'MISSED'}")

    print("\nTargets (issues 7 and 16)")
    memory = [m for m in measured if m.row.label.endswith("steps, memory")]
    line("in-memory >= 50,000 trivial steps/s",
         ", ".join(f"{m.row.shape} {rate(m.row.label):,.0f}" for m in memory),
         all(rate(m.row.label) >= 50_000 for m in memory))
    for m in memory:
        if m.peer is not None:
            ratio = statistics.median(m.peer) / m.median
            line(f"{m.row.shape} in memory >= 50x Cloudflare's local engine", f"{ratio:.0f}x", ratio >= 50)
    durable = [m for m in measured if m.row.label.endswith("SQLite WAL+FULL") and m.row.unit == "steps"]
    for m in durable:
        line(f"{m.row.label} >= 5,000 durable steps/s", f"{rate(m.row.label):,.0f}", rate(m.row.label) >= 5_000)
        if m.peer is not None:
            ratio = statistics.median(m.peer) / m.median
            line(f"{m.row.shape} on SQLite >= 10x DBOS", f"{ratio:.1f}x", ratio >= 10)
    single = sorted((m for m in memory if m.row.label.startswith("1 x")), key=lambda m: m.row.work)
    if len(single) == 2:
        scaling = single[1].median / single[0].median
        line("10,000 steps within 12x the cost of 1,000", f"{scaling:.1f}x", scaling <= 12)
    for label, result in sleepers.items():
        if label in ("memory, hibernate after 1 hour", "SQLite WAL+NORMAL, hibernate"):
            line(f"100,000 sleepers ({label}) in < 60 s and < 300 MB (peak)",
                 f"{result['total_s']:.1f} s, {result['sleeping_rss_mb']:.0f} MB asleep, {result['peak_rss_mb']:.0f} MB peak",
                 result["total_s"] < 60 and result["peak_rss_mb"] < 300)
    default = sleepers.get("SQLite WAL+FULL, default options")
    if default is not None:
        line("100,000 sleepers (SQLite, default options) < 150 MB peak (issue 16)",
             f"{default['peak_rss_mb']:.0f} MB peak", default["peak_rss_mb"] < 150)
        line("100,000 waking at the same instant (SQLite, default options) < 20 s (issue 16)",
             f"{default['wake_s']:.1f} s, {default['wake_us']:.0f} us per instance", default["wake_s"] < 20)
    decorated, call_form = by_label.get("1 x 1,000 steps, memory"), by_label.get(CALL_FORM_LABEL)
    if decorated is not None:
        line("1 x 1,000 steps in memory (decorator form) >= 100,000 steps/s (issue 16)",
             f"{rate(decorated.row.label):,.0f}", rate(decorated.row.label) >= 100_000)
        if call_form is not None:
            cost = decorated.median / call_form.median
            line("decorator form <= 1.2x the call form's time (issue 16)", f"{cost:.2f}x", cost <= 1.2)
    for label in ("1 x 1,000 steps, SQLite WAL+FULL", "1 x 10,000 steps, SQLite WAL+FULL"):
        durable_row = by_label.get(label)
        if durable_row is not None and durable_row.floor:
            x_floor = durable_row.median / durable_row.floor
            journal = "" if durable_row.journal is None else (
                f" (the journal's own rows, no engine: {durable_row.journal / durable_row.floor:.2f}x the one-row floor;"
                f" the engine {durable_row.median / durable_row.journal:.2f}x the journal floor)"
            )
            line(f"{label} within 1.3x the one-commit-per-step floor (issue 16)", f"{x_floor:.2f}x{journal}", x_floor <= 1.3)
    for m in measured:
        if m.ratios is not None:
            line(f"{m.row.label}: flat per-write cost (last 10% / first 10%)",
                 f"ratio {m.ratio:.2f}x (target <= {growth.FLAT_RATIO}x)", m.ratio <= growth.FLAT_RATIO)
    if plugin_figures:
        line("cfwf fixture overhead < 5 ms per test", f"{plugin_figures['overhead']:.2f} ms", plugin_figures["overhead"] < 5)
        imported = plugin_figures["import pytest_cfwf (pytest already imported)"]
        line("plugin import < 50 ms", f"{imported:.1f} ms", imported < 50)


def _row_json(m: Measured) -> dict[str, Any]:
    """One row's figures as saved by ``--json``."""
    if m.error:
        return {"error": m.error, "work": m.row.work, "unit": m.row.unit}
    return {
        "work": m.row.work, "unit": m.row.unit, "median_s": m.median, "runs": m.times,
        "floor": m.row.floor_label, "floor_s": m.floor, "x_floor": m.median / m.floor if m.floor else None,
        "journal_floor_s": m.journal,
        "last_first": m.ratio if m.ratios is not None else None,
        "peer": {"name": m.peer_label, "runs": m.peer, "median_s": statistics.median(m.peer) if m.peer else None,
                 "note": m.peer_note},
    }


def _machine() -> dict[str, Any]:
    code = checkout.code_under_test()
    return {
        "cpu_count": os.cpu_count(), "python": platform.python_version(), "machine": platform.machine(),
        "platform": platform.platform(), "harness_commit": checkout.commit(checkout.HERE),
        "code": str(code), "code_commit": checkout.commit(code),
    }


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, one run each, no peers")
    parser.add_argument("--repeat", type=int, default=3, help="runs per workload (default 3)")
    parser.add_argument("--no-peers", action="store_true", help="skip DBOS and Cloudflare's local engine")
    parser.add_argument("--json", type=Path, metavar="OUT", help="also save every figure to OUT (JSON)")
    parser.add_argument("--compare", type=Path, metavar="BASE",
                        help="print each row's ratio to a run saved with --json; flag rows >10%% worse on x floor")
    parser.add_argument("--code", type=Path, metavar="DIR",
                        help="time the cfwf_emulator of another checkout DIR with these workloads")
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    try:
        args.base = compare.load(args.compare) if args.compare is not None else None
        if args.code is not None:
            checkout.validate(args.code)
    except (compare.CompareError, checkout.CheckoutError) as exc:
        parser.error(str(exc))
    return args


def _in_other_checkout(code: Path, argv: list[str]) -> int:
    """Run this harness again in a process that imports ``code``'s cfwf_emulator."""
    shim = checkout.shim(code)
    try:
        done = subprocess.run([sys.executable, "-m", "benchmarks", *argv], cwd=shim,
                              env=checkout.environment(code, shim), check=False)
    finally:
        shutil.rmtree(shim)
    return done.returncode


def _child_arguments(args: argparse.Namespace) -> list[str]:
    """The options for the run in the other checkout's process (paths made absolute: it runs
    elsewhere)."""
    argv = ["--repeat", str(args.repeat)]
    argv += ["--smoke"] * args.smoke + ["--no-peers"] * args.no_peers
    argv += ["--json", str(args.json.resolve())] if args.json is not None else []
    argv += ["--compare", str(args.compare.resolve())] if args.compare is not None else []
    return argv


def _measure_rows(scale: int, repeat: int, peers: Peers) -> list[Measured]:
    measured = []
    with tempfile.TemporaryDirectory() as scratch:
        resume_steps = max(1, 10_000 // scale)
        template = Path(scratch) / "resume.db"
        resume.build_state(template, resume_steps)
        for row in [*_rows(scale), _resume_row(resume_steps, template), *_growth_rows(scale)]:
            measured.append(_measure(row, repeat, peers))
            print(f"  measured {row.label}", file=sys.stderr, flush=True)
    return measured


def main(argv: list[str] | None = None) -> int:
    """Run the workloads and print the tables; 1 when a row failed on this checkout's own engine."""
    args = _arguments(argv)
    if args.code is not None:
        return _in_other_checkout(args.code, _child_arguments(args))
    began = time.perf_counter()
    scale = 100 if args.smoke else 1
    repeat = 1 if args.smoke else args.repeat
    machine = _machine()
    print(
        f"cfwf-emulator benchmarks on CPython {platform.python_version()}, {platform.machine()}, "
        f"{machine['cpu_count']} CPUs, engine {machine['code_commit']} ({machine['code']}), "
        f"virtual clock; {repeat} run(s) each; seconds; 'x floor' = emulator / floor, "
        f"'peer/emu' = how many times faster than the peer"
    )
    with Peers(enabled=not (args.smoke or args.no_peers), repeat=repeat) as peers:
        measured = _measure_rows(scale, repeat, peers)
        for note in peers.notes:
            print(note)
    good = [m for m in measured if not m.error]
    _print_steps_table([m for m in good if m.ratios is None])
    _print_journal_table(good)
    _print_growth_table([m for m in good if m.ratios is not None])
    for m in measured:
        if m.error:
            print(f"n/a for this engine: {m.row.label}: {m.error}")
    sleepers = _sleepers_table(100 if args.smoke else 100_000)
    other_code = checkout.CODE_VARIABLE in os.environ
    plugin_figures: dict[str, float] = {}
    cli_figures: dict[str, float] = {}
    if other_code:
        print("\npytest plugin and cfwf command line: n/a with --code (they are this checkout's)")
    else:
        plugin_figures = _plugin_table(10 if args.smoke else 100, repeat)
        cli_figures = cli.table(100 if args.smoke else 10_000, repeat, SKIPPED if args.smoke or args.no_peers else None)
    if args.smoke:
        print("\nTargets are judged at full sizes only (run without --smoke).")
    else:
        _targets(good, sleepers, plugin_figures)
    saved = {
        "format": 1, "machine": machine,
        "options": {"smoke": args.smoke, "repeat": repeat, "peers": not (args.smoke or args.no_peers)},
        "rows": {m.row.label: _row_json(m) for m in measured},
        "sleepers": sleepers, "sleepers_peer": NO_PEER["sleepers"], "plugin": plugin_figures, "cli": cli_figures,
    }
    if args.base is not None:
        print()
        print("\n".join(compare.compare(args.base, saved)[0]))
    if args.json is not None:
        args.json.write_text(json.dumps(saved, indent=1) + "\n", encoding="utf-8")
        print(f"\nsaved to {args.json}")
    print(f"\nall benchmarks: {time.perf_counter() - began:.0f} s")
    return 1 if any(m.error for m in measured) and not other_code else 0


if __name__ == "__main__":
    raise SystemExit(main())
