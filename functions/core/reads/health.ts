/**
 * GET /health: per task, the catalog (schedule, time zone, paused, runner, next run) joined with
 * its run history (`scheduler.job_health`), and whether it is overdue.
 *
 * Overdue: the task is not paused (in the stack's config, or at run time: `cli pause`), and the latest tick whose run should have finished by now (a
 * tick at least `timeoutSeconds` + one minute ago) is later than the latest tick a success stood
 * for (its schedule time; a manual run's start: a manual run after a missed tick repairs it, one
 * before a tick does not count as that tick).
 * A task that never succeeded is overdue only if the run history (of any task) reaches back
 * before that tick: the scheduler was demonstrably running then, so the task should have run.
 * A fresh deployment with an empty history is therefore never overdue.
 * A tick that fell within a run-time pause that has ended is not missed: the task is overdue again
 * only when a tick after the pause is.
 */
import type { TaskKind, TaskRunner } from "../catalog.js";
import { classifyDatabaseError, publicMessage, ScheduledTaskError } from "../errors.js";
import type { Job } from "../schedule/jobs.js";
import { nextFireTime, previousFireTime } from "../schedule/fire-times.js";

/** Time after a tick within which its run (one attempt up to its timeout) is expected to finish. */
const GRACE_BEYOND_TIMEOUT_MS = 60_000;

export interface TaskHealth {
  readonly task: string;
  readonly kind: TaskKind;
  readonly runner: TaskRunner;
  readonly schedule: string;
  readonly timeZone: string;
  /** Paused in the stack's config or at run time. */
  readonly paused: boolean;
  /** The run-time pause in force (`cli pause`): why, by whom, since and until when. */
  readonly pause: RuntimePause | null;
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

export interface RuntimePause {
  readonly reason: string;
  readonly pausedBy: string;
  readonly pausedAt: string;
  readonly until: string | null;
}

/** A task's last run-time pause (scheduler.task_pauses), in force or ended. */
export interface PauseRow {
  pause_reason: string;
  paused_by: string;
  paused_at: Date;
  paused_until: Date | null;
  resumed_at: Date | null;
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
  /** The latest tick a success stood for (schedule time, or a manual run's start). */
  last_success_tick: Date | null;
  last_failure_at: Date | null;
  last_error: string | null;
  running: boolean;
}

/** Anything that runs a query: a pool, or a client already holding a connection. */
export interface Queryable {
  query<R extends object>(text: string): Promise<{ rows: R[] }>;
}

export async function readHealth(db: Queryable, now: Date, jobs: readonly Job[]): Promise<HealthReport> {
  type Row = Partial<HealthRow> &
    Partial<PauseRow> & { pause_task: string | null; history_since: Date | null };
  let rows: Row[];
  try {
    // A paused task with no run yet has a pause and no health row: a full join keeps it.
    const result = await db.query<Row>(
      `SELECT h.*, p.task AS pause_task, p.reason AS pause_reason, p.paused_by, p.paused_at,
              p.until AS paused_until, p.resumed_at,
              (SELECT min(started_at) FROM scheduler.job_runs) AS history_since
       FROM scheduler.job_health h FULL JOIN scheduler.task_pauses p ON p.task = h.task`,
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
  const byTask = new Map(rows.map((row) => [row.task ?? row.pause_task, row]));
  const historySince = rows[0]?.history_since ?? null;
  const report = jobs.map((job) => {
    const row = byTask.get(job.name);
    return taskHealth(
      job,
      row?.task ? (row as HealthRow) : undefined,
      historySince,
      now,
      row?.pause_task ? (row as PauseRow) : undefined,
    );
  });
  return {
    status: report.some((t) => t.overdue || t.lastStatus === "failed") ? "attention" : "ok",
    now: now.toISOString(),
    tasks: report,
  };
}

export function taskHealth(
  task: Job,
  row: HealthRow | undefined,
  historySince: Date | null,
  now: Date,
  pauseRow?: PauseRow,
): TaskHealth {
  const window = pauseRow ? pauseWindow(pauseRow) : undefined;
  const pause =
    pauseRow && window && isPausedAt(window, now)
      ? {
          reason: pauseRow.pause_reason,
          pausedBy: pauseRow.paused_by,
          pausedAt: pauseRow.paused_at.toISOString(),
          until: iso(pauseRow.paused_until),
        }
      : null;
  const paused = task.paused || pause !== null;
  const nextRun = paused ? undefined : nextFireTime(task, now);
  const lastSuccessTick = row?.last_success_tick ?? null;
  return {
    task: task.name,
    kind: task.kind,
    runner: task.runner,
    schedule: task.schedule,
    timeZone: task.timeZone,
    paused,
    pause,
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
    overdue: isOverdue(task, lastSuccessTick, historySince, now, window),
  };
}

/** The rule behind `overdue`, for /health and the overdue alert alike. */
export function isOverdue(
  task: Job,
  lastSuccessTick: Date | null,
  historySince: Date | null,
  now: Date,
  pause?: PauseWindow,
): boolean {
  if (task.paused || (pause && isPausedAt(pause, now))) return false;
  const settled = new Date(now.getTime() - task.timeoutSeconds * 1000 - GRACE_BEYOND_TIMEOUT_MS);
  const due = previousFireTime(task, settled);
  if (!due) return false;
  // A tick the pause held back was not missed.
  if (pause && isPausedAt(pause, due)) return false;
  if (lastSuccessTick) return lastSuccessTick.getTime() < due.getTime();
  return historySince !== null && historySince.getTime() <= due.getTime();
}

/** A run-time pause from its start to its end (resumed, or `until`); `end` null: until resumed. */
export interface PauseWindow {
  readonly start: Date;
  readonly end: Date | null;
}

function pauseWindow(row: PauseRow): PauseWindow {
  const ends = [row.resumed_at, row.paused_until].filter((d): d is Date => d !== null);
  return {
    start: row.paused_at,
    end: ends.length === 0 ? null : new Date(Math.min(...ends.map((d) => d.getTime()))),
  };
}

function isPausedAt(window: PauseWindow, at: Date): boolean {
  return (
    window.start.getTime() <= at.getTime() && (window.end === null || at.getTime() < window.end.getTime())
  );
}

function iso(date: Date | null | undefined): string | null {
  return date ? date.toISOString() : null;
}
