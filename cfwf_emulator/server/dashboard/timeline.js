// The instance timeline: every attempt, retry delay, sleep and event wait as a bar on a time axis.

import { el, errorText, formatDuration, ms, shortTime, stepLabel } from "./dom.js";

function stepEnd(step, now) {
  if (step.end) return ms(step.end);
  const until = step.cfwf && step.cfwf.until;
  return until ? Math.max(ms(until), ms(step.start)) : now;
}

function awaited(step) {
  const type = step.cfwf && step.cfwf.event_type;
  return type ? ` of type "${type}"` : "";
}

function timelineBars(step, now) {
  const bars = [];
  if (step.type === "sleep") {
    bars.push({ kind: "sleep", from: ms(step.start), to: stepEnd(step, now), label: step.finished ? "slept" : "sleeping" });
  } else if (step.type === "waitForEvent") {
    const label = step.error ? `failed: ${errorText(step.error)}` : step.finished ? "event arrived" : `waiting for an event${awaited(step)}`;
    bars.push({ kind: step.error ? "wait failed" : "wait", from: ms(step.start), to: step.end ? ms(step.end) : now, label });
  } else {
    const tracebacks = (step.cfwf && step.cfwf.attempts) || [];
    step.attempts.forEach((attempt, index) => {
      const previous = step.attempts[index - 1];
      if (previous && previous.end) {
        bars.push({ kind: "retry", from: ms(previous.end), to: ms(attempt.start), label: `retry delay before attempt ${index + 1}` });
      }
      const failed = attempt.success === false;
      const label = failed ? `attempt ${index + 1} failed: ${errorText(attempt.error)}` : `attempt ${index + 1}`;
      bars.push({
        kind: failed ? "attempt failed" : "attempt", from: ms(attempt.start), to: attempt.end ? ms(attempt.end) : now, label,
        traceback: failed ? { title: `${stepLabel(step)}, ${label}`, text: (tracebacks[index] || {}).traceback } : null,
      });
    });
    const last = step.attempts[step.attempts.length - 1];
    if (step.success === null && last && last.success === false && step.cfwf && step.cfwf.until) {
      bars.push({ kind: "retry", from: ms(last.end), to: ms(step.cfwf.until), label: "retry delay (pending)" });
    }
  }
  return bars;
}

function timelineRange(details, rows, now, zoom) {
  const zoomed = rows.find(({ step }) => step.name === zoom);
  const times = [];
  if (zoomed) {
    for (const bar of zoomed.bars) times.push(bar.from, bar.to);
  } else {
    times.push(ms(details.start) ?? ms(details.queued), details.end ? ms(details.end) : now);
    for (const { bars } of rows) for (const bar of bars) times.push(bar.from, bar.to);
  }
  const known = times.filter((t) => t !== null && isFinite(t));
  const t0 = Math.min(...known);
  const span = Math.max(Math.max(...known) - t0, 1);
  return zoomed ? [t0, span * 1.04] : [t0, span];
}

// Draw the timeline of `details` (describe()'s result) into `box`. `view`: {now (ms), zoom (a step's
// name or null), setZoom(name or null), showTraceback({title, text})}.
export function renderTimeline(box, details, view) {
  const { now } = view;
  const rows = details.steps.map((step) => ({ step, bars: timelineBars(step, now) }));
  const zoom = rows.some(({ step }) => step.name === view.zoom) ? view.zoom : null;
  const [t0, span] = timelineRange(details, rows, now, zoom);
  const at = (t) => ((t - t0) / span) * 100;
  const axis = el("div", { class: "axis" });
  for (const fraction of [0, 0.25, 0.5, 0.75, 1]) {
    const label = fraction === 0 ? shortTime(new Date(t0).toISOString()) : `+${formatDuration(span * fraction)}`;
    const tick = el("span", { class: fraction === 1 ? "tick last" : "tick", text: label });
    tick.style.left = `${fraction * 100}%`;
    axis.append(tick);
  }
  const lines = rows.map(({ step, bars }) => {
    const track = el("div", { class: "track" });
    for (const bar of bars) {
      const node = el(bar.traceback ? "button" : "span", {
        class: `bar ${bar.kind}`, title: `${bar.label} (${formatDuration(bar.to - bar.from)})`, "aria-label": bar.label,
        onclick: bar.traceback ? () => view.showTraceback(bar.traceback) : null,
      }, bar.traceback ? "\u2715" : null);
      node.style.left = `${at(bar.from)}%`;
      node.style.width = `max(${bar.traceback ? 14 : 6}px, ${at(bar.to) - at(bar.from)}%)`;  // room for the mark
      track.append(node);
    }
    if (!details.end && now > t0 && now < t0 + span) {
      const marker = el("span", { class: "now-marker", title: `now: ${shortTime(new Date(now).toISOString())}` });
      marker.style.left = `${at(now)}%`;
      track.append(marker);
    }
    const zoomed = zoom === step.name;
    const label = el("button", {
      class: "line-label link", title: zoomed ? "Show the whole instance" : `Zoom the time axis to ${step.name}`,
      "aria-pressed": zoomed ? "true" : "false", text: stepLabel(step),
      onclick: () => view.setZoom(zoomed ? null : step.name),
    });
    return el("div", { class: zoomed ? "line zoomed" : "line", "data-step": step.name }, label, track);
  });
  const hint = zoom ? `Zoomed to ${zoom}: click its name again for the whole instance` : "Click a step's name to zoom to it";
  box.replaceChildren(el("div", { class: "line axis-line" }, el("div", { class: "line-label small muted", text: hint }), axis), ...lines);
  if (!rows.length) box.append(el("p", { class: "muted", text: "No step has run yet." }));
}
