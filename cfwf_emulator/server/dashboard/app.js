// The cfwf dev dashboard: plain JavaScript over the Local Explorer API (no build step, no CDN).
// Every value from the server is put on the page with textContent or setAttribute, never as HTML.

import {
  ApiFailure, ROOT, api, el, errorText, formatDuration, instPath, json, ms, shortTime, stepLabel, wfPath,
} from "./dom.js";
import { renderTimeline } from "./timeline.js";

const POLL_MS = 1000;
const PER_PAGE = 25;
const STATUSES = ["complete", "errored", "queued", "running", "paused", "waiting", "waitingForPause", "terminated"];
const LABELS = {
  queued: "Queued", running: "Running", paused: "Paused", errored: "Errored", terminated: "Terminated",
  complete: "Complete", waitingForPause: "Waiting for pause", waiting: "Waiting",
};
const ACTIVE = ["queued", "running", "paused", "waiting", "waitingForPause"];
const ACTIONS = [
  ["pause", "Pause", ["queued", "running", "waiting"]],
  ["resume", "Resume", ["paused", "waitingForPause"]],
  ["terminate", "Terminate", ACTIVE],
  ["restart", "Restart", STATUSES],
  ["event", "Send event", ACTIVE],
  ["delete", "Delete", STATUSES],
];

const state = {
  route: { view: "home" }, page: 1, filter: "", clock: null, workflows: [],
  expanded: new Set(), shown: {}, details: null, timer: null, zoom: null, armed: null,
};

const $ = (id) => document.getElementById(id);

// ---- formatting -------------------------------------------------------------------------

function nowMs() { return state.clock ? Date.parse(state.clock.now) : Date.now(); }

function ago(iso) {
  const at = ms(iso);
  if (at === null) return "";
  const span = nowMs() - at;
  return span >= 0 ? `${formatDuration(span)} ago` : `in ${formatDuration(-span)}`;
}

function badge(status) {
  return el("span", { class: `badge status-${status}`, text: LABELS[status] || status });
}

// ---- messages ---------------------------------------------------------------------------

let messageTimer = null;
function say(text, kind = "info") {
  const box = $("message");
  box.textContent = text;
  box.className = `message ${kind}`;
  box.hidden = false;
  clearTimeout(messageTimer);
  if (kind === "info") messageTimer = setTimeout(() => { box.hidden = true; }, 6000);
}

async function act(what, action) {
  try {
    const said = await action();
    say(typeof said === "string" ? said : what);
  } catch (error) {
    say(error instanceof ApiFailure ? error.message : `Could not reach the dev server: ${error.message}`, "error");
  }
  await refresh();
}

// ---- routing ----------------------------------------------------------------------------

function parseRoute() {
  const rest = location.pathname.startsWith(ROOT) ? location.pathname.slice(ROOT.length) : "";
  const parts = rest.split("/").filter(Boolean).map(decodeURIComponent);
  if (parts[0] === "workflows" && parts.length === 2) {
    const status = new URLSearchParams(location.search).get("status");
    return { view: "workflow", workflow: parts[1], status: STATUSES.includes(status) ? status : "" };
  }
  if (parts[0] === "workflows" && parts.length >= 3) return { view: "instance", workflow: parts[1], id: parts[2] };
  return { view: "home" };
}

function href(route) {
  if (route.view === "workflow") return `${ROOT}/workflows/${encodeURIComponent(route.workflow)}`;
  if (route.view === "instance") {
    return `${ROOT}/workflows/${encodeURIComponent(route.workflow)}/${encodeURIComponent(route.id)}`;
  }
  return ROOT;
}

function link(route, text, cls) { return el("a", { href: href(route), "data-link": true, class: cls, text }); }

function go(url) {
  history.pushState(null, "", url);
  enter();
}

function enter() {
  state.route = parseRoute();
  state.page = 1;
  state.filter = state.route.status || "";
  state.expanded.clear();
  state.zoom = null;
  state.shown = {};
  $("wf-filter").value = state.filter;
  $("traceback").hidden = true;
  for (const view of ["home", "workflow", "instance"]) $(`view-${view}`).hidden = state.route.view !== view;
  refresh();
}

// ---- the shared parts: workflows, clock, crons -------------------------------------------

function changed(key, value) {
  const text = JSON.stringify(value);
  if (state.shown[key] === text) return false;
  state.shown[key] = text;
  return true;
}

async function loadCommon() {
  const [workflows, clock, crons, workers] = await Promise.all([
    api("GET", "/workflows"), api("GET", "/cfwf/clock"), api("GET", "/cfwf/crons"),
    state.workerName === undefined ? api("GET", "/local/workers") : null,
  ]);
  if (workers) state.workerName = workers.result[0] ? workers.result[0].name : "";
  state.workflows = workflows.result;
  state.clock = clock.result;
  if (changed("nav", [state.workflows, state.route])) renderNav();
  if (changed("clock", state.clock)) renderClock();
  if (changed("crons", [crons, state.clock.now])) renderCrons(crons.result, crons.result_info.firing);
  $("worker").textContent = state.workerName ? `Worker: ${state.workerName}` : "";
}

function renderNav() {
  const list = $("nav-workflows");
  list.replaceChildren(...state.workflows.map((wf) => {
    const current = state.route.workflow === wf.name;
    return el("li", { class: current ? "current" : null }, link({ view: "workflow", workflow: wf.name }, wf.name));
  }));
}

function renderClock() {
  const clock = state.clock;
  $("clock").hidden = false;
  const virtual = clock.kind === "virtual";
  $("clock-kind").textContent = virtual
    ? `Virtual clock${clock.autojump ? " (jumps when idle)" : ""}`
    : "Real clock (start with --clock virtual to control time)";
  $("clock-now").textContent = shortTime(clock.now);
  for (const node of document.querySelectorAll(".virtual-only")) node.hidden = !virtual;
}

function renderCrons(rows, firing) {
  const list = $("crons");
  if (!rows.length) {
    list.replaceChildren(el("li", { class: "muted", text: "None configured" }));
    return;
  }
  list.replaceChildren(...rows.map((row) => el("li", {},
    el("span", { class: "mono", text: row.cron }), " ",
    el("span", { class: "muted", text: row.workflow ? `creates ${row.workflow}` : "runs scheduled()" }),
    el("div", { class: "small", text: firing ? `next ${shortTime(row.next)} (${ago(row.next)})` : "not firing (--no-crons)" }),
  )));
}

async function clockAction(path, body) {
  const label = { "/cfwf/clock/advance": "Advanced", "/cfwf/clock/next-timer": "Jumped", "/cfwf/clock/run-until-idle": "Ran until idle" }[path];
  await act(label, async () => {
    const data = await api("POST", path, body);
    if (data.result.advanced === false) throw new ApiFailure("No timer is pending: nothing to jump to");
    return `${label}: the clock is at ${shortTime(data.result.now)}`;
  });
}

// ---- home ---------------------------------------------------------------------------------

async function loadHome() {
  const details = await Promise.all(state.workflows.map((wf) => api("GET", wfPath(wf.name))));
  if (!changed("home", details.map((d) => d.result))) return;
  const grid = $("home-workflows");
  if (!details.length) {
    grid.replaceChildren(el("p", { class: "muted", text: "The project configures no workflow." }));
    return;
  }
  grid.replaceChildren(...details.map(({ result }) => el("div", { class: "panel workflow" },
    el("h2", {}, link({ view: "workflow", workflow: result.name }, result.name)),
    el("div", { class: "muted", text: `class ${result.class_name}` }),
    countCards(result.instances, (status) => go(`${href({ view: "workflow", workflow: result.name })}?status=${status}`)),
  )));
}

function countCards(counts, onPick) {
  const cards = el("div", { class: "cards" });
  for (const status of STATUSES) {
    if (status === "waitingForPause" && !counts[status]) continue;
    const card = el(onPick ? "button" : "div", {
      class: `card status-card status-${status}${state.filter === status ? " selected" : ""}`,
      "data-status": status,
      onclick: onPick ? () => onPick(status) : null,
    }, el("div", { class: "card-label", text: LABELS[status] }), el("div", { class: "card-value", text: String(counts[status] || 0) }));
    cards.append(card);
  }
  return cards;
}

// ---- a workflow's instances -----------------------------------------------------------------

async function loadWorkflow() {
  const name = state.route.workflow;
  const query = new URLSearchParams({ page: String(state.page), per_page: String(PER_PAGE) });
  if (state.filter) query.set("status", state.filter);
  const list = await api("GET", `${wfPath(name)}/instances?${query}`);
  $("wf-title").textContent = name;
  document.title = `${name}: cfwf dev`;
  const info = list.result_info;
  if (changed("wf-cards", [info.status_counts, state.filter])) {
    $("wf-cards").replaceChildren(countCards(info.status_counts, (status) => filterBy(state.filter === status ? "" : status)));
  }
  const first = info.total_count ? (info.page - 1) * info.per_page + 1 : 0;
  const last = Math.min(info.total_count, info.page * info.per_page);
  $("wf-showing").textContent = `Showing ${first}-${last} of ${info.total_count}`;
  $("wf-prev").disabled = info.page <= 1;
  $("wf-next").disabled = info.page >= info.total_pages;
  $("wf-empty").hidden = list.result.length > 0;
  if (!changed("wf-rows", list.result)) {
    for (const cell of document.querySelectorAll("#wf-rows td.age")) cell.textContent = ago(cell.title);
    return;
  }
  $("wf-rows").replaceChildren(...list.result.map((row) => el("tr", { "data-id": row.id },
    el("td", {}, badge(row.status)),
    el("td", { class: "mono" }, link({ view: "instance", workflow: name, id: row.id }, row.id)),
    el("td", { class: "age", title: row.created_on, text: ago(row.created_on) }),
    el("td", {}, actionButtons(name, row.id, row.status, true)),
  )));
}

function filterBy(status) {
  state.filter = status;
  state.page = 1;
  $("wf-filter").value = status;
  history.replaceState(null, "", href(state.route) + (status ? `?status=${status}` : ""));
  refresh();
}

function deleteAll(button) {
  const workflow = state.route.workflow;
  const key = `${workflow}/*`;
  if (!deleteArmed(key)) {
    state.armed = { key, until: Date.now() + 4000 };
    button.textContent = "Confirm: delete every instance";
    setTimeout(() => { button.textContent = "Delete all instances"; }, 4000);
    return null;
  }
  state.armed = null;
  button.textContent = "Delete all instances";
  return act(`Deleted every instance of ${workflow}`, () => api("DELETE", wfPath(workflow)));
}

function actionButtons(workflow, id, status, small) {
  const box = el("div", { class: small ? "buttons small" : "buttons" });
  for (const [action, label, allowed] of ACTIONS) {
    if (!allowed.includes(status)) continue;
    const text = action === "delete" && deleteArmed(`${workflow}/${id}`) ? "Confirm delete" : label;
    box.append(el("button", { "data-action": action, text, onclick: (e) => runAction(e.currentTarget, workflow, id, action) }));
  }
  return box;
}

// Deleting takes a second click within 4 seconds (the page may redraw the button in between).
function deleteArmed(key) {
  return state.armed !== null && state.armed.key === key && Date.now() < state.armed.until;
}

function runAction(button, workflow, id, action) {
  if (action === "event") return openEventDialog(workflow, id);
  const key = `${workflow}/${id}`;
  if (action === "delete" && !deleteArmed(key)) {
    state.armed = { key, until: Date.now() + 4000 };
    button.textContent = "Confirm delete";
    setTimeout(() => { if (button.isConnected) button.textContent = "Delete"; }, 4000);
    return null;
  }
  if (action === "delete") {
    state.armed = null;
    return act(`Deleted ${id}`, async () => {
      await api("DELETE", instPath(workflow, id));
      if (state.route.view === "instance") go(href({ view: "workflow", workflow }));
    });
  }
  return act(`${LABELS[action] || action} sent to ${id}`, () => api("PATCH", `${instPath(workflow, id)}/status`, { status: action }));
}

function parseJsonField(text, what) {
  if (!text.trim()) return { value: undefined };
  try {
    return { value: JSON.parse(text) };
  } catch (error) {
    return { problem: `${what} is not valid JSON (${error.message}). Write JSON, for example {"who": "world"}, or leave it empty.` };
  }
}

async function trigger(event) {
  event.preventDefault();
  const parsed = parseJsonField($("trigger-params").value, "Params");
  const problem = $("trigger-error");
  problem.hidden = !parsed.problem;
  problem.textContent = parsed.problem || "";
  if (parsed.problem) return;
  const body = {};
  const id = $("trigger-id").value.trim();
  if (id) body.id = id;
  if (parsed.value !== undefined) body.params = parsed.value;
  await act("Created", async () => {
    const created = await api("POST", `${wfPath(state.route.workflow)}/instances`, body);
    $("trigger-id").value = "";
    return `Created instance ${created.result.id}`;
  });
}

// ---- sending an event -------------------------------------------------------------------------

function openEventDialog(workflow, id) {
  const dialog = $("event-dialog");
  dialog.dataset.workflow = workflow;
  dialog.dataset.id = id;
  $("event-target").textContent = id;
  $("event-error").hidden = true;
  const awaited = awaitedEventType(workflow, id);
  if (awaited) $("event-type").value = awaited;
  dialog.showModal();
}

// The type of the event the instance shown waits for now, if it does (the "cfwf" extension says).
function awaitedEventType(workflow, id) {
  const route = state.route;
  if (route.view !== "instance" || route.workflow !== workflow || route.id !== id || !state.details) return null;
  const waiting = state.details.steps.find((step) => step.type === "waitForEvent" && !step.finished);
  return waiting && waiting.cfwf ? waiting.cfwf.event_type : null;
}

async function sendEvent(event) {
  event.preventDefault();
  const dialog = $("event-dialog");
  const type = $("event-type").value.trim();
  const parsed = parseJsonField($("event-payload").value, "Payload");
  const problem = parsed.problem || (type ? null : "Give the event's type (what the workflow's wait_for_event waits for).");
  $("event-error").hidden = !problem;
  $("event-error").textContent = problem || "";
  if (problem) return;
  const { workflow, id } = dialog.dataset;
  try {
    await api("POST", `${instPath(workflow, id)}/events/${encodeURIComponent(type)}`,
      parsed.value === undefined ? undefined : JSON.stringify(parsed.value));
  } catch (error) {
    $("event-error").hidden = false;
    $("event-error").textContent = error.message;
    return;
  }
  dialog.close();
  say(`Sent event "${type}" to ${id}`);
  await refresh();
}

// ---- an instance ---------------------------------------------------------------------------

async function loadInstance() {
  const { workflow, id } = state.route;
  const data = await api("GET", instPath(workflow, id));
  const details = data.result;
  state.details = details;
  document.title = `${id}: cfwf dev`;
  if (!changed("instance", [details, details.end ? null : state.clock.now])) return;
  $("inst-back").replaceChildren(link({ view: "workflow", workflow }, `< ${workflow}`));
  $("inst-title").textContent = id;
  $("inst-status").replaceChildren(badge(details.status));
  $("inst-actions").replaceChildren(actionButtons(workflow, id, details.status, false));
  $("card-status").textContent = LABELS[details.status] || details.status;
  const done = details.steps.filter((s) => s.success === true || s.finished === true).length;
  $("card-steps").textContent = `${done} / ${details.step_count}`;
  const start = ms(details.start) ?? ms(details.queued);
  $("card-duration").textContent = start === null ? "-" : formatDuration((ms(details.end) ?? nowMs()) - start);
  $("inst-params").textContent = json(details.params);
  $("inst-output").textContent = details.output === null ? "null" : json(details.output);
  $("inst-error").hidden = !details.error;
  $("inst-error-text").textContent = details.error ? errorText(details.error) : "";
  drawTimeline(details);
  renderSteps(details);
}

function drawTimeline(details) {
  renderTimeline($("timeline"), details, {
    now: nowMs(),
    zoom: state.zoom,
    setZoom: (name) => { state.zoom = name; drawTimeline(details); },
    showTraceback,
  });
}

function showTraceback({ title, text }) {
  const box = $("traceback");
  box.hidden = false;
  box.textContent = `${title}\n\n${text || "(no Python traceback was recorded for this attempt)"}`;
  box.scrollIntoView({ block: "nearest" });
}

// ---- the step history ------------------------------------------------------------------------

const RESTART_TYPE = { step: "do", sleep: "sleep", waitForEvent: "waitForEvent" };
const TYPE_TAG = { step: "step", sleep: "sleep", waitForEvent: "wait for event" };

function renderSteps(details) {
  const search = $("steps-search").value.trim().toLowerCase();
  const type = $("steps-type").value;
  const { workflow, id } = state.route;
  const rows = [];
  for (const step of [...details.steps].reverse()) {
    const name = stepLabel(step);
    if (search && !name.toLowerCase().includes(search)) continue;
    if (type && step.type !== type) continue;
    const open = state.expanded.has(step.name);
    const from = { name, type: RESTART_TYPE[step.type] };
    if (step.cfwf && step.cfwf.count) from.count = step.cfwf.count;
    rows.push(el("tr", { class: `step-row${stepFailed(step) ? " failed" : ""}`, "data-step": step.name },
      el("td", {}, el("button", {
        class: "link", "aria-expanded": open ? "true" : "false", text: `${open ? "\u25be" : "\u25b8"} ${name}`,
        onclick: () => { open ? state.expanded.delete(step.name) : state.expanded.add(step.name); state.shown.instance = null; refresh(); },
      })),
      el("td", {}, el("span", { class: `tag tag-${step.type}`, text: TYPE_TAG[step.type] || step.type })),
      el("td", { class: "small", text: shortTime(step.start) }),
      el("td", { class: "small", text: shortTime(step.end) }),
      el("td", { text: step.end ? formatDuration(ms(step.end) - ms(step.start)) : "-" }),
      el("td", {}, el("button", {
        class: "small-button", "data-action": "restart-from", text: "Restart from here",
        onclick: () => act(`Restarted ${id} from ${name}`, () => api("PATCH", `${instPath(workflow, id)}/status`, { status: "restart", from })),
      })),
    ));
    if (open) rows.push(el("tr", { class: "step-details" }, el("td", { colspan: 6 }, stepDetails(step))));
  }
  $("steps-rows").replaceChildren(...rows);
}

function stepFailed(step) {
  return step.success === false || Boolean(step.error);
}

function stepDetails(step) {
  const box = el("div", { class: "step-detail" });
  if (step.config) box.append(el("div", { class: "small muted", text: `config: ${JSON.stringify(step.config)}` }));
  if (step.attempts) {
    const list = el("ol", { class: "attempts" });
    step.attempts.forEach((attempt, index) => {
      const outcome = attempt.success === null ? "running" : attempt.success ? "succeeded" : `failed: ${errorText(attempt.error)}`;
      const tb = step.cfwf && step.cfwf.attempts && step.cfwf.attempts[index] && step.cfwf.attempts[index].traceback;
      list.append(el("li", {}, `${shortTime(attempt.start)}: ${outcome}`, tb ? el("pre", { class: "traceback", text: tb }) : null));
    });
    box.append(list);
  }
  if (step.error) box.append(el("div", { class: "error-text", text: errorText(step.error) }));
  if ("output" in step) box.append(el("div", { class: "small muted", text: "output" }), el("pre", { class: "json", text: json(step.output) }));
  return box;
}

// ---- the refresh loop ------------------------------------------------------------------------

let refreshing = null;
let again = false;  // asked for while a refresh ran (the route or the data may have changed since it began)
async function refresh() {
  if (refreshing) { again = true; return refreshing; }
  refreshing = (async () => {
    try {
      await loadCommon();
      if (state.route.view === "home") await loadHome();
      else if (state.route.view === "workflow") await loadWorkflow();
      else await loadInstance();
      $("live").textContent = "live";
      $("live").className = "live";
    } catch (error) {
      if (error instanceof ApiFailure) say(error.message, "error");
      else { $("live").textContent = "offline"; $("live").className = "live offline"; }
    }
  })();
  try { await refreshing; } finally { refreshing = null; }
  if (again) { again = false; await refresh(); }
}

// The engine's event stream refreshes the page as soon as anything happens; the 1 s poll runs
// only while the stream is down (EventSource reconnects by itself).
const EVENT_TYPES = [
  "instance.created", "instance.status", "instance.deleted", "step.start", "step.attempt.start",
  "step.attempt.end", "step.end", "sleep.start", "sleep.end", "wait.start", "wait.end",
];
let nudged = false;

function poll() {
  clearTimeout(state.timer);
  state.timer = setTimeout(async () => { await refresh(); if ($("live").dataset.feed !== "events") poll(); }, POLL_MS);
}

function nudge() {  // one refresh for a burst of events (the history sent on each connect)
  if (nudged) return;
  nudged = true;
  setTimeout(async () => { nudged = false; await refresh(); }, 50);
}

function listen() {
  if (typeof EventSource === "undefined") { poll(); return; }
  const source = new EventSource(`${ROOT}/api/cfwf/events`);
  source.addEventListener("open", () => { $("live").dataset.feed = "events"; clearTimeout(state.timer); nudge(); });
  source.addEventListener("error", () => { if ($("live").dataset.feed !== "poll") { $("live").dataset.feed = "poll"; poll(); } });
  for (const type of EVENT_TYPES) source.addEventListener(type, nudge);
}

function setUp() {
  document.addEventListener("click", (event) => {
    const anchor = event.target.closest("a[data-link]");
    if (!anchor || event.ctrlKey || event.metaKey || event.shiftKey || event.button !== 0) return;
    event.preventDefault();
    go(anchor.getAttribute("href"));
  });
  window.addEventListener("popstate", enter);
  const select = $("wf-filter");
  for (const status of STATUSES) select.append(el("option", { value: status, text: LABELS[status] }));
  select.addEventListener("change", () => filterBy(select.value));
  $("wf-prev").addEventListener("click", () => { state.page = Math.max(1, state.page - 1); refresh(); });
  $("wf-next").addEventListener("click", () => { state.page += 1; refresh(); });
  $("wf-delete-all").addEventListener("click", (event) => deleteAll(event.currentTarget));
  $("trigger-form").addEventListener("submit", trigger);
  $("event-form").addEventListener("submit", sendEvent);
  $("event-cancel").addEventListener("click", () => $("event-dialog").close());
  $("clock-advance").addEventListener("submit", (event) => {
    event.preventDefault();
    clockAction("/cfwf/clock/advance", { duration: $("clock-duration").value.trim() });
  });
  $("clock-next").addEventListener("click", () => clockAction("/cfwf/clock/next-timer"));
  $("clock-idle").addEventListener("click", () => clockAction("/cfwf/clock/run-until-idle"));
  const redrawSteps = () => { if (state.details) renderSteps(state.details); };
  $("steps-search").addEventListener("input", redrawSteps);
  $("steps-type").addEventListener("change", redrawSteps);
  enter();
  poll();
  listen();
}

setUp();
