/**
 * GET /health: per task, the catalog (schedule, time zone, paused, runner, next run) joined with
 * its run history (`scheduler.job_health`), its run-time pause, and whether it is overdue: the
 * tick rules' `isOverdue` (functions/core/schedule/tick-rules.ts), which the overdue alert and the
 * dead-man (`GET /health?task=`) read through this module, and the CLI's `missed`, `backfill` and
 * `replay` ask directly. With it, the pg_cron setup loaded into the database and how it disagrees
 * with the jobs judged here (functions/core/reads/pg-cron-setup.ts).
 */
import type { TaskKind, TaskRunner } from "../catalog.js";
import { classifyDatabaseError, publicMessage, ScheduledTaskError } from "../errors.js";
import type { Job } from "../schedule/jobs.js";
import { nextFireTimes } from "../schedule/fire-times.js";
import type { RunTimePause, TickHistory } from "../schedule/tick-rules.js";
import { isOverdue, isPausedAt, latestSettledTick, pauseEnd } from "../schedule/tick-rules.js";
import type { PgCronSetup, PgCronSetupCheck } from "./pg-cron-setup.js";
import { checkPgCronSetup, readPgCronSetup } from "./pg-cron-setup.js";
import type { PauseJson, Queryable, TickWindow } from "./tick-facts.js";
import { pauseJson, readTickHistories } from "./tick-facts.js";
import { scheduleInWords } from "../schedule/words.js";

export type { Queryable } from "./tick-facts.js";

export interface TaskHealth {
  readonly task: string;
  readonly kind: TaskKind;
  readonly runner: TaskRunner;
  readonly schedule: string;
  /** The schedule in words, in its zone ("daily at 00:05 UTC"): the dashboard shows it beside the cron. */
  readonly scheduleInWords: string;
  readonly timeZone: string;
  /** Paused in the stack's config or at run time. */
  readonly paused: boolean;
  /** The run-time pause in force (`cli pause`): why, by whom, since and until when. */
  readonly pause: PauseJson | null;
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
  /**
   * "attention" when a task is overdue or its last run failed, or when pg_cron in this database
   * runs a setup that disagrees with the jobs judged here.
   */
  readonly status: "ok" | "attention";
  readonly now: string;
  readonly tasks: TaskHealth[];
  /** The pg_cron setup loaded into this database and how it disagrees with these jobs; null: none loaded. */
  readonly pgCronSetup: PgCronSetupCheck | null;
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

/**
 * The report of these jobs at `now`. `stack`: the name of the stack they are, when the reader
 * knows it (the CLI reads a stack file), so a pg_cron setup rendered for another stack is named.
 */
export async function readHealth(
  db: Queryable,
  now: Date,
  jobs: readonly Job[],
  stack?: string,
): Promise<HealthReport> {
  let rows: HealthRow[];
  let histories: Map<string, TickHistory>;
  let setup: PgCronSetup | null;
  try {
    rows = (await db.query<HealthRow>("SELECT * FROM scheduler.job_health")).rows;
    histories = await readTickHistories(db, overdueWindows(jobs, now));
    setup = await readPgCronSetup(db);
  } catch (error) {
    const code = classifyDatabaseError(error);
    throw code === "unavailable"
      ? new ScheduledTaskError("unavailable", "the database is unreachable", { cause: error })
      : new ScheduledTaskError("internal", `could not read the run history: ${publicMessage(error)}`, {
          cause: error,
        });
  }
  const byTask = new Map(rows.map((row) => [row.task, row]));
  const report = jobs.map((job) => taskHealth(job, byTask.get(job.name), histories.get(job.name)!, now));
  const pgCronSetup = setup ? checkPgCronSetup(setup, jobs, stack) : null;
  const attention =
    report.some((t) => t.overdue || t.lastStatus === "failed") ||
    (pgCronSetup?.disagreements.length ?? 0) > 0;
  return { status: attention ? "attention" : "ok", now: now.toISOString(), tasks: report, pgCronSetup };
}

/** The tasks overdue at `now`, as /health reports them (the overdue alert lists these). */
export async function overdueTasks(db: Queryable, now: Date, jobs: readonly Job[]): Promise<string[]> {
  const histories = await readTickHistories(db, overdueWindows(jobs, now));
  return jobs.filter((job) => isOverdue(job, histories.get(job.name)!, now)).map((job) => job.name);
}

/** `isOverdue` judges each task's latest settled tick: its history from that tick on is enough. */
function overdueWindows(jobs: readonly Job[], now: Date): TickWindow[] {
  return jobs.map((job) => ({ task: job.name, since: latestSettledTick(job, now) ?? now }));
}

/**
 * The next `count` fire times whose runs will do the task's work: none while the task is paused in
 * the stack's config, or at run time until resumed; the ticks from the end of a run-time pause that
 * has one (a tick before it is recorded "paused" and does nothing).
 */
export function fireTimesToRun(job: Job, pause: RunTimePause | undefined, now: Date, count: number): Date[] {
  if (job.paused) return [];
  if (!pause || !isPausedAt(pause, now)) return nextFireTimes(job, now, count);
  const end = pauseEnd(pause);
  return end ? nextFireTimes(job, new Date(end.getTime() - 1), count) : [];
}

export function taskHealth(
  task: Job,
  row: HealthRow | undefined,
  history: TickHistory,
  now: Date,
): TaskHealth {
  const pause = history.pause && isPausedAt(history.pause, now) ? pauseJson(history.pause) : null;
  const paused = task.paused || pause !== null;
  const [nextRun] = fireTimesToRun(task, history.pause, now, 1);
  return {
    task: task.name,
    kind: task.kind,
    runner: task.runner,
    schedule: task.schedule,
    scheduleInWords: scheduleInWords(task.schedule, task.timeZone),
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
    overdue: isOverdue(task, history, now),
  };
}

function iso(date: Date | null | undefined): string | null {
  return date ? date.toISOString() : null;
}
