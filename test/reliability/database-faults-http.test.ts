/**
 * Database faults seen from the caller, against the built function with a pool of 2 connections:
 * the database down at request time (503, and what is recorded once it is back), the connection
 * killed mid-batch, a statement timeout (504, recorded), and the same instance serving normally
 * afterwards without a restart.
 *
 * With the database down there is nowhere to record the run: the function answers 503 (Cloud
 * Scheduler retries by the job's policy, with the same schedule time) and logs one structured ERROR
 * line (code "unavailable"), which the log-based alert counts. When the database is back, the retry
 * is the run of record; nothing is back-filled for the attempt that could not reach it.
 */
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { recordFigures } from "./helpers/figures.js";
import type { Stack } from "./helpers/stack.js";
import { pastTicks, schedulerHeaders, startStack } from "./helpers/stack.js";

let stack: Stack;
const faultsSurvived: string[] = [];

beforeAll(async () => {
  stack = await startStack({ poolMax: 2 });
});

afterAll(async () => {
  recordFigures("database-faults", { faultsSurvived, processUp: stack?.fn.exitCode() === null });
  await stack?.stop();
});

async function runsOf(task: string) {
  const result = await stack.db.pool.query<{
    status: string;
    error_code: string | null;
    schedule_time: Date | null;
    rows_affected: number | null;
    finished: boolean;
  }>(
    `SELECT status, error_code, schedule_time, rows_affected::int, finished_at IS NOT NULL AS finished
     FROM scheduler.job_runs WHERE task = $1 ORDER BY id`,
    [task],
  );
  return result.rows;
}

function functionConnections(): Promise<number> {
  return stack.functionConnections();
}

describe("database faults over HTTP", () => {
  it("when the database is down at request time, then the answer is 503 JSON and an ERROR log line; when it is back, the scheduler's retry runs once and is the only record", async () => {
    const task = "driver-inactivity-check";
    await stack.db.pool.query(
      `INSERT INTO drivers (is_available, updated_at) VALUES (true, now() - interval '1 hour')`,
    );
    // Warm the pool first, so the outage also cuts connections the pool holds.
    expect((await stack.post({ task, dryRun: true })).status).toBe(200);
    const tick = pastTicks(task)[0]!;
    const logsBefore = stack.fn.logs.length;

    await stack.proxy.down();
    const down = await stack.post({ task }, schedulerHeaders(task, tick));
    const downHealth = await stack.send({
      method: "GET",
      path: "/health",
      headers: [["authorization", `Bearer ${stack.token()}`]],
    });
    await stack.proxy.up();

    expect(down.status).toBe(503);
    expect(down.headers["content-type"]).toMatch(/^application\/json/);
    expect(down.json).toEqual({ error: { code: "unavailable", message: expect.any(String), task } });
    expect(JSON.stringify(down.json)).not.toMatch(/127\.0\.0\.1|postgres:|ECONNREFUSED|\bat /);
    expect(downHealth.status).toBe(503);
    const errorLines = stack.fn.logs
      .slice(logsBefore)
      .filter((line) => line.severity === "ERROR" && line.code === "unavailable");
    // The failed-runs alert counts ERROR lines that name their task: the attempt must be one.
    expect(errorLines).toContainEqual(
      expect.objectContaining({ task, httpRequest: expect.objectContaining({ status: 503 }) }),
    );
    for (const line of stack.fn.logs.slice(logsBefore)) {
      expect(JSON.stringify(line)).not.toContain(stack.db.url.split("@")[0]!.split("//")[1]!);
    }
    expect(await runsOf(task)).toEqual([expect.objectContaining({ status: "succeeded" })]); // the dry run only

    // Cloud Scheduler's retry of the same tick, the database back: the same instance, no restart.
    const retry = await stack.post({ task }, schedulerHeaders(task, tick));
    expect(retry.status).toBe(200);
    expect(retry.json).toMatchObject({ status: "succeeded", rowsAffected: 1 });
    const runs = (await runsOf(task)).filter((run) => run.schedule_time !== null);
    expect(runs).toEqual([
      expect.objectContaining({ status: "succeeded", schedule_time: tick, finished: true }),
    ]);
    expect(await functionConnections()).toBeLessThanOrEqual(2);
    expect(stack.fn.exitCode()).toBeNull();
    faultsSurvived.push("database down at request time (503), then back (200)");
  });

  it("when the run's connection is killed mid-batch, then the answer is 503, committed batches stay, the run is recorded failed, and the next delivery finishes the work", async () => {
    const task = "cleanup-distance-requests";
    await stack.db.pool.query(`
      INSERT INTO distance_requests (created_at)
        SELECT now() - interval '100 days' FROM generate_series(1, 30000);
      CREATE FUNCTION slow_delete() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN IF OLD.id % 1000 = 0 THEN PERFORM pg_sleep(0.1); END IF; RETURN OLD; END $$;
      CREATE TRIGGER slow_delete BEFORE DELETE ON distance_requests FOR EACH ROW EXECUTE FUNCTION slow_delete();`);
    const killer = new pg.Client({ connectionString: stack.db.url });
    await killer.connect();
    try {
      const running = stack.post({ task }, schedulerHeaders(task, pastTicks(task)[0]!));
      for (let i = 0; ; i++) {
        const left = await killer.query<{ n: number }>("SELECT count(*)::int AS n FROM distance_requests");
        if (left.rows[0]!.n <= 20000) break;
        if (i > 1000) throw new Error("no batch committed in time");
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      await killer.query(`
        SELECT pg_terminate_backend(pid) FROM pg_stat_activity
        WHERE datname = current_database() AND pid <> pg_backend_pid() AND query LIKE '%DELETE FROM distance_requests%'`);
      const killed = await running;
      expect(killed.status).toBe(503);
      expect(killed.json).toMatchObject({ error: { code: "unavailable" } });
      const left = (await killer.query<{ n: number }>("SELECT count(*)::int AS n FROM distance_requests"))
        .rows[0]!.n;
      // Committed batches stay and the killed one rolled back: what is gone is exactly what the run
      // recorded as done (batch sizes follow their time, so no multiple of a fixed size is expected).
      expect(left).toBeGreaterThan(0);
      expect(left).toBeLessThan(30000);
      expect(await runsOf(task)).toEqual([
        expect.objectContaining({
          status: "failed",
          error_code: "unavailable",
          rows_affected: 30000 - left,
          finished: true,
        }),
      ]);

      await killer.query("DROP TRIGGER slow_delete ON distance_requests");
      const retry = await stack.post({ task }, schedulerHeaders(task, pastTicks(task)[0]!));
      expect(retry.status).toBe(200);
      expect(retry.json).toMatchObject({ status: "succeeded", rowsAffected: left });
      expect((await killer.query("SELECT count(*)::int AS n FROM distance_requests")).rows[0].n).toBe(0);
      expect(await functionConnections()).toBeLessThanOrEqual(2);
      faultsSurvived.push("connection killed mid-batch (503, recorded failed, retry finished)");
    } finally {
      await killer.query("DROP TRIGGER IF EXISTS slow_delete ON distance_requests").catch(() => undefined);
      await killer.end();
    }
  });

  it("when a task hits its statement timeout, then the answer is 504, the run is recorded failed with code timeout, and the next run succeeds on the same pool", async () => {
    const task = "auto-cancel-unconfirmed-orders";
    await stack.db.pool.query(
      `INSERT INTO orders (status, placed_at) VALUES ('pending', now() - interval '2 hours')`,
    );
    // Another session holds the table: the task's UPDATE waits until its 30 s statement timeout.
    const holder = new pg.Client({ connectionString: stack.db.url });
    await holder.connect();
    try {
      await holder.query("BEGIN; LOCK TABLE orders IN ACCESS EXCLUSIVE MODE");
      const timedOut = await stack.post({ task }, schedulerHeaders(task, pastTicks(task, 2)[0]!), {
        timeoutMs: 60_000,
      });
      await holder.query("ROLLBACK");
      expect(timedOut.status).toBe(504);
      expect(timedOut.json).toMatchObject({ error: { code: "timeout", task } });
      expect(await runsOf(task)).toEqual([
        expect.objectContaining({ status: "failed", error_code: "timeout", finished: true }),
      ]);
    } finally {
      await holder.end();
    }
    const next = await stack.post({ task }, schedulerHeaders(task, pastTicks(task, 2)[1]!));
    expect(next.status).toBe(200);
    expect(next.json).toMatchObject({ status: "succeeded", rowsAffected: 1 });
    expect(await functionConnections()).toBeLessThanOrEqual(2);
    expect(stack.fn.exitCode()).toBeNull();
    faultsSurvived.push("statement timeout (504, recorded failed), next run succeeded");
  });
});
