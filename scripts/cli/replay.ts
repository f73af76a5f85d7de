/**
 * `replay --failed --since <time>`: each failed tick of the range that no run has repaired since,
 * run again in tick order with that tick as input and slot; failed manual runs are listed, not
 * replayed (they stand for no tick).
 */
import { isFireTime } from "../../functions/core/schedule/fire-times.js";
import type { Job } from "../../functions/core/schedule/jobs.js";
import type { Options } from "../lib/args.js";
import type { FailedTick } from "../lib/backfill.js";
import { EXIT, ToolError } from "../lib/exit-codes.js";
import type { CliCommand } from "./command.js";
import { withPool } from "./database.js";
import type { Io } from "./io.js";
import { CLI, iso } from "./io.js";
import { jobOf } from "./job-lookup.js";
import type { SeriesItem, SeriesOptions } from "./series.js";
import { reportSeriesEnd, runSeries, seriesArgs, tickLimit, tooMany } from "./series.js";
import { timeRange } from "./times.js";

const flags = {
  failed: { type: "boolean", default: false },
  since: { type: "string" },
  until: { type: "string" },
  task: { type: "string" },
  limit: { type: "string" },
  "dry-run": { type: "boolean", default: false },
  direct: { type: "boolean", default: false },
} as const satisfies Options;

type ReplayOptions = SeriesOptions & {
  readonly since: Date;
  readonly until: Date;
  readonly task: string | undefined;
};

interface LeftAlone {
  task: string;
  tick: string;
  runId: string;
  why: string;
}

interface ManualRun {
  task: string;
  runId: string;
  startedAt: string;
  message: string | null;
}

/** The failed ticks to replay, and those left alone (not this stack's, or no longer a schedule time). */
function replayable(
  failedTicks: readonly FailedTick[],
  jobs: readonly Job[],
): { items: SeriesItem[]; leftAlone: LeftAlone[] } {
  const items: SeriesItem[] = [];
  const leftAlone: LeftAlone[] = [];
  for (const tick of failedTicks) {
    const job = jobs.find((j) => j.name === tick.task);
    const why = !job
      ? "not a task of this stack"
      : !isFireTime(job, tick.scheduleTime)
        ? `not a schedule time of ${job.name} now (${job.schedule} in ${job.timeZone}): its schedule changed since`
        : undefined;
    if (job && !why) items.push({ job, tick: tick.scheduleTime });
    else leftAlone.push({ task: tick.task, tick: iso(tick.scheduleTime), runId: tick.runId, why: why ?? "" });
  }
  return { items, leftAlone };
}

/** The replay's ticks in words (all of them on a dry run), what it leaves alone, the manual runs. */
function describeReplay(
  io: Io,
  range: string,
  dryRun: boolean,
  found: { items: SeriesItem[]; leftAlone: LeftAlone[]; manual: ManualRun[] },
): void {
  const { items, leftAlone, manual } = found;
  io.out(`${items.length} failed tick(s) of ${range} to replay${dryRun ? "; dry run, nothing ran" : ""}:`);
  if (dryRun) for (const item of items) io.out(`  ${iso(item.tick)}  ${item.job.name}`);
  for (const left of leftAlone)
    io.out(`  left alone: ${left.tick} ${left.task} (run ${left.runId}): ${left.why}`);
  if (manual.length > 0) {
    io.out(
      `${manual.length} failed manual run(s) not replayed: they stand for no tick (their input was their start); if their work is still due, \`${CLI} run <task>\` runs it now:`,
    );
    for (const run of manual)
      io.out(`  ${run.startedAt}  ${run.task} (run ${run.runId}): ${(run.message ?? "").slice(0, 80)}`);
  }
}

async function replay(io: Io, jobs: readonly Job[], options: ReplayOptions): Promise<number> {
  const { failedRuns, resumeCommand } = await import("../lib/backfill.js");
  const { since, until } = options;
  const range = `[${iso(since)}, ${iso(until)}]`;
  return withPool(io, async (pool, where) => {
    const failed = await failedRuns(pool, { since, until, task: options.task });
    const { items, leftAlone } = replayable(failed.ticks, jobs);
    if (items.length > options.limit.value)
      throw tooMany(
        `replay${options.task ? ` of ${options.task}` : ""}`,
        { atLeast: items.length, limit: options.limit.value },
        range,
      );
    const manual: ManualRun[] = failed.manual.map((run) => ({
      task: run.task,
      runId: run.runId,
      startedAt: iso(run.startedAt),
      message: run.message,
    }));
    const summary = {
      since: iso(since),
      until: iso(until),
      task: options.task ?? null,
      ticks: items.map((item) => ({ task: item.job.name, tick: iso(item.tick) })),
      leftAlone,
      manual,
    };
    if (options.dryRun) {
      if (options.json) io.out(JSON.stringify({ ...summary, dryRun: true }, null, 2));
      else describeReplay(io, range, true, { items, leftAlone, manual });
      return EXIT.ok;
    }
    if (!options.json) describeReplay(io, range, false, { items, leftAlone, manual });
    const end = await runSeries(io, pool, where, items, options);
    const resume = end.stopped
      ? resumeCommand(CLI, [
          "replay",
          "--failed",
          "--since",
          end.stopped.tick,
          ...seriesArgs(options, until),
          ...(options.task ? ["--task", options.task] : []),
        ])
      : undefined;
    reportSeriesEnd(io, options.json, summary, end, resume, {
      left: items.length - end.runs.length,
      done: items.length === 0 ? "nothing to replay" : `done: ${end.runs.length} tick(s) replayed ${end.via}`,
    });
    return end.exit;
  });
}

export const replayCommand: CliCommand<typeof flags> = {
  spec: {
    synopsis:
      "replay --failed --since <time> [--until <time>] [--task <task>] [--limit N] [--dry-run] [--direct]",
    summary: `run again, in tick order, each failed tick (a failed run with a schedule time
in the range) that no run has repaired since, with that tick as input and
slot; stops at the first that does not succeed and prints the command that
resumes there. Failed manual runs stand for no tick: listed, not replayed`,
    maxArgs: 0,
    flags,
  },
  run: ({ io, flags: given, json, jobs }) => {
    if (!given.on("failed"))
      throw new ToolError("usage", "replay: --failed is required (failed ticks are what it replays)");
    const task = given.text("task");
    if (task !== undefined) jobOf(jobs, task);
    const { since, until } = timeRange(io, given.text("since"), given.text("until"), "replay");
    return replay(io, jobs, {
      since,
      until,
      task,
      limit: tickLimit(given.text("limit")),
      dryRun: given.on("dry-run"),
      direct: given.on("direct"),
      json,
    });
  },
};
