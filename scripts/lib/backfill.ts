/**
 * What `backfill` runs, decided before anything runs, by the tick rules
 * (functions/core/schedule/tick-rules.ts, which `missed` and /health ask too) over the history
 * functions/core/reads/tick-facts.ts reads: the missed ticks of a range, and the command that
 * resumes a backfill or a replay after a stop. Which failed ticks a replay runs is the core's
 * (functions/core/reads/replay-plan.ts: the dashboard's replay asks it too). Running them is the
 * CLI's (`run --slot`'s path).
 */
import type { Pool } from "../../functions/core/db/pool.js";
import { readTickHistory } from "../../functions/core/reads/tick-facts.js";
import { readsTick } from "../../functions/core/catalog.js";
import { previousFireTime } from "../../functions/core/schedule/fire-times.js";
import type {
  JudgedRange,
  TickHistory,
  TickJob,
  TickState,
} from "../../functions/core/schedule/tick-rules.js";
import { judgeTicks, ticksIn, tickJudge } from "../../functions/core/schedule/tick-rules.js";

/**
 * The most ticks a backfill runs unless `--limit` says more: a day of an every-five-minutes task
 * fits; a `--since` mistyped by a year on an every-minute task (525,600 ticks) is refused.
 */
export const DEFAULT_TICK_LIMIT = 300;
/** The most `--limit` may allow: a week of an every-minute task. */
export const MAX_TICK_LIMIT = 10_080;

type BackfillJob = TickJob;

/** What the rules said of the range's other ticks, for the report. */
interface LeftOut {
  /** Ticks whose own run succeeded, and ticks a later run did the work of. */
  readonly done: number;
  /** Ticks a run-time pause (or the stack's config) held back: a backfill does not undo a pause. */
  readonly heldBack: readonly Date[];
  /** Where counting began: the later of `since` and where the task's history begins (tick-rules.ts `countingStart`). */
  readonly countedFrom: Date | undefined;
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
  return { kind: "ticks", ticks, ...leftOut(judged) };
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
    ...leftOut(judged),
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

function leftOut(judged: JudgedRange): LeftOut {
  return {
    done: judged.ticks.filter((t) => t.state === "succeeded" || t.state === "repaired").length,
    heldBack: ticksIn(judged, "held-back"),
    countedFrom: judged.countedFrom,
  };
}

/** Why `--once` cannot stand for this task's gap, or undefined when it can. */
export function onceProblem(job: BackfillJob): string | undefined {
  return readsTick(job)
    ? `${job.name} reads its tick (readsTick in functions/core/catalog.ts): each missed tick is its own work (its own day), so one run cannot stand for the gap; run the backfill without --once`
    : undefined;
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

/** Quotes an argument for a POSIX shell when it needs it (a task name never does; a time never does). */
function shellWord(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replaceAll("'", `'\\''`)}'`;
}

/** The command line that takes up a stopped backfill or replay where it stopped. */
export function resumeCommand(prefix: string, args: readonly string[]): string {
  return [prefix, ...args.map(shellWord)].join(" ");
}
