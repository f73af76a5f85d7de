/**
 * A task of one statement (sql/tasks/<task>.sql without batches): run with its run's opening in one
 * round trip, or, for a dry run, in a transaction left open to be rolled back with the run's record.
 */
import type { TaskDefinition } from "../catalog.js";
import type { HeldClient } from "../db/pool.js";
import type { SqlValue } from "../db/sql-literal.js";
import { sqlLiteral } from "../db/sql-literal.js";
import type { OpenedRun } from "./run-record.js";
import { pauseOf, startRunSelect } from "./run-record.js";
import type { RunWork } from "./run-result.js";
import { guardTripped } from "./run-result.js";
import { sqlOf } from "./task-sql.js";

/** What came back of a single statement sent with its run's opening (`openAndRunStatement`). */
export interface SentStatement {
  /** The opening's row, with the pause that stopped the run when one did. */
  readonly opened: OpenedRun;
  /** scheduler.run_opened_statement's row: the statement ran and its success is recorded. */
  readonly done?: { readonly run_id: string; readonly rows_affected: string; readonly duration_ms: number };
  /** The error that ended the query after the opening: the work failed. */
  readonly error?: unknown;
}

/**
 * Opens the run and runs its one statement in one round trip: one simple query,
 * `BEGIN; SET LOCAL synchronous_commit = off; <start_run>; COMMIT; SELECT ...
 * scheduler.run_opened_statement(<statement>, <guard>)`. The 'running' row commits before the work
 * starts (a run cut off mid-statement is found and marked interrupted by the next), without waiting
 * for its disk flush, as scheduler.open_run's does (sql/routines/scheduler.open_run.sql says what
 * that can lose: nothing a retry does not redo). The work then finds its run in the session
 * (sql/routines/scheduler.run_opened_statement.sql) and commits with the record of its success.
 * PostgreSQL runs the statements of a simple query in order and stops at the first error; the
 * explicit COMMIT ends the opening's transaction and the statement after it runs in its own, under
 * the task's statement_timeout that start_run set: the timeout applies to each statement of such a
 * query separately
 * (https://www.postgresql.org/docs/current/protocol-flow.html#PROTOCOL-FLOW-MULTI-STATEMENT,
 * https://www.postgresql.org/docs/current/runtime-config-client.html#GUC-STATEMENT-TIMEOUT).
 *
 * The opening's row is kept even when the statement fails or the connection dies after it, so the
 * failure is recorded against its run; an error before it is thrown (no run was opened).
 */
export async function openAndRunStatement(
  held: HeldClient,
  values: readonly SqlValue[],
  task: TaskDefinition,
  force: boolean,
): Promise<SentStatement> {
  const { client } = held;
  const statement = sqlLiteral(client, executable(statementOf(task)));
  const text = `BEGIN;
SET LOCAL synchronous_commit = off;
${startRunSelect(client, values)};
COMMIT;
SELECT run_id, rows_affected, duration_ms FROM scheduler.run_opened_statement(${statement}, ${sqlLiteral(client, guardOf(task, force))})`;
  const { rows, error } = await held.simpleQuery(text);
  const opened = rows.find((row) => "outcome" in row) as OpenedRun | undefined;
  if (!opened) throw error ?? new Error("scheduler.start_run returned no row");
  const done = rows.find((row) => !("outcome" in row)) as SentStatement["done"];
  const pause = opened.outcome === "paused" ? await pauseOf(client, opened.run_id) : undefined;
  return {
    opened: pause ? { ...opened, ...pause } : opened,
    ...(done ? { done } : {}),
    ...(error !== undefined ? { error } : {}),
  };
}

/**
 * The work of a statement sent with its run's opening: the statement and the record of its success
 * committed together, or a failure rolled both back and is recorded after.
 */
export function workOfSentStatement(
  task: TaskDefinition,
  runId: string,
  force: boolean,
  sent: SentStatement,
): RunWork {
  if (sent.error !== undefined) {
    const guard = guardOf(task, force);
    const wouldChange = guardTrippedRows(sent.error);
    if (wouldChange !== undefined && guard !== null) throw guardTripped(task, wouldChange, guard);
    throw sent.error;
  }
  if (!sent.done || sent.done.run_id !== runId) {
    throw new Error("scheduler.run_opened_statement did not run the statement of the run opened");
  }
  return { rowsAffected: Number(sent.done.rows_affected), recordedDurationMs: sent.done.duration_ms };
}

/**
 * A dry run of the statement, its run already opened: BEGIN and the statement in one round trip
 * (the statement takes no parameters), the transaction left open to be rolled back in the same
 * round trip as the run's record (`rollBackWithRecord`).
 */
export async function runDryStatement(
  held: HeldClient,
  task: TaskDefinition,
  force: boolean,
): Promise<RunWork> {
  const { rowCount, error } = await held.simpleQuery(`BEGIN;\n${statementOf(task)}`);
  if (error !== undefined) {
    await held.simpleQuery("ROLLBACK");
    throw error;
  }
  const guard = guardOf(task, force);
  if (guard !== null && rowCount > guard) {
    const rolledBack = await held.simpleQuery("ROLLBACK");
    if (rolledBack.error !== undefined) throw rolledBack.error;
    throw guardTripped(task, rowCount, guard);
  }
  return { rowsAffected: rowCount, openForDryRun: true };
}

/** The task's one statement, as sql/tasks/<task>.sql has it. */
function statementOf(task: TaskDefinition): string {
  const { statement } = sqlOf(task);
  if (!statement) throw new Error(`sql/tasks/${task.name}.sql has no single statement`);
  return statement;
}

/** The blast-radius guard's limit for this run: none when forced or the task sets none. */
function guardOf(task: TaskDefinition, force: boolean): number | null {
  return task.maxRows !== undefined && !force ? task.maxRows : null;
}

/** A task's statement as EXECUTE takes it: one statement, without the file's final semicolon. */
function executable(statement: string): string {
  return statement.replace(/;\s*$/, "");
}

/** scheduler.run_opened_statement's guard error (SQLSTATE SJ001) carries the rows the run would change. */
function guardTrippedRows(error: unknown): number | undefined {
  const { code, detail } = (error ?? {}) as { code?: unknown; detail?: unknown };
  if (code !== "SJ001" || typeof detail !== "string" || !/^\d+$/.test(detail)) return undefined;
  return Number(detail);
}
