/**
 * How a run ended, as the runner answers it (`RunResult`), the progress a batched run reports, and
 * the failure a run's work ends with before it becomes a result. Imports the error table only.
 */
import type { TaskDefinition } from "../catalog.js";
import type { RunErrorCode } from "../errors.js";
import { classifyDatabaseError, publicMessage, ScheduledTaskError } from "../errors.js";
import type { TaskWork } from "./task-contract.js";

export interface BatchProgress {
  readonly task: string;
  readonly runId: string;
  readonly batches: number;
  readonly rowsSoFar: number;
  readonly rowsPerSecond: number;
  /** The rows of the batch just committed, and how long its transaction took. */
  readonly batchRows: number;
  readonly batchMs: number;
  /**
   * The batch ran past its timeout and was cancelled: rolled back, none of its rows changed
   * (`batchRows` 0; `batchMs` is how long it held its locks); the next batch retries smaller.
   */
  readonly cancelled?: true;
}

interface RunBase {
  readonly runId: string;
  readonly task: string;
  readonly dryRun: boolean;
}

export type RunResult =
  | (RunBase & {
      readonly status: "succeeded";
      readonly rowsAffected: number;
      readonly durationMs: number;
      readonly more?: true;
    })
  | (RunBase & { readonly status: "skipped"; readonly message: string })
  /**
   * A tick of a task whose overlap policy is "retry" found the lock held: recorded as skipped, and
   * answered 409 so that Cloud Scheduler retries the tick by the job's policy.
   */
  | (RunBase & { readonly status: "locked"; readonly message: string })
  /** The task is paused at run time (`cli pause`): nothing ran; recorded with the reason. */
  | (RunBase & {
      readonly status: "paused";
      readonly reason: string;
      readonly pausedBy: string;
      readonly pausedAt: string;
      readonly until: string | null;
    })
  | (RunBase & { readonly status: "duplicate" })
  | (RunBase & {
      readonly status: "failed";
      readonly code: RunErrorCode;
      readonly message: string;
      readonly durationMs: number;
      readonly details?: Readonly<Record<string, unknown>>;
    });

/** Work a run finished, and how its end was recorded when the work recorded it itself. */
export interface RunWork extends TaskWork {
  /** A dry run's transaction, left open to be rolled back in the round trip of the run's record. */
  readonly openForDryRun?: true;
  /** The work recorded its own end (scheduler.run_opened_statement), in this many milliseconds. */
  readonly recordedDurationMs?: number;
  /** What the run record's message says of a success (an http task's answer). */
  readonly message?: string;
}

/** A run's work stopped: recorded as failed with `code`, and the rows it changed before. */
export class RunFailure extends Error {
  constructor(
    readonly code: RunErrorCode,
    message: string,
    readonly rowsAffected: number,
    readonly details?: Record<string, unknown>,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

const runErrorCodes: ReadonlySet<string> = new Set<RunErrorCode>([
  "guard_tripped",
  "target_refused",
  "task_failed",
  "unavailable",
  "timeout",
]);

function isRunErrorCode(code: string): code is RunErrorCode {
  return runErrorCodes.has(code);
}

/** What a run's work threw, as the failure its run is recorded with. */
export function failureOf(error: unknown): RunFailure {
  if (error instanceof RunFailure) return error;
  if (error instanceof ScheduledTaskError && isRunErrorCode(error.code)) {
    // An email task's own verdict before it did anything (Secret Manager unreachable: 503).
    const details = error.details ? { ...error.details } : undefined;
    return new RunFailure(error.code, error.message, 0, details, { cause: error });
  }
  return new RunFailure(classifyDatabaseError(error), publicMessage(error), 0, undefined, { cause: error });
}

export function guardTripped(task: TaskDefinition, rows: number, limit: number): RunFailure {
  return new RunFailure(
    "guard_tripped",
    `${task.name} would change ${rows} rows, more than its limit of ${limit}; nothing was changed (force the run to override)`,
    0,
    { wouldChange: rows, maxRows: limit },
  );
}
