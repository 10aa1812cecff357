"""The workflow under test: 12 steps (8 ``step.do`` with short retry delays, two failing their
first attempts deterministically by attempt number, a sleep, a sleep_until and two event waits).
It runs as a Cloudflare project (``tests/crash/project``: a D1 database ``DB`` and a KV
namespace ``KV``, kept next to the state file when the store is durable).

Every callback appends ``"<step> <attempt> start"`` to the side journal on entry and
``"<step> <attempt> end"`` (or ``fail``) right before returning (or raising), each line fsynced,
and does real work in between (a busy loop or a real ``asyncio.sleep``) so a kill can land inside.
Some callbacks write to D1 (:data:`D1_STEPS`: one ``batch`` adding a ``ledger`` row for the
attempt and the amount to ``totals``) and KV (:data:`KV_STEPS`: ``attempt:<step>:<n>`` and
``result:<step>``), each write between fsynced ``d1|kv <step> <attempt> begin|done`` lines; the
failing attempts write before they fail. The output depends only on the params and the event
payloads, never on attempt numbers, time or what D1 and KV hold, so an interrupted run must
produce exactly the output of an uninterrupted one.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from cfwf_emulator import WorkflowEntrypoint
from cfwf_emulator.errors import StepError

from . import journal

WORKFLOW = "crash-flow"
BINDING = "CRASH"
INSTANCE_ID = "crash-1"
PARAMS = {"base": 7}
EVENT_TYPE = "go"
EVENTS = (1, 2)  # payloads {"n": 1} and {"n": 2}, both of type "go"

# retry delays in ms, by the attempt number that failed; limits leave room for many kills
RETRY_LIMIT = 60
FAST: dict[str, Any] = {"retries": {"limit": RETRY_LIMIT, "delay": 20, "backoff": "constant"}, "timeout": "1 minute"}
FLAKY: dict[str, Any] = {"retries": {"limit": RETRY_LIMIT, "delay": 40, "backoff": "constant"}, "timeout": "1 minute"}
FLAKY2: dict[str, Any] = {"retries": {"limit": RETRY_LIMIT, "delay": 25, "backoff": "linear"}, "timeout": "1 minute"}
CONFIGS: dict[str, dict[str, Any]] = {
    "schema": FAST, "init": FAST, "flaky": FLAKY, "compute": FAST, "after-a": FAST,
    "pick-deadline": FAST, "flaky2": FLAKY2, "finalize": FAST,
}
DO_STEPS = tuple(CONFIGS)
#: attempts each step makes in an uninterrupted run
BASE_ATTEMPTS = {name: 1 for name in DO_STEPS} | {"flaky": 2, "flaky2": 3}
NAP_MS = 60
UNTIL_AHEAD_MS = 500  # real ms between picking the target and sleeping: wide enough for a loaded machine
#: steps writing one D1 batch per attempt, with the amount they add to ``totals``
D1_STEPS = {"init": 3, "compute": 5, "flaky2": 7, "finalize": 11}
#: steps putting ``attempt:<step>:<n>`` and ``result:<step>`` to KV on every attempt
KV_STEPS = ("init", "flaky", "flaky2", "finalize")
SCHEMA = (
    "CREATE TABLE IF NOT EXISTS ledger (step TEXT NOT NULL, attempt INTEGER NOT NULL, amount INTEGER NOT NULL); "
    "CREATE TABLE IF NOT EXISTS totals (id INTEGER PRIMARY KEY, total INTEGER NOT NULL, writes INTEGER NOT NULL); "
    "INSERT OR IGNORE INTO totals (id, total, writes) VALUES (1, 0, 0);"
)
EVENT_TIMEOUT = "1 minute"
EVENT_TIMEOUT_MS = 60_000
PAST_TARGET = "time-traveler"


def retry_delay_ms(step: str, failed_attempt: int) -> float:
    """The retry delay the config gives after ``failed_attempt`` of ``step`` failed."""
    retries = CONFIGS[step]["retries"]
    base = float(retries["delay"])
    backoff = retries["backoff"]
    if backoff == "constant":
        return base
    if backoff == "linear":
        return base * failed_attempt
    return base * 2.0 ** (failed_attempt - 1)


def busy(ms: float) -> None:
    """Burn CPU for ``ms`` milliseconds (a synchronous callback doing real work)."""
    end = time.perf_counter() + ms / 1000
    while time.perf_counter() < end:
        pass


async def d1_write(env: Any, path: str, ctx: Any) -> None:
    """One D1 batch: the attempt's ``ledger`` row and its amount added to ``totals``."""
    name, attempt = ctx["step"]["name"], ctx["attempt"]
    amount = D1_STEPS[name]
    journal.append(path, f"d1 {name} {attempt} begin")
    db = env.DB
    await db.batch([
        db.prepare("INSERT INTO ledger (step, attempt, amount) VALUES (?, ?, ?)").bind(name, attempt, amount),
        db.prepare("UPDATE totals SET total = total + ?, writes = writes + 1 WHERE id = 1").bind(amount),
    ])
    journal.append(path, f"d1 {name} {attempt} done")


async def kv_write(env: Any, path: str, ctx: Any, value: Any) -> None:
    """Two KV puts: a key of this attempt's own, and the step's result key (the last writer wins)."""
    name, attempt = ctx["step"]["name"], ctx["attempt"]
    journal.append(path, f"kv {name} {attempt} begin")
    await env.KV.put(f"attempt:{name}:{attempt}", json.dumps({"step": name, "attempt": attempt}))
    await env.KV.put(f"result:{name}", json.dumps({"attempt": attempt, "value": value}))
    journal.append(path, f"kv {name} {attempt} done")


class CrashFlow(WorkflowEntrypoint):
    async def run(self, event: Any, step: Any) -> Any:
        env = self.env
        path = env.JOURNAL
        base = event["payload"]["base"]

        def mark(ctx: Any, what: str) -> None:
            journal.append(path, f"{ctx['step']['name']} {ctx['attempt']} {what}")

        @step.do("schema", config=FAST)
        async def schema(ctx: Any) -> Any:
            mark(ctx, "start")
            await env.DB.exec(SCHEMA)
            mark(ctx, "end")
            return "ready"

        await schema()

        @step.do("init", config=FAST)
        async def init(ctx: Any) -> Any:
            mark(ctx, "start")
            busy(15)
            await d1_write(env, path, ctx)
            await kv_write(env, path, ctx, base * 3)
            mark(ctx, "end")
            return {"x": base * 3}

        a = await init()

        @step.do("flaky", config=FLAKY)
        async def flaky(ctx: Any) -> Any:
            mark(ctx, "start")
            await asyncio.sleep(0.012)
            await kv_write(env, path, ctx, a["x"] + 1)
            if ctx["attempt"] <= 1:
                mark(ctx, "fail")
                raise RuntimeError(f"flaky: attempt {ctx['attempt']} fails on purpose")
            mark(ctx, "end")
            return a["x"] + 1

        b = await flaky()
        await step.sleep("nap", NAP_MS)

        @step.do("compute", config=FAST)
        async def compute(ctx: Any) -> Any:
            mark(ctx, "start")
            await asyncio.sleep(0.02)
            await d1_write(env, path, ctx)
            mark(ctx, "end")
            return [b, b * 2]

        c = await compute()
        ev1 = await step.wait_for_event("wait-a", EVENT_TYPE, timeout=EVENT_TIMEOUT)

        @step.do("after-a", config=FAST)
        def after_a(ctx: Any) -> Any:
            mark(ctx, "start")
            busy(10)
            mark(ctx, "end")
            return sum(c) + ev1.payload["n"]

        d = await after_a()

        @step.do("pick-deadline", config=FAST)
        def pick_deadline(ctx: Any) -> Any:
            mark(ctx, "start")
            target = time.time() * 1000 + UNTIL_AHEAD_MS
            mark(ctx, "end")
            return target

        target = await pick_deadline()
        try:
            await step.sleep_until("until", target)
        except StepError as exc:
            # a kill between journaling the target and starting the sleep can make the target
            # pass before the next process gets here: Cloudflare's "past target" error, which
            # this workflow tolerates (deterministically: it is raised again on every replay)
            if PAST_TARGET not in str(exc):
                raise

        @step.do("flaky2", config=FLAKY2)
        async def flaky2(ctx: Any) -> Any:
            mark(ctx, "start")
            busy(5)
            await asyncio.sleep(0.005)
            await d1_write(env, path, ctx)
            await kv_write(env, path, ctx, d * 10)
            if ctx["attempt"] <= 2:
                mark(ctx, "fail")
                raise ValueError(f"flaky2: attempt {ctx['attempt']} fails on purpose")
            mark(ctx, "end")
            return d * 10

        f = await flaky2()
        ev2 = await step.wait_for_event("wait-b", EVENT_TYPE, timeout=EVENT_TIMEOUT)

        @step.do("finalize", config=FAST)
        async def finalize(ctx: Any) -> Any:
            mark(ctx, "start")
            await asyncio.sleep(0.015)
            await d1_write(env, path, ctx)
            await kv_write(env, path, ctx, "final")
            mark(ctx, "end")
            return {"total": a["x"] + b + sum(c) + d + f + ev2.payload["n"]}

        g = await finalize()
        return {"values": [a, b, c, d, f, g], "events": [ev1.payload, ev2.payload]}
