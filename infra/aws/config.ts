/**
 * An AWS stack's configuration: the shared keys (../config.ts) and AWS's own, the region, the
 * Lambda function, its VPC subnets and security groups, and the RDS instance (created, or an
 * existing one), each checked against what AWS accepts, with the key and the cause in every problem.
 */
import { fileURLToPath } from "node:url";
// Config alone, not the SDK's index: `plan` runs these checks, and the index loads the whole runtime.
import { Config } from "@pulumi/pulumi/config.js";
import type { TaskDefinition } from "../../functions/core/catalog.js";
import { tasks } from "../../functions/core/catalog.js";
import { batchTimeoutMs } from "../../functions/core/run/batch-sizing.js";
import type { JobSpec, RawConfig, SharedConfig } from "../config.js";
import {
  acceptedByFunction,
  asBoolean,
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
import { toAwsCron } from "./cron.js";
import { deadManProblems } from "./dead-man.js";
import { awsTargetProblems } from "./http-targets.js";

/** Lambda runs a function for at most 900 s (https://docs.aws.amazon.com/lambda/latest/dg/configuration-timeout.html). */
export const LAMBDA_TIMEOUT_MAX_SECONDS = 900;
/** Lambda's memory setting, in MB (https://docs.aws.amazon.com/lambda/latest/dg/configuration-memory.html). */
const LAMBDA_MEMORY_MB = { min: 128, max: 10240 } as const;
/** A function's VPC configuration takes up to 16 subnets and 5 security groups (Lambda's VpcConfig). */
const MAX_SUBNETS = 16;
const MAX_SECURITY_GROUPS = 5;

/** The directory `npm run build` writes the Lambda bundle to, relative to the repository root. */
const DEFAULT_LAMBDA_SOURCE_DIR = "dist/lambda";
const repositoryRoot = new URL("../../", import.meta.url);

/** A job on EventBridge Scheduler: the stack's job and its schedule in AWS's cron form. */
export interface AwsJobSpec extends JobSpec {
  /** `cron(...)`, from `toAwsCron`. */
  readonly expression: string;
}

export interface LambdaDeployment {
  readonly name: string;
  readonly memoryMb: number;
  /** The longest run of any scheduled task plus the margin to record its end, at most 900 s. */
  readonly timeoutSeconds: number;
  /** The directory `npm run build` writes the Lambda bundle to (absolute). */
  readonly sourceDir: string;
}

export interface NetworkDeployment {
  readonly subnetIds: readonly string[];
  readonly securityGroupIds: readonly string[];
  /** The VPC of the subnets; needed to create the database's security group. */
  readonly vpcId: string | undefined;
}

export type RdsDeployment =
  | {
      readonly mode: "create";
      readonly instanceIdentifier: string;
      readonly instanceClass: string;
      readonly engineVersion: string;
      readonly allocatedStorageGb: number;
      readonly databaseName: string;
      readonly databaseUser: string;
      readonly deletionProtection: boolean;
    }
  | {
      readonly mode: "existing";
      readonly instanceIdentifier: string;
      readonly databaseName: string;
      readonly databaseUser: string;
    };

export interface AwsStackConfig extends SharedConfig {
  readonly region: string;
  readonly jobs: readonly AwsJobSpec[];
  readonly lambda: LambdaDeployment;
  readonly network: NetworkDeployment;
  readonly rds: RdsDeployment;
}

const OBJECT_KEYS = ["taskOverrides", "deadMan", "lambda", "network", "rds"] as const;
/** Google's keys: on an AWS stack, a sign of a stack file meant for the other cloud. */
const GOOGLE_KEYS = ["function", "database", "absenceAlertMaxIntervalMinutes"] as const;

/** Every `scheduled-jobs:` key an AWS stack reads. */
export const AWS_CONFIG_KEYS: readonly string[] = [
  "cloud",
  ...SHARED_STRING_KEYS,
  ...new Set([...SHARED_OBJECT_KEYS, ...OBJECT_KEYS]),
  "sendgridApiKey",
];

/** Reads `aws:region` and `scheduled-jobs:*` config and validates it. */
export function loadAwsConfig(): AwsStackConfig {
  return resolveAwsConfig({
    region: new Config("aws").get("region"),
    ...loadRaw([...new Set([...SHARED_OBJECT_KEYS, ...OBJECT_KEYS, ...GOOGLE_KEYS])], SHARED_STRING_KEYS),
  });
}

/** Validates raw config against the catalog; throws one StackConfigError listing every problem. */
export function resolveAwsConfig(raw: RawConfig, catalog: readonly TaskDefinition[] = tasks): AwsStackConfig {
  const problems: string[] = [];
  const region = requireString(raw.region, "aws:region", problems);
  for (const key of GOOGLE_KEYS) {
    if (raw[key] !== undefined && raw[key] !== null) {
      problems.push(
        `scheduled-jobs:${key} is a Google setting; an AWS stack (scheduled-jobs:cloud aws) takes scheduled-jobs:lambda, scheduled-jobs:network and scheduled-jobs:rds (docs/aws.md)`,
      );
    }
  }
  const shared = resolveShared(raw, catalog, problems);
  const jobs = awsJobs(shared.jobs, problems);
  const lambda = resolveLambda(raw.lambda, jobs, shared.prefix, problems);
  const rds = resolveRds(raw.rds, shared.prefix, problems);
  const network = resolveNetwork(raw.network, rds?.mode === "create", problems);
  problems.push(...deadManProblems(shared.deadManJobs, shared.sendsEmail));
  problems.push(...awsTargetProblems(shared.httpTargets));
  if (problems.length > 0 || !lambda || !rds || !network) throw new StackConfigError(problems);
  return { ...shared, region: region!, jobs, lambda, network, rds };
}

/** The jobs with their AWS schedules; what AWS cannot run is a problem naming the task. */
function awsJobs(jobs: readonly JobSpec[], problems: string[]): AwsJobSpec[] {
  const result: AwsJobSpec[] = [];
  for (const job of jobs) {
    const where = `task "${job.name}"${job.overridden.length > 0 ? ` (with scheduled-jobs:taskOverrides.${job.name})` : ""}`;
    if (job.overridden.includes("attemptDeadlineSeconds")) {
      problems.push(
        `scheduled-jobs:taskOverrides.${job.name}.attemptDeadlineSeconds is Cloud Scheduler's attempt deadline; EventBridge Scheduler has none (the Lambda's timeout covers every task's run)`,
      );
    }
    const cron = toAwsCron(job.schedule);
    if ("problem" in cron) {
      problems.push(
        `${where}: schedule "${job.schedule}" cannot run on EventBridge Scheduler: it ${cron.problem}`,
      );
      continue;
    }
    const bound = runBoundSeconds(job);
    if (bound + FUNCTION_TIMEOUT_MARGIN_SECONDS > LAMBDA_TIMEOUT_MAX_SECONDS) {
      problems.push(
        `${where}: a run may take ${bound} s (its timeoutSeconds${job.batch ? "; its batches are not sized by time" : ""}), and Lambda stops a function at ${LAMBDA_TIMEOUT_MAX_SECONDS} s, ${FUNCTION_TIMEOUT_MARGIN_SECONDS} s too soon to record how the run ended: lower its timeoutSeconds in the catalog, or give it a batch budget`,
      );
    }
    result.push({ ...job, expression: cron.expression });
  }
  return result;
}

/**
 * The longest a run of the task takes. A task whose batches are sized by time stops starting
 * batches at its time budget, and each batch runs under its own short statement timeout
 * (functions/core/run/batches.ts): its run ends within the budget and one batch, however long its
 * catalog timeout (the per-statement cap, and Cloud Scheduler's attempt deadline on Google). Any
 * other task may take its whole timeout.
 */
export function runBoundSeconds(task: TaskDefinition): number {
  const batchMs = task.batch ? batchTimeoutMs(task.batch, task.timeoutSeconds * 1000) : undefined;
  if (!task.batch || batchMs === undefined) return task.timeoutSeconds;
  return Math.min(task.timeoutSeconds, task.batch.timeBudgetSeconds + Math.ceil(batchMs / 1000));
}

function resolveLambda(
  raw: unknown,
  jobs: readonly AwsJobSpec[],
  prefix: string,
  problems: string[],
): LambdaDeployment | undefined {
  const key = "scheduled-jobs:lambda";
  const value = objectSetting(raw, key, ["name", "memoryMb", "timeoutSeconds", "sourceDir"], problems);
  if (!value) return undefined;
  const name = stringField(value, "name", key, problems) ?? `${prefix}-tasks`;
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(name)) {
    problems.push(
      `${key}.name "${name}" must be 1 to 64 letters, digits, hyphens or underscores (a Lambda function's name)`,
    );
  }
  const memoryMb =
    integerField(value, "memoryMb", key, LAMBDA_MEMORY_MB.min, LAMBDA_MEMORY_MB.max, problems) ?? 512;
  const needed = Math.max(60, ...jobs.map((job) => runBoundSeconds(job) + FUNCTION_TIMEOUT_MARGIN_SECONDS));
  const timeoutSeconds =
    integerField(value, "timeoutSeconds", key, 1, LAMBDA_TIMEOUT_MAX_SECONDS, problems) ??
    Math.min(needed, LAMBDA_TIMEOUT_MAX_SECONDS);
  if (timeoutSeconds < Math.min(needed, LAMBDA_TIMEOUT_MAX_SECONDS)) {
    problems.push(
      `${key}.timeoutSeconds ${timeoutSeconds} is shorter than the longest run of a scheduled task and the time to record its end (${needed} s)`,
    );
  }
  const sourceDir = stringField(value, "sourceDir", key, problems) ?? DEFAULT_LAMBDA_SOURCE_DIR;
  return {
    name,
    memoryMb,
    timeoutSeconds,
    sourceDir: fileURLToPath(new URL(sourceDir, repositoryRoot)).replace(/\/$/, ""),
  };
}

/** A list of AWS ids (`subnet-…`, `sg-…`) in config: an array, or one comma-separated string. */
function idList(value: unknown, key: string, prefix: string, max: number, problems: string[]): string[] {
  const items = typeof value === "string" ? value.split(",").map((item) => item.trim()) : value;
  if (!Array.isArray(items) || items.length === 0 || items.length > max) {
    problems.push(`${key} is required: a list of 1 to ${max} ${prefix}… ids`);
    return [];
  }
  const ids = items.map(String);
  for (const id of ids) {
    if (!new RegExp(`^${prefix}[0-9a-f]{8,17}$`).test(id))
      problems.push(`${key}: "${id}" is not a ${prefix}… id`);
  }
  return ids;
}

function resolveNetwork(
  raw: unknown,
  createsDatabase: boolean,
  problems: string[],
): NetworkDeployment | undefined {
  const key = "scheduled-jobs:network";
  if (raw === undefined || raw === null) {
    problems.push(
      `${key} is required: {"subnetIds": ["subnet-…"], "securityGroupIds": ["sg-…"]} for the function's VPC access (private subnets whose route to the internet is a NAT gateway, for SendGrid; docs/aws.md)`,
    );
    return undefined;
  }
  const value = objectSetting(raw, key, ["subnetIds", "securityGroupIds", "vpcId"], problems);
  if (!value) return undefined;
  const subnetIds = idList(value.subnetIds, `${key}.subnetIds`, "subnet-", MAX_SUBNETS, problems);
  const securityGroupIds = idList(
    value.securityGroupIds,
    `${key}.securityGroupIds`,
    "sg-",
    MAX_SECURITY_GROUPS,
    problems,
  );
  const vpcId = stringField(value, "vpcId", key, problems);
  if (vpcId !== undefined && !/^vpc-[0-9a-f]{8,17}$/.test(vpcId))
    problems.push(`${key}.vpcId "${vpcId}" is not a vpc-… id`);
  if (createsDatabase) {
    if (vpcId === undefined) {
      problems.push(
        `${key}.vpcId is required when scheduled-jobs:rds.create is true (the new instance's security group is made in it)`,
      );
    }
    // An RDS DB subnet group spans at least two Availability Zones.
    if (subnetIds.length === 1) {
      problems.push(
        `${key}.subnetIds: a new RDS instance's subnet group needs subnets in at least two Availability Zones; one is given`,
      );
    }
  }
  return { subnetIds, securityGroupIds, vpcId };
}

function resolveRds(raw: unknown, prefix: string, problems: string[]): RdsDeployment | undefined {
  const key = "scheduled-jobs:rds";
  if (raw === undefined || raw === null || typeof raw !== "object" || Array.isArray(raw)) {
    problems.push(
      `${key} is required: {"instanceIdentifier": "...", "databaseName": "..."} for an existing RDS for PostgreSQL instance, or {"create": true, "databaseName": "..."} for a new one`,
    );
    return undefined;
  }
  const value = raw as Record<string, unknown>;
  const create = asBoolean(value.create) === true;
  const databaseName = stringField(value, "databaseName", key, problems);
  if (databaseName === undefined) problems.push(`${key}.databaseName is required`);
  else acceptedByFunction("DB_NAME", databaseName, `${key}.databaseName`, problems);
  const databaseUser = stringField(value, "databaseUser", key, problems) ?? "scheduled_jobs";
  // Created by `npm run migrate` with `GRANT rds_iam`, and named in the role's rds-db:connect ARN.
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(databaseUser)) {
    problems.push(
      `${key}.databaseUser "${databaseUser}" must be a lowercase PostgreSQL name (letters, digits, underscores)`,
    );
  } else acceptedByFunction("DB_USER", databaseUser, `${key}.databaseUser`, problems);
  const identifier =
    stringField(value, "instanceIdentifier", key, problems) ?? (create ? `${prefix}-db` : undefined);
  if (identifier === undefined) {
    problems.push(`${key}: set "instanceIdentifier" (an existing instance) or "create": true`);
    return undefined;
  }
  if (!/^[a-z][a-z0-9]*(-[a-z0-9]+)*$/.test(identifier) || identifier.length > 63) {
    problems.push(
      `${key}.instanceIdentifier "${identifier}" must be 1 to 63 lowercase letters, digits or single hyphens, starting with a letter`,
    );
  }
  const common = { instanceIdentifier: identifier, databaseName: databaseName ?? "", databaseUser };
  if (!create) {
    objectSetting(
      value,
      key,
      ["instanceIdentifier", "databaseName", "databaseUser", "create"],
      problems,
      "a setting for an existing instance",
    );
    return { mode: "existing", ...common };
  }
  const allowed = [
    "create",
    "instanceIdentifier",
    "instanceClass",
    "engineVersion",
    "allocatedStorageGb",
    "databaseName",
    "databaseUser",
    "deletionProtection",
  ];
  objectSetting(value, key, allowed, problems, "a setting for a new instance");
  const engineVersion = stringField(value, "engineVersion", key, problems) ?? "17";
  if (!/^\d+(\.\d+)?$/.test(engineVersion))
    problems.push(`${key}.engineVersion "${engineVersion}" must be a PostgreSQL version such as 17 or 17.4`);
  const instanceClass = stringField(value, "instanceClass", key, problems) ?? "db.t4g.micro";
  if (!/^db\.[a-z0-9]+\.[a-z0-9]+$/.test(instanceClass))
    problems.push(`${key}.instanceClass "${instanceClass}" must look like db.t4g.micro`);
  return {
    mode: "create",
    ...common,
    instanceClass,
    engineVersion,
    // RDS for PostgreSQL on General Purpose SSD takes 20 GiB to 65,536 GiB.
    allocatedStorageGb: integerField(value, "allocatedStorageGb", key, 20, 65536, problems) ?? 20,
    deletionProtection: asBoolean(value.deletionProtection) !== false,
  };
}
