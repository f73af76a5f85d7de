/**
 * Opening a run and recording its end, in scheduler.job_runs through the database's routines
 * (scheduler.start_run, open_run, finish_run): the opening takes the task's lock and refuses a
 * paused task or a duplicate schedule time; the end gives the lock back, on another connection if
 * the run's own died.
 */
import { overlapOf, timeZoneOf } from "../catalog.js";
import type { HeldClient, Pool, PoolClient } from "../db/pool.js";
import type { Quoter, SqlValue } from "../db/sql-literal.js";
import { integerLiteral, sqlLiteral } from "../db/sql-literal.js";
import { classifyDatabaseError } from "../errors.js";
import type { Logger } from "../log.js";
import type { PauseOfRunRow } from "../reads/tick-facts.js";
import type { RunRequest } from "./run-request.js";
import type { RunFailure, RunResult } from "./run-result.js";

/** scheduler.start_run's row, with the pause that stopped the run when one did. */
export interface OpenedRun extends Partial<PauseOfRunRow> {
  readonly outcome: "started" | "skipped" | "duplicate" | "paused";
  readonly run_id: string;
}

/**
 * The pause of a run that start_run recorded as paused (its reason is the run's message), asked
 * apart from the opening: a paused tick does no work, and every run that does work is spared the
 * join.
 */
export async function pauseOf(client: PoolClient, runId: string): Promise<PauseOfRunRow> {
  const { rows } = await client.query<PauseOfRunRow>({
    name: "scheduler.pause_of_run",
    text: `SELECT r.message AS reason, p.paused_by, p.paused_at, p.until
           FROM scheduler.job_runs r LEFT JOIN scheduler.task_pauses p ON p.task = r.task
           WHERE r.id = $1`,
    values: [runId],
  });
  return rows[0] ?? { reason: null, paused_by: null, paused_at: null, until: null };
}

/** scheduler.start_run's (and open_run's) arguments, in their order. */
export function openRunValues(request: RunRequest): SqlValue[] {
  const { task } = request;
  return [
    task.name,
    request.trigger,
    request.jobName ?? null,
    request.scheduleTime ?? null,
    request.attempt ?? null,
    request.dryRun === true,
    request.force === true,
    task.timeoutSeconds * 1000,
    timeZoneOf(task),
    request.requestedScheduleTime ?? null,
    request.tick ?? null,
  ];
}

/**
 * The statement that opens a batched, email or dry run (a named statement, `$1`..`$11`):
 * scheduler.open_run (sql/routines/scheduler.open_run.sql) is start_run with the pause that stopped
 * the run, if one did, and commits without waiting for its disk flush.
 */
const OPEN_RUN = `SELECT outcome, run_id, reason, paused_by, paused_at, until FROM scheduler.open_run(${Array.from(
  { length: 11 },
  (_, i) => `$${i + 1}`,
).join(", ")})`;

/** Opens a run whose work follows in round trips of its own. */
export async function openRun(client: PoolClient, values: readonly SqlValue[]): Promise<OpenedRun> {
  const opened = await client.query<OpenedRun>({
    // Named: parsed and planned once per connection, not on every run (a failed start never
    // returns its connection to the pool, so a connection never holds a half-prepared one).
    name: "scheduler.open_run",
    text: OPEN_RUN,
    values: [...values],
  });
  const row = opened.rows[0];
  if (!row) throw new Error("scheduler.open_run returned no row");
  return row;
}

/**
 * scheduler.start_run alone, its values written in: the opening a single statement is sent with
 * (single-statement.ts). start_run answers the outcome and the run; the pause that stopped a run
 * is asked apart (`pauseOf`) when one did, since a paused run does no work.
 */
export function startRunSelect(quoter: Quoter, values: readonly SqlValue[]): string {
  const args = values.map((value) => sqlLiteral(quoter, value));
  return `SELECT outcome, run_id FROM scheduler.start_run(${args.join(", ")})`;
}

/** The result of a run the opening did not start (paused, lock held, slot done), logged. */
export function notStarted(request: RunRequest, row: OpenedRun, log: Logger): RunResult {
  const { task } = request;
  const base = { runId: row.run_id, task: task.name, dryRun: request.dryRun === true };
  const fields = { runId: row.run_id, outcome: row.outcome };
  if (row.outcome === "paused") {
    const reason = row.reason ?? "paused";
    log.info(`${task.name}: paused, not run: ${reason}`, fields);
    return {
      status: "paused",
      ...base,
      reason,
      pausedBy: row.paused_by ?? "",
      pausedAt: row.paused_at?.toISOString() ?? "",
      until: row.until?.toISOString() ?? null,
    };
  }
  if (row.outcome === "duplicate") {
    log.info(`${task.name}: this schedule time already succeeded, nothing to do`, fields);
    return { status: "duplicate", ...base };
  }
  log.info(`${task.name}: skipped, another run holds the task's lock`, fields);
  return {
    // A tick that must not be lost is answered so that the scheduler retries it.
    status: request.trigger === "scheduler" && overlapOf(task) === "retry" ? "locked" : "skipped",
    ...base,
    message: "another run of this task holds its lock",
  };
}

/** How a run ended, as scheduler.finish_run records it. */
interface RunEnd {
  readonly status: "succeeded" | "failed";
  readonly rowsAffected: number;
  readonly more: boolean;
  readonly code: string | null;
  readonly message: string | null;
}

/**
 * Records the end of a run and gives its connection back; answers the run's duration. When the
 * run's own connection is gone (and its lock with it), the end is recorded on a fresh one.
 */
export async function finishRun(pool: Pool, held: HeldClient, runId: string, end: RunEnd): Promise<number> {
  const params = [runId, end.status, end.rowsAffected, end.more, end.code, end.message];
  const sql = "SELECT scheduler.finish_run($1, $2, $3, $4, $5, $6) AS duration_ms";
  if (end.code !== "unavailable") {
    try {
      const result = await held.client.query<{ duration_ms: number }>(sql, params);
      held.release();
      return result.rows[0]?.duration_ms ?? 0;
    } catch (error) {
      held.release(true);
      if (classifyDatabaseError(error) !== "unavailable") throw error;
    }
  } else {
    held.release(true);
  }
  const result = await pool.query<{ duration_ms: number }>(sql, params);
  return result.rows[0]?.duration_ms ?? 0;
}

/**
 * Ends a dry run's open transaction and records the run in one round trip: the ROLLBACK, then the
 * record. Both values come from here (the run's id from the database, a row count), none from a
 * request.
 */
export async function rollBackWithRecord(
  held: HeldClient,
  runId: string,
  rowsAffected: number,
): Promise<number> {
  const record = `SELECT scheduler.finish_run(${integerLiteral(runId)}, 'succeeded', ${integerLiteral(rowsAffected)}, false, NULL, NULL) AS duration_ms`;
  const { rows, error } = await held.simpleQuery(`ROLLBACK;\n${record}`);
  if (error !== undefined) {
    await held.simpleQuery("ROLLBACK");
    throw error;
  }
  const recorded = rows.find((row) => row.duration_ms !== undefined);
  return (recorded?.duration_ms as number | undefined) ?? 0;
}

/** The end a run's work came to, as its record takes it. */
export function endOf(
  failure: RunFailure | undefined,
  rowsAffected: number,
  more: boolean,
  successMessage?: string,
): RunEnd {
  return {
    status: failure ? "failed" : "succeeded",
    rowsAffected,
    more,
    code: failure?.code ?? null,
    message: failure ? failure.message : (successMessage ?? null),
  };
}
