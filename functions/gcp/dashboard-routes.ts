/**
 * The dashboard's routes beyond the page, /health and /runs: each task's and run's page data, the
 * email side, and the operators' actions (pause, resume, run now, replay a failed tick). Loaded on
 * the first of them (the router imports it lazily), so a scheduler's tick never parses it.
 *
 * An action checks, in this order: that a browser's request is the dashboard's own
 * (functions/gcp/action-guard.ts) and its JSON body's shape, which reveal nothing; the token; that
 * the caller is an operator (OPERATOR_EMAILS: the scheduler's account may run tasks, not pause
 * them); then the action itself, through the core (functions/core/actions/operator-actions.ts),
 * which records who did it.
 */
import type { Request } from "@google-cloud/functions-framework";
import type { Outcome } from "./answer.js";
import type { Caller } from "./auth.js";
import { forgeryProblem } from "./action-guard.js";
import type { RequestContext } from "./router.js";
import { checkJsonBody } from "./router.js";
import type { ActionName } from "../core/actions/operator-actions.js";
import { performAction } from "../core/actions/operator-actions.js";
import { classifyDatabaseError, publicMessage, ScheduledTaskError } from "../core/errors.js";
import type { Job } from "../core/schedule/jobs.js";
import { jobNamed } from "../core/schedule/jobs.js";
import { quoted } from "../core/text.js";
import type { Viewer } from "./dashboard-data.js";
import { emailSide, runPage, taskPage } from "./dashboard-data.js";

const actionOfRoute = {
  pause: "pause",
  resume: "resume",
  runNow: "run",
  replay: "replay",
} as const satisfies Record<string, ActionName>;

type ActionRoute = keyof typeof actionOfRoute;
export type DashboardRouteName = ActionRoute | "dashboardTask" | "dashboardRun" | "dashboardEmail";

type Authenticate = (req: Request) => Promise<Caller>;

export async function dashboardRoutes(
  name: DashboardRouteName,
  context: RequestContext,
  authenticate: Authenticate,
): Promise<Outcome> {
  if (name in actionOfRoute) return actionRoute(actionOfRoute[name as ActionRoute], context, authenticate);
  const params = new URL(context.req.originalUrl ?? context.req.url, "http://function").searchParams;
  const caller = await authenticate(context.req);
  const viewer: Viewer = { email: caller.email, operator: caller.operator };
  const now = context.deps.now?.() ?? new Date();
  return readRoute(async (pool) => {
    switch (name) {
      case "dashboardTask": {
        const job = taskParam(params, context.deps.jobs);
        return taskPage(pool, job, viewer, now);
      }
      case "dashboardRun": {
        const id = onlyParam(params, "id", "the run's id");
        const page = await runPage(pool, context.deps.jobs, id, viewer, now);
        if (!page) throw new ScheduledTaskError("not_found", `no run ${quoted(id, 40)} (purged, or never)`);
        return page;
      }
      default:
        onlyParams(params, []);
        return emailSide(pool);
    }
  }, context);
}

async function readRoute(
  read: (pool: Awaited<ReturnType<RequestContext["deps"]["pool"]>>) => Promise<unknown>,
  context: RequestContext,
): Promise<Outcome> {
  const pool = await context.deps.pool();
  try {
    return { kind: "ok", body: await read(pool) };
  } catch (error) {
    if (error instanceof ScheduledTaskError) throw error;
    throw databaseError(error);
  }
}

function databaseError(error: unknown): ScheduledTaskError {
  return classifyDatabaseError(error) === "unavailable"
    ? new ScheduledTaskError("unavailable", "the database is unreachable", { cause: error })
    : new ScheduledTaskError("internal", `could not read the database: ${publicMessage(error)}`, {
        cause: error,
      });
}

function onlyParams(params: URLSearchParams, allowed: readonly string[]): void {
  const unknown = [...new Set(params.keys())].filter((key) => !allowed.includes(key));
  if (unknown.length > 0) {
    const named = unknown.map((key) => quoted(key, 50)).join(", ");
    throw new ScheduledTaskError(
      "bad_request",
      `unknown query parameter(s) ${named}${allowed.length ? `: this route takes ${allowed.join(", ")}` : ""}`,
    );
  }
}

function onlyParam(params: URLSearchParams, name: string, what: string): string {
  onlyParams(params, [name]);
  const values = params.getAll(name);
  if (values.length !== 1 || values[0] === "") {
    throw new ScheduledTaskError("bad_request", `${name} must name ${what}, once`);
  }
  return values[0]!;
}

function taskParam(params: URLSearchParams, jobs: readonly Job[]): Job {
  const name = onlyParam(params, "task", "one task");
  const job = jobNamed(jobs, name);
  if (!job) {
    throw new ScheduledTaskError("not_found", `unknown task ${quoted(name, 100)}`, {
      details: { tasks: jobs.map((candidate) => candidate.name) },
    });
  }
  return job;
}

async function actionRoute(
  action: ActionName,
  context: RequestContext,
  authenticate: Authenticate,
): Promise<Outcome> {
  const { req, deps, log } = context;
  const forged = forgeryProblem((name) => req.header(name));
  if (forged !== undefined) throw new ScheduledTaskError("forbidden", forged);
  checkJsonBody(req);
  const caller = await authenticate(req);
  if (!caller.operator) {
    throw new ScheduledTaskError(
      "forbidden",
      `the caller ${quoted(caller.email, 120)} is not an operator (OPERATOR_EMAILS): it may read the dashboard, not act from it`,
    );
  }
  const pool = await deps.pool();
  const actionLog = log.child({ operator: caller.email, action });
  try {
    const answer = await performAction(action, req.body, {
      pool,
      jobs: deps.jobs,
      operator: caller.email,
      now: deps.now?.() ?? new Date(),
      run: (request) =>
        deps.runTask(
          {
            pool,
            log: actionLog,
            jobs: deps.jobs,
            ...(deps.loadEmailHandler ? { loadEmailHandler: deps.loadEmailHandler } : {}),
            ...(deps.http ? { http: deps.http } : {}),
          },
          request,
        ),
    });
    actionLog.info(`${action} ${answer.task} by ${caller.email}: ${answer.outcome}`, {
      task: answer.task,
      ...(answer.run ? { runId: answer.run.runId } : {}),
    });
    return { kind: "ok", body: answer };
  } catch (error) {
    if (error instanceof ScheduledTaskError) throw error;
    throw databaseError(error);
  }
}
