/**
 * Each task's SQL against real PostgreSQL, with rows that must change and rows that must not, at the
 * boundaries. Boundary cases run the statement inside one transaction with the fixture, so "exactly
 * at the cut-off" means exactly: now() is the same instant for both.
 */
import type pg from "pg";
import { beforeEach, describe, expect, it } from "vitest";
import { findTask } from "../functions/core/catalog.js";
import { runTask } from "../functions/core/run/runner.js";
import { sqlOf } from "../functions/core/run/task-sql.js";
import { useTestDatabase } from "./helpers/database.js";

const db = useTestDatabase();

function statementOf(name: string): string {
  const task = findTask(name);
  if (!task) throw new Error(`no task ${name}`);
  const sql = sqlOf(task);
  if (!sql.statement) throw new Error(`${name} is batched`);
  return sql.statement;
}

/** Runs `body` in a transaction that is always rolled back, so each case starts from the same rows. */
async function inRolledBackTransaction<T>(body: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await db.pool.connect();
  try {
    await client.query("BEGIN");
    return await body(client);
  } finally {
    await client.query("ROLLBACK");
    client.release();
  }
}

async function run(name: string, extra: { dryRun?: boolean; force?: boolean } = {}) {
  const task = findTask(name);
  if (!task) throw new Error(`no task ${name}`);
  return runTask({ pool: db.pool }, { task, trigger: "cli", ...extra });
}

async function reset(): Promise<void> {
  await db.pool.query(`
    TRUNCATE orders, restaurants, menus, restaurant_menus, reviews, drivers, distance_requests,
             user_sessions, system_settings, daily_order_stats, scheduler.job_runs RESTART IDENTITY CASCADE`);
}

beforeEach(reset);

describe("auto-cancel-unconfirmed-orders", () => {
  const cancel = statementOf("auto-cancel-unconfirmed-orders");

  it("when no setting row exists, then pending orders older than 30 minutes are cancelled and nothing else changes", async () => {
    await inRolledBackTransaction(async (client) => {
      await client.query(`
        INSERT INTO orders (status, placed_at, is_active) VALUES
          ('pending',   now() - interval '30 minutes 1 second', true),  -- 1: due
          ('pending',   now() - interval '30 minutes',          true),  -- 2: exactly at the cut-off: not yet
          ('pending',   now() - interval '29 minutes',          true),  -- 3: too young
          ('pending',   NULL,                                   true),  -- 4: never placed
          ('pending',   now() - interval '2 hours',             false), -- 5: inactive
          ('confirmed', now() - interval '2 hours',             true)   -- 6: vendor confirmed`);
      const result = await client.query(cancel);
      expect(result.rowCount).toBe(1);
      const rows = await client.query<{
        id: string;
        status: string;
        cancellation_reason: string | null;
        cancelled: boolean;
      }>(
        `SELECT id, status, cancellation_reason, cancelled_at IS NOT NULL AND updated_at = now() AS cancelled
         FROM orders ORDER BY id`,
      );
      expect(rows.rows.map((r) => r.status)).toEqual([
        "cancelled",
        "pending",
        "pending",
        "pending",
        "pending",
        "confirmed",
      ]);
      expect(rows.rows[0]).toMatchObject({
        cancelled: true,
        cancellation_reason: "Auto-cancelled: vendor did not confirm within 30 minutes",
      });
    });
  });

  it("when the setting says 10 minutes, then the cut-off is 10 minutes", async () => {
    await inRolledBackTransaction(async (client) => {
      await client.query(`INSERT INTO system_settings VALUES ('order_auto_cancel_minutes', '10')`);
      await client.query(`
        INSERT INTO orders (status, placed_at) VALUES
          ('pending', now() - interval '11 minutes'), ('pending', now() - interval '10 minutes'),
          ('pending', now() - interval '9 minutes')`);
      expect((await client.query(cancel)).rowCount).toBe(1);
      const reason = await client.query(`SELECT cancellation_reason FROM orders WHERE status = 'cancelled'`);
      expect(reason.rows[0].cancellation_reason).toBe(
        "Auto-cancelled: vendor did not confirm within 10 minutes",
      );
    });
  });

  it.each([["abc"], [""], ["0"], ["-5"], ["12.5"], [null]])(
    "when the setting is malformed (%j), then the 30-minute default applies instead of failing or cancelling everything",
    async (value) => {
      await inRolledBackTransaction(async (client) => {
        await client.query(`INSERT INTO system_settings VALUES ('order_auto_cancel_minutes', $1)`, [value]);
        await client.query(`
          INSERT INTO orders (status, placed_at) VALUES
            ('pending', now() - interval '31 minutes'), ('pending', now() - interval '5 minutes')`);
        expect((await client.query(cancel)).rowCount).toBe(1);
      });
    },
  );
});

describe("driver-inactivity-check", () => {
  it("when available drivers are silent for 30 minutes, then only they become unavailable, keeping their last update time", async () => {
    await inRolledBackTransaction(async (client) => {
      await client.query(`
        INSERT INTO drivers (is_available, updated_at) VALUES
          (true,  now() - interval '31 minutes'),  -- silent
          (true,  now() - interval '30 minutes'),  -- exactly at the cut-off
          (true,  now() - interval '1 minute'),    -- active
          (false, now() - interval '3 hours')      -- already unavailable`);
      expect((await client.query(statementOf("driver-inactivity-check"))).rowCount).toBe(1);
      const rows = await client.query(
        `SELECT is_available, updated_at < now() - interval '31 minutes' + interval '1 second' AS kept FROM drivers ORDER BY id`,
      );
      expect(rows.rows.map((r) => r.is_available)).toEqual([false, true, true, false]);
      expect(rows.rows[0].kept).toBe(true);
    });
  });
});

describe("update-restaurant-ratings", () => {
  it("when restaurants were reviewed recently, then their rating is the average of all their reviews, and others are untouched", async () => {
    await db.pool.query(`
      INSERT INTO restaurants (name, rating) VALUES ('recent', 0), ('stale', 4.5), ('unreviewed', 3.3);
      INSERT INTO reviews (restaurant_id, rating, created_at) VALUES
        (1, 5, now() - interval '100 days'), (1, 4, now() - interval '1 hour'), (1, 4, now() - interval '3 hours'),
        (2, 1, now() - interval '10 days')`);
    const result = await run("update-restaurant-ratings");
    expect(result).toMatchObject({ status: "succeeded", rowsAffected: 1 });
    const ratings = await db.pool.query(`SELECT name, rating::text FROM restaurants ORDER BY id`);
    expect(ratings.rows).toEqual([
      { name: "recent", rating: "4.33" },
      { name: "stale", rating: "4.50" },
      { name: "unreviewed", rating: "3.30" },
    ]);
    expect(await run("update-restaurant-ratings")).toMatchObject({ status: "succeeded", rowsAffected: 0 });
  });

  it("when the task succeeded before, then only restaurants reviewed since then (10 minutes' margin) are recomputed", async () => {
    await db.pool.query(`
      INSERT INTO restaurants (name, rating) VALUES ('before the last run', 0), ('in the margin', 0), ('since', 0);
      INSERT INTO reviews (restaurant_id, rating, created_at) VALUES
        (1, 5, now() - interval '3 hours'), (2, 4, now() - interval '65 minutes'), (3, 3, now() - interval '30 minutes');
      INSERT INTO scheduler.job_runs (task, trigger, status, dry_run, started_at, finished_at) VALUES
        ('update-restaurant-ratings', 'scheduler', 'succeeded', false, now() - interval '1 hour', now() - interval '1 hour'),
        -- Neither a dry run nor a failure narrows the window.
        ('update-restaurant-ratings', 'cli', 'succeeded', true, now() - interval '10 minutes', now() - interval '10 minutes'),
        ('update-restaurant-ratings', 'scheduler', 'failed', false, now() - interval '5 minutes', now() - interval '5 minutes')`);
    expect(await run("update-restaurant-ratings")).toMatchObject({ status: "succeeded", rowsAffected: 2 });
    const ratings = await db.pool.query(`SELECT name, rating::text FROM restaurants ORDER BY id`);
    expect(ratings.rows).toEqual([
      { name: "before the last run", rating: "0.00" },
      { name: "in the margin", rating: "4.00" },
      { name: "since", rating: "3.00" },
    ]);
  });

  it("when the last success is older than two days, then two days of reviews are recomputed", async () => {
    await db.pool.query(`
      INSERT INTO restaurants (name, rating) VALUES ('three days ago', 0), ('yesterday', 0);
      INSERT INTO reviews (restaurant_id, rating, created_at) VALUES
        (1, 5, now() - interval '3 days'), (2, 4, now() - interval '1 day');
      INSERT INTO scheduler.job_runs (task, trigger, status, started_at, finished_at) VALUES
        ('update-restaurant-ratings', 'scheduler', 'succeeded', now() - interval '5 days', now() - interval '5 days')`);
    expect(await run("update-restaurant-ratings")).toMatchObject({ status: "succeeded", rowsAffected: 1 });
    const ratings = await db.pool.query(`SELECT name, rating::text FROM restaurants ORDER BY id`);
    expect(ratings.rows.map((r) => r.rating)).toEqual(["0.00", "4.00"]);
  });
});

describe("cleanup-orphaned-menus", () => {
  it("when restaurant_menus has a NULL menu_id, then old unused menus are still deleted (the NOT IN trap)", async () => {
    await db.pool.query(`
      INSERT INTO restaurants (name) VALUES ('r');
      INSERT INTO menus (name, created_at) VALUES
        ('old orphan', now() - interval '31 days'),
        ('old used', now() - interval '31 days'),
        ('young orphan', now() - interval '29 days'),
        ('another old orphan', now() - interval '400 days');
      INSERT INTO restaurant_menus (restaurant_id, menu_id) VALUES (1, 2), (1, NULL)`);
    // The design document's statement, for contrast: it deletes nothing here.
    const seed = await db.pool.query(`
      BEGIN;
      DELETE FROM menus WHERE id NOT IN (SELECT DISTINCT menu_id FROM restaurant_menus)
        AND created_at < (CURRENT_TIMESTAMP - INTERVAL '30 days');`);
    await db.pool.query("ROLLBACK");
    expect((seed as unknown as pg.QueryResult[])[1]?.rowCount).toBe(0);

    expect(await run("cleanup-orphaned-menus")).toMatchObject({ status: "succeeded", rowsAffected: 2 });
    const left = await db.pool.query(`SELECT name FROM menus ORDER BY id`);
    expect(left.rows.map((r) => r.name)).toEqual(["old used", "young orphan"]);
  });
});

describe("archive-old-orders", () => {
  it("when orders reached a final state more than 90 days ago, then they are deactivated, cancelled ones included", async () => {
    await db.pool.query(`
      INSERT INTO orders (status, placed_at, delivered_at, cancelled_at, updated_at, is_active) VALUES
        ('delivered', now() - interval '100 days', now() - interval '91 days', NULL, now() - interval '91 days', true), -- 1 archive
        ('cancelled', now() - interval '100 days', NULL, now() - interval '95 days', now() - interval '95 days', true), -- 2 archive (the seed never did)
        ('refunded',  now() - interval '200 days', now() - interval '199 days', NULL, now() - interval '120 days', true), -- 3 archive
        ('refunded',  now() - interval '200 days', now() - interval '199 days', NULL, now() - interval '10 days', true),  -- 4 refunded recently: keep
        ('delivered', now() - interval '30 days', now() - interval '30 days', NULL, now() - interval '30 days', true),   -- 5 too recent
        ('cancelled', now() - interval '10 days', NULL, now() - interval '10 days', now() - interval '10 days', true),   -- 6 too recent
        ('pending',   now() - interval '300 days', NULL, NULL, now() - interval '300 days', true),                      -- 7 not final
        ('delivered', now() - interval '400 days', NULL, NULL, now() - interval '399 days', true),                      -- 8 no delivered_at: by updated_at
        ('delivered', now() - interval '400 days', now() - interval '399 days', NULL, now() - interval '399 days', false) -- 9 already archived`);
    const dry = await run("archive-old-orders", { dryRun: true });
    expect(dry).toMatchObject({ status: "succeeded", rowsAffected: 4, dryRun: true });
    expect((await db.pool.query(`SELECT count(*)::int AS n FROM orders WHERE is_active`)).rows[0].n).toBe(8);

    expect(await run("archive-old-orders")).toMatchObject({ status: "succeeded", rowsAffected: 4 });
    const active = await db.pool.query(`SELECT id::int FROM orders WHERE is_active ORDER BY id`);
    expect(active.rows.map((r) => r.id)).toEqual([4, 5, 6, 7]);
    expect(await run("archive-old-orders")).toMatchObject({ status: "succeeded", rowsAffected: 0 });
  });
});

describe("cleanup-expired-sessions and cleanup-distance-requests", () => {
  it("when sessions expired, then exactly those are deleted", async () => {
    await db.pool.query(`
      INSERT INTO user_sessions (expires_at) VALUES
        (now() - interval '1 second'), (now() - interval '3 days'), (now() + interval '1 minute')`);
    expect(await run("cleanup-expired-sessions")).toMatchObject({ status: "succeeded", rowsAffected: 2 });
    expect((await db.pool.query(`SELECT count(*)::int AS n FROM user_sessions`)).rows[0].n).toBe(1);
  });

  it("when distance requests are older than 90 days, then exactly those are deleted", async () => {
    await db.pool.query(`
      INSERT INTO distance_requests (created_at) VALUES
        (now() - interval '91 days'), (now() - interval '89 days'), (now())`);
    expect(await run("cleanup-distance-requests")).toMatchObject({ status: "succeeded", rowsAffected: 1 });
    expect((await db.pool.query(`SELECT count(*)::int AS n FROM distance_requests`)).rows[0].n).toBe(2);
  });
});

describe("generate-daily-stats", () => {
  it("when run twice, then yesterday has one correct row and the second run changes nothing", async () => {
    await db.pool.query(`
      INSERT INTO orders (status, total_amount, created_at) VALUES
        ('delivered', 20.00, date_trunc('day', now()) - interval '1 hour'),
        ('cancelled', 15.00, date_trunc('day', now()) - interval '2 hours'),
        ('refunded',  30.00, date_trunc('day', now()) - interval '3 hours'),
        ('delivered', 12.50, date_trunc('day', now()) - interval '1 day'),   -- 00:00 yesterday: included
        ('delivered', 99.00, date_trunc('day', now()) - interval '1 day 1 second'), -- the day before: excluded
        ('delivered', 99.00, date_trunc('day', now()))                       -- today: excluded`);
    expect(await run("generate-daily-stats")).toMatchObject({ status: "succeeded", rowsAffected: 1 });
    expect(await run("generate-daily-stats")).toMatchObject({ status: "succeeded", rowsAffected: 0 });
    const stats = await db.pool.query(
      `SELECT stats_date = current_date - 1 AS yesterday, total_orders, cancelled_orders, total_revenue::text FROM daily_order_stats`,
    );
    expect(stats.rows).toEqual([
      { yesterday: true, total_orders: 4, cancelled_orders: 1, total_revenue: "32.50" },
    ]);
  });

  /** Runs the task for one tick (a backfill), in the task's zone or another. */
  async function runTick(scheduleTime: string, timeZone?: string) {
    const task = { ...findTask("generate-daily-stats")!, ...(timeZone ? { timeZone } : {}) };
    return runTask({ pool: db.pool }, { task, trigger: "cli", scheduleTime: new Date(scheduleTime) });
  }

  async function statsRows() {
    const stats = await db.pool.query<{ day: string; total_orders: number }>(
      "SELECT stats_date::text AS day, total_orders FROM daily_order_stats ORDER BY stats_date",
    );
    return stats.rows;
  }

  it("when a past tick runs later (a retry after midnight, a backfill), then it computes the day before that tick, not before today", async () => {
    await db.pool.query(`
      INSERT INTO orders (status, total_amount, created_at) VALUES
        ('delivered', 10, '2026-11-28T00:00:00Z'), ('delivered', 10, '2026-11-28T23:59:59Z'),
        ('delivered', 10, '2026-11-29T00:00:00Z'), ('delivered', 10, '2026-12-01T12:00:00Z')`);
    // The 29th's 00:05 tick, run whatever today is: the 28th's figures.
    expect(await runTick("2026-11-29T00:05:00Z")).toMatchObject({ status: "succeeded", rowsAffected: 1 });
    expect(await statsRows()).toEqual([{ day: "2026-11-28", total_orders: 2 }]);
  });

  it("when the task's zone changes its clocks, then yesterday is that zone's whole day (23 h in spring, 25 h in autumn)", async () => {
    // Berlin: 29 March 2026 runs 00:00 CET (28th 23:00Z) to 24:00 CEST (29th 22:00Z), 23 hours;
    // 25 October 2026 runs 00:00 CEST (24th 22:00Z) to 24:00 CET (25th 23:00Z), 25 hours.
    await db.pool.query(`
      INSERT INTO orders (status, total_amount, created_at) VALUES
        ('delivered', 1, '2026-03-28T22:59:59Z'), ('delivered', 1, '2026-03-28T23:00:00Z'),
        ('delivered', 1, '2026-03-29T21:59:59Z'), ('delivered', 1, '2026-03-29T22:00:00Z'),
        ('delivered', 1, '2026-10-24T21:59:59Z'), ('delivered', 1, '2026-10-24T22:00:00Z'),
        ('delivered', 1, '2026-10-25T22:59:59Z'), ('delivered', 1, '2026-10-25T23:00:00Z')`);
    // 00:05 local on the day after each: 22:05Z on 29 March (CEST), 23:05Z on 25 October (CET).
    await runTick("2026-03-29T22:05:00Z", "Europe/Berlin");
    await runTick("2026-10-25T23:05:00Z", "Europe/Berlin");
    expect(await statsRows()).toEqual([
      { day: "2026-03-29", total_orders: 2 },
      { day: "2026-10-25", total_orders: 2 },
    ]);
  });

  it("when yesterday had no orders, then its row says zero rather than being missing", async () => {
    expect(await run("generate-daily-stats")).toMatchObject({ status: "succeeded", rowsAffected: 1 });
    const stats = await db.pool.query(`SELECT total_orders, total_revenue::text FROM daily_order_stats`);
    expect(stats.rows).toEqual([{ total_orders: 0, total_revenue: "0.00" }]);
  });
});

describe("purge-run-history", () => {
  it("when runs are older than the retention, then they are deleted, and the retention setting is honoured", async () => {
    await db.pool.query(`
      INSERT INTO scheduler.job_runs (task, trigger, status, started_at, finished_at) VALUES
        ('t', 'cli', 'succeeded', now() - interval '31 days', now() - interval '31 days'),
        ('t', 'cli', 'failed',    now() - interval '45 days', now() - interval '45 days'),
        ('t', 'cli', 'succeeded', now() - interval '29 days', now() - interval '29 days')`);
    expect(await run("purge-run-history")).toMatchObject({ status: "succeeded", rowsAffected: 2 });
    await db.pool.query(`ALTER DATABASE ${db.name} SET scheduler.run_retention_days = 7`);
    try {
      // A fresh connection picks up the database-level setting.
      const { createPool } = await import("../functions/core/db/pool.js");
      const pool = createPool({ connectionString: db.url });
      const task = findTask("purge-run-history")!;
      const result = await runTask({ pool }, { task, trigger: "cli" });
      await pool.end();
      expect(result).toMatchObject({ status: "succeeded", rowsAffected: 1 });
    } finally {
      await db.pool.query(`ALTER DATABASE ${db.name} RESET scheduler.run_retention_days`);
    }
  });
});
