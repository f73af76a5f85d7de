/**
 * The task catalog: the one list of scheduled tasks.
 *
 * Everyone reads it through `resolveJobs` (./schedule/jobs.ts: the catalog with a stack's
 * overrides): infra creates one scheduler job per task from those jobs (Cloud Scheduler or
 * EventBridge Scheduler), pg_cron's setup is rendered from them, and the function, the local
 * scheduler and the CLI look tasks up in them. Nothing else repeats a task's name or schedule.
 *
 * This module must stay dependency-free: importing it loads no driver or SDK, so the Pulumi program
 * and the function's cold start pay nothing for it.
 */

/** How a task does its work: its SQL, an email job, or a call to the app's own service. */
export type TaskKind = "sql" | "email" | "http";

/** Where a task is scheduled from: Cloud Scheduler calling the function, or pg_cron in the database. */
export type TaskRunner = "cloud" | "pg_cron";

/** Cloud Scheduler's retry policy for a job (see `gcp.cloudscheduler.Job.retryConfig`). */
export interface RetryPolicy {
  /** Retries after a failed attempt, 0 to 5. Cloud Scheduler's default is 0. */
  readonly retryCount: number;
  readonly minBackoffSeconds: number;
  readonly maxBackoffSeconds: number;
  readonly maxDoublings: number;
}

/**
 * A task that works in batches, one transaction each, and stops starting batches after
 * `timeBudgetSeconds`. Every batch has `size` rows (an email task's batch is one API call; pg_cron's
 * DO block uses it too), unless `sizedByTime` is given: then `size` is the first batch's rows and
 * the runner sizes each next one by time.
 */
export interface BatchPolicy {
  readonly size: number;
  readonly timeBudgetSeconds: number;
  readonly sizedByTime?: BatchSizing;
}

/**
 * Batches sized by time: a batch's transaction holds its row locks for as long as it runs, and how
 * many rows fit in a given time depends on the row width, the index state and the machine's load,
 * none of which a fixed row count knows. Each batch after the first aims at `targetMs` from the
 * last batch's rows per millisecond, within `minSize`../..`maxSize`, and grows at most 2x a batch (one
 * fast batch, on cached pages, is no promise).
 */
export interface BatchSizing {
  readonly targetMs: number;
  readonly minSize: number;
  readonly maxSize: number;
}

export interface TaskDefinition {
  /** Unique, kebab-case; also the Cloud Scheduler job id and the name of `sql/tasks/<name>.sql`. */
  readonly name: string;
  readonly description: string;
  readonly kind: TaskKind;
  /** Standard 5-field cron (minute hour day-of-month month day-of-week). */
  readonly schedule: string;
  /** IANA time zone the schedule is read in; the catalog's default when absent. */
  readonly timeZone?: string;
  /**
   * The run's deadline: the statement timeout of each statement and Cloud Scheduler's attempt
   * deadline (15 s to 1800 s for HTTP targets).
   */
  readonly timeoutSeconds: number;
  readonly retry: RetryPolicy;
  /** Present for tasks that work in bounded transactions (bulk archive, purges). */
  readonly batch?: BatchPolicy;
  /**
   * Blast-radius guard: a run that would change more rows than this changes nothing and fails,
   * unless forced. A sudden flood usually means a broken clock or a broken vendor app.
   */
  readonly maxRows?: number;
  readonly paused: boolean;
  /**
   * What a tick does when another run of the task holds its lock: "skip" (answered 200: the next
   * tick does the work; the default, for frequent tasks) or "retry" (answered 409, so Cloud
   * Scheduler retries it by `retry`: for daily and weekly tasks whose tick must not be lost).
   */
  readonly overlap?: OverlapPolicy;
  /**
   * The task's work depends on its tick: its SQL or handler reads `scheduler.tick()` (yesterday's
   * stats, yesterday's reports), so each missed tick is work of its own. A backfill runs every one
   * of them and refuses `--once`; without it a run does whatever is due at any time, and one run
   * can stand for a whole gap.
   */
  readonly readsTick?: boolean;
  /** Defaults to "cloud". */
  readonly runner?: TaskRunner;
  /** Kind `http` only: what to call. */
  readonly http?: HttpCall;
}

/**
 * An `http` task's call: `POST <target's url><path>`. The target is a key of the stack's
 * `scheduled-jobs:httpTargets` (its URL, audience and service live there, one per stack), so the
 * catalog names no host. The task's `timeoutSeconds` bounds the call, `retry` is the scheduler's
 * retry of a retryable answer, `maxRows` is sent for the target to honour and checked against the
 * count it answers.
 */
interface HttpCall {
  readonly target: string;
  /** Starts with "/"; no query (the body carries the run). */
  readonly path: string;
  /** The statuses that count as success; any 2xx when absent. */
  readonly successStatuses?: readonly number[];
}

/** See `TaskDefinition.overlap`. */
type OverlapPolicy = "skip" | "retry";

export function readsTick(task: Pick<TaskDefinition, "readsTick">): boolean {
  return task.readsTick === true;
}

export function overlapOf(task: Pick<TaskDefinition, "overlap">): OverlapPolicy {
  return task.overlap ?? "skip";
}

/** Schedules are read in this zone unless a task (or a stack's config) says otherwise. */
export const DEFAULT_TIME_ZONE = "UTC";

/** Frequent tasks: a failed tick is repaired by the next tick, so retrying would only pile up. */
const noRetry: RetryPolicy = {
  retryCount: 0,
  minBackoffSeconds: 5,
  maxBackoffSeconds: 60,
  maxDoublings: 2,
};

/** Daily and weekly tasks: a failure would otherwise wait a whole period. */
const retryThrice: RetryPolicy = {
  retryCount: 3,
  minBackoffSeconds: 30,
  maxBackoffSeconds: 600,
  maxDoublings: 3,
};

/**
 * SQL batches that change rows others write too: each transaction aims at 100 ms, so a writer
 * waits at most about that long behind a batch's row locks.
 */
const rowLockTarget: BatchSizing = { targetMs: 100, minSize: 100, maxSize: 50_000 };

export const tasks = [
  {
    name: "auto-cancel-unconfirmed-orders",
    description:
      "Cancel pending orders that the vendor has not confirmed within system_settings.order_auto_cancel_minutes (30 when unset).",
    kind: "sql",
    schedule: "* * * * *",
    timeoutSeconds: 30,
    retry: noRetry,
    maxRows: 500,
    paused: false,
  },
  {
    name: "driver-inactivity-check",
    description: "Mark available drivers with no location update for 30 minutes as unavailable.",
    kind: "sql",
    schedule: "*/5 * * * *",
    timeoutSeconds: 30,
    retry: noRetry,
    maxRows: 2000,
    paused: false,
  },
  {
    name: "cleanup-expired-sessions",
    description: "Delete expired user sessions, in batches.",
    kind: "sql",
    schedule: "0 * * * *",
    timeoutSeconds: 120,
    retry: noRetry,
    batch: { size: 5000, timeBudgetSeconds: 90, sizedByTime: rowLockTarget },
    paused: false,
  },
  {
    name: "update-restaurant-ratings",
    description: "Recompute the rating of every restaurant reviewed in the last two days from its reviews.",
    kind: "sql",
    schedule: "0 1 * * *",
    timeoutSeconds: 120,
    retry: retryThrice,
    overlap: "retry",
    paused: false,
  },
  {
    name: "cleanup-orphaned-menus",
    description: "Delete menus older than 30 days that no restaurant uses.",
    kind: "sql",
    schedule: "0 2 * * *",
    timeoutSeconds: 120,
    retry: retryThrice,
    overlap: "retry",
    maxRows: 10000,
    paused: false,
  },
  {
    name: "archive-old-orders",
    description:
      "Deactivate delivered, cancelled and refunded orders that reached that state more than 90 days ago, in batches.",
    kind: "sql",
    schedule: "0 3 * * 0",
    timeoutSeconds: 900,
    retry: retryThrice,
    overlap: "retry",
    // Sized by time, not by a fixed count: how long a fixed batch holds its row locks depends more
    // on the machine's load than on its rows (BENCHMARKS.md, "4M backlog: longest transaction").
    batch: { size: 1000, timeBudgetSeconds: 600, sizedByTime: rowLockTarget },
    paused: false,
  },
  {
    name: "cleanup-distance-requests",
    description: "Delete distance API requests older than 90 days, in batches.",
    kind: "sql",
    schedule: "30 2 * * *",
    timeoutSeconds: 600,
    retry: retryThrice,
    overlap: "retry",
    batch: { size: 10000, timeBudgetSeconds: 420, sizedByTime: rowLockTarget },
    paused: false,
  },
  {
    name: "generate-daily-stats",
    description: "Upsert yesterday's row of daily_order_stats (idempotent: a rerun changes nothing).",
    kind: "sql",
    schedule: "5 0 * * *",
    timeoutSeconds: 120,
    retry: retryThrice,
    overlap: "retry",
    readsTick: true,
    paused: false,
  },
  {
    name: "purge-run-history",
    description:
      "Delete scheduler.job_runs older than the retention (scheduler.run_retention_days, default 30), in batches.",
    kind: "sql",
    schedule: "15 4 * * *",
    timeoutSeconds: 300,
    retry: retryThrice,
    overlap: "retry",
    batch: { size: 10000, timeBudgetSeconds: 240, sizedByTime: rowLockTarget },
    paused: false,
  },
  {
    name: "send-daily-vendor-reports",
    description:
      "Email every restaurant its figures for yesterday (orders, delivered, cancelled, revenue) through SendGrid, 1,000 per API call; a rerun sends only the reports not sent yet.",
    kind: "email",
    schedule: "0 7 * * *",
    timeoutSeconds: 540,
    retry: retryThrice,
    overlap: "retry",
    readsTick: true,
    batch: { size: 1000, timeBudgetSeconds: 420 },
    paused: false,
  },
  {
    name: "send-order-confirmations",
    description:
      "Send the order confirmations that the trigger on orders queued in scheduler.email_outbox; failed ones are retried, then parked as dead.",
    kind: "email",
    schedule: "* * * * *",
    timeoutSeconds: 90,
    retry: noRetry,
    batch: { size: 1000, timeBudgetSeconds: 45 },
    paused: false,
  },
  {
    name: "push-driver-notifications",
    description:
      "Ask the app backend to push (FCM) the reminders due to drivers, up to 1,000 a run; the backend does the FCM work and answers how many it sent.",
    kind: "http",
    schedule: "* * * * *",
    timeoutSeconds: 30,
    retry: noRetry,
    maxRows: 1000,
    http: { target: "app-backend", path: "/internal/jobs/push-driver-notifications" },
    paused: false,
  },
  {
    name: "alert-failed-runs",
    description:
      "Email OPS_EMAIL the runs that failed since the last alert (each once) and the tasks that are overdue.",
    kind: "email",
    schedule: "*/15 * * * *",
    timeoutSeconds: 60,
    retry: noRetry,
    paused: false,
  },
] as const satisfies readonly TaskDefinition[];

export type Task = (typeof tasks)[number];
export type TaskName = Task["name"];

export const taskNames: readonly TaskName[] = tasks.map((task) => task.name);

/**
 * Why `name` cannot name a task, or undefined when it can: kebab-case (lowercase letters, digits,
 * single hyphens) and at most 60 characters. A task's name is also its job's id on each scheduler
 * and a file name: Cloud Scheduler takes letters, digits, hyphens and underscores up to 500
 * (https://cloud.google.com/python/docs/reference/cloudscheduler/latest/google.cloud.scheduler_v1.types.Job),
 * EventBridge Scheduler letters, digits, `-_.` up to 64
 * (https://docs.aws.amazon.com/scheduler/latest/APIReference/API_CreateSchedule.html).
 */
export function taskNameProblem(name: string): string | undefined {
  if (/^[a-z][a-z0-9]*(-[a-z0-9]+)*$/.test(name) && name.length <= 60) return undefined;
  return `"${name}" is not a kebab-case name (lowercase letters, digits, single hyphens; at most 60)`;
}

/**
 * The task of that name as the catalog writes it, or undefined. How a deployment schedules it (a
 * stack's overrides applied) is its job: `resolveJobs` in functions/core/schedule/jobs.ts.
 */
export function findTask(name: string): TaskDefinition | undefined {
  return tasks.find((task) => task.name === name);
}

export function timeZoneOf(task: TaskDefinition): string {
  return task.timeZone ?? DEFAULT_TIME_ZONE;
}

export function runnerOf(task: TaskDefinition): TaskRunner {
  return task.runner ?? "cloud";
}
