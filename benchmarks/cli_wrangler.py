"""The wrangler peer of :mod:`benchmarks.cli`: the wall time of a cold ``wrangler workflows
instances list|describe NAME --local --port P`` process against a ``wrangler dev`` that holds
``count`` completed instances.

``wrangler dev`` runs a small Worker of its own (:data:`WORKER_JS`: a one-step workflow whose
instances finish at once) in the project and with the toolchain of ``conformance.differential``
(``python -m conformance.differential --setup`` installs them); ``/fill`` creates 100 instances
with one ``createBatch`` inside the Worker, and ``/done`` counts those complete; each hundred
completes before the next is created (a thousand at once failed with an internal error).
Filling is excluded from the timing, and stops at :data:`FILL_BUDGET_S` with the count reached.

    python -m benchmarks.cli_wrangler 10000 3     # count, runs per command
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from conformance.differential.install import SetupError, Toolchain, load_toolchain
from conformance.differential.server import DevServer, ServerError

WORKFLOW = "interp"
"""The workflow name in ``conformance.differential``'s generated wrangler config."""

WORKER_JS = r"""// cfwf-emulator benchmarks: instances for `wrangler workflows instances list --local`.
import { WorkflowEntrypoint } from "cloudflare:workers";

export class Interp extends WorkflowEntrypoint {
  async run(event, step) {
    return await step.do("one", async () => event.payload.n);
  }
}

const json = (body, status = 200) =>
  new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json" } });

export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    try {
      if (url.pathname === "/health") return json({ ok: true });
      const { first, count } = await request.json();
      if (url.pathname === "/fill") {
        for (let start = first; start < first + count; start += 100) {
          const batch = [];
          for (let i = start; i < Math.min(first + count, start + 100); i++) batch.push({ id: `i${i}`, params: { n: i } });
          await env.WF.createBatch(batch);
        }
        return json({ ok: true });
      }
      if (url.pathname === "/done") {
        // how many of i{first}.. are complete, stopping at the first that is not
        let i = first;
        for (; i < first + count; i++) {
          const { status } = await (await env.WF.get(`i${i}`)).status();
          if (status !== "complete") break;
        }
        return json({ next: i });
      }
      return json({ error: { name: "NotFound", message: url.pathname } }, 404);
    } catch (err) {
      return json({ error: { name: String(err?.name), message: String(err?.message ?? err) } }, 500);
    }
  },
};
"""
"""The peer's Worker; written into the generated ``wrangler dev`` project as ``src/index.js``."""

COMMANDS = (
    (f"wrangler workflows instances list {WORKFLOW} --local", ["list", WORKFLOW]),
    (f"wrangler workflows instances describe {WORKFLOW} latest --local", ["describe", WORKFLOW, "latest"]),
)
FILL_TIMEOUT_S = 120.0
"""Seconds one hundred instances may take to complete."""
FILL_BUDGET_S = 300.0
"""Filling stops after the hundred that passes this many seconds; the rows say the count reached."""


class PeerError(RuntimeError):
    """``wrangler dev`` could not be filled, or a wrangler command failed."""


def _call(server: DevServer, path: str, first: int, count: int) -> dict[str, object]:
    answer = server.request("POST", path, {"first": first, "count": count}, timeout=300)
    if not isinstance(answer, dict) or "error" in answer:
        raise PeerError(f"{path} failed: {answer}")
    return answer


def fill(server: DevServer, count: int, budget_s: float = FILL_BUDGET_S) -> tuple[int, float]:
    """Create up to ``count`` instances, 100 at a time, each hundred complete before the next;
    stop early once ``budget_s`` seconds have gone.  The number created (all complete) and the seconds."""
    began = time.perf_counter()
    done = 0
    while done < count and time.perf_counter() - began < budget_s:
        size = min(100, count - done)
        _call(server, "/fill", done, size)
        deadline = time.perf_counter() + FILL_TIMEOUT_S
        target = done + size
        while done < target:
            if time.perf_counter() > deadline:
                raise PeerError(f"instance i{done} not complete after {FILL_TIMEOUT_S:.0f} s")
            progressed = int(str(_call(server, "/done", done, target - done)["next"]))
            if progressed == done:
                time.sleep(0.2)
            done = progressed
    return done, time.perf_counter() - began


def time_command(toolchain: Toolchain, server: DevServer, args: list[str]) -> float:
    """Wall seconds of one cold ``wrangler workflows instances ARGS --local --port P`` process."""
    env = dict(os.environ)
    env.update({"WRANGLER_SEND_METRICS": "false", "CI": "1", "NO_COLOR": "1",
                "XDG_CONFIG_HOME": str(server.tmp / "xdg")})
    cmd = [str(toolchain.node), str(toolchain.wrangler_js), "workflows", "instances", *args,
           "--local", "--port", str(server.port)]
    began = time.perf_counter()
    proc = subprocess.run(cmd, cwd=server.tmp / "project", env=env, stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=300)
    took = time.perf_counter() - began
    if proc.returncode != 0:
        raise PeerError(f"{' '.join(cmd)} exited {proc.returncode}: {(proc.stdout + proc.stderr)[-500:]}")
    return took


def rows(count: int, repeat: int) -> list[str]:
    """Table rows for the wrangler commands on ``count`` instances, or one "not run (...)" row."""
    try:
        toolchain = load_toolchain()
    except SetupError:
        return [_row("wrangler workflows instances ... --local", "not run (python -m conformance.differential --setup)")]
    worker_dir = Path(tempfile.mkdtemp(prefix="cfwf-bench-cli-"))
    worker = worker_dir / "cli_peer.js"
    worker.write_text(WORKER_JS)
    server = DevServer(toolchain, worker=worker)
    try:
        server.start()
        filled, seconds = fill(server, count)
        print(f"wrangler {toolchain.wrangler_version} dev holding {filled:,} instances (filled in {seconds:.0f} s, "
              f"excluded{'' if filled == count else f'; the {FILL_BUDGET_S:.0f} s fill budget stopped it'}):", flush=True)
        out = []
        for label, args in COMMANDS:
            values = [time_command(toolchain, server, args) for _ in range(repeat)]
            out.append(f"| {label:<50} | {statistics.median(values):>8.3f} | {min(values):>6.3f} | {max(values):>6.3f} |")
        return out
    except (PeerError, ServerError, OSError, subprocess.TimeoutExpired) as exc:
        # the local engine's createBatch now and then answers "internal error": say so in the row
        return [_row("wrangler workflows instances ... --local", f"failed ({str(exc).splitlines()[0][:200]})")]
    finally:
        server.stop()
        server.cleanup()
        shutil.rmtree(worker_dir, ignore_errors=True)


def _row(label: str, text: str) -> str:
    return f"| {label:<50} | {text} |"


if __name__ == "__main__":
    for line in rows(int(sys.argv[1]) if len(sys.argv) > 1 else 10_000, int(sys.argv[2]) if len(sys.argv) > 2 else 3):
        print(line, flush=True)
