/**
 * The function's HTTP contract: its routes and the shapes of what they take and answer. The router
 * dispatches on this table, the framework's error handler and the router word their 404 from it,
 * the local console proxies its GET routes, and the CLI, `npm start` and the tests read answers
 * through these types instead of casting.
 *
 * Loaded on the function's cold path: it imports types only (erased at build), so it costs nothing.
 */
import type { ErrorCode } from "../core/errors.js";
import type { HealthReport } from "../core/reads/health.js";
import type { RunResult } from "../core/run/runner.js";

interface Route {
  readonly path: string;
  readonly method: "GET" | "POST";
  /** What it answers, for people: the 404 text, the docs. */
  readonly answers: string;
  /** The local console may fetch it for a browser (a GET that changes nothing). */
  readonly readOnly: boolean;
  /**
   * An operator's action from the dashboard: a POST that changes state, only for a caller in
   * OPERATOR_EMAILS and only with the browser checks of functions/gcp/action-guard.ts.
   */
  readonly action?: true;
}

export const routes = {
  run: {
    path: "/",
    method: "POST",
    answers: "runs a task: a RunAnswer, or an ErrorAnswer",
    readOnly: false,
  },
  health: {
    path: "/health",
    method: "GET",
    answers: "per task health: a HealthAnswer (?task=<name>: a TaskHealthAnswer, 503 while overdue)",
    readOnly: true,
  },
  runs: {
    path: "/runs",
    method: "GET",
    answers: "recent runs, newest first (?task=&failed=true&limit=1..1000): a RunsAnswer",
    readOnly: true,
  },
  dashboard: { path: "/dashboard", method: "GET", answers: "the dashboard page (HTML)", readOnly: true },
  dashboardTask: {
    path: "/dashboard/task",
    method: "GET",
    answers: "one task's page (?task=<name>): a TaskPageAnswer",
    readOnly: true,
  },
  dashboardRun: {
    path: "/dashboard/run",
    method: "GET",
    answers: "one run's page (?id=<run id>): a RunPageAnswer",
    readOnly: true,
  },
  dashboardEmail: {
    path: "/dashboard/email",
    method: "GET",
    answers: "the email side: outbox, dead emails, the local mailbox: an EmailSideAnswer",
    readOnly: true,
  },
  pause: {
    path: "/actions/pause",
    method: "POST",
    answers: 'an operator pauses a task ({"task", "reason", "until"?}): an ActionAnswer',
    readOnly: false,
    action: true,
  },
  resume: {
    path: "/actions/resume",
    method: "POST",
    answers: 'an operator resumes a task ({"task"}): an ActionAnswer',
    readOnly: false,
    action: true,
  },
  runNow: {
    path: "/actions/run",
    method: "POST",
    answers: 'an operator runs a task now, a manual run ({"task", "dryRun"?}): an ActionAnswer',
    readOnly: false,
    action: true,
  },
  replay: {
    path: "/actions/replay",
    method: "POST",
    answers: 'an operator replays a failed tick ({"runId"}): an ActionAnswer',
    readOnly: false,
    action: true,
  },
} as const satisfies Record<string, Route>;

export type RouteName = keyof typeof routes;

/** The routes as a list, in table order. */
export const routeList: readonly (Route & { readonly name: RouteName })[] = (
  Object.keys(routes) as RouteName[]
).map((name) => ({ name, ...routes[name] }));

/** The one wording of "no such path", from the table: "POST /, GET /health, ... and GET /dashboard". */
export const notFoundMessage = `no such path: the function serves ${joinAnd(
  routeList.map((route) => `${route.method} ${route.path}`),
)}`;

/** The body of POST /: the run request every platform takes (functions/core/run/task-body.ts). */
export type { TaskBody } from "../core/run/task-body.js";

/**
 * POST / with 200: the run succeeded, was skipped (lock held), was a duplicate of a tick that
 * succeeded, or the task is paused at run time (nothing ran). A tick of a task with overlap "retry"
 * that found the lock held is 409 `lock_held` (an ErrorAnswer), so the scheduler retries it.
 */
export type RunAnswer = Exclude<RunResult, { readonly status: "failed" | "locked" }>;

/**
 * Every non-2xx JSON answer. A failed run's error also names the run (`runId`, `task`, `dryRun`,
 * `durationMs`); an unknown task's lists `tasks`; a guard's trip carries its count and limit.
 */
interface ErrorAnswer {
  readonly error: {
    readonly code: ErrorCode;
    readonly message: string;
    readonly runId?: string;
    readonly task?: string;
    readonly dryRun?: boolean;
    readonly durationMs?: number;
    readonly tasks?: readonly string[];
    readonly [detail: string]: unknown;
  };
}

/** GET /health with 200. */
export type HealthAnswer = HealthReport;

export type { ActionAnswer, EmailSideAnswer, RunPageAnswer, TaskPageAnswer } from "./dashboard-data.js";

/** What POST / answers, by status: read `"error" in answer` to tell them apart. */
export type PostAnswer = RunAnswer | ErrorAnswer;

export function isErrorAnswer(body: unknown): body is ErrorAnswer {
  const error = (body as { error?: unknown } | null)?.error as
    { code?: unknown; message?: unknown } | undefined;
  return (
    typeof error === "object" &&
    error !== null &&
    typeof error.code === "string" &&
    typeof error.message === "string"
  );
}

function joinAnd(items: readonly string[]): string {
  return items.length <= 1 ? items.join("") : `${items.slice(0, -1).join(", ")} and ${items.at(-1)}`;
}
