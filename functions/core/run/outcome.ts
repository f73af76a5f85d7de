/**
 * How a run request ended, for its caller, on every platform: a status (the HTTP status Google's
 * function answers with) and a body (the run's result, or the error shape `{"error": {code,
 * message, ...}}`), and whether delivering the same tick again could help. Google's function sends
 * the status (functions/gcp/answer.ts); the Lambda returns the body or throws it
 * (functions/aws/handler.ts). One rule, so both clouds retry the same outcomes.
 *
 * Dependency-free but for the error table: loaded at every cold start.
 */
import type { ErrorCode } from "../errors.js";
import { errorStatus, ScheduledTaskError } from "../errors.js";
import type { RunResult } from "./runner.js";

export interface RunOutcome {
  readonly status: number;
  readonly body: unknown;
}

function errorBody(code: ErrorCode, message: string, details?: Readonly<Record<string, unknown>>): unknown {
  return { error: { code, message, ...details } };
}

/**
 * A run's result: 200 when a retry would be pointless or harmful (ran, skipped, duplicate,
 * paused); a tick that found the lock held and must not be lost (overlap "retry") is 409, so
 * that it is delivered again; a failed run carries its code's status.
 */
export function outcomeOfRun(result: RunResult): RunOutcome {
  if (result.status === "locked") {
    const { message, runId, task, dryRun } = result;
    return { status: errorStatus.lock_held, body: errorBody("lock_held", message, { runId, task, dryRun }) };
  }
  if (result.status !== "failed") return { status: 200, body: result };
  const { code, message, runId, task, durationMs, dryRun, details } = result;
  return {
    status: errorStatus[code],
    body: errorBody(code, message, { runId, task, dryRun, durationMs, ...details }),
  };
}

/** An error from anywhere in a request: its own status and words, or (a bug) no detail at all. */
export function outcomeOfError(error: unknown): RunOutcome {
  if (error instanceof ScheduledTaskError) {
    return { status: error.status, body: errorBody(error.code, error.message, error.details) };
  }
  // Anything else is a bug: the caller gets no detail (the log has the message).
  return { status: 500, body: errorBody("internal", "internal error") };
}

/**
 * Whether delivering the same request again could end differently: the lock held by a run that
 * will end (409), the task failing, the database or a secret unreachable, a timeout (5xx). A
 * request refused for what it is (400, 404, the guard's 422) would be refused again: retrying it
 * only repeats the refusal, and a guard trip waits for a person (`force`).
 */
export function isRetryable(status: number): boolean {
  return status === errorStatus.lock_held || status >= 500;
}
