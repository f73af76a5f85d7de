import { describe, expect, it } from "vitest";
import {
  batchTimeoutMs,
  firstBatchSize,
  nextBatchSize,
  sizeAfterTimeout,
} from "../functions/core/run/batch-sizing.js";
import type { BatchPolicy } from "../functions/core/catalog.js";
import { useTestDatabase } from "./helpers/database.js";

const sized: BatchPolicy = {
  size: 5000,
  timeBudgetSeconds: 60,
  sizedByTime: { targetMs: 100, minSize: 500, maxSize: 50_000 },
};
const fixed: BatchPolicy = { size: 1000, timeBudgetSeconds: 60 };

// [policy, first batch's size]
const firstCases: [BatchPolicy, number][] = [
  [sized, 5000],
  [{ ...sized, size: 100 }, 500],
  [{ ...sized, size: 90_000 }, 50_000],
  [fixed, 1000],
];

// [policy, size, rows, ms, next]
const nextCases: [BatchPolicy, number, number, number, number][] = [
  [sized, 5000, 5000, 400, 1250], // four times the target: a quarter of the rows
  [sized, 5000, 5000, 100, 5000], // on target: unchanged
  [sized, 5000, 5000, 25, 10_000], // four times faster: at most doubles
  [sized, 5000, 5000, 0, 10_000], // a sub-millisecond batch counts as 1 ms
  [sized, 5000, 5000, 0.4, 10_000],
  [sized, 5000, 4999, 133.7, 3738], // fractions round down
  [sized, 500, 500, 10_000, 500], // never below minSize
  [sized, 40_000, 40_000, 50, 50_000], // never above maxSize
  [fixed, 1000, 1000, 5000, 1000], // a fixed size stays whatever the pace
  [fixed, 1000, 1000, 1, 1000],
];

describe("batch sizing", () => {
  it.each(firstCases)("starts at the catalog's size, within the bounds: %j -> %i", (policy, first) => {
    expect(firstBatchSize(policy)).toBe(first);
  });

  it.each(nextCases)(
    "after a batch: %j, %i asked, %i changed in %d ms -> %i",
    (policy, size, rows, ms, next) => {
      expect(nextBatchSize(policy, size, rows, ms)).toBe(next);
    },
  );
});

describe("the database's mirror of batch sizing (pg_cron's batch procedure)", () => {
  const db = useTestDatabase();

  it("when scheduler.first_batch_size and next_batch_size are given the same cases, then they answer as the runner's rule", async () => {
    const answers: number[] = [];
    for (const [policy] of firstCases) {
      const sizing = policy.sizedByTime;
      const { rows } = await db.pool.query<{ size: number }>(
        "SELECT scheduler.first_batch_size($1, $2, $3) AS size",
        [policy.size, sizing?.minSize ?? null, sizing?.maxSize ?? null],
      );
      answers.push(rows[0]!.size);
    }
    expect(answers).toEqual(firstCases.map(([policy]) => firstBatchSize(policy)));

    const nextAnswers: number[] = [];
    for (const [policy, size, rows, ms] of nextCases) {
      const sizing = policy.sizedByTime;
      const result = await db.pool.query<{ size: number }>(
        "SELECT scheduler.next_batch_size($1, $2, $3, $4, $5, $6) AS size",
        [size, rows, ms, sizing?.targetMs ?? null, sizing?.minSize ?? null, sizing?.maxSize ?? null],
      );
      nextAnswers.push(result.rows[0]!.size);
    }
    expect(nextAnswers).toEqual(
      nextCases.map(([policy, size, rows, ms]) => nextBatchSize(policy, size, rows, ms)),
    );
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
