/**
 * Catalog + a stack's overrides -> the jobs, as the deployment schedules them. The one place that
 * rule lives: infra creates Cloud Scheduler jobs from these, the function is told them
 * (TASK_OVERRIDES) for its lookups, `/health` and alerts, the local scheduler fires them, every CLI
 * command lists and runs them, and the pg_cron generator schedules them. Nobody holds them in
 * module state: whoever needs the jobs is handed them.
 *
 * Pure and dependency-free like the catalog (no croner, no Pulumi): `resolveJobs` returns the jobs
 * and every problem, in words that name where the value came from, never throwing.
 */
import type { RetryPolicy, TaskDefinition, TaskRunner } from "../catalog.js";
import { DEFAULT_TIME_ZONE, runnerOf } from "../catalog.js";
import { cronProblem } from "./cron-grammar.js";

/**
 * Cloud Scheduler's bounds for an HTTP target's attempt deadline.
 * https://cloud.google.com/scheduler/docs/reference/rest/v1/projects.locations.jobs#Job.FIELDS.attempt_deadline
 */
const ATTEMPT_DEADLINE_SECONDS = { min: 15, max: 1800 } as const;
/** Cloud Scheduler's bounds for a job's retry count. */
const RETRY_COUNT = { min: 0, max: 5 } as const;

/** What a stack may change about one task's job without touching code. */
interface JobOverride {
  readonly schedule?: string;
  readonly timeZone?: string;
  readonly paused?: boolean;
  /** Cloud Scheduler's attempt deadline; the task's `timeoutSeconds` by default, never below it. */
  readonly attemptDeadlineSeconds?: number;
}

export type JobOverrides = Readonly<Record<string, JobOverride>>;

const OVERRIDE_FIELDS = ["schedule", "timeZone", "paused", "attemptDeadlineSeconds"] as const;
type OverrideField = (typeof OVERRIDE_FIELDS)[number];

/** A task as the deployment schedules it: the catalog's definition with the stack's overrides applied. */
export interface Job extends TaskDefinition {
  readonly timeZone: string;
  readonly runner: TaskRunner;
  /** How long Cloud Scheduler waits for an answer: at least the task's `timeoutSeconds`. */
  readonly attemptDeadlineSeconds: number;
  readonly retry: RetryPolicy;
  /** The fields a stack override changed. */
  readonly overridden: readonly OverrideField[];
}

/** What a stack says about its jobs, as raw values (from Pulumi config, a stack file, or TASK_OVERRIDES). */
export interface JobSettings {
  /** `{taskName: {schedule?, timeZone?, paused?, attemptDeadlineSeconds?}}`; booleans and numbers may be strings. */
  readonly overrides?: unknown;
  /** The zone of Cloud Scheduler's jobs whose task names none (the catalog's default, UTC, otherwise). */
  readonly defaultTimeZone?: unknown;
  /** Where the overrides came from, for messages: `scheduled-jobs:taskOverrides`, `TASK_OVERRIDES`, a file. */
  readonly source?: string;
  /** Where the default time zone came from, for messages. */
  readonly defaultTimeZoneSource?: string;
  /**
   * Every job the cloud's scheduler runs paused, as if each task's override said `paused: true`
   * (a first deploy before the database is migrated; any stop of everything). pg_cron's tasks are
   * the database setup's to pause, as their overrides are. A boolean, or its string.
   */
  readonly pauseAll?: unknown;
  /** Where pauseAll came from, for messages. */
  readonly pauseAllSource?: string;
}

export interface ResolvedJobs {
  /** Every task of the catalog, Cloud Scheduler's and pg_cron's, in catalog order. */
  readonly jobs: readonly Job[];
  /** Each is a reason not to deploy or serve these jobs; empty when they are sound. */
  readonly problems: readonly string[];
}

/**
 * Whether the runtime's time zone database knows this IANA name. Asked at cold start of every task,
 * so the answer comes cheaply where it can: "UTC" is a zone every implementation must know
 * (ECMA-402, https://tc39.es/ecma402/#sec-use-of-iana-time-zone-database), and the names in
 * `Intl.supportedValuesOf("timeZone")` are known by definition. Any other name (an alias such as
 * Asia/Kolkata where the list has Asia/Calcutta, another spelling) is tried with
 * `Intl.DateTimeFormat`; constructing one loads the runtime's date formatting, a cost the
 * function's SQL path never needs otherwise (BENCHMARKS.md, "boot to the first 200").
 */
export function isTimeZone(name: string): boolean {
  if (name.trim() === "" || name !== name.trim()) return false;
  if (name === "UTC" || listedTimeZones().has(name)) return true;
  try {
    new Intl.DateTimeFormat("en-US", { timeZone: name });
    return true;
  } catch {
    return false;
  }
}

let listed: ReadonlySet<string> | undefined;
function listedTimeZones(): ReadonlySet<string> {
  listed ??= new Set(Intl.supportedValuesOf("timeZone"));
  return listed;
}

function asBoolean(value: unknown): boolean | undefined {
  if (typeof value === "boolean") return value;
  // `pulumi config set --path` stores booleans as strings.
  return value === "true" ? true : value === "false" ? false : undefined;
}

function asWholeNumber(value: unknown): number | undefined {
  if (typeof value === "number") return Number.isInteger(value) ? value : undefined;
  return typeof value === "string" && /^\d+$/.test(value.trim()) ? Number(value.trim()) : undefined;
}

function parseOverrides(
  raw: unknown,
  catalog: readonly TaskDefinition[],
  source: string,
  problems: string[],
): Map<string, JobOverride> {
  const result = new Map<string, JobOverride>();
  if (raw === undefined || raw === null) return result;
  const shape = `{${OVERRIDE_FIELDS.map((field) => `${field}?`).join(", ")}}`;
  if (typeof raw !== "object" || Array.isArray(raw)) {
    problems.push(`${source} must be an object of task name to ${shape}`);
    return result;
  }
  for (const [name, value] of Object.entries(raw as Record<string, unknown>)) {
    const where = `${source}.${name}`;
    const task = catalog.find((candidate) => candidate.name === name);
    if (!task) {
      problems.push(`${where}: unknown task "${name}" (known: ${catalog.map((t) => t.name).join(", ")})`);
      continue;
    }
    if (runnerOf(task) !== "cloud") {
      problems.push(
        `${where}: task "${name}" is scheduled by pg_cron in the database, not by Cloud Scheduler`,
      );
      continue;
    }
    if (typeof value !== "object" || value === null || Array.isArray(value)) {
      problems.push(`${where} must be an object ${shape}`);
      continue;
    }
    const override: { -readonly [K in keyof JobOverride]: JobOverride[K] } = {};
    for (const [field, fieldValue] of Object.entries(value as Record<string, unknown>)) {
      switch (field) {
        case "schedule":
        case "timeZone":
          if (typeof fieldValue !== "string") problems.push(`${where}.${field} must be a string`);
          else override[field] = fieldValue.trim();
          break;
        case "paused": {
          const paused = asBoolean(fieldValue);
          if (paused === undefined) problems.push(`${where}.paused must be true or false`);
          else override.paused = paused;
          break;
        }
        case "attemptDeadlineSeconds": {
          const seconds = asWholeNumber(fieldValue);
          if (seconds === undefined)
            problems.push(`${where}.attemptDeadlineSeconds must be a whole number of seconds`);
          else override.attemptDeadlineSeconds = seconds;
          break;
        }
        default:
          problems.push(`${where}.${field} is not an override (allowed: ${OVERRIDE_FIELDS.join(", ")})`);
      }
    }
    result.set(name, override);
  }
  return result;
}

/** The stack's pauseAll: false when absent; a problem naming its source when not a boolean. */
function parsePauseAll(settings: JobSettings, problems: string[]): boolean {
  if (settings.pauseAll === undefined || settings.pauseAll === null) return false;
  const pauseAll = asBoolean(settings.pauseAll);
  if (pauseAll === undefined)
    problems.push(
      `${settings.pauseAllSource ?? "pauseAll"} must be true or false (got ${JSON.stringify(settings.pauseAll)})`,
    );
  return pauseAll === true;
}

/**
 * The jobs of a stack: every catalog task with the stack's overrides applied, and every problem
 * (unknown tasks or fields, a schedule outside Cloud Scheduler's unix-cron, an unknown time zone,
 * an attempt deadline outside Cloud Scheduler's bounds or below the task's own timeout).
 */
export function resolveJobs(catalog: readonly TaskDefinition[], settings: JobSettings = {}): ResolvedJobs {
  const problems: string[] = [];
  const source = settings.source ?? "overrides";
  const zoneSource = settings.defaultTimeZoneSource ?? "defaultTimeZone";
  let defaultTimeZone = DEFAULT_TIME_ZONE;
  if (settings.defaultTimeZone !== undefined && settings.defaultTimeZone !== null) {
    if (typeof settings.defaultTimeZone !== "string" || !isTimeZone(settings.defaultTimeZone.trim())) {
      problems.push(`${zoneSource} ${JSON.stringify(settings.defaultTimeZone)} is not an IANA time zone`);
    } else {
      defaultTimeZone = settings.defaultTimeZone.trim();
    }
  }
  const overrides = parseOverrides(settings.overrides, catalog, source, problems);
  const pauseAll = parsePauseAll(settings, problems);
  const jobs = catalog.map((task): Job => {
    const override = overrides.get(task.name) ?? {};
    const where = `task "${task.name}"${Object.keys(override).length > 0 ? ` (with ${source}.${task.name})` : ""}`;
    const schedule = override.schedule ?? task.schedule;
    // The stack's default zone is Cloud Scheduler's; pg_cron tasks keep the catalog's (their setup
    // is generated into the database from the catalog, not from a stack).
    const timeZone =
      override.timeZone ??
      task.timeZone ??
      (runnerOf(task) === "cloud" ? defaultTimeZone : DEFAULT_TIME_ZONE);
    const attemptDeadlineSeconds = override.attemptDeadlineSeconds ?? task.timeoutSeconds;
    const scheduleProblem = cronProblem(schedule);
    if (scheduleProblem) problems.push(`${where}: schedule "${schedule}" ${scheduleProblem}`);
    if (!isTimeZone(timeZone)) problems.push(`${where}: time zone "${timeZone}" is not an IANA time zone`);
    if (runnerOf(task) === "cloud") {
      if (
        attemptDeadlineSeconds < ATTEMPT_DEADLINE_SECONDS.min ||
        attemptDeadlineSeconds > ATTEMPT_DEADLINE_SECONDS.max
      ) {
        problems.push(
          `${where}: attempt deadline ${attemptDeadlineSeconds} s is outside Cloud Scheduler's ${ATTEMPT_DEADLINE_SECONDS.min}..${ATTEMPT_DEADLINE_SECONDS.max} s for HTTP targets`,
        );
      } else if (attemptDeadlineSeconds < task.timeoutSeconds) {
        // The scheduler would give up (and retry) while the run goes on to its own timeout.
        problems.push(
          `${where}: attempt deadline ${attemptDeadlineSeconds} s is below the task's timeout of ${task.timeoutSeconds} s; Cloud Scheduler would retry while the first run is still going`,
        );
      }
      const { retryCount } = task.retry;
      if (!Number.isInteger(retryCount) || retryCount < RETRY_COUNT.min || retryCount > RETRY_COUNT.max) {
        problems.push(
          `${where}: retryCount ${retryCount} is outside Cloud Scheduler's ${RETRY_COUNT.min}..${RETRY_COUNT.max}`,
        );
      }
    }
    return {
      ...task,
      schedule,
      timeZone,
      paused: (pauseAll && runnerOf(task) === "cloud") || (override.paused ?? task.paused),
      runner: runnerOf(task),
      attemptDeadlineSeconds,
      overridden: OVERRIDE_FIELDS.filter(
        (field) =>
          override[field] !== undefined || (field === "paused" && pauseAll && runnerOf(task) === "cloud"),
      ),
    };
  });
  return { jobs, problems };
}

/** The job of that name, or undefined. Safe for untrusted input: a lookup, never a path or SQL. */
export function jobNamed<T extends { readonly name: string }>(
  jobs: readonly T[],
  name: string,
): T | undefined {
  return jobs.find((job) => job.name === name);
}

/** The jobs Cloud Scheduler runs (the others are pg_cron's, in the database). */
export function cloudJobs(jobs: readonly Job[]): Job[] {
  return jobs.filter((job) => job.runner === "cloud");
}

/**
 * The overrides that turn the catalog into these jobs, where they differ from it: what the Pulumi
 * program and the local stack hand the function as TASK_OVERRIDES, so that resolving them again
 * there yields the same jobs (the stack's default time zone travels as each task's zone).
 */
export function overridesOf(catalog: readonly TaskDefinition[], jobs: readonly Job[]): JobOverrides {
  const overrides: Record<string, JobOverride> = {};
  for (const job of jobs) {
    const task = catalog.find((candidate) => candidate.name === job.name);
    if (!task) continue;
    const override: { -readonly [K in keyof JobOverride]: JobOverride[K] } = {};
    if (job.schedule !== task.schedule) override.schedule = job.schedule;
    if (job.timeZone !== (task.timeZone ?? DEFAULT_TIME_ZONE)) override.timeZone = job.timeZone;
    if (job.paused !== task.paused) override.paused = job.paused;
    if (job.attemptDeadlineSeconds !== task.timeoutSeconds)
      override.attemptDeadlineSeconds = job.attemptDeadlineSeconds;
    if (Object.keys(override).length > 0) overrides[job.name] = override;
  }
  return overrides;
}
