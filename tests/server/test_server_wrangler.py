"""Cloudflare's own CLI drives the dev server: ``wrangler workflows ... --local --port P``.

Wrangler 4.164 and Node 22 come from the differential toolchain (``python -m
conformance.differential --setup``; ``.ci/run`` installs it). Each command must exit 0 and show
the instance, as it does against ``wrangler dev``.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
from pathlib import Path
from typing import Any

from cfwf_emulator import Emulator
from conformance.differential.install import load_toolchain

W = "/workflows/demo-workflow"


class Wrangler:
    """Runs ``wrangler workflows ...`` against the dev server at ``port``."""

    def __init__(self, port: int, home: Path) -> None:
        toolchain = load_toolchain()  # SetupError says how to install it
        self.command = [str(toolchain.node), str(toolchain.wrangler_js), "workflows"]
        self.port = port
        self.cwd = home / "empty"  # no wrangler config needed with --local
        self.cwd.mkdir(parents=True)
        self.env = {
            **os.environ, "WRANGLER_SEND_METRICS": "false", "CLOUDFLARE_CF_FETCH_ENABLED": "false", "DO_NOT_TRACK": "1",
            "XDG_CONFIG_HOME": str(home / "config"), "NO_COLOR": "1", "FORCE_COLOR": "0",
        }

    async def __call__(self, *args: str) -> str:
        """Stdout of a command that must exit 0."""
        process = await asyncio.create_subprocess_exec(
            *self.command, *args, "--local", "--port", str(self.port), cwd=self.cwd, env=self.env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(process.communicate(), timeout=60)
        assert process.returncode == 0, (args, out.decode(), err.decode())
        return out.decode()

    async def json(self, *args: str) -> Any:
        """The parsed ``--json`` output of a command that must exit 0."""
        return json.loads(await self(*args, "--json"))


def _port(api: Any) -> int:
    return int(api.url.rsplit(":", 1)[1])


async def test_wrangler_lists_describes_and_triggers(emulator: Emulator, served: Any, tmp_path: Path) -> None:
    async with served(emulator) as api:
        wrangler = Wrangler(_port(api), tmp_path)
        assert "│ demo-workflow  │ demo-service │ DemoWorkflow  │" in await wrangler("list")
        described = await wrangler.json("describe", "demo-workflow")
        assert described["name"] == "demo-workflow" and described["instances"]["complete"] == 0
        out = await wrangler("trigger", "demo-workflow", '{"who": "ada"}', "--id", "cli-1")
        assert '🚀 Workflow instance "cli-1" has been triggered successfully' in out
        await emulator.settle()
        assert [row["id"] for row in await wrangler.json("instances", "list", "demo-workflow")] == ["cli-1"]
        shown = await wrangler("instances", "describe", "demo-workflow", "cli-1")
        assert re.search(r"Instance Id: +cli-1\n", shown) and re.search(r"Name: +flaky-1\n", shown), shown


async def test_wrangler_pauses_resumes_and_sends_an_event(emulator: Emulator, served: Any, tmp_path: Path) -> None:
    async with served(emulator) as api:
        wrangler = Wrangler(_port(api), tmp_path)
        await api.ok("POST", W + "/instances", json={"id": "cli-1", "params": {"who": "ada"}})
        await emulator.settle()
        await wrangler("instances", "pause", "demo-workflow", "cli-1")
        assert (await api.ok("GET", W + "/instances/cli-1"))["status"] == "paused"
        resumed = await wrangler.json("instances", "resume", "demo-workflow", "cli-1")
        assert resumed["status"] != "paused"
        await emulator.advance("1 hour")
        out = await wrangler("instances", "send-event", "demo-workflow", "cli-1", "--type", "approve", "--payload", '{"ok":true}')
        assert 'The event with type "approve" and payload "{"ok":true}" was sent to the instance "cli-1"' in out
        await emulator.settle()
        completed = await wrangler.json("instances", "describe", "demo-workflow", "latest")
        assert completed["id"] == "cli-1" and completed["status"] == "complete"
        assert completed["params"] == {"who": "ada"}
        assert completed["output"] == {"greeting": {"who": "ada"}, "approved": {"ok": True}}


async def test_wrangler_terminates_restarts_and_deletes(emulator: Emulator, served: Any, tmp_path: Path) -> None:
    async with served(emulator) as api:
        wrangler = Wrangler(_port(api), tmp_path)
        for name in ("cli-1", "cli-2"):
            await api.ok("POST", W + "/instances", json={"id": name})
        await emulator.settle()
        out = await wrangler("instances", "terminate", "demo-workflow", "cli-2")
        assert 'The instance "cli-2" from demo-workflow was terminated successfully' in out
        out = await wrangler("instances", "restart", "demo-workflow", "cli-2")
        assert 'The instance "cli-2" from demo-workflow was restarted successfully' in out
        await emulator.settle()
        restarted = await wrangler.json(
            "instances", "restart", "demo-workflow", "cli-2", "--from-step-name", "nap", "--from-step-type", "sleep"
        )
        assert restarted["status"] != "terminated"
        out = await wrangler("instances", "delete", "demo-workflow", "cli-1")
        assert 'Deleted workflow instances from "demo-workflow": "cli-1"' in out
        assert [row["id"] for row in await api.ok("GET", W + "/instances")] == ["cli-2"]
        assert "instances removed successfully" in await wrangler("delete", "demo-workflow")
        assert await api.ok("GET", W + "/instances") == []
