/**
 * The stack's configuration: everything `pulumi config` can change, read and validated in one place.
 *
 * `resolveConfig` is pure (raw values in, a validated config or one error listing every problem out),
 * so tests can be table-driven; `loadConfig` is the only function that reads `pulumi.Config`.
 */
import { fileURLToPath } from "node:url";
import * as pulumi from "@pulumi/pulumi";
import type { TaskDefinition } from "../functions/core/catalog.js";
import { tasks } from "../functions/core/catalog.js";
import type { Job } from "../functions/core/schedule/jobs.js";
import { cloudJobs, resolveJobs } from "../functions/core/schedule/jobs.js";
import { longestIntervalSeconds } from "../functions/core/schedule/fire-times.js";
import type { VariableName } from "../functions/core/config/environment.js";
import { isEmailAddress, problemsWith } from "../functions/core/config/environment.js";
import { OperatorError } from "./errors.js";
/** A 2nd gen HTTP function may run for at most 60 minutes. */
export const FUNCTION_TIMEOUT_MAX_SECONDS = 3600;
/**
 * Added to the longest attempt deadline for the function's timeout, so a run cut off by its own
 * deadline still has time to record how it ended before the platform kills the request.
 */
export const FUNCTION_TIMEOUT_MARGIN_SECONDS = 30;

export type Ingress = "ALLOW_ALL" | "ALLOW_INTERNAL_ONLY" | "ALLOW_INTERNAL_AND_GCLB";
const INGRESS_VALUES: readonly Ingress[] = ["ALLOW_ALL", "ALLOW_INTERNAL_ONLY", "ALLOW_INTERNAL_AND_GCLB"];

/**
 * One Cloud Scheduler job: a task as the stack schedules it (`resolveJobs`, the rule the function,
 * the local scheduler and the CLI share), with what the alerts need of its cadence.
 */
export interface JobSpec extends Job {
  /** The longest gap between two ticks, in seconds (from the next runs of the cron). */
  readonly intervalSeconds: number;
}

/**
 * The Cloud SQL instance the stack creates or uses (not the function's own `DatabaseConfig`, which
 * is how the running function connects).
 */
export type DatabaseDeployment =
  | {
      readonly mode: "create";
      readonly instanceName: string;
      readonly databaseVersion: string;
      readonly tier: string;
      readonly edition: "ENTERPRISE" | "ENTERPRISE_PLUS";
      readonly diskSizeGb: number;
      readonly databaseName: string;
      readonly deletionProtection: boolean;
    }
  | {
      readonly mode: "existing";
      /** project:region:instance */
      readonly connectionName: string;
      readonly instanceProject: string;
      readonly instanceName: string;
      readonly databaseName: string;
      /** Create the runtime identity's IAM database user on that instance (default true). */
      readonly createIamUser: boolean;
    };

/**
 * How the stack deploys the function as a Cloud Run service (not the function's own `FunctionConfig`,
 * which it reads from its environment at cold start).
 */
export interface FunctionDeployment {
  readonly name: string;
  readonly memory: string;
  readonly cpu: string | undefined;
  readonly minInstances: number;
  readonly maxInstances: number;
  readonly concurrency: number;
  readonly ingress: Ingress;
  /** The directory `npm run build` writes (absolute). */
  readonly sourceDir: string;
}

export interface StackConfig {
  readonly project: string;
  readonly region: string;
  /** Prefix of service account ids, the source bucket and alert names. */
  readonly prefix: string;
  readonly function: FunctionDeployment;
  readonly database: DatabaseDeployment;
  /** The jobs Cloud Scheduler runs. */
  readonly jobs: readonly JobSpec[];
  /** Every task as the stack schedules it, pg_cron's too (what the function is told: TASK_OVERRIDES). */
  readonly allJobs: readonly Job[];
  readonly alertEmail: string;
  readonly mailFrom: string;
  readonly opsEmail: string;
  /** Tasks that tick at least this often get an absence alert. */
  readonly absenceAlertMaxIntervalSeconds: number;
  /**
   * Whether every unpaused task gets a dead-man uptime check of GET /health?task=<name>
   * (infra/gcp/dead-man.ts); it needs ingress ALLOW_ALL, the checkers being on the internet.
   */
  readonly deadMan: boolean;
  /** The tasks the dead-man checks watch: every task not paused in the stack's config, whatever its runner. */
  readonly deadManJobs: readonly JobSpec[];
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

/** The default directory of the function's bundle, relative to the repository root. */
export const DEFAULT_SOURCE_DIR = "dist/function";
const repositoryRoot = new URL("../", import.meta.url);

/** Reads `gcp:*` and `scheduled-jobs:*` config and validates it. */
export function loadConfig(): StackConfig {
  const gcpConfig = new pulumi.Config("gcp");
  const config = new pulumi.Config();
  const raw: Record<string, unknown> = {
    project: gcpConfig.get("project"),
    region: gcpConfig.get("region"),
  };
  for (const key of OBJECT_KEYS) raw[key] = config.getObject(key);
  for (const key of STRING_KEYS) raw[key] = config.get(key);
  return resolveConfig(raw);
}

const OBJECT_KEYS = [
  "taskOverrides",
  "database",
  "function",
  "absenceAlertMaxIntervalMinutes",
  "deadMan",
] as const;
const STRING_KEYS = ["prefix", "defaultTimeZone", "alertEmail", "mailFrom", "opsEmail"] as const;

/** Every `scheduled-jobs:` key the program reads (the SendGrid key is read by the entry, as a secret). */
export const CONFIG_KEYS: readonly string[] = [...STRING_KEYS, ...OBJECT_KEYS, "sendgridApiKey"];

/** Validates raw config against the catalog; throws one StackConfigError listing every problem. */
export function resolveConfig(raw: RawConfig, catalog: readonly TaskDefinition[] = tasks): StackConfig {
  const problems: string[] = [];
  const project = requireString(raw.project, "gcp:project", problems);
  const region = requireString(raw.region, "gcp:region", problems);

  const prefix = optionalString(raw.prefix, "scheduled-jobs:prefix", problems) ?? "sched-jobs";
  if (!/^[a-z][a-z0-9-]{2,16}[a-z0-9]$/.test(prefix)) {
    problems.push(
      `scheduled-jobs:prefix "${prefix}" must be 4 to 18 lowercase letters, digits or hyphens, starting with a letter (service account ids are "<prefix>-runtime" and must stay within 30 characters)`,
    );
  }

  const resolved = resolveJobs(catalog, {
    overrides: raw.taskOverrides,
    source: "scheduled-jobs:taskOverrides",
    defaultTimeZone: raw.defaultTimeZone,
    defaultTimeZoneSource: "scheduled-jobs:defaultTimeZone",
  });
  problems.push(...resolved.problems);
  const jobs = resolved.problems.length > 0 ? [] : jobSpecs(resolved.jobs);
  const deadMan = raw.deadMan === undefined || raw.deadMan === null ? true : asBoolean(raw.deadMan);
  if (deadMan === undefined) problems.push("scheduled-jobs:deadMan must be true or false");
  const fn = resolveFunction(raw.function, jobs, deadMan !== false, problems);
  const database = resolveDatabase(raw.database, prefix, problems);

  const alertEmail = requireString(raw.alertEmail, "scheduled-jobs:alertEmail", problems);
  if (alertEmail !== undefined && !isEmailAddress(alertEmail)) {
    problems.push(`scheduled-jobs:alertEmail "${alertEmail}" is not an email address`);
  }
  const mailFrom = requireString(raw.mailFrom, "scheduled-jobs:mailFrom", problems);
  if (mailFrom !== undefined) acceptedByFunction("MAIL_FROM", mailFrom, "scheduled-jobs:mailFrom", problems);
  const opsEmail = optionalString(raw.opsEmail, "scheduled-jobs:opsEmail", problems);
  if (opsEmail !== undefined) acceptedByFunction("OPS_EMAIL", opsEmail, "scheduled-jobs:opsEmail", problems);

  const absenceMinutes = asNumber(raw.absenceAlertMaxIntervalMinutes) ?? 60;
  if (!Number.isInteger(absenceMinutes) || (absenceMinutes as number) < 1) {
    problems.push(
      `scheduled-jobs:absenceAlertMaxIntervalMinutes must be a whole number of minutes, at least 1`,
    );
  }

  if (problems.length > 0 || !fn || !database) throw new StackConfigError(problems);
  return {
    project: project!,
    region: region!,
    prefix,
    function: fn,
    database,
    jobs,
    allJobs: resolved.jobs,
    alertEmail: alertEmail!,
    mailFrom: mailFrom!,
    opsEmail: opsEmail ?? alertEmail!,
    absenceAlertMaxIntervalSeconds: (absenceMinutes as number) * 60,
    deadMan: deadMan!,
    deadManJobs: deadMan ? withCadence(resolved.jobs.filter((job) => !job.paused)) : [],
  };
}

/** A fixed reference for cadences, so a preview does not depend on the day it runs. */
const CADENCE_FROM = new Date("2030-01-06T00:00:00Z");

/** The jobs Cloud Scheduler runs, with their cadence. */
function jobSpecs(jobs: readonly Job[]): JobSpec[] {
  return withCadence(cloudJobs(jobs));
}

function withCadence(jobs: readonly Job[]): JobSpec[] {
  return jobs.map((job) => ({ ...job, intervalSeconds: longestIntervalSeconds(job, CADENCE_FROM) }));
}

function resolveFunction(
  raw: unknown,
  jobs: readonly JobSpec[],
  deadMan: boolean,
  problems: string[],
): FunctionDeployment | undefined {
  const key = "scheduled-jobs:function";
  const value = (raw ?? {}) as Record<string, unknown>;
  if (typeof value !== "object" || Array.isArray(value)) {
    problems.push(`${key} must be an object`);
    return undefined;
  }
  const allowed = [
    "name",
    "memory",
    "cpu",
    "minInstances",
    "maxInstances",
    "concurrency",
    "ingress",
    "sourceDir",
  ];
  for (const field of Object.keys(value)) {
    if (!allowed.includes(field))
      problems.push(`${key}.${field} is not a setting (allowed: ${allowed.join(", ")})`);
  }
  const name = stringField(value, "name", key, problems) ?? "scheduled-tasks";
  // The deterministic run.app URL is <name>-<project number>.<region>.run.app in one DNS label of
  // at most 63 characters; project numbers have up to 12 digits.
  if (!/^[a-z][a-z0-9-]{0,48}[a-z0-9]$/.test(name)) {
    problems.push(
      `${key}.name "${name}" must be 2 to 50 lowercase letters, digits or hyphens, starting with a letter (it names the Cloud Run service, whose URL must fit one DNS label)`,
    );
  }
  const memory = stringField(value, "memory", key, problems) ?? "512Mi";
  if (!/^\d+(Mi|Gi|M|G)$/.test(memory))
    problems.push(`${key}.memory "${memory}" must look like 256Mi or 1Gi`);
  const cpu = stringField(value, "cpu", key, problems);
  if (cpu !== undefined && !(Number(cpu) > 0)) problems.push(`${key}.cpu "${cpu}" must be a number of vCPUs`);
  const minInstances = integerField(value, "minInstances", key, 0, 100, problems) ?? 0;
  const maxInstances = integerField(value, "maxInstances", key, 1, 100, problems) ?? 3;
  const concurrency = integerField(value, "concurrency", key, 1, 1000, problems) ?? 1;
  if (minInstances > maxInstances) problems.push(`${key}.minInstances exceeds maxInstances`);
  // Cloud Run serves more than one request per instance only with at least one vCPU.
  if (concurrency > 1 && !(cpu !== undefined && Number(cpu) >= 1)) {
    problems.push(
      `${key}.concurrency ${concurrency} needs ${key}.cpu of at least "1" (below one vCPU an instance serves one request at a time)`,
    );
  }
  // The dead-man's uptime checkers call from the internet: internal ingress would refuse them, and
  // they would report every task down (infra/gcp/dead-man.ts). IAM still refuses any other caller.
  const ingress = (stringField(value, "ingress", key, problems) ??
    (deadMan ? "ALLOW_ALL" : "ALLOW_INTERNAL_ONLY")) as Ingress;
  if (!INGRESS_VALUES.includes(ingress)) {
    problems.push(`${key}.ingress "${ingress}" must be one of ${INGRESS_VALUES.join(", ")}`);
  } else if (deadMan && ingress !== "ALLOW_ALL") {
    problems.push(
      `${key}.ingress "${ingress}" refuses the dead-man's uptime checkers, which call from the internet: set it to ALLOW_ALL (the function stays private by IAM) or set scheduled-jobs:deadMan to false (and lose the dead-man alerts of daily and weekly tasks)`,
    );
  }
  const sourceDir = stringField(value, "sourceDir", key, problems) ?? DEFAULT_SOURCE_DIR;
  const longest = Math.max(0, ...jobs.map((job) => job.attemptDeadlineSeconds));
  if (longest + FUNCTION_TIMEOUT_MARGIN_SECONDS > FUNCTION_TIMEOUT_MAX_SECONDS) {
    problems.push(
      `the longest job deadline (${longest} s) leaves the function no room under its ${FUNCTION_TIMEOUT_MAX_SECONDS} s limit`,
    );
  }
  return {
    name,
    memory,
    cpu,
    minInstances,
    maxInstances,
    concurrency,
    ingress,
    sourceDir: fileURLToPath(new URL(sourceDir, repositoryRoot)).replace(/\/$/, ""),
  };
}

function resolveDatabase(raw: unknown, prefix: string, problems: string[]): DatabaseDeployment | undefined {
  const key = "scheduled-jobs:database";
  if (raw === undefined || raw === null || typeof raw !== "object" || Array.isArray(raw)) {
    problems.push(
      `${key} is required: {"connectionName": "project:region:instance", "databaseName": "..."} for an existing instance, or {"create": true, "databaseName": "..."} for a new one`,
    );
    return undefined;
  }
  const value = raw as Record<string, unknown>;
  const databaseName = stringField(value, "databaseName", key, problems);
  if (databaseName === undefined) problems.push(`${key}.databaseName is required`);
  else acceptedByFunction("DB_NAME", databaseName, `${key}.databaseName`, problems);
  const connectionName = stringField(value, "connectionName", key, problems);
  const create = asBoolean(value.create) === true;
  if (create === (connectionName !== undefined)) {
    problems.push(
      `${key}: set either "create": true or "connectionName" (an existing instance), not both or neither`,
    );
    return undefined;
  }
  if (connectionName !== undefined) {
    const parts = connectionName.split(":");
    if (parts.length !== 3 || parts.some((part) => part.length === 0)) {
      problems.push(`${key}.connectionName "${connectionName}" must be project:region:instance`);
      return undefined;
    }
    acceptedByFunction("INSTANCE_CONNECTION_NAME", connectionName, `${key}.connectionName`, problems);
    const allowed = ["connectionName", "databaseName", "createIamUser"];
    for (const field of Object.keys(value)) {
      if (!allowed.includes(field))
        problems.push(
          `${key}.${field} is not a setting for an existing instance (allowed: ${allowed.join(", ")})`,
        );
    }
    return {
      mode: "existing",
      connectionName,
      instanceProject: parts[0]!,
      instanceName: parts[2]!,
      databaseName: databaseName ?? "",
      createIamUser: asBoolean(value.createIamUser) !== false,
    };
  }
  const allowed = [
    "create",
    "instanceName",
    "databaseVersion",
    "tier",
    "edition",
    "diskSizeGb",
    "databaseName",
    "deletionProtection",
  ];
  for (const field of Object.keys(value)) {
    if (!allowed.includes(field))
      problems.push(`${key}.${field} is not a setting for a new instance (allowed: ${allowed.join(", ")})`);
  }
  const tier = stringField(value, "tier", key, problems) ?? "db-f1-micro";
  const edition = (stringField(value, "edition", key, problems) ?? "ENTERPRISE") as
    "ENTERPRISE" | "ENTERPRISE_PLUS";
  // Shared-core tiers (db-f1-micro, db-g1-small) exist only in the Enterprise edition, and PostgreSQL
  // 16+ instances default to Enterprise Plus, so the edition must be explicit.
  if (edition !== "ENTERPRISE" && edition !== "ENTERPRISE_PLUS") {
    problems.push(`${key}.edition "${String(edition)}" must be ENTERPRISE or ENTERPRISE_PLUS`);
  } else if (edition === "ENTERPRISE_PLUS" && /^db-(f1|g1)-/.test(tier)) {
    problems.push(`${key}: tier ${tier} is shared-core, which only the ENTERPRISE edition offers`);
  }
  const databaseVersion = stringField(value, "databaseVersion", key, problems) ?? "POSTGRES_17";
  if (!/^POSTGRES_\d+$/.test(databaseVersion))
    problems.push(`${key}.databaseVersion "${databaseVersion}" must be POSTGRES_<major>`);
  return {
    mode: "create",
    instanceName: stringField(value, "instanceName", key, problems) ?? `${prefix}-db`,
    databaseVersion,
    tier,
    edition,
    diskSizeGb: integerField(value, "diskSizeGb", key, 10, 65536, problems) ?? 10,
    databaseName: databaseName ?? "",
    deletionProtection: asBoolean(value.deletionProtection) !== false,
  };
}

/**
 * `pulumi config set --path` may store `true` or `300` as strings; both spellings are accepted.
 */
function asBoolean(value: unknown): boolean | undefined {
  if (typeof value === "boolean") return value;
  if (value === "true") return true;
  if (value === "false") return false;
  return undefined;
}

function asNumber(value: unknown): number | undefined {
  if (typeof value === "number") return value;
  if (typeof value === "string" && /^\d+$/.test(value.trim())) return Number(value.trim());
  return undefined;
}

/**
 * A stack value that the function reads as variable `name`, checked with the function's own parser
 * (functions/core/config/environment.ts): a stack that deploys is one whose function starts.
 */
function acceptedByFunction(name: VariableName, value: string, key: string, problems: string[]): void {
  for (const problem of problemsWith(name, value)) {
    problems.push(`${key} "${value}" would be refused by the function (${name}): ${problem}`);
  }
}

function requireString(value: unknown, key: string, problems: string[]): string | undefined {
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

function stringField(
  value: Record<string, unknown>,
  field: string,
  key: string,
  problems: string[],
): string | undefined {
  return optionalString(value[field], `${key}.${field}`, problems);
}

function integerField(
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

/** The function's timeout: the longest job deadline plus the margin to record the run's end. */
export function functionTimeoutSeconds(jobs: readonly JobSpec[]): number {
  return Math.min(
    FUNCTION_TIMEOUT_MAX_SECONDS,
    Math.max(60, ...jobs.map((job) => job.attemptDeadlineSeconds)) + FUNCTION_TIMEOUT_MARGIN_SECONDS,
  );
}
