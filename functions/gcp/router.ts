/**
 * The HTTP layer: check the request, authenticate, find the task, hand it to the runner, and
 * answer through `toAnswer`. Everything is caught here: the framework's own answer to a thrown
 * error would be a 500 carrying the error's message (unless NODE_ENV=production), and an
 * unhandled rejection would kill the instance with every request in it.
 *
 * Order of checks: what only looks at the request's shape (path, method, content type, size,
 * body fields, scheduler headers) first, since it reveals nothing and costs nothing; then the
 * token; then anything that names tasks (a 404 lists them) or touches the database.
 */
import type { Request, Response } from "@google-cloud/functions-framework";
import type { Answer, Outcome } from "./answer.js";
import { HttpRefusal, toAnswer } from "./answer.js";
import type { Caller } from "./auth.js";
import { isMonitoringAgent } from "./google-identities.js";
import type { RouteName } from "./contract.js";
import type { DashboardRouteName } from "./dashboard-routes.js";
import { notFoundMessage, routeList } from "./contract.js";
import type { Pool } from "../core/db/pool.js";
import { classifyDatabaseError, publicMessage, ScheduledTaskError } from "../core/errors.js";
import type { Job } from "../core/schedule/jobs.js";
import { jobNamed } from "../core/schedule/jobs.js";
import type { Logger } from "../core/log.js";
import { traceFields } from "../core/log.js";
import type { RunnerDeps, RunRequest, RunResult } from "../core/run/runner.js";
import { contentTypeProblem, jsonBodyProblem } from "./strict-request.js";
import { scheduleTimeProblem } from "../core/schedule/ticks.js";
import { deliveryOf, runOf } from "../core/run/delivery.js";
import { parseTaskBody } from "../core/run/task-body.js";
import { parseScheduleTime } from "../core/schedule/schedule-time.js";
import { clip, quoted } from "../core/text.js";

/** Larger than any valid body by two orders of magnitude; the framework itself would take 1 GB. */
export const MAX_BODY_BYTES = 8 * 1024;

export interface Authenticator {
  authenticate(authorization: string | undefined): Promise<Caller>;
}

export type RunTask = (deps: RunnerDeps, request: RunRequest) => Promise<RunResult>;

interface HandlerDeps {
  readonly authenticator: Authenticator;
  /** Every task as this deployment schedules it (`resolveJobs`): what the function looks tasks up in. */
  readonly jobs: readonly Job[];
  /** The instance's pool, created on first use. */
  readonly pool: () => Promise<Pool>;
  readonly runTask: RunTask;
  readonly log: Logger;
  readonly loadEmailHandler?: RunnerDeps["loadEmailHandler"];
  /** The stack's http targets and how the function proves itself to them. */
  readonly http?: RunnerDeps["http"];
  /** For the trace field of log lines. */
  readonly projectId?: string | undefined;
  readonly now?: () => Date;
}

export type Handler = (req: Request, res: Response) => Promise<void>;

export interface RequestContext {
  readonly req: Request;
  readonly log: Logger;
  readonly deps: HandlerDeps;
}

type RouteHandler = (context: RequestContext) => Promise<Outcome>;

const handlers: Record<RouteName, RouteHandler> = {
  run: runRoute,
  health: healthRoute,
  runs: runsRoute,
  dashboard: dashboardRoute,
  dashboardTask: dashboardPart("dashboardTask"),
  dashboardRun: dashboardPart("dashboardRun"),
  dashboardEmail: dashboardPart("dashboardEmail"),
  pause: dashboardPart("pause"),
  resume: dashboardPart("resume"),
  runNow: dashboardPart("runNow"),
  replay: dashboardPart("replay"),
};

const routes: ReadonlyMap<string, { readonly method: string; readonly handle: RouteHandler }> = new Map(
  routeList.map((route) => [route.path, { method: route.method, handle: handlers[route.name] }]),
);

export function createHandler(deps: HandlerDeps): Handler {
  return async (req, res) => {
    const started = performance.now();
    const log = deps.log.child(traceFields(req.header("x-cloud-trace-context"), deps.projectId));
    let outcome: Outcome;
    try {
      const route = routes.get(req.path);
      if (!route) {
        throw new ScheduledTaskError("not_found", notFoundMessage);
      }
      if (req.method !== route.method) {
        throw new HttpRefusal("method_not_allowed", `${req.path} accepts ${route.method} only`, {
          Allow: route.method,
        });
      }
      outcome = await route.handle({ req, log, deps });
    } catch (error) {
      outcome = { kind: "error", error };
    }
    const answer = toAnswer(outcome);
    send(res, answer);
    logRequest(log, req, answer, outcome, performance.now() - started);
  };
}

/** Every request of a misconfigured deployment: refused, and the log says why at cold start. */
export function createRefusingHandler(log: Logger, projectId?: string): Handler {
  return async (req, res) => {
    const error = new ScheduledTaskError(
      "unavailable",
      "the function is not configured; its log at start-up says what is missing",
    );
    const answer = toAnswer({ kind: "error", error });
    send(res, answer);
    const requestLog = log.child(traceFields(req.header("x-cloud-trace-context"), projectId));
    logRequest(requestLog, req, answer, { kind: "error", error }, 0);
  };
}

function send(res: Response, answer: Answer): void {
  if (res.headersSent) return;
  res.status(answer.status);
  for (const [name, value] of Object.entries(answer.headers ?? {})) res.setHeader(name, value);
  res.setHeader("Cache-Control", "no-store");
  if (answer.contentType !== undefined) {
    // The page loads nothing from elsewhere: its own data, relative to it, and nothing else.
    res.setHeader(
      "Content-Security-Policy",
      "default-src 'none'; connect-src 'self'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:",
    );
    res.setHeader("Content-Type", answer.contentType);
    res.end(String(answer.body));
    return;
  }
  res.setHeader("Content-Type", "application/json; charset=utf-8");
  res.end(JSON.stringify(answer.body));
}

function logRequest(log: Logger, req: Request, answer: Answer, outcome: Outcome, ms: number): void {
  const fields: Record<string, unknown> = {
    httpRequest: { requestMethod: req.method, requestUrl: clip(req.path, 200), status: answer.status },
    latencyMs: Math.round(ms * 100) / 100,
  };
  if (outcome.kind === "run") {
    fields.task = outcome.result.task;
    fields.runId = outcome.result.runId;
    fields.outcome = outcome.result.status;
  }
  const line = `${req.method} ${clip(req.path, 200)}: ${answer.status}`;
  if (outcome.kind === "error") {
    const { error } = outcome;
    if (error instanceof ScheduledTaskError) {
      fields.code = error.code;
      if (typeof error.details?.task === "string") fields.task = error.details.task;
      const why = `${line} ${error.code}: ${error.message}`;
      if (error.status >= 500) log.error(why, { ...fields, cause: describeCause(error) });
      else log.warn(why, fields);
    } else {
      log.error(`${line} internal error: ${publicMessage(error)}`, fields);
    }
    return;
  }
  // A health answer of 503 reports an overdue task; the function itself did not fail.
  if (answer.status >= 500 && outcome.kind !== "ok") log.error(line, fields);
  else if (answer.status >= 400) log.warn(line, fields);
  else log.info(line, fields);
}

function describeCause(error: ScheduledTaskError): string | undefined {
  return error.cause === undefined ? undefined : publicMessage(error.cause);
}

// --- POST / ----------------------------------------------------------------------------------

async function runRoute({ req, log, deps }: RequestContext): Promise<Outcome> {
  checkJsonBody(req);
  const body = parseTaskBody(req.body);
  const arrival = deps.now?.() ?? new Date();
  const scheduler = schedulerHeaders(req, arrival);
  const caller = operator(await deps.authenticator.authenticate(req.header("authorization")));

  const task = jobNamed(deps.jobs, body.task);
  if (!task) {
    throw new ScheduledTaskError("not_found", `unknown task ${quoted(body.task, 100)}`, {
      details: { tasks: deps.jobs.map((job) => job.name) },
    });
  }
  try {
    const delivery = await deliveryOf(task, scheduler ?? {}, arrival);
    // Only the scheduler's ticks are recorded `scheduler`: an operator's run of a tick says what it is.
    if (caller.operator && delivery.kind === "tick" && !body.trigger) {
      throw new ScheduledTaskError(
        "forbidden",
        `the caller ${quoted(caller.email, 120)} is an operator (OPERATOR_EMAILS): an operator's run of a tick is a backfill or a replay, and says so in "trigger"`,
      );
    }
    const runLog = log.child({ caller: caller.email });
    if (delivery.kind === "manual" && scheduler) {
      runLog.info(`${task.name}: a manual run: ${delivery.reason}`, { jobName: delivery.jobName });
    }
    const result = await deps.runTask(
      {
        pool: await deps.pool(),
        log: runLog,
        jobs: deps.jobs,
        ...(deps.loadEmailHandler ? { loadEmailHandler: deps.loadEmailHandler } : {}),
        ...(deps.http ? { http: deps.http } : {}),
      },
      {
        task,
        ...runOf(delivery, arrival, body.trigger),
        dryRun: body.dryRun,
        force: body.force,
        traceHeader: req.header("x-cloud-trace-context"),
      },
    );
    return { kind: "run", result };
  } catch (error) {
    // A run that could not even start (the database down) has no record: its ERROR log line is
    // the only trace, and the failed-runs alert counts only lines that name their task.
    if (error instanceof ScheduledTaskError && error.details?.task === undefined) {
      throw new ScheduledTaskError(error.code, error.message, {
        cause: error.cause,
        details: { ...error.details, task: task.name },
      });
    }
    throw error;
  }
}

export function checkJsonBody(req: Request): void {
  const declared = Number(req.header("content-length"));
  const received = req.rawBody?.length ?? 0;
  if ((Number.isFinite(declared) && declared > MAX_BODY_BYTES) || received > MAX_BODY_BYTES) {
    throw new ScheduledTaskError("payload_too_large", `the body is larger than ${MAX_BODY_BYTES} bytes`);
  }
  const mediaType = (req.header("content-type") ?? "").split(";")[0]?.trim().toLowerCase();
  if (mediaType !== "application/json") {
    throw new ScheduledTaskError(
      "unsupported_media_type",
      `the body must be JSON sent with Content-Type: application/json (got ${mediaType ? quoted(mediaType, 100) : "none"})`,
    );
  }
  // framework-errors.ts refuses a foreign charset before the body is decoded; checked again for a
  // host that serves this handler without that wrapper. The repeated-key scan lives only here.
  const charset = contentTypeProblem(req.header("content-type"));
  if (charset !== undefined) throw new ScheduledTaskError("unsupported_media_type", charset);
  const ambiguous = req.rawBody === undefined ? undefined : jsonBodyProblem(req.rawBody);
  if (ambiguous !== undefined) throw new ScheduledTaskError("bad_request", ambiguous);
}

const jobNamePattern = /^[\x21-\x7e]{1,500}$/;

/**
 * Cloud Scheduler's headers, checked: a run records them, and the schedule time of a tick is what
 * makes a second delivery of it a duplicate. A time a year or more away from the arrival is absurd
 * and refused. Cloud Scheduler documents no retry-count header for HTTP targets, so a run's attempt
 * is not known here.
 */
export function schedulerHeaders(
  req: Request,
  arrival: Date,
): { jobName?: string; scheduleTime?: Date } | undefined {
  const jobName = req.header("x-cloudscheduler-jobname");
  const scheduleTime = req.header("x-cloudscheduler-scheduletime");
  if (jobName === undefined && scheduleTime === undefined) return undefined;
  if (jobName !== undefined && !jobNamePattern.test(jobName)) {
    throw new ScheduledTaskError(
      "bad_request",
      "X-CloudScheduler-JobName must be 1 to 500 printable characters without spaces",
    );
  }
  let time: Date | undefined;
  if (scheduleTime !== undefined) {
    time = parseScheduleTime(scheduleTime);
    if (!time) {
      throw new ScheduledTaskError(
        "bad_request",
        "X-CloudScheduler-ScheduleTime must be an RFC 3339 time, e.g. 2026-01-31T04:15:00Z",
      );
    }
    const problem = scheduleTimeProblem(time, arrival);
    if (problem) throw new ScheduledTaskError("bad_request", problem);
  }
  return {
    ...(jobName !== undefined ? { jobName } : {}),
    ...(time !== undefined ? { scheduleTime: time } : {}),
  };
}

// --- GET /health -----------------------------------------------------------------------------

/**
 * Every task's health, or with `?task=<name>` that task's alone: 503 while it is overdue, 200
 * otherwise (paused included), so an uptime check of it is a dead-man that names its task
 * (infra/gcp/dead-man.ts). The only caller a Monitoring service agent may be.
 */
async function healthRoute({ req, deps }: RequestContext): Promise<Outcome> {
  await deps.authenticator.authenticate(req.header("authorization"));
  const job = healthQuery(req, deps.jobs);
  const pool = await deps.pool();
  // The health report and the cron arithmetic it needs load on the first health request (a
  // scheduled delivery loads the tick rules on its own first use: functions/core/run/delivery.ts).
  const { readHealth } = await import("../core/reads/health.js");
  const now = deps.now?.() ?? new Date();
  if (!job) return { kind: "ok", body: await readHealth(pool, now, deps.jobs) };
  // One task's report against the whole history: "the scheduler was running" is about any task.
  const health = (await readHealth(pool, now, [job])).tasks[0]!;
  return { kind: "ok", body: health, status: health.overdue ? 503 : 200 };
}

/** The task `?task=` names (undefined: every task); any other parameter is refused, not ignored. */
function healthQuery(req: Request, jobs: readonly Job[]): Job | undefined {
  const params = new URL(req.originalUrl ?? req.url, "http://function").searchParams;
  const unknown = [...new Set(params.keys())].filter((key) => key !== "task");
  if (unknown.length > 0) {
    throw new ScheduledTaskError(
      "bad_request",
      `unknown query parameter(s) ${unknown.map((key) => quoted(key, 50)).join(", ")}: /health takes task`,
    );
  }
  const named = params.getAll("task");
  if (named.length === 0) return undefined;
  if (named.length > 1 || named[0] === "") {
    throw new ScheduledTaskError("bad_request", "task must name one task: /health?task=<name>");
  }
  const job = jobNamed(jobs, named[0]!);
  if (!job) {
    throw new ScheduledTaskError("not_found", `unknown task ${quoted(named[0]!, 100)}`, {
      details: { tasks: jobs.map((candidate) => candidate.name) },
    });
  }
  return job;
}

/** The caller of a route that runs tasks or reads their runs: any allowed caller but a health probe. */
async function authenticateOperator(req: Request, deps: HandlerDeps): Promise<Caller> {
  return operator(await deps.authenticator.authenticate(req.header("authorization")));
}

/** An authenticated caller who may run tasks or read their runs: anyone allowed but a health probe. */
function operator(caller: Caller): Caller {
  if (isMonitoringAgent(caller.email)) {
    throw new ScheduledTaskError(
      "forbidden",
      `the caller ${quoted(caller.email, 120)} is a Cloud Monitoring service agent, which may only call GET /health`,
    );
  }
  return caller;
}

// --- GET /runs and GET /dashboard ------------------------------------------------------------

/** Recent runs, newest first: `?task=<name>&failed=true&limit=<1..1000>` (default 50). */
async function runsRoute({ req, deps }: RequestContext): Promise<Outcome> {
  // The query names tasks: only an authenticated caller learns whether a name is one.
  await authenticateOperator(req, deps);
  const url = new URL(req.originalUrl ?? req.url, "http://function");
  const { parseRunQuery, recentRuns } = await import("../core/reads/history.js");
  const query = parseRunQuery(url.searchParams, (name) => jobNamed(deps.jobs, name) !== undefined);
  if (typeof query === "string") throw new ScheduledTaskError("bad_request", query);
  const pool = await deps.pool();
  try {
    return { kind: "ok", body: { runs: await recentRuns(pool, query) } };
  } catch (error) {
    throw classifyDatabaseError(error) === "unavailable"
      ? new ScheduledTaskError("unavailable", "the database is unreachable", { cause: error })
      : new ScheduledTaskError("internal", `could not read the run history: ${publicMessage(error)}`, {
          cause: error,
        });
  }
}

/** The dashboard page; its data comes from GET /health and GET /runs, authenticated the same way. */
async function dashboardRoute({ req, deps }: RequestContext): Promise<Outcome> {
  await authenticateOperator(req, deps);
  const { dashboardHtml } = await import("./dashboard.js");
  return { kind: "page", html: dashboardHtml };
}

/** The dashboard's data and actions (functions/gcp/dashboard-routes.ts), loaded on the first of them. */
function dashboardPart(name: DashboardRouteName): RouteHandler {
  return async (context) => {
    const { dashboardRoutes } = await import("./dashboard-routes.js");
    return dashboardRoutes(name, context, (req) => authenticateOperator(req, context.deps));
  };
}
