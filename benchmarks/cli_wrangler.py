"""The wrangler peer of :mod:`benchmarks.cli`: the wall time of a cold ``wrangler workflows
instances list|describe NAME --local --port P`` process against a ``wrangler dev`` that holds
``count`` completed instances.

``wrangler dev`` runs a small Worker of its own (:data:`WORKER_JS`: a one-step workflow whose
instances finish at once) in the project and with the toolchain of ``conformance.differential``
(``python -m conformance.differential --setup`` installs them).  Filling is excluded from the
timing.  Each ``POST /fill`` creates :data:`REQUEST_SIZE` instances inside the Worker, with
``env.WF.createBatch`` in batches of 100 (its limit), and waits for each batch to complete (its
status checks in parallel) before the next: one HTTP round trip through wrangler's proxy per
thousand instances, and at most 100 instances starting at once in the local engine, where each is a
Durable Object with a SQLite file of its own (a thousand at once failed with an internal error).
A failed request is sent again: the ids are fixed and ``createBatch`` skips those that exist.
That ``wrangler dev`` runs with its local observability off (``X_LOCAL_OBSERVABILITY=false``):
on by default, it records a trace of every call into every instance in one SQLite store, which
doubles the CPU per instance.  The timed commands then run against a fresh ``wrangler dev`` on
the same persisted state, with wrangler's defaults, as a user starts it on a project.

``wrangler dev`` caches the per-status counts that ``instances list`` shows for 30 s
(:data:`COUNT_CACHE_S`); without it every listing reads every instance's Durable Object.  Each
timed run waits for that cache to lapse, as for a user who runs the command after a pause; one
more row lists again at once, with the cache warm.

    python -m benchmarks.cli_wrangler 10000 3     # count, runs per command
"""

from __future__ import annotations

import os
import resource
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

const BATCH = 100;          // createBatch's limit
const WAIT_MS = 120000;     // how long one batch may take to complete

const json = (body, status = 200) =>
  new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json" } });

async function statusOf(env, id) {
  try {
    return (await (await env.WF.get(id)).status()).status;
  } catch {
    return "missing";
  }
}

// Wait until every id is complete; an id that is not after WAIT_MS is an error.
async function completed(env, ids) {
  const deadline = Date.now() + WAIT_MS;
  let pending = ids;
  while (pending.length > 0) {
    const statuses = await Promise.all(pending.map((id) => statusOf(env, id)));
    pending = pending.filter((_, k) => statuses[k] !== "complete");
    if (pending.length === 0) break;
    if (Date.now() > deadline) throw new Error(`${pending[0]} not complete after ${WAIT_MS} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    try {
      if (url.pathname === "/health") return json({ ok: true });
      if (url.pathname !== "/fill") return json({ error: { name: "NotFound", message: url.pathname } }, 404);
      const { first, count } = await request.json();
      for (let start = first; start < first + count; start += BATCH) {
        const ids = [];
        for (let i = start; i < Math.min(first + count, start + BATCH); i++) ids.push(`i${i}`);
        // the array form skips ids that exist, so a request sent again creates only what is missing
        await env.WF.createBatch(ids.map((id) => ({ id, params: { n: Number(id.slice(1)) } })));
        await completed(env, ids);
      }
      return json({ complete: count });
    } catch (err) {
      return json({ error: { name: String(err?.name), message: String(err?.message ?? err) } }, 500);
    }
  },
};
"""
"""The peer's Worker; written into the generated ``wrangler dev`` project as ``src/index.js``."""

COMMANDS = (
    (f"wrangler workflows instances list {WORKFLOW} --local", ["instances", "list", WORKFLOW]),
    (f"wrangler workflows instances list {WORKFLOW} --local --json", ["instances", "list", WORKFLOW, "--json"]),
    (f"wrangler workflows instances describe {WORKFLOW} latest --local", ["instances", "describe", WORKFLOW, "latest"]),
)
"""The timed commands (label, arguments after ``wrangler workflows``), each after the count cache lapsed."""
WARM = ("  the same list at once again (count cache warm)", ["instances", "list", WORKFLOW])
BASELINE = ("wrangler workflows list --local (no instance read)", ["list"])
REQUEST_SIZE = 1000
"""Instances one ``POST /fill`` creates and waits for."""
ATTEMPTS = 3
"""How many times one ``POST /fill`` is sent before the fill gives up."""
FILL_BUDGET_S = 1800.0
"""Filling stops after the request that passes this many seconds; the rows say the count reached."""
FDS_PER_INSTANCE = 3
"""Open files per instance in ``wrangler dev`` (its SQLite database, journal and shared memory)."""
OBSERVABILITY_ENV = "X_LOCAL_OBSERVABILITY"
"""wrangler's switch for local observability (default on), turned off while filling."""
COUNT_CACHE_S = 30.0
"""How long ``wrangler dev`` keeps its per-status instance counts (miniflare's local explorer
``STATUS_COUNTS_TTL_MS``); each timed run waits a second longer than this after the last listing."""


class PeerError(RuntimeError):
    """``wrangler dev`` could not be filled, or a wrangler command failed."""


def _fill_request(server: DevServer, first: int, count: int) -> None:
    """Instances ``i{first}`` .. created and complete; a failed request is sent again."""
    failure = ""
    for _ in range(ATTEMPTS):
        try:
            answer = server.request("POST", "/fill", {"first": first, "count": count}, timeout=600)
        except (OSError, ServerError) as exc:
            failure = str(exc)
            continue
        if isinstance(answer, dict) and answer.get("complete") == count:
            return
        failure = str(answer)
    raise PeerError(f"filling i{first}..i{first + count - 1} failed {ATTEMPTS} times, last: {failure[:300]}")


def segment_size() -> int:
    """Instances one ``wrangler dev`` session may create: its engine keeps every instance it has
    touched open (:data:`FDS_PER_INSTANCE` descriptors each) until it stops, and past the
    process's open-file limit ``createBatch`` answers "internal error"."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return 1_000_000
    return max(REQUEST_SIZE, (soft * 3 // 4) // FDS_PER_INSTANCE // REQUEST_SIZE * REQUEST_SIZE)


def fill(server: DevServer, count: int, budget_s: float = FILL_BUDGET_S) -> tuple[int, float]:
    """Create ``count`` complete instances, :data:`REQUEST_SIZE` per request, reporting progress
    on stderr, restarting ``server`` after each :func:`segment_size` instances; stop early once
    ``budget_s`` seconds have gone.  The number created and the seconds."""
    began = time.perf_counter()
    done = 0
    segment = segment_size()
    while done < count and time.perf_counter() - began < budget_s:
        if done > 0 and done % segment == 0:
            server.stop()
            _start(server, observability=False)
        size = min(REQUEST_SIZE, count - done)
        _fill_request(server, done, size)
        done += size
        took = time.perf_counter() - began
        print(f"  wrangler dev: {done:,}/{count:,} instances complete, {took:.0f} s ({done / took:.0f}/s)",
              file=sys.stderr, flush=True)
    return done, time.perf_counter() - began


def _start(server: DevServer, observability: bool) -> None:
    """Start ``server``, with wrangler's local observability off unless ``observability``."""
    saved = os.environ.get(OBSERVABILITY_ENV)
    if not observability:
        os.environ[OBSERVABILITY_ENV] = "false"
    try:
        server.start()
    finally:
        if saved is None:
            os.environ.pop(OBSERVABILITY_ENV, None)
        else:
            os.environ[OBSERVABILITY_ENV] = saved


def time_command(toolchain: Toolchain, server: DevServer, args: list[str]) -> float:
    """Wall seconds of one cold ``wrangler workflows ARGS --local --port P`` process."""
    env = dict(os.environ)
    env.update({"WRANGLER_SEND_METRICS": "false", "CI": "1", "NO_COLOR": "1",
                "XDG_CONFIG_HOME": str(server.tmp / "xdg")})
    cmd = [str(toolchain.node), str(toolchain.wrangler_js), "workflows", *args, "--local", "--port", str(server.port)]
    began = time.perf_counter()
    proc = subprocess.run(cmd, cwd=server.tmp / "project", env=env, stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=300)
    took = time.perf_counter() - began
    if proc.returncode != 0:
        raise PeerError(f"wrangler workflows {' '.join(args)} --local exited {proc.returncode}: {(proc.stdout + proc.stderr)[-500:]}")
    return took


def _timed(toolchain: Toolchain, server: DevServer, label: str, args: list[str], runs: int,
           pause_after: float | None = None) -> tuple[str, float]:
    """One table row for ``runs`` runs of a command (each ``pause_after`` seconds after the last
    listing when given) and when the last run ended; a failing command's row says why."""
    values = []
    ended = pause_after if pause_after is not None else 0.0
    try:
        for _ in range(runs):
            if pause_after is not None:
                time.sleep(max(0.0, ended + COUNT_CACHE_S + 1 - time.perf_counter()))
            values.append(time_command(toolchain, server, args))
            ended = time.perf_counter()
    except (PeerError, subprocess.TimeoutExpired) as exc:
        return _row(label, f"failed ({' '.join(str(exc).split())[:300]})"), time.perf_counter()
    return _figures(label, values), ended


def _timed_rows(toolchain: Toolchain, server: DevServer, repeat: int) -> list[str]:
    out = []
    last_listing = time.perf_counter()
    for label, args in COMMANDS:
        row, last_listing = _timed(toolchain, server, label, args, repeat, last_listing)
        out.append(row)
    for label, args in (WARM, BASELINE):
        out.append(_timed(toolchain, server, label, args, repeat)[0])
    failures = server.log_tail(100_000).count("SQLITE_CANTOPEN")
    if failures:
        out.append(_row("  (wrangler dev's log)", f"{failures:,} x SQLITE_CANTOPEN: an instance's database "
                        f"could not be opened (open-file limit {resource.getrlimit(resource.RLIMIT_NOFILE)[0]:,})"))
    return out


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
        _start(server, observability=False)
        filled, seconds = fill(server, count)
        server.stop()
        _start(server, observability=True)
        print(f"wrangler {toolchain.wrangler_version} dev holding {filled:,} instances (filled in {seconds:.0f} s, "
              f"{filled / seconds:.0f}/s, excluded{'' if filled == count else f'; the {FILL_BUDGET_S:.0f} s fill budget stopped it'}), "
              f"restarted with its defaults; each run after wrangler dev's {COUNT_CACHE_S:.0f} s count cache lapsed:", flush=True)
        return _timed_rows(toolchain, server, repeat)
    except (PeerError, ServerError, OSError, subprocess.TimeoutExpired) as exc:
        return [_row("wrangler workflows instances ... --local", f"failed ({str(exc).splitlines()[0][:200]})")]
    finally:
        server.stop()
        server.cleanup()
        shutil.rmtree(worker_dir, ignore_errors=True)


def _figures(label: str, values: list[float]) -> str:
    return f"| {label:<62} | {statistics.median(values):>8.3f} | {min(values):>6.3f} | {max(values):>6.3f} |"


def _row(label: str, text: str) -> str:
    return f"| {label:<62} | {text} |"


if __name__ == "__main__":
    for line in rows(int(sys.argv[1]) if len(sys.argv) > 1 else 10_000, int(sys.argv[2]) if len(sys.argv) > 2 else 3):
        print(line, flush=True)
