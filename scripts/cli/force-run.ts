/**
 * `force-run <task>`: the console's "Force run" against the local function: Google documents that
 * its X-CloudScheduler-ScheduleTime may carry the next scheduled run's time, or be omitted
 * (https://cloud.google.com/scheduler/docs/configuring/deduplicate-job-requests). The function
 * runs it as a manual run, so the real tick at that time still runs.
 *
 * `force-run <task> --aws`: AWS's manual run, a synchronous invoke of the local Lambda that
 * `npm start -- --cloud aws` serves (./lambda-runs.ts): a manual run that takes no tick's slot.
 */
import { nextFireTime } from "../../functions/core/schedule/fire-times.js";
import type { Job } from "../../functions/core/schedule/jobs.js";
import type { Options } from "../lib/args.js";
import { ToolError } from "../lib/exit-codes.js";
import { readLocalState } from "../local/local-state.js";
import type { CliCommand } from "./command.js";
import type { Io } from "./io.js";
import { cloudJobOf, taskArgument } from "./job-lookup.js";
import type { RunOptions } from "./task-runs.js";
import { runThroughFunction } from "./task-runs.js";
import { runThroughLambda } from "./lambda-runs.js";

const flags = {
  "no-schedule-time": { type: "boolean", default: false },
  aws: { type: "boolean", default: false },
} as const satisfies Options;

async function forceRunOnLambda(io: Io, job: Job, json: boolean): Promise<number> {
  const local = readLocalState(io.root);
  if (!local?.lambdaInvokeUrl)
    throw new ToolError(
      "unreachable",
      "the local stack is not running with the local Lambda: start it with `npm start -- --cloud aws` (force-run --aws invokes its Lambda)",
    );
  const outcome = await runThroughLambda(io, { ...local, lambdaInvokeUrl: local.lambdaInvokeUrl }, job, {
    dryRun: false,
    force: false,
    json,
  });
  if (outcome === undefined)
    throw new ToolError("unreachable", `the local Lambda at ${local.lambdaInvokeUrl} did not answer`);
  io.out(json ? JSON.stringify(outcome.json, null, 2) : outcome.line);
  return outcome.exit;
}

async function forceRun(io: Io, job: Job, noScheduleTime: boolean, json: boolean): Promise<number> {
  const local = readLocalState(io.root);
  if (!local)
    throw new ToolError(
      "unreachable",
      "the local stack is not running: start it with `npm start` (force-run sends to its function; `run` runs a task directly)",
    );
  const scheduleTime = noScheduleTime ? undefined : nextFireTime(job, io.now());
  const options: RunOptions = {
    dryRun: false,
    force: false,
    slot: undefined,
    direct: false,
    json,
    forceRun: { scheduleTime },
  };
  const outcome = await runThroughFunction(io, local, job, options);
  if (outcome === undefined)
    throw new ToolError("unreachable", `the local function at ${local.functionUrl} did not answer`);
  io.out(json ? JSON.stringify(outcome.json, null, 2) : outcome.line);
  return outcome.exit;
}

export const forceRunCommand: CliCommand<typeof flags> = {
  spec: {
    synopsis: "force-run <task> [--no-schedule-time | --aws]",
    summary: `what the Cloud Scheduler console's "Force run" sends to the local function:
the next tick's time in X-CloudScheduler-ScheduleTime (or none); it runs as
a manual run and the real tick still runs. --aws: a synchronous invoke of
the local Lambda (npm start -- --cloud aws), AWS's manual run`,
    maxArgs: 1,
    flags,
  },
  run: ({ io, args, flags: given, json, jobs }) => {
    const job = cloudJobOf(jobs, taskArgument("force-run", args));
    if (given.on("aws")) {
      if (given.on("no-schedule-time"))
        throw new ToolError("usage", "--aws sends no schedule time: a synchronous invoke is a manual run");
      return forceRunOnLambda(io, job, json);
    }
    return forceRun(io, job, given.on("no-schedule-time"), json);
  },
};
