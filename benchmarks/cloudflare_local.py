"""Baseline: the benchmark table's "N instances x K trivial steps" on Cloudflare's local engine.

What is measured: the wall time from the request that creates the N instances until every one
is observed ``complete`` (with output K), for N instances of K sequential trivial steps, step i
being ``step.do("step i", async () => v + 1)``, the JavaScript of the emulator's ``TrivialSteps``
(an ``@step.do("step i")`` ``async def`` returning ``value + 1``).  The N
instances are created together (``createBatch``, 100 per call, inside the Worker); completion is
polled every :data:`POLL_S` seconds, inside the Worker too (one status read per finished instance,
plus one per poll), so sampling adds at most about one poll interval.

What is excluded: starting ``wrangler dev`` (Node, Miniflare and workerd boot, reported as
:attr:`LocalEngine.startup_seconds`), one warm-up instance of one step run right after it, and
stopping ``wrangler dev``.

The runner: Cloudflare's local Workflows engine as ``wrangler dev`` runs it (Miniflare on workerd,
real time, state persisted to a temporary directory), with the toolchain and the process
management of ``conformance.differential`` (``python -m conformance.differential --setup``
installs them; :func:`load_toolchain`, :class:`DevServer`).  The differential interpreter Worker
is not used: it receives the whole program as instance params (about 50 bytes per step), and
with programs that large the local engine is far slower (1 x 2,000 steps took 16 s against 4 s
here, 1 x 10,000 took 72 s against 20 s; most likely the params' size).
This module runs its own small Worker instead, :data:`WORKER_JS` below, in the same generated
project (same wrangler config, binding ``WF`` to class ``Interp``).

The local engine's default step limit is 10,000 steps per instance (``limits.steps`` in the
Wrangler config changes it), so 1 x 10,000 fits exactly.

    python -m benchmarks.cloudflare_local [--repeat R]    # prints the baseline rows
"""

from __future__ import annotations

import argparse
import itertools
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from conformance.differential.install import SetupError, Toolchain, load_toolchain
from conformance.differential.server import DevServer, ServerError

POLL_S = 0.02
"""Seconds between completion checks."""
SETTLE_S, SETTLE_PER_INSTANCE_S = 1.0, 0.005
"""The events workload's wait for its instances to reach their first ``waitForEvent``."""

WORKLOADS = ((1, 1_000), (100, 10), (1, 10_000))
"""(instances, steps) rows of the baseline, as in ``python -m benchmarks``."""

WORKER_JS = r"""// cfwf-emulator benchmarks: N instances x K trivial steps on the local Workflows engine.
import { WorkflowEntrypoint } from "cloudflare:workers";

// the class and binding names are those of conformance.differential's wrangler config
export class Interp extends WorkflowEntrypoint {
  async run(event, step) {
    if (event.payload.listen) {
      // the events workload: wait for `listen` tick events in a row, return their sum
      let total = 0;
      for (let index = 0; index < event.payload.listen; index++) {
        const received = await step.waitForEvent(`tick ${index}`, { type: "tick", timeout: "1 hour" });
        total += received.payload;
      }
      return total;
    }
    let value = 0;
    for (let index = 0; index < event.payload.steps; index++) {
      const v = value;
      value = await step.do(`step ${index}`, async () => v + 1);
    }
    return value;
  }
}

const json = (body, status = 200) =>
  new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json" } });

export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    try {
      if (url.pathname === "/health") return json({ ok: true });
      const { prefix, instances, steps, from, listen } = await request.json();
      if (url.pathname === "/start") {
        // `${prefix}-0` .. `${prefix}-${instances - 1}`, 100 per createBatch
        for (let first = 0; first < instances; first += 100) {
          const batch = [];
          for (let i = first; i < Math.min(instances, first + 100); i++) {
            batch.push({ id: `${prefix}-${i}`, params: listen ? { listen: steps } : { steps } });
          }
          await env.WF.createBatch(batch);
        }
        return json({ ok: true });
      }
      if (url.pathname === "/send") {
        // `steps` rounds of one tick event to each instance, one sendEvent at a time
        const handles = [];
        for (let i = 0; i < instances; i++) handles.push(await env.WF.get(`${prefix}-${i}`));
        for (let round = 0; round < steps; round++) {
          for (const handle of handles) await handle.sendEvent({ type: "tick", payload: 1 });
        }
        return json({ ok: true });
      }
      if (url.pathname === "/progress") {
        // the first instance from `from` on that is not complete with output `steps`
        for (let i = from; i < instances; i++) {
          const { status, output, error } = await (await env.WF.get(`${prefix}-${i}`)).status();
          if (status !== "complete" || output !== steps) return json({ next: i, status, output, failure: error ?? null });
        }
        return json({ next: instances });
      }
      return json({ error: { name: "NotFound", message: url.pathname } }, 404);
    } catch (err) {
      return json({ error: { name: String(err?.name), message: String(err?.message ?? err) } }, 500);
    }
  },
};
"""
"""The benchmark Worker; written into the generated ``wrangler dev`` project as ``src/index.js``."""


class BenchmarkError(RuntimeError):
    """An instance failed, completed with the wrong output, or did not complete in time."""


class LocalEngine:
    """A running ``wrangler dev`` serving the benchmark Worker; measures trivial-step workloads."""

    def __init__(self, server: DevServer, startup_seconds: float) -> None:
        self.server = server
        self.startup_seconds = startup_seconds
        """Seconds from launching ``wrangler dev`` until it answered (warm-up run excluded)."""
        self._runs = itertools.count()

    def _call(self, path: str, body: dict[str, Any], deadline: float) -> dict[str, Any]:
        timeout = max(1.0, deadline - time.monotonic())
        answer = self.server.request("POST", path, body, timeout=timeout)
        if not isinstance(answer, dict) or "error" in answer:
            raise BenchmarkError(f"{path} failed: {answer}")
        return answer

    def _until(self, path: str, body: dict[str, Any], deadline: float, timeout: float) -> None:
        """Poll ``path`` until it reports every instance done (``next`` past the last)."""
        body["from"] = 0
        while True:
            progress = self._call(path, body, deadline)
            body["from"] = progress["next"]
            if body["from"] >= body["instances"]:
                return
            if progress.get("status") in ("complete", "errored", "terminated"):
                raise BenchmarkError(f"{body['prefix']}-{body['from']} ended {progress}")
            if time.monotonic() > deadline:
                raise BenchmarkError(f"{body['prefix']}-{body['from']} not done ({path}) after {timeout:.0f}s")
            time.sleep(POLL_S)

    def run_once(self, instances: int, steps: int, timeout: float = 600.0) -> float:
        """Create ``instances`` instances of ``steps`` trivial steps together; return the seconds
        until all are complete."""
        body: dict[str, Any] = {"prefix": f"bench-{next(self._runs)}", "instances": instances,
                                "steps": steps, "from": 0}
        began = time.perf_counter()
        deadline = time.monotonic() + timeout
        self._call("/start", body, deadline)
        self._until("/progress", body, deadline, timeout)
        return time.perf_counter() - began

    def events_once(self, waiters: int, per_instance: int, timeout: float = 600.0) -> float:
        """The events workload: ``waiters`` instances each wait for ``per_instance`` tick events
        in a row; once all wait, the Worker sends them one ``sendEvent`` at a time, round-robin.
        Returns the seconds from the first send until every instance is complete.

        The local engine reports an instance waiting for an event as ``running``, so the wait is
        not observed: the instances get :data:`SETTLE_S` plus :data:`SETTLE_PER_INSTANCE_S` each
        to reach it (an event sent earlier is buffered, and the time would include their start)."""
        body: dict[str, Any] = {"prefix": f"events-{next(self._runs)}", "instances": waiters,
                                "steps": per_instance, "listen": True, "from": 0}
        deadline = time.monotonic() + timeout
        self._call("/start", body, deadline)
        time.sleep(SETTLE_S + SETTLE_PER_INSTANCE_S * waiters)
        began = time.perf_counter()
        self._call("/send", body, deadline)
        self._until("/progress", body, deadline, timeout)
        return time.perf_counter() - began

    def measure(self, instances: int, steps: int, repeat: int) -> list[float]:
        """Wall times in seconds of ``repeat`` runs of ``instances`` x ``steps`` trivial steps."""
        return [self.run_once(instances, steps) for _ in range(repeat)]

    def measure_events(self, waiters: int, per_instance: int, repeat: int) -> list[float]:
        """Wall times in seconds of ``repeat`` runs of the events workload."""
        return [self.events_once(waiters, per_instance) for _ in range(repeat)]


@contextmanager
def local_engine(toolchain: Toolchain | None = None, verbose: bool = False) -> Iterator[LocalEngine]:
    """Start ``wrangler dev`` once (plus a warm-up run), yield a :class:`LocalEngine`, and always
    stop it, its whole process group.  Raises :class:`SetupError` when the toolchain is not
    installed; with ``verbose`` the wrangler log (``engine.server.log_path``) is kept."""
    toolchain = toolchain or load_toolchain()
    for attempt in (1, 2):
        # a second try: DevServer picks its two ports by binding port 0 and closing, so wrangler
        # can (rarely) find one taken ("Address already in use")
        worker_dir = Path(tempfile.mkdtemp(prefix="cfwf-bench-worker-"))
        worker = worker_dir / "trivial_steps.js"
        worker.write_text(WORKER_JS)
        server = DevServer(toolchain, verbose=verbose, worker=worker)
        began = time.perf_counter()
        try:
            server.start()
            break
        except BaseException as exc:
            server.stop()
            server.cleanup()
            shutil.rmtree(worker_dir, ignore_errors=True)
            if attempt == 2 or not isinstance(exc, ServerError):
                raise
    try:
        engine = LocalEngine(server, time.perf_counter() - began)
        engine.run_once(1, 1)
        yield engine
    finally:
        server.stop()
        shutil.rmtree(worker_dir, ignore_errors=True)
        if not verbose:
            server.cleanup()


def measure(instances: int, steps: int, repeat: int) -> list[float] | None:
    """Wall times in seconds of ``repeat`` runs on a ``wrangler dev`` started for this call, or
    None when the toolchain is not set up."""
    try:
        toolchain = load_toolchain()
    except SetupError:
        return None
    with local_engine(toolchain) as engine:
        return engine.measure(instances, steps, repeat)


def main(argv: list[str] | None = None) -> int:
    """Print one row per workload of :data:`WORKLOADS` (one ``wrangler dev`` for all)."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.cloudflare_local", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3, help="runs per workload (default 3)")
    args = parser.parse_args(argv)
    began = time.perf_counter()
    try:
        toolchain = load_toolchain()
    except SetupError as exc:
        print(f"benchmarks.cloudflare_local: {exc}", file=sys.stderr)
        return 2
    print(f"Cloudflare local engine: wrangler {toolchain.wrangler_version} dev, node {toolchain.node_version}; "
          f"{args.repeat} run(s) each; seconds")
    try:
        with local_engine(toolchain) as engine:
            print(f"wrangler dev startup (excluded): {engine.startup_seconds:.2f} s", flush=True)
            for instances, steps in WORKLOADS:
                times = engine.measure(instances, steps, args.repeat)
                median = statistics.median(times)
                print(f"| {instances} x {steps:,} steps | median {median:.3f} | min {min(times):.3f} | "
                      f"max {max(times):.3f} | {instances * steps / median:.0f} steps/s | "
                      f"runs {', '.join(f'{t:.3f}' for t in times)} |", flush=True)
    except (BenchmarkError, ServerError, OSError) as exc:
        print(f"benchmarks.cloudflare_local: {exc}", file=sys.stderr)
        return 1
    print(f"total {time.perf_counter() - began:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
