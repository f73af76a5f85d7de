/**
 * The jobs as a stack deploys them: the task catalog plus the stack's per-task overrides and default
 * time zone (`scheduled-jobs:taskOverrides` and `scheduled-jobs:defaultTimeZone` in
 * `Pulumi.<stack>.yaml`, read with the same rules as `infra/`), and their
 * fire times from croner, in each job's time zone. The local scheduler and the operator CLI read
 * jobs only through here, so what fires locally is what Cloud Scheduler would fire.
 */
import { existsSync, readFileSync } from "node:fs";
import { Cron } from "croner";
import { parse as parseYaml } from "yaml";
import type { RetryPolicy, TaskDefinition } from "../../functions/catalog.js";
import { findTask, tasks, timeZoneOf } from "../../functions/catalog.js";

export interface TaskOverride {
  readonly schedule?: string;
  readonly timeZone?: string;
  readonly paused?: boolean;
  readonly attemptDeadlineSeconds?: number;
}

export type TaskOverrides = Readonly<Record<string, TaskOverride>>;

/** What a stack's config changes about the jobs: the keys `infra/` reads for them. */
export interface StackJobConfig {
  readonly taskOverrides: TaskOverrides;
  /** `scheduled-jobs:defaultTimeZone`: the zone of tasks that name none (the catalog's default otherwise). */
  readonly defaultTimeZone?: string;
}

/** One Cloud Scheduler job: a task with the stack's overrides applied. */
export interface Job {
  readonly task: TaskDefinition;
  readonly name: string;
  readonly schedule: string;
  readonly timeZone: string;
  readonly paused: boolean;
  readonly retry: RetryPolicy;
  /** Cloud Scheduler's attempt deadline for the job: the task's timeout unless the stack overrides it. */
  readonly attemptDeadlineSeconds: number;
}

export const OVERRIDES_KEY = "scheduled-jobs:taskOverrides";
export const DEFAULT_TIME_ZONE_KEY = "scheduled-jobs:defaultTimeZone";
/** Cloud Scheduler's limits for an HTTP target's attempt deadline. */
const ATTEMPT_DEADLINE_SECONDS = { min: 15, max: 1800 } as const;

/**
 * Reads what a stack's Pulumi config file says about the jobs. Absent file or keys: nothing.
 * Pulumi stores a structured value as nested YAML under `config:`; `pulumi config set --path` stores
 * booleans and numbers as strings, which are read as `infra/` reads them.
 */
export function readStackJobConfig(file: string): StackJobConfig {
  if (!existsSync(file)) return { taskOverrides: {} };
  let document: unknown;
  try {
    document = parseYaml(readFileSync(file, "utf8"));
  } catch (error) {
    throw new Error(`${file} is not valid YAML: ${(error as Error).message}`, { cause: error });
  }
  const config = (document as { config?: Record<string, unknown> } | null)?.config ?? {};
  const raw = config[OVERRIDES_KEY];
  // A JSON string (`pulumi config set` of a JSON text) or a YAML map.
  const value: unknown = typeof raw === "string" ? JSON.parse(raw) : raw;
  const taskOverrides =
    value === undefined || value === null ? {} : validateOverrides(value, `${file}: ${OVERRIDES_KEY}`);
  const zone = config[DEFAULT_TIME_ZONE_KEY];
  if (zone !== undefined && typeof zone !== "string") {
    throw new Error(`${file}: ${DEFAULT_TIME_ZONE_KEY} must be a string`);
  }
  return { taskOverrides, ...(typeof zone === "string" ? { defaultTimeZone: zone.trim() } : {}) };
}

function asBoolean(value: unknown): boolean | undefined {
  if (typeof value === "boolean") return value;
  return value === "true" ? true : value === "false" ? false : undefined;
}

function asNumber(value: unknown): number | undefined {
  if (typeof value === "number") return value;
  return typeof value === "string" && /^\d+$/.test(value.trim()) ? Number(value.trim()) : undefined;
}

export function validateOverrides(value: unknown, where: string): TaskOverrides {
  const fields = "{schedule?, timeZone?, paused?, attemptDeadlineSeconds?}";
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new Error(`${where} must be a map of task name to ${fields}`);
  }
  const result: Record<string, TaskOverride> = {};
  for (const [name, override] of Object.entries(value as Record<string, unknown>)) {
    const task = findTask(name);
    if (!task) throw new Error(`${where}: unknown task "${name}"`);
    if ((task.runner ?? "cloud") !== "cloud") {
      throw new Error(
        `${where}: task "${name}" is scheduled by pg_cron in the database, not by Cloud Scheduler`,
      );
    }
    if (typeof override !== "object" || override === null || Array.isArray(override)) {
      throw new Error(`${where}.${name} must be a map of ${fields}`);
    }
    const { schedule, timeZone, paused, attemptDeadlineSeconds, ...rest } = override as Record<
      string,
      unknown
    >;
    const unknownKeys = Object.keys(rest);
    if (unknownKeys.length > 0)
      throw new Error(`${where}.${name}: unknown field(s) ${unknownKeys.join(", ")}`);
    if (schedule !== undefined && typeof schedule !== "string")
      throw new Error(`${where}.${name}.schedule must be a string`);
    if (timeZone !== undefined && typeof timeZone !== "string")
      throw new Error(`${where}.${name}.timeZone must be a string`);
    if (paused !== undefined && asBoolean(paused) === undefined)
      throw new Error(`${where}.${name}.paused must be true or false`);
    const deadline = attemptDeadlineSeconds === undefined ? undefined : asNumber(attemptDeadlineSeconds);
    if (
      attemptDeadlineSeconds !== undefined &&
      (deadline === undefined ||
        deadline < ATTEMPT_DEADLINE_SECONDS.min ||
        deadline > ATTEMPT_DEADLINE_SECONDS.max)
    ) {
      throw new Error(
        `${where}.${name}.attemptDeadlineSeconds must be a number of seconds from ${ATTEMPT_DEADLINE_SECONDS.min} to ${ATTEMPT_DEADLINE_SECONDS.max}`,
      );
    }
    result[name] = {
      ...(typeof schedule === "string" ? { schedule: schedule.trim() } : {}),
      ...(typeof timeZone === "string" ? { timeZone: timeZone.trim() } : {}),
      ...(paused !== undefined ? { paused: asBoolean(paused)! } : {}),
      ...(deadline !== undefined ? { attemptDeadlineSeconds: deadline } : {}),
    };
  }
  return result;
}

/** The jobs a stack runs: every task the cloud schedules (pg_cron tasks are the database's). */
export function jobsOf(
  stack: StackJobConfig = { taskOverrides: {} },
  catalog: readonly TaskDefinition[] = tasks,
): Job[] {
  return catalog
    .filter((task) => (task.runner ?? "cloud") === "cloud")
    .map((task) => {
      const override = stack.taskOverrides[task.name] ?? {};
      const job: Job = {
        task,
        name: task.name,
        schedule: override.schedule ?? task.schedule,
        timeZone: override.timeZone ?? task.timeZone ?? stack.defaultTimeZone ?? timeZoneOf(task),
        paused: override.paused ?? task.paused,
        retry: task.retry,
        attemptDeadlineSeconds: override.attemptDeadlineSeconds ?? task.timeoutSeconds,
      };
      // Fail at load, not at the first tick: a bad cron or zone in an override is a config error.
      cronOf(job);
      return job;
    });
}

export function cronOf(job: Pick<Job, "name" | "schedule" | "timeZone">): Cron {
  try {
    // croner accepts any zone name and fails later; Intl knows the IANA database.
    new Intl.DateTimeFormat("en", { timeZone: job.timeZone });
  } catch {
    throw new Error(`${job.name}: time zone "${job.timeZone}" is not an IANA time zone`);
  }
  // Cloud Scheduler takes unix-cron: exactly five fields (croner would also take seconds and nicknames).
  if (job.schedule.trim().split(/\s+/).length !== 5) {
    throw new Error(
      `${job.name}: schedule "${job.schedule}" must have exactly five fields (unix-cron, as Cloud Scheduler takes)`,
    );
  }
  try {
    return new Cron(job.schedule, { timezone: job.timeZone, paused: true });
  } catch (error) {
    throw new Error(
      `${job.name}: schedule "${job.schedule}" in time zone "${job.timeZone}" is not valid: ${(error as Error).message}`,
      { cause: error },
    );
  }
}

/**
 * The next `count` fire times strictly after `after`. Wall-clock cron in the job's zone, as Cloud
 * Scheduler reads it: a time that a spring-forward skips fires at the first instant after the gap,
 * a time that a fall-back repeats fires once, at its first occurrence (see the README, "Local run").
 */
export function nextFireTimes(
  job: Pick<Job, "name" | "schedule" | "timeZone">,
  after: Date,
  count: number,
): Date[] {
  return cronOf(job).nextRuns(count, after);
}

/** Every fire time in (from, to], oldest first, at most `limit` of them. */
export function fireTimesBetween(
  job: Pick<Job, "name" | "schedule" | "timeZone">,
  from: Date,
  to: Date,
  limit = 10_000,
): Date[] {
  const cron = cronOf(job);
  const times: Date[] = [];
  let cursor = from;
  while (times.length < limit) {
    const next = cron.nextRun(cursor);
    if (!next || next.getTime() > to.getTime()) break;
    times.push(next);
    cursor = next;
  }
  return times;
}

/**
 * Cloud Scheduler's wait before retry `n` (0 = the first retry): `minBackoff` doubled `maxDoublings`
 * times, then growing linearly by `minBackoff * 2^maxDoublings`, never above `maxBackoff`
 * (with 10 s / 300 s / 3 doublings: 10, 20, 40, 80, 160, 240, 300, 300 s).
 */
export function retryBackoffSeconds(retry: RetryPolicy, n: number): number {
  const { minBackoffSeconds: min, maxBackoffSeconds: max, maxDoublings } = retry;
  const wait = n <= maxDoublings ? min * 2 ** n : min * 2 ** maxDoublings * (n - maxDoublings + 1);
  return Math.min(wait, max);
}

/** The stack's config file the local tools read, when present. */
export function defaultStackFile(stack = process.env.PULUMI_STACK ?? "dev"): string {
  const inInfra = `infra/Pulumi.${stack}.yaml`;
  return existsSync(inInfra) ? inInfra : `Pulumi.${stack}.yaml`;
}
