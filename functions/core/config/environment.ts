/**
 * The function's environment contract: one table of every variable the function reads, each with
 * the parser the function itself reads it with, the writer that turns a typed value into its text,
 * one line of documentation, and whether it is secret, required or defaulted. Modelled on
 * functions-framework's `src/options.ts` (one table of options: flag, env var, default, validator).
 *
 * The function reads through it (functions/core/config/function-config.ts); the Pulumi program (infra/gcp/function.ts), the
 * local stack (scripts/local/local-stack.ts), the benchmarks and the tests write through it, and infra
 * checks the stack's values with these parsers, so a stack that deploys is one the function accepts.
 * docs/configuration.md is generated from it (`npm run docs:generate`).
 *
 * It loads at every cold start: it imports only dependency-free parts of the core (the catalog,
 * the jobs rule, string rules), no package, and does no I/O.
 */
import type { AuthMode } from "./auth-config.js";
import { asciiLowerCase, quoted } from "../text.js";
import type { JobOverrides } from "../schedule/jobs.js";
import { overridesOf, resolveJobs } from "../schedule/jobs.js";
import { tasks } from "../catalog.js";
import { scheduleGroupArnPattern, secretArnPattern } from "./arns.js";
import type { HttpTargets } from "./http-targets.js";
import { parseHttpTargets } from "./http-targets.js";

export type Env = Readonly<Record<string, string | undefined>>;

/** The sections of docs/configuration.md, in order. */
export const groups = {
  database: "Database",
  auth: "Authentication of callers",
  email: "Email tasks",
  schedule: "Schedules",
  http: "HTTP tasks",
  platform: "Platform",
} as const;
export type Group = keyof typeof groups;

export interface Variable<T> {
  readonly name: string;
  readonly group: Group;
  /** One line for docs/configuration.md (Markdown, like `required`, `unset` and `deployed`). */
  readonly doc: string;
  /**
   * A credential, or text that may hold one (a connection string's password): no problem quotes its
   * value, and the Pulumi program never deploys it as plain text.
   */
  readonly secret: boolean;
  /** When the function refuses to start without it: "yes", "no" or the condition. */
  readonly required: string;
  /** The value an unset variable means. */
  readonly default?: T;
  /** What an unset variable means, where the default alone does not say it. */
  readonly unset?: string;
  /** What the Pulumi program sets it to; absent when the deployed function does not have it. */
  readonly deployed?: string;
  /** The one cloud whose stacks deploy it (Google's function or AWS's Lambda); both when absent. */
  readonly deployedOn?: "gcp" | "aws";
  /** A value the function accepts (for the docs, and the tests' round trip). */
  readonly example: string;
  /** The problem when it is required and unset. */
  readonly missing?: string;
  /**
   * Reads the text of a set variable (trimmed, never empty) as the function does; each problem goes
   * to `problems`, naming the variable, and then the result is not to be used.
   */
  parse(text: string, problems: string[]): T | undefined;
  /** The text that the function reads back as `value`. */
  write(value: T): string;
  /** True for a value that means the same as unset: writers leave the variable out. */
  omit?(value: T): boolean;
}

type Definition<T> = Omit<Variable<T>, "name">;

function define<T>(definition: Definition<T>): Definition<T> {
  return definition;
}

/** Google's OAuth2 signing certificates in PEM format (a JSON object, kid → X.509 certificate). */
export const googleCertsUrl = "https://www.googleapis.com/oauth2/v1/certs";

/** A development address: where mail would come from locally when MAIL_FROM is unset and nothing is sent. */
const LOCAL_MAIL_FROM = "scheduled-jobs@localhost.localdomain";

const authModes = ["verify", "cloud-run"] as const satisfies readonly AuthMode[];
const emailTransports = ["sendgrid", "local-mailbox"] as const;
/** Where the email tasks' messages go: SendGrid, or (an explicit local choice) the local mailbox. */
export type EmailTransportChoice = (typeof emailTransports)[number];
const ipTypes = ["PUBLIC", "PRIVATE", "PSC"] as const;
export type IpType = (typeof ipTypes)[number];

const MAX_POOL_MAX = 50;

const emailPattern = /^[^\s@<>(),;:"]+@[^\s@<>(),;:"]+\.[^\s@<>(),;:"]+$/;
const secretVersionPattern = /^projects\/[^/\s]+\/secrets\/[^/\s]+\/versions\/[^/\s]+$/;
const instanceConnectionNamePattern = /^[a-z0-9][a-z0-9.:-]*:[a-z0-9-]+:[a-z0-9][a-z0-9-]*$/i;
const loopbackHosts = new Set(["localhost", "127.0.0.1", "[::1]"]);
/** A DNS name or an IPv4 address: what an RDS endpoint is. */
const hostPattern =
  /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

/** The one address rule: what SendGrid takes as a sender and what the function takes anywhere. */
export function isEmailAddress(value: string): boolean {
  return emailPattern.test(value);
}

function listOf(text: string): string[] {
  return text
    .split(",")
    .map((item) => item.trim())
    .filter((item) => item !== "");
}

function urlOf(text: string): URL | undefined {
  try {
    return new URL(text);
  } catch {
    return undefined;
  }
}

/** Runs checks that push problems; the value only when none did. */
function checked<T>(problems: string[], check: () => T): T | undefined {
  const before = problems.length;
  const value = check();
  return problems.length > before ? undefined : value;
}

const asText = (value: string): string => value;

const noAudience =
  "AUTH_AUDIENCE is not set: set it to the audience of the scheduler's ID tokens (the function's URL); " +
  "without it every request is refused";
const noAllowedEmails =
  "AUTH_ALLOWED_EMAILS is not set: list the service account emails allowed to call the function " +
  "(comma-separated); without it every request is refused";

const definitions = {
  DATABASE_URL: define<string>({
    group: "database",
    doc: "A PostgreSQL connection string (local runs, tests, a database outside Cloud SQL and RDS).",
    secret: true,
    required: "one of this, `INSTANCE_CONNECTION_NAME` and `DB_HOST`",
    example: "postgres://scheduler@127.0.0.1:5432/delivery_app",
    parse(text, problems) {
      const url = urlOf(text);
      if (!url || (url.protocol !== "postgres:" && url.protocol !== "postgresql:")) {
        problems.push("DATABASE_URL is not a postgres:// or postgresql:// URL");
        return undefined;
      }
      if (!url.hostname && !url.searchParams.get("host")) {
        problems.push("DATABASE_URL names no host");
        return undefined;
      }
      return text;
    },
    write: asText,
  }),
  INSTANCE_CONNECTION_NAME: define<string>({
    group: "database",
    doc: "The Cloud SQL instance (`<project>:<region>:<instance>`), reached through the Cloud SQL Node.js Connector with IAM database authentication.",
    secret: false,
    required: "one of this, `DATABASE_URL` and `DB_HOST`",
    deployed: "the stack's instance (`scheduled-jobs:database`)",
    deployedOn: "gcp",
    example: "my-project:europe-west1:delivery-db",
    parse(text, problems) {
      if (instanceConnectionNamePattern.test(text)) return text;
      problems.push("INSTANCE_CONNECTION_NAME must look like <project>:<region>:<instance>");
      return undefined;
    },
    write: asText,
  }),
  DB_USER: define<string>({
    group: "database",
    doc: "The IAM database user: on Cloud SQL the runtime service account's email without `.gserviceaccount.com`; on RDS the user granted `rds_iam`.",
    secret: false,
    required: "with `INSTANCE_CONNECTION_NAME` or `DB_HOST`",
    deployed: "the runtime's IAM database user",
    example: "sched-jobs-runtime@my-project.iam",
    missing:
      "DB_USER is not set (with INSTANCE_CONNECTION_NAME: the IAM database user, e.g. the service account email without .gserviceaccount.com)",
    parse: asText,
    write: asText,
  }),
  DB_NAME: define<string>({
    group: "database",
    doc: "The database on the Cloud SQL or RDS instance.",
    secret: false,
    required: "with `INSTANCE_CONNECTION_NAME` or `DB_HOST`",
    deployed: "`scheduled-jobs:database.databaseName`",
    example: "delivery_app",
    missing: "DB_NAME is not set (with INSTANCE_CONNECTION_NAME: the database to use)",
    parse: asText,
    write: asText,
  }),
  DB_IP_TYPE: define<IpType>({
    group: "database",
    // PUBLIC works from a function without a VPC connector; the connector still encrypts and
    // authorises the connection with IAM, the instance needs no authorised networks.
    doc: "Which of the instance's addresses the connector uses: `PUBLIC` (no VPC connector needed; still encrypted and IAM-authorised), `PRIVATE` or `PSC`.",
    secret: false,
    required: "no",
    default: "PUBLIC",
    example: "PRIVATE",
    parse(text, problems) {
      const ipType = text.toUpperCase();
      if ((ipTypes as readonly string[]).includes(ipType)) return ipType as IpType;
      problems.push(`DB_IP_TYPE must be one of ${ipTypes.join(", ")}`);
      return undefined;
    },
    write: asText,
  }),
  DB_HOST: define<string>({
    group: "database",
    doc: "The RDS for PostgreSQL instance's endpoint, reached over TLS verified against the bundled RDS certificate authorities, with `DB_PORT`, `DB_USER`, `DB_NAME` and `DB_IAM_AUTH`.",
    secret: false,
    required: "one of this, `DATABASE_URL` and `INSTANCE_CONNECTION_NAME`",
    deployed: "the RDS instance's address",
    deployedOn: "aws",
    example: "delivery-db.abcdefghijkl.eu-west-1.rds.amazonaws.com",
    parse(text, problems) {
      if (hostPattern.test(text)) return text;
      problems.push(`DB_HOST ${quoted(text)} is not a host name or address`);
      return undefined;
    },
    write: asText,
  }),
  DB_PORT: define<number>({
    group: "database",
    doc: "The port of `DB_HOST`.",
    secret: false,
    required: "no",
    default: 5432,
    example: "5432",
    parse(text, problems) {
      const port = /^\d+$/.test(text) ? Number(text) : NaN;
      if (Number.isInteger(port) && port >= 1 && port <= 65_535) return port;
      problems.push("DB_PORT must be a port number from 1 to 65535");
      return undefined;
    },
    write: String,
  }),
  DB_IAM_AUTH: define<boolean>({
    group: "database",
    doc: "`true`: each new connection to `DB_HOST` signs in with a fresh RDS IAM authentication token (valid 15 minutes) made in `AWS_REGION` with the function's role; the only way `DB_HOST` signs in, so a password never sits in the environment.",
    secret: false,
    required: "`true` with `DB_HOST`",
    default: false,
    deployed: "`true`",
    deployedOn: "aws",
    example: "true",
    parse(text, problems) {
      if (text === "true" || text === "false") return text === "true";
      problems.push(`DB_IAM_AUTH must be "true" or "false", not ${quoted(text)}`);
      return undefined;
    },
    write: String,
  }),
  DB_POOL_MAX: define<number>({
    group: "database",
    doc: "Connections per instance: the requests one instance serves at once, plus one to record a run's end.",
    secret: false,
    required: "no",
    default: 2,
    example: "4",
    parse(text, problems) {
      const parsed = /^\d+$/.test(text) ? Number(text) : NaN;
      if (Number.isInteger(parsed) && parsed >= 1 && parsed <= MAX_POOL_MAX) return parsed;
      problems.push(`DB_POOL_MAX must be a whole number from 1 to ${MAX_POOL_MAX}`);
      return undefined;
    },
    write: String,
  }),
  AUTH_MODE: define<AuthMode>({
    group: "auth",
    doc: "`verify`: the function checks every token's signature; `cloud-run`: a token whose signature Cloud Run's IAM removed after checking it is judged on its claims.",
    secret: false,
    required: "no",
    default: "verify",
    deployed: "`cloud-run`",
    deployedOn: "gcp",
    example: "cloud-run",
    parse(text, problems) {
      if ((authModes as readonly string[]).includes(text)) return text as AuthMode;
      problems.push(`AUTH_MODE must be "verify" or "cloud-run", not ${quoted(text)}`);
      return undefined;
    },
    write: asText,
  }),
  AUTH_AUDIENCE: define<readonly string[]>({
    group: "auth",
    doc: "The accepted audiences of callers' ID tokens, comma-separated: the function's URL.",
    secret: false,
    required: "yes",
    deployed: "the function's own URL",
    deployedOn: "gcp",
    example: "https://scheduled-tasks-123456789012.europe-west1.run.app",
    missing: noAudience,
    parse(text, problems) {
      const audiences = listOf(text);
      return checked(problems, () => {
        if (audiences.length === 0) problems.push(noAudience);
        for (const audience of audiences) {
          if (/\s/.test(audience))
            problems.push(`AUTH_AUDIENCE entry ${quoted(audience)} contains whitespace`);
        }
        return audiences;
      });
    },
    write: (audiences) => audiences.join(","),
  }),
  AUTH_ALLOWED_EMAILS: define<readonly string[]>({
    group: "auth",
    doc: "The service account emails allowed to call the function, comma-separated (compared ASCII case-insensitively).",
    secret: false,
    required: "yes",
    deployed:
      "the scheduler's service account, and the Monitoring service agent when the dead-man checks are on (it may only read /health)",
    deployedOn: "gcp",
    example: "sched-jobs-scheduler@my-project.iam.gserviceaccount.com",
    missing: noAllowedEmails,
    parse(text, problems) {
      const emails = listOf(text).map(asciiLowerCase);
      return checked(problems, () => {
        if (emails.length === 0) problems.push(noAllowedEmails);
        for (const email of emails) {
          if (!isEmailAddress(email)) {
            problems.push(`AUTH_ALLOWED_EMAILS entry ${quoted(email)} is not an email address`);
          }
        }
        return emails;
      });
    },
    write: (emails) => emails.join(","),
  }),
  OPERATOR_EMAILS: define<readonly string[]>({
    group: "auth",
    doc: "The people allowed to act from the dashboard (pause, resume, run now, replay a failed tick), comma-separated; callers too, so their tokens are accepted like those of `AUTH_ALLOWED_EMAILS`. Never the scheduler's account: it may run tasks, not pause them.",
    secret: false,
    required: "no",
    unset: "nobody may act from the dashboard; it only shows",
    deployed: "`scheduled-jobs:operators`",
    deployedOn: "gcp",
    example: "alice@example.com,bob@example.com",
    parse(text, problems) {
      const emails = listOf(text).map(asciiLowerCase);
      return checked(problems, () => {
        for (const email of emails) {
          if (!isEmailAddress(email))
            problems.push(`OPERATOR_EMAILS entry ${quoted(email)} is not an email address`);
        }
        return emails;
      });
    },
    write: (emails) => emails.join(","),
    omit: (emails) => emails.length === 0,
  }),
  AUTH_CERTS_URL: define<string>({
    group: "auth",
    doc: "Where the token-signing certificates are (Google's PEM format or a JWK set); `https`, or `http` on loopback only.",
    secret: false,
    required: "no",
    default: googleCertsUrl,
    example: "http://127.0.0.1:9999/oauth2/v1/certs",
    parse(text, problems) {
      const url = urlOf(text);
      if (!url) {
        problems.push(`AUTH_CERTS_URL ${quoted(text)} is not a URL`);
        return undefined;
      }
      // Whoever serves the certificates decides which tokens are genuine: plain HTTP only on loopback.
      const loopback = loopbackHosts.has(url.hostname);
      if (url.protocol !== "https:" && !(url.protocol === "http:" && loopback)) {
        problems.push(`AUTH_CERTS_URL ${quoted(text)} must use https (plain http only for localhost)`);
        return undefined;
      }
      return text;
    },
    write: asText,
  }),
  EMAIL_TRANSPORT: define<EmailTransportChoice>({
    group: "email",
    doc: "`sendgrid`: the email tasks send through SendGrid, and without a readable key they fail (503) with every email still queued; `local-mailbox` (what `npm start` sets when it is given no key): nothing leaves the machine, messages go to the log and `scheduler.local_mailbox`. Never a fallback: only this variable chooses the local mailbox.",
    secret: false,
    required: "no",
    default: "sendgrid",
    example: "local-mailbox",
    parse(text, problems) {
      if ((emailTransports as readonly string[]).includes(text)) return text as EmailTransportChoice;
      problems.push(`EMAIL_TRANSPORT must be one of ${emailTransports.join(", ")}, not ${quoted(text)}`);
      return undefined;
    },
    write: asText,
  }),
  SENDGRID_API_KEY: define<string>({
    group: "email",
    doc: "A SendGrid API key in plain text (local runs); set at most one of this, `SENDGRID_API_KEY_SECRET` and `SENDGRID_API_KEY_SECRET_ARN`.",
    secret: true,
    required: "no",
    unset:
      "with neither key, the email tasks fail (503) and every email stays queued, unless `EMAIL_TRANSPORT=local-mailbox`",
    example: "SG.xxxxxxxx.yyyyyyyy",
    parse: asText,
    write: asText,
  }),
  SENDGRID_API_KEY_SECRET: define<string>({
    group: "email",
    doc: "The Secret Manager version that holds the SendGrid API key (the name, never the key), read at run time.",
    secret: false,
    required: "no",
    unset:
      "with neither key, the email tasks fail (503) and every email stays queued, unless `EMAIL_TRANSPORT=local-mailbox`",
    deployed: "the version of the stack's SendGrid key secret",
    deployedOn: "gcp",
    example: "projects/my-project/secrets/sendgrid-api-key/versions/latest",
    parse(text, problems) {
      if (secretVersionPattern.test(text)) return text;
      problems.push(
        "SENDGRID_API_KEY_SECRET must be a Secret Manager version name: projects/<project>/secrets/<secret>/versions/<version or latest>",
      );
      return undefined;
    },
    write: asText,
  }),
  SENDGRID_API_KEY_SECRET_ARN: define<string>({
    group: "email",
    doc: "The AWS Secrets Manager secret whose `SecretString` is the SendGrid API key (the ARN, never the key), read at run time.",
    secret: false,
    required: "no",
    unset:
      "with no key at all, the email tasks fail (503) and every email stays queued, unless `EMAIL_TRANSPORT=local-mailbox`",
    deployed: "the stack's SendGrid key secret",
    deployedOn: "aws",
    example: "arn:aws:secretsmanager:eu-west-1:123456789012:secret:scheduled-jobs/sendgrid-api-key-AbCdEf",
    parse(text, problems) {
      if (secretArnPattern.test(text)) return text;
      problems.push(
        "SENDGRID_API_KEY_SECRET_ARN must be a Secrets Manager secret's ARN: arn:aws:secretsmanager:<region>:<account>:secret:<name>",
      );
      return undefined;
    },
    write: asText,
  }),
  SENDGRID_BASE_URL: define<string>({
    group: "email",
    doc: "SendGrid's API root, replaced by a local fake in tests.",
    secret: false,
    required: "no",
    unset: "SendGrid's own API",
    example: "http://127.0.0.1:3030",
    parse(text, problems) {
      const url = urlOf(text);
      if (url && (url.protocol === "https:" || url.protocol === "http:")) return text;
      problems.push("SENDGRID_BASE_URL must be an http(s) URL");
      return undefined;
    },
    write: asText,
  }),
  SENDGRID_SECRET_REFRESH_SECONDS: define<number>({
    group: "email",
    doc: "How long a key read from Secret Manager or Secrets Manager is used before it is read again (rotation).",
    secret: false,
    required: "no",
    default: 600,
    example: "60",
    parse(text, problems) {
      const seconds = Number(text);
      if (Number.isInteger(seconds) && seconds >= 0) return seconds;
      problems.push("SENDGRID_SECRET_REFRESH_SECONDS must be a whole number of seconds");
      return undefined;
    },
    write: String,
  }),
  MAIL_FROM: define<string>({
    group: "email",
    doc: "The sender of every email (a sender verified in SendGrid).",
    secret: false,
    required: "with a SendGrid key",
    default: LOCAL_MAIL_FROM,
    unset: `\`${LOCAL_MAIL_FROM}\` when no key is set`,
    deployed: "`scheduled-jobs:mailFrom`",
    example: "reports@delivery.example",
    missing: "MAIL_FROM is required when a SendGrid key is configured (a sender verified in SendGrid)",
    parse(text, problems) {
      if (isEmailAddress(text)) return text;
      problems.push("MAIL_FROM must be an email address");
      return undefined;
    },
    write: asText,
  }),
  OPS_EMAIL: define<string>({
    group: "email",
    doc: "Who `alert-failed-runs` writes to; that task fails without it.",
    secret: false,
    required: "no",
    deployed: "`scheduled-jobs:opsEmail`, else `scheduled-jobs:alertEmail`",
    example: "ops@delivery.example",
    parse(text, problems) {
      if (isEmailAddress(text)) return text;
      problems.push("OPS_EMAIL must be an email address");
      return undefined;
    },
    write: asText,
  }),
  TASK_OVERRIDES: define<JobOverrides>({
    group: "schedule",
    doc: 'The stack\'s job overrides, JSON `{"<task>": {"schedule", "timeZone", "paused", "attemptDeadlineSeconds"}}`, so lookups, health and overdue alerts follow what Cloud Scheduler runs.',
    secret: false,
    required: "no",
    default: {},
    unset: "the catalog's schedules",
    deployed: "what `scheduled-jobs:taskOverrides` changes (absent when nothing)",
    example: '{"archive-old-orders":{"schedule":"0 4 * * 0","timeZone":"Europe/Paris"}}',
    parse: parseTaskOverrides,
    write: (overrides) => JSON.stringify(overrides),
    omit: (overrides) => Object.keys(overrides).length === 0,
  }),
  HTTP_TARGETS: define<HttpTargets>({
    group: "http",
    doc: 'The services `http` tasks call, JSON `{"<target>": {"url", "audience", "service", "function", "internal"}}`: `https` base URLs without credentials; a private address only with `"internal": true`, plain `http` only to loopback (the local stack); never link-local (the metadata server). The only place a call\'s address comes from. On AWS only an API Gateway stage or a Lambda function URL (`function` names its Lambda function), signed with SigV4 as the function\'s role.',
    secret: false,
    required: "no",
    default: {},
    unset: "no targets: every `http` task fails naming its missing target",
    deployed: "`scheduled-jobs:httpTargets` (absent when none)",
    example:
      '{"app-backend":{"url":"https://app-backend-123456789012.europe-west1.run.app","service":"app-backend"}}',
    parse(text, problems) {
      let parsed: unknown;
      try {
        parsed = JSON.parse(text);
      } catch {
        problems.push("HTTP_TARGETS is not valid JSON");
        return undefined;
      }
      const targetProblems: string[] = [];
      const targets = parseHttpTargets(parsed, targetProblems, { local: true });
      problems.push(...targetProblems.map((problem) => `HTTP_TARGETS: ${problem}`));
      return targets;
    },
    write: (targets) => JSON.stringify(targets),
    omit: (targets) => Object.keys(targets).length === 0,
  }),
  SCHEDULE_GROUP_ARN: define<string>({
    group: "schedule",
    doc: "The Lambda's schedule group (`arn:aws:scheduler:<region>:<account>:schedule-group/<group>`): a tick is one of its schedules named for the task, and any other delivery is a manual run; the Lambda refuses every invoke without it.",
    secret: false,
    required: "on Lambda",
    deployed: "the stack's schedule group",
    deployedOn: "aws",
    example: "arn:aws:scheduler:eu-west-1:123456789012:schedule-group/scheduled-jobs",
    missing:
      "SCHEDULE_GROUP_ARN is not set: the Lambda cannot tell its schedules' ticks from other deliveries, so it refuses every invoke",
    parse(text, problems) {
      if (scheduleGroupArnPattern.test(text)) return text;
      problems.push(
        "SCHEDULE_GROUP_ARN must be a schedule group's ARN: arn:aws:scheduler:<region>:<account>:schedule-group/<group>",
      );
      return undefined;
    },
    write: asText,
  }),
  AWS_REGION: define<string>({
    group: "platform",
    doc: "The AWS Region the function runs in, set by Lambda: where the RDS IAM authentication token is made for, and the Region the local stack's loopback http targets are signed for.",
    secret: false,
    required: "with `DB_IAM_AUTH=true`",
    deployed: "set by Lambda itself",
    deployedOn: "aws",
    example: "eu-west-1",
    missing: "AWS_REGION is not set: DB_IAM_AUTH needs the Region its token is made for (Lambda sets it)",
    parse(text, problems) {
      if (/^[a-z]{2}(-[a-z]+)+-\d+$/.test(text)) return text;
      problems.push(`AWS_REGION ${quoted(text)} is not an AWS Region name, e.g. eu-west-1`);
      return undefined;
    },
    write: asText,
  }),
  GOOGLE_CLOUD_PROJECT: define<string>({
    group: "platform",
    doc: "The project id for the trace field of log lines (`projects/<id>/traces/<trace>`), and where google-auth-library finds the project before it mints an http task's ID token (without it, it tries gcloud, then the metadata server).",
    secret: false,
    required: "no",
    unset: "`GCP_PROJECT`; without either, log lines carry no trace field",
    deployed: "the stack's project (`gcp:project`)",
    deployedOn: "gcp",
    example: "my-project",
    parse: asText,
    write: asText,
  }),
  GCP_PROJECT: define<string>({
    group: "platform",
    doc: "The project id where `GOOGLE_CLOUD_PROJECT` is unset (older runtimes set this one).",
    secret: false,
    required: "no",
    example: "my-project",
    parse: asText,
    write: asText,
  }),
  NODE_ENV: define<string>({
    group: "platform",
    doc: "Read by functions-framework: `production` keeps a thrown error's message out of its own answers.",
    secret: false,
    required: "no",
    deployed: "`production`",
    example: "production",
    parse: asText,
    write: asText,
  }),
};

export type VariableName = keyof typeof definitions;
export type ValueOf<N extends VariableName> = (typeof definitions)[N] extends Definition<infer T> ? T : never;
/** Typed values of some variables, as writers hand them over. */
type EnvironmentValues = { readonly [N in VariableName]?: ValueOf<N> };

/** The table, by name. */
export const environment = Object.fromEntries(
  Object.entries(definitions).map(([name, definition]) => [name, { name, ...definition }]),
) as unknown as { readonly [N in VariableName]: Variable<ValueOf<N>> };

/** The table, in the order of the docs. */
export const variables: readonly Variable<unknown>[] = Object.values(environment);

function variableOf<N extends VariableName>(name: N): Variable<ValueOf<N>> {
  return environment[name] as Variable<ValueOf<N>>;
}

/** The text of a variable as the function sees it: trimmed; empty counts as unset. */
function textOf(env: Env, name: VariableName): string | undefined {
  const text = env[name]?.trim();
  return text ? text : undefined;
}

export function isSet(env: Env, name: VariableName): boolean {
  return textOf(env, name) !== undefined;
}

/** The variable's value (its default when unset), or undefined with its problems pushed. */
export function readVariable<N extends VariableName>(
  env: Env,
  name: N,
  problems: string[],
): ValueOf<N> | undefined {
  const variable = variableOf(name);
  const text = textOf(env, name);
  return text === undefined ? variable.default : variable.parse(text, problems);
}

/** As `readVariable`, for a variable the caller needs: unset is a problem, not its default. */
export function requireVariable<N extends VariableName>(
  env: Env,
  name: N,
  problems: string[],
): ValueOf<N> | undefined {
  if (!isSet(env, name)) {
    problems.push(variableOf(name).missing ?? `${name} is not set`);
    return undefined;
  }
  return readVariable(env, name, problems);
}

/** What the function would say about this text in this variable (empty: it accepts it). */
export function problemsWith(name: VariableName, text: string): string[] {
  const problems: string[] = [];
  const trimmed = text.trim();
  if (trimmed === "") problems.push(`${name} would be empty, which the function reads as unset`);
  else variableOf(name).parse(trimmed, problems);
  return problems;
}

export class EnvironmentError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(`an environment the function would refuse: ${problems.join("; ")}`);
    this.name = "EnvironmentError";
  }
}

/** One variable's text, checked with the function's own parser (throws EnvironmentError). */
export function writeVariable<N extends VariableName>(name: N, value: ValueOf<N>): string {
  const text = variableOf(name).write(value);
  const problems = problemsWith(name, text);
  if (problems.length > 0) throw new EnvironmentError(problems);
  return text;
}

/**
 * The function's environment for these values, each written by its variable's writer and read
 * back by its parser: a value the function would refuse throws EnvironmentError naming every one.
 * Values that mean unset (an empty TASK_OVERRIDES) are left out, as are undefined ones.
 */
export function writeEnvironment(values: EnvironmentValues): Record<string, string> {
  const written: Record<string, string> = {};
  const problems: string[] = [];
  for (const [name, value] of Object.entries(values) as [VariableName, unknown][]) {
    if (value === undefined) continue;
    const variable = environment[name] as Variable<unknown> | undefined;
    if (!variable) {
      problems.push(`${name} is not a variable the function reads`);
      continue;
    }
    if (variable.omit?.(value)) continue;
    const text = variable.write(value);
    problems.push(...problemsWith(name, text));
    written[name] = text;
  }
  if (problems.length > 0) throw new EnvironmentError(problems);
  return written;
}

/**
 * TASK_OVERRIDES: a JSON object {taskName: {schedule?, timeZone?, paused?, attemptDeadlineSeconds?}},
 * what the Pulumi program (or the local stack) resolved from the stack's config. Checked by the one
 * rule for overrides, `resolveJobs` (names, fields, Cloud Scheduler's unix-cron, zones, deadlines),
 * and returned as `overridesOf` writes them, so writing what was read gives the same text.
 */
function parseTaskOverrides(text: string, problems: string[]): JobOverrides | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    problems.push("TASK_OVERRIDES is not valid JSON");
    return undefined;
  }
  const resolved = resolveJobs(tasks, { overrides: parsed, source: "TASK_OVERRIDES" });
  if (resolved.problems.length > 0) {
    problems.push(...resolved.problems);
    return undefined;
  }
  return overridesOf(tasks, resolved.jobs);
}
