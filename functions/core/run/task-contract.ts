/**
 * What the runner and the email tasks agree on, and nothing else: types only, so the runner, the
 * email code and the tests import the contract without importing each other (as graphile-worker
 * keeps its shared contracts in `src/interfaces.ts`).
 */
import type { TaskDefinition } from "../catalog.js";
import type { Pool, PoolClient } from "../db/pool.js";
import type { RunErrorCode } from "../errors.js";
import type { Job } from "../schedule/jobs.js";
import type { Logger } from "../log.js";

export interface EmailTaskContext {
  readonly task: TaskDefinition;
  readonly runId: string;
  readonly pool: Pool;
  /** The connection that holds the task's lock and its statement timeout. */
  readonly client: PoolClient;
  readonly dryRun: boolean;
  readonly force: boolean;
  /** Epoch milliseconds after which no new batch of work should start. */
  readonly deadline: number;
  readonly log: Logger;
  /** Every task as the deployment schedules it (the overdue alert judges them all). */
  readonly jobs: readonly Job[];
}

/** Work a task finished: the rows it changed (for an email task, the emails SendGrid accepted). */
export interface TaskWork {
  readonly rowsAffected: number;
  /** The time budget ran out with work left: the next run goes on. */
  readonly more?: boolean;
}

/**
 * Work a task stopped part-way through: the run is recorded as failed with `code`, and the rows
 * it did change before stopping (emails already handed to SendGrid) are recorded with it.
 */
interface TaskStopped {
  readonly rowsAffected: number;
  readonly stopped: {
    readonly code: RunErrorCode;
    readonly message: string;
    readonly cause?: unknown;
  };
  /** Counts for the caller's answer and the log (calls made, sent, rejected, dead...). */
  readonly figures?: Readonly<Record<string, number>>;
}

export type EmailTaskOutcome = TaskWork | TaskStopped;

/** What an email task does once the runner holds its lock and has opened its run. */
export type EmailTaskHandler = (context: EmailTaskContext) => Promise<EmailTaskOutcome>;
