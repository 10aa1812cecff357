"""Support for the ``cfwf`` tests: temporary projects driven through the installed console script.

Every test runs the real ``cfwf`` executable (installed next to this interpreter) as a
subprocess in a project directory holding a ``wrangler.jsonc`` and ``src/entry.py``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

CFWF = Path(sys.executable).with_name("cfwf")

CONFIG = """{
  // the project the cfwf tests drive
  "name": "demo-service",
  "main": "src/entry.py",
  "compatibility_date": "2026-03-01",
  "compatibility_flags": ["python_workers"],
  "workflows": [
    {"name": "demo-workflow", "binding": "DEMO", "class_name": "DemoWorkflow"},
  ],
}
"""

DEMO = '''
from workers import WorkflowEntrypoint
from workers.workflows import NonRetryableError


class DemoWorkflow(WorkflowEntrypoint):
    async def run(self, event, step):
        params = event["payload"] or {}

        @step.do("flaky", config={"retries": {"limit": 2, "delay": 0, "backoff": "constant"}})
        async def flaky(ctx):
            if ctx["attempt"] <= params.get("failTimes", 0):
                raise RuntimeError(f"flaky failure #{ctx['attempt']}")
            return {"attempts": ctx["attempt"], "blob": params.get("blob", "")}

        result = await flaky()
        if params.get("secret"):
            @step.do("secret", config={"sensitive": "output"})
            async def secret():
                return {"token": params["secret"]}

            await secret()
        if params.get("fatal"):
            @step.do("charge")
            async def charge():
                raise NonRetryableError("card declined")

            await charge()
        if params.get("sleep"):
            await step.sleep("nap", params["sleep"])
        if params.get("marker"):
            @step.do("mark")
            async def mark():
                with open(params["marker"], "a") as marker:
                    marker.write("ran\\n")

            await mark()
        approval = await step.wait_for_event("approval", "approve", timeout="1 hour")
        return {"attempts": result["attempts"], "approved": approval["payload"]}
'''


@dataclass
class Result:
    """What one ``cfwf`` run did."""

    code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        assert self.code == 0, self.stderr
        return json.loads(self.stdout)


@dataclass
class Project:
    """A project directory and a way to run ``cfwf`` in it."""

    root: Path

    def run(self, *args: str, cwd: Path | None = None, env: dict[str, str] | None = None) -> Result:
        environment = {**os.environ, "TZ": "UTC", **(env or {})}
        environment.pop("NO_COLOR", None)
        done = subprocess.run(
            [str(CFWF), *args], cwd=cwd or self.root, env=environment, capture_output=True, text=True, timeout=60
        )
        return Result(done.returncode, done.stdout, done.stderr)

    def ok(self, *args: str) -> Result:
        result = self.run(*args)
        assert result.code == 0, result.stderr
        return result

    @property
    def state(self) -> Path:
        return self.root / ".cfwf" / "state" / "workflows.sqlite3"


def make_project(root: Path, source: str = DEMO, config: str = CONFIG) -> Project:
    """Write a project (config + ``src/entry.py``) under ``root``."""
    (root / "src").mkdir(parents=True, exist_ok=True)
    (root / "wrangler.jsonc").write_text(config, encoding="utf-8")
    (root / "src" / "entry.py").write_text(source, encoding="utf-8")
    return Project(root)


@pytest.fixture
def project(tmp_path: Path) -> Project:
    """A fresh demo project with no state yet."""
    return make_project(tmp_path / "project")
