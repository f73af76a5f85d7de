/**
 * GET /dashboard: one self-contained page (HTML, CSS and JS inline; no library, nothing fetched from
 * the network but the function's own `health` and `runs`, relative to the page, so the same page
 * works behind the function's authentication and behind the local console that adds a token).
 * It shows each task's status, schedule in words, next run, last duration, a strip of its last
 * runs and last error, and an SVG chart of recent run durations and failures over time, each
 * point coloured by its task; times are in UTC, named as such. It refreshes itself.
 */

/** Seconds between refreshes of the page's data. */
export const DASHBOARD_REFRESH_SECONDS = 10;

/** Runs the chart plots. */
export const DASHBOARD_RUNS = 300;

/** Runs each task's strip shows (from a larger fetch, so rare tasks get theirs too). */
export const DASHBOARD_STRIP_RUNS = 20;
const FETCHED_RUNS = 1000;

export const dashboardHtml = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<title>Scheduled jobs</title>
<style>
  :root { --ok: #1a7f37; --bad: #cf222e; --warn: #9a6700; --muted: #656d76; --line: #d0d7de; font-family: system-ui, sans-serif; }
  body { margin: 0 auto; max-width: 1480px; padding: 1rem 1.5rem; color: #1f2328; }
  header { display: flex; align-items: baseline; gap: 1rem; flex-wrap: wrap; }
  h1 { font-size: 1.4rem; margin: 0; }
  .pill { border-radius: 999px; padding: 0.1rem 0.6rem; font-size: 0.85rem; font-weight: 600; color: #fff; background: var(--muted); }
  .pill.ok { background: var(--ok); } .pill.attention { background: var(--bad); }
  #updated, .muted { color: var(--muted); font-size: 0.85rem; }
  #problem { display: none; background: #ffebe9; border: 1px solid var(--bad); padding: 0.5rem 0.75rem; margin: 0.75rem 0; border-radius: 6px; }
  table { border-collapse: collapse; width: 100%; margin-top: 1rem; font-size: 0.9rem; }
  th, td { text-align: left; padding: 0.35rem 0.5rem; border-bottom: 1px solid var(--line); vertical-align: top; }
  th { font-weight: 600; background: #f6f8fa; white-space: nowrap; }
  td code { white-space: nowrap; }
  .cron { color: var(--muted); font-size: 0.8rem; }
  .strip { display: flex; gap: 2px; }
  .strip i { display: inline-block; width: 6px; height: 14px; border-radius: 1px; background: var(--muted); }
  .strip i.strip-succeeded { background: var(--ok); } .strip i.strip-failed { background: var(--bad); }
  .strip i.strip-skipped, .strip i.strip-running { background: var(--warn); }
  td.num { text-align: right; font-variant-numeric: tabular-nums; }
  .status-succeeded { color: var(--ok); font-weight: 600; } .status-failed { color: var(--bad); font-weight: 600; }
  .status-skipped, .status-running { color: var(--warn); font-weight: 600; }
  .overdue { color: var(--bad); font-weight: 600; }
  .error { color: var(--bad); max-width: 18rem; overflow-wrap: anywhere; }
  code { font-size: 0.85rem; }
  section { margin-top: 1.5rem; }
  h2 { font-size: 1.1rem; margin: 0 0 0.5rem; }
  #chart svg { width: 100%; height: auto; border: 1px solid var(--line); border-radius: 6px; background: #fff; }
  .legend span { margin-right: 1rem; font-size: 0.85rem; }
  .dot { display: inline-block; width: 0.7rem; height: 0.7rem; border-radius: 50%; margin-right: 0.3rem; vertical-align: middle; }
</style>
</head>
<body>
<header>
  <h1>Scheduled jobs</h1>
  <span id="overall" class="pill">loading</span>
  <span id="updated"></span>
</header>
<div id="problem" role="alert"></div>
<table id="tasks">
  <thead><tr>
    <th>task</th><th>schedule</th><th>next run (UTC)</th><th>last run (UTC)</th><th>last status</th>
    <th class="num">last ms</th><th>last ${DASHBOARD_STRIP_RUNS} runs</th>
    <th class="num">runs 24 h</th><th class="num">fails 24 h</th><th class="num">p50 / p95 ms</th><th>last error</th>
  </tr></thead>
  <tbody></tbody>
</table>
<section>
  <h2>Recent runs: duration over time</h2>
  <div class="legend">
    <span>● succeeded</span><span>■ failed (red outline)</span><span>▲ skipped / running</span>
    <span class="muted" id="chart-caption"></span>
  </div>
  <div class="legend" id="chart-tasks"></div>
  <div id="chart"></div>
</section>
<script>
(() => {
  "use strict";
  const REFRESH_MS = ${DASHBOARD_REFRESH_SECONDS * 1000};
  const RUNS = ${DASHBOARD_RUNS};
  const STRIP = ${DASHBOARD_STRIP_RUNS};
  const DAYS = ["Sundays", "Mondays", "Tuesdays", "Wednesdays", "Thursdays", "Fridays", "Saturdays", "Sundays"];
  // One colour per task in the chart, in catalog order.
  const PALETTE = ["#1f77b4", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
    "#393b79", "#637939", "#843c39", "#7b4173"];
  const SVG = "http://www.w3.org/2000/svg";
  const $ = (selector) => document.querySelector(selector);

  // UTC, named: the schedules are in UTC (or a zone the row names), and a browser's locale says neither.
  const utc = (ms) => new Date(ms).toISOString().slice(0, 19).replace("T", " ") + " UTC";
  const time = (iso) => (iso ? utc(new Date(iso).getTime()) : "never");
  const two = (n) => String(n).padStart(2, "0");

  /** The common cron shapes in words; anything else stays cron. */
  function describeSchedule(cron, zone) {
    const f = cron.trim().split(/\\s+/);
    if (f.length !== 5) return cron;
    const [m, h, dom, mon, dow] = f;
    const num = (v) => /^\\d+$/.test(v);
    const at = () => "at " + two(h) + ":" + two(m) + " " + zone;
    if (mon !== "*") return cron;
    if (m === "*" && h === "*" && dom === "*" && dow === "*") return "every minute";
    const every = /^\\*\\/(\\d+)$/.exec(m);
    if (every && h === "*" && dom === "*" && dow === "*") return "every " + every[1] + " minutes";
    if (num(m) && h === "*" && dom === "*" && dow === "*") return m === "0" ? "hourly" : "hourly at :" + two(m);
    if (!num(m) || !num(h)) return cron;
    if (dom === "*" && dow === "*") return "daily " + at();
    if (dom === "*" && /^[0-7]$/.test(dow)) return DAYS[Number(dow)] + " " + at();
    if (num(dom) && dow === "*") return "monthly on day " + dom + " " + at();
    return cron;
  }
  const text = (value) => document.createTextNode(value === null || value === undefined ? "" : String(value));
  function cell(content, className) {
    const td = document.createElement("td");
    if (className) td.className = className;
    if (content instanceof Node) td.appendChild(content); else td.appendChild(text(content));
    return td;
  }

  async function getJson(path) {
    const response = await fetch(path, { headers: { accept: "application/json" }, cache: "no-store" });
    const body = await response.json().catch(() => ({}));
    if (!response.ok) {
      const message = body && body.error ? body.error.code + ": " + body.error.message : "HTTP " + response.status;
      throw new Error(path + " answered " + message);
    }
    return body;
  }

  function renderTasks(report, runs) {
    const byTask = new Map();
    for (const run of runs) {
      if (run.dryRun) continue;
      if (!byTask.has(run.task)) byTask.set(run.task, []);
      byTask.get(run.task).push(run); // newest first, as /runs answers
    }
    const overall = $("#overall");
    overall.textContent = report.status === "ok" ? "all healthy" : "needs attention";
    overall.className = "pill " + report.status;
    const body = $("#tasks tbody");
    body.replaceChildren();
    for (const task of report.tasks) {
      const row = document.createElement("tr");
      row.dataset.task = task.task;
      const name = document.createElement("code");
      name.textContent = task.task;
      row.appendChild(cell(name));
      const schedule = document.createElement("span");
      schedule.appendChild(text(describeSchedule(task.schedule, task.timeZone) + (task.paused ? ", paused" : "") + " "));
      const cron = document.createElement("code");
      cron.className = "cron";
      cron.textContent = task.schedule;
      schedule.appendChild(cron);
      row.appendChild(cell(schedule));
      row.appendChild(cell(task.paused ? (task.pause ? "paused by " + task.pause.pausedBy + ": " + task.pause.reason : "paused") : time(task.nextRunAt)));
      row.appendChild(cell(time(task.lastRunAt)));
      const status = task.overdue ? "overdue" + (task.lastStatus ? " (" + task.lastStatus + ")" : "") : task.lastStatus || "no run yet";
      row.appendChild(cell(status + (task.running ? ", running" : ""), task.overdue ? "overdue" : "status-" + (task.lastStatus || "none")));
      const recent = byTask.get(task.task) || [];
      row.appendChild(cell(recent.length && recent[0].durationMs !== null ? recent[0].durationMs : "-", "num last-ms"));
      const strip = document.createElement("span");
      strip.className = "strip";
      for (const run of recent.slice(0, STRIP).reverse()) {
        const mark = document.createElement("i");
        mark.className = "strip-" + run.status;
        mark.title = run.status + ", " + time(run.startedAt) + (run.durationMs === null ? "" : ", " + run.durationMs + " ms");
        strip.appendChild(mark);
      }
      row.appendChild(cell(strip));
      row.appendChild(cell(task.runs24h, "num"));
      row.appendChild(cell(task.failures24h, "num"));
      row.appendChild(cell((task.p50Ms === null ? "-" : task.p50Ms) + " / " + (task.p95Ms === null ? "-" : task.p95Ms), "num"));
      row.appendChild(cell(task.lastError || "", "error"));
      body.appendChild(row);
    }
  }

  function svg(name, attributes, parent) {
    const element = document.createElementNS(SVG, name);
    for (const [key, value] of Object.entries(attributes)) element.setAttribute(key, String(value));
    if (parent) parent.appendChild(element);
    return element;
  }

  function renderChart(runs, taskOrder) {
    const W = 1000, H = 280, left = 60, right = 16, top = 16, bottom = 36;
    const root = svg("svg", { viewBox: "0 0 " + W + " " + H, role: "img", "aria-label": "run durations over time" });
    const points = runs.filter((run) => !run.dryRun).slice(0, RUNS).map((run) => ({
      run,
      t: new Date(run.startedAt).getTime(),
      ms: run.durationMs === null ? 0 : run.durationMs,
    }));
    const now = Date.now();
    const t0 = points.length ? Math.min(...points.map((p) => p.t)) : now - 3600e3;
    const t1 = Math.max(now, t0 + 60e3);
    const maxMs = Math.max(10, ...points.map((p) => p.ms));
    // Logarithmic: a slow outlier must not flatten the everyday runs into the axis.
    const top10 = Math.pow(10, Math.ceil(Math.log10(maxMs + 1)));
    const x = (t) => left + ((t - t0) / (t1 - t0)) * (W - left - right);
    const y = (ms) => H - bottom - (Math.log10(ms + 1) / Math.log10(top10 + 1)) * (H - top - bottom);
    svg("line", { x1: left, y1: H - bottom, x2: W - right, y2: H - bottom, stroke: "#d0d7de" }, root);
    svg("line", { x1: left, y1: top, x2: left, y2: H - bottom, stroke: "#d0d7de" }, root);
    for (let tick = 1; tick <= top10; tick *= 10) {
      svg("line", { x1: left, y1: y(tick), x2: W - right, y2: y(tick), stroke: "#eaeef2" }, root);
      const label = svg("text", { x: left - 6, y: y(tick) + 4, "text-anchor": "end", "font-size": 11, fill: "#656d76" }, root);
      label.textContent = (tick >= 1000 ? tick / 1000 + " s" : tick + " ms");
    }
    for (const [t, anchor] of [[t0, "start"], [t1, "end"]]) {
      const label = svg("text", { x: x(t), y: H - 12, "text-anchor": anchor, "font-size": 11, fill: "#656d76" }, root);
      label.textContent = utc(t);
    }
    const colourOf = (task) => PALETTE[Math.max(0, taskOrder.indexOf(task)) % PALETTE.length];
    for (const p of points) {
      const fill = colourOf(p.run.task);
      const cx = x(p.t), cy = y(p.ms);
      const mark = p.run.status === "failed"
        ? svg("rect", { x: cx - 4.5, y: cy - 4.5, width: 9, height: 9, fill, stroke: "#cf222e", "stroke-width": 2.5 }, root)
        : p.run.status === "succeeded"
          ? svg("circle", { cx, cy, r: 3.5, fill, "fill-opacity": 0.85 }, root)
          : svg("polygon", { points: [cx, cy - 5, cx - 4.5, cy + 4, cx + 4.5, cy + 4].join(" "), fill }, root);
      mark.setAttribute("class", "run run-" + p.run.status);
      mark.dataset.run = p.run.runId;
      const title = svg("title", {}, mark);
      title.textContent = p.run.task + " " + p.run.status + ", " + p.ms + " ms, " + utc(p.t) +
        (p.run.message ? ": " + p.run.message : "");
    }
    $("#chart").replaceChildren(root);
    const failed = points.filter((p) => p.run.status === "failed").length;
    $("#chart-caption").textContent = points.length + " runs, " + failed + " failed";
    const legend = $("#chart-tasks");
    legend.replaceChildren();
    for (const task of taskOrder.filter((name) => points.some((p) => p.run.task === name))) {
      const entry = document.createElement("span");
      entry.dataset.task = task;
      const dot = document.createElement("i");
      dot.className = "dot";
      dot.style.background = colourOf(task);
      entry.appendChild(dot);
      entry.appendChild(text(task));
      legend.appendChild(entry);
    }
  }

  async function refresh() {
    try {
      const [report, runs] = await Promise.all([getJson("health"), getJson("runs?limit=" + ${FETCHED_RUNS})]);
      renderTasks(report, runs.runs);
      renderChart(runs.runs, report.tasks.map((task) => task.task));
      $("#problem").style.display = "none";
      $("#updated").textContent = "updated " + utc(Date.now()) + ", every " + REFRESH_MS / 1000 + " s";
    } catch (error) {
      const problem = $("#problem");
      problem.textContent = "Could not refresh: " + error.message;
      problem.style.display = "block";
    } finally {
      setTimeout(refresh, REFRESH_MS);
    }
  }
  refresh();
})();
</script>
</body>
</html>
`;
