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
import type { HttpTargets } from "./http-targets.js";
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
    }
  | {
      /**
       * A PostgreSQL host (RDS) over TLS verified against the bundled RDS certificate authorities,
       * signing in with a fresh RDS IAM authentication token per connection, made in `region`.
       */
      readonly kind: "rds-iam";
      readonly host: string;
      readonly port: number;
      readonly user: string;
      readonly database: string;
      readonly region: string;
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
  /** The services http tasks may call (HTTP_TARGETS): the only place a call's address comes from. */
  readonly httpTargets: HttpTargets;
}

interface ParsedConfig {
  readonly config?: FunctionConfig;
  /** Each makes the function refuse every request (fail closed) until the deployment is fixed. */
  readonly problems: string[];
  /** Things that work but are worth a line in the log (email tasks without a key, ...). */
  readonly warnings: string[];
}

/** One part of the configuration: its settings, or none and every problem that stopped them. */
interface ParsedSection<T> {
  readonly config?: T;
  readonly problems: string[];
}

function section<T>(problems: string[], config: T | undefined): ParsedSection<T> {
  return problems.length > 0 || config === undefined ? { problems } : { config, problems };
}

/**
 * DATABASE_URL; or INSTANCE_CONNECTION_NAME with DB_USER, DB_NAME and DB_IP_TYPE; or DB_HOST with
 * DB_PORT, DB_USER, DB_NAME, DB_IAM_AUTH and AWS_REGION.
 */
export function parseDatabaseEnv(env: Env): ParsedSection<DatabaseConfig> {
  const problems: string[] = [];
  return section(problems, parseDatabase(env, problems));
}

function parseDatabase(env: Env, problems: string[]): DatabaseConfig | undefined {
  const url = isSet(env, "DATABASE_URL");
  const instance = isSet(env, "INSTANCE_CONNECTION_NAME");
  if (isSet(env, "DB_HOST")) {
    if (!url && !instance) return parseRdsDatabase(env, problems);
    problems.push(
      `set one of DATABASE_URL, INSTANCE_CONNECTION_NAME and DB_HOST, not DB_HOST and ${url ? "DATABASE_URL" : "INSTANCE_CONNECTION_NAME"}`,
    );
    return undefined;
  }
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
    "no database configured: set DATABASE_URL, or INSTANCE_CONNECTION_NAME with DB_USER and DB_NAME, or DB_HOST with DB_USER, DB_NAME and DB_IAM_AUTH=true",
  );
  return undefined;
}

/**
 * DB_HOST signs in with an RDS IAM token only: a password in the function's environment would be
 * readable by anyone who may read its configuration, and the token needs none.
 */
function parseRdsDatabase(env: Env, problems: string[]): DatabaseConfig | undefined {
  const host = readVariable(env, "DB_HOST", problems);
  const port = readVariable(env, "DB_PORT", problems);
  const iamAuth = readVariable(env, "DB_IAM_AUTH", problems);
  const missing = (name: string) =>
    `${name} is not set (with DB_HOST: ${name === "DB_USER" ? "the IAM database user" : "the database to use"})`;
  const user = isSet(env, "DB_USER")
    ? readVariable(env, "DB_USER", problems)
    : void problems.push(missing("DB_USER"));
  const database = isSet(env, "DB_NAME")
    ? readVariable(env, "DB_NAME", problems)
    : void problems.push(missing("DB_NAME"));
  if (iamAuth === false) {
    problems.push(
      "DB_HOST signs in with RDS IAM authentication only: set DB_IAM_AUTH=true (or use DATABASE_URL)",
    );
  }
  const region = iamAuth ? requireVariable(env, "AWS_REGION", problems) : undefined;
  if (!host || port === undefined || !iamAuth || !user || !database || !region) return undefined;
  return { kind: "rds-iam", host, port, user, database, region };
}

/**
 * AUTH_MODE, AUTH_AUDIENCE, AUTH_ALLOWED_EMAILS, OPERATOR_EMAILS and AUTH_CERTS_URL. Fails closed:
 * without an audience or an allowed email there is no `config`, and the function must refuse every
 * request. An account both allowed and an operator is refused: the scheduler's account must not
 * be able to pause what it runs.
 */
export function parseAuthEnv(env: Env): ParsedSection<AuthConfig> {
  const problems: string[] = [];
  const mode = readVariable(env, "AUTH_MODE", problems);
  const audiences = requireVariable(env, "AUTH_AUDIENCE", problems);
  const allowedEmails = requireVariable(env, "AUTH_ALLOWED_EMAILS", problems);
  const operatorEmails = readVariable(env, "OPERATOR_EMAILS", problems) ?? [];
  const both = operatorEmails.filter((email) => allowedEmails?.includes(email));
  if (both.length > 0) {
    problems.push(
      `OPERATOR_EMAILS lists ${both.join(", ")}, which AUTH_ALLOWED_EMAILS lists too: an operator is a person, not the scheduler's account (which may run tasks, not pause them)`,
    );
  }
  const certsUrl = readVariable(env, "AUTH_CERTS_URL", problems);
  const config =
    mode && audiences && allowedEmails && certsUrl && both.length === 0
      ? {
          mode,
          audiences,
          allowedEmails: new Set(allowedEmails),
          operatorEmails: new Set(operatorEmails),
          certsUrl,
          clockSkewSeconds: defaultClockSkewSeconds,
        }
      : undefined;
  return section(problems, config);
}

/**
 * The email tasks' settings: EMAIL_TRANSPORT, one of SENDGRID_API_KEY, SENDGRID_API_KEY_SECRET (a
 * Secret Manager version name) and SENDGRID_API_KEY_SECRET_ARN (a Secrets Manager secret),
 * SENDGRID_BASE_URL, MAIL_FROM, OPS_EMAIL and SENDGRID_SECRET_REFRESH_SECONDS.
 * A missing key is not a problem of the function (its SQL tasks run): the email tasks refuse to run.
 */
export function parseEmailEnv(env: Env): ParsedSection<EmailConfig> {
  const problems: string[] = [];
  const key = parseKeySource(env, problems);
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

const keyVariables = ["SENDGRID_API_KEY", "SENDGRID_API_KEY_SECRET", "SENDGRID_API_KEY_SECRET_ARN"] as const;

/** Where the SendGrid key comes from: at most one of the three variables names it. */
function parseKeySource(env: Env, problems: string[]): EmailConfig["key"] {
  const set = keyVariables.filter((name) => isSet(env, name));
  if (set.length > 1) {
    problems.push(
      set.length === 2 && !set.includes("SENDGRID_API_KEY_SECRET_ARN")
        ? "set SENDGRID_API_KEY or SENDGRID_API_KEY_SECRET, not both"
        : `set one of ${keyVariables.join(", ")}, not ${set.join(" and ")}`,
    );
    return { source: "none" };
  }
  if (set[0] === "SENDGRID_API_KEY") {
    const apiKey = readVariable(env, "SENDGRID_API_KEY", problems);
    if (apiKey) return { source: "env", apiKey };
  } else if (set[0] === "SENDGRID_API_KEY_SECRET") {
    const secretVersion = readVariable(env, "SENDGRID_API_KEY_SECRET", problems);
    if (secretVersion) return { source: "secret-manager", secretVersion };
  } else if (set[0] === "SENDGRID_API_KEY_SECRET_ARN") {
    const secretArn = readVariable(env, "SENDGRID_API_KEY_SECRET_ARN", problems);
    if (secretArn) return { source: "secrets-manager", secretArn };
  }
  return { source: "none" };
}

/** What works but is worth a line in the log: the email tasks without a key, or sending nothing. */
export function emailWarnings(email: EmailConfig | undefined): string[] {
  const hasEmailTasks = (tasks as readonly TaskDefinition[]).some((task) => task.kind === "email");
  if (!hasEmailTasks || !email) return [];
  if (email.transport === "sendgrid" && email.key.source === "none") {
    return [
      `none of ${keyVariables.join(", ")} is set: the email tasks fail (503) and every email stays queued until a key is configured; the SQL tasks run (EMAIL_TRANSPORT=local-mailbox is the local choice to send nothing)`,
    ];
  }
  if (email.transport === "local-mailbox") {
    return [
      "EMAIL_TRANSPORT=local-mailbox: the email tasks send nothing; their messages go to the log and scheduler.local_mailbox",
    ];
  }
  return [];
}

/** The project id for log lines' trace field: GOOGLE_CLOUD_PROJECT, else GCP_PROJECT. */
export function projectIdOf(env: Env, problems: string[] = []): string | undefined {
  return readVariable(env, "GOOGLE_CLOUD_PROJECT", problems) ?? readVariable(env, "GCP_PROJECT", problems);
}

/** Reads and checks the function's environment. Pure: no connection, no file, no network. */
export function parseConfig(env: Env): ParsedConfig {
  const problems: string[] = [];
  const database = parseDatabaseEnv(env);
  problems.push(...database.problems);
  const poolMax = readVariable(env, "DB_POOL_MAX", problems);
  const auth = parseAuthEnv(env);
  problems.push(...auth.problems);
  const email = parseEmailEnv(env);
  problems.push(...email.problems);
  const warnings = emailWarnings(email.config);
  const projectId = projectIdOf(env, problems);
  const jobs = parseJobs(env, problems);
  const httpTargets = readVariable(env, "HTTP_TARGETS", problems);
  if (
    problems.length > 0 ||
    !database.config ||
    poolMax === undefined ||
    !auth.config ||
    !email.config ||
    !jobs ||
    !httpTargets
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
      httpTargets,
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
