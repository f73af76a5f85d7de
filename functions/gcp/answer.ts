/**
 * The one place where outcomes become HTTP answers: a run's result, a health report, or an error
 * from anywhere in the request. A run's status and body are the core's (functions/core/run/outcome.ts,
 * the Lambda's too). Cloud Scheduler retries any non-2xx answer by the job's retry config, with its
 * backoff (https://cloud.google.com/scheduler/docs/reference/rest/v1/projects.locations.jobs#retryconfig),
 * so 200 is given only when a retry would be pointless or harmful (ran, skipped, duplicate, paused);
 * a tick that found the lock held and must not be lost (overlap "retry") is 409 so that it is retried.
 */
import type { ErrorCode } from "../core/errors.js";
import { ScheduledTaskError } from "../core/errors.js";
import { outcomeOfError, outcomeOfRun } from "../core/run/outcome.js";
import type { RunResult } from "../core/run/runner.js";

export interface Answer {
  readonly status: number;
  readonly body: unknown;
  readonly headers?: Readonly<Record<string, string>>;
  /** A page (the dashboard): sent as is with this content type instead of as JSON. */
  readonly contentType?: string;
}

export type Outcome =
  | { readonly kind: "run"; readonly result: RunResult }
  /** `status` only where 200 would hide what the caller asked about (an overdue task's health: 503). */
  | { readonly kind: "ok"; readonly body: unknown; readonly status?: number }
  | { readonly kind: "page"; readonly html: string }
  | { readonly kind: "error"; readonly error: unknown };

/** Thrown by the router for refusals that carry a header (405's `Allow`). */
export class HttpRefusal extends ScheduledTaskError {
  constructor(
    code: ErrorCode,
    message: string,
    readonly headers: Readonly<Record<string, string>>,
    details?: Record<string, unknown>,
  ) {
    super(code, message, details ? { details } : {});
  }
}

export function toAnswer(outcome: Outcome): Answer {
  switch (outcome.kind) {
    case "ok":
      return { status: outcome.status ?? 200, body: outcome.body };
    case "page":
      return { status: 200, body: outcome.html, contentType: "text/html; charset=utf-8" };
    case "run":
      return outcomeOfRun(outcome.result);
    case "error":
      return {
        ...outcomeOfError(outcome.error),
        ...(outcome.error instanceof HttpRefusal ? { headers: outcome.error.headers } : {}),
      };
  }
}
