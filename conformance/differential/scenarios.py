"""Fixed scenarios on both backends: cron firings, ``deleteBatch``, ``terminate`` with rollback,
and the shape of ``describe()`` (LOCAL: the Local Explorer API's instance details).

``python -m conformance.differential --scenarios`` runs each scenario on ``wrangler dev`` (through
``worker.js``: its ``/deleteBatch`` and ``/terminate-rollback`` routes, and its ``scheduled()``
handler, fired by ``GET /cdn-cgi/handler/scheduled?cron=...&time=...`` as wrangler's trigger
handlers allow) and on the emulator (``InterpreterWorkflow`` plus a Python ``scheduled()``
handler doing what the JavaScript one does), and compares the observations field by field.

Error messages compare by Cloudflare's text: LOCAL's ``"WorkflowError: (code) text"`` must begin
the emulator's ``"(code) text..."`` once the ``WorkflowError: `` prefix is dropped (the emulator
adds what was wrong and what to do after Cloudflare's words).

Not compared, because the local engine cannot show it: instances made by a Workflow's own
``schedules`` (wrangler dev 4.164 reads ``schedules`` only to validate and deploy the config; no
local code fires them), so the ``<cron>-<scheduledTime>`` ids and ``event.schedule`` are checked
against Cloudflare's sources in ``tests/test_crons.py`` instead.
"""

from __future__ import annotations

import asyncio
import json
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from typing import Any, Callable

from cfwf_emulator import Emulator, VirtualClock, WorkflowError
from conformance.programs import START_MS, InterpreterWorkflow

from .server import DevServer

BINDING = "WF"
WAITS = {"steps": [{"op": "wait", "name": "w", "type": "go", "timeout_ms": 600_000, "catch": False}]}
EMPTY: dict[str, Any] = {"steps": []}
T1 = 1_767_229_200_000  # 2026-01-01T01:00:00Z
T2 = 1_767_230_100_000  # 2026-01-01T01:15:00Z
BAD_LISTS: list[Any] = [[], ["keep"] * 101, ["keep", "bad.id"], "keep", None, ["keep", ""], ["keep", 7]]
NOT_NOT_FOUND = "not_found"
EXPLORER = "/cdn-cgi/local/explorer/api/workflows/interp/instances/"
DESCRIBED = {"steps": [
    {"op": "do", "name": "flaky", "config": {"retries": {"limit": 1, "delay": 100, "backoff": "constant"}},
     "fail_attempts": 1, "result": {"r": 1}},
    {"op": "do", "name": "secret", "config": {"retries": {"limit": 0, "delay": 100, "backoff": "constant"},
                                               "sensitive": "output"}, "result": "s3cr3t"},
    {"op": "do", "name": "nothing", "config": {"retries": {"limit": 0, "delay": 100, "backoff": "constant"}},
     "result": None},
    {"op": "sleep", "name": "nap", "ms": 100},
    {"op": "wait", "name": "late", "type": "never", "timeout_ms": 1000, "catch": True},
    {"op": "wait", "name": "ok", "type": "go", "timeout_ms": 600_000, "catch": False},
]}
GENERIC_ERRORS = frozenset({"Error", "ProgramError"})  # a plain failing attempt on each backend


def canon(message: str) -> str:
    """A LOCAL error message without the ``WorkflowError: `` class prefix."""
    return message.removeprefix("WorkflowError: ")


@dataclass
class Outcome:
    """One scenario: each backend's observation, and the fields that disagree."""

    name: str
    local: dict[str, Any] | None = None
    emulator: dict[str, Any] | None = None
    diffs: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


# -- LOCAL (wrangler dev) -------------------------------------------------------------------------


def _local_error(response: Any) -> str | None:
    if isinstance(response, dict) and "error" in response:
        return canon(str(response["error"].get("message", "")))
    return None


def _wait_terminal(server: DevServer, instance_id: str, timeout_s: float = 20.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while True:
        raw = server.request("GET", f"/status?id={instance_id}")
        status = raw.get("status", {}) if isinstance(raw, dict) else {}
        if status.get("status") in ("complete", "errored", "terminated") or time.monotonic() > deadline:
            return {"status": status.get("status"), "output": status.get("output")}
        time.sleep(0.1)


def _local_status(server: DevServer, instance_id: str) -> str:
    raw = server.request("GET", f"/status?id={instance_id}")
    error = _local_error(raw)
    if error is not None:
        return NOT_NOT_FOUND if "not_found" in error else error
    return str(raw["status"]["status"])


def _local_fire(server: DevServer, cron: str, at_ms: int) -> str:
    query = urllib.parse.urlencode({"cron": cron, "time": str(at_ms), "format": "json"})
    try:
        with urllib.request.urlopen(f"{server.base}/cdn-cgi/handler/scheduled?{query}", timeout=30) as resp:
            return str(json.loads(resp.read())["outcome"])
    except urllib.error.HTTPError as exc:
        return str(json.loads(exc.read() or b"{}").get("outcome", f"HTTP {exc.code}"))


def local_delete_batch(server: DevServer, tag: str) -> dict[str, Any]:
    done, busy = f"{tag}-page-1", f"{tag}-page-2"
    server.request("POST", "/create", {"id": done, "program": EMPTY})
    server.request("POST", "/create", {"id": busy, "program": WAITS})
    _wait_terminal(server, done)
    result = server.request("POST", "/deleteBatch", {"ids": [done, busy, f"{tag}-never-existed", done]})
    return {"result": _untag(result.get("result"), tag), "page-2 after": _local_status(server, busy)}


def local_delete_batch_refusals(server: DevServer, tag: str) -> dict[str, Any]:
    keep = f"{tag}-keep"
    server.request("POST", "/create", {"id": keep, "program": EMPTY})
    _wait_terminal(server, keep)
    errors = []
    for ids in BAD_LISTS:
        body = [keep if i == "keep" else i for i in ids] if isinstance(ids, list) else ids
        errors.append(_local_error(server.request("POST", "/deleteBatch", {"ids": body})))
    return {"errors": errors, "keep after": _local_status(server, keep)}


def local_terminate_rollback(server: DevServer, tag: str) -> dict[str, Any]:
    waiting, finished = f"{tag}-t-1", f"{tag}-t-2"
    server.request("POST", "/create", {"id": waiting, "program": WAITS})
    server.request("POST", "/create", {"id": finished, "program": EMPTY})
    _wait_terminal(server, finished)
    time.sleep(0.3)
    first = _local_error(server.request("POST", "/terminate-rollback", {"id": waiting}))
    state = _wait_terminal(server, waiting)
    again = _local_error(server.request("POST", "/terminate-rollback", {"id": waiting}))
    done = _local_error(server.request("POST", "/terminate-rollback", {"id": finished}))
    return {"first": first, "status": state["status"], "again": again, "on complete": done}


def local_cron_handler(server: DevServer, tag: str) -> dict[str, Any]:
    del tag  # the handler names its instances by scheduled time
    fired = [_local_fire(server, "0 * * * *", T1), _local_fire(server, "0 * * * *", T1),
             _local_fire(server, "*/15 * * * *", T2)]
    return {"fired": fired, "instances": [_wait_terminal(server, f"cron-{t}") for t in (T1, T2)]}


def local_describe(server: DevServer, tag: str) -> dict[str, Any]:
    instance_id = f"{tag}-d"
    server.request("POST", "/create", {"id": instance_id, "program": DESCRIBED})
    server.request("POST", "/event", {"id": instance_id, "type": "go", "payload": {"ok": True}})
    _wait_terminal(server, instance_id)
    return describe_shape(server.request("GET", EXPLORER + instance_id)["result"])


def describe_shape(details: Any) -> dict[str, Any]:
    """What is compared of ``describe()``: every key set in order, names, types, configs, outcomes
    and errors; not the times, the event's timestamp or the emulator's ``cfwf``. Nor two LOCAL
    quirks (README, Fidelity): a timed-out event wait's error message (LOCAL: ``""``), and the
    run's output (LOCAL: the timeout reaches ``run`` as a plain ``Error``)."""
    steps = []
    for step in details["steps"]:
        entry = {"keys": [key for key in step if key != "cfwf"]}
        entry.update({key: step[key] for key in ("name", "type", "success", "finished", "config") if key in step})
        entry["error"] = _error_shape(step.get("error"), message=step["type"] != "waitForEvent")
        entry["attempts"] = [
            {"keys": list(attempt), "success": attempt["success"], "error": _error_shape(attempt["error"])}
            for attempt in step.get("attempts", [])
        ]
        output = step.get("output", "(absent)")
        if step["type"] == "waitForEvent" and isinstance(output, dict):
            output = {"keys": list(output), "type": output["type"], "payload": output["payload"]}
        entry["output"] = output
        steps.append(entry)
    kept = ("status", "error", "step_count")
    return {"keys": [key for key in details if key != "cfwf"], **{key: details[key] for key in kept}, "steps": steps}


def _error_shape(error: Any, message: bool = True) -> Any:
    if not isinstance(error, dict):
        return error
    name = "Error" if error.get("name") in GENERIC_ERRORS else error.get("name")
    return {"keys": list(error), "name": name, **({"message": error.get("message")} if message else {})}


def _untag(value: Any, tag: str) -> Any:
    return json.loads(json.dumps(value).replace(f"{tag}-", ""))


# -- the emulator ---------------------------------------------------------------------------------


class CronHandler:
    """The Python twin of worker.js's ``scheduled()``."""

    def __init__(self, ctx: Any, env: Any) -> None:
        self.env = env

    async def scheduled(self, controller: Any, env: Any, ctx: Any) -> None:
        result = {"cron": controller.cron, "scheduledTime": controller.scheduledTime}
        program = {"steps": [{"op": "do", "name": "tick", "result": result}]}
        await env[BINDING].create(id=f"cron-{controller.scheduledTime}", params={"program": program})


async def emulator_side(body: Callable[[Emulator, Any], Any]) -> dict[str, Any]:
    emu = Emulator(clock=VirtualClock(START_MS))
    emu.add_workflow("interp", InterpreterWorkflow, binding=BINDING)
    emu.add_scheduled_handler(CronHandler)
    async with emu:
        result: dict[str, Any] = await body(emu, emu.env[BINDING])
        return result


async def _error(call: Any) -> str | None:
    try:
        await call
    except WorkflowError as exc:
        return str(exc)
    return None


async def _status(wf: Any, instance_id: str) -> str:
    try:
        return str((await (await wf.get(instance_id)).status())["status"])
    except WorkflowError as exc:
        return NOT_NOT_FOUND if exc.code == "instance.not_found" else str(exc)


async def emu_delete_batch(emu: Emulator, wf: Any) -> dict[str, Any]:
    await wf.create(id="page-1", params={"program": EMPTY})
    await wf.create(id="page-2", params={"program": WAITS})
    await emu.settle()
    result = await wf.delete_batch(["page-1", "page-2", "never-existed", "page-1"])
    return {"result": result, "page-2 after": await _status(wf, "page-2")}


async def emu_delete_batch_refusals(emu: Emulator, wf: Any) -> dict[str, Any]:
    await wf.create(id="keep", params={"program": EMPTY})
    await emu.settle()
    errors = [await _error(wf.delete_batch(ids)) for ids in BAD_LISTS]
    return {"errors": errors, "keep after": await _status(wf, "keep")}


async def emu_terminate_rollback(emu: Emulator, wf: Any) -> dict[str, Any]:
    waiting = await wf.create(id="t-1", params={"program": WAITS})
    finished = await wf.create(id="t-2", params={"program": EMPTY})
    await emu.settle()  # no time passes: t-1 still waits for its event, as on LOCAL
    first = await _error(waiting.terminate({"rollback": True}))
    await emu.settle()
    status = (await waiting.status())["status"]
    again = await _error(waiting.terminate({"rollback": True}))
    done = await _error(finished.terminate({"rollback": True}))
    return {"first": first, "status": status, "again": again, "on complete": done}


async def emu_cron_handler(emu: Emulator, wf: Any) -> dict[str, Any]:
    fired = []
    for cron, at in (("0 * * * *", T1), ("0 * * * *", T1), ("*/15 * * * *", T2)):
        try:
            await emu.scheduled(cron=cron, at=at)
            fired.append("ok")
        except Exception:  # noqa: BLE001 - what the handler raised: LOCAL's "exception" outcome
            fired.append("exception")
    await emu.run_until_idle()
    instances = []
    for at in (T1, T2):
        status = await (await wf.get(f"cron-{at}")).status()
        instances.append({"status": status["status"], "output": status.get("output")})
    return {"fired": fired, "instances": instances}


async def emu_describe(emu: Emulator, wf: Any) -> dict[str, Any]:
    instance = await wf.create(id="d", params={"program": DESCRIBED})
    await instance.send_event(type="go", payload={"ok": True})
    await emu.run_until_idle()
    return describe_shape(await instance.describe())


SCENARIOS: dict[str, tuple[Callable[[DevServer, str], dict[str, Any]], Callable[[Emulator, Any], Any]]] = {
    "deleteBatch result": (local_delete_batch, emu_delete_batch),
    "deleteBatch refusals": (local_delete_batch_refusals, emu_delete_batch_refusals),
    "terminate with rollback": (local_terminate_rollback, emu_terminate_rollback),
    "cron: scheduled() handler": (local_cron_handler, emu_cron_handler),
    "describe() shape": (local_describe, emu_describe),
}


def differences(local: Any, emulator: Any, path: str = "") -> list[str]:
    """Where ``emulator`` differs from ``local`` (an error text agrees when LOCAL's begins it)."""
    if isinstance(local, dict) and isinstance(emulator, dict):
        out = []
        for key in sorted(set(local) | set(emulator)):
            out += differences(local.get(key), emulator.get(key), f"{path}.{key}")
        return out
    if isinstance(local, list) and isinstance(emulator, list) and len(local) == len(emulator):
        return [d for i, (a, b) in enumerate(zip(local, emulator)) for d in differences(a, b, f"{path}[{i}]")]
    if isinstance(local, str) and isinstance(emulator, str) and local.startswith("(") and emulator.startswith(local):
        return []
    return [] if local == emulator else [f"{path or '.'}: local {local!r} != emulator {emulator!r}"]


def run_scenarios(server: DevServer) -> list[Outcome]:
    """Every scenario on the running ``server`` and on a fresh emulator each."""
    outcomes = []
    tag = f"sc{int(time.time())}"
    for name, (on_local, on_emulator) in SCENARIOS.items():
        outcome = Outcome(name)
        try:
            outcome.emulator = asyncio.run(emulator_side(on_emulator))
        except Exception as exc:  # noqa: BLE001 - reported
            outcome.notes.append(f"emulator raised {type(exc).__name__}: {exc}")
        try:
            outcome.local = on_local(server, tag)
        except Exception as exc:  # noqa: BLE001 - reported
            outcome.notes.append(f"LOCAL driver error {type(exc).__name__}: {exc}")
        if outcome.local is not None and outcome.emulator is not None:
            outcome.diffs = differences(outcome.local, outcome.emulator)
        outcomes.append(outcome)
    return outcomes


def report_scenarios(outcomes: list[Outcome]) -> int:
    """Print one line per scenario (and each difference); 0 when all agree."""
    print("=" * 78)
    agree = sum(1 for o in outcomes if not o.diffs and not o.notes)
    print(f"scenarios: {len(outcomes)} run, {agree} agree on every field")
    for o in outcomes:
        verdict = "agree" if not o.diffs and not o.notes else "DISAGREE"
        print(f"- {o.name}: {verdict}")
        for line in o.diffs + o.notes:
            print(f"    {line}")
    print("- Workflow `schedules` (cron-made instances): not compared; wrangler dev does not fire them")
    print("=" * 78)
    return 0 if agree == len(outcomes) else 1
