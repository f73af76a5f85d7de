/**
 * `replay --failed --since <time>`: each failed tick of the range that the tick rules still call
 * missed (no run did its work since, no pause held it back, settled), run again in tick order with
 * that tick as input and slot; failed manual runs are listed, not replayed (they hold no tick).
 */
import type { Job } from "../../functions/core/schedule/jobs.js";
import type { Options } from "../lib/args.js";
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
  const { resumeCommand } = await import("../lib/backfill.js");
  const { readReplayPlan } = await import("../../functions/core/reads/replay-plan.js");
  const { since, until } = options;
  const range = `[${iso(since)}, ${iso(until)}]`;
  return withPool(io, async (pool, where) => {
    const plan = await readReplayPlan(pool, jobs, { since, until, task: options.task }, io.now());
    const items: SeriesItem[] = plan.items;
    const leftAlone: LeftAlone[] = plan.leftAlone.map((left) => ({ ...left, tick: iso(left.tick) }));
    if (items.length > options.limit.value)
      throw tooMany(
        `replay${options.task ? ` of ${options.task}` : ""}`,
        { atLeast: items.length, limit: options.limit.value },
        range,
      );
    const manual: ManualRun[] = plan.manual.map((run) => ({
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
in the range) that is still missed (no run did its work since, settled),
with that tick as input and slot; stops at the first that does not succeed
and prints the command that resumes there. Failed manual runs stand for
no tick: listed, not replayed`,
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
      trigger: "replay",
    });
  },
};
