/**
 * The function's configuration: every environment read of the function happens here, once, at cold
 * start, through the environment contract (functions/core/config/environment.ts: each variable's parser). This
 * module adds the rules between variables (a database is one of two kinds, a SendGrid key needs a
 * sender). `parseConfig` takes the environment as a parameter (tests are table-driven) and returns a
 * typed configuration or one precise message per problem. Messages name variables, never secret
 * values: a value may be a connection string with a password in it.
 */
import type { AuthConfig } from "./auth-config.js";
import { defaultClockSkewSeconds } from "./auth-config.js";
import type { TaskDefinition } from "../catalog.js";
import { tasks } from "../catalog.js";
import type { EmailConfig } from "./email-config.js";
import type { Env, IpType } from "./environment.js";
import { isSet, readVariable, requireVariable } from "./environment.js";
import type { Job } from "../schedule/jobs.js";
import { resolveJobs } from "../schedule/jobs.js";

export type { Env, IpType } from "./environment.js";

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
  /** Every task as this deployment schedules it: the catalog with TASK_OVERRIDES applied (`resolveJobs`). */
  readonly jobs: readonly Job[];
}

export interface ParsedConfig {
  readonly config?: FunctionConfig;
  /** Each makes the function refuse every request (fail closed) until the deployment is fixed. */
  readonly problems: string[];
  /** Things that work but are worth a line in the log (email tasks without a key, ...). */
  readonly warnings: string[];
}

/** One part of the configuration: its settings, or none and every problem that stopped them. */
export interface ParsedSection<T> {
  readonly config?: T;
  readonly problems: string[];
}

function section<T>(problems: string[], config: T | undefined): ParsedSection<T> {
  return problems.length > 0 || config === undefined ? { problems } : { config, problems };
}

/** DATABASE_URL, or INSTANCE_CONNECTION_NAME with DB_USER, DB_NAME and DB_IP_TYPE. */
export function parseDatabaseEnv(env: Env): ParsedSection<DatabaseConfig> {
  const problems: string[] = [];
  return section(problems, parseDatabase(env, problems));
}

function parseDatabase(env: Env, problems: string[]): DatabaseConfig | undefined {
  const url = isSet(env, "DATABASE_URL");
  const instance = isSet(env, "INSTANCE_CONNECTION_NAME");
  if (url && instance) {
    problems.push("set either DATABASE_URL or INSTANCE_CONNECTION_NAME (with DB_USER and DB_NAME), not both");
    return undefined;
  }
  if (url) {
    const connectionString = readVariable(env, "DATABASE_URL", problems);
    return connectionString === undefined ? undefined : { kind: "url", connectionString };
  }
  if (instance) {
    const instanceConnectionName = readVariable(env, "INSTANCE_CONNECTION_NAME", problems);
    const user = requireVariable(env, "DB_USER", problems);
    const database = requireVariable(env, "DB_NAME", problems);
    const ipType = readVariable(env, "DB_IP_TYPE", problems);
    if (!instanceConnectionName || !user || !database || !ipType) return undefined;
    return { kind: "cloud-sql", instanceConnectionName, user, database, ipType };
  }
  problems.push(
    "no database configured: set DATABASE_URL, or INSTANCE_CONNECTION_NAME with DB_USER and DB_NAME",
  );
  return undefined;
}

/**
 * AUTH_MODE, AUTH_AUDIENCE, AUTH_ALLOWED_EMAILS and AUTH_CERTS_URL. Fails closed: without an audience
 * or an allowed email there is no `config`, and the function must refuse every request.
 */
export function parseAuthEnv(env: Env): ParsedSection<AuthConfig> {
  const problems: string[] = [];
  const mode = readVariable(env, "AUTH_MODE", problems);
  const audiences = requireVariable(env, "AUTH_AUDIENCE", problems);
  const allowedEmails = requireVariable(env, "AUTH_ALLOWED_EMAILS", problems);
  const certsUrl = readVariable(env, "AUTH_CERTS_URL", problems);
  const config =
    mode && audiences && allowedEmails && certsUrl
      ? {
          mode,
          audiences,
          allowedEmails: new Set(allowedEmails),
          certsUrl,
          clockSkewSeconds: defaultClockSkewSeconds,
        }
      : undefined;
  return section(problems, config);
}

/**
 * The email tasks' settings: EMAIL_TRANSPORT, SENDGRID_API_KEY or SENDGRID_API_KEY_SECRET (a Secret
 * Manager version name), SENDGRID_BASE_URL, MAIL_FROM, OPS_EMAIL and SENDGRID_SECRET_REFRESH_SECONDS.
 * A missing key is not a problem of the function (its SQL tasks run): the email tasks refuse to run.
 */
export function parseEmailEnv(env: Env): ParsedSection<EmailConfig> {
  const problems: string[] = [];
  let key: EmailConfig["key"] = { source: "none" };
  if (isSet(env, "SENDGRID_API_KEY") && isSet(env, "SENDGRID_API_KEY_SECRET")) {
    problems.push("set SENDGRID_API_KEY or SENDGRID_API_KEY_SECRET, not both");
  } else if (isSet(env, "SENDGRID_API_KEY")) {
    const apiKey = readVariable(env, "SENDGRID_API_KEY", problems);
    if (apiKey) key = { source: "env", apiKey };
  } else if (isSet(env, "SENDGRID_API_KEY_SECRET")) {
    const secretVersion = readVariable(env, "SENDGRID_API_KEY_SECRET", problems);
    if (secretVersion) key = { source: "secret-manager", secretVersion };
  }
  const transport = readVariable(env, "EMAIL_TRANSPORT", problems);
  if (transport === "local-mailbox" && key.source !== "none") {
    problems.push(
      "EMAIL_TRANSPORT=local-mailbox sends nothing, yet a SendGrid key is set: unset one of them (the key to keep mail local, EMAIL_TRANSPORT to send)",
    );
  }
  const baseUrl = readVariable(env, "SENDGRID_BASE_URL", problems);
  // Without a key nothing is sent, and the local address does; SendGrid needs a verified sender.
  const mailFrom =
    key.source === "none"
      ? readVariable(env, "MAIL_FROM", problems)
      : requireVariable(env, "MAIL_FROM", problems);
  const opsEmail = readVariable(env, "OPS_EMAIL", problems);
  const secretRefreshSeconds = readVariable(env, "SENDGRID_SECRET_REFRESH_SECONDS", problems);
  const config =
    transport !== undefined && mailFrom !== undefined && secretRefreshSeconds !== undefined
      ? { transport, key, baseUrl, mailFrom, opsEmail, secretRefreshSeconds }
      : undefined;
  return section(problems, config);
}

/** The project id for log lines' trace field: GOOGLE_CLOUD_PROJECT, else GCP_PROJECT. */
export function projectIdOf(env: Env, problems: string[] = []): string | undefined {
  return readVariable(env, "GOOGLE_CLOUD_PROJECT", problems) ?? readVariable(env, "GCP_PROJECT", problems);
}

/** Reads and checks the function's environment. Pure: no connection, no file, no network. */
export function parseConfig(env: Env): ParsedConfig {
  const problems: string[] = [];
  const warnings: string[] = [];
  const database = parseDatabaseEnv(env);
  problems.push(...database.problems);
  const poolMax = readVariable(env, "DB_POOL_MAX", problems);
  const auth = parseAuthEnv(env);
  problems.push(...auth.problems);
  const email = parseEmailEnv(env);
  problems.push(...email.problems);
  const hasEmailTasks = (tasks as readonly TaskDefinition[]).some((task) => task.kind === "email");
  if (hasEmailTasks && email.config?.transport === "sendgrid" && email.config.key.source === "none") {
    warnings.push(
      "neither SENDGRID_API_KEY nor SENDGRID_API_KEY_SECRET is set: the email tasks fail (503) and every email stays queued until a key is configured; the SQL tasks run (EMAIL_TRANSPORT=local-mailbox is the local choice to send nothing)",
    );
  }
  if (hasEmailTasks && email.config?.transport === "local-mailbox") {
    warnings.push(
      "EMAIL_TRANSPORT=local-mailbox: the email tasks send nothing; their messages go to the log and scheduler.local_mailbox",
    );
  }
  const projectId = projectIdOf(env, problems);
  const jobs = parseJobs(env, problems);
  if (
    problems.length > 0 ||
    !database.config ||
    poolMax === undefined ||
    !auth.config ||
    !email.config ||
    !jobs
  ) {
    return { problems, warnings };
  }
  return {
    config: {
      database: database.config,
      poolMax,
      auth: auth.config,
      email: email.config,
      projectId,
      jobs,
    },
    problems,
    warnings,
  };
}

/**
 * The jobs this deployment runs: TASK_OVERRIDES (what the Pulumi program or the local stack resolved
 * from the stack's config) applied to the catalog by the same rule, so the function's lookups,
 * /health and alerts follow the schedule Cloud Scheduler really uses. Undefined with a problem.
 */
export function parseJobs(env: Env, problems: string[]): readonly Job[] | undefined {
  const overrides = readVariable(env, "TASK_OVERRIDES", problems);
  return overrides === undefined ? undefined : resolveJobs(tasks, { overrides }).jobs;
}
