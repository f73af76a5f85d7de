/**
 * The function's configuration: every environment read of the function happens here, once, at cold
 * start. `parseConfig` takes the environment as a parameter (tests are table-driven) and returns a
 * typed configuration or one precise message per problem. Messages name variables, never values:
 * a value may be a connection string with a password in it.
 */
import type { AuthConfig } from "./auth.js";
import { parseAuthEnv } from "./auth.js";
import type { TaskDefinition } from "./catalog.js";
import { tasks } from "./catalog.js";
import type { EmailConfig } from "./email/config.js";
import { EmailConfigError, parseEmailEnv } from "./email/config.js";
import type { Job } from "./jobs.js";
import { resolveJobs } from "./jobs.js";

export type Env = Readonly<Record<string, string | undefined>>;

/** How the function reaches PostgreSQL. */
export type DatabaseConfig =
  | { readonly kind: "url"; readonly connectionString: string }
  | {
      /** Cloud SQL through the Cloud SQL Node.js Connector, with IAM database authentication. */
      readonly kind: "cloud-sql";
      readonly instanceConnectionName: string;
      readonly user: string;
      readonly database: string;
      readonly ipType: IpType;
    };

export interface FunctionConfig {
  readonly database: DatabaseConfig;
  /** Connections per instance: the requests one instance serves at once, plus one to record a run's end. */
  readonly poolMax: number;
  readonly auth: AuthConfig;
  readonly email: EmailConfig;
  /** For the trace field of log lines (`projects/<id>/traces/<trace>`). */
  readonly projectId: string | undefined;
  /** Every task as this deployment schedules it (the catalog with TASK_OVERRIDES applied). */
  readonly jobs: readonly Job[];
}

export interface ParsedConfig {
  readonly config?: FunctionConfig;
  /** Each makes the function refuse every request (fail closed) until the deployment is fixed. */
  readonly problems: string[];
  /** Things that work but are worth a line in the log (email tasks without a key, ...). */
  readonly warnings: string[];
}

const DEFAULT_POOL_MAX = 2;
const MAX_POOL_MAX = 50;
const instanceConnectionNamePattern = /^[a-z0-9][a-z0-9.:-]*:[a-z0-9-]+:[a-z0-9][a-z0-9-]*$/i;
const ipTypes = ["PUBLIC", "PRIVATE", "PSC"] as const;
export type IpType = (typeof ipTypes)[number];

function value(env: Env, name: string): string | undefined {
  const raw = env[name];
  if (raw === undefined) return undefined;
  const trimmed = raw.trim();
  return trimmed === "" ? undefined : trimmed;
}

function parseDatabase(env: Env, problems: string[]): DatabaseConfig | undefined {
  const url = value(env, "DATABASE_URL");
  const instance = value(env, "INSTANCE_CONNECTION_NAME");
  if (url && instance) {
    problems.push("set either DATABASE_URL or INSTANCE_CONNECTION_NAME (with DB_USER and DB_NAME), not both");
    return undefined;
  }
  if (url) {
    let parsed: URL | undefined;
    try {
      parsed = new URL(url);
    } catch {
      parsed = undefined;
    }
    if (!parsed || (parsed.protocol !== "postgres:" && parsed.protocol !== "postgresql:")) {
      problems.push("DATABASE_URL is not a postgres:// or postgresql:// URL");
      return undefined;
    }
    if (!parsed.hostname && !parsed.searchParams.get("host")) {
      problems.push("DATABASE_URL names no host");
      return undefined;
    }
    return { kind: "url", connectionString: url };
  }
  if (instance) {
    const before = problems.length;
    if (!instanceConnectionNamePattern.test(instance)) {
      problems.push("INSTANCE_CONNECTION_NAME must look like <project>:<region>:<instance>");
    }
    const user = value(env, "DB_USER");
    const database = value(env, "DB_NAME");
    if (!user) {
      problems.push(
        "DB_USER is not set (with INSTANCE_CONNECTION_NAME: the IAM database user, e.g. the service account email without .gserviceaccount.com)",
      );
    }
    if (!database) problems.push("DB_NAME is not set (with INSTANCE_CONNECTION_NAME: the database to use)");
    // PUBLIC works from a function without a VPC connector; the connector still encrypts and
    // authorises the connection with IAM, the instance needs no authorised networks.
    const ipType = (value(env, "DB_IP_TYPE") ?? "PUBLIC").toUpperCase();
    if (!(ipTypes as readonly string[]).includes(ipType)) {
      problems.push(`DB_IP_TYPE must be one of ${ipTypes.join(", ")}`);
    }
    if (problems.length > before || !user || !database) return undefined;
    return {
      kind: "cloud-sql",
      instanceConnectionName: instance,
      user,
      database,
      ipType: ipType as IpType,
    };
  }
  problems.push(
    "no database configured: set DATABASE_URL, or INSTANCE_CONNECTION_NAME with DB_USER and DB_NAME",
  );
  return undefined;
}

function parsePoolMax(env: Env, problems: string[]): number {
  const raw = value(env, "DB_POOL_MAX");
  if (raw === undefined) return DEFAULT_POOL_MAX;
  const parsed = /^\d+$/.test(raw) ? Number(raw) : NaN;
  if (!Number.isInteger(parsed) || parsed < 1 || parsed > MAX_POOL_MAX) {
    problems.push(`DB_POOL_MAX must be a whole number from 1 to ${MAX_POOL_MAX}`);
    return DEFAULT_POOL_MAX;
  }
  return parsed;
}

/** The email tasks' settings, by their own parser (pure, like this one). */
function parseEmail(env: Env, problems: string[], warnings: string[]): EmailConfig | undefined {
  let email: EmailConfig;
  try {
    email = parseEmailEnv(env);
  } catch (error) {
    if (!(error instanceof EmailConfigError)) throw error;
    problems.push(...error.problems);
    return undefined;
  }
  const hasEmailTasks = (tasks as readonly TaskDefinition[]).some((task) => task.kind === "email");
  if (hasEmailTasks && email.key.source === "none") {
    warnings.push(
      "neither SENDGRID_API_KEY nor SENDGRID_API_KEY_SECRET is set: email tasks write their messages to the log and the local mailbox instead of sending them",
    );
  }
  return email;
}

/**
 * TASK_OVERRIDES: a JSON object {taskName: {schedule?, timeZone?, paused?, attemptDeadlineSeconds?}},
 * what the Pulumi program (or the local stack) resolved from the stack's config. The function
 * resolves it again with the same rule (`resolveJobs`), so its lookups, /health and alerts follow
 * the schedule Cloud Scheduler really uses.
 */
export function parseScheduleOverrides(env: Env, problems: string[]): readonly Job[] {
  const raw = value(env, "TASK_OVERRIDES");
  let overrides: unknown;
  if (raw !== undefined) {
    try {
      overrides = JSON.parse(raw);
    } catch {
      problems.push("TASK_OVERRIDES is not valid JSON");
    }
  }
  const resolved = resolveJobs(tasks, { overrides, source: "TASK_OVERRIDES" });
  problems.push(...resolved.problems);
  return resolved.jobs;
}

/** Reads and checks the function's environment. Pure: no connection, no file, no network. */
export function parseConfig(env: Env): ParsedConfig {
  const problems: string[] = [];
  const warnings: string[] = [];
  const database = parseDatabase(env, problems);
  const poolMax = parsePoolMax(env, problems);
  const auth = parseAuthEnv(env);
  problems.push(...auth.problems);
  const email = parseEmail(env, problems, warnings);
  const projectId = value(env, "GOOGLE_CLOUD_PROJECT") ?? value(env, "GCP_PROJECT");
  const jobs = parseScheduleOverrides(env, problems);
  if (problems.length > 0 || !database || !auth.config || !email) return { problems, warnings };
  return {
    config: { database, poolMax, auth: auth.config, email, projectId, jobs },
    problems,
    warnings,
  };
}
