/**
 * `npm start`: the whole system on this machine (see scripts/local/local-stack.ts), until Ctrl-C.
 * DATABASE_URL: use that database instead of the embedded one (no demo data unless --demo-data).
 * PORT: the function's port (default 8080). CONSOLE_PORT: the console's (default 8081).
 * APP_BACKEND_PORT: the demo app backend's, the http tasks' target (default 8083).
 * PULUMI_STACK: whose overrides to read (default dev: infra/Pulumi.dev.yaml or Pulumi.dev.yaml).
 * LOCAL_DATA_DIR: where the embedded database and the stack's state file live (default .data).
 * SENDGRID_API_KEY, SENDGRID_BASE_URL, MAIL_FROM, OPS_EMAIL: passed to the function; without a key it
 * runs with EMAIL_TRANSPORT=local-mailbox (nothing is sent).
 * --cloud aws: the ticks go through a local EventBridge Scheduler to the local Lambda (dist/lambda)
 * instead of a local Cloud Scheduler to the function; LAMBDA_PORT: its Invoke API's port (8082).
 */
import { join } from "node:path";
import { parseArgs } from "node:util";
import { isErrorAnswer } from "../functions/gcp/contract.js";
import type { VariableName } from "../functions/core/config/environment.js";
import { cloudJobs } from "../functions/core/schedule/jobs.js";
import { defaultStackFile, loadStackJobs } from "./lib/jobs.js";
import type { AsyncAttempt } from "./local/lambda-async.js";
import type { Attempt } from "./local/local-scheduler.js";
import type { LocalStack } from "./local/local-stack.js";
import {
  DEFAULT_APP_BACKEND_PORT,
  DEFAULT_CONSOLE_PORT,
  DEFAULT_FUNCTION_PORT,
  DEFAULT_LAMBDA_PORT,
  startLocalStack,
} from "./local/local-stack.js";
import { localDataDir, readLocalState, removeLocalState, writeLocalState } from "./local/local-state.js";

const { values } = parseArgs({
  options: {
    "demo-data": { type: "boolean", default: false },
    "no-scheduler": { type: "boolean", default: false },
    verbose: { type: "boolean", short: "v", default: false },
    cloud: { type: "string", default: "gcp" },
  },
});
if (values.cloud !== "gcp" && values.cloud !== "aws") {
  console.error(`[start] --cloud takes gcp or aws, not ${JSON.stringify(values.cloud)}`);
  process.exit(2);
}
const cloud: "gcp" | "aws" = values.cloud;

const say = (message: string): void => console.log(`[start] ${message}`);
const hhmmss = (date: Date): string => date.toISOString().slice(11, 19);

function describeAttempt(attempt: Attempt): string {
  const body = attempt.body;
  const what =
    attempt.status === undefined
      ? `no answer: ${attempt.error ?? "unknown"}`
      : typeof body !== "object"
        ? `${attempt.status} ${(body ?? "").slice(0, 200)}`
        : isErrorAnswer(body)
          ? `${attempt.status} ${body.error.code}: ${body.error.message}`
          : `${attempt.status} ${body.status}${body.status === "succeeded" ? `, ${body.rowsAffected} rows` : ""}`;
  return `[scheduler] ${attempt.job} @${hhmmss(attempt.scheduleTime)}${attempt.attempt > 1 ? ` (retry ${attempt.attempt - 1})` : ""} -> ${what} (${attempt.durationMs} ms)`;
}

/** A line for each run of an event by the local Lambda's asynchronous queue. */
function describeAsyncAttempt(attempt: AsyncAttempt): string {
  const event = attempt.event as { task?: string; scheduledTime?: string; attemptNumber?: string };
  const what = attempt.result.ok
    ? describeOutcome(attempt.result.payload)
    : `threw ${attempt.result.error.errorMessage.slice(0, 200)}${attempt.willRetry ? " (Lambda retries it)" : ""}`;
  return `[lambda] ${event.task ?? "?"} @${(event.scheduledTime ?? "").slice(11, 19)} delivery ${event.attemptNumber ?? "?"}${attempt.attempt > 1 ? `, Lambda retry ${attempt.attempt - 1}` : ""} -> ${what}`;
}

function describeOutcome(payload: unknown): string {
  if (isErrorAnswer(payload)) return `${payload.error.code}: ${payload.error.message}`;
  const result = payload as { status?: string; rowsAffected?: number };
  return `${result.status ?? "?"}${result.status === "succeeded" ? `, ${result.rowsAffected} rows` : ""}`;
}

function describeFunctionLog(line: string): string | undefined {
  try {
    const entry = JSON.parse(line) as { severity?: string; message?: string; httpRequest?: unknown };
    // The request lines repeat what the scheduler line says; the rest (run progress, errors) is news.
    if (!values.verbose && entry.httpRequest && entry.severity === "INFO") return undefined;
    if (!values.verbose && entry.severity === "DEBUG") return undefined;
    return `[function] ${entry.severity ?? ""} ${entry.message ?? line}`;
  } catch {
    return `[function] ${line}`;
  }
}

let stack: LocalStack | undefined;
let stoppingSince: number | undefined;
async function shutdown(code: number, why: string): Promise<never> {
  if (stoppingSince !== undefined) {
    // Ctrl-C reaches this process twice (from the terminal, and relayed by npm): only a second
    // press, a moment later, means "stop now, without cleaning up".
    if (Date.now() - stoppingSince > 1500) process.exit(code);
    return new Promise<never>(() => undefined);
  }
  stoppingSince = Date.now();
  clearInterval(parentWatch);
  say(`stopping (${why}): scheduler, console, function, app backend, certificates server, database ...`);
  if (readLocalState()?.pid === process.pid) removeLocalState();
  await stack?.stop();
  say("stopped");
  process.exit(code);
}
// SIGHUP: the terminal closed. Left unhandled, each of these kills this process alone and leaves
// PostgreSQL and functions-framework serving their ports.
for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
  process.on(signal, () => void shutdown(0, signal));
}
// npm relays SIGINT and SIGTERM to its child and dies of SIGHUP without relaying it; when the child
// was a shell (`sh -c`), the shell died and this process was left orphaned and running. The start
// script execs node, so npm's relay arrives here; a parent that dies without relaying (SIGHUP,
// SIGKILL) shows as a new parent process id.
const parentPid = process.ppid;
const parentWatch = setInterval(() => {
  if (process.ppid !== parentPid) void shutdown(0, `the process that started it (${parentPid}) is gone`);
}, 250);
parentWatch.unref();

try {
  const running = readLocalState();
  if (running) {
    throw new Error(
      `npm start is already running (process ${running.pid}, function at ${running.functionUrl}); stop it first`,
    );
  }
  const stackFile = defaultStackFile();
  const jobs = loadStackJobs(stackFile);
  const overridden = jobs.filter((job) => job.overridden.length > 0).map((job) => job.name);
  if (overridden.length > 0) say(`overrides from ${stackFile}: ${overridden.join(", ")}`);
  stack = await startLocalStack({
    databaseUrl: process.env.DATABASE_URL || undefined,
    dataDir: join(localDataDir(), "postgres"),
    functionPort: Number(process.env.PORT ?? DEFAULT_FUNCTION_PORT),
    consolePort: Number(process.env.CONSOLE_PORT ?? DEFAULT_CONSOLE_PORT),
    appBackendPort: Number(process.env.APP_BACKEND_PORT ?? DEFAULT_APP_BACKEND_PORT),
    ...(process.env.DATABASE_URL ? { demoData: values["demo-data"] } : {}),
    jobs,
    functionEnv: passedThrough(["SENDGRID_API_KEY", "SENDGRID_BASE_URL", "MAIL_FROM", "OPS_EMAIL"]),
    scheduler: !values["no-scheduler"],
    cloud,
    lambdaPort: Number(process.env.LAMBDA_PORT ?? DEFAULT_LAMBDA_PORT),
    onAsyncAttempt: (attempt) => console.log(describeAsyncAttempt(attempt)),
    log: say,
    onAttempt: (attempt) => console.log(describeAttempt(attempt)),
    onSkippedBacklog: (job, missed) =>
      console.log(
        `[scheduler] ${job}: ${missed.length} tick(s) passed while this process was suspended; not replayed (as Cloud Scheduler). Backfill: npm run cli -- missed`,
      ),
    onFunctionLog: (line) => {
      const text = describeFunctionLog(line);
      if (text) console.log(text);
    },
  });
  writeLocalState({
    pid: process.pid,
    databaseUrl: stack.databaseUrl,
    embeddedDatabase: !process.env.DATABASE_URL,
    functionUrl: stack.functionUrl,
    consoleUrl: stack.consoleUrl,
    ...(stack.aws ? { lambdaInvokeUrl: stack.aws.invokeUrl } : {}),
    startedAt: new Date().toISOString(),
  });

  const token = stack.token();
  const fired = cloudJobs(jobs).filter((job) => !job.paused);
  console.log(`
  The function     ${stack.functionUrl}   (the deployable bundle under functions-framework; private: Bearer ID token)
  Dashboard        ${stack.consoleUrl.replace("127.0.0.1", "localhost")}/dashboard   (local console: adds a development token)
  App backend      ${stack.appBackend.url}   (a demo of the app's own service: the http tasks' target; docs/local.md)
  Database         ${redact(stack.databaseUrl)}${
    process.env.DATABASE_URL
      ? ""
      : `
                   (for npm run task and npm run migrate: eval "$(npm run -s cli -- env)" sets DATABASE_URL)`
  }
  Scheduler        ${values["no-scheduler"] ? "off (--no-scheduler)" : `${fired.length} jobs firing, ${cloudJobs(jobs).length - fired.length} paused`}; next: ${nextFires(stack)}

  Call it (the token is valid for an hour; mint another with: npm run cli -- token):

  curl -sS -X POST ${stack.functionUrl}/ \\
    -H "Authorization: Bearer ${token}" \\
    -H "Content-Type: application/json" \\
    -d '{"task": "auto-cancel-unconfirmed-orders", "dryRun": true}'

  Operator CLI:    npm run cli -- jobs | history | health | run <task> [--dry-run] | missed
${stack.aws ? awsLines(stack.aws.invokeUrl) : ""}  Ctrl-C stops everything.
`);
} catch (error) {
  console.error(`[start] could not start: ${(error as Error).message}`);
  await shutdown(1, "could not start");
}

/** With --cloud aws: where the ticks go, and a manual run (a synchronous invoke). */
function awsLines(invokeUrl: string): string {
  return `
  AWS (--cloud aws): the local EventBridge Scheduler invokes the local Lambda (dist/lambda) with each
  schedule's templated Input; Lambda's retries of a thrown error come 1 and 2 minutes later.
  Lambda Invoke API ${invokeUrl}
  A manual run (a synchronous invoke):  npm run cli -- force-run auto-cancel-unconfirmed-orders --aws
  curl -sS -X POST ${invokeUrl} -d '{"task": "auto-cancel-unconfirmed-orders", "dryRun": true}'

`;
}

/** The email settings of this shell, if any, for the function (which sees no other variable of it). */
function passedThrough(names: readonly VariableName[]): Partial<Record<VariableName, string>> {
  return Object.fromEntries(
    names.flatMap((name) => (process.env[name] ? [[name, process.env[name] as string]] : [])),
  );
}

function redact(url: string): string {
  const parsed = new URL(url);
  if (parsed.password) parsed.password = "***";
  return parsed.toString();
}

function nextFires(running: LocalStack): string {
  const upcoming = (running.scheduler?.schedule ?? [])
    .filter((entry) => entry.next)
    .sort((a, b) => a.next!.getTime() - b.next!.getTime())
    .slice(0, 2);
  return upcoming.map((entry) => `${entry.job} at ${hhmmss(entry.next!)}Z`).join(", ") || "none";
}
