/**
 * `plan` with a database (embedded PostgreSQL, no pg_cron): drift (run-time pauses, last status,
 * tasks with no run yet, pg_cron's absence for a pg_cron task) and impact (each task's dry run, the
 * guard's verdict, a backlog's batches, pending emails), and the read-only claim: after `plan
 * --read-only` the data and pg_stat_user_tables' writes are exactly as before, and after `plan` the
 * data is, and the only writes counted are the rows the rolled-back statements tried.
 * test/pg-cron/plan-drift.test.ts compares cron.job.
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { beforeAll, describe, expect, it } from "vitest";
import type { TaskDefinition } from "../../functions/core/catalog.js";
import { tasks } from "../../functions/core/catalog.js";
import type { DriftReport } from "../../scripts/plan/drift.js";
import type { TaskImpact } from "../../scripts/plan/impact.js";
import type { PlanReport } from "../../scripts/plan/plan.js";
import { runCli } from "../helpers/cli.js";
import { useTestDatabase } from "../helpers/database.js";
import { fingerprint } from "../helpers/db-fingerprint.js";

const db = useTestDatabase();
const root = mkdtempSync(join(tmpdir(), "sj-plan-db-"));
/**
 * cleanup-orphaned-menus is pg_cron's here (the database has no pg_cron to run it), and an http
 * task, whose work is its target's, has nothing to dry-run.
 */
const catalog: readonly TaskDefinition[] = [
  ...tasks.map((task) =>
    task.name === "cleanup-orphaned-menus" ? { ...task, runner: "pg_cron" as const } : task,
  ),
  {
    name: "refresh-partner-feed",
    description: "Ask the partner service to refresh its feed.",
    kind: "http",
    schedule: "0 * * * *",
    timeoutSeconds: 30,
    retry: { retryCount: 0, minBackoffSeconds: 5, maxBackoffSeconds: 60, maxDoublings: 2 },
    http: { target: "partner", path: "/refresh" },
    paused: false,
  },
];
let now: Date;

/** The fixture, on a connection that ends: a backend sends its counted writes when it exits. */
async function seed(): Promise<void> {
  const client = new pg.Client({ connectionString: db.url });
  await client.connect();
  await client.query(`
    CREATE SCHEMA plan_test;
    CREATE TABLE plan_test.barrier (n integer NOT NULL);
    INSERT INTO plan_test.barrier VALUES (0);
    INSERT INTO restaurants (name, email) VALUES ('a', 'a@example.com'), ('b', 'b@example.com'), ('no mail', NULL);
    -- auto-cancel: 501 pending orders past 30 minutes, one more than its guard allows.
    INSERT INTO orders (status, placed_at) SELECT 'pending', now() - interval '1 hour' FROM generate_series(1, 501);
    -- archive-old-orders: 3 final for more than 90 days.
    INSERT INTO orders (status, placed_at, delivered_at, updated_at)
      SELECT 'delivered', now() - interval '100 days', now() - interval '95 days', now() - interval '95 days'
      FROM generate_series(1, 3);
    -- send-order-confirmations: 2 confirmed orders, queued by the trigger.
    INSERT INTO orders (restaurant_id, status, placed_at, total_amount) VALUES (1, 'confirmed', now(), 10), (2, 'confirmed', now(), 12);
    INSERT INTO drivers (is_available, updated_at) VALUES (true, now() - interval '31 minutes'), (true, now() - interval '2 hours'), (true, now());
    INSERT INTO reviews (restaurant_id, rating, created_at) VALUES (1, 5, now() - interval '1 hour'), (2, 3, now() - interval '1 hour');
    INSERT INTO menus (name, created_at) VALUES ('orphan', now() - interval '31 days'), ('orphan 2', now() - interval '40 days'), ('young', now());
    INSERT INTO user_sessions (expires_at) SELECT now() - interval '1 hour' FROM generate_series(1, 12);
    INSERT INTO distance_requests (created_at) VALUES (now() - interval '91 days');
    INSERT INTO scheduler.job_runs (task, trigger, status, started_at, finished_at, error_code, message)
      VALUES ('cleanup-expired-sessions', 'scheduler', 'failed', now() - interval '10 minutes', now() - interval '10 minutes', 'task_failed', 'boom');
    INSERT INTO scheduler.task_pauses (task, reason, paused_by, paused_at)
      VALUES ('driver-inactivity-check', 'fleet app migration', 'ops@example.com', now() - interval '5 minutes');`);
  await client.end();
}

/** Counted writes of every table but the barrier's. */
async function writes(): Promise<Record<string, number[]>> {
  const { rows } = await db.pool.query<{ name: string; ins: string; upd: string; del: string }>(
    `SELECT schemaname || '.' || relname AS name, n_tup_ins AS ins, n_tup_upd AS upd, n_tup_del AS del
     FROM pg_stat_user_tables WHERE schemaname IN ('public', 'scheduler') ORDER BY 1`,
  );
  return Object.fromEntries(rows.map((r) => [r.name, [Number(r.ins), Number(r.upd), Number(r.del)]]));
}

/**
 * Waits until the statistics of every backend that ended before now are in: a backend sends its
 * counts when it exits, so a write on a fresh connection that ends, once seen, comes after them.
 */
async function statsBarrier(): Promise<void> {
  const before = await db.pool.query<{ n: string }>(
    "SELECT n_tup_upd AS n FROM pg_stat_user_tables WHERE schemaname = 'plan_test'",
  );
  const client = new pg.Client({ connectionString: db.url });
  await client.connect();
  await client.query("UPDATE plan_test.barrier SET n = n + 1");
  await client.end();
  for (let i = 0; i < 200; i++) {
    const after = await db.pool.query<{ n: string }>(
      "SELECT n_tup_upd AS n FROM pg_stat_user_tables WHERE schemaname = 'plan_test'",
    );
    if (Number(after.rows[0]!.n) > Number(before.rows[0]!.n)) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error("the barrier's statistics never arrived");
}

async function plan(...flags: string[]): Promise<PlanReport> {
  const result = await runCli(["plan", "--stack", "Pulumi.dev.yaml", "--json", ...flags], {
    env: { DATABASE_URL: db.url },
    root,
    now,
    catalog,
  });
  expect(result.err).toBe("");
  expect(result.code).toBe(0);
  return JSON.parse(result.out) as PlanReport;
}

let before: { data: Awaited<ReturnType<typeof fingerprint>>; writes: Record<string, number[]> };
let readOnly: PlanReport;
let full: PlanReport;

beforeAll(async () => {
  await seed();
  now = (await db.pool.query<{ now: Date }>("SELECT now()")).rows[0]!.now;
  await statsBarrier();
  before = { data: await fingerprint(db.pool), writes: await writes() };
  readOnly = await plan("--read-only");
  await statsBarrier();
}, 120_000);

const impactOf = (report: PlanReport, task: string): TaskImpact =>
  (report.impact as TaskImpact[]).find((t) => t.task === task)!;

describe("plan --read-only", () => {
  it("when it has run, then the data and every table's counted writes are exactly as before", async () => {
    expect(await fingerprint(db.pool)).toEqual(before.data);
    expect(await writes()).toEqual(before.writes);
  });

  it("when a task is batched or sends email, then its count is there; a single statement is not run", () => {
    expect(impactOf(readOnly, "archive-old-orders")).toMatchObject({
      how: "count",
      rows: 3,
      backlog: { batches: 1, runs: 1 },
    });
    expect(impactOf(readOnly, "cleanup-expired-sessions")).toMatchObject({ how: "count", rows: 12 });
    expect(impactOf(readOnly, "cleanup-distance-requests")).toMatchObject({ how: "count", rows: 1 });
    expect(impactOf(readOnly, "send-order-confirmations")).toMatchObject({ how: "count", rows: 2 });
    expect(impactOf(readOnly, "send-daily-vendor-reports")).toMatchObject({ how: "count", rows: 2 });
    expect(impactOf(readOnly, "alert-failed-runs")).toMatchObject({ how: "count", rows: 1 });
    expect(impactOf(readOnly, "refresh-partner-feed")).toMatchObject({
      how: "not run (its target does the work)",
      rows: null,
    });
    expect(impactOf(readOnly, "auto-cancel-unconfirmed-orders")).toEqual({
      task: "auto-cancel-unconfirmed-orders",
      kind: "sql",
      how: "not run (--read-only)",
      rows: null,
    });
  });
});

describe("plan with a database", () => {
  beforeAll(async () => {
    full = await plan();
    await statsBarrier();
  }, 120_000);

  it("when a single statement is dry-run, then it says the rows it would change and the guard's verdict", () => {
    expect(impactOf(full, "auto-cancel-unconfirmed-orders")).toMatchObject({
      how: "dry run, rolled back",
      rows: 501,
      guard: { limit: 500, trips: true },
    });
    expect(impactOf(full, "driver-inactivity-check")).toMatchObject({
      rows: 2,
      guard: { limit: 2000, trips: false },
    });
    expect(impactOf(full, "update-restaurant-ratings")).toMatchObject({ rows: 2 });
    expect(impactOf(full, "cleanup-orphaned-menus")).toMatchObject({ rows: 2, guard: { trips: false } });
    expect(impactOf(full, "generate-daily-stats")).toMatchObject({ rows: 1 });
    expect(full.warnings.filter((w) => w.kind === "guard")).toEqual([
      expect.objectContaining({ tasks: ["auto-cancel-unconfirmed-orders"] }),
    ]);
  });

  it("when it has run, then the data is as before and the only counted writes are the rows the rolled-back statements tried", async () => {
    expect(await fingerprint(db.pool)).toEqual(before.data);
    const after = await writes();
    const delta = (table: string) => after[table]!.map((n, i) => n - before.writes[table]![i]!);
    const rows = (task: string) => impactOf(full, task).rows!;
    const tried: Record<string, number[]> = {
      "public.orders": [0, rows("auto-cancel-unconfirmed-orders"), 0],
      "public.drivers": [0, rows("driver-inactivity-check"), 0],
      "public.restaurants": [0, rows("update-restaurant-ratings"), 0],
      "public.menus": [0, 0, rows("cleanup-orphaned-menus")],
      "public.daily_order_stats": [rows("generate-daily-stats"), 0, 0],
    };
    for (const table of Object.keys(after)) expect(delta(table), table).toEqual(tried[table] ?? [0, 0, 0]);
  });

  it("when tasks are paused at run time, failed, or never ran, then drift says so, and the calendar shows the pause", () => {
    const drift = full.drift as DriftReport;
    expect(drift.pgCron).toEqual({ installed: false });
    const state = (task: string) => drift.tasks.find((t) => t.task === task)!;
    expect(state("driver-inactivity-check").runTimePause).toMatchObject({
      reason: "fleet app migration",
      pausedBy: "ops@example.com",
      until: null,
    });
    expect(state("cleanup-expired-sessions")).toMatchObject({ lastStatus: "failed", runTimePause: null });
    expect(state("archive-old-orders")).toMatchObject({ lastStatus: null, lastRunAt: null });
    const calendar = full.calendar.find((e) => e.task === "driver-inactivity-check")!;
    expect(calendar.runTimePause).toMatchObject({ reason: "fleet app migration" });
    expect(full.calendar.find((e) => e.task === "auto-cancel-unconfirmed-orders")!.runTimePause).toBeNull();
    expect(full.database).toMatch(/sj_test_/);
  });

  it("when the stack gives a task to pg_cron and the database has no pg_cron, then that is a warning", () => {
    expect(full.warnings.filter((w) => w.kind === "drift")).toEqual([
      expect.objectContaining({
        tasks: ["cleanup-orphaned-menus"],
        cause: expect.stringContaining("the database has no pg_cron extension"),
      }),
    ]);
  });
});
