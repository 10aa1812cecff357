"""Load on the Local Explorer API: 200 concurrent clients creating and polling 2,000 instances.

Each client creates its instances (``POST /workflows/NAME/instances``, 10 per client by default)
one after the other, then polls the details of each (``GET .../instances/ID``) every
:data:`POLL_S` seconds until it is ``complete`` with the expected output. Every request counts:
its latency goes into p50/p99, and any transport error, non-200 status or failure envelope is a
failed request (a request unanswered after :data:`REQUEST_TIMEOUT_S` too). An instance whose
create succeeded but that did not complete with its output before the deadline (or that the
final listing does not count) is a lost instance.

The same load runs against ``cfwf dev`` (``python -m cfwf_emulator.server``, a small Python
project written to a temporary directory, state in SQLite) and, when the differential toolchain
is installed (``python -m conformance.differential --setup``), against ``wrangler dev`` running
the same workflow in JavaScript; both on loopback, the client (httpx, one connection per client)
in this process.

    python -m benchmarks.server_load [--clients 200] [--per-client 10] [--no-wrangler]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import os
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import httpx

API_ROOT = "/cdn-cgi/local/explorer/api"
CLIENTS = 200
PER_CLIENT = 10
POLL_S = 0.1
"""Seconds a client waits between two rounds of polling its unfinished instances."""
REQUEST_TIMEOUT_S = 60.0
"""Seconds a request may take before it counts as failed."""
DEADLINE_S = 600.0
"""Seconds the whole load may take before unfinished instances count as lost."""

PY_CONFIG = """{
  "name": "load-service", "main": "src/entry.py", "compatibility_date": "2026-03-01",
  "compatibility_flags": ["python_workers"],
  "workflows": [{"name": "interp", "binding": "WF", "class_name": "Interp"}]
}
"""

PY_ENTRY = '''from workers import WorkflowEntrypoint


class Interp(WorkflowEntrypoint):
    async def run(self, event, step):
        @step.do("double")
        async def double():
            return event["payload"]["n"] * 2

        return await double()
'''
"""The Python workflow: one step doubling the ``n`` it was given."""

JS_WORKER = """// cfwf-emulator benchmarks.server_load: the Python workflow's twin, for wrangler dev
import { WorkflowEntrypoint } from "cloudflare:workers";

export class Interp extends WorkflowEntrypoint {
  async run(event, step) {
    return await step.do("double", async () => event.payload.n * 2);
  }
}

export default {
  async fetch(request) {
    return new Response(JSON.stringify({ ok: true }), { headers: { "content-type": "application/json" } });
  },
};
"""
"""The JavaScript workflow (same class, binding and workflow names as the differential config)."""


@dataclass
class LoadResult:
    """What one run of the load measured."""

    target: str
    clients: int
    instances: int
    seconds: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)
    failed_requests: int = 0
    lost_instances: int = 0
    examples: list[str] = field(default_factory=list)
    """The first few failures and losses, said in words."""

    @property
    def requests(self) -> int:
        """Requests sent (answered or not)."""
        return len(self.latencies_ms)

    @property
    def requests_per_second(self) -> float:
        """Requests over the wall time of the whole load."""
        return self.requests / self.seconds if self.seconds else 0.0

    def percentile(self, p: float) -> float:
        """The ``p``-th percentile (nearest rank) of the latencies, in ms."""
        ordered = sorted(self.latencies_ms)
        if not ordered:
            return 0.0
        return ordered[min(len(ordered) - 1, max(0, math.ceil(p / 100 * len(ordered)) - 1))]

    def note(self, text: str) -> None:
        """Keep ``text`` as an example of what went wrong (the first ten)."""
        if len(self.examples) < 10:
            self.examples.append(text)

    def row(self) -> str:
        """One Markdown table row."""
        return (
            f"| {self.target} | {self.clients} x {self.instances // max(1, self.clients)} = {self.instances:,} | "
            f"{self.requests:,} | {self.seconds:.1f} s | {self.requests_per_second:,.0f} | "
            f"{self.percentile(50):.0f} ms | {self.percentile(99):.0f} ms | {self.failed_requests} | "
            f"{self.lost_instances} |"
        )


HEADER = (
    "| server | clients x instances | requests | wall time | requests/s | p50 | p99 | failed requests | lost instances |\n"
    "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"
)


class LoadClient:
    """One of the concurrent clients: its own connection, its instances, the shared result."""

    def __init__(
        self, base: str, workflow: str, index: int, per_client: int, result: LoadResult, tls: ssl.SSLContext
    ) -> None:
        # one connection each (the loopback URL is plain HTTP; sharing ``tls`` saves building 200)
        self.client = httpx.AsyncClient(
            base_url=base + API_ROOT + f"/workflows/{workflow}", timeout=REQUEST_TIMEOUT_S, verify=tls,
            limits=httpx.Limits(max_connections=1),
        )
        self.index = index
        self.per_client = per_client
        self.result = result

    async def call(self, method: str, path: str, **kwargs: Any) -> Any:
        """The ``result`` of a successful call; None (counted as failed) otherwise."""
        began = time.perf_counter()
        try:
            response = await self.client.request(method, path, **kwargs)
            body = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            self.result.latencies_ms.append((time.perf_counter() - began) * 1000)
            self.result.failed_requests += 1
            self.result.note(f"{method} {path}: {type(exc).__name__}: {exc}")
            return None
        self.result.latencies_ms.append((time.perf_counter() - began) * 1000)
        if response.status_code != 200 or not isinstance(body, dict) or body.get("success") is not True:
            self.result.failed_requests += 1
            self.result.note(f"{method} {path}: {response.status_code} {response.text[:200]}")
            return None
        return body.get("result")

    async def run(self, deadline: float) -> list[str]:
        """Create this client's instances, poll them until complete; the ids created."""
        try:
            expected: dict[str, int] = {}
            for number in range(self.per_client):
                n = self.index * self.per_client + number
                instance_id = f"load-{self.index}-{number}"
                if await self.call("POST", "/instances", json={"id": instance_id, "params": {"n": n}}) is not None:
                    expected[instance_id] = n * 2
            created = list(expected)
            while expected and time.monotonic() < deadline:
                for instance_id in list(expected):
                    details = await self.call("GET", f"/instances/{instance_id}")
                    if details is None or details.get("status") in ("queued", "running", "waiting"):
                        continue
                    if details.get("status") != "complete" or details.get("output") != expected[instance_id]:
                        self.result.note(f"{instance_id}: {details.get('status')} {details.get('output')!r}")
                        self.result.lost_instances += 1
                    del expected[instance_id]
                if expected:
                    await asyncio.sleep(POLL_S)
            for instance_id in expected:
                self.result.note(f"{instance_id}: not complete before the deadline")
            self.result.lost_instances += len(expected)
            return created
        finally:
            await self.client.aclose()


async def run_load(
    base: str, target: str, *, workflow: str = "interp", clients: int = CLIENTS, per_client: int = PER_CLIENT,
    deadline_s: float = DEADLINE_S,
) -> LoadResult:
    """Run the load against the server at ``base``; then check the listing shows every instance."""
    result = LoadResult(target, clients, clients * per_client)
    deadline = time.monotonic() + deadline_s
    tls = ssl.create_default_context()
    began = time.perf_counter()
    created = await asyncio.gather(*(
        LoadClient(base, workflow, index, per_client, result, tls).run(deadline) for index in range(clients)
    ))
    result.seconds = time.perf_counter() - began
    acknowledged = sum(len(ids) for ids in created)
    total = await _listed(base, workflow)
    if total is None or total < acknowledged:  # a create that timed out may still have made one
        result.note(f"the instance list counts {total} instances, fewer than the {acknowledged} created")
        result.lost_instances = max(result.lost_instances, acknowledged - (total or 0))
    return result


async def _listed(base: str, workflow: str) -> int | None:
    """How many instances the workflow's instance list counts (None: the list did not answer)."""
    async with httpx.AsyncClient(base_url=base + API_ROOT, timeout=REQUEST_TIMEOUT_S) as client:
        try:
            listed = (await client.get(f"/workflows/{workflow}/instances", params={"per_page": 1})).json()
        except (httpx.HTTPError, ValueError):
            return None
    return int(listed["result_info"]["total_count"]) if listed.get("success") else None


def write_python_project(root: Path) -> Path:
    """The Python project ``cfwf dev`` serves; its directory."""
    (root / "src").mkdir(parents=True, exist_ok=True)
    (root / "wrangler.jsonc").write_text(PY_CONFIG)
    (root / "src" / "entry.py").write_text(PY_ENTRY)
    return root


@contextlib.contextmanager
def cfwf_dev(root: Path, ready_timeout: float = 60.0) -> Iterator[str]:
    """``python -m cfwf_emulator.server`` over the load project in ``root`` (a free port, state in
    ``root/state``, its output in ``root/cfwf-dev.log``); yields its base URL, stops it after."""
    project = write_python_project(root / "project")
    log = open(root / "cfwf-dev.log", "w")
    command = [sys.executable, "-m", "cfwf_emulator.server", "--config", str(project), "--port", "0",
               "--persist-to", str(root / "state"), "--no-reload"]
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, text=True)
    try:
        ready = time.monotonic() + ready_timeout
        while True:
            lines = [line for line in (root / "cfwf-dev.log").read_text().splitlines() if "ready on http" in line]
            if lines:
                break
            if process.poll() is not None or time.monotonic() > ready:
                raise RuntimeError(f"cfwf dev did not start: {(root / 'cfwf-dev.log').read_text()[-2000:]}")
            time.sleep(0.05)
        url = lines[0].split("ready on ")[1].split()[0].replace("//localhost:", "//127.0.0.1:")
        yield url
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        log.close()


@contextlib.contextmanager
def wrangler_dev() -> Iterator[str | None]:
    """``wrangler dev`` serving :data:`JS_WORKER`, or None when the differential toolchain is absent."""
    from conformance.differential.install import SetupError, load_toolchain
    from conformance.differential.server import DevServer

    try:
        toolchain = load_toolchain()
    except SetupError:
        yield None
        return
    print(f"wrangler dev: wrangler {toolchain.wrangler_version}, node {toolchain.node_version}", flush=True)
    directory = Path(tempfile.mkdtemp(prefix="cfwf-load-worker-"))
    worker = directory / "load.js"
    worker.write_text(JS_WORKER)
    server = DevServer(toolchain, worker=worker)
    try:
        server.start()
        yield server.base
    finally:
        server.stop()
        server.cleanup()
        shutil.rmtree(directory, ignore_errors=True)


def report(result: LoadResult) -> None:
    """Print the row of ``result`` and what went wrong, if anything."""
    print(result.row(), flush=True)
    for example in result.examples:
        print(f"    {example}", flush=True)


def main(argv: list[str] | None = None) -> int:
    """Run the load against cfwf dev, then wrangler dev; print a table. Exit 1 if anything failed or was lost."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.server_load", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=CLIENTS, help=f"concurrent clients (default {CLIENTS})")
    parser.add_argument("--per-client", type=int, default=PER_CLIENT, help=f"instances per client (default {PER_CLIENT})")
    parser.add_argument("--no-wrangler", action="store_true", help="do not run the load against wrangler dev")
    args = parser.parse_args(argv)
    print(f"{args.clients} clients x {args.per_client} instances on loopback; {os.cpu_count()} CPUs")
    print(HEADER, flush=True)
    results = []
    with tempfile.TemporaryDirectory(prefix="cfwf-load-") as scratch, cfwf_dev(Path(scratch)) as url:
        results.append(asyncio.run(run_load(url, "cfwf dev", clients=args.clients, per_client=args.per_client)))
        report(results[-1])
    if not args.no_wrangler:
        with wrangler_dev() as base:
            if base is None:
                print("| wrangler dev | not run: the toolchain is not installed "
                      "(python -m conformance.differential --setup) |", flush=True)
            else:
                results.append(asyncio.run(run_load(base, "wrangler dev", clients=args.clients, per_client=args.per_client)))
                report(results[-1])
    return 0 if all(r.failed_requests == 0 and r.lost_instances == 0 for r in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
