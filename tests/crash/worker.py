"""The crash-test worker: ``python -m tests.crash.worker STATE_DB JOURNAL [--kill-at-write N
--kill-when before|after] [--kill-in SITE:N[:WHEN]]``, run from the repository root.

It writes ``boot <pid>`` to the journal, settles any ambiguous event send left by a killed
predecessor, then runs the project ``tests/crash/project`` (``Emulator.from_config``, real
clock, ``storage="sqlite:///STATE_DB"``: its D1 database and KV namespace are durable too) that
resumes the instance (or creates it on the first run), sends the scripted events at their points,
and once the instance is terminal writes ``JOURNAL.result`` (JSON, atomically: the status, the
description, and what D1 and KV hold, read through the bindings) and exits 0.

Events (the single-owner lock means only this process may touch the state file, so the sender
lives here, outside the workflow): event 1 is sent once ``wait-a`` has been waiting 40 ms in this
process; event 2 as soon as ``wait-a`` has consumed event 1, so it stays buffered through four
steps until ``wait-b`` takes it. Each send is ``send n begin`` (fsynced), ``send_event``, ``send n
done`` (fsynced). A process killed between ``begin`` and ``done`` leaves the journal ambiguous; the
next worker settles it from the state file (the event is either buffered in the header or the
result of a wait step, both moved in one transaction) before anything runs: present means
``send n reconciled``, absent means it is sent again.

Two observers are registered with ``emu.register``. The tracer writes hook events (no fsync) to
``JOURNAL.trace`` so the parent can aim kills at retry delays, sleeps, event waits and step
boundaries (``done <step>``, written when the engine announces a step's end). The recorder
journals every hook call (``obs <hook> <name> <n> begin`` ... ``end``, fsynced) and burns
``OBSERVER_BUSY_MS`` of CPU in between, so kills land inside observers; the parent checks that
every fact announced to it was durable.

Self-inflicted kills, exactly between or inside durable writes: ``--kill-at-write N`` SIGKILLs
right before or after the state file's N-th commit; ``--kill-in observer:N`` in the middle of the
recorder's N-th hook call; ``--kill-in d1:N`` as the D1 connection starts its N-th SQL statement
(inside a ``batch`` transaction, or between the statements of an ``exec``); ``--kill-in
kv:N:before|mid|after`` in the N-th KV put: before it runs, while its write is applied but not
committed, or after it returned (still inside the workflow's ``kv ... begin``/``done`` bracket).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

from cfwf_emulator import Emulator
from cfwf_emulator.errors import WorkflowError
from cfwf_emulator.hooks import hookimpl
from cfwf_emulator.store import SQLiteStore

from . import journal, state
from .workflow import BINDING, EVENT_TYPE, INSTANCE_ID, PARAMS, WORKFLOW, busy

TERMINAL = ("complete", "errored", "terminated")
EVENT_1_AFTER_S = 0.04
POLL_S = 0.004
PROJECT = Path(__file__).resolve().parent / "project"
#: CPU time the recorder burns inside every hook call, so a kill can land there
OBSERVER_BUSY_MS = 3.0
SITES = ("observer", "d1", "kv")
KV_WHEN = ("before", "mid", "after")


def die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


class KillingStore(SQLiteStore):
    """The SQLite store, dying right before or after its N-th commit (a durable write; a group
    commit can carry several journal writes), or at any commit while ``die_at_commit`` is set
    (inside a KV put)."""

    def __init__(self, path: str, kill_at: int, when: str) -> None:
        super().__init__(path)
        self.kill_at = kill_at
        self.when = when
        self.commits = 0
        self.die_at_commit = False

    def _commit(self) -> None:
        self.commits += 1
        if self.die_at_commit or (self.commits == self.kill_at and self.when == "before"):
            die()
        super()._commit()
        if self.commits == self.kill_at and self.when == "after":
            die()


class SiteKill:
    """``--kill-in SITE:N[:WHEN]``: where inside an observer, a D1 write or a KV put to die."""

    def __init__(self, spec: str) -> None:
        parts = spec.split(":")
        if len(parts) not in (2, 3) or parts[0] not in SITES or not parts[1].isdigit():
            raise SystemExit(f"--kill-in takes SITE:N[:WHEN] with SITE in {SITES}, got {spec!r}")
        self.site = parts[0]
        self.n = int(parts[1])
        self.when = parts[2] if len(parts) == 3 else "mid"
        if self.site == "kv" and self.when not in KV_WHEN:
            raise SystemExit(f"--kill-in kv:N:WHEN takes WHEN in {KV_WHEN}, got {self.when!r}")
        self.calls = 0

    def hit(self, site: str) -> bool:
        """Count one call at ``site``; whether it is the one to die in."""
        if site != self.site:
            return False
        self.calls += 1
        return self.calls == self.n

    def arm_d1(self, database: Any) -> None:
        """Die as the D1 connection starts its N-th statement (``set_trace_callback`` runs first)."""

        def trace(statement: str) -> None:
            if self.hit("d1"):
                die()

        database._conn.set_trace_callback(trace)

    def arm_kv(self, namespace: Any, store: KillingStore) -> None:
        """Die inside the N-th ``put`` of ``namespace``: before, at its commit, or after it."""
        put = namespace.put

        async def killing_put(*args: Any, **kwargs: Any) -> Any:
            hit = self.hit("kv")
            if hit and self.when == "before":
                die()
            store.die_at_commit = hit and self.when == "mid"
            try:
                result = await put(*args, **kwargs)
            finally:
                store.die_at_commit = False
            if hit:  # "after", or "mid" with a put that committed nothing of its own
                die()
            return result

        namespace.put = killing_put


class Tracer:
    """Writes phase markers the parent aims kills at (absolute deadlines in epoch ms)."""

    def __init__(self, path: str) -> None:
        self.path = path

    @hookimpl
    def cfwf_step_attempt(self, name: str, attempt: int, retry_delay_ms: float | None, at: float) -> None:
        if retry_delay_ms is not None:
            journal.append_fast(self.path, f"retry {name} {attempt} {at + retry_delay_ms:.3f}")

    @hookimpl
    def cfwf_sleep_start(self, name: str, until: float) -> None:
        journal.append_fast(self.path, f"sleep {name} {until:.3f}")

    @hookimpl
    def cfwf_event_wait_start(self, name: str) -> None:
        journal.append_fast(self.path, f"wait {name}")

    @hookimpl
    def cfwf_step_end(self, name: str) -> None:
        journal.append_fast(self.path, f"done {name}")

    @hookimpl
    def cfwf_sleep_end(self, name: str) -> None:
        journal.append_fast(self.path, f"done {name}")

    @hookimpl
    def cfwf_event_wait_end(self, name: str) -> None:
        journal.append_fast(self.path, f"done {name}")


class Recorder:
    """An observer doing real work in every hook: ``obs <hook> <name> <n> begin`` (fsynced),
    ``OBSERVER_BUSY_MS`` of CPU, ``obs ... end`` (fsynced). ``<n>`` is the attempt number for
    ``step_attempt``, the count otherwise; ``status`` lines carry the new status as the name."""

    def __init__(self, path: str, kill: SiteKill | None) -> None:
        self.path = path
        self.kill = kill

    def record(self, hook: str, name: str, n: int) -> None:
        line = f"obs {hook} {name} {n}"
        journal.append(self.path, f"{line} begin")
        if self.kill is not None and self.kill.hit("observer"):
            busy(OBSERVER_BUSY_MS / 2)
            die()
        busy(OBSERVER_BUSY_MS)
        journal.append(self.path, f"{line} end")

    @hookimpl
    def cfwf_instance_status_changed(self, new: str) -> None:
        self.record("status", new, 0)

    @hookimpl
    def cfwf_step_start(self, name: str, count: int) -> None:
        self.record("step_start", name, count)

    @hookimpl
    def cfwf_step_attempt(self, name: str, attempt: int) -> None:
        self.record("step_attempt", name, attempt)

    @hookimpl
    def cfwf_step_end(self, name: str, count: int) -> None:
        self.record("step_end", name, count)

    @hookimpl
    def cfwf_sleep_start(self, name: str, count: int) -> None:
        self.record("sleep_start", name, count)

    @hookimpl
    def cfwf_sleep_end(self, name: str, count: int) -> None:
        self.record("sleep_end", name, count)

    @hookimpl
    def cfwf_event_wait_start(self, name: str, count: int) -> None:
        self.record("wait_start", name, count)

    @hookimpl
    def cfwf_event_wait_end(self, name: str, count: int) -> None:
        self.record("wait_end", name, count)


def reconcile_sends(db: str, journal_path: str) -> set[int]:
    """Settle sends a killed predecessor left ambiguous; return the events known to be sent."""
    sends = journal.send_state(journal.read_lines(journal_path))
    sent = set(sends.done)
    if sends.ambiguous:
        view = state.read_instance(db, WORKFLOW, INSTANCE_ID)
        present = set()
        if view is not None:
            ns = view.event_ns()
            present = set(ns["buffered"]) | set(ns["consumed"])
        for n in sorted(sends.ambiguous):
            if n in present:
                journal.append(journal_path, f"send {n} reconciled")
                sent.add(n)
    return sent


class EventSender:
    def __init__(self, journal_path: str, sent: set[int]) -> None:
        self.journal_path = journal_path
        self.sent = sent
        self.waiting_since: float | None = None

    async def send(self, instance: Any, n: int) -> None:
        journal.append(self.journal_path, f"send {n} begin")
        await instance.send_event(type=EVENT_TYPE, payload={"n": n})
        journal.append(self.journal_path, f"send {n} done")
        self.sent.add(n)

    async def poll(self, instance: Any) -> None:
        if 1 in self.sent and 2 in self.sent:
            return
        described = await instance.describe()
        wait_a = next(
            (s for s in described["steps"] if s["type"] == "waitForEvent" and s["name"] == "wait-a-1"), None
        )
        if wait_a is None:
            return
        now = asyncio.get_running_loop().time()
        if 1 not in self.sent:
            if not wait_a["finished"]:
                if self.waiting_since is None:
                    self.waiting_since = now
                if now - self.waiting_since >= EVENT_1_AFTER_S:
                    await self.send(instance, 1)
        elif 2 not in self.sent and wait_a["output"] is not None:
            await self.send(instance, 2)


async def read_resources(env: Any) -> dict[str, Any]:
    """Everything the workflow wrote to KV and D1, read through the bindings."""
    kv: dict[str, Any] = {}
    cursor = None
    while True:
        page = await env.KV.list(cursor=cursor) if cursor else await env.KV.list()
        for key in page["keys"]:
            kv[key["name"]] = await env.KV.get(key["name"], type="json")
        if page["list_complete"]:
            break
        cursor = page["cursor"]
    ledger = await env.DB.prepare("SELECT step, attempt, amount FROM ledger ORDER BY rowid").raw()
    totals = await env.DB.prepare("SELECT total, writes FROM totals WHERE id = 1").first()
    return {
        "kv": json.loads(json.dumps(kv)),
        "ledger": [list(row) for row in ledger],
        "totals": None if totals is None else {"total": totals["total"], "writes": totals["writes"]},
    }


def write_result(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w") as handle:
        json.dump(data, handle)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


async def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.crash.worker")
    parser.add_argument("state_db")
    parser.add_argument("journal")
    parser.add_argument("--kill-at-write", type=int, default=None)
    parser.add_argument("--kill-when", choices=("before", "after"), default="after")
    parser.add_argument("--kill-in", default=None, metavar="SITE:N[:WHEN]")
    args = parser.parse_args(argv)
    db = os.path.abspath(args.state_db)
    journal_path = os.path.abspath(args.journal)
    kill = SiteKill(args.kill_in) if args.kill_in else None

    journal.append(journal_path, f"boot {os.getpid()}")
    sent = reconcile_sends(db, journal_path)

    storage: Any = f"sqlite:///{db}"
    if args.kill_at_write is not None or kill is not None:
        storage = KillingStore(db, args.kill_at_write or 0, args.kill_when)
    emu = Emulator.from_config(PROJECT, clock="real", storage=storage, vars={"JOURNAL": journal_path})
    if kill is not None and kill.site == "d1":
        kill.arm_d1(emu.env.DB)
    if kill is not None and kill.site == "kv":
        kill.arm_kv(emu.env.KV, storage)
    emu.register(Tracer(journal_path + ".trace"))
    emu.register(Recorder(journal_path, kill))
    sender = EventSender(journal_path, sent)
    async with emu:
        binding = emu.env[BINDING]
        try:
            instance = await binding.get(INSTANCE_ID)
        except WorkflowError:
            instance = await binding.create(id=INSTANCE_ID, params=PARAMS)
        while True:
            status = await instance.status()
            if status["status"] in TERMINAL:
                break
            await sender.poll(instance)
            await asyncio.sleep(POLL_S)
        write_result(
            Path(journal_path + ".result"),
            {"status": status, "describe": await instance.describe(), **await read_resources(emu.env)},
        )
        journal.append(journal_path, f"finished {status['status']}")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1:])))
