"""The crash-test worker: ``python -m tests.crash.worker STATE_DB JOURNAL [--kill-at-write N
--kill-when before|after]``, run from the repository root.

It writes ``boot <pid>`` to the journal, settles any ambiguous event send left by a killed
predecessor, then runs an emulator (real clock, ``storage="sqlite:///STATE_DB"``) that resumes the
instance (or creates it on the first run), sends the scripted events at their points, and once
the instance is terminal writes ``JOURNAL.result`` (JSON, atomically) and exits 0.

Events (the single-owner lock means only this process may touch the state file, so the sender
lives here, outside the workflow): event 1 is sent once ``wait-a`` has been waiting 40 ms in this
process; event 2 as soon as ``wait-a`` has consumed event 1, so it stays buffered through four
steps until ``wait-b`` takes it. Each send is ``send n begin`` (fsynced), ``send_event``, ``send n
done`` (fsynced). A process killed between ``begin`` and ``done`` leaves the journal ambiguous; the
next worker settles it from the state file (the event is either buffered in the header or the
result of a wait step, both moved in one transaction) before anything runs: present means
``send n reconciled``, absent means it is sent again.

Hook events are traced (no fsync) to ``JOURNAL.trace`` so the parent can aim kills at retry
delays, sleeps, event waits and step boundaries (``done <step>``, written right after a step's
result is journaled). With ``--kill-at-write N`` the worker SIGKILLs itself right before
or right after its N-th commit, i.e. exactly between two durable states.
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
from .workflow import BINDING, EVENT_TYPE, INSTANCE_ID, PARAMS, WORKFLOW, CrashFlow

TERMINAL = ("complete", "errored", "terminated")
EVENT_1_AFTER_S = 0.04
POLL_S = 0.004


def die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


class KillingStore(SQLiteStore):
    """The SQLite store, dying right before or after its N-th commit (a durable write; a group
    commit can carry several journal writes)."""

    def __init__(self, path: str, kill_at: int, when: str) -> None:
        super().__init__(path)
        self.kill_at = kill_at
        self.when = when
        self.commits = 0

    def _commit(self) -> None:
        self.commits += 1
        if self.commits == self.kill_at and self.when == "before":
            die()
        super()._commit()
        if self.commits == self.kill_at and self.when == "after":
            die()


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
            (s for s in described["steps"] if s["type"] == "waitForEvent" and s["name"] == "wait-a"), None
        )
        if wait_a is None:
            return
        now = asyncio.get_running_loop().time()
        if 1 not in self.sent:
            if wait_a["success"] is None:
                if self.waiting_since is None:
                    self.waiting_since = now
                if now - self.waiting_since >= EVENT_1_AFTER_S:
                    await self.send(instance, 1)
        elif 2 not in self.sent and wait_a["success"] is True:
            await self.send(instance, 2)


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
    args = parser.parse_args(argv)
    db = os.path.abspath(args.state_db)
    journal_path = os.path.abspath(args.journal)

    journal.append(journal_path, f"boot {os.getpid()}")
    sent = reconcile_sends(db, journal_path)

    storage: Any = f"sqlite:///{db}"
    if args.kill_at_write is not None:
        storage = KillingStore(db, args.kill_at_write, args.kill_when)
    emu = Emulator(clock="real", storage=storage, vars={"JOURNAL": journal_path})
    emu.add_workflow(WORKFLOW, CrashFlow, binding=BINDING)
    emu.register(Tracer(journal_path + ".trace"))
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
        write_result(Path(journal_path + ".result"), {"status": status, "describe": await instance.describe()})
        journal.append(journal_path, f"finished {status['status']}")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1:])))
