/**
 * The tick rules: which of a job's ticks are due, settled, missed, held back by a pause or done by
 * a later run, and whether the task is overdue. Their one home: `/health` (its `overdue`, and
 * `GET /health?task=`, the dead-man's answer), the overdue alert, and the CLI's `missed`,
 * `backfill` and `replay` all ask here. Pure: the caller hands over the job, the facts of the run
 * history (functions/core/reads/tick-facts.ts reads them) and `now`.
 *
 * Also how a delivery is classified with the job's schedule (`deliveryOf`): the arrows run from
 * here to the fire times (croner) and to the delivery rule (ticks.ts), never back.
 *
 * A due tick (a fire time at or before `now`) is, the first that applies:
 * - succeeded: a real run of its schedule time succeeded;
 * - repaired: a later run did its work. A run stands for an instant, at or before `now`: a tick's
 *   run for its schedule time, a manual run for its start (its input). A task that reads its tick
 *   (`readsTick`: each tick is work of its own) has a tick's work done only by a run standing for
 *   that tick, so a manual run repairs the latest tick at or before its start; any other task does
 *   whatever is due when it runs, so a run standing for the tick or a later instant did its work
 *   (as `backfill --once` relies on);
 * - held back: a run-time pause was in force at its time (the task's last pause, in force or
 *   ended), its run was recorded `paused`, or the stack's config pauses the job;
 * - uncounted: it came before the task's history begins (`countingStart`): nothing shows that the
 *   scheduler was running then, so a fresh deployment is not all missed;
 * - in flight: it is not settled yet, its run may still be going;
 * - missed: none of these.
 */
import { readsTick } from "../catalog.js";
import type { Scheduled } from "./fire-times.js";
import { fireTimesBetween, isFireTime, previousFireTime } from "./fire-times.js";
import type { Delivery, DeliveryHeaders } from "./ticks.js";
import { classifyDelivery } from "./ticks.js";

/** What the rules need of a job: its schedule, the stack's pause, its deadlines, whether it reads its tick. */
export interface TickJob extends Scheduled {
  readonly paused: boolean;
  readonly timeoutSeconds: number;
  /** Cloud Scheduler's attempt deadline; the task's timeout when absent. */
  readonly attemptDeadlineSeconds?: number;
  readonly readsTick?: boolean;
}

/**
 * Beyond its deadline, how long a run may take to be recorded: the delivery's own delay (Cloud
 * Scheduler, pg_cron's worker), a cold start, and the record's write.
 */
export const SETTLE_GRACE_MS = 60_000;

/**
 * How long after its fire time a tick is settled: by then a run of it has answered or been given
 * up on. The longer of the task's own timeout (each statement's, and the run's deadline) and the
 * scheduler's attempt deadline (after which Cloud Scheduler cancels the attempt and marks it
 * DEADLINE_EXCEEDED: https://cloud.google.com/scheduler/docs/reference/rest/v1/projects.locations.jobs#Job.FIELDS.attempt_deadline),
 * plus the grace above. A retry of a failed attempt comes later still: until it succeeds, the tick
 * counts as missed, which is what an operator needs to know.
 */
export function settleMs(job: TickJob): number {
  return Math.max(job.timeoutSeconds, job.attemptDeadlineSeconds ?? 0) * 1000 + SETTLE_GRACE_MS;
}

/** The latest instant a tick may have fired at and be settled by `now`. */
export function settledBound(job: TickJob, now: Date): Date {
  return new Date(now.getTime() - settleMs(job));
}

/** The job's latest settled tick at `now`, or undefined. */
export function latestSettledTick(job: TickJob, now: Date): Date | undefined {
  return previousFireTime(job, settledBound(job, now));
}

/** A run-time pause (`cli pause`): who, why, since and until; scheduler.task_pauses keeps a task's last one. */
export interface RunTimePause {
  readonly task: string;
  readonly reason: string;
  readonly pausedBy: string;
  readonly pausedAt: Date;
  /** When it ends by itself; null: until resumed. */
  readonly until: Date | null;
  readonly resumedAt: Date | null;
  readonly resumedBy: string | null;
}

/** When the pause ended or will end (resumed, or `until`), or null while it lasts until resumed. */
export function pauseEnd(pause: RunTimePause): Date | null {
  const ends = [pause.resumedAt, pause.until].filter((d): d is Date => d !== null);
  return ends.length === 0 ? null : new Date(Math.min(...ends.map((d) => d.getTime())));
}

/** Whether the pause was in force at `at`: from its start, up to (not including) its end. */
export function isPausedAt(pause: RunTimePause, at: Date): boolean {
  const end = pauseEnd(pause);
  return pause.pausedAt.getTime() <= at.getTime() && (end === null || at.getTime() < end.getTime());
}

/** A run of the task, as far as the rules care. */
export interface TickRun {
  readonly status: "running" | "succeeded" | "failed" | "skipped" | "paused";
  /** The tick it ran (a tick's delivery, `run --slot`, a backfill); null for a manual run. */
  readonly scheduleTime: Date | null;
  readonly startedAt: Date;
}

/** What the run history says about one task, from some time on. */
export interface TickHistory {
  /** The first run of any task, or null when the history is empty. */
  readonly historyBegins: Date | null;
  /** The task's real runs (no dry runs) that started from the time asked on. */
  readonly runs: readonly TickRun[];
  /** The task's last run-time pause, in force or ended. */
  readonly pause?: RunTimePause | undefined;
}

export type TickState = "succeeded" | "repaired" | "held-back" | "uncounted" | "in-flight" | "missed";

/**
 * Where the task's history begins for the rules: the first run of any task (before it nothing shows
 * the scheduler was running), or the first instant a run of this task stands for (its tick, or a
 * manual run's start), when earlier: a tick the task ran or tried shows its schedule was in force.
 * Null when neither is known.
 */
export function countingStart(history: TickHistory): Date | null {
  let earliest = history.historyBegins?.getTime() ?? Number.POSITIVE_INFINITY;
  for (const run of history.runs)
    earliest = Math.min(earliest, (run.scheduleTime ?? run.startedAt).getTime());
  return Number.isFinite(earliest) ? new Date(earliest) : null;
}

/** The state of each of the job's ticks at `now`, given its history: see the module's comment. */
export function tickJudge(job: TickJob, history: TickHistory, now: Date): (tick: Date) => TickState {
  const succeeded = new Set<number>();
  const recordedPaused = new Set<number>();
  const standsFor = new Set<number>();
  const ownTickOnly = readsTick(job);
  let latestSuccess = Number.NEGATIVE_INFINITY;
  for (const run of history.runs) {
    const slot = run.scheduleTime?.getTime();
    if (run.status === "paused" && slot !== undefined) recordedPaused.add(slot);
    if (run.status !== "succeeded") continue;
    if (slot !== undefined) succeeded.add(slot);
    const standsAt = slot ?? run.startedAt.getTime();
    // As of `now`, a run standing for a later instant has not happened yet.
    if (standsAt > now.getTime()) continue;
    latestSuccess = Math.max(latestSuccess, standsAt);
    if (slot === undefined && ownTickOnly) {
      const tick = previousFireTime(job, run.startedAt);
      if (tick) standsFor.add(tick.getTime());
    }
  }
  const settled = settledBound(job, now).getTime();
  const begins = countingStart(history)?.getTime() ?? Number.POSITIVE_INFINITY;
  const { pause } = history;
  return (tick) => {
    const time = tick.getTime();
    if (succeeded.has(time)) return "succeeded";
    if (ownTickOnly ? standsFor.has(time) : latestSuccess >= time) return "repaired";
    if (job.paused || recordedPaused.has(time) || (pause && isPausedAt(pause, tick))) return "held-back";
    if (time < begins) return "uncounted";
    if (time > settled) return "in-flight";
    return "missed";
  };
}

/**
 * Overdue: not paused now (in the stack's config or at run time), and its latest settled tick is
 * missed. A tick the pause held back is not missed, so after a pause the task is overdue again
 * only when a tick after it is.
 */
export function isOverdue(job: TickJob, history: TickHistory, now: Date): boolean {
  if (job.paused || (history.pause && isPausedAt(history.pause, now))) return false;
  const due = latestSettledTick(job, now);
  return due !== undefined && tickJudge(job, history, now)(due) === "missed";
}

interface JudgedTick {
  readonly tick: Date;
  readonly state: TickState;
}

export interface JudgedRange {
  /** The counted ticks of the range (none before the task's history begins), oldest first. */
  readonly ticks: readonly JudgedTick[];
  /** Where counting began: the later of `since` and `countingStart`; undefined when the history is empty. */
  readonly countedFrom: Date | undefined;
  /** The range's end as judged: the earlier of `until` and `now`. */
  readonly until: Date;
  /** True when the walk stopped before the range's end: more than `maxMissed` missed, or `MAX_JUDGED_TICKS` judged. */
  readonly cut: boolean;
}

/** How many fire times one step of the walk lists. */
const WALK_STEP = 1_000;
/** The most ticks one range judges: a bound on a walk through a long pause (which misses nothing). */
const MAX_JUDGED_TICKS = 200_000;

/**
 * The counted ticks of [since, until] (at most up to `now`), each with its state, oldest first: the
 * walk starts where the task's history begins (`countingStart`), and stops once more than
 * `maxMissed` are missed, so a range mistyped by a century is cheap to refuse.
 */
export function judgeTicks(
  job: TickJob,
  history: TickHistory,
  range: { readonly since: Date; readonly until: Date },
  now: Date,
  maxMissed = Number.POSITIVE_INFINITY,
): JudgedRange {
  const until = new Date(Math.min(range.until.getTime(), now.getTime()));
  const stateOf = tickJudge(job, history, now);
  const begins = countingStart(history);
  const countedFrom = begins ? new Date(Math.max(range.since.getTime(), begins.getTime())) : undefined;
  const ticks: JudgedTick[] = [];
  if (!countedFrom) return { ticks, countedFrom, until, cut: false };
  let missed = 0;
  // fireTimesBetween is (from, to]: a tick exactly at `since` belongs to the range (a resume starts there).
  let cursor = new Date(countedFrom.getTime() - 1);
  while (cursor.getTime() < until.getTime()) {
    const step = fireTimesBetween(job, cursor, until, WALK_STEP);
    for (const tick of step) {
      const state = stateOf(tick);
      ticks.push({ tick, state });
      if ((state === "missed" && ++missed > maxMissed) || ticks.length >= MAX_JUDGED_TICKS)
        return { ticks, countedFrom, until, cut: true };
    }
    if (step.length < WALK_STEP) break;
    cursor = step[step.length - 1]!;
  }
  return { ticks, countedFrom, until, cut: false };
}

/** The ticks of a judged range in one of the states, oldest first. */
export function ticksIn(range: JudgedRange, ...states: readonly TickState[]): Date[] {
  return range.ticks.filter((judged) => states.includes(judged.state)).map((judged) => judged.tick);
}

/** How a delivery to this job is run: `classifyDelivery` (ticks.ts) with the job's fire times. */
export function deliveryOf(job: Scheduled, headers: DeliveryHeaders, arrival: Date): Delivery {
  return classifyDelivery(headers, arrival, (time) => isFireTime(job, time));
}
