/**
 * GET /health: per task, the catalog (schedule, time zone, paused, runner, next run) joined with
 * its run history (`scheduler.job_health`), and whether it is overdue.
 *
 * Overdue: the task is not paused, and the latest tick whose run should have finished by now (a
 * tick at least `timeoutSeconds` + one minute ago) is later than the tick of its last success.
 * A task that never succeeded is overdue only if the run history (of any task) reaches back
 * before that tick: the scheduler was demonstrably running then, so the task should have run.
 * A fresh deployment with an empty history is therefore never overdue.
 */
import { Cron } from "croner";
import type { TaskDefinition, TaskKind, TaskRunner } from "./catalog.js";
import { runnerOf, scheduledTasks, timeZoneOf } from "./catalog.js";
import type { Pool } from "./db.js";
import { classifyDatabaseError, publicMessage, ScheduledTaskError } from "./errors.js";

/** Time after a tick within which its run (one attempt up to its timeout) is expected to finish. */
const GRACE_BEYOND_TIMEOUT_MS = 60_000;

export interface TaskHealth {
  readonly task: string;
  readonly kind: TaskKind;
  readonly runner: TaskRunner;
  readonly schedule: string;
  readonly timeZone: string;
  readonly paused: boolean;
  readonly nextRunAt: string | null;
  readonly lastRunAt: string | null;
  readonly lastStatus: string | null;
  readonly lastSuccessAt: string | null;
  readonly lastFailureAt: string | null;
  readonly lastError: string | null;
  readonly runs24h: number;
  readonly failures24h: number;
  readonly skipped24h: number;
  readonly p50Ms: number | null;
  readonly p95Ms: number | null;
  readonly running: boolean;
  readonly overdue: boolean;
}

export interface HealthReport {
  /** "attention" when a task is overdue or its last run failed. */
  readonly status: "ok" | "attention";
  readonly now: string;
  readonly tasks: TaskHealth[];
}

/** One row of scheduler.job_health. */
export interface HealthRow {
  task: string;
  runs_24h: number;
  failures_24h: number;
  skipped_24h: number;
  p50_ms: number | null;
  p95_ms: number | null;
  last_run_at: Date | null;
  last_status: string | null;
  last_success_at: Date | null;
  last_success_schedule_time: Date | null;
  last_failure_at: Date | null;
  last_error: string | null;
  running: boolean;
}

export async function readHealth(pool: Pool, now: Date): Promise<HealthReport> {
  let rows: (HealthRow & { history_since: Date | null })[];
  try {
    const result = await pool.query<HealthRow & { history_since: Date | null }>(
      "SELECT h.*, (SELECT min(started_at) FROM scheduler.job_runs) AS history_since FROM scheduler.job_health h",
    );
    rows = result.rows;
  } catch (error) {
    const code = classifyDatabaseError(error);
    throw code === "unavailable"
      ? new ScheduledTaskError("unavailable", "the database is unreachable", { cause: error })
      : new ScheduledTaskError("internal", `could not read the run history: ${publicMessage(error)}`, {
          cause: error,
        });
  }
  const byTask = new Map(rows.map((row) => [row.task, row]));
  const historySince = rows[0]?.history_since ?? null;
  const report = scheduledTasks().map((task) => taskHealth(task, byTask.get(task.name), historySince, now));
  return {
    status: report.some((t) => t.overdue || t.lastStatus === "failed") ? "attention" : "ok",
    now: now.toISOString(),
    tasks: report,
  };
}

export function taskHealth(
  task: TaskDefinition,
  row: HealthRow | undefined,
  historySince: Date | null,
  now: Date,
): TaskHealth {
  const cron = new Cron(task.schedule, { timezone: timeZoneOf(task) });
  const nextRun = task.paused ? null : cron.nextRun(now);
  const lastSuccessTick = row?.last_success_schedule_time ?? row?.last_success_at ?? null;
  return {
    task: task.name,
    kind: task.kind,
    runner: runnerOf(task),
    schedule: task.schedule,
    timeZone: timeZoneOf(task),
    paused: task.paused,
    nextRunAt: nextRun?.toISOString() ?? null,
    lastRunAt: iso(row?.last_run_at),
    lastStatus: row?.last_status ?? null,
    lastSuccessAt: iso(row?.last_success_at),
    lastFailureAt: iso(row?.last_failure_at),
    lastError: row?.last_error ?? null,
    runs24h: row?.runs_24h ?? 0,
    failures24h: row?.failures_24h ?? 0,
    skipped24h: row?.skipped_24h ?? 0,
    p50Ms: row?.p50_ms ?? null,
    p95Ms: row?.p95_ms ?? null,
    running: row?.running ?? false,
    overdue: isOverdue(task, cron, lastSuccessTick, historySince, now),
  };
}

function isOverdue(
  task: TaskDefinition,
  cron: Cron,
  lastSuccessTick: Date | null,
  historySince: Date | null,
  now: Date,
): boolean {
  if (task.paused) return false;
  const settled = new Date(now.getTime() - task.timeoutSeconds * 1000 - GRACE_BEYOND_TIMEOUT_MS);
  const [due] = cron.previousRuns(1, settled);
  if (!due) return false;
  if (lastSuccessTick) return lastSuccessTick.getTime() < due.getTime();
  return historySince !== null && historySince.getTime() <= due.getTime();
}

function iso(date: Date | null | undefined): string | null {
  return date ? date.toISOString() : null;
}
