/**
 * Database faults in the middle of a run: the connection killed between batches' commits, and the
 * pool carrying on afterwards without a restart.
 */
import pg from "pg";
import { describe, expect, it } from "vitest";
import { findTask } from "../functions/core/catalog.js";
import { createPool } from "../functions/core/db/pool.js";
import type { EmailTaskHandler } from "../functions/core/run/task-contract.js";
import { runTask } from "../functions/core/run/runner.js";
import { useTestDatabase } from "./helpers/database.js";

const db = useTestDatabase();

describe("database faults", () => {
  it("when the run's connection is killed mid-batch, then committed batches stay, the run is recorded failed, and the next run finishes the work on the same pool", async () => {
    const archive = { ...findTask("archive-old-orders")!, batch: { size: 10, timeBudgetSeconds: 60 } };
    await db.pool.query(`
      INSERT INTO orders (status, delivered_at, updated_at)
      SELECT 'delivered', now() - interval '100 days', now() - interval '100 days' FROM generate_series(1, 60);
      -- Each archived row takes 30 ms, so a batch is in flight long enough to be killed.
      CREATE FUNCTION slow_archive() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN PERFORM pg_sleep(0.03); RETURN NEW; END $$;
      CREATE TRIGGER slow_archive BEFORE UPDATE ON orders FOR EACH ROW EXECUTE FUNCTION slow_archive();`);
    const pool = createPool({ connectionString: db.url, max: 2 });
    const killer = new pg.Client({ connectionString: db.url });
    await killer.connect();
    try {
      const running = runTask({ pool }, { task: archive, trigger: "scheduler" });
      // Wait for two committed batches, then kill the backend running the third.
      for (;;) {
        const archived = await killer.query(`SELECT count(*)::int AS n FROM orders WHERE NOT is_active`);
        if (archived.rows[0].n >= 20) break;
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      await killer.query(`
        SELECT pg_terminate_backend(pid) FROM pg_stat_activity
        WHERE datname = current_database() AND pid <> pg_backend_pid() AND query LIKE 'UPDATE orders%' AND state = 'active'`);
      const result = await running;
      expect(result).toMatchObject({ status: "failed", code: "unavailable" });
      expect(result.status === "failed" && result.message).toMatch(/after 2\d rows in \d batches/);

      const archivedAfterKill = (
        await killer.query(`SELECT count(*)::int AS n FROM orders WHERE NOT is_active`)
      ).rows[0].n;
      expect(archivedAfterKill % 10).toBe(0); // whole batches only: the killed one rolled back
      expect(archivedAfterKill).toBeGreaterThanOrEqual(20);
      const recorded = await killer.query(
        `SELECT status, error_code, rows_affected::int, finished_at IS NOT NULL AS finished FROM scheduler.job_runs WHERE task = 'archive-old-orders'`,
      );
      expect(recorded.rows).toEqual([
        { status: "failed", error_code: "unavailable", rows_affected: archivedAfterKill, finished: true },
      ]);

      await killer.query(`DROP TRIGGER slow_archive ON orders`);
      const next = await runTask({ pool }, { task: archive, trigger: "scheduler" });
      expect(next).toMatchObject({ status: "succeeded", rowsAffected: 60 - archivedAfterKill });
      expect((await killer.query(`SELECT count(*)::int AS n FROM orders WHERE is_active`)).rows[0].n).toBe(0);
    } finally {
      await killer.end();
      await pool.end();
    }
  });

  it("when the held connection dies while the task talks to a remote service, then the instance survives and the run is still recorded", async () => {
    const remoteTask = {
      ...findTask("driver-inactivity-check")!,
      name: "remote-call-task",
      kind: "email" as const,
    };
    const killer = new pg.Client({ connectionString: db.url });
    await killer.connect();
    const pool = createPool({ connectionString: db.url, max: 2 });
    try {
      const handler: EmailTaskHandler = async ({ client }) => {
        const pid = (await client.query<{ pid: number }>("SELECT pg_backend_pid() AS pid")).rows[0]!.pid;
        await killer.query("SELECT pg_terminate_backend($1)", [pid]);
        // The connection dies while no query is in flight: only an 'error' event reports it.
        await new Promise((resolve) => setTimeout(resolve, 200));
        return { rowsAffected: 7 };
      };
      const result = await runTask(
        { pool, loadEmailHandler: async () => handler },
        { task: remoteTask, trigger: "scheduler" },
      );
      expect(result).toMatchObject({ status: "succeeded", rowsAffected: 7 });
      const recorded = await killer.query(
        `SELECT status, rows_affected::int FROM scheduler.job_runs WHERE task = 'remote-call-task'`,
      );
      expect(recorded.rows).toEqual([{ status: "succeeded", rows_affected: 7 }]);
    } finally {
      await pool.end();
      await killer.end();
    }
  });
});
