/**
 * The stack's jobs as the CLI finds them: every job of the stack's config file, and the one a
 * command names, with the known names when it names none or an unknown one.
 */
import { taskNames } from "../../functions/core/catalog.js";
import type { Job } from "../../functions/core/schedule/jobs.js";
import { ToolError } from "../lib/exit-codes.js";
import { defaultStackFile, stackJobs } from "../lib/jobs.js";
import type { Io } from "./io.js";

/** The stack's config file the CLI reads: PULUMI_STACK_FILE, else Pulumi.<PULUMI_STACK or dev>.yaml. */
export function stackFileOf(io: Io): string {
  return io.env.PULUMI_STACK_FILE ?? defaultStackFile(io.env.PULUMI_STACK ?? "dev");
}

/** Every task as the stack schedules it (`resolveJobs` over the stack's config file). */
export function loadJobs(io: Io): readonly Job[] {
  const file = stackFileOf(io);
  let resolved;
  try {
    resolved = stackJobs(file, io.catalog);
  } catch (error) {
    throw new ToolError("usage", (error as Error).message);
  }
  if (resolved.problems.length > 0) throw new ToolError("usage", resolved.problems.join("\n"));
  return resolved.jobs;
}

/** The task a command's first word names: required. */
export function taskArgument(command: string, args: readonly string[]): string {
  const [task] = args;
  if (!task) throw new ToolError("usage", `${command}: which task? Known tasks: ${taskNames.join(", ")}`);
  return task;
}

/** The stack's job of that name, whichever runner runs it (Cloud Scheduler or pg_cron). */
export function jobOf(allJobs: readonly Job[], name: string): Job {
  const job = allJobs.find((j) => j.name === name);
  if (!job)
    throw new ToolError(
      "usage",
      `unknown task "${name}". Known tasks: ${allJobs.map((j) => j.name).join(", ")}`,
    );
  return job;
}

/** A job Cloud Scheduler runs: what a console force run exists for. */
export function cloudJobOf(allJobs: readonly Job[], name: string): Job {
  const job = jobOf(allJobs, name);
  if (job.runner !== "cloud")
    throw new ToolError(
      "usage",
      `task "${name}" runs in the database (pg_cron), not through Cloud Scheduler: there is no force run to send; \`run ${name}\` runs it now`,
    );
  return job;
}
