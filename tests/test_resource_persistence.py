"""KV, D1 and R2 bindings keep their data across a restart when the store is durable."""

from __future__ import annotations

import json
from pathlib import Path

from cfwf_emulator import Emulator, VirtualClock

START_MS = 1_767_225_600_000.0

CONFIG = {
    "name": "files",
    "main": "src/entry.py",
    "compatibility_date": "2026-06-01",
    "compatibility_flags": ["python_workers"],
    "workflows": [{"name": "archive", "binding": "ARCHIVE", "class_name": "Archive"}],
    "kv_namespaces": [{"binding": "INDEX", "id": "kv1"}],
    "d1_databases": [{"binding": "DB", "database_name": "files", "database_id": "d1"}],
    "r2_buckets": [{"binding": "BLOBS", "bucket_name": "blobs"}],
}

ENTRY = '''
from workers import WorkflowEntrypoint


class Archive(WorkflowEntrypoint):
    async def run(self, event, step):
        name = event["payload"]["name"]

        @step.do()
        async def store_blob():
            await self.env.BLOBS.put(name, "contents of " + name)
            await self.env.INDEX.put(name, "stored")
            await self.env.DB.exec("CREATE TABLE IF NOT EXISTS files (name TEXT PRIMARY KEY)")
            await self.env.DB.prepare("INSERT INTO files (name) VALUES (?)").bind(name).run()
            return name

        await store_blob()
        await step.wait_for_event("wait for approval", "approved", timeout="1 day")

        @step.do()
        async def read_back():
            blob = await self.env.BLOBS.get(name)
            row = await self.env.DB.prepare("SELECT count(*) AS n FROM files").first()
            return {"blob": await blob.text(), "index": await self.env.INDEX.get(name), "rows": row["n"]}

        return await read_back()
'''


def write_project(root: Path) -> Path:
    (root / "src").mkdir(parents=True)
    (root / "src" / "entry.py").write_text(ENTRY)
    (root / "wrangler.jsonc").write_text(json.dumps(CONFIG))
    return root


async def test_bindings_written_before_a_restart_are_read_after_it(tmp_path):
    project = write_project(tmp_path / "project")
    storage = f"sqlite:///{tmp_path / 'state.db'}"
    first = Emulator.from_config(project, clock=VirtualClock(START_MS), storage=storage)
    async with first:
        await first.env.ARCHIVE.create(id="a1", params={"name": "report.txt"})
        await first.advance("1 minute")
        assert (await (await first.env.ARCHIVE.get("a1")).status())["status"] == "waiting"

    second = Emulator.from_config(project, clock=VirtualClock(START_MS + 60_000), storage=storage)
    async with second:
        instance = await second.env.ARCHIVE.get("a1")
        await instance.send_event(type="approved", payload=None)
        await second.run_until_idle()
        status = await instance.status()
    assert status == {
        "status": "complete",
        "output": {"blob": "contents of report.txt", "index": "stored", "rows": 1},
    }


async def test_in_memory_bindings_start_empty_in_a_new_emulator(tmp_path):
    project = write_project(tmp_path / "project")
    first = Emulator.from_config(project, clock=VirtualClock(START_MS))
    async with first:
        await first.env.INDEX.put("k", "v")
    second = Emulator.from_config(project, clock=VirtualClock(START_MS))
    async with second:
        assert await second.env.INDEX.get("k") is None
