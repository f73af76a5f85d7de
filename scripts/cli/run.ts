/** `run <task>` (and `npm run task`): a task now, through the local function when it is up, else directly. */
import { isFireTime, nextFireTime } from "../../functions/core/schedule/fire-times.js";
import type { Job } from "../../functions/core/schedule/jobs.js";
import type { Options } from "../lib/args.js";
import { ToolError } from "../lib/exit-codes.js";
import type { CliCommand } from "./command.js";
import { target, withPool } from "./database.js";
import type { Io } from "./io.js";
import { iso } from "./io.js";
import { jobOf, taskArgument } from "./job-lookup.js";
import { parseTime } from "./times.js";
import type { RunOptions, RunOutcome } from "./task-runs.js";
import { directRunner, runThroughFunction, throughFunctionFor } from "./task-runs.js";

const flags = {
  "dry-run": { type: "boolean", default: false },
  force: { type: "boolean", default: false },
  slot: { type: "string" },
  direct: { type: "boolean", default: false },
} as const satisfies Options;

function checkSlot(job: Job, slot: Date): void {
  if (!isFireTime(job, slot)) {
    throw new ToolError(
      "usage",
      `--slot ${iso(slot)} is not a schedule time of ${job.name} (${job.schedule} in ${job.timeZone}); the next one after it is ${iso(nextFireTime(job, slot))}`,
    );
  }
}

async function runNow(io: Io, job: Job, options: RunOptions): Promise<number> {
  const where = target(io);
  let outcome: RunOutcome | undefined;
  if (where.local && !options.direct && throughFunctionFor(job)) {
    outcome = await runThroughFunction(io, where.local, job, options);
    if (outcome === undefined)
      io.err(`note: the local function at ${where.local.functionUrl} did not answer; running directly`);
  }
  outcome ??= await withPool(io, async (pool, at) => {
    if (!options.json) io.err(`running ${job.name} directly against ${at}`);
    return (await directRunner(io, pool))(job, options);
  });
  io.out(options.json ? JSON.stringify(outcome.json, null, 2) : outcome.line);
  return outcome.exit;
}

export const runCommand: CliCommand<typeof flags> = {
  spec: {
    synopsis: "run <task> [--dry-run] [--force] [--slot <time>] [--direct]",
    summary: `run a task now: through the local function when it is up, else directly;
--slot runs the tick of that schedule time (backfill), never twice.
npm run task -- <task> [--dry-run] [--force] is run <task> --direct --json`,
    maxArgs: 1,
    flags,
  },
  run: ({ io, args, flags: given, json, jobs }) => {
    const job = jobOf(jobs, taskArgument("run", args));
    const slotText = given.text("slot");
    const slot = slotText === undefined ? undefined : parseTime(slotText, "--slot", io);
    if (slot) checkSlot(job, slot);
    return runNow(io, job, {
      dryRun: given.on("dry-run"),
      force: given.on("force"),
      slot,
      direct: given.on("direct"),
      json,
      // A tick run by hand is a backfill of it, whichever way it runs.
      ...(slot ? { trigger: "backfill" as const } : {}),
    });
  },
};
