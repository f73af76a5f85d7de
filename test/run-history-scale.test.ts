/**
 * The run path's own statements stay index lookups however long the history grows: a month of an
 * every-minute task is tens of thousands of rows that every run of it would otherwise read.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { useTestDatabase } from "./helpers/database.js";

const db = useTestDatabase();
const task = "auto-cancel-unconfirmed-orders";

/** The scan nodes of a statement's plan: "Seq Scan on job_runs", "Index Scan using ...". */
async function scans(sql: string, params: unknown[]): Promise<string[]> {
  const explained = await db.pool.query<{ "QUERY PLAN": unknown }>(`EXPLAIN (FORMAT JSON) ${sql}`, params);
  const found: string[] = [];
  const walk = (node: Record<string, unknown>): void => {
    const type = String(node["Node Type"]);
    if (type.includes("Scan"))
      found.push(
        node["Index Name"]
          ? `${type} using ${String(node["Index Name"])}`
          : `${type} on ${String(node["Relation Name"])}`,
      );
    for (const child of (node.Plans as Record<string, unknown>[] | undefined) ?? []) walk(child);
  };
  const plan = (explained.rows[0]!["QUERY PLAN"] as { Plan: Record<string, unknown> }[])[0]!.Plan;
  walk(plan);
  return found;
}

beforeAll(async () => {
  // 45 days of an every-minute task's finished runs, and one run still marked running.
  await db.pool.query(
    `INSERT INTO scheduler.job_runs (task, trigger, status, started_at, finished_at, schedule_time)
     SELECT $1, 'scheduler', 'succeeded', t, t + interval '1 second', t
     FROM generate_series(date_trunc('minute', now()) - interval '45 days', date_trunc('minute', now()) - interval '2 minutes', interval '1 minute') t`,
    [task],
  );
  await db.pool.query(
    `INSERT INTO scheduler.job_runs (task, trigger, status) VALUES ($1, 'cli', 'running')`,
    [task],
  );
  await db.pool.query("ANALYZE scheduler.job_runs");
});

describe("the run path on a long history", () => {
  it("when start_run looks for the task's runs still marked running, then it reads an index of running runs, not the history", async () => {
    // The statement of scheduler.start_run (sql/routines/scheduler.start_run.sql) that marks them interrupted.
    const nodes = await scans(
      `UPDATE scheduler.job_runs r SET status = 'failed' WHERE r.task = $1 AND r.status = 'running'`,
      [task],
    );
    expect(nodes).toEqual(["Index Scan using job_runs_running_idx"]);
  });

  it("when start_run runs on that history, then it marks the one running run interrupted and opens its own", async () => {
    // One session: start_run takes the task's lock on it, finish_run gives it back there.
    const client = await db.pool.connect();
    try {
      const opened = await client.query<{ outcome: string; run_id: string }>(
        `SELECT * FROM scheduler.start_run($1, 'cli', NULL, NULL, NULL, false, false, 30000, 'UTC', NULL, NULL)`,
        [task],
      );
      expect(opened.rows[0]?.outcome).toBe("started");
      const runs = await client.query<{ status: string; error_code: string | null }>(
        `SELECT status, error_code FROM scheduler.job_runs WHERE task = $1 AND trigger = 'cli' ORDER BY id`,
        [task],
      );
      expect(runs.rows).toEqual([
        { status: "failed", error_code: "interrupted" },
        { status: "running", error_code: null },
      ]);
      await client.query("SELECT scheduler.finish_run($1, 'succeeded', 0, false, NULL, NULL)", [
        opened.rows[0]!.run_id,
      ]);
    } finally {
      client.release();
    }
  });

  it("when a tick's slot is checked with a generic plan, then whichever partial index the plan takes, it reads the slot, not the task's history", async () => {
    // A plan cached while job_runs was nearly empty took job_runs_success_tick_idx on the task alone
    // and filtered every success of the task (2.4 ms at 15,000 runs, on every tick). Each of the
    // two indexes that can serve the check, with the other one gone (in a transaction rolled back).
    const client = await db.pool.connect();
    try {
      const rowsRead: Record<string, number> = {};
      for (const [kept, dropped] of [
        ["job_runs_success_tick_idx", "job_runs_one_success_per_slot"],
        ["job_runs_one_success_per_slot", "job_runs_success_tick_idx"],
      ] as const) {
        await client.query("BEGIN");
        await client.query("SET LOCAL plan_cache_mode = force_generic_plan");
        await client.query(`DROP INDEX scheduler.${dropped}`);
        const read = async (): Promise<number> => {
          const { rows } = await client.query<{ n: string }>(
            `SELECT coalesce(seq_tup_read, 0) + coalesce(idx_tup_fetch, 0) AS n
             FROM pg_stat_xact_user_tables WHERE schemaname = 'scheduler' AND relname = 'job_runs'`,
          );
          return Number(rows[0]?.n ?? 0);
        };
        const before = await read();
        // A slot that succeeded (two days ago, on the minute) and one that did not (in the future).
        const slots = await client.query<{ done: string | null; missing: string | null }>(
          `SELECT scheduler.slot_success($1, date_trunc('minute', now()) - interval '2 days') AS done,
                  scheduler.slot_success($1, date_trunc('minute', now()) + interval '1 day') AS missing`,
          [task],
        );
        rowsRead[kept] = (await read()) - before;
        expect(slots.rows[0]!.done).not.toBeNull();
        expect(slots.rows[0]!.missing).toBeNull();
        await client.query("ROLLBACK");
      }
      expect(rowsRead).toEqual({ job_runs_success_tick_idx: 1, job_runs_one_success_per_slot: 1 });
    } finally {
      client.release();
    }
  });
});
