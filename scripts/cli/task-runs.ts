/**
 * How the CLI runs one task: through the local function when `npm start` runs it (as a tick or a
 * console force run would reach it), or directly with the runner in this process (trigger `cli`).
 * A tick the operator runs (`run --slot`, `backfill`, `replay`) is recorded as what they did,
 * `backfill` or `replay`, either way: the request says so, and only the scheduler's ticks say `scheduler`.
 * Either way the run ends as one RunOutcome: its line, its JSON and the exit code.
 */
import type { PostAnswer, RunAnswer } from "../../functions/gcp/contract.js";
import type { OperatorTrigger } from "../../functions/core/run/task-body.js";
import { taskBody } from "../../functions/core/run/task-body.js";
import { isErrorAnswer, routes } from "../../functions/gcp/contract.js";
import type { Pool } from "../../functions/core/db/pool.js";
import type { RunnerDeps } from "../../functions/core/run/runner.js";
import type { Job } from "../../functions/core/schedule/jobs.js";
import { EXIT } from "../lib/exit-codes.js";
import type { LocalState } from "../local/local-state.js";
import { directHttp } from "./http-runs.js";
import type { Io } from "./io.js";
import { CLI, iso } from "./io.js";
import { loadJobs } from "./job-lookup.js";

export interface RunOptions {
  readonly dryRun: boolean;
  readonly force: boolean;
  readonly slot: Date | undefined;
  /** With a slot: what the operator's run of the tick is (`cli` without one, run directly). */
  readonly trigger?: OperatorTrigger;
  readonly direct: boolean;
  readonly json: boolean;
  /** Send what a console force run sends: the job's name and the next tick's time (or `undefined`: none). */
  readonly forceRun?: { readonly scheduleTime: Date | undefined };
}

/** How one run ended, whichever way it ran (through the local function, or directly). */
export interface RunOutcome {
  /** A tick that found the lock held is "skipped", whatever the task's overlap policy answered. */
  readonly status: "succeeded" | "skipped" | "duplicate" | "paused" | "failed";
  readonly runId: string | undefined;
  readonly exit: number;
  /** The run in words, as `run` prints it. */
  readonly line: string;
  /** The run as `run --json` prints it. */
  readonly json: unknown;
}

/**
 * Whether a run of this job may go through the local function: a pg_cron task's runs are the
 * database's, so the CLI runs them directly (the same runner and records, trigger `cli`).
 */
export function throughFunctionFor(job: Job): boolean {
  return job.runner === "cloud";
}

/** A development ID token from the local console, signed by its development identity. */
export async function localToken(local: LocalState): Promise<string> {
  const response = await fetch(`${local.consoleUrl}/token`, { method: "POST" });
  if (!response.ok) throw new Error(`the local console answered ${response.status}`);
  return ((await response.json()) as { token: string }).token;
}

/** The request's headers: a slot's tick or a force run as Cloud Scheduler would send them. */
async function requestHeaders(
  local: LocalState,
  job: Job,
  options: RunOptions,
): Promise<Record<string, string>> {
  const headers: Record<string, string> = {
    "Content-Type": "application/json",
    Authorization: `Bearer ${await localToken(local)}`,
  };
  if (options.slot) {
    // The tick of that schedule time, as Cloud Scheduler would deliver it: same duplicate protection.
    headers["X-CloudScheduler-JobName"] = `projects/local-dev/locations/local/jobs/${job.name}`;
    headers["X-CloudScheduler-ScheduleTime"] = iso(options.slot);
  } else if (options.forceRun) {
    headers["X-CloudScheduler-JobName"] = `projects/local-dev/locations/local/jobs/${job.name}`;
    if (options.forceRun.scheduleTime)
      headers["X-CloudScheduler-ScheduleTime"] = iso(options.forceRun.scheduleTime);
  }
  return headers;
}

/** undefined when the function is not reachable (the caller then runs directly). */
export async function runThroughFunction(
  io: Io,
  local: LocalState,
  job: Job,
  options: RunOptions,
): Promise<RunOutcome | undefined> {
  let response: Response;
  try {
    const headers = await requestHeaders(local, job, options);
    if (!options.json)
      io.err(
        options.forceRun
          ? `force run of ${job.name} at ${local.functionUrl}, ${options.forceRun.scheduleTime ? `X-CloudScheduler-ScheduleTime ${iso(options.forceRun.scheduleTime)} (the next tick)` : "no X-CloudScheduler-ScheduleTime"}`
          : `running ${job.name} through the local function at ${local.functionUrl} (batch progress shows in npm start's log)`,
      );
    response = await fetch(`${local.functionUrl}${routes.run.path}`, {
      method: "POST",
      headers,
      body: JSON.stringify(taskBody(job.name, options)),
    });
  } catch {
    return undefined;
  }
  return outcomeOfAnswer(job, response);
}

async function outcomeOfAnswer(job: Job, response: Response): Promise<RunOutcome> {
  const body: unknown = await response.json().catch(() => undefined);
  return outcomeOf(job, response.status, body);
}

/**
 * A run's answer in the function's vocabulary, its status and body (`core/run/outcome.ts`): what
 * Google's function answers over HTTP and what the Lambda returns or throws.
 */
export function outcomeOf(job: Job, status: number, body: unknown): RunOutcome {
  const ok = status >= 200 && status < 300;
  const answer: PostAnswer =
    isErrorAnswer(body) || ok
      ? (body as PostAnswer)
      : {
          error: {
            code: "internal",
            message: `the function answered ${status} without a JSON error`,
          },
        };
  const json = { httpStatus: status, ...answer };
  if ("error" in answer) {
    const lockHeld = answer.error.code === "lock_held";
    return {
      status: lockHeld ? "skipped" : "failed",
      runId: answer.error.runId,
      exit: status === 503 ? EXIT.unreachable : EXIT.failed,
      line: `${job.name}: ${lockHeld ? "skipped" : "failed"} (HTTP ${status} ${answer.error.code}): ${answer.error.message}`,
      json,
    };
  }
  return {
    status: answer.status,
    runId: answer.runId,
    exit: ok ? EXIT.ok : EXIT.failed,
    line: describeRun(answer),
    json,
  };
}

function describeRun(result: RunAnswer): string {
  switch (result.status) {
    case "succeeded":
      return `${result.task}: succeeded, ${result.rowsAffected} rows${result.dryRun ? " would change (dry run, nothing changed)" : ""} in ${result.durationMs} ms (run ${result.runId})${result.more ? "; more work left for the next run" : ""}`;
    case "skipped":
      return `${result.task}: skipped, another run of this task holds its lock (run ${result.runId})`;
    case "duplicate":
      return `${result.task}: this schedule time already succeeded in run ${result.runId}; nothing done`;
    case "paused":
      return `${result.task}: paused by ${result.pausedBy} at ${iso(result.pausedAt)}${result.until ? ` until ${iso(result.until)}` : ""}: ${result.reason}; nothing ran (run ${result.runId}; \`${CLI} resume ${result.task}\` to resume)`;
  }
}

/**
 * Runs tasks with the runner in this process, on `pool` (trigger `cli`): a slot is the run's tick
 * and its dedup slot, as a tick of Cloud Scheduler's would be. An http task calls its target from
 * here, with HTTP_TARGETS and a service account's ID token (./http-runs.ts).
 */
export async function directRunner(
  io: Io,
  pool: Pool,
): Promise<(task: Job, options: RunOptions) => Promise<RunOutcome>> {
  const { refreshGeneratedSql } = await import("../generate/sql.js");
  const regenerated = refreshGeneratedSql();
  if (regenerated.length > 0) io.err(`sql/tasks changed: regenerated ${regenerated.join(", ")}`);
  // Only now: the runner's module graph reads functions/core/run/sql.generated.ts when it loads.
  const { runTask } = await import("../../functions/core/run/runner.js");
  const jobs = loadJobs(io);
  let loadEmailHandler: RunnerDeps["loadEmailHandler"];
  const httpFor = directHttp(io);
  return async (task, options) => {
    if (task.kind === "email" && !loadEmailHandler) {
      // The email code and SendGrid load only for an email task, configured from this environment.
      const email = await import("../../functions/email/index.js");
      email.configureEmail(email.readEmailConfig(io.env));
      loadEmailHandler = (emailTask) => email.loadEmailHandler(emailTask);
    }
    // Checked before the run opens: a call that cannot be made records nothing.
    const http = task.kind === "http" ? await httpFor(task, options.dryRun) : undefined;
    const result = await runTask(
      {
        pool,
        jobs,
        ...(loadEmailHandler ? { loadEmailHandler } : {}),
        ...(http ? { http } : {}),
        onProgress: (progress) => {
          if (options.json) return;
          io.err(
            progress.cancelled
              ? `  a batch ran past its timeout and was cancelled (nothing of it changed): retrying smaller`
              : `  batch ${progress.batches}: ${progress.rowsSoFar} rows so far (${progress.rowsPerSecond} rows/s)`,
          );
        },
      },
      {
        task,
        trigger: options.trigger ?? "cli",
        scheduleTime: options.slot,
        dryRun: options.dryRun,
        force: options.force,
      },
    );
    if (result.status === "failed")
      return {
        status: "failed",
        runId: result.runId,
        exit: result.code === "unavailable" ? EXIT.unreachable : EXIT.failed,
        line: `${task.name}: failed (${result.code}): ${result.message} (run ${result.runId})`,
        json: result,
      };
    const answer = result.status === "locked" ? { ...result, status: "skipped" as const } : result;
    return {
      status: answer.status,
      runId: result.runId,
      exit: EXIT.ok,
      line: describeRun(answer),
      json: result,
    };
  };
}
