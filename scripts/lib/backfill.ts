/**
 * What `backfill` and `replay` run, decided before anything runs: the ticks of a job's resolved
 * schedule in a range that have no success yet (the same notion as `missed` and the runner's dedup:
 * a real, successful run holding that schedule time), the failed ticks that were never repaired,
 * and the command that resumes either after a stop. Running them is the CLI's (`run --slot`'s path).
 */
import type { TaskDefinition } from "../../functions/core/catalog.js";
import { readsTick } from "../../functions/core/catalog.js";
import type { Pool } from "../../functions/core/db/pool.js";
import { succeededSlots } from "../../functions/core/reads/history.js";
import type { Scheduled } from "../../functions/core/schedule/fire-times.js";
import { fireTimesBetween, previousFireTime } from "../../functions/core/schedule/fire-times.js";

/**
 * The most ticks a backfill runs unless `--limit` says more: a day of an every-five-minutes task
 * fits; a `--since` mistyped by a year on an every-minute task (525,600 ticks) is refused.
 */
export const DEFAULT_TICK_LIMIT = 300;
/** The most `--limit` may allow: a week of an every-minute task. */
export const MAX_TICK_LIMIT = 10_080;

export type BackfillJob = Scheduled & Pick<TaskDefinition, "readsTick">;

export type BackfillPlan =
  /** Run each of `ticks`, oldest first; `done` ticks of the range already succeeded. */
  | { readonly kind: "ticks"; readonly ticks: readonly Date[]; readonly done: number }
  /**
   * One run for the latest tick of the range, standing for every missed one (`--once`); `tick`
   * undefined: nothing to run (no tick in the range, or its latest one already succeeded).
   */
  | {
      readonly kind: "once";
      readonly tick: Date | undefined;
      /** The missed ticks it stands for, counted up to MAX_TICK_LIMIT (`countedAll` false beyond). */
      readonly missed: number;
      readonly countedAll: boolean;
    }
  /** More than `limit` ticks are missing (at least `atLeast`): refused. */
  | { readonly kind: "too-many"; readonly atLeast: number; readonly limit: number };

/** The job's fire times in [since, until], oldest first, at most `limit` of them. */
export function ticksBetween(job: Scheduled, since: Date, until: Date, limit: number): Date[] {
  if (since.getTime() > until.getTime()) return [];
  // fireTimesBetween is (from, to]: a tick exactly at `since` belongs to the range (a resume starts there).
  return fireTimesBetween(job, new Date(since.getTime() - 1), until, limit);
}

/**
 * The backfill of `job` over [since, until], given the schedule times in it that already
 * succeeded. Never lists more than `limit` + those + 1 fire times, whatever the range.
 */
export function planBackfill(
  job: BackfillJob,
  range: { readonly since: Date; readonly until: Date },
  succeeded: ReadonlySet<number>,
  options: { readonly limit: number; readonly once: boolean },
): BackfillPlan {
  const { since, until } = range;
  const doneInRange = [...succeeded].filter((t) => t >= since.getTime() && t <= until.getTime()).length;
  if (options.once) {
    const latest = previousFireTime(job, until);
    const tick = latest && latest.getTime() >= since.getTime() ? latest : undefined;
    // A success of the latest tick did everything due by then: the gap before it is covered.
    if (!tick || succeeded.has(tick.getTime()))
      return { kind: "once", tick: undefined, missed: 0, countedAll: true };
    const listed = ticksBetween(job, since, until, MAX_TICK_LIMIT + doneInRange + 1);
    const missed = listed.filter((t) => !succeeded.has(t.getTime())).length;
    return {
      kind: "once",
      tick,
      missed: Math.min(missed, MAX_TICK_LIMIT),
      countedAll: missed <= MAX_TICK_LIMIT,
    };
  }
  const listed = ticksBetween(job, since, until, options.limit + doneInRange + 1);
  const missing = listed.filter((t) => !succeeded.has(t.getTime()));
  if (missing.length > options.limit)
    return { kind: "too-many", atLeast: missing.length, limit: options.limit };
  return { kind: "ticks", ticks: missing, done: listed.length - missing.length };
}

/** Why `--once` cannot stand for this task's gap, or undefined when it can. */
export function onceProblem(job: BackfillJob): string | undefined {
  return readsTick(job)
    ? `${job.name} reads its tick (readsTick in functions/core/catalog.ts): each missed tick is its own work (its own day), so one run cannot stand for the gap; run the backfill without --once`
    : undefined;
}

/** The schedule times of `task` in [since, until] that a real run succeeded (`missed`'s notion). */
export async function succeededTicks(
  pool: Pool,
  task: string,
  since: Date,
  until: Date,
): Promise<Set<number>> {
  const slots = await succeededSlots(pool, new Date(since.getTime() - 1), until);
  return slots.get(task) ?? new Set<number>();
}

/** A failed tick that no run of the same schedule time has repaired since. */
export interface FailedTick {
  readonly task: string;
  readonly scheduleTime: Date;
  /** The latest failed run of that tick. */
  readonly runId: string;
  readonly errorCode: string | null;
  readonly message: string | null;
}

/** A failed run that stands for no tick (a manual run, a run without `--slot`). */
export interface FailedManualRun {
  readonly task: string;
  readonly runId: string;
  readonly startedAt: Date;
  readonly errorCode: string | null;
  readonly message: string | null;
}

/**
 * The failed ticks with a schedule time in [since, until], of `task` or of every task, with no
 * success of that schedule time (the runner's dedup would refuse to run them again otherwise), in
 * tick order; and the failed runs of the range that hold no schedule time, unless a later run
 * without one (`run <task>`, what the CLI advises for them) succeeded.
 */
export async function failedRuns(
  pool: Pool,
  query: { readonly since: Date; readonly until: Date; readonly task: string | undefined },
): Promise<{ ticks: FailedTick[]; manual: FailedManualRun[] }> {
  const params = [query.since, query.until, query.task ?? null];
  const ticks = await pool.query<{
    task: string;
    schedule_time: Date;
    id: string;
    error_code: string | null;
    message: string | null;
  }>(
    `SELECT DISTINCT ON (f.schedule_time, f.task) f.task, f.schedule_time, f.id, f.error_code, f.message
     FROM scheduler.job_runs f
     WHERE f.status = 'failed' AND NOT f.dry_run AND f.schedule_time BETWEEN $1 AND $2
       AND ($3::text IS NULL OR f.task = $3)
       AND NOT EXISTS (
         SELECT 1 FROM scheduler.job_runs s
         WHERE s.task = f.task AND s.schedule_time = f.schedule_time AND s.status = 'succeeded' AND NOT s.dry_run
       )
     ORDER BY f.schedule_time, f.task, f.id DESC`,
    params,
  );
  const manual = await pool.query<{
    task: string;
    id: string;
    started_at: Date;
    error_code: string | null;
    message: string | null;
  }>(
    `SELECT f.task, f.id, f.started_at, f.error_code, f.message
     FROM scheduler.job_runs f
     WHERE f.status = 'failed' AND NOT f.dry_run AND f.schedule_time IS NULL
       AND f.started_at BETWEEN $1 AND $2 AND ($3::text IS NULL OR f.task = $3)
       AND NOT EXISTS (
         SELECT 1 FROM scheduler.job_runs s
         WHERE s.task = f.task AND s.status = 'succeeded' AND NOT s.dry_run AND s.schedule_time IS NULL
           AND s.started_at > f.started_at
       )
     ORDER BY f.started_at, f.id`,
    params,
  );
  return {
    ticks: ticks.rows.map((row) => ({
      task: row.task,
      scheduleTime: row.schedule_time,
      runId: String(row.id),
      errorCode: row.error_code,
      message: row.message,
    })),
    manual: manual.rows.map((row) => ({
      task: row.task,
      runId: String(row.id),
      startedAt: row.started_at,
      errorCode: row.error_code,
      message: row.message,
    })),
  };
}

/** Quotes an argument for a POSIX shell when it needs it (a task name never does; a time never does). */
function shellWord(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replaceAll("'", `'\\''`)}'`;
}

/** The command line that takes up a stopped backfill or replay where it stopped. */
export function resumeCommand(prefix: string, args: readonly string[]): string {
  return [prefix, ...args.map(shellWord)].join(" ");
}
