/**
 * How big the next batch of a batched task is: the one rule, used by the function's runner and
 * mirrored by the database's batch routine (checked to agree by test/batch-sizing.test.ts).
 */
import type { BatchPolicy } from "./catalog.js";

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
