/**
 * A batched task's run: batches, each its own short transaction (autocommit), until a batch comes
 * back short or the time budget is spent (then `more`: the next run goes on). A batch has
 * `batch.size` rows, or, sized by time, as many as the last batch's pace fits in the target (see
 * batch-sizing.ts). A dry run and the guard count first, with the task's count statement, and
 * change nothing.
 */
import {
  batchTimeoutMs,
  firstBatchSize,
  nextBatchSize,
  sizeAfterTimeout,
  TIMEOUTS_AT_MIN_SIZE,
} from "./batch-sizing.js";
import type { TaskDefinition } from "../catalog.js";
import type { HeldClient } from "../db/pool.js";
import { integerLiteral } from "../db/sql-literal.js";
import { classifyDatabaseError, publicMessage } from "../errors.js";
import type { WorkOptions } from "./run-request.js";
import type { BatchProgress } from "./run-result.js";
import { guardTripped, RunFailure } from "./run-result.js";
import type { TaskWork } from "./task-contract.js";
import { sqlOf } from "./task-sql.js";

type Batching = NonNullable<TaskDefinition["batch"]>;

/** Where a batched run stands: batches committed and their rows. */
interface Tally {
  batches: number;
  total: number;
}

export async function runBatches(
  held: HeldClient,
  task: TaskDefinition,
  batch: Batching,
  runId: string,
  options: WorkOptions,
  onProgress?: (progress: BatchProgress) => void,
): Promise<TaskWork> {
  const sql = sqlOf(task);
  if (!sql.batch || !sql.count)
    throw new Error(`sql/tasks/${task.name}.sql needs a batch and a count statement`);
  if (options.dryRun) return { rowsAffected: await count(held, sql.count, null) };
  if (task.maxRows !== undefined && !options.force) {
    const due = await count(held, sql.count, task.maxRows + 1);
    if (due > task.maxRows) throw guardTripped(task, due, task.maxRows);
  }
  const deadline = options.started + batch.timeBudgetSeconds * 1000;
  const timeoutMs = batchTimeoutMs(batch, task.timeoutSeconds * 1000);
  const report = (progress: BatchProgress, message: string, level: "info" | "warn"): void => {
    options.log[level](message, { ...progress });
    onProgress?.(progress);
  };
  const tally: Tally = { batches: 0, total: 0 };
  let size = firstBatchSize(batch);
  let timeoutsAtMinSize = 0;
  for (;;) {
    const batchStarted = performance.now();
    let changed: number;
    try {
      changed = await runBatch(held, sql.batch, size, timeoutMs);
    } catch (error) {
      if (timeoutMs === undefined || classifyDatabaseError(error) !== "timeout")
        throw failedAfter(error, tally);
      // Cancelled by its own timeout: rolled back whole, so nothing of it is done; retry smaller.
      const progress = progressOf(task, runId, tally, options.started, 0, performance.now() - batchStarted);
      const message = `${task.name}: a batch of ${size} rows ran past ${timeoutMs} ms and was cancelled (nothing of it changed)`;
      report({ ...progress, cancelled: true }, message, "warn");
      timeoutsAtMinSize = size <= (batch.sizedByTime?.minSize ?? size) ? timeoutsAtMinSize + 1 : 0;
      if (timeoutsAtMinSize >= TIMEOUTS_AT_MIN_SIZE) throw tooManyTimeouts(error, tally, size, timeoutMs);
      if (Date.now() >= deadline) return { rowsAffected: tally.total, more: true };
      size = sizeAfterTimeout(batch, size, timeoutMs);
      continue;
    }
    const batchMs = performance.now() - batchStarted;
    tally.total += changed;
    tally.batches += 1;
    const progress = progressOf(task, runId, tally, options.started, changed, batchMs);
    const message = `${task.name}: batch ${tally.batches}, ${tally.total} rows so far (${progress.rowsPerSecond} rows/s)`;
    report(progress, message, "info");
    if (changed < size) return { rowsAffected: tally.total };
    if (Date.now() >= deadline) return { rowsAffected: tally.total, more: true };
    timeoutsAtMinSize = 0;
    // The batch's round trip is its transaction (autocommit): its rows per millisecond decide the next.
    size = nextBatchSize(batch, size, changed, batchMs);
  }
}

/** The task's count statement: the rows it would change, counted up to `limit` (all when null). */
async function count(held: HeldClient, statement: string, limit: number | null): Promise<number> {
  const counted = await held.client.query<{ rows: string }>(statement, [limit]);
  return Number(counted.rows[0]?.rows ?? 0);
}

/**
 * One batch, in one round trip. Under its own statement timeout, `SET LOCAL` and the batch go in one
 * simple-query message, which PostgreSQL runs as one implicit transaction (the setting ends with
 * it; an error rolls back all of it and leaves no transaction open), and since PostgreSQL 13 times
 * each statement of the message separately, so the batch runs under the new value
 * (https://www.postgresql.org/docs/current/protocol-flow.html#PROTOCOL-FLOW-MULTI-STATEMENT,
 * https://www.postgresql.org/docs/current/runtime-config-client.html#GUC-STATEMENT-TIMEOUT). A
 * simple query takes no parameters: the size and the timeout are written in.
 */
async function runBatch(
  held: HeldClient,
  statement: string,
  size: number,
  timeoutMs: number | undefined,
): Promise<number> {
  if (timeoutMs === undefined) return (await held.client.query(statement, [size])).rowCount ?? 0;
  const { rowCount, error } = await held.simpleQuery(
    `SET LOCAL statement_timeout = ${integerLiteral(timeoutMs)};\n${withSize(statement, size)}`,
  );
  if (error !== undefined) throw error;
  return rowCount;
}

/** A batch statement with its one parameter, `$1` (the batch's size), written in as an integer. */
function withSize(statement: string, size: number): string {
  const text = statement.replace(/\$1(?!\d)/g, integerLiteral(size));
  if (text === statement || /\$\d/.test(text)) {
    throw new Error("a batch statement takes exactly one parameter, $1, its size");
  }
  return text;
}

function progressOf(
  task: TaskDefinition,
  runId: string,
  tally: Tally,
  started: number,
  batchRows: number,
  batchMs: number,
): BatchProgress {
  return {
    task: task.name,
    runId,
    batches: tally.batches,
    rowsSoFar: tally.total,
    rowsPerSecond: Math.round((tally.total * 1000) / Math.max(Date.now() - started, 1)),
    batchRows,
    batchMs: Math.round(batchMs * 10) / 10,
  };
}

/** A batch failed: committed batches stay committed; the failure says how far the run got. */
function failedAfter(error: unknown, tally: Tally): RunFailure {
  return new RunFailure(
    classifyDatabaseError(error),
    `${publicMessage(error)} (after ${tally.total} rows in ${tally.batches} batches)`,
    tally.total,
    undefined,
    { cause: error },
  );
}

function tooManyTimeouts(error: unknown, tally: Tally, size: number, timeoutMs: number): RunFailure {
  return new RunFailure(
    "timeout",
    `${TIMEOUTS_AT_MIN_SIZE} batches in a row at the smallest size (${size} rows) ran past their ${timeoutMs} ms and were cancelled; nothing of them changed (after ${tally.total} rows in ${tally.batches} batches)`,
    tally.total,
    { batchTimeoutMs: timeoutMs, batchRows: size },
    { cause: error },
  );
}
