/**
 * A plan as text (the terminal) and as Markdown (a pull request's comment: a table per section,
 * warnings first). JSON is the report itself.
 */
import type { CalendarEntry } from "./calendar.js";
import type { CostReport } from "./cost.js";
import type { DriftReport } from "./drift.js";
import type { TaskImpact } from "./impact.js";
import type { PlanReport } from "./plan.js";

/** Columns padded to their widest cell, under a header and a rule (the CLI's tables). */
type Table = (headers: string[], rows: string[][]) => string;

const usd = (value: number): string => `$${value < 0.01 && value > 0 ? value.toFixed(4) : value.toFixed(2)}`;
const count = (value: number): string => Math.round(value).toLocaleString("en-US");
const short = (iso: string): string => iso.slice(0, 16).replace("T", " ");

function pauseOf(entry: CalendarEntry): string {
  const config = entry.paused ? "paused in the stack" : "";
  const pause = entry.runTimePause;
  const runTime = pause
    ? `paused by ${pause.pausedBy} until ${pause.until ? short(pause.until) : "resumed"}: ${pause.reason}`
    : "";
  return [config, runTime].filter(Boolean).join("; ") || "no";
}

function nextOf(entry: CalendarEntry, local: boolean): string {
  if (entry.problem) return `- (${entry.problem})`;
  const next = entry.fires.slice(0, 2).map((f) => (local ? f.local : `${short(f.utc)}Z`));
  return next.length === 0 ? "-" : next.join(", ");
}

function scheduleCell(entry: CalendarEntry, code: (s: string) => string): string {
  const override = entry.catalogSchedule ? ` (stack override; catalog ${code(entry.catalogSchedule)})` : "";
  return `${code(entry.schedule)}${override}`;
}

function calendarRows(report: PlanReport, code: (s: string) => string): string[][] {
  return report.calendar.map((entry) => [
    entry.task,
    entry.runners.join(" + "),
    scheduleCell(entry, code),
    entry.words,
    entry.timeZone,
    pauseOf(entry),
    count(entry.fireCount),
    nextOf(entry, false),
    entry.timeZone === "UTC" ? "-" : nextOf(entry, true),
  ]);
}

const CALENDAR_HEADERS = [
  "task",
  "runner",
  "cron",
  "when",
  "zone",
  "paused",
  "fires",
  "next (UTC)",
  "next (local)",
];

function dstLines(report: PlanReport): string[] {
  return report.calendar.flatMap((entry) =>
    entry.dst.map(
      (note) =>
        `${entry.task}: ${note.wall} (${entry.timeZone}) ${note.kind === "repeated" ? "happens twice" : "does not happen"} (the change at ${short(note.change)}Z): ${note.runners.map((r) => `${r.runner} ${r.does}`).join("; ")}`,
    ),
  );
}

function costRows(cost: CostReport): string[][] {
  return cost.lines.map((l) => [
    l.platform,
    l.item,
    count(l.quantity),
    count(l.free),
    usd(l.gross),
    usd(l.cost),
  ]);
}

const COST_HEADERS = ["platform", "item", "a month", "free", "before free tier", "after free tier"];

function costTotal(cost: CostReport): string {
  return `Total: ${usd(cost.gross)} a month before free tiers, ${usd(cost.total)} after (prices of ${cost.pricesDate}; a ${cost.month.days}-day month from ${short(cost.month.from)}Z)`;
}

function pgCronLine(drift: DriftReport): string {
  const { pgCron } = drift;
  if (!pgCron.installed) return "pg_cron: not installed in this database";
  const parts = [
    pgCron.add.length ? `to add: ${pgCron.add.join(", ")}` : "",
    pgCron.change.length
      ? `to change: ${pgCron.change.map((c) => `${c.job} (${c.fields.join(", ")})`).join(", ")}`
      : "",
    pgCron.remove.length ? `to remove: ${pgCron.remove.join(", ")}` : "",
    pgCron.foreign.length
      ? `left alone (not the setup's): ${pgCron.foreign.map((f) => `${f.job} \`${f.schedule}\``).join(", ")}`
      : "",
  ].filter(Boolean);
  return `pg_cron, against ${pgCron.setupFile}: ${parts.length ? parts.join("; ") : "as the setup schedules it"}`;
}

function driftRows(drift: DriftReport): string[][] {
  return drift.tasks.map((t) => [
    t.task,
    t.runTimePause ? `paused by ${t.runTimePause.pausedBy}: ${t.runTimePause.reason}` : "-",
    t.lastStatus ?? "no run yet",
    t.lastRunAt ? short(t.lastRunAt) : "-",
    t.overdue ? "yes" : "no",
  ]);
}

const DRIFT_HEADERS = ["task", "run-time pause", "last status", "last run (UTC)", "overdue"];

function impactRows(impact: readonly TaskImpact[]): string[][] {
  return impact.map((t) => [
    t.task,
    t.how,
    t.problem ? `- (${t.problem})` : t.rows === null ? "-" : count(t.rows),
    t.guard ? `${t.guard.trips ? "TRIPS" : "ok"} (limit ${count(t.guard.limit)})` : "-",
    t.backlog && t.backlog.batches > 0 ? backlogText(t.backlog) : "-",
  ]);
}

const plural = (n: number, noun: string): string => `${count(n)} ${noun}${n === 1 ? "" : "s"}`;

function backlogText(backlog: NonNullable<TaskImpact["backlog"]>): string {
  const time = backlog.seconds < 0.1 ? "under 0.1 s" : `${backlog.seconds} s`;
  const batches = `${count(backlog.batches)} ${backlog.batches === 1 ? "batch" : "batches"}`;
  return `${batches}, ${time}, ${plural(backlog.runs, "run")} at ${backlog.pace}`;
}

const IMPACT_HEADERS = ["task", "how", "rows / messages", "guard", "backlog"];

function header(report: PlanReport): string {
  return `Plan of ${report.stack.file} (${report.stack.cloud}: ${report.stack.scheduler}) from ${short(report.window.from)}Z to ${short(report.window.to)}Z (${report.window.days} days)`;
}

function databaseSections(report: PlanReport, table: Table, title: (t: string) => string): string[] {
  if (report.database === null)
    return [
      title("Drift and impact"),
      "No database: set DATABASE_URL to compare it with the stack and dry-run each task.",
    ];
  const out: string[] = [];
  out.push(title(`Drift (${report.database})`));
  if (!report.drift || "error" in report.drift) out.push(`could not be read: ${report.drift?.error}`);
  else out.push(pgCronLine(report.drift), "", table(DRIFT_HEADERS, driftRows(report.drift)));
  out.push("", title(`Impact now (${report.database})`));
  if (!report.impact || "error" in report.impact) out.push(`could not be read: ${report.impact?.error}`);
  else out.push(table(IMPACT_HEADERS, impactRows(report.impact)));
  return out;
}

export function renderText(report: PlanReport, table: Table): string {
  const out: string[] = [header(report), ""];
  out.push(`Warnings (${report.warnings.length})`);
  report.warnings.forEach((w, i) => out.push(`  ${i + 1}. [${w.kind}] ${w.cause}`, `     fix: ${w.fix}`));
  if (report.warnings.length === 0) out.push("  none");
  out.push(
    "",
    "Calendar",
    table(
      CALENDAR_HEADERS,
      calendarRows(report, (s) => s),
    ),
  );
  const dst = dstLines(report);
  if (dst.length > 0) out.push("", "DST changes in the window:", ...dst.map((line) => `  ${line}`));
  out.push(
    "",
    `Cost (prices of ${report.cost.pricesDate})`,
    table(COST_HEADERS, costRows(report.cost)),
    costTotal(report.cost),
  );
  out.push(...report.cost.notes.map((note) => `  ${note}`), "");
  out.push(...databaseSections(report, table, (t) => t));
  return out.join("\n");
}

const cell = (text: string): string => text.replaceAll("|", "\\|").replaceAll("\n", " ");

/** A GitHub-flavoured Markdown table. */
export function markdownTable(headers: string[], rows: string[][]): string {
  return [headers, headers.map(() => "---"), ...rows]
    .map((row) => `| ${row.map(cell).join(" | ")} |`)
    .join("\n");
}

export function renderMarkdown(report: PlanReport): string {
  const code = (s: string): string => `\`${s}\``;
  const out: string[] = [`### ${header(report)}`, ""];
  out.push(`#### Warnings (${report.warnings.length})`, "");
  out.push(
    report.warnings.length === 0
      ? "None."
      : markdownTable(
          ["#", "kind", "cause", "fix"],
          report.warnings.map((w, i) => [String(i + 1), w.kind, w.cause, w.fix]),
        ),
  );
  out.push("", "#### Calendar", "", markdownTable(CALENDAR_HEADERS, calendarRows(report, code)));
  const dst = dstLines(report);
  if (dst.length > 0) out.push("", ...dst.map((line) => `- ${line}`));
  out.push(
    "",
    `#### Cost (prices of ${report.cost.pricesDate})`,
    "",
    markdownTable(COST_HEADERS, costRows(report.cost)),
  );
  out.push("", costTotal(report.cost), "", ...report.cost.notes.map((note) => `- ${note}`), "");
  out.push(...databaseSections(report, markdownTable, (t) => `#### ${t}\n`));
  return out.join("\n");
}
