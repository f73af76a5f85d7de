/**
 * Which failed ticks a replay runs, decided before anything runs by the tick rules
 * (functions/core/schedule/tick-rules.ts): the failed ticks of a range still missed (no run did
 * their work since, no pause held them back, settled), each other one left alone with the reason,
 * and the failed runs that hold no tick. The CLI's `replay` and the dashboard's replay of one
 * failed tick both ask it.
 */
import type { Queryable } from "./tick-facts.js";
import { readTickHistories } from "./tick-facts.js";
import { isFireTime } from "../schedule/fire-times.js";
import type { TickHistory, TickJob, TickState } from "../schedule/tick-rules.js";
import { tickJudge } from "../schedule/tick-rules.js";

/** A failed tick that no run of the same schedule time has repaired since. */
interface FailedTick {
  readonly task: string;
  readonly scheduleTime: Date;
  /** The latest failed run of that tick. */
  readonly runId: string;
  readonly errorCode: string | null;
  readonly message: string | null;
}

/** A failed run that stands for no tick (a manual run, a run without `--slot`). */
interface FailedManualRun {
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
  pool: Queryable,
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

/** A failed tick that replay leaves alone, and why. */
export interface LeftAlone {
  readonly task: string;
  readonly tick: Date;
  readonly runId: string;
  readonly why: string;
}

/** What the tick rules say of a failed tick that is not missed, in words. */
const NOT_MISSED: Readonly<Record<Exclude<TickState, "missed">, string>> = {
  succeeded: "it succeeded since",
  repaired: "a later run did its work",
  "held-back": "a pause held it back (the stack's config, or a run-time pause in force at its time)",
  uncounted: "it came before the run history begins",
  "in-flight": "it is not settled yet: its run, or the scheduler's retry of it, may still be going",
};

/**
 * Which failed ticks a replay runs: those of a job of this stack, still a fire time of its
 * schedule, that the tick rules call missed; every other one is left alone with the reason.
 */
function planReplay<J extends TickJob>(
  jobs: readonly J[],
  failed: readonly FailedTick[],
  histories: ReadonlyMap<string, TickHistory>,
  now: Date,
): { items: { job: J; tick: Date }[]; leftAlone: LeftAlone[] } {
  const items: { job: J; tick: Date }[] = [];
  const leftAlone: LeftAlone[] = [];
  const judges = new Map<string, (tick: Date) => TickState>();
  for (const failure of failed) {
    const { task, scheduleTime: tick, runId } = failure;
    const job = jobs.find((j) => j.name === task);
    if (!job) {
      leftAlone.push({ task, tick, runId, why: "not a task of this stack" });
      continue;
    }
    if (!isFireTime(job, tick)) {
      const why = `not a schedule time of ${job.name} now (${job.schedule} in ${job.timeZone}): its schedule changed since`;
      leftAlone.push({ task, tick, runId, why });
      continue;
    }
    let judge = judges.get(task);
    if (!judge) judges.set(task, (judge = tickJudge(job, histories.get(task)!, now)));
    const state = judge(tick);
    if (state === "missed") items.push({ job, tick });
    else leftAlone.push({ task, tick, runId, why: NOT_MISSED[state] });
  }
  return { items, leftAlone };
}

/** Reads the failed runs of the range and what the rules need to judge them, and plans the replay. */
export async function readReplayPlan<J extends TickJob>(
  pool: Queryable,
  jobs: readonly J[],
  query: { readonly since: Date; readonly until: Date; readonly task: string | undefined },
  now: Date,
): Promise<ReturnType<typeof planReplay<J>> & { manual: FailedManualRun[] }> {
  const failed = await failedRuns(pool, query);
  const since = new Map<string, Date>();
  for (const { task, scheduleTime } of failed.ticks) if (!since.has(task)) since.set(task, scheduleTime);
  const histories = await readTickHistories(
    pool,
    [...since].map(([task, from]) => ({ task, since: from })),
  );
  return { ...planReplay(jobs, failed.ticks, histories, now), manual: failed.manual };
}
