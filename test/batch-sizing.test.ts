import { describe, expect, it } from "vitest";
import {
  batchTimeoutMs,
  firstBatchSize,
  nextBatchSize,
  sizeAfterTimeout,
} from "../functions/batch-sizing.js";
import type { BatchPolicy } from "../functions/catalog.js";

const sized: BatchPolicy = {
  size: 5000,
  timeBudgetSeconds: 60,
  sizedByTime: { targetMs: 100, minSize: 500, maxSize: 50_000 },
};
const fixed: BatchPolicy = { size: 1000, timeBudgetSeconds: 60 };

describe("batch sizing", () => {
  it("starts at the catalog's size, within the bounds", () => {
    expect(firstBatchSize(sized)).toBe(5000);
    expect(firstBatchSize({ ...sized, size: 100 })).toBe(500);
    expect(firstBatchSize({ ...sized, size: 90_000 })).toBe(50_000);
    expect(firstBatchSize(fixed)).toBe(1000);
  });

  it.each([
    // [size, rows, ms, next]
    [5000, 5000, 400, 1250], // four times the target: a quarter of the rows
    [5000, 5000, 100, 5000], // on target: unchanged
    [5000, 5000, 25, 10_000], // four times faster: at most doubles
    [5000, 5000, 0, 10_000], // a sub-millisecond batch counts as 1 ms
    [500, 500, 10_000, 500], // never below minSize
    [40_000, 40_000, 50, 50_000], // never above maxSize
  ])("sized by time: %i rows asked, %i changed in %i ms -> %i", (size, rows, ms, next) => {
    expect(nextBatchSize(sized, size, rows, ms)).toBe(next);
  });

  it("a fixed size stays whatever the pace", () => {
    expect(nextBatchSize(fixed, 1000, 1000, 5000)).toBe(1000);
    expect(nextBatchSize(fixed, 1000, 1000, 1)).toBe(1000);
  });

  it("a batch sized by time may run twice its target, never past the task's timeout; a fixed size has no limit of its own", () => {
    expect(batchTimeoutMs(sized, 120_000)).toBe(200);
    expect(batchTimeoutMs(sized, 150)).toBe(150);
    expect(batchTimeoutMs(fixed, 120_000)).toBeUndefined();
  });

  it.each([
    // [size, timeoutMs, next]
    [5000, 200, 2500], // cancelled at twice the target: half the size
    [5000, 400, 1250], // as if all its rows took the timeout: the pace rule, as after a slow batch
    [600, 200, 500], // never below minSize
  ])("after a batch of %i rows cancelled at %i ms -> %i", (size, timeoutMs, next) => {
    expect(sizeAfterTimeout(sized, size, timeoutMs)).toBe(next);
  });
});
