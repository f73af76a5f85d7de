/**
 * A Google stack's configuration: the shared keys (../config.ts) and Google's own, the project and
 * region, the function's Cloud Run settings, the Cloud SQL instance and the log-based absence alerts.
 */
import { fileURLToPath } from "node:url";
// Config alone, not the SDK's index: `plan` runs these checks, and the index loads the whole runtime.
import { Config } from "@pulumi/pulumi/config.js";
import type { TaskDefinition } from "../../functions/core/catalog.js";
import { tasks } from "../../functions/core/catalog.js";
import type { JobSpec, RawConfig, SharedConfig } from "../config.js";
import {
  acceptedByFunction,
  asBoolean,
  asNumber,
  FUNCTION_TIMEOUT_MARGIN_SECONDS,
  integerField,
  loadRaw,
  objectSetting,
  requireString,
  resolveShared,
  SHARED_OBJECT_KEYS,
  SHARED_STRING_KEYS,
  StackConfigError,
  stringField,
} from "../config.js";
import { googleTargetProblems } from "./http-targets.js";

/** A 2nd gen HTTP function may run for at most 60 minutes. */
const FUNCTION_TIMEOUT_MAX_SECONDS = 3600;

type Ingress = "ALLOW_ALL" | "ALLOW_INTERNAL_ONLY" | "ALLOW_INTERNAL_AND_GCLB";
const INGRESS_VALUES: readonly Ingress[] = ["ALLOW_ALL", "ALLOW_INTERNAL_ONLY", "ALLOW_INTERNAL_AND_GCLB"];

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

export interface StackConfig extends SharedConfig {
  readonly project: string;
  readonly region: string;
  readonly function: FunctionDeployment;
  readonly database: DatabaseDeployment;
  /** Tasks that tick at least this often get an absence alert. */
  readonly absenceAlertMaxIntervalSeconds: number;
  /**
   * The people who may act from the dashboard (`scheduled-jobs:operators`): each may invoke the
   * function (through `gcloud run services proxy`) and is listed in its OPERATOR_EMAILS.
   */
  readonly operators: readonly string[];
}

/** The default directory of the function's bundle, relative to the repository root. */
const DEFAULT_SOURCE_DIR = "dist/function";
const repositoryRoot = new URL("../../", import.meta.url);

/** Reads `gcp:*` and `scheduled-jobs:*` config and validates it. */
export function loadConfig(): StackConfig {
  const gcpConfig = new Config("gcp");
  return resolveConfig({
    project: gcpConfig.get("project"),
    region: gcpConfig.get("region"),
    ...loadRaw([...new Set([...SHARED_OBJECT_KEYS, ...OBJECT_KEYS])], SHARED_STRING_KEYS),
  });
}

const OBJECT_KEYS = [
  "taskOverrides",
  "database",
  "function",
  "absenceAlertMaxIntervalMinutes",
  "deadMan",
  "operators",
] as const;

/**
 * Every `scheduled-jobs:` key a Google stack reads (the SendGrid key is read by the entry, as a
 * secret; `cloud` by the entry, to choose this program).
 */
export const CONFIG_KEYS: readonly string[] = [
  "cloud",
  ...SHARED_STRING_KEYS,
  ...new Set([...SHARED_OBJECT_KEYS, ...OBJECT_KEYS]),
  "sendgridApiKey",
];

/** Validates raw config against the catalog; throws one StackConfigError listing every problem. */
export function resolveConfig(raw: RawConfig, catalog: readonly TaskDefinition[] = tasks): StackConfig {
  const problems: string[] = [];
  const project = requireString(raw.project, "gcp:project", problems);
  const region = requireString(raw.region, "gcp:region", problems);
  const shared = resolveShared(raw, catalog, problems);
  problems.push(...googleTargetProblems(shared.httpTargets));
  const fn = resolveFunction(raw.function, shared.jobs, shared.deadMan, problems);
  const database = resolveDatabase(raw.database, shared.prefix, problems);
  const operators = resolveOperators(raw.operators, project, shared.prefix, problems);

  const absenceMinutes = asNumber(raw.absenceAlertMaxIntervalMinutes) ?? 60;
  if (!Number.isInteger(absenceMinutes) || absenceMinutes < 1) {
    problems.push(
      `scheduled-jobs:absenceAlertMaxIntervalMinutes must be a whole number of minutes, at least 1`,
    );
  }

  if (problems.length > 0 || !fn || !database) throw new StackConfigError(problems);
  return {
    ...shared,
    project: project!,
    region: region!,
    function: fn,
    database,
    absenceAlertMaxIntervalSeconds: absenceMinutes * 60,
    operators,
  };
}

/**
 * `scheduled-jobs:operators`: a list of people's emails (as their ID tokens name them), each
 * checked by the function's own rule for OPERATOR_EMAILS. Not the scheduler's account: the
 * function refuses an operator it also allows as a caller, and a deploy should fail first.
 */
function resolveOperators(
  raw: unknown,
  project: string | undefined,
  prefix: string,
  problems: string[],
): readonly string[] {
  const key = "scheduled-jobs:operators";
  if (raw === undefined || raw === null) return [];
  if (!Array.isArray(raw) || raw.some((entry) => typeof entry !== "string" || entry.trim() === "")) {
    problems.push(`${key} must be a list of email addresses (the people who may act from the dashboard)`);
    return [];
  }
  const operators = [...new Set(raw.map((entry: string) => entry.trim().toLowerCase()))];
  if (operators.length > 0) acceptedByFunction("OPERATOR_EMAILS", operators.join(","), key, problems);
  const scheduler = `${prefix}-invoker@${project ?? ""}.iam.gserviceaccount.com`;
  if (operators.includes(scheduler)) {
    problems.push(`${key} lists ${scheduler}, the scheduler's account: it may run tasks, not pause them`);
  }
  return operators;
}

function resolveFunction(
  raw: unknown,
  jobs: readonly JobSpec[],
  deadMan: boolean,
  problems: string[],
): FunctionDeployment | undefined {
  const key = "scheduled-jobs:function";
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
  const value = objectSetting(raw, key, allowed, problems);
  if (!value) return undefined;
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
  const ingress = resolveIngress(value, key, deadMan, problems);
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

/**
 * The dead-man's uptime checkers call from the internet: internal ingress would refuse them, and
 * they would report every task down (infra/gcp/dead-man.ts). IAM still refuses any other caller.
 */
function resolveIngress(
  value: Record<string, unknown>,
  key: string,
  deadMan: boolean,
  problems: string[],
): Ingress {
  const ingress = (stringField(value, "ingress", key, problems) ??
    (deadMan ? "ALLOW_ALL" : "ALLOW_INTERNAL_ONLY")) as Ingress;
  if (!INGRESS_VALUES.includes(ingress)) {
    problems.push(`${key}.ingress "${ingress}" must be one of ${INGRESS_VALUES.join(", ")}`);
  } else if (deadMan && ingress !== "ALLOW_ALL") {
    problems.push(
      `${key}.ingress "${ingress}" refuses the dead-man's uptime checkers, which call from the internet: set it to ALLOW_ALL (the function stays private by IAM) or set scheduled-jobs:deadMan to false (and lose the dead-man alerts of daily and weekly tasks)`,
    );
  }
  return ingress;
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
    return existingDatabase(value, connectionName, databaseName ?? "", key, problems);
  }
  return newDatabase(value, prefix, databaseName ?? "", key, problems);
}

function existingDatabase(
  value: Record<string, unknown>,
  connectionName: string,
  databaseName: string,
  key: string,
  problems: string[],
): DatabaseDeployment | undefined {
  const parts = connectionName.split(":");
  if (parts.length !== 3 || parts.some((part) => part.length === 0)) {
    problems.push(`${key}.connectionName "${connectionName}" must be project:region:instance`);
    return undefined;
  }
  acceptedByFunction("INSTANCE_CONNECTION_NAME", connectionName, `${key}.connectionName`, problems);
  objectSetting(
    value,
    key,
    ["connectionName", "databaseName", "createIamUser"],
    problems,
    "a setting for an existing instance",
  );
  return {
    mode: "existing",
    connectionName,
    instanceProject: parts[0]!,
    instanceName: parts[2]!,
    databaseName,
    createIamUser: asBoolean(value.createIamUser) !== false,
  };
}

function newDatabase(
  value: Record<string, unknown>,
  prefix: string,
  databaseName: string,
  key: string,
  problems: string[],
): DatabaseDeployment {
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
  objectSetting(value, key, allowed, problems, "a setting for a new instance");
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
    databaseName,
    deletionProtection: asBoolean(value.deletionProtection) !== false,
  };
}

/** The function's timeout: the longest job deadline plus the margin to record the run's end. */
export function functionTimeoutSeconds(jobs: readonly JobSpec[]): number {
  return Math.min(
    FUNCTION_TIMEOUT_MAX_SECONDS,
    Math.max(60, ...jobs.map((job) => job.attemptDeadlineSeconds)) + FUNCTION_TIMEOUT_MARGIN_SECONDS,
  );
}
