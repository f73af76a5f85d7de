/**
 * GET /dashboard: one self-contained page (HTML, CSS and JS inline; no library, nothing fetched from
 * the network but the function's own routes, relative to the page, so the same page works behind
 * the function's authentication, behind `gcloud run services proxy` and behind the local console
 * that adds a token). Its views, chosen by the URL's fragment:
 *
 * - the overview (`#`): a badge naming the tasks that need attention; every task's status, schedule
 *   in words, next run, last run, a strip of its last runs and its last error clipped to one line,
 *   the paused tasks set apart with who paused them, why and until when; a chart of recent runs;
 *   the email side in one line;
 * - a task (`#task=<name>`): its schedule, zone, runner, pause, next fire times, its runs filtered
 *   by status, trigger and time, the operators' actions on it, and for an operator the actions
 *   (pause with a reason and an optional end, resume, run now or a dry run);
 * - a run (`#run=<id>`): its tick, trigger, attempt, duration, rows and full message, the other
 *   runs of its tick, a replay of a failed tick, and the Cloud Logging query of its lines;
 * - the email side (`#email`): outbox depth and oldest pending email, dead emails with the command
 *   that queues them again, the local mailbox's messages.
 *
 * Times are in UTC, named as such. It fits a 1280-pixel-wide window and refreshes itself.
 */
import { dashboardScript } from "./dashboard-script.js";

/** Seconds between refreshes of the page's data. */
export const DASHBOARD_REFRESH_SECONDS = 10;

/** Runs the chart plots. */
export const DASHBOARD_RUNS = 300;

/** Runs each task's strip shows (from a larger fetch, so rare tasks get theirs too). */
export const DASHBOARD_STRIP_RUNS = 20;

const style = `
  :root { --ok: #1a7f37; --bad: #cf222e; --warn: #9a6700; --muted: #656d76; --line: #d0d7de; --soft: #f6f8fa;
    font-family: system-ui, sans-serif; }
  * { box-sizing: border-box; }
  body { margin: 0 auto; max-width: 1480px; padding: 1rem 1.5rem; color: #1f2328; }
  header { display: flex; align-items: baseline; gap: 1rem; flex-wrap: wrap; }
  h1 { font-size: 1.4rem; margin: 0; } h1 a { color: inherit; text-decoration: none; }
  h2 { font-size: 1.1rem; margin: 1.5rem 0 0.5rem; } h3 { font-size: 1rem; margin: 1rem 0 0.4rem; }
  a { color: #0969da; }
  .pill { border-radius: 999px; padding: 0.1rem 0.6rem; font-size: 0.85rem; font-weight: 600; color: #fff; background: var(--muted); }
  .pill.ok { background: var(--ok); } .pill.attention { background: var(--bad); }
  #attention { font-size: 0.85rem; } #attention a { color: var(--bad); font-weight: 600; margin-right: 0.5rem; }
  #updated, .muted { color: var(--muted); font-size: 0.85rem; }
  .banner { display: none; border: 1px solid; padding: 0.5rem 0.75rem; margin: 0.75rem 0; border-radius: 6px; }
  #problem, #pgcron { background: #ffebe9; border-color: var(--bad); }
  #notice { background: #dafbe1; border-color: var(--ok); }
  table { border-collapse: collapse; width: 100%; margin-top: 0.75rem; font-size: 0.85rem; table-layout: fixed; }
  th, td { text-align: left; padding: 0.3rem 0.4rem; border-bottom: 1px solid var(--line); vertical-align: top; overflow-wrap: anywhere; }
  th { font-weight: 600; background: var(--soft); white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
  td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
  .cron { color: var(--muted); font-size: 0.78rem; white-space: nowrap; }
  .strip { display: flex; gap: 2px; flex-wrap: nowrap; }
  .strip i { display: inline-block; width: 5px; height: 14px; border-radius: 1px; background: var(--muted); flex: none; }
  .strip i.strip-succeeded { background: var(--ok); } .strip i.strip-failed { background: var(--bad); }
  .strip i.strip-skipped, .strip i.strip-running, .strip i.strip-paused { background: var(--warn); }
  .status-succeeded { color: var(--ok); font-weight: 600; } .status-failed { color: var(--bad); font-weight: 600; }
  .status-skipped, .status-running, .status-paused { color: var(--warn); font-weight: 600; }
  .overdue { color: var(--bad); font-weight: 600; }
  td.error { color: var(--bad); white-space: nowrap; overflow: hidden; text-overflow: ellipsis; overflow-wrap: normal; }
  td.error.repaired { color: var(--muted); }
  tbody.paused td { background: var(--soft); color: var(--muted); }
  tbody.paused tr.group td { background: #fff8c5; color: #1f2328; font-weight: 600; border-top: 2px solid var(--warn); }
  tbody.paused td.pause { white-space: normal; color: #1f2328; }
  code { font-size: 0.82rem; }
  pre { background: var(--soft); border: 1px solid var(--line); border-radius: 6px; padding: 0.5rem 0.75rem; white-space: pre-wrap; overflow-wrap: anywhere; font-size: 0.82rem; margin: 0.25rem 0; }
  pre.message { color: var(--bad); }
  dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: 0.25rem 1rem; margin: 0.5rem 0; font-size: 0.9rem; }
  dl.facts dt { color: var(--muted); } dl.facts dd { margin: 0; overflow-wrap: anywhere; }
  form.action, .filters { display: flex; flex-wrap: wrap; gap: 0.5rem; align-items: center; margin: 0.5rem 0; font-size: 0.9rem; }
  form.action input[type=text] { min-width: 18rem; }
  button { font: inherit; padding: 0.2rem 0.7rem; border-radius: 6px; border: 1px solid var(--line); background: var(--soft); cursor: pointer; }
  button.danger { border-color: var(--bad); color: var(--bad); }
  details summary { cursor: pointer; }
  #chart svg { width: 100%; height: auto; border: 1px solid var(--line); border-radius: 6px; background: #fff; }
  .legend span { margin-right: 1rem; font-size: 0.85rem; }
  .dot { display: inline-block; width: 0.7rem; height: 0.7rem; border-radius: 50%; margin-right: 0.3rem; vertical-align: middle; }
`;

export const dashboardHtml = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<title>Scheduled jobs</title>
<style>${style}</style>
</head>
<body>
<header>
  <h1><a href="#">Scheduled jobs</a></h1>
  <span id="overall" class="pill">loading</span>
  <span id="attention"></span>
  <span id="updated"></span>
</header>
<div id="problem" class="banner" role="alert"></div>
<div id="pgcron" class="banner" role="alert"></div>
<div id="notice" class="banner" role="status"></div>
<main id="view"></main>
<script>
${dashboardScript({
  refreshMs: DASHBOARD_REFRESH_SECONDS * 1000,
  chartRuns: DASHBOARD_RUNS,
  stripRuns: DASHBOARD_STRIP_RUNS,
})}
</script>
</body>
</html>
`;
