/**
 * `backfill <task> --since <time>`: each tick of the range that the tick rules call missed (the
 * ticks `missed` lists), run oldest first with its tick as input and slot (or, with --once, one
 * run for the latest), stopping at the first that does not succeed.
 */
import type { Job } from "../../functions/core/schedule/jobs.js";
import type { Options } from "../lib/args.js";
import type { BackfillPlan } from "../lib/backfill.js";
import { DEFAULT_TICK_LIMIT } from "../lib/backfill.js";
import { EXIT, ToolError } from "../lib/exit-codes.js";
import type { CliCommand } from "./command.js";
import { withPool } from "./database.js";
import type { Io } from "./io.js";
import { CLI, iso } from "./io.js";
import { jobOf, taskArgument } from "./job-lookup.js";
import type { SeriesOptions } from "./series.js";
import { reportSeriesEnd, runSeries, seriesArgs, tickLimit, tooMany } from "./series.js";
import { timeRange } from "./times.js";

const flags = {
  since: { type: "string" },
  until: { type: "string" },
  once: { type: "boolean", default: false },
  limit: { type: "string" },
  "dry-run": { type: "boolean", default: false },
  direct: { type: "boolean", default: false },
} as const satisfies Options;

type BackfillOptions = SeriesOptions & { readonly since: Date; readonly until: Date; readonly once: boolean };

/** Why a `--once` backfill has nothing to run, from what the rules say of the range's latest tick. */
const NOTHING_ONCE: Readonly<Record<string, string>> = {
  succeeded: "the latest tick of the range already succeeded",
  repaired: "a later run already did the latest tick's work",
  uncounted: "the latest tick of the range came before the run history begins",
};

/** Where the rules began counting, when not at --since: before the history begins, nothing shows the scheduler ran. */
function countedNote(countedFrom: Date | undefined, since: Date): string {
  if (!countedFrom) return ", none counted: no run is recorded yet";
  return countedFrom > since ? `, counted from ${iso(countedFrom)} (when the run history begins)` : "";
}

/** The plan in words: how many ticks, or the one run that stands for them (--once). */
function describePlan(plan: Exclude<BackfillPlan, { kind: "too-many" }>, since: Date, range: string): string {
  const left = [
    plan.heldBack.length > 0 ? `, ${plan.heldBack.length} held back by a pause (not run)` : "",
    countedNote(plan.countedFrom, since),
  ].join("");
  if (plan.kind === "ticks")
    return `${plan.ticks.length} tick(s) of ${range} to run, ${plan.done} already done${left}`;
  return plan.tick
    ? `one run, for its latest tick ${iso(plan.tick)}, stands for the ${plan.missed}${plan.countedAll ? "" : "+"} missed tick(s) of ${range} (--once)`
    : `nothing to run: ${NOTHING_ONCE[plan.latest ?? ""] ?? "no tick in the range"} (--once)`;
}

async function backfill(io: Io, job: Job, options: BackfillOptions): Promise<number> {
  const { onceProblem, readBackfillPlan, resumeCommand } = await import("../lib/backfill.js");
  if (options.once) {
    const problem = onceProblem(job);
    if (problem) throw new ToolError("usage", problem);
  }
  const { since, until } = options;
  const range = `[${iso(since)}, ${iso(until)}]`;
  return withPool(io, async (pool, where) => {
    const plan = await readBackfillPlan(
      pool,
      job,
      { since, until },
      {
        limit: options.limit.value,
        once: options.once,
        now: io.now(),
      },
    );
    if (plan.kind === "too-many") throw tooMany(`backfill of ${job.name}`, plan, range);
    const ticks = plan.kind === "ticks" ? plan.ticks : plan.tick ? [plan.tick] : [];
    const summary = {
      task: job.name,
      since: iso(since),
      until: iso(until),
      once: options.once,
      // Ticks whose work is done: by their own run, or by a later one.
      alreadySucceeded: plan.done,
      ...(plan.kind === "once" ? { standsFor: plan.missed } : {}),
      ticks: ticks.map((t) => iso(t)),
      heldBack: plan.heldBack.map((t) => iso(t)),
      countedFrom: plan.countedFrom ? iso(plan.countedFrom) : null,
    };
    const about = describePlan(plan, since, range);
    if (options.dryRun) {
      if (options.json) io.out(JSON.stringify({ ...summary, dryRun: true }, null, 2));
      else {
        io.out(`${job.name} (${job.schedule} in ${job.timeZone}): ${about}; dry run, nothing ran`);
        for (const tick of ticks) io.out(`  ${iso(tick)}`);
      }
      return EXIT.ok;
    }
    if (!options.json) io.out(`${job.name} (${job.schedule} in ${job.timeZone}): ${about}`);
    const end = await runSeries(
      io,
      pool,
      where,
      ticks.map((tick) => ({ job, tick })),
      options,
    );
    const resume = end.stopped
      ? resumeCommand(CLI, [
          "backfill",
          job.name,
          "--since",
          end.stopped.tick,
          ...seriesArgs(options, until),
          ...(options.once ? ["--once"] : []),
        ])
      : undefined;
    reportSeriesEnd(io, options.json, summary, end, resume, {
      left: ticks.length - end.runs.length,
      done: ticks.length === 0 ? "nothing to run" : `done: ${end.runs.length} tick(s) run ${end.via}`,
    });
    return end.exit;
  });
}

export const backfillCommand: CliCommand<typeof flags> = {
  spec: {
    synopsis: "backfill <task> --since <time> [--until <time>] [--once] [--limit N] [--dry-run] [--direct]",
    summary: `run each missed tick of the task in [--since, --until (default now)] (the
ticks \`missed\` lists: settled, not held back by a pause, from when the
run history begins), oldest first, each with its tick as input and slot
(as run --slot does: a rerun is harmless); stops at the first that does
not succeed and prints the command that resumes there. --once: one run, for
the latest tick, stands for the gap (tasks that do not read their tick).
More than ${DEFAULT_TICK_LIMIT} ticks need --limit N. --dry-run lists the ticks, runs nothing`,
    maxArgs: 1,
    flags,
  },
  run: ({ io, args, flags: given, json, jobs }) => {
    const job = jobOf(jobs, taskArgument("backfill", args));
    const { since, until } = timeRange(io, given.text("since"), given.text("until"), "backfill");
    return backfill(io, job, {
      since,
      until,
      once: given.on("once"),
      limit: tickLimit(given.text("limit")),
      dryRun: given.on("dry-run"),
      direct: given.on("direct"),
      json,
      trigger: "backfill",
    });
  },
};
