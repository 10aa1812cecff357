// Differential-testing Worker for Cloudflare's local Workflows engine (wrangler dev / Miniflare).
//
// Written for cfwf-emulator's conformance suite.  `Interp` interprets the shared conformance
// program format (summarised in conformance/differential/__init__.py); the default export is a
// small JSON HTTP API that the Python driver uses to create instances, send events, call
// lifecycle methods (terminate with rollback, deleteBatch too) and read status plus a per-step
// attempt log, and a scheduled() handler that creates an instance per cron firing.
//
// The attempt log is a side channel kept in this isolate's memory: every step.do callback
// appends {key: "<name>#<count>", attempt, t: Date.now()} when it starts.  wrangler dev runs the
// Worker and its WorkflowEntrypoint in the same isolate, so the fetch handler can read it.
// Every error that run() catches is appended to `caught` ({index, name, message, t}): LOCAL folds
// error class names into messages, so the Python side needs the message to normalise names.

import { WorkflowEntrypoint } from "cloudflare:workers";
import { NonRetryableError } from "cloudflare:workflows";

const LOGS = new Map(); // instance id -> {generation, attempts: [], caught: []}

function logFor(id) {
  let log = LOGS.get(id);
  if (!log) {
    log = { generation: 0, attempts: [], caught: [] };
    LOGS.set(id, log);
  }
  return log;
}

function errorInfo(err) {
  if (err && typeof err === "object") {
    return { name: String(err.name ?? "Error"), message: String(err.message ?? "") };
  }
  return { name: "Error", message: String(err) };
}

export class Interp extends WorkflowEntrypoint {
  async run(event, step) {
    const id = event.instanceId;
    const program = (event.payload && event.payload.program) || { steps: [] };
    const counts = new Map();
    const outcomes = [];
    for (let index = 0; index < program.steps.length; index++) {
      const op = program.steps[index];
      if (op.op === "do") {
        const count = (counts.get(op.name) ?? 0) + 1;
        counts.set(op.name, count);
        const key = `${op.name}#${count}`;
        const fail = op.fail_attempts ?? 0;
        const hang = op.hang_attempts ?? 0;
        const callback = async (ctx) => {
          const attempt = ctx && typeof ctx.attempt === "number" ? ctx.attempt : -1;
          logFor(id).attempts.push({ key, attempt, t: Date.now() });
          if (attempt <= fail) {
            const message = `fail ${op.name} ${attempt}`;
            if (op.error === "non_retryable") throw new NonRetryableError(message);
            throw new Error(message);
          }
          if (attempt <= fail + hang) {
            // "never returns": outlive the step timeout by far (a pending timer, so workerd
            // does not cancel the call as hung); the engine discards the late result
            const timeout = op.config && op.config.timeout !== undefined ? Number(op.config.timeout) : 600000;
            await new Promise((resolve) => setTimeout(resolve, timeout + 20000));
          }
          return op.result;
        };
        try {
          const value = op.config
            ? await step.do(op.name, op.config, callback)
            : await step.do(op.name, callback);
          outcomes.push(value === undefined ? null : value);
        } catch (err) {
          if (!op.catch) throw err;
          const info = errorInfo(err);
          logFor(id).caught.push({ index, ...info, t: Date.now() });
          outcomes.push({ caught: info.name });
        }
      } else if (op.op === "sleep") {
        await step.sleep(op.name, op.ms);
        outcomes.push(null);
      } else if (op.op === "wait") {
        try {
          const ev = await step.waitForEvent(op.name, { type: op.type, timeout: op.timeout_ms });
          outcomes.push(ev && ev.payload !== undefined ? ev.payload : null);
        } catch (err) {
          if (!op.catch) throw err;
          const info = errorInfo(err);
          logFor(id).caught.push({ index, ...info, t: Date.now() });
          outcomes.push({ caught: info.name });
        }
      } else {
        throw new Error(`unknown op ${JSON.stringify(op.op)}`);
      }
    }
    return outcomes;
  }
}

function json(body, status = 200) {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json" },
  });
}

export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    try {
      if (url.pathname === "/health") return json({ ok: true, now: Date.now() });
      const body = request.method === "POST" ? await request.json() : {};
      const id = body.id ?? url.searchParams.get("id");
      switch (url.pathname) {
        case "/create": {
          const log = logFor(id);
          log.attempts = [];
          log.caught = [];
          const instance = await env.WF.create({ id, params: { program: body.program } });
          return json({ id: instance.id, now: Date.now() });
        }
        case "/event": {
          const instance = await env.WF.get(id);
          await instance.sendEvent({ type: body.type, payload: body.payload });
          return json({ ok: true });
        }
        case "/pause":
        case "/resume":
        case "/terminate":
        case "/restart": {
          const instance = await env.WF.get(id);
          const action = url.pathname.slice(1);
          if (action === "restart") {
            // the restarted run starts from scratch: so does its attempt log
            const log = logFor(id);
            log.generation += 1;
            log.attempts = [];
            log.caught = [];
          }
          await instance[action]();
          return json({ ok: true });
        }
        case "/terminate-rollback": {
          const instance = await env.WF.get(id);
          await instance.terminate({ rollback: true });
          return json({ ok: true });
        }
        case "/deleteBatch": {
          const result = await env.WF.deleteBatch(body.ids);
          return json({ result });
        }
        case "/status": {
          const instance = await env.WF.get(id);
          const status = await instance.status();
          const log = logFor(id);
          return json({ status, log, now: Date.now() });
        }
        default:
          return json({ error: { name: "NotFound", message: url.pathname } }, 404);
      }
    } catch (err) {
      return json({ error: errorInfo(err) }, 500);
    }
  },

  // Cron Triggers (wrangler dev: GET /cdn-cgi/handler/scheduled?cron=...&time=...): create
  // `cron-<scheduledTime>` running one step that returns what the controller said
  async scheduled(controller, env) {
    const result = { cron: controller.cron, scheduledTime: controller.scheduledTime };
    const steps = [{ op: "do", name: "tick", result }];
    await env.WF.create({ id: `cron-${controller.scheduledTime}`, params: { program: { steps } } });
  },
};
