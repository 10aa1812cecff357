"""Raw, read-only views of the emulator's state file, independent of the emulator's store code.

The file is copied (with its ``-wal``) to a temporary directory first, so reading never
checkpoints or otherwise touches the state the next worker will recover from.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass
class InstanceView:
    header: dict[str, Any]
    steps: dict[tuple[str, str, int], dict[str, Any]]

    def step(self, kind: str, name: str, count: int = 1) -> dict[str, Any] | None:
        return self.steps.get((kind, name, count))

    def ordered(self) -> list[dict[str, Any]]:
        return sorted(self.steps.values(), key=lambda s: s["seq"])

    def ok(self) -> set[tuple[str, str, int]]:
        """Keys of the steps journaled as finished successfully."""
        return {key for key, step in self.steps.items() if step["state"] == "ok"}

    def event_ns(self) -> dict[str, list[int]]:
        """Payload numbers of the events in the store: still buffered, and consumed by waits."""
        buffered = [json.loads(e["payload"])["n"] for e in self.header.get("events", [])]
        consumed = [
            json.loads(step["result"])["payload"]["n"]
            for step in self.ordered()
            if step["kind"] == "waitForEvent" and step["state"] == "ok"
        ]
        return {"buffered": buffered, "consumed": consumed}


def read_instance(db: "str | os.PathLike[str]", workflow: str, instance_id: str) -> InstanceView | None:
    """The instance as stored in ``db`` right now, or None (no file, or no such instance yet)."""
    db = Path(db)
    if not db.exists():
        return None
    with tempfile.TemporaryDirectory(prefix="cfwf-crash-view-") as tmp:
        copy = Path(tmp) / "copy.db"
        shutil.copyfile(db, copy)
        wal = db.with_name(db.name + "-wal")
        if wal.exists():
            shutil.copyfile(wal, copy.with_name(copy.name + "-wal"))
        con = sqlite3.connect(copy)
        try:
            tables = {row[0] for row in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
            if "instances" not in tables:
                return None
            row = con.execute(
                "SELECT header FROM instances WHERE workflow = ? AND id = ?", (workflow, instance_id)
            ).fetchone()
            if row is None:
                return None
            steps = {}
            for kind, name, count, data in con.execute(
                "SELECT kind, name, count, data FROM steps WHERE workflow = ? AND id = ?",
                (workflow, instance_id),
            ):
                steps[(kind, name, int(count))] = json.loads(data)
            if "attempts" in tables:  # schema version 2: a step's attempts are rows, not in the step
                rows: dict[Any, list[tuple[int, Any]]] = {key: [] for key in steps}
                for kind, name, count, number, data in con.execute(
                    "SELECT kind, name, count, n, data FROM attempts WHERE workflow = ? AND id = ? ORDER BY n",
                    (workflow, instance_id),
                ):
                    rows[(kind, name, int(count))].append((number, json.loads(data)))
                for key, step in steps.items():  # the step's newest attempt rides in its row
                    current = step.pop("current_attempt", None)
                    earlier = [(n, a) for n, a in rows[key] if current is None or n < current[0]]
                    step["attempts"] = [a for _, a in earlier] + ([current[1]] if current else [])
            header = json.loads(row[0])
            if "events" in tables:  # schema version 2: buffered events are rows, not in the header
                header["events"] = [
                    json.loads(data)
                    for (data,) in con.execute(
                        "SELECT data FROM events WHERE workflow = ? AND id = ? ORDER BY seq",
                        (workflow, instance_id),
                    )
                ]
            return InstanceView(header, steps)
        finally:
            con.close()
