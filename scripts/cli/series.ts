/**
 * A series of runs, one per tick, as backfill and replay make them: each as `run <task> --slot
 * <tick>` runs it, stopping at the first that does not succeed, with the command that resumes there.
 */
import type { Pool } from "../../functions/core/db/pool.js";
import type { OperatorTrigger } from "../../functions/core/run/task-body.js";
import { ScheduledTaskError } from "../../functions/core/errors.js";
import type { Job } from "../../functions/core/schedule/jobs.js";
import { DEFAULT_TICK_LIMIT, MAX_TICK_LIMIT } from "../lib/backfill.js";
import { EXIT, ToolError } from "../lib/exit-codes.js";
import { target } from "./database.js";
import type { Io } from "./io.js";
import { CLI, iso } from "./io.js";
import type { RunOptions, RunOutcome } from "./task-runs.js";
import { directRunner, runThroughFunction, throughFunctionFor } from "./task-runs.js";

export interface SeriesOptions {
  readonly limit: { readonly value: number; readonly given: boolean };
  readonly dryRun: boolean;
  readonly direct: boolean;
  readonly json: boolean;
  /** What each run is recorded as: an operator's backfill or replay of its tick. */
  readonly trigger: OperatorTrigger;
}

/** One run of a series: the job, and the tick that is its input and its slot. */
export interface SeriesItem {
  readonly job: Job;
  readonly tick: Date;
}

interface SeriesRun {
  readonly task: string;
  readonly tick: string;
  readonly status: RunOutcome["status"] | "unreachable";
  readonly runId: string | null;
  readonly result: unknown;
}

interface SeriesEnd {
  readonly exit: number;
  readonly runs: SeriesRun[];
  /** The tick it stopped at (not done), and why; undefined when every run succeeded. */
  readonly stopped?: { readonly tick: string; readonly task: string; readonly reason: string };
  readonly via: string;
}

/** --limit of a backfill or replay: how many ticks it may run. */
export function tickLimit(text: string | undefined): { value: number; given: boolean } {
  if (text === undefined) return { value: DEFAULT_TICK_LIMIT, given: false };
  const value = Number(text);
  if (!/^\d+$/.test(text) || value < 1 || value > MAX_TICK_LIMIT)
    throw new ToolError("usage", `--limit must be an integer from 1 to ${MAX_TICK_LIMIT}`);
  return { value, given: true };
}

/** Why a series stops at a run that neither succeeded nor was already done. */
function stopReason(outcome: RunOutcome, job: Job): string {
  return outcome.status === "failed"
    ? "the run failed"
    : outcome.status === "skipped"
      ? "another run of the task holds its lock"
      : `the task is paused at run time (\`${CLI} resume ${job.name}\` ends the pause)`;
}

/**
 * Runs the items in order, each as `run <task> --slot <tick>` runs it (through the local function
 * when it is up and --direct is not given, else directly), and stops at the first that neither
 * succeeded nor was already done (a duplicate): a failure, a lock held by another run, a pause, an
 * unreachable database. Progress lines go to stderr, the runs to stdout.
 */
export async function runSeries(
  io: Io,
  pool: Pool,
  where: string,
  items: readonly SeriesItem[],
  options: SeriesOptions,
): Promise<SeriesEnd> {
  const local = options.direct ? undefined : target(io).local;
  let throughFunction = local !== undefined;
  let direct: ((task: Job, options: RunOptions) => Promise<RunOutcome>) | undefined;
  const runs: SeriesRun[] = [];
  let via =
    throughFunction && local
      ? `through the local function at ${local.functionUrl}`
      : `directly against ${where}`;
  for (const { job, tick } of items) {
    const runOptions: RunOptions = {
      dryRun: false,
      force: false,
      slot: tick,
      direct: !throughFunction || !throughFunctionFor(job),
      json: true,
      trigger: options.trigger,
    };
    let outcome: RunOutcome | undefined;
    try {
      if (throughFunction && local && throughFunctionFor(job)) {
        outcome = await runThroughFunction(io, local, job, runOptions);
        if (outcome === undefined) {
          io.err(`note: the local function at ${local.functionUrl} did not answer; running directly`);
          throughFunction = false;
          via = `directly against ${where}`;
        }
      }
      if (outcome === undefined) {
        direct ??= await directRunner(io, pool);
        outcome = await direct(job, { ...runOptions, json: options.json });
      }
    } catch (error) {
      const unreachable = error instanceof ScheduledTaskError && error.code === "unavailable";
      if (!unreachable) throw error;
      runs.push({ task: job.name, tick: iso(tick), status: "unreachable", runId: null, result: null });
      if (!options.json) io.out(`  ${iso(tick)}  ${job.name}: not run: the database is unreachable`);
      return {
        exit: EXIT.unreachable,
        runs,
        stopped: { tick: iso(tick), task: job.name, reason: "the database is unreachable" },
        via,
      };
    }
    runs.push({
      task: job.name,
      tick: iso(tick),
      status: outcome.status,
      runId: outcome.runId ?? null,
      result: outcome.json,
    });
    if (!options.json) io.out(`  ${iso(tick)}  ${outcome.line}`);
    if (outcome.status === "succeeded" || outcome.status === "duplicate") continue;
    return {
      exit: outcome.exit === EXIT.ok ? EXIT.failed : outcome.exit,
      runs,
      stopped: { tick: iso(tick), task: job.name, reason: stopReason(outcome, job) },
      via,
    };
  }
  return { exit: EXIT.ok, runs, via };
}

/** How a backfill or replay ended: JSON, or the resume command when it stopped, or a done line. */
export function reportSeriesEnd(
  io: Io,
  json: boolean,
  summary: Record<string, unknown>,
  end: SeriesEnd,
  resume: string | undefined,
  text: { readonly left: number; readonly done: string },
): void {
  if (json)
    io.out(
      JSON.stringify(
        { ...summary, via: end.via, runs: end.runs, stopped: end.stopped ?? null, resume: resume ?? null },
        null,
        2,
      ),
    );
  else if (resume) printStop(io, end, text.left, resume);
  else io.out(text.done);
}

/** The stop, and the command that resumes the series there, in words. */
function printStop(io: Io, end: SeriesEnd, left: number, resume: string): void {
  if (!end.stopped) return;
  io.out(
    `stopped at ${end.stopped.tick} (${end.stopped.task}): ${end.stopped.reason}; it and ${left} later tick(s) not done.`,
  );
  io.out(`After a fix, resume from the project's directory with:\n  ${resume}`);
}

/** The flags a resume command repeats: the same --until, --limit and --direct. */
export function seriesArgs(options: SeriesOptions, until: Date): string[] {
  return [
    "--until",
    iso(until),
    ...(options.limit.given ? ["--limit", String(options.limit.value)] : []),
    ...(options.direct ? ["--direct"] : []),
  ];
}

export function tooMany(what: string, plan: { atLeast: number; limit: number }, range: string): ToolError {
  return new ToolError(
    "usage",
    `${what} has more than ${plan.limit} ticks to run in ${range} (at least ${plan.atLeast}), so nothing ran: check --since (a mistyped date?), then list them with --dry-run --limit N and run them with --limit N (at most ${MAX_TICK_LIMIT} a time)${what.startsWith("replay") ? "" : ", or --once when the task does not read its tick"}`,
  );
}
