/**
 * How big the next batch of a batched task is: the one rule, used by the function's runner and
 * mirrored by the database's batch routine (checked to agree by test/batch-sizing.test.ts).
 */
import type { BatchPolicy } from "../catalog.js";

/** The first batch: the catalog's size, within the sizing bounds when batches are sized by time. */
export function firstBatchSize(batch: BatchPolicy): number {
  const sizing = batch.sizedByTime;
  return sizing ? clamp(batch.size, sizing.minSize, sizing.maxSize) : batch.size;
}

/**
 * The batch after one that changed `rows` rows in `ms` milliseconds at size `size`: a fixed size
 * stays; sized by time, as many rows as the last batch's pace fits in the target, at most twice
 * the last size (one fast batch on cached pages is no promise), within the bounds.
 */
export function nextBatchSize(batch: BatchPolicy, size: number, rows: number, ms: number): number {
  const sizing = batch.sizedByTime;
  if (!sizing) return size;
  const fits = Math.floor((rows * sizing.targetMs) / Math.max(ms, 1));
  return clamp(Math.min(fits, 2 * size), sizing.minSize, sizing.maxSize);
}

function clamp(value: number, min: number, max: number): number {
  return Math.min(max, Math.max(min, value));
}

/**
 * A batch sized by time that runs this many times its target is cancelled by the database (its
 * transaction rolls back: nothing of it is done) and retried smaller. Twice the target keeps a
 * cancelled batch, its rollback included, within the 2.5x the target that a transaction may hold
 * its row locks (BENCHMARKS.md, "4M backlog: longest transaction"): a stall of the machine in the middle of a
 * batch no longer holds them longer, whatever size was chosen before it.
 */
const BATCH_TIMEOUT_FACTOR = 2;

/** After this many batches in a row cancelled at the smallest size, the run fails. */
export const TIMEOUTS_AT_MIN_SIZE = 3;

/**
 * How long one batch may run, in milliseconds: `BATCH_TIMEOUT_FACTOR` times the target, never more
 * than the task's own statement timeout; none for a fixed size (no target to hold it to).
 */
export function batchTimeoutMs(batch: BatchPolicy, taskTimeoutMs: number): number | undefined {
  const sizing = batch.sizedByTime;
  if (!sizing) return undefined;
  return Math.min(Math.ceil(sizing.targetMs * BATCH_TIMEOUT_FACTOR), taskTimeoutMs);
}

/**
 * The retry after a batch of `size` rows was cancelled at `timeoutMs`: the same rule as
 * `nextBatchSize`, taking the cancelled batch at the pace it at best had (all its rows in the
 * timeout), so half the size at a timeout of twice the target, never below the bound.
 */
export function sizeAfterTimeout(batch: BatchPolicy, size: number, timeoutMs: number): number {
  return nextBatchSize(batch, size, size, timeoutMs);
}
