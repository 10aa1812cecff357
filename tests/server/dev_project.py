"""The demo Python Workers project the dev server's tests serve (written into a temporary directory)."""

from __future__ import annotations

import textwrap
from pathlib import Path

START_MS = 1_767_225_600_000.0  # 2026-01-01T00:00:00Z

WRANGLER = """
{
  "name": "demo-service",
  "main": "src/entry.py",
  "compatibility_date": "2026-03-01",
  "compatibility_flags": ["python_workers"],
  "workflows": [
    {"name": "demo-workflow", "binding": "DEMO", "class_name": "DemoWorkflow"},
    {"name": "other-workflow", "binding": "OTHER", "class_name": "OtherWorkflow"}
  ],
  "kv_namespaces": [{"binding": "NOTES", "id": "notes-id"}]
}
"""

ENTRY = '''
from workers import Response, WorkerEntrypoint, WorkflowEntrypoint


class DemoWorkflow(WorkflowEntrypoint):
    async def run(self, event, step):
        params = event["payload"] or {}
        state = {"failures": 0}

        @step.do("flaky", config={"retries": {"limit": 2, "delay": "1 second", "backoff": "constant"}})
        async def flaky():
            if state["failures"] < params.get("fail_times", 0):
                state["failures"] += 1
                raise ValueError(f"flaky failure #{state['failures']}")
            return {"who": params.get("who", "world")}

        greeting = await flaky()
        await step.sleep("nap", params.get("sleep", "1 hour"))
        approval = await step.wait_for_event("approval", "approve", timeout="1 day")
        return {"greeting": greeting, "approved": approval["payload"]}


class OtherWorkflow(WorkflowEntrypoint):
    async def run(self, event, step):
        return "done"


class Default(WorkerEntrypoint):
    async def fetch(self, request):
        if request.url.endswith("/boom"):
            raise RuntimeError("the worker broke")
        if request.method == "POST":
            instance = await self.env.DEMO.create(params=await request.json())
            return Response.json({"id": instance.id}, status=201)
        return Response(f"hello from the worker: {request.method} {request.url}", headers={"X-Demo": "yes"})
'''


def write_project(root: Path) -> Path:
    """Write the demo project into ``root``; its directory."""
    (root / "src").mkdir(parents=True, exist_ok=True)
    (root / "wrangler.jsonc").write_text(WRANGLER, encoding="utf-8")
    (root / "src" / "entry.py").write_text(textwrap.dedent(ENTRY), encoding="utf-8")
    return root
