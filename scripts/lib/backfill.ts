/**
 * What `backfill` and `replay` run, decided before anything runs, by the tick rules
 * (functions/core/schedule/tick-rules.ts, which `missed` and /health ask too) over the history
 * functions/core/reads/tick-facts.ts reads: the missed ticks of a range, the failed ticks still
 * missed, and the command that resumes either after a stop. Running them is the CLI's (`run
 * --slot`'s path).
 */
import type { Pool } from "../../functions/core/db/pool.js";
import { readTickHistories, readTickHistory } from "../../functions/core/reads/tick-facts.js";
import { readsTick } from "../../functions/core/catalog.js";
import { isFireTime, previousFireTime } from "../../functions/core/schedule/fire-times.js";
import type { TickHistory, TickJob, TickState } from "../../functions/core/schedule/tick-rules.js";
import { judgeTicks, ticksIn, tickJudge } from "../../functions/core/schedule/tick-rules.js";

/**
 * The most ticks a backfill runs unless `--limit` says more: a day of an every-five-minutes task
 * fits; a `--since` mistyped by a year on an every-minute task (525,600 ticks) is refused.
 */
export const DEFAULT_TICK_LIMIT = 300;
/** The most `--limit` may allow: a week of an every-minute task. */
export const MAX_TICK_LIMIT = 10_080;

export type BackfillJob = TickJob;

/** What the rules said of the range's other ticks, for the report. */
export interface LeftOut {
  /** Ticks whose own run succeeded, and ticks a later run did the work of. */
  readonly done: number;
  /** Ticks a run-time pause (or the stack's config) held back: a backfill does not undo a pause. */
  readonly heldBack: readonly Date[];
  /** Ticks before the run history begins that no run recorded: not counted as missed. */
  readonly uncounted: number;
}

export type BackfillPlan =
  /** Run each of `ticks` (the range's missed ticks), oldest first. */
  | ({ readonly kind: "ticks"; readonly ticks: readonly Date[] } & LeftOut)
  /**
   * One run for the latest tick of the range, standing for every tick of it not done (`--once`);
   * `tick` undefined: nothing to run (no tick in the range, or a run already did the latest one's work).
   */
  | ({
      readonly kind: "once";
      readonly tick: Date | undefined;
      /** The ticks it stands for (missed, or still in flight), counted up to MAX_TICK_LIMIT (`countedAll` false beyond). */
      readonly missed: number;
      readonly countedAll: boolean;
      /** What the rules say of the latest tick of the range; undefined when there is none. */
      readonly latest: TickState | undefined;
    } & LeftOut)
  /** More than `limit` ticks are missed (at least `atLeast`): refused. */
  | { readonly kind: "too-many"; readonly atLeast: number; readonly limit: number };

/**
 * The backfill of `job` over [since, until] at `now`: the ticks the rules call missed (settled,
 * counted, not done, not held back), never judging more than `limit` + 1 of them, whatever the range.
 */
export function planBackfill(
  job: BackfillJob,
  range: { readonly since: Date; readonly until: Date },
  history: TickHistory,
  options: { readonly limit: number; readonly once: boolean; readonly now: Date },
): BackfillPlan {
  if (options.once) return planOnce(job, range, history, options.now);
  const judged = judgeTicks(job, history, range, options.now, options.limit);
  const ticks = ticksIn(judged, "missed");
  if (judged.cut) return { kind: "too-many", atLeast: ticks.length, limit: options.limit };
  return { kind: "ticks", ticks, ...leftOut(judged.ticks) };
}

function planOnce(
  job: BackfillJob,
  range: { readonly since: Date; readonly until: Date },
  history: TickHistory,
  now: Date,
): BackfillPlan {
  const latest = previousFireTime(job, new Date(Math.min(range.until.getTime(), now.getTime())));
  const judged = judgeTicks(job, history, range, now, MAX_TICK_LIMIT);
  const inRange = latest && latest.getTime() >= range.since.getTime() ? latest : undefined;
  const state = inRange && tickJudge(job, history, now)(inRange);
  const nothing = {
    kind: "once",
    tick: undefined,
    missed: 0,
    countedAll: true,
    latest: state,
    ...leftOut(judged.ticks),
  } as const;
  // A run that did the latest tick's work did everything due by then: the gap before it is covered.
  if (!inRange || state === "succeeded" || state === "repaired" || state === "uncounted") return nothing;
  const standsFor = ticksIn(judged, "missed", "in-flight").length;
  return {
    ...nothing,
    tick: inRange,
    missed: Math.min(standsFor, MAX_TICK_LIMIT),
    countedAll: !judged.cut && standsFor <= MAX_TICK_LIMIT,
  };
}

function leftOut(ticks: readonly { readonly tick: Date; readonly state: TickState }[]): LeftOut {
  return {
    done: ticks.filter((t) => t.state === "succeeded" || t.state === "repaired").length,
    heldBack: ticks.filter((t) => t.state === "held-back").map((t) => t.tick),
    uncounted: ticks.filter((t) => t.state === "uncounted").length,
  };
}

/** Why `--once` cannot stand for this task's gap, or undefined when it can. */
export function onceProblem(job: BackfillJob): string | undefined {
  return readsTick(job)
    ? `${job.name} reads its tick (readsTick in functions/core/catalog.ts): each missed tick is its own work (its own day), so one run cannot stand for the gap; run the backfill without --once`
    : undefined;
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
export function planReplay<J extends BackfillJob>(
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

/** Reads what a backfill of `job` needs and plans it (`planBackfill`). */
export async function readBackfillPlan(
  pool: Pool,
  job: BackfillJob,
  range: { readonly since: Date; readonly until: Date },
  options: { readonly limit: number; readonly once: boolean; readonly now: Date },
): Promise<BackfillPlan> {
  const history = await readTickHistory(pool, job.name, range.since);
  return planBackfill(job, range, history, options);
}

/** Reads the failed runs of the range and what the rules need to judge them, and plans the replay. */
export async function readReplayPlan<J extends BackfillJob>(
  pool: Pool,
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

/** Quotes an argument for a POSIX shell when it needs it (a task name never does; a time never does). */
function shellWord(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replaceAll("'", `'\\''`)}'`;
}

/** The command line that takes up a stopped backfill or replay where it stopped. */
export function resumeCommand(prefix: string, args: readonly string[]): string {
  return [prefix, ...args.map(shellWord)].join(" ");
}
