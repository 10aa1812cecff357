// Small helpers of the dashboard: building elements (text only), calling the API, formatting.

export const ROOT = "/cdn-cgi/local/explorer";
const API = ROOT + "/api";

// An element with attributes, listeners ("onclick") and children; "text" sets textContent.
// Values only ever become text or attribute values, never HTML.
export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "text") node.textContent = String(value);
    else if (key === "class") node.className = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children) {
    if (child !== null && child !== undefined) node.append(typeof child === "string" ? document.createTextNode(child) : child);
  }
  return node;
}

// A failure the API answered (its envelope's first error message).
export class ApiFailure extends Error {}

export async function api(method, path, body) {
  const init = { method, headers: {} };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = typeof body === "string" ? body : JSON.stringify(body);
  }
  const response = await fetch(API + path, init);
  let data = null;
  try { data = await response.json(); } catch { data = null; }
  if (!response.ok || !data || data.success === false) {
    const first = data && Array.isArray(data.errors) && data.errors[0];
    throw new ApiFailure(first ? first.message : `${response.status} ${response.statusText}`);
  }
  return data;
}

export const wfPath = (name) => "/workflows/" + encodeURIComponent(name);
export const instPath = (name, id) => wfPath(name) + "/instances/" + encodeURIComponent(id);

export function ms(iso) { return iso ? Date.parse(iso) : null; }

export function formatDuration(span) {
  if (span === null || span === undefined || !isFinite(span)) return "-";
  if (span < 1000) return `${Math.round(span)} ms`;
  const s = span / 1000;
  if (s < 60) return `${s.toFixed(s < 10 ? 1 : 0)} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${Math.floor(s % 60)} s`;
  const h = Math.floor(m / 60);
  if (h < 24) return `${h} h ${m % 60} min`;
  return `${Math.floor(h / 24)} d ${h % 24} h`;
}

export function shortTime(iso) { return iso ? iso.replace("T", " ").replace(/\.\d+Z$/, "Z") : "-"; }

export function json(value) { return value === undefined ? "" : JSON.stringify(value, null, 2); }

export function errorText(error) { return error ? `${error.name}: ${error.message}` : "failed"; }

// A step's name without Cloudflare's "-<n>" suffix.
export function stepLabel(step) {
  const extra = step.cfwf || {};
  return extra.name !== undefined ? extra.name : step.name.replace(/-\d+$/, "");
}
