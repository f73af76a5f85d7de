/**
 * What the dashboard's pages show beyond /health and /runs, read through the core: one task's page
 * (its schedule and zone, runner, pause, next fire times, the operators' actions on it, the Cloud
 * Logging query of its lines), one run's page (its details, the other attempts of its tick, whether
 * a replay would run it, the log query of its lines) and the email side (outbox, dead emails with
 * the command that requeues them, the local mailbox). Loaded with the dashboard's routes only.
 */
import { overlapOf, readsTick } from "../core/catalog.js";
import type { ActionRecord } from "../core/actions/audit.js";
import { recentActions } from "../core/actions/audit.js";
import type { Pool } from "../core/db/pool.js";
import type { EmailSide } from "../core/reads/email-side.js";
import { readEmailSide } from "../core/reads/email-side.js";
import type { TaskHealth } from "../core/reads/health.js";
import { readHealth } from "../core/reads/health.js";
import type { RunRecord } from "../core/reads/history.js";
import { runById, runsOfTick } from "../core/reads/history.js";
import { readReplayPlan } from "../core/reads/replay-plan.js";
import { nextFireTimes } from "../core/schedule/fire-times.js";
import type { Job } from "../core/schedule/jobs.js";
import { senderOfKind } from "../email/outbox-kinds.js";

export type { ActionAnswer } from "../core/actions/operator-actions.js";

/** How many fire times a task's page lists. */
const NEXT_FIRE_TIMES = 5;

/** Who is looking: an operator may act, anyone else only reads. */
export interface Viewer {
  readonly email: string;
  readonly operator: boolean;
}

interface TaskFacts {
  readonly name: string;
  readonly kind: Job["kind"];
  /** An http task's call, `POST <path> on <target>` (the target's URL is the stack's), else null. */
  readonly call: string | null;
  readonly description: string;
  readonly schedule: string;
  readonly timeZone: string;
  readonly runner: Job["runner"];
  /** Paused in the stack's config (a run-time pause is `health.pause`). */
  readonly pausedInConfig: boolean;
  readonly timeoutSeconds: number;
  readonly attemptDeadlineSeconds: number;
  readonly overlap: string;
  readonly maxRows: number | null;
  readonly readsTick: boolean;
  /** The fields the stack's config overrides. */
  readonly overridden: readonly string[];
}

/** GET /dashboard/task?task=<name>. */
export interface TaskPageAnswer {
  readonly viewer: Viewer;
  readonly task: TaskFacts;
  readonly health: TaskHealth;
  /** The next fire times (none while paused): what Cloud Scheduler (or pg_cron) will deliver. */
  readonly nextFireTimes: readonly string[];
  /** The operators' latest actions on it, newest first. */
  readonly actions: readonly ActionRecord[];
  /** A Cloud Logging query that finds the task's lines. */
  readonly logQuery: string;
}

/** GET /dashboard/run?id=<run id>. */
export interface RunPageAnswer {
  readonly viewer: Viewer;
  readonly run: RunRecord;
  /** The task as this deployment schedules it; null when it is no task of this deployment any more. */
  readonly task: Pick<TaskFacts, "name" | "schedule" | "timeZone" | "runner"> | null;
  /** Every run of the same tick (its retries, a replay), oldest first; empty for a manual run. */
  readonly tickRuns: readonly RunRecord[];
  /** Whether a replay would run this run's tick now, and if not, why (the replay plan's words). */
  readonly replay: { readonly possible: boolean; readonly why: string | null };
  /** A Cloud Logging query that finds this run's lines. */
  readonly logQuery: string;
}

/** GET /dashboard/email. */
export interface EmailSideAnswer extends EmailSide {
  /** Per kind, the task that sends it and the command that queues its dead emails again. */
  readonly senders: Readonly<Record<string, { readonly task: string; readonly requeue: string }>>;
}

const RESOURCE = 'resource.type="cloud_run_revision"';

/** Cloud Logging's query language (https://cloud.google.com/logging/docs/view/logging-query-language). */
function logQueryOf(fields: Readonly<Record<string, string>>, from?: string, to?: string): string {
  const terms = [
    RESOURCE,
    ...Object.entries(fields).map(([key, value]) => `jsonPayload.${key}=${JSON.stringify(value)}`),
  ];
  if (from) terms.push(`timestamp>=${JSON.stringify(from)}`);
  if (to) terms.push(`timestamp<=${JSON.stringify(to)}`);
  return terms.join("\nAND ");
}

function taskFacts(job: Job): TaskFacts {
  return {
    name: job.name,
    kind: job.kind,
    call: job.http ? `POST ${job.http.path} on ${job.http.target}` : null,
    description: job.description,
    schedule: job.schedule,
    timeZone: job.timeZone,
    runner: job.runner,
    pausedInConfig: job.paused,
    timeoutSeconds: job.timeoutSeconds,
    attemptDeadlineSeconds: job.attemptDeadlineSeconds,
    overlap: overlapOf(job),
    maxRows: job.maxRows ?? null,
    readsTick: readsTick(job),
    overridden: job.overridden,
  };
}

export async function taskPage(pool: Pool, job: Job, viewer: Viewer, now: Date): Promise<TaskPageAnswer> {
  const health = (await readHealth(pool, now, [job])).tasks[0]!;
  return {
    viewer,
    task: taskFacts(job),
    health,
    nextFireTimes: health.paused
      ? []
      : nextFireTimes(job, now, NEXT_FIRE_TIMES).map((time) => time.toISOString()),
    actions: await recentActions(pool, job.name),
    logQuery: logQueryOf({ task: job.name }),
  };
}

export async function runPage(
  pool: Pool,
  jobs: readonly Job[],
  runId: string,
  viewer: Viewer,
  now: Date,
): Promise<RunPageAnswer | undefined> {
  const run = await runById(pool, runId);
  if (!run) return undefined;
  const job = jobs.find((candidate) => candidate.name === run.task);
  const tickRuns = run.scheduleTime ? await runsOfTick(pool, run.task, new Date(run.scheduleTime)) : [];
  return {
    viewer,
    run,
    task: job ? { name: job.name, schedule: job.schedule, timeZone: job.timeZone, runner: job.runner } : null,
    tickRuns,
    replay: await replayability(pool, jobs, run, now),
    // A minute either side: lines of the request that opened the run come before its record.
    logQuery: logQueryOf(
      { runId: run.runId },
      new Date(new Date(run.startedAt).getTime() - 60_000).toISOString(),
      new Date(new Date(run.finishedAt ?? now.toISOString()).getTime() + 60_000).toISOString(),
    ),
  };
}

/** What the replay plan (the CLI's) says of this run's tick. */
async function replayability(
  pool: Pool,
  jobs: readonly Job[],
  run: RunRecord,
  now: Date,
): Promise<RunPageAnswer["replay"]> {
  if (run.status !== "failed" || run.dryRun) return { possible: false, why: "only a failed run is replayed" };
  if (run.scheduleTime === null) {
    return { possible: false, why: "a manual run holds no tick: run the task now instead" };
  }
  const tick = new Date(run.scheduleTime);
  const plan = await readReplayPlan(pool, jobs, { since: tick, until: tick, task: run.task }, now);
  if (plan.items.length > 0) return { possible: true, why: null };
  return { possible: false, why: plan.leftAlone[0]?.why ?? "it succeeded since" };
}

export async function emailSide(pool: Pool): Promise<EmailSideAnswer> {
  const side = await readEmailSide(pool);
  const senders = Object.fromEntries(
    Object.entries(senderOfKind).map(([kind, task]) => [
      kind,
      { task, requeue: `npm run cli -- requeue --task ${task}` },
    ]),
  );
  return { ...side, senders };
}
