/**
 * The whole system on one machine, as `npm start` runs it: PostgreSQL (embedded, or DATABASE_URL),
 * the app's schema, the scheduler's migrations and demo data; the function built exactly as it is
 * deployed (`dist/function` by scripts/generate/bundle.ts) and served by the real `functions-framework`
 * command; a development identity whose certificates a loopback server publishes for the function's
 * token verification; the local Cloud Scheduler firing every job at the function with tokens of that
 * identity; and a loopback-only console that serves the dashboard with a token added.
 */
import type { ChildProcess } from "node:child_process";
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import type { Server } from "node:http";
import { userInfo } from "node:os";
import { createServer as createNetServer } from "node:net";
import type { AddressInfo } from "node:net";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import pg from "pg";
import { tasks } from "../../functions/core/catalog.js";
import { routes } from "../../functions/gcp/contract.js";
import type { Job } from "../../functions/core/schedule/jobs.js";
import { cloudJobs, overridesOf } from "../../functions/core/schedule/jobs.js";
import { childEnv, forwardLines } from "./child-env.js";
import type { VariableName } from "../../functions/core/config/environment.js";
import type { HttpTargets } from "../../functions/core/config/http-targets.js";
import { writeEnvironment } from "../../functions/core/config/environment.js";
import type { AppBackend } from "./app-backend.js";
import { awsSignatureCheck, googleTokenCheck, startAppBackend } from "./app-backend.js";
import type { CertsServer, DevIdentity } from "./dev-identity.js";
import {
  createDevIdentity,
  devInvokerEmail,
  devOperatorEmail,
  devRuntimeEmail,
  serveCerts,
} from "./dev-identity.js";
import type { EmbeddedServer } from "./embedded-postgres.js";
import { startEmbeddedPostgres } from "./embedded-postgres.js";
import type { LocalAws, LocalAwsOptions } from "./local-aws.js";
import { LOCAL_AWS_CREDENTIALS, LOCAL_AWS_REGION } from "./sigv4-check.js";
import type { Attempt, Clock } from "./local-scheduler.js";
import { LOCAL_PROJECT, LocalScheduler } from "./local-scheduler.js";
import { serveConsole } from "./local-console.js";
import { serveMetadata } from "./local-metadata.js";
import { applyAppSchema, migrate } from "../lib/migrate.js";

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");
const DEFAULT_PG_PORT = 54329;
export const DEFAULT_FUNCTION_PORT = 8080;
export const DEFAULT_CONSOLE_PORT = 8081;
/** The local Lambda's Invoke API (`--cloud aws`). */
export const DEFAULT_LAMBDA_PORT = 8082;
/** The demo app backend, the http tasks' target. */
export const DEFAULT_APP_BACKEND_PORT = 8083;
const LOCAL_DATABASE = "delivery_app";

interface LocalStackOptions {
  /** Use this database instead of the embedded one (migrated; app schema created if it has none). */
  readonly databaseUrl?: string | undefined;
  /** The embedded server's data folder (kept between starts). */
  readonly dataDir?: string;
  readonly pgPort?: number;
  /** 0 picks a free port (tests). */
  readonly functionPort?: number;
  readonly consolePort?: number;
  /** The demo app backend's port (0 picks a free one). */
  readonly appBackendPort?: number;
  /** Load sql/demo-data.sql when the database has no restaurants yet (default: embedded database only). */
  readonly demoData?: boolean;
  /**
   * Where the function is built (default dist/function). Inside this project: the bundle finds the
   * packages it leaves external in the project's node_modules.
   */
  readonly functionDir?: string;
  readonly jobs: readonly Job[];
  /** More of the function's environment as text (SENDGRID_API_KEY, MAIL_FROM, ...), over the local defaults. */
  readonly functionEnv?: Readonly<Partial<Record<VariableName, string>>>;
  /** Fire the jobs (default true). */
  readonly scheduler?: boolean;
  /**
   * Which cloud's scheduler and runtime run the ticks: `gcp` (default), the local Cloud Scheduler
   * posting to the function; `aws`, the local EventBridge Scheduler invoking the local Lambda
   * (./local-aws.ts). The function and the console run in both: the console's dashboard reads the
   * run history both write.
   */
  readonly cloud?: "gcp" | "aws";
  /** The local Lambda's Invoke API port (`aws`; 0 picks a free one). */
  readonly lambdaPort?: number;
  /** Where the Lambda is built (`aws`; default dist/lambda). */
  readonly lambdaDir?: string;
  readonly onAsyncAttempt?: LocalAwsOptions["onAsyncAttempt"];
  readonly clock?: Clock;
  readonly onAttempt?: (attempt: Attempt) => void;
  readonly onSkippedBacklog?: (job: string, missed: Date[]) => void;
  /** Each line the function writes (structured JSON logs). */
  readonly onFunctionLog?: (line: string) => void;
  readonly log?: (message: string) => void;
}

export interface LocalStack {
  readonly databaseUrl: string;
  readonly functionUrl: string;
  readonly consoleUrl: string;
  readonly certsUrl: string;
  /** The demo app backend every http task of the catalog calls here (./app-backend.ts). */
  readonly appBackend: AppBackend;
  readonly identity: DevIdentity;
  readonly scheduler: LocalScheduler | undefined;
  /** The local Lambda and its Invoke API (`cloud: "aws"`). */
  readonly aws: LocalAws | undefined;
  /** What the first start did to the database. */
  readonly prepared: PreparedDatabase;
  token(): string;
  stop(): Promise<void>;
}

interface PreparedDatabase {
  readonly createdAppSchema: boolean;
  readonly migrationsApplied: readonly string[];
  readonly demoDataLoaded: boolean;
}

export async function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolvePort) => {
    const probe = createNetServer();
    probe.once("error", () => resolvePort(false));
    probe.listen(port, "127.0.0.1", () => probe.close(() => resolvePort(true)));
  });
}

/** Starts every piece; on a failure half-way, stops what had started and rethrows. */
export async function startLocalStack(options: LocalStackOptions): Promise<LocalStack> {
  const log = options.log ?? (() => undefined);
  const stops: (() => Promise<void>)[] = [];
  const stopAll = async (): Promise<void> => {
    for (const stop of stops.reverse())
      await stop().catch((error: unknown) => log(`while stopping: ${String(error)}`));
    stops.length = 0;
  };
  try {
    // --- the database ---
    let databaseUrl: string;
    const embedded = !options.databaseUrl;
    if (options.databaseUrl) {
      databaseUrl = options.databaseUrl;
    } else {
      let port = options.pgPort ?? DEFAULT_PG_PORT;
      if (!(await portIsFree(port))) {
        const { freePort } = await import("./embedded-postgres.js");
        const taken = port;
        port = await freePort();
        log(`port ${taken} is taken; the embedded PostgreSQL uses port ${port}`);
      }
      const dataDir = options.dataDir ?? join(ROOT, ".data", "postgres");
      log(`starting the embedded PostgreSQL (data in ${dataDir}, port ${port})`);
      const server: EmbeddedServer = await startEmbeddedPostgres({ dataDir, persistent: true, port });
      stops.push(() => server.stop());
      await ensureDatabase(server.url("postgres"), LOCAL_DATABASE);
      databaseUrl = server.url(LOCAL_DATABASE);
    }
    const prepared = await prepareDatabase(databaseUrl, options.demoData ?? embedded);
    log(
      [
        prepared.createdAppSchema ? "created the app's tables" : undefined,
        prepared.migrationsApplied.length > 0
          ? `applied ${prepared.migrationsApplied.join(", ")}`
          : "migrations up to date",
        prepared.demoDataLoaded ? "loaded the demo data" : undefined,
      ]
        .filter(Boolean)
        .join("; "),
    );

    // --- the identity the function trusts, and its certificates on loopback ---
    const functionPort = await choosePort(options.functionPort ?? DEFAULT_FUNCTION_PORT, "the function");
    const functionUrl = `http://localhost:${functionPort}`;
    const identity = createDevIdentity({ audience: functionUrl, email: devInvokerEmail });
    const operatorEmail = devOperatorEmail(localUser());
    const certs: CertsServer = await serveCerts(identity);
    stops.push(() => certs.close());

    // --- the http tasks' target, and where the function gets its ID tokens for it ---
    const metadata = await serveMetadata(identity, devRuntimeEmail);
    stops.push(() => metadata.close());
    const appBackend = await startAppBackend({
      port: await choosePort(options.appBackendPort ?? DEFAULT_APP_BACKEND_PORT, "the demo app backend"),
      // The function's ID tokens, and (--cloud aws) the local Lambda's signatures.
      check: awsSignatureCheck(
        LOCAL_AWS_CREDENTIALS,
        LOCAL_AWS_REGION,
        googleTokenCheck(certs.url, [devRuntimeEmail]),
      ),
    });
    stops.push(() => appBackend.close());

    // --- the function: the deployable bundle under the real framework ---
    const functionDir = options.functionDir ?? join(ROOT, "dist", "function");
    const { build } = await import("../generate/bundle.js");
    const built = await build(functionDir);
    if (built.regenerated.length > 0) log(`sql/tasks changed: regenerated ${built.regenerated.join(", ")}`);
    const recent: string[] = [];
    const child = spawnFunction(
      functionDir,
      functionPort,
      {
        ...writeEnvironment({
          // functions-framework answers a thrown error with its message unless in production.
          NODE_ENV: "production",
          DATABASE_URL: databaseUrl,
          AUTH_AUDIENCE: [functionUrl],
          AUTH_ALLOWED_EMAILS: [identity.email],
          // The console's browser acts as the person at the keyboard; the scheduler's identity may not.
          OPERATOR_EMAILS: [operatorEmail],
          AUTH_CERTS_URL: certs.url,
          // Given no SendGrid key, a local run chooses the local mailbox, explicitly: the function
          // itself never falls back to it. The email tasks still need addresses.
          EMAIL_TRANSPORT:
            options.functionEnv?.SENDGRID_API_KEY || options.functionEnv?.SENDGRID_API_KEY_SECRET
              ? undefined
              : "local-mailbox",
          MAIL_FROM: "no-reply@delivery.example",
          OPS_EMAIL: "ops@delivery.example",
          // The stack's overrides, as the Pulumi program passes them, so health matches what fires.
          TASK_OVERRIDES: overridesOf(tasks, options.jobs),
          HTTP_TARGETS: localTargets(appBackend.url),
          // The local scheduler's project. google-auth-library asks for the project before minting
          // an http task's ID token, and without it would run the machine's gcloud to find one.
          GOOGLE_CLOUD_PROJECT: LOCAL_PROJECT,
        }),
        ...metadata.env,
        ...options.functionEnv,
      },
      (line) => {
        recent.push(line);
        if (recent.length > 20) recent.shift();
        options.onFunctionLog?.(line);
      },
    );
    stops.push(() => stopChild(child));
    await waitForFunction(functionUrl, () => identity.signIdToken(), child, recent);

    // --- the console: the dashboard on loopback, with a token added ---
    const consolePort = await choosePort(options.consolePort ?? DEFAULT_CONSOLE_PORT, "the local console");
    const consoleServer = await serveConsole(consolePort, functionUrl, {
      invoker: () => identity.signIdToken(),
      operator: () => identity.signIdToken({ email: operatorEmail }),
    });
    stops.push(() => closeServer(consoleServer));
    const consoleUrl = `http://127.0.0.1:${(consoleServer.address() as AddressInfo).port}`;

    // --- the Lambda (AWS) ---
    const aws =
      options.cloud === "aws"
        ? await startAws(options, databaseUrl, localTargets(appBackend.url), log)
        : undefined;
    if (aws) stops.push(() => aws.stop());

    // --- the scheduler ---
    let scheduler: LocalScheduler | undefined;
    if (options.scheduler !== false) {
      scheduler = new LocalScheduler({
        jobs: cloudJobs(options.jobs),
        ...(aws ? { deliver: aws.deliver } : { url: `${functionUrl}/`, token: () => identity.signIdToken() }),
        ...(options.clock ? { clock: options.clock } : {}),
        ...(options.onAttempt ? { onAttempt: options.onAttempt } : {}),
        ...(options.onSkippedBacklog ? { onSkippedBacklog: options.onSkippedBacklog } : {}),
      });
      scheduler.start();
      const started = scheduler;
      stops.push(() => started.stop());
    }

    return {
      databaseUrl,
      functionUrl,
      consoleUrl,
      certsUrl: certs.url,
      appBackend,
      identity,
      scheduler,
      aws,
      prepared,
      token: () => identity.signIdToken(),
      stop: stopAll,
    };
  } catch (error) {
    await stopAll();
    throw error;
  }
}

/** Every target the catalog's http tasks name, each at the demo app backend (internal: it is loopback). */
function localTargets(url: string): HttpTargets {
  const keys = new Set(
    tasks.flatMap((task) => (task.kind === "http" && task.http ? [task.http.target] : [])),
  );
  return Object.fromEntries([...keys].map((key) => [key, { url, audience: url, internal: true }]));
}

async function startAws(
  options: LocalStackOptions,
  databaseUrl: string,
  httpTargets: HttpTargets,
  log: (message: string) => void,
): Promise<LocalAws> {
  const { startLocalAws } = await import("./local-aws.js");
  return startLocalAws({
    root: ROOT,
    databaseUrl,
    jobs: options.jobs,
    httpTargets,
    port: await choosePort(options.lambdaPort ?? DEFAULT_LAMBDA_PORT, "the local Lambda"),
    ...(options.lambdaDir ? { lambdaDir: options.lambdaDir } : {}),
    ...(options.functionEnv ? { env: options.functionEnv } : {}),
    ...(options.clock ? { clock: options.clock } : {}),
    ...(options.onFunctionLog ? { onLambdaLog: options.onFunctionLog } : {}),
    ...(options.onAsyncAttempt ? { onAsyncAttempt: options.onAsyncAttempt } : {}),
    log,
  });
}

async function choosePort(port: number, what: string): Promise<number> {
  if (port === 0) {
    const { freePort } = await import("./embedded-postgres.js");
    return freePort();
  }
  if (!(await portIsFree(port))) {
    throw new Error(
      `port ${port} is in use, so ${what} cannot listen on it: stop what uses it, or choose another port`,
    );
  }
  return port;
}

async function ensureDatabase(adminUrl: string, database: string): Promise<void> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    const exists = await client.query("SELECT 1 FROM pg_database WHERE datname = $1", [database]);
    if (exists.rowCount === 0) await client.query(`CREATE DATABASE ${database}`);
  } finally {
    await client.end();
  }
}

/** App schema when missing, migrations every time (idempotent), demo data into an empty app. */
export async function prepareDatabase(databaseUrl: string, demoData: boolean): Promise<PreparedDatabase> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const hasOrders = await client.query("SELECT to_regclass('public.orders') IS NOT NULL AS present");
    const createdAppSchema = hasOrders.rows[0]?.present !== true;
    if (createdAppSchema) await applyAppSchema(databaseUrl);
    const { applied } = await migrate(databaseUrl);
    let demoDataLoaded = false;
    if (demoData) {
      const empty = await client.query("SELECT NOT EXISTS (SELECT 1 FROM restaurants) AS empty");
      if (empty.rows[0]?.empty === true) {
        await client.query("BEGIN");
        try {
          await client.query(readFileSync(join(ROOT, "sql", "demo-data.sql"), "utf8"));
          await client.query("COMMIT");
        } catch (error) {
          await client.query("ROLLBACK").catch(() => undefined);
          throw new Error(`sql/demo-data.sql failed: ${(error as Error).message}`, { cause: error });
        }
        demoDataLoaded = true;
      }
    }
    return { createdAppSchema, migrationsApplied: applied, demoDataLoaded };
  } finally {
    await client.end();
  }
}

function spawnFunction(
  source: string,
  port: number,
  env: Record<string, string>,
  onLine: ((line: string) => void) | undefined,
): ChildProcess {
  const main = join(ROOT, "node_modules", "@google-cloud", "functions-framework", "build", "src", "main.js");
  const child = spawn(
    process.execPath,
    [main, "--target=scheduledTasks", `--source=${source}`, `--port=${port}`],
    {
      cwd: ROOT,
      // Only what the function's environment holds in the cloud, plus PATH and the clock.
      env: childEnv(env),
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  forwardLines(child, onLine);
  return child;
}

async function waitForFunction(
  url: string,
  token: () => string,
  child: ChildProcess,
  recent: readonly string[],
): Promise<void> {
  const deadline = Date.now() + 30_000;
  let exited: number | null | undefined;
  child.once("exit", (code) => (exited = code));
  let last = "";
  while (Date.now() < deadline) {
    if (exited !== undefined) {
      throw new Error(`the function exited (code ${exited}) before it answered:\n${recent.join("\n")}`);
    }
    try {
      const response = await fetch(`${url}${routes.health.path}`, {
        headers: { authorization: `Bearer ${token()}` },
      });
      if (response.ok) return;
      last = `GET /health answered ${response.status}: ${await response.text()}`;
    } catch (error) {
      last = (error as Error).message;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`the function did not answer at ${url} within 30 s (${last})`);
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((r) => child.once("exit", () => r()));
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
  await exited;
  clearTimeout(timer);
}

function closeServer(server: Server): Promise<void> {
  return new Promise((r) => {
    server.closeAllConnections();
    server.close(() => r());
  });
}

/** The user at the keyboard, for the local operator's address. */
function localUser(): string {
  try {
    return userInfo().username;
  } catch {
    return "operator";
  }
}

export { serveConsole };
