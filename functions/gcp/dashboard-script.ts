/**
 * The dashboard page's script (functions/gcp/dashboard.ts serves it inline): plain browser
 * JavaScript, no library. It reads the function's routes relative to the page (/health, /runs and
 * /dashboard/*) and sends an operator's actions to /actions/* as JSON with the header the function
 * requires of a browser's action (functions/gcp/action-guard.ts). It builds every element with
 * text nodes, never HTML from data: a task's error or an email's body shows as text.
 *
 * Written as a raw string (no template literal inside it, so nothing is interpolated by accident);
 * the settings come in as one JSON object.
 */
import { ACTION_HEADER, ACTION_HEADER_VALUE } from "./action-guard.js";

export interface DashboardSettings {
  readonly refreshMs: number;
  readonly chartRuns: number;
  readonly stripRuns: number;
}

export function dashboardScript(settings: DashboardSettings): string {
  const config = { ...settings, actionHeader: ACTION_HEADER, actionHeaderValue: ACTION_HEADER_VALUE };
  return `(() => {\n"use strict";\nconst CONFIG = ${JSON.stringify(config)};\n${client}\n})();`;
}

const client = String.raw`
const FETCHED_RUNS = 1000;
const TRIGGERS = ["scheduler", "manual", "cli", "replay", "backfill", "pg_cron"];
const STATUSES = ["succeeded", "failed", "skipped", "paused", "running"];
const SINCE = { "1h": 3600e3, "24h": 86400e3, "7d": 7 * 86400e3, "30d": 30 * 86400e3 };
// One colour per task in the chart, in catalog order.
const PALETTE = ["#1f77b4", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
  "#393b79", "#637939", "#843c39", "#7b4173"];
const SVG = "http://www.w3.org/2000/svg";
const $ = (selector, root) => (root || document).querySelector(selector);
let timer;
let editing = false;

// --- small helpers ----------------------------------------------------------------------------

/** An element with properties and children (strings become text nodes; null and false are left out). */
function el(tag, props, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = String(value);
    else if (key === "data") Object.assign(node.dataset, value);
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    node.appendChild(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

// UTC, named: the schedules are in UTC (or a zone the row names), and a browser's locale says neither.
const utc = (ms) => new Date(ms).toISOString().slice(0, 19).replace("T", " ") + " UTC";
const time = (iso) => (iso ? utc(Date.parse(iso)) : "never");
const taskLink = (name) => el("a", { href: "#task=" + encodeURIComponent(name) }, el("code", { text: name }));
const runLink = (id, text) => el("a", { href: "#run=" + encodeURIComponent(id), text: text || "run " + id });

/** How long ago, in words: "4 min ago". */
function ago(iso) {
  if (!iso) return "never";
  const s = Math.max(0, (Date.now() - Date.parse(iso)) / 1000);
  if (s < 90) return Math.round(s) + " s ago";
  if (s < 5400) return Math.round(s / 60) + " min ago";
  if (s < 172800) return Math.round(s / 3600) + " h ago";
  return Math.round(s / 86400) + " days ago";
}

function schedule(task) {
  return el("span", {}, task.scheduleInWords + " ", el("code", { class: "cron", text: task.schedule }));
}

async function getJson(path) {
  const response = await fetch(path, { headers: { accept: "application/json" }, cache: "no-store" });
  return answerOf(path, response);
}

async function answerOf(path, response) {
  const body = await response.json().catch(() => ({}));
  if (!response.ok) {
    const message = body && body.error ? body.error.code + ": " + body.error.message : "HTTP " + response.status;
    throw new Error(path + " answered " + message);
  }
  return body;
}

/** An operator's action: POST, JSON, and the header that a page of another origin cannot send. */
async function act(path, body) {
  const headers = { "content-type": "application/json", accept: "application/json" };
  headers[CONFIG.actionHeader] = CONFIG.actionHeaderValue;
  const response = await fetch(path, { method: "POST", headers, body: JSON.stringify(body), cache: "no-store" });
  return answerOf(path, response);
}

function banner(id, text) {
  const node = $("#" + id);
  node.textContent = text || "";
  node.style.display = text ? "block" : "none";
}

/** Runs an action from a button: the outcome in the notice, then the view again. */
async function perform(button, path, body) {
  button.disabled = true;
  try {
    const answer = await act(path, body);
    banner("notice", answer.action + " " + answer.task + ": " + answer.outcome);
    banner("problem", "");
    editing = false;
    await refresh();
  } catch (error) {
    banner("problem", "Could not " + path.replace("actions/", "") + ": " + error.message);
  } finally {
    button.disabled = false;
  }
}

// --- routing ----------------------------------------------------------------------------------

function params() {
  return new URLSearchParams(location.hash.replace(/^#/, ""));
}

async function render() {
  const p = params();
  const view = p.has("task") ? renderTask(p.get("task"), p) : p.has("run") ? renderRun(p.get("run"))
    : p.has("email") ? renderEmail() : null;
  if (!view) return renderOverview();
  // Every view keeps the badge: which tasks need attention, a click away.
  const [health] = await Promise.all([getJson("health"), view]);
  renderBadge(health);
}

async function refresh() {
  clearTimeout(timer);
  try {
    if (!editing) {
      await render();
      $("#updated").textContent = "updated " + utc(Date.now()) + ", every " + CONFIG.refreshMs / 1000 + " s";
    }
    if ($("#problem").dataset.refresh) banner("problem", "");
  } catch (error) {
    banner("problem", "Could not refresh: " + error.message);
    $("#problem").dataset.refresh = "1";
  } finally {
    timer = setTimeout(refresh, CONFIG.refreshMs);
  }
}

function show(...nodes) {
  $("#view").replaceChildren(...nodes.flat().filter(Boolean));
}

// --- the overview -----------------------------------------------------------------------------

/** Tasks that need someone: overdue, or their last run failed; a paused task waits on its pause. */
function needingAttention(report) {
  return report.tasks.filter((t) => !t.paused && (t.overdue || t.lastStatus === "failed"));
}

function renderBadge(report) {
  const attention = needingAttention(report);
  const overall = $("#overall");
  const paused = report.tasks.filter((t) => t.paused).length;
  overall.textContent = attention.length === 0 ? "all healthy" + (paused ? ", " + paused + " paused" : "")
    : attention.length + (attention.length === 1 ? " task needs" : " tasks need") + " attention";
  overall.className = "pill " + (attention.length ? "attention" : "ok");
  $("#attention").replaceChildren(...attention.map((t) =>
    el("a", { href: "#task=" + encodeURIComponent(t.task), data: { task: t.task }, text: t.task,
      title: t.overdue ? "overdue: its latest settled tick has no successful run" : "its last run failed" })));
  banner("pgcron", pgCronWarning(report.pgCronSetup));
}

/** pg_cron in this database runs another stack's schedule (/health's pgCronSetup): every verdict here may be wrong. */
function pgCronWarning(setup) {
  if (!setup || setup.disagreements.length === 0) return "";
  return "pg_cron in this database runs the setup rendered for " +
    (setup.stack ? "stack " + setup.stack + " (" + setup.stackFile + ")" : "jobs not read from a stack file") +
    ", " + setup.setupFile + ", loaded " + time(setup.loadedAt) + " by " + setup.loadedBy +
    ", which disagrees with this function's stack: " + setup.disagreements.join("; ") +
    ". Overdue and next runs here follow this function's schedules, not pg_cron's: load the setup rendered for this stack (docs/pg-cron.md).";
}

async function renderOverview() {
  const [report, runs, email] = await Promise.all([
    getJson("health"), getJson("runs?limit=" + FETCHED_RUNS), getJson("dashboard/email")]);
  renderBadge(report);
  const real = runs.runs.filter((run) => !run.dryRun);
  show(
    tasksTable(report, real),
    emailLine(email),
    el("section", {},
      el("h2", { text: "Recent runs: duration over time" }),
      el("div", { class: "legend" }, el("span", { text: "● succeeded" }), el("span", { text: "■ failed (red outline)" }),
        el("span", { text: "▲ skipped / running / paused" }), el("span", { class: "muted", id: "chart-caption" })),
      el("div", { class: "legend", id: "chart-tasks" }),
      el("div", { id: "chart" })),
  );
  renderChart(real, report.tasks.map((t) => t.task));
}

// [header, width, class, what the header means]
const COLUMNS = [["task", "16%"], ["schedule", "13%"], ["next run", "10%"], ["last run", "13%"],
  ["last ms", "6%", "num", "the duration of the last run"], ["last " + CONFIG.stripRuns + " runs", "11%"],
  ["24 h", "6.5%", "num", "runs / failed runs in the last 24 hours"],
  ["p50/p95", "8%", "num", "median and 95th percentile of the durations (ms) in the last 24 hours"], ["last error", "auto"]];

function tasksTable(report, runs) {
  const byTask = new Map();
  for (const run of runs) {
    if (!byTask.has(run.task)) byTask.set(run.task, []);
    byTask.get(run.task).push(run); // newest first, as /runs answers
  }
  const active = report.tasks.filter((t) => !t.paused);
  const paused = report.tasks.filter((t) => t.paused);
  const cols = el("colgroup", {}, COLUMNS.map(([, width]) => el("col", { style: width === "auto" ? null : "width:" + width })));
  const head = el("thead", {}, el("tr", {}, COLUMNS.map(([name, , cls, title]) => el("th", { class: cls, title, text: name }))));
  const body = el("tbody", {}, active.map((t) => taskRow(t, byTask.get(t.task) || [])));
  const parked = paused.length === 0 ? null : el("tbody", { class: "paused" },
    el("tr", { class: "group" }, el("td", { colspan: COLUMNS.length,
      text: "Paused (" + paused.length + "): their ticks do nothing until the pause ends" })),
    paused.map((t) => pausedRow(t, byTask.get(t.task) || [])));
  return el("table", { id: "tasks" }, cols, head, body, parked);
}

function taskCell(task) {
  return el("td", {}, taskLink(task.task), el("div", { class: "muted", text: task.kind + (task.runner === "cloud" ? "" : ", " + task.runner) }));
}

/** The run /health calls the last one (paused ticks are not runs of the task's work). */
function lastRunOf(task, recent) {
  return recent.find((run) => run.startedAt === task.lastRunAt) || null;
}

function statusCell(task) {
  const cell = el("td", { class: "last" }, el("div", { text: time(task.lastRunAt) }));
  if (task.overdue) {
    cell.appendChild(el("div", { class: "overdue", text: "overdue",
      title: "its latest settled tick has no successful run (the scheduler may have stopped, or the runs fail)" }));
    cell.appendChild(el("div", { class: "muted", text: task.lastSuccessAt ? "last success " + ago(task.lastSuccessAt) : "never succeeded" }));
  } else {
    const status = task.lastStatus || "no run yet";
    cell.appendChild(el("div", { class: "status-" + (task.lastStatus || "none"), text: status + (task.running ? ", running" : "") }));
  }
  return cell;
}

function stripOf(recent) {
  const strip = el("span", { class: "strip" });
  for (const run of recent.slice(0, CONFIG.stripRuns).reverse()) {
    strip.appendChild(el("i", { class: "strip-" + run.status,
      title: run.status + ", " + time(run.startedAt) + (run.durationMs === null ? "" : ", " + run.durationMs + " ms") }));
  }
  return strip;
}

/** The last error only while the last run failed; a repaired task says when it last failed, not in red. */
function errorCell(task, last) {
  if (task.lastStatus === "failed" && task.lastError) {
    const cell = el("td", { class: "error", title: task.lastError });
    cell.appendChild(last ? runLink(last.runId, task.lastError) : document.createTextNode(task.lastError));
    return cell;
  }
  if (task.lastFailureAt) return el("td", { class: "error repaired", text: "repaired: last failed " + ago(task.lastFailureAt), title: task.lastError || "" });
  return el("td", { class: "error" });
}

function taskRow(task, recent) {
  const last = lastRunOf(task, recent);
  return el("tr", { data: { task: task.task } },
    taskCell(task),
    el("td", {}, schedule(task)),
    el("td", { text: time(task.nextRunAt) }),
    statusCell(task),
    el("td", { class: "num last-ms", text: last && last.durationMs !== null ? last.durationMs : "-" }),
    el("td", {}, stripOf(recent)),
    el("td", { class: "num" }, String(task.runs24h), " / ", el("span", { class: task.failures24h ? "status-failed" : "", text: task.failures24h })),
    el("td", { class: "num", text: (task.p50Ms === null ? "-" : task.p50Ms) + " / " + (task.p95Ms === null ? "-" : task.p95Ms) }),
    errorCell(task, last));
}

function pauseWords(task) {
  if (!task.pause) return "paused in the stack's config (a Pulumi change resumes it)";
  const p = task.pause;
  return "paused by " + p.pausedBy + " since " + time(p.pausedAt) + (p.until ? ", until " + time(p.until) : ", until resumed") + ": " + p.reason;
}

function pausedRow(task, recent) {
  return el("tr", { data: { task: task.task } },
    taskCell(task),
    el("td", {}, schedule(task)),
    el("td", { class: "pause", colspan: COLUMNS.length - 2 },
      el("strong", { text: pauseWords(task) }),
      el("span", { class: "muted", text: "; last run " + time(task.lastRunAt) + (task.lastStatus ? " (" + task.lastStatus + ")" : "") })));
}

function emailLine(email) {
  const pending = email.outbox.reduce((n, k) => n + k.pending + k.sending, 0);
  const dead = email.outbox.reduce((n, k) => n + k.dead, 0);
  const oldest = email.outbox.map((k) => k.oldestPendingAt).filter(Boolean).sort()[0];
  return el("p", { id: "email-line" }, el("a", { href: "#email", text: "Email" }), ": ",
    pending + " queued" + (oldest ? " (oldest " + ago(oldest) + ")" : ""), ", ",
    el("span", { class: dead ? "status-failed" : "", text: dead + " dead" }),
    email.mailbox.length ? ", " + email.mailbox.length + " in the local mailbox" : "");
}

// --- the chart --------------------------------------------------------------------------------

function svg(name, attributes, parent) {
  const element = document.createElementNS(SVG, name);
  for (const [key, value] of Object.entries(attributes)) element.setAttribute(key, String(value));
  if (parent) parent.appendChild(element);
  return element;
}

function chartScale(points) {
  const W = 1000, H = 280, left = 60, right = 16, top = 16, bottom = 36;
  const now = Date.now();
  const t0 = points.length ? Math.min(...points.map((p) => p.t)) : now - 3600e3;
  const t1 = Math.max(now, t0 + 60e3);
  const maxMs = Math.max(10, ...points.map((p) => p.ms));
  // Logarithmic: a slow outlier must not flatten the everyday runs into the axis.
  const top10 = Math.pow(10, Math.ceil(Math.log10(maxMs + 1)));
  return { W, H, left, right, top, bottom, t0, t1, top10,
    x: (t) => left + ((t - t0) / (t1 - t0)) * (W - left - right),
    y: (ms) => H - bottom - (Math.log10(ms + 1) / Math.log10(top10 + 1)) * (H - top - bottom) };
}

function chartAxes(root, s) {
  svg("line", { x1: s.left, y1: s.H - s.bottom, x2: s.W - s.right, y2: s.H - s.bottom, stroke: "#d0d7de" }, root);
  svg("line", { x1: s.left, y1: s.top, x2: s.left, y2: s.H - s.bottom, stroke: "#d0d7de" }, root);
  for (let tick = 1; tick <= s.top10; tick *= 10) {
    svg("line", { x1: s.left, y1: s.y(tick), x2: s.W - s.right, y2: s.y(tick), stroke: "#eaeef2" }, root);
    const label = svg("text", { x: s.left - 6, y: s.y(tick) + 4, "text-anchor": "end", "font-size": 11, fill: "#656d76" }, root);
    label.textContent = tick >= 1000 ? tick / 1000 + " s" : tick + " ms";
  }
  for (const [t, anchor] of [[s.t0, "start"], [s.t1, "end"]]) {
    const label = svg("text", { x: s.x(t), y: s.H - 12, "text-anchor": anchor, "font-size": 11, fill: "#656d76" }, root);
    label.textContent = utc(t);
  }
}

function renderChart(runs, taskOrder) {
  const points = runs.slice(0, CONFIG.chartRuns).map((run) => ({
    run, t: Date.parse(run.startedAt), ms: run.durationMs === null ? 0 : run.durationMs }));
  const s = chartScale(points);
  const root = svg("svg", { viewBox: "0 0 " + s.W + " " + s.H, role: "img", "aria-label": "run durations over time" });
  chartAxes(root, s);
  const colourOf = (task) => PALETTE[Math.max(0, taskOrder.indexOf(task)) % PALETTE.length];
  for (const p of points) {
    const fill = colourOf(p.run.task);
    const cx = s.x(p.t), cy = s.y(p.ms);
    const mark = p.run.status === "failed"
      ? svg("rect", { x: cx - 4.5, y: cy - 4.5, width: 9, height: 9, fill, stroke: "#cf222e", "stroke-width": 2.5 }, root)
      : p.run.status === "succeeded"
        ? svg("circle", { cx, cy, r: 3.5, fill, "fill-opacity": 0.85 }, root)
        : svg("polygon", { points: [cx, cy - 5, cx - 4.5, cy + 4, cx + 4.5, cy + 4].join(" "), fill }, root);
    mark.setAttribute("class", "run run-" + p.run.status);
    mark.dataset.run = p.run.runId;
    svg("title", {}, mark).textContent = p.run.task + " " + p.run.status + ", " + p.ms + " ms, " + utc(p.t) +
      (p.run.message ? ": " + p.run.message : "");
  }
  $("#chart").replaceChildren(root);
  const failed = points.filter((p) => p.run.status === "failed").length;
  $("#chart-caption").textContent = points.length + " runs, " + failed + " failed";
  $("#chart-tasks").replaceChildren(...taskOrder.filter((name) => points.some((p) => p.run.task === name)).map((task) =>
    el("span", { data: { task } }, el("i", { class: "dot", style: "background:" + colourOf(task) }), task)));
}

// --- a task's page ----------------------------------------------------------------------------

async function renderTask(name, p) {
  const query = runQuery(name, p);
  const [page, runs] = await Promise.all([
    getJson("dashboard/task?task=" + encodeURIComponent(name)), getJson("runs?" + query)]);
  const t = page.task, h = page.health;
  show(
    el("h2", { id: "task-title" }, el("code", { text: t.name }), " ", statusPill(h)),
    el("p", { text: t.description }),
    factsList([
      ["schedule", schedule(t)], ["time zone", t.timeZone], ["runner", t.runner], ["kind", t.kind + (t.call ? ": " + t.call : "")],
      ["timeout", t.timeoutSeconds + " s (attempt deadline " + t.attemptDeadlineSeconds + " s)"],
      ["overlap", t.overlap], ["guard", t.maxRows === null ? "none" : "at most " + t.maxRows + " rows unless forced"],
      ["reads its tick", t.readsTick ? "yes: each tick is its own work" : "no"],
      ["stack overrides", t.overridden.length ? t.overridden.join(", ") : "none"],
      ["last run", time(h.lastRunAt) + (h.lastStatus ? " (" + h.lastStatus + ")" : "")],
      ["last success", time(h.lastSuccessAt)],
    ]),
    pauseSection(t, h),
    page.viewer.operator ? actionForms(t, h) : el("p", { class: "muted", id: "read-only",
      text: "Read only: " + page.viewer.email + " is not in OPERATOR_EMAILS, so the actions are not offered." }),
    el("h3", { text: "Next fire times" }),
    h.paused ? el("p", { class: "muted", text: "none while paused" })
      : el("ul", { id: "next-fires" }, page.nextFireTimes.map((iso) => el("li", { text: time(iso) }))),
    el("h3", { text: "Runs" }), runFilters(name, p), runsTable(runs.runs),
    el("h3", { text: "Operators' actions" }), actionsTable(page.actions),
    el("h3", { text: "Its lines in Cloud Logging" }), el("pre", { id: "log-query", text: page.logQuery }),
  );
}

function statusPill(h) {
  const text = h.paused ? "paused" : h.overdue ? "overdue" : h.lastStatus || "no run yet";
  return el("span", { class: "pill " + (h.paused ? "" : h.overdue || h.lastStatus === "failed" ? "attention" : "ok"), text });
}

function factsList(pairs) {
  return el("dl", { class: "facts" }, pairs.map(([key, value]) => [el("dt", { text: key }), el("dd", {}, value)]));
}

function pauseSection(t, h) {
  const words = h.pause ? pauseWords(h) : t.pausedInConfig ? pauseWords({ pause: null }) : "not paused";
  return el("p", { id: "pause", class: h.paused ? "overdue" : "muted", text: words });
}

/** "30m", "2h", "1d" from now, or an RFC 3339 time as typed; empty: until resumed. */
function untilOf(text) {
  const value = text.trim();
  if (!value) return undefined;
  const d = /^(\d+)\s*(m|min|h|d)$/i.exec(value);
  if (!d) return value;
  const unit = { m: 60e3, min: 60e3, h: 3600e3, d: 86400e3 }[d[2].toLowerCase()];
  return new Date(Date.now() + Number(d[1]) * unit).toISOString();
}

function actionForms(t, h) {
  const reason = el("input", { type: "text", name: "reason", placeholder: "why (shown wherever the pause is)", required: true });
  const until = el("input", { type: "text", name: "until", placeholder: "until: 30m, 2h, 1d or a UTC time; empty: until resumed" });
  const dryRun = el("input", { type: "checkbox", name: "dryRun", checked: true });
  const markEditing = () => { editing = reason.value !== "" || until.value !== ""; };
  reason.addEventListener("input", markEditing);
  until.addEventListener("input", markEditing);
  const pauseForm = el("form", { class: "action", id: "pause-form", onsubmit: (event) => {
    event.preventDefault();
    perform(event.submitter || $("button", pauseForm), "actions/pause", { task: t.name, reason: reason.value, until: untilOf(until.value) });
  } }, reason, until, el("button", { class: "danger", type: "submit", text: "Pause" }));
  const resume = h.pause ? el("button", { id: "resume", type: "button", text: "Resume",
    onclick: (event) => perform(event.currentTarget, "actions/resume", { task: t.name }) }) : null;
  const runForm = el("form", { class: "action", id: "run-form", onsubmit: (event) => {
    event.preventDefault();
    perform(event.submitter || $("button", runForm), "actions/run", { task: t.name, dryRun: dryRun.checked });
  } }, el("label", {}, dryRun, " dry run (changes nothing)"), el("button", { type: "submit", text: "Run now" }),
    el("span", { class: "muted", text: "a manual run, as the console's Force run: the next tick runs too" }));
  return el("section", { id: "actions" }, el("h3", { text: "Act" }), pauseForm, resume, runForm);
}

function runQuery(name, p) {
  const q = new URLSearchParams({ task: name, limit: "200" });
  if (p.get("status")) q.set("status", p.get("status"));
  if (p.get("trigger")) q.set("trigger", p.get("trigger"));
  if (SINCE[p.get("since")]) q.set("since", new Date(Date.now() - SINCE[p.get("since")]).toISOString());
  return q.toString();
}

function runFilters(name, p) {
  const select = (key, label, options) => el("label", {}, label + " ", el("select", { name: key,
    onchange: (event) => {
      const next = params();
      if (event.target.value) next.set(key, event.target.value); else next.delete(key);
      location.hash = next.toString();
    } }, el("option", { value: "", text: "any" }),
    options.map((o) => el("option", { value: o, text: o, selected: p.get(key) === o }))));
  return el("div", { class: "filters", id: "run-filters" },
    select("status", "status", STATUSES), select("trigger", "trigger", TRIGGERS), select("since", "since", Object.keys(SINCE)));
}

function runsTable(runs) {
  const head = el("tr", {}, ["started (UTC)", "trigger", "tick (UTC)", "status", "ms", "rows", "message"].map((h, i) =>
    el("th", { class: i === 4 || i === 5 ? "num" : null, text: h, style: ["width:16%", "width:8%", "width:16%", "width:10%", "width:6%", "width:6%", null][i] })));
  if (runs.length === 0) return el("p", { class: "muted", id: "no-runs", text: "no runs match" });
  return el("table", { id: "runs" }, el("thead", {}, head), el("tbody", {}, runs.map((run) =>
    el("tr", { data: { run: run.runId } },
      el("td", {}, runLink(run.runId, time(run.startedAt))),
      el("td", { text: run.trigger }),
      el("td", { text: run.scheduleTime ? time(run.scheduleTime) : "-" }),
      el("td", { class: "status-" + run.status, text: run.status + (run.dryRun ? " (dry run)" : "") }),
      el("td", { class: "num", text: run.durationMs === null ? "-" : run.durationMs }),
      el("td", { class: "num", text: run.rowsAffected === null ? "-" : run.rowsAffected }),
      el("td", { class: run.status === "failed" ? "error" : "", title: run.message || "", text: run.message || "" })))));
}

function actionsTable(actions) {
  if (actions.length === 0) return el("p", { class: "muted", text: "none recorded" });
  return el("table", { id: "actions-log" }, el("thead", {}, el("tr", {},
    ["when (UTC)", "who", "action", "what came of it"].map((h, i) => el("th", { text: h, style: ["width:16%", "width:20%", "width:8%", null][i] })))),
  el("tbody", {}, actions.map((a) => el("tr", {},
    el("td", { text: time(a.at) }), el("td", { text: a.operator }), el("td", { text: a.action }),
    el("td", {}, a.runId ? [runLink(a.runId), " "] : null, a.outcome)))));
}

// --- a run's page -----------------------------------------------------------------------------

async function renderRun(id) {
  const page = await getJson("dashboard/run?id=" + encodeURIComponent(id));
  const r = page.run;
  show(
    el("h2", { id: "run-title" }, "Run " + r.runId + " of ", taskLink(r.task), " ",
      el("span", { class: "pill " + (r.status === "failed" ? "attention" : r.status === "succeeded" ? "ok" : ""), text: r.status })),
    factsList([
      ["tick", r.scheduleTime ? time(r.scheduleTime) : "none: a manual run (its input is its start)"],
      ["trigger", r.trigger], ["job", r.jobName || "-"], ["attempt", r.attempt === null ? "not known" : r.attempt],
      ["asked for tick", r.requestedScheduleTime ? time(r.requestedScheduleTime) : "-"],
      ["dry run", r.dryRun ? "yes: nothing changed" : "no"], ["forced past the guard", r.forced ? "yes" : "no"],
      ["started", time(r.startedAt)], ["finished", time(r.finishedAt)],
      ["duration", r.durationMs === null ? "-" : r.durationMs + " ms"],
      ["rows", r.rowsAffected === null ? "-" : r.rowsAffected + (r.more ? " (more to do)" : "")],
      ["error code", r.errorCode || "-"],
    ]),
    el("h3", { text: "Message" }),
    el("pre", { id: "run-message", class: r.status === "failed" ? "message" : "", text: r.message || "(none)" }),
    replaySection(page),
    page.tickRuns.length > 1 ? [el("h3", { text: "Every run of this tick" }), runsTable(page.tickRuns)] : null,
    el("h3", { text: "Its lines in Cloud Logging" }),
    el("pre", { id: "log-query", text: page.logQuery }),
    el("p", { class: "muted", text: "Paste it into the Logs Explorer, or run:" }),
    el("pre", { text: "gcloud logging read '" + page.logQuery.replace(/\n/g, " ") + "' --limit 200" }),
  );
}

function replaySection(page) {
  const r = page.run;
  if (r.status !== "failed") return null;
  if (!page.replay.possible) return el("p", { class: "muted", id: "replay-why", text: "Not replayed: " + page.replay.why });
  if (!page.viewer.operator) return el("p", { class: "muted", text: "An operator can replay this tick." });
  return el("form", { class: "action", id: "replay-form", onsubmit: (event) => {
    event.preventDefault();
    perform(event.submitter || $("button", event.currentTarget), "actions/replay", { runId: r.runId });
  } }, el("button", { type: "submit", text: "Replay this tick" }),
    el("span", { class: "muted", text: "runs the task again with this tick as its input and slot (trigger replay)" }));
}

// --- the email side ---------------------------------------------------------------------------

async function renderEmail() {
  const email = await getJson("dashboard/email");
  show(
    el("h2", { text: "Email" }),
    outboxTable(email),
    el("h3", { text: "Dead emails (no run retries them)" }), deadTable(email),
    el("h3", { text: "Local mailbox (nothing leaves the machine)" }),
    email.mailbox.length === 0 ? el("p", { class: "muted", text: "empty: this deployment sends through SendGrid, or nothing was sent yet" })
      : el("div", { id: "mailbox" }, email.mailbox.map((m) => el("details", { data: { message: m.id } },
        el("summary", { text: time(m.createdAt) + " to " + m.recipient + ": " + m.subject }), el("pre", { text: m.body })))),
  );
}

function outboxTable(email) {
  if (email.outbox.length === 0) return el("p", { class: "muted", text: "the outbox is empty" });
  return el("table", { id: "outbox" }, el("thead", {}, el("tr", {},
    ["kind", "sent by", "pending", "sending", "oldest queued (UTC)", "dead", "sent"].map((h, i) =>
      el("th", { class: [2, 3, 5, 6].includes(i) ? "num" : null, text: h })))),
  el("tbody", {}, email.outbox.map((k) => el("tr", {},
    el("td", { text: k.kind }), el("td", {}, email.senders[k.kind] ? taskLink(email.senders[k.kind].task) : "-"),
    el("td", { class: "num", text: k.pending }), el("td", { class: "num", text: k.sending }),
    el("td", { text: k.oldestPendingAt ? time(k.oldestPendingAt) + " (" + ago(k.oldestPendingAt) + ")" : "-" }),
    el("td", { class: "num " + (k.dead ? "status-failed" : ""), text: k.dead }), el("td", { class: "num", text: k.sent })))));
}

function deadTable(email) {
  if (email.dead.length === 0) return el("p", { class: "muted", id: "no-dead", text: "none" });
  const kinds = [...new Set(email.dead.map((d) => d.kind))];
  return el("div", {},
    el("p", { text: "Once the cause is fixed, queue them again (the next run sends them):" }),
    kinds.map((kind) => el("pre", { class: "requeue", text: email.senders[kind] ? email.senders[kind].requeue : "no task sends " + kind })),
    el("table", { id: "dead" }, el("thead", {}, el("tr", {},
      ["id", "kind", "to", "attempts", "queued (UTC)", "last error"].map((h, i) => el("th", { class: i === 3 ? "num" : null, text: h,
        style: ["width:7%", "width:14%", "width:20%", "width:7%", "width:16%", null][i] })))),
    el("tbody", {}, email.dead.map((d) => el("tr", {},
      el("td", { text: d.id }), el("td", { text: d.kind }), el("td", { text: d.recipient || "(no address)" }),
      el("td", { class: "num", text: d.attempts }), el("td", { text: time(d.queuedAt) }),
      el("td", { class: "error", title: d.lastError || "", text: d.lastError || "" }))))));
}

window.addEventListener("hashchange", () => {
  editing = false;
  banner("notice", "");
  refresh();
});
refresh();
`;
