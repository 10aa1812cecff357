"""Baseline: the "trivial steps" workload on DBOS (https://github.com/dbos-inc/dbos-transact-py)
with its SQLite system database, to set beside the emulator's SQLite rows.

    python -m benchmarks.dbos_baseline INSTANCES STEPS SCRATCH_DIR
    python -m benchmarks.dbos_baseline events WAITERS PER_INSTANCE SCRATCH_DIR
    python -m benchmarks.dbos_baseline resume-build STEPS SCRATCH_DIR   # then: resume STEPS SCRATCH_DIR

prints one JSON line ``{"seconds", "steps", "journal_mode", "synchronous"}`` and exits 0.

The events workload (``events``), beside the emulator's "events -> waiting" SQLite row: WAITERS
workflows each ``DBOS.recv`` PER_INSTANCE messages of topic ``tick`` in a row and return their
sum; each first publishes a ``ready`` event, and the clock starts once every workflow has (all
are about to wait), then the driver ``DBOS.send``\ s the messages one at a time, round-robin, and
waits for every result. DBOS on SQLite learns of new messages by polling; its interval is set to
:data:`POLL_S` (its default, 1 s, would dominate the time).

What is measured. One DBOS workflow runs ``STEPS`` sequential calls of a DBOS step ``v -> v + 1``
starting from 0 and returns the final value, exactly like ``TrivialSteps`` in
``benchmarks/__main__.py``. ``INSTANCES`` workflows are started *concurrently* with
``DBOS.start_workflow`` (DBOS runs each on a thread of its executor pool, so they overlap the way
the emulator's instances do on its event loop), then every handle's ``get_result()`` is awaited
and each result is checked to equal ``STEPS``. ``seconds`` is the wall time from the first
``start_workflow`` to the last result: it excludes importing DBOS, ``DBOS.launch()`` (which creates
and migrates the fresh database file ``SCRATCH_DIR/dbos.sqlite``) and ``DBOS.destroy()``, just as
the emulator's rows time instance creation and running, not Python start-up. ``steps`` is
``INSTANCES * STEPS``.

Why the numbers are comparable to the emulator's SQLite rows. Both engines journal every step's
result durably before the workflow moves on: DBOS writes one SQLite transaction per step (its
``operation_outputs`` row), plus a couple per workflow for its status row, which is the same
"one commit per step" that the ``sqlite`` floor in the table models. Both run on CPython's
``sqlite3`` module against a local file, in one process, with no network.

What differs, and should be said next to the number. DBOS leaves SQLite's durability settings at
their defaults (it sets only ``busy_timeout`` and ``foreign_keys`` on each connection and opens
``BEGIN IMMEDIATE`` transactions), so its connections report ``journal_mode = delete`` (a
rollback journal, not WAL) and ``synchronous = FULL``; each commit therefore creates, fsyncs and
deletes a journal file, which costs more than a WAL+FULL commit. The JSON's ``journal_mode`` and
``synchronous`` fields are read from a connection of DBOS's own engine after the run, so they
show what DBOS actually used. DBOS runs synchronous Python on threads through SQLAlchemy with a
connection pool, where the emulator is single-threaded asyncio.

``measure`` runs the module as a subprocess (a fresh interpreter and temporary directory per run,
so DBOS's process-wide singleton and thread pool start clean) and returns the list of seconds, or
None when ``dbos`` is not installed (it is the optional ``bench`` extra).
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

DATABASE_NAME = "dbos.sqlite"
POLL_S = 0.02
"""The events workload's notification polling interval (seconds): that of the Cloudflare peer."""
_SYNCHRONOUS_NAMES = {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}
_PROJECT_ROOT = Path(__file__).resolve().parent.parent


def _pragmas(dbos: Any) -> tuple[str, str]:
    """``journal_mode`` and ``synchronous`` as seen by a connection of DBOS's system database engine."""
    engine: Any = dbos._sys_db.engine  # private, but the only way to ask DBOS's own connections
    with engine.connect() as connection:
        journal_mode = str(connection.exec_driver_sql("PRAGMA journal_mode").scalar())
        synchronous = connection.exec_driver_sql("PRAGMA synchronous").scalar()
    return journal_mode, _SYNCHRONOUS_NAMES.get(int(synchronous), str(synchronous))


def run(instances: int, steps: int, scratch: Path) -> dict[str, Any]:
    """Run the workload once in this process on a fresh ``scratch/dbos.sqlite``; return the JSON fields.

    DBOS is a process-wide singleton, so call this at most once per process (``measure`` and the
    command line do).
    """
    database = scratch / DATABASE_NAME
    if database.exists():
        raise RuntimeError(f"{database} already exists; the baseline needs a fresh database")
    dbos_module = importlib.import_module("dbos")
    DBOS: Any = dbos_module.DBOS

    def add_one(value: int) -> int:
        return value + 1

    step: Any = DBOS.step()(add_one)

    def trivial(count: int) -> int:
        value = 0
        for _ in range(count):
            value = step(value)
        return value

    workflow: Any = DBOS.workflow()(trivial)

    dbos: Any = DBOS(config={
        "name": "cfwf-bench-baseline",
        "system_database_url": f"sqlite:///{database}",
        "log_level": "WARNING",
        "enable_otlp": False,
    })
    try:
        DBOS.launch()
        began = time.perf_counter()
        handles = [DBOS.start_workflow(workflow, steps) for _ in range(instances)]
        results = [handle.get_result() for handle in handles]
        seconds = time.perf_counter() - began
        if results != [steps] * instances:
            raise RuntimeError(f"wrong results: expected {instances} x {steps}, got {results[:5]}...")
        journal_mode, synchronous = _pragmas(dbos)
    finally:
        DBOS.destroy(destroy_registry=True)
    return {
        "seconds": seconds,
        "steps": instances * steps,
        "journal_mode": journal_mode,
        "synchronous": synchronous,
    }


def run_events(waiters: int, per_instance: int, scratch: Path) -> dict[str, Any]:
    """The events workload once in this process (see the module docstring); the JSON fields."""
    database = scratch / DATABASE_NAME
    DBOS: Any = importlib.import_module("dbos").DBOS

    def listen(count: int) -> int:
        DBOS.set_event("ready", True)
        return sum(int(DBOS.recv("tick", timeout_seconds=3600)) for _ in range(count))

    workflow: Any = DBOS.workflow()(listen)
    DBOS(config={
        "name": "cfwf-bench-baseline-events",
        "system_database_url": f"sqlite:///{database}",
        "log_level": "WARNING",
        "enable_otlp": False,
        "notification_listener_polling_interval_sec": POLL_S,
    })
    try:
        DBOS.launch()
        handles = [DBOS.start_workflow(workflow, per_instance) for _ in range(waiters)]
        ids = [handle.get_workflow_id() for handle in handles]
        for workflow_id in ids:
            if DBOS.get_event(workflow_id, "ready", timeout_seconds=600) is not True:
                raise RuntimeError(f"{workflow_id} never became ready")
        began = time.perf_counter()
        for _ in range(per_instance):
            for workflow_id in ids:
                DBOS.send(workflow_id, 1, topic="tick")
        results = [handle.get_result() for handle in handles]
        seconds = time.perf_counter() - began
        if results != [per_instance] * waiters:
            raise RuntimeError(f"wrong results: expected {waiters} x {per_instance}, got {results[:5]}...")
    finally:
        DBOS.destroy(destroy_registry=True)
    return {"seconds": seconds, "events": waiters * per_instance}


RESUME_ID = "long"


def _resume_workflow(executed: list[int]) -> Any:
    """The resume workload's workflow: STEPS trivial steps, a ``ready`` event, a wait for ``go``."""
    DBOS: Any = importlib.import_module("dbos").DBOS

    def add_one(value: int) -> int:
        executed.append(value)
        return value + 1

    step: Any = DBOS.step()(add_one)

    def long(count: int) -> int:
        value = 0
        for _ in range(count):
            value = step(value)
        DBOS.set_event("ready", True)
        DBOS.recv("go", timeout_seconds=365 * 86400)
        return value

    return DBOS.workflow()(long)


def _resume_dbos(database: Path) -> Any:
    DBOS: Any = importlib.import_module("dbos").DBOS
    return DBOS(config={"name": "cfwf-bench-baseline-resume", "system_database_url": f"sqlite:///{database}",
                        "log_level": "WARNING", "enable_otlp": False, "application_version": "bench",
                        "notification_listener_polling_interval_sec": POLL_S})


def build_resume(steps: int, scratch: Path) -> None:
    """The resume workload's state: one workflow that ran ``steps`` steps and waits for ``go``;
    the process then ends at once (``os._exit``), leaving it pending, as a crash would."""
    DBOS: Any = importlib.import_module("dbos").DBOS
    workflow = _resume_workflow([])
    _resume_dbos(scratch / DATABASE_NAME)
    DBOS.launch()
    SetWorkflowID: Any = importlib.import_module("dbos").SetWorkflowID
    with SetWorkflowID(RESUME_ID):
        DBOS.start_workflow(workflow, steps)
    if DBOS.get_event(RESUME_ID, "ready", timeout_seconds=600) is not True:
        raise RuntimeError("the resume workflow never became ready")
    print(json.dumps({"built": steps}), file=sys.__stdout__, flush=True)
    os._exit(0)


def run_resume(steps: int, scratch: Path) -> dict[str, Any]:
    """A new process recovers the pending workflow on launch (replaying every step from its
    journal, executing none: checked) and, sent ``go``, completes it. ``seconds`` runs from
    configuring DBOS (imports excluded) to the result: it includes finishing, which the
    emulator's row leaves out, since DBOS shows no sign of having reached the wait."""
    DBOS: Any = importlib.import_module("dbos").DBOS
    executed: list[int] = []
    _resume_workflow(executed)
    began = time.perf_counter()
    _resume_dbos(scratch / DATABASE_NAME)
    try:
        DBOS.launch()
        DBOS.send(RESUME_ID, True, topic="go")
        result = DBOS.retrieve_workflow(RESUME_ID).get_result()
        seconds = time.perf_counter() - began
    finally:
        DBOS.destroy(destroy_registry=True)
    if result != steps or executed:
        raise RuntimeError(f"resume: result {result!r}, {len(executed)} steps executed again")
    return {"seconds": seconds, "steps": steps}


def measure_resume(steps: int, repeat: int) -> list[float] | None:
    """The resume workload ``repeat`` times on copies of one state built once; None without dbos."""
    if importlib.util.find_spec("dbos") is None:
        return None
    times = []
    with tempfile.TemporaryDirectory() as template:
        _subprocess_json(["resume-build", str(steps), template], timeout=1200)
        for _ in range(repeat):
            with tempfile.TemporaryDirectory() as scratch:
                for path in Path(template).iterdir():
                    shutil.copy(path, Path(scratch) / path.name)
                times.append(float(_subprocess_json(["resume", str(steps), scratch])["seconds"]))
    return times


def _subprocess_json(args: list[str], timeout: float = 600) -> dict[str, Any]:
    done = subprocess.run([sys.executable, "-m", "benchmarks.dbos_baseline", *args], capture_output=True,
                          text=True, check=False, cwd=_PROJECT_ROOT, timeout=timeout)
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines()
        raise RuntimeError(lines[-1] if lines else f"dbos baseline exited with {done.returncode}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def measure(instances: int, steps: int, repeat: int, workload: str = "steps") -> list[float] | None:
    """Run the baseline ``repeat`` times, each in its own subprocess and temporary directory.

    Returns the seconds of each run, or None when the ``dbos`` package is not installed. Raises
    RuntimeError, with the last line of the subprocess's stderr, if a run fails. ``workload``
    "events" runs the events workload, ``instances`` waiters of ``steps`` messages each.
    """
    if importlib.util.find_spec("dbos") is None:
        return None
    times: list[float] = []
    for _ in range(repeat):
        with tempfile.TemporaryDirectory() as scratch:
            done = subprocess.run(
                [sys.executable, "-m", "benchmarks.dbos_baseline", *(["events"] if workload == "events" else []),
                 str(instances), str(steps), scratch],
                capture_output=True, text=True, check=False, cwd=_PROJECT_ROOT,
            )
        if done.returncode != 0:
            lines = done.stderr.strip().splitlines()
            raise RuntimeError(lines[-1] if lines else f"dbos baseline exited with {done.returncode}")
        times.append(float(json.loads(done.stdout.strip().splitlines()[-1])["seconds"]))
    return times


def main(argv: list[str]) -> None:
    """Parse ``[events] INSTANCES STEPS SCRATCH_DIR``, run the workload once, print its JSON line."""
    if argv and argv[0] in ("resume-build", "resume") and len(argv) == 3:
        with contextlib.redirect_stdout(sys.stderr):
            if argv[0] == "resume-build":
                build_resume(int(argv[1]), Path(argv[2]))
            outcome = run_resume(int(argv[1]), Path(argv[2]))
        print(json.dumps(outcome))
        return
    events = bool(argv) and argv[0] == "events"
    if events:
        argv = argv[1:]
    if len(argv) != 3:
        raise SystemExit("usage: python -m benchmarks.dbos_baseline [events] INSTANCES STEPS SCRATCH_DIR")
    instances, steps, scratch = int(argv[0]), int(argv[1]), Path(argv[2])
    # whatever DBOS might print goes to stderr, so stdout carries only the JSON line
    with contextlib.redirect_stdout(sys.stderr):
        result = (run_events if events else run)(instances, steps, scratch)
    print(json.dumps(result))


if __name__ == "__main__":
    main(sys.argv[1:])
