/**
 * What a caller asks of the runner: the run (task, trigger, tick, switches) and what the runner is
 * given to do it with. Types only.
 */
import type { TaskDefinition } from "../catalog.js";
import type { Pool } from "../db/pool.js";
import type { Job } from "../schedule/jobs.js";
import type { Logger } from "../log.js";
import type { BatchProgress } from "./run-result.js";
import type { HttpDeps } from "./http-contract.js";
import type { EmailTaskHandler } from "./task-contract.js";

/**
 * What started a run: a tick delivered by Cloud Scheduler (or the local scheduler); a manual run
 * (a console force run, a POST without a tick, the dashboard's "run now"); the operator CLI; an
 * operator's replay of a failed tick, or a backfill's run of a missed one (each holds its tick).
 */
export type Trigger = "scheduler" | "manual" | "cli" | "replay" | "backfill";

export interface RunRequest {
  readonly task: TaskDefinition;
  readonly trigger: Trigger;
  /** Cloud Scheduler's X-CloudScheduler-JobName. */
  readonly jobName?: string | undefined;
  /** The tick this run is for, and its dedup slot: a second success of it is refused as a duplicate. */
  readonly scheduleTime?: Date | undefined;
  /** A manual run's X-CloudScheduler-ScheduleTime, recorded for audit only (it takes no slot). */
  readonly requestedScheduleTime?: Date | undefined;
  /**
   * The task's input, read by its SQL as `scheduler.tick()`: the schedule time of a tick, the
   * arrival of a manual run. Defaults to `scheduleTime`, else the run's start.
   */
  readonly tick?: Date | undefined;
  readonly attempt?: number | undefined;
  /** Roll back (or only count) and report what would have changed. */
  readonly dryRun?: boolean | undefined;
  /** Run even when the blast-radius guard would stop it. */
  readonly force?: boolean | undefined;
  /** The delivery's X-Cloud-Trace-Context, passed on to an http task's target. */
  readonly traceHeader?: string | undefined;
}

export interface RunnerDeps {
  readonly pool: Pool;
  readonly log?: Logger;
  /** Loads the email tasks' handlers; called only when an email task runs (keeps SDKs off the SQL path). */
  readonly loadEmailHandler?: (task: TaskDefinition) => Promise<EmailTaskHandler>;
  readonly onProgress?: (progress: BatchProgress) => void;
  /** Every task as the deployment schedules it; the catalog as written when absent. */
  readonly jobs?: readonly Job[];
  /** The stack's http targets and the platform's way of proving the function to them. */
  readonly http?: HttpDeps;
}

/** How the work of an opened run goes: what the request asked, when the run started, its log. */
export interface WorkOptions {
  readonly dryRun: boolean;
  readonly force: boolean;
  /** Epoch milliseconds: the run's start, from which its time budget counts. */
  readonly started: number;
  readonly log: Logger;
}
