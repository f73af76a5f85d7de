/**
 * An email task's run: its handler, loaded only when an email task runs (SendGrid and Secret
 * Manager stay off the SQL path), called with the run's connection, which holds the task's lock.
 */
import type { TaskDefinition } from "../catalog.js";
import { tasks } from "../catalog.js";
import type { PoolClient } from "../db/pool.js";
import { resolveJobs } from "../schedule/jobs.js";
import type { RunnerDeps, WorkOptions } from "./run-request.js";
import { RunFailure } from "./run-result.js";
import type { TaskWork } from "./task-contract.js";

export async function runEmailTask(
  deps: RunnerDeps,
  client: PoolClient,
  task: TaskDefinition,
  runId: string,
  options: WorkOptions,
): Promise<TaskWork> {
  if (!deps.loadEmailHandler) {
    throw new RunFailure("task_failed", `email tasks are not configured in this process`, 0);
  }
  const handler = await deps.loadEmailHandler(task);
  const outcome = await handler({
    task,
    runId,
    pool: deps.pool,
    client,
    dryRun: options.dryRun,
    force: options.force,
    deadline: options.started + (task.batch?.timeBudgetSeconds ?? task.timeoutSeconds) * 1000,
    log: options.log,
    jobs: deps.jobs ?? resolveJobs(tasks).jobs,
  });
  if ("stopped" in outcome) {
    // Stopped part-way: what it did (emails SendGrid accepted) is recorded with the failure.
    const { code, message, cause } = outcome.stopped;
    const figures = outcome.figures ? { ...outcome.figures } : undefined;
    throw new RunFailure(code, message, outcome.rowsAffected, figures, { cause });
  }
  return outcome;
}
