/**
 * At-least-once delivery over HTTP, against the built function with a pool of 2 connections: the
 * same tick delivered 20 times at once runs once; a force run (or a `"force": true` body) while a
 * long batched run holds the task is skipped, and the batched run finishes its work.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { recordFigures } from "./helpers/figures.js";
import type { Stack } from "./helpers/stack.js";
import { pastTicks, schedulerHeaders, startStack } from "./helpers/stack.js";

let stack: Stack;

beforeAll(async () => {
  stack = await startStack({ poolMax: 2 });
});

afterAll(async () => {
  await stack?.stop();
});

async function runsOf(task: string) {
  const result = await stack.db.pool.query<{
    id: string;
    status: string;
    schedule_time: Date | null;
    rows_affected: number;
  }>(
    `SELECT id::text, status, schedule_time, rows_affected::int FROM scheduler.job_runs WHERE task = $1 ORDER BY id`,
    [task],
  );
  return result.rows;
}

describe("duplicate and concurrent delivery over HTTP", () => {
  it("when one tick is delivered 20 times at once, then exactly one delivery executes and the others answer skipped or duplicate", async () => {
    const task = "driver-inactivity-check";
    await stack.db.pool.query(`
      INSERT INTO drivers (is_available, updated_at)
        SELECT true, now() - interval '1 hour' FROM generate_series(1, 25);
      -- 40 ms per row: the first delivery is still running when the others arrive.
      CREATE FUNCTION slow_driver() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN PERFORM pg_sleep(0.04); RETURN NEW; END $$;
      CREATE TRIGGER slow_driver BEFORE UPDATE ON drivers FOR EACH ROW EXECUTE FUNCTION slow_driver();`);
    const tick = pastTicks(task)[0]!;
    try {
      const answers = await Promise.all(
        Array.from({ length: 20 }, () => stack.post({ task }, schedulerHeaders(task, tick))),
      );
      // Cloud Scheduler's retry of the same tick after the run ended: a duplicate, never a second run.
      const late = await Promise.all(
        Array.from({ length: 20 }, () => stack.post({ task }, schedulerHeaders(task, tick))),
      );

      const statuses = [...answers, ...late].map((answer) => {
        expect(answer.status).toBe(200);
        return (answer.json as { status: string }).status;
      });
      const executed = statuses.filter((status) => status === "succeeded");
      expect(executed).toHaveLength(1);
      expect(statuses.every((status) => ["succeeded", "skipped", "duplicate"].includes(status))).toBe(true);
      expect(late.every((answer) => (answer.json as { status: string }).status === "duplicate")).toBe(true);
      const succeeded = answers.find((answer) => (answer.json as { status: string }).status === "succeeded")!;
      expect(succeeded.json).toMatchObject({ rowsAffected: 25 });
      for (const answer of late) {
        expect((answer.json as { runId: string }).runId).toBe((succeeded.json as { runId: string }).runId);
      }

      const runs = await runsOf(task);
      expect(runs.filter((run) => run.status === "succeeded")).toHaveLength(1);
      expect(runs.filter((run) => run.status === "running")).toHaveLength(0);
      const available = await stack.db.pool.query<{ n: number }>(
        "SELECT count(*)::int AS n FROM drivers WHERE is_available",
      );
      expect(available.rows[0]!.n).toBe(0);

      recordFigures("duplicate-delivery", {
        deliveries: statuses.length,
        executed: executed.length,
        duplicatesExecuted: executed.length - 1,
        skipped: statuses.filter((status) => status === "skipped").length,
        duplicate: statuses.filter((status) => status === "duplicate").length,
      });
    } finally {
      await stack.db.pool.query("DROP TRIGGER IF EXISTS slow_driver ON drivers");
    }
  });

  it("when a force run arrives during a long batched run, then it is skipped and the batched run still finishes all the work", async () => {
    const task = "archive-old-orders";
    await stack.db.pool.query(`
      INSERT INTO orders (status, delivered_at, updated_at)
        SELECT 'delivered', now() - interval '100 days', now() - interval '100 days' FROM generate_series(1, 2500);
      -- 150 ms a batch, under the batch timeout (200 ms): batches sized by time shrink toward the
      -- 100 ms target (1000, 645, 415 ... rows), so the run takes several batches, about a second.
      CREATE FUNCTION slow_archive() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN PERFORM pg_sleep(0.15); RETURN NULL; END $$;
      CREATE TRIGGER slow_archive BEFORE UPDATE ON orders FOR EACH STATEMENT EXECUTE FUNCTION slow_archive();`);
    try {
      const tick = pastTicks(task)[0]!;
      const long = stack.post({ task }, schedulerHeaders(task, tick));
      // Wait until the run holds the lock and is updating rows.
      for (let i = 0; ; i++) {
        const active = await stack.db.pool.query<{ n: number }>(
          `SELECT count(*)::int AS n FROM pg_stat_activity
           WHERE datname = current_database() AND state = 'active' AND pid <> pg_backend_pid() AND query LIKE '%UPDATE orders%'`,
        );
        if (active.rows[0]!.n > 0) break;
        if (i > 250) throw new Error("the batched run never started");
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      // Cloud Scheduler's "force run" carries the current time as its schedule time.
      const forced = await stack.post({ task }, schedulerHeaders(task, new Date()));
      const forcedBody = await stack.post({ task, force: true });
      const finished = await long;

      expect(forced.status).toBe(200);
      expect(forced.json).toMatchObject({ status: "skipped", task });
      expect(forcedBody.status).toBe(200);
      expect(forcedBody.json).toMatchObject({ status: "skipped", task });
      expect(finished.status).toBe(200);
      expect(finished.json).toMatchObject({ status: "succeeded", rowsAffected: 2500 });

      const runs = await runsOf(task);
      expect(runs.map((run) => run.status).sort()).toEqual(["skipped", "skipped", "succeeded"]);
      const active = await stack.db.pool.query<{ n: number }>(
        "SELECT count(*)::int AS n FROM orders WHERE is_active",
      );
      expect(active.rows[0]!.n).toBe(0);
      recordFigures("force-run-during-batch", {
        forcedAnswers: [forced.json, forcedBody.json].map((json) => (json as { status: string }).status),
        batchedRun: (finished.json as { status: string }).status,
        rowsArchived: (finished.json as { rowsAffected: number }).rowsAffected,
      });
    } finally {
      await stack.db.pool.query("DROP TRIGGER IF EXISTS slow_archive ON orders");
    }
  });
});
