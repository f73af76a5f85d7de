/**
 * The stack's configuration that does not depend on the cloud: which cloud the stack deploys to
 * (`scheduled-jobs:cloud`), the jobs (the catalog with the stack's overrides, through the one
 * `resolveJobs`), the default time zone, the mail settings, the alert email and the dead-man switch,
 * and the small readers every cloud's keys are checked with. Each cloud's own keys and checks live
 * beside its resources: infra/gcp/config.ts, infra/aws/config.ts.
 *
 * Resolving is pure (raw values in, a validated config or one error listing every problem out), so
 * tests can be table-driven; only the `load*` functions read `pulumi.Config`.
 */
// Config alone, not the SDK's index: `plan` runs these checks, and the index loads the whole runtime.
import { Config } from "@pulumi/pulumi/config.js";
import type { TaskDefinition } from "../functions/core/catalog.js";
import type { Job } from "../functions/core/schedule/jobs.js";
import { cloudJobs, resolveJobs } from "../functions/core/schedule/jobs.js";
import { longestIntervalSeconds } from "../functions/core/schedule/fire-times.js";
import type { VariableName } from "../functions/core/config/environment.js";
import { isEmailAddress, problemsWith } from "../functions/core/config/environment.js";
import type { HttpTargets } from "../functions/core/config/http-targets.js";
import { parseHttpTargets } from "../functions/core/config/http-targets.js";
import { OperatorError } from "./errors.js";

/** The clouds one stack can deploy to; Google when the stack does not say. */
const CLOUDS = ["gcp", "aws"] as const;
export type Cloud = (typeof CLOUDS)[number];

/**
 * A job as the stack schedules it (`resolveJobs`, the rule the function, the local scheduler and the
 * CLI share), with what the alerts need of its cadence.
 */
export interface JobSpec extends Job {
  /** The longest gap between two ticks, in seconds (from the next runs of the cron). */
  readonly intervalSeconds: number;
}

/** Raw values as `pulumi config` holds them (strings, numbers, booleans, objects). */
export interface RawConfig {
  readonly project?: string | undefined;
  readonly region?: string | undefined;
  readonly [key: string]: unknown;
}

export class StackConfigError extends OperatorError {
  constructor(readonly problems: readonly string[]) {
    super(`invalid stack configuration:\n  - ${problems.join("\n  - ")}`);
  }
}

/**
 * Added to the longest a run may take for the function's timeout, so a run cut off by its own
 * deadline still has time to record how it ended before the platform stops the function.
 */
export const FUNCTION_TIMEOUT_MARGIN_SECONDS = 30;

/** The keys of the stack's config that mean the same on every cloud. */
export const SHARED_OBJECT_KEYS = ["taskOverrides", "deadMan", "httpTargets", "pauseAll"] as const;
export const SHARED_STRING_KEYS = [
  "prefix",
  "defaultTimeZone",
  "alertEmail",
  "mailFrom",
  "opsEmail",
] as const;

export interface SharedConfig {
  /** Begins the names of the stack's identities and resources. */
  readonly prefix: string;
  /** The jobs the cloud's scheduler runs (the others are pg_cron's, in the database). */
  readonly jobs: readonly JobSpec[];
  /** Every task as the stack schedules it, pg_cron's too (what the function is told: TASK_OVERRIDES). */
  readonly allJobs: readonly Job[];
  readonly alertEmail: string;
  readonly mailFrom: string;
  readonly opsEmail: string;
  /** Whether every unpaused task gets a dead-man: an alert that fires when it stops succeeding. */
  readonly deadMan: boolean;
  /** The tasks the dead-man watches: every task not paused in the stack's config, whatever its runner. */
  readonly deadManJobs: readonly JobSpec[];
  /** The services the http tasks call (`scheduled-jobs:httpTargets`), as the function reads them. */
  readonly httpTargets: HttpTargets;
  /**
   * Whether an email task is left to run (one not paused in the stack's config): then the stack
   * needs the SendGrid key; without one, it deploys with no key at all (SQL tasks first).
   */
  readonly sendsEmail: boolean;
}

/** Reads `scheduled-jobs:cloud`: which program the stack runs. */
export function loadCloud(): Cloud {
  return cloudOf(new Config().get("cloud"));
}

export function cloudOf(value: unknown): Cloud {
  if (value === undefined || value === null || value === "") return "gcp";
  if (typeof value === "string" && (CLOUDS as readonly string[]).includes(value.trim())) {
    return value.trim() as Cloud;
  }
  throw new StackConfigError([
    `scheduled-jobs:cloud ${JSON.stringify(value)} must be one of ${CLOUDS.join(", ")} (gcp when unset)`,
  ]);
}

/** The `scheduled-jobs:` keys named, as `pulumi config` holds them (objects parsed). */
export function loadRaw(
  objectKeys: readonly string[],
  stringKeys: readonly string[],
): Record<string, unknown> {
  const config = new Config();
  const raw: Record<string, unknown> = {};
  for (const key of objectKeys) raw[key] = config.getObject(key);
  for (const key of stringKeys) raw[key] = config.get(key);
  return raw;
}

/** The shared keys, checked; each problem goes to `problems`, and then the result is not to be used. */
export function resolveShared(
  raw: RawConfig,
  catalog: readonly TaskDefinition[],
  problems: string[],
): SharedConfig {
  const prefix = optionalString(raw.prefix, "scheduled-jobs:prefix", problems) ?? "sched-jobs";
  if (!/^[a-z][a-z0-9-]{2,16}[a-z0-9]$/.test(prefix)) {
    problems.push(
      `scheduled-jobs:prefix "${prefix}" must be 4 to 18 lowercase letters, digits or hyphens, starting with a letter (it begins the stack's resource names; Google's service account ids "<prefix>-runtime" must stay within 30 characters)`,
    );
  }
  const resolved = resolveJobs(catalog, {
    overrides: raw.taskOverrides,
    source: "scheduled-jobs:taskOverrides",
    defaultTimeZone: raw.defaultTimeZone,
    defaultTimeZoneSource: "scheduled-jobs:defaultTimeZone",
    pauseAll: raw.pauseAll,
    pauseAllSource: "scheduled-jobs:pauseAll",
  });
  problems.push(...resolved.problems);
  const sound = resolved.problems.length === 0;
  const deadMan = raw.deadMan === undefined || raw.deadMan === null ? true : asBoolean(raw.deadMan);
  if (deadMan === undefined) problems.push("scheduled-jobs:deadMan must be true or false");

  const alertEmail = requireString(raw.alertEmail, "scheduled-jobs:alertEmail", problems);
  if (alertEmail !== undefined && !isEmailAddress(alertEmail)) {
    problems.push(`scheduled-jobs:alertEmail "${alertEmail}" is not an email address`);
  }
  const mailFrom = requireString(raw.mailFrom, "scheduled-jobs:mailFrom", problems);
  if (mailFrom !== undefined) acceptedByFunction("MAIL_FROM", mailFrom, "scheduled-jobs:mailFrom", problems);
  const opsEmail = optionalString(raw.opsEmail, "scheduled-jobs:opsEmail", problems);
  if (opsEmail !== undefined) acceptedByFunction("OPS_EMAIL", opsEmail, "scheduled-jobs:opsEmail", problems);
  const httpTargets = resolveHttpTargets(raw.httpTargets, resolved.jobs, problems);

  return {
    prefix,
    jobs: sound ? withCadence(cloudJobs(resolved.jobs)) : [],
    allJobs: resolved.jobs,
    alertEmail: alertEmail ?? "",
    mailFrom: mailFrom ?? "",
    opsEmail: opsEmail ?? alertEmail ?? "",
    deadMan: deadMan !== false,
    deadManJobs: sound && deadMan ? withCadence(resolved.jobs.filter((job) => !job.paused)) : [],
    httpTargets,
    sendsEmail: resolved.jobs.some((job) => job.kind === "email" && !job.paused),
  };
}

/**
 * `scheduled-jobs:httpTargets`, by the function's own rule (https, no credentials, private only when
 * internal, never link-local; plain http is the local stack's alone), and the target of every http
 * task the stack runs named in it: a task whose target the stack lacks would fail on every tick. A
 * task the stack pauses needs none, as a stack whose email tasks are paused needs no SendGrid key:
 * an app without that endpoint yet deploys the rest.
 */
function resolveHttpTargets(raw: unknown, jobs: readonly Job[], problems: string[]): HttpTargets {
  const targetProblems: string[] = [];
  const targets = parseHttpTargets(raw ?? {}, targetProblems) ?? {};
  problems.push(...targetProblems.map((problem) => `scheduled-jobs:${problem}`));
  for (const job of jobs) {
    const key = job.http?.target;
    if (job.kind !== "http" || job.paused || targetProblems.length > 0) continue;
    if (!key || !targets[key]) {
      problems.push(
        `task ${job.name} calls target ${JSON.stringify(key ?? "")}, which scheduled-jobs:httpTargets does not name: add httpTargets.${key ?? "<target>"}.url (and .service for the invoker grant), or pause the task (taskOverrides.${job.name}.paused: true)`,
      );
    }
  }
  return targets;
}

/** A fixed reference for cadences, so a preview does not depend on the day it runs. */
const CADENCE_FROM = new Date("2030-01-06T00:00:00Z");

function withCadence(jobs: readonly Job[]): JobSpec[] {
  return jobs.map((job) => ({ ...job, intervalSeconds: longestIntervalSeconds(job, CADENCE_FROM) }));
}

/**
 * An object setting (`scheduled-jobs:<key>`), or undefined with the problem when it is not one.
 * Each field not in `allowed` is a problem of its own.
 */
export function objectSetting(
  raw: unknown,
  key: string,
  allowed: readonly string[],
  problems: string[],
  what = "a setting",
): Record<string, unknown> | undefined {
  const value = raw ?? {};
  if (typeof value !== "object" || Array.isArray(value)) {
    problems.push(`${key} must be an object`);
    return undefined;
  }
  for (const field of Object.keys(value)) {
    if (!allowed.includes(field))
      problems.push(`${key}.${field} is not ${what} (allowed: ${allowed.join(", ")})`);
  }
  return value as Record<string, unknown>;
}

/**
 * `pulumi config set --path` may store `true` or `300` as strings; both spellings are accepted.
 */
export function asBoolean(value: unknown): boolean | undefined {
  if (typeof value === "boolean") return value;
  if (value === "true") return true;
  if (value === "false") return false;
  return undefined;
}

export function asNumber(value: unknown): number | undefined {
  if (typeof value === "number") return value;
  if (typeof value === "string" && /^\d+$/.test(value.trim())) return Number(value.trim());
  return undefined;
}

/**
 * A stack value that the function reads as variable `name`, checked with the function's own parser
 * (functions/core/config/environment.ts): a stack that deploys is one whose function starts.
 */
export function acceptedByFunction(name: VariableName, value: string, key: string, problems: string[]): void {
  for (const problem of problemsWith(name, value)) {
    problems.push(`${key} "${value}" would be refused by the function (${name}): ${problem}`);
  }
}

export function requireString(value: unknown, key: string, problems: string[]): string | undefined {
  if (typeof value === "string" && value.trim() !== "") return value.trim();
  problems.push(`${key} is required (pulumi config set ${key} <value>)`);
  return undefined;
}

function optionalString(value: unknown, key: string, problems: string[]): string | undefined {
  if (value === undefined || value === null || value === "") return undefined;
  if (typeof value === "string") return value.trim();
  problems.push(`${key} must be a string`);
  return undefined;
}

export function stringField(
  value: Record<string, unknown>,
  field: string,
  key: string,
  problems: string[],
): string | undefined {
  return optionalString(value[field], `${key}.${field}`, problems);
}

export function integerField(
  value: Record<string, unknown>,
  field: string,
  key: string,
  min: number,
  max: number,
  problems: string[],
): number | undefined {
  if (value[field] === undefined || value[field] === null) return undefined;
  const raw = asNumber(value[field]);
  if (raw === undefined || !Number.isInteger(raw) || raw < min || raw > max) {
    problems.push(`${key}.${field} must be a whole number from ${min} to ${max}`);
    return undefined;
  }
  return raw;
}
