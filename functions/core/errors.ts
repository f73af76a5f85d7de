/**
 * Every failure the function can answer with, and its HTTP status: the one place where outcomes
 * become status codes. Messages are written for the caller; causes stay in `cause` for the log.
 */

export const errorStatus = {
  bad_request: 400,
  unauthenticated: 401,
  forbidden: 403,
  not_found: 404,
  method_not_allowed: 405,
  payload_too_large: 413,
  unsupported_media_type: 415,
  /** A tick that must not be lost found another run holding the task's lock: retry it later. */
  lock_held: 409,
  guard_tripped: 422,
  /**
   * An http task's target refused the call for what it is (a 4xx other than 409 and 429): the
   * same call would be refused again, so it is not retried (424: the request failed because the
   * one it depended on did).
   */
  target_refused: 424,
  task_failed: 500,
  internal: 500,
  unavailable: 503,
  timeout: 504,
} as const;

export type ErrorCode = keyof typeof errorStatus;

/** Codes a run can end with when it is recorded as failed. */
export type RunErrorCode = Extract<
  ErrorCode,
  "guard_tripped" | "target_refused" | "task_failed" | "unavailable" | "timeout"
>;

export class ScheduledTaskError extends Error {
  readonly code: ErrorCode;
  /** Extra fields for the JSON error body (never secrets). */
  readonly details: Readonly<Record<string, unknown>> | undefined;

  constructor(
    code: ErrorCode,
    message: string,
    options: { cause?: unknown; details?: Record<string, unknown> } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "ScheduledTaskError";
    this.code = code;
    this.details = options.details;
  }

  get status(): number {
    return errorStatus[this.code];
  }
}

const connectionErrorCodes = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ENOTFOUND",
  "ETIMEDOUT",
  "EPIPE",
  "EHOSTUNREACH",
  "EAI_AGAIN",
]);

/**
 * What a database error means for the caller: the server unreachable or gone (503, worth a retry),
 * the statement cancelled by its timeout (504), or the task's own SQL failing (500).
 */
export function classifyDatabaseError(error: unknown): RunErrorCode {
  const err = error as { code?: unknown; message?: unknown } | null;
  const code = typeof err?.code === "string" ? err.code : "";
  const message = typeof err?.message === "string" ? err.message : "";
  if (code === "57014" && /statement timeout/i.test(message)) return "timeout";
  if (connectionErrorCodes.has(code)) return "unavailable";
  // 08: connection exceptions; 57P01-57P03: terminated by an administrator, crash or startup;
  // 53300: too many connections; 28000/28P01: the login is refused (a rotated password, a user
  // without the IAM grant); 3D000: the database does not exist. None is the task's fault, and a
  // retry once the deployment is fixed succeeds: unavailable (503), not the task failing (500).
  if (
    code.startsWith("08") ||
    /^57P0[1-3]$/.test(code) ||
    ["53300", "28000", "28P01", "3D000"].includes(code)
  ) {
    return "unavailable";
  }
  if (/Connection terminated|connection timeout|Client has encountered a connection error/i.test(message)) {
    return "unavailable";
  }
  return "task_failed";
}

/** A message safe to show a caller and store in the run history: no stack, bounded length. */
export function publicMessage(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  const oneLine = message.replace(/\s+/g, " ").trim() || "unknown error";
  return oneLine.length > 500 ? `${oneLine.slice(0, 497)}...` : oneLine;
}
