import { readFileSync } from "node:fs";
import pg from "pg";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { TaskDefinition } from "../../functions/core/catalog.js";
import { findTask, tasks } from "../../functions/core/catalog.js";
import { pathOf, pgCronSetupFiles, SHIPPED_STACK_FILE } from "../../scripts/generate/pg-cron.js";
import { loadStackJobs } from "../../scripts/lib/jobs.js";
import { grantTaskPrivileges } from "../../scripts/lib/migrate.js";
import type { PgCronScope } from "../../scripts/generate/pg-cron-render.js";
import {
  jobCommand,
  localSchedule,
  pgCronSchedule,
  PURGE_JOB_NAME,
  PURGE_JOB_SCHEDULE,
  renderPgCronSetup,
  TASK_LOCK_CLASS,
} from "../../scripts/generate/pg-cron-render.js";
import { parseCron } from "../../functions/core/schedule/cron-grammar.js";
import { fireTimesBetween } from "../../functions/core/schedule/fire-times.js";
import { readTaskSqlFiles } from "../../scripts/generate/sql-files.js";
import type { Job } from "../../functions/core/schedule/jobs.js";
import { commandAt, jobOf, jobsOf } from "../helpers/jobs.js";
import type { PgCronCluster } from "./cluster.js";
import { startAppCluster } from "./app-database.js";

const sqlFiles = readTaskSqlFiles();
const setupFile = readFileSync(pathOf(pgCronSetupFiles[0]!.fileName), "utf8");
const sqlTasks = tasks.filter((task) => task.kind === "sql");

let cluster: PgCronCluster;
let db: pg.Pool;

function task(name: string): Job {
  const found = findTask(name);
  if (!found) throw new Error(`no task ${name}`);
  return jobOf(found);
}

function render(catalog: readonly TaskDefinition[], scope: PgCronScope = "all-sql"): string {
  return renderPgCronSetup(jobsOf(catalog), sqlFiles, {
    scope,
    fileName: "test.sql",
    generateCommand: "test",
  });
}

interface JobRow {
  jobname: string;
  schedule: string;
  active: boolean;
  command: string;
}

async function jobs(): Promise<JobRow[]> {
  return (await db.query<JobRow>("SELECT jobname, schedule, active, command FROM cron.job ORDER BY jobname"))
    .rows;
}

/** Loads a setup script on a connection of its own, as psql would (a failed load leaves nothing behind). */
async function load(script: string): Promise<void> {
  await runAsPgCron(script);
}

/** Runs a job's command as pg_cron does: the whole text as one simple query on its own connection. */
async function runAsPgCron(command: string): Promise<pg.QueryResult[]> {
  const client = new pg.Client({ connectionString: cluster.url() });
  await client.connect();
  try {
    const results = (await client.query(command)) as pg.QueryResult | pg.QueryResult[];
    return Array.isArray(results) ? results : [results];
  } finally {
    await client.end();
  }
}

beforeAll(async () => {
  ({ cluster, db } = await startAppCluster());
}, 60_000);

afterAll(async () => {
  await db?.end();
  cluster?.stop();
});

describe("sql/pg_cron_setup.sql on a real pg_cron", () => {
  beforeEach(async () => {
    await db.query("SELECT cron.unschedule(jobid) FROM cron.job").catch(() => undefined);
  });

  it("when the setup script is loaded twice, then cron.job holds exactly one job per SQL task, with the dev stack's schedule, and the purge job", async () => {
    await load(setupFile);
    await load(setupFile);
    const rows = await jobs();
    // The committed setup is the shipped dev stack's: its overrides, not the catalog's schedules.
    const dev = loadStackJobs(pathOf(SHIPPED_STACK_FILE)).filter((job) => job.kind === "sql");
    expect(rows.map((row) => [row.jobname, row.schedule, row.active])).toEqual(
      [
        ...dev.map((job) => [job.name, pgCronSchedule(job), !job.paused] as const),
        [PURGE_JOB_NAME, PURGE_JOB_SCHEDULE, true] as const,
      ].sort((a, b) => a[0].localeCompare(b[0])),
    );
    const { rows: extension } = await db.query<{ extversion: string }>(
      "SELECT extversion FROM pg_extension WHERE extname = 'pg_cron'",
    );
    expect(extension[0]?.extversion).toMatch(/^1\.(4|[5-9])/);
  });

  it("when the app's own role (not a superuser) loads the setup twice, then the jobs are its own, one per SQL task", async () => {
    await db.query(`
      DO $$ BEGIN
        IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'delivery_app') THEN
          CREATE ROLE delivery_app LOGIN;
        END IF;
      END $$;
      GRANT USAGE ON SCHEMA cron TO delivery_app;`);
    // What the jobs' runs need, and the setup's record of itself: migrate --grant-to's grants.
    await grantTaskPrivileges(cluster.url(), "delivery_app");
    const client = new pg.Client({ connectionString: cluster.url(undefined, "delivery_app") });
    await client.connect();
    try {
      await client.query(setupFile);
      await client.query(setupFile);
      const { rows } = await client.query<{ jobname: string; username: string }>(
        "SELECT jobname, username FROM cron.job ORDER BY jobname",
      );
      expect(rows).toEqual(
        [...sqlTasks.map((t) => t.name), PURGE_JOB_NAME]
          .map((jobname) => ({ jobname, username: "delivery_app" }))
          .sort((a, b) => a.jobname.localeCompare(b.jobname)),
      );
    } finally {
      await client.end();
    }
  });

  it("when a task is paused, removed or changed in the catalog, then the next load follows it and leaves other jobs alone", async () => {
    await load(setupFile);
    await db.query("SELECT cron.schedule('someone-elses-job', '0 5 * * *', 'SELECT 1')");

    const changed = sqlTasks
      .filter((t) => t.name !== "generate-daily-stats")
      .map((t) =>
        t.name === "driver-inactivity-check"
          ? { ...t, paused: true }
          : t.name === "cleanup-orphaned-menus"
            ? { ...t, schedule: "10 2 * * *" }
            : t,
      );
    await load(render(changed));
    let rows = await jobs();
    expect(rows.map((row) => row.jobname)).not.toContain("generate-daily-stats");
    expect(rows.map((row) => row.jobname)).toContain("someone-elses-job");
    expect(rows.find((row) => row.jobname === "driver-inactivity-check")?.active).toBe(false);
    expect(rows.find((row) => row.jobname === "cleanup-orphaned-menus")?.schedule).toBe("10 2 * * *");
    expect(rows).toHaveLength(sqlTasks.length + 1);

    await load(setupFile);
    rows = await jobs();
    expect(rows.find((row) => row.jobname === "driver-inactivity-check")?.active).toBe(true);
    expect(rows.find((row) => row.jobname === "cleanup-orphaned-menus")?.schedule).toBe("0 2 * * *");
    expect(rows.map((row) => row.jobname)).toContain("generate-daily-stats");
    expect(rows).toHaveLength(sqlTasks.length + 2);
  });

  it("when the hybrid script is loaded, then pg_cron keeps only the tasks whose runner is pg_cron", async () => {
    await load(setupFile);
    const hybrid = tasks.map((t) =>
      t.name === "auto-cancel-unconfirmed-orders" || t.name === "archive-old-orders"
        ? { ...t, runner: "pg_cron" as const }
        : t,
    );
    await load(render(hybrid, "pg_cron-runner"));
    expect((await jobs()).map((row) => row.jobname)).toEqual([
      "archive-old-orders",
      "auto-cancel-unconfirmed-orders",
      PURGE_JOB_NAME,
    ]);
  });

  it("when a task is in another time zone, then its job runs hourly at its minute and carries its local schedule", async () => {
    const paris = sqlTasks.map((t) =>
      t.name === "generate-daily-stats" ? { ...t, timeZone: "Europe/Paris" } : t,
    );
    await load(render(paris));
    const job = (await jobs()).find((row) => row.jobname === "generate-daily-stats");
    expect(job?.schedule).toBe("5 * * * *");
    expect(job?.command).toContain("p_time_zone => 'Europe/Paris'");
    expect(job?.command).toContain("p_minutes => '{5}',\n  p_hours => '{0}'");
  });

  it("when cron.timezone is not UTC, then loading fails and schedules nothing", async () => {
    const client = new pg.Client({ connectionString: cluster.url() });
    await client.connect();
    try {
      await client.query("SET cron.timezone = 'Europe/Paris'");
      await expect(client.query(setupFile)).rejects.toThrow(/cron\.timezone \(Europe\/Paris\).*in UTC/);
    } finally {
      await client.end();
    }
    expect(await jobs()).toEqual([]);
  });
});

interface RunRow {
  task: string;
  trigger: string;
  status: string;
  schedule_time: Date | null;
  rows_affected: string | null;
  more: boolean;
  error_code: string | null;
  message: string | null;
}

async function runRows(name: string): Promise<RunRow[]> {
  return (
    await db.query<RunRow>(
      `SELECT task, trigger, status, schedule_time, rows_affected, more, error_code, message
       FROM scheduler.job_runs WHERE task = $1 ORDER BY id`,
      [name],
    )
  ).rows;
}

/** A job's command for that task, as the setup schedules it, with the tick its routine takes. */
function command(job: Job, at: Date): string {
  return commandAt(jobCommand(job, sqlFiles[job.name]!), at);
}

/** What a single-statement job's routine returned (its last result's one value). */
async function outcomeOf(text: string): Promise<string> {
  const results = await runAsPgCron(text);
  const last = results[results.length - 1]!;
  return String(Object.values(last.rows[0] as Record<string, unknown>)[0]);
}

async function count(sql: string): Promise<number> {
  const { rows } = await db.query<{ n: string }>(sql);
  return Number(rows[0]?.n);
}

/** Waits until a session runs that job's routine and waits for a lock. */
async function waitForBlocked(routine: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    const { rows } = await db.query(
      `SELECT 1 FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE $1`,
      [`%${routine}%`],
    );
    if (rows.length > 0) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`no session ran ${routine} and waited for a lock`);
}

const tick = new Date("2026-06-01T10:15:00Z");

describe("a job's command, run as pg_cron runs it", () => {
  beforeEach(async () => {
    // No scheduled job may touch the fixtures meanwhile: these tests run the commands themselves.
    await db.query("SELECT cron.unschedule(jobid) FROM cron.job");
    await db.query(
      "TRUNCATE orders, restaurants, user_sessions, drivers, daily_order_stats, scheduler.job_runs, scheduler.task_pauses RESTART IDENTITY CASCADE",
    );
  });

  it("when a single-statement job runs, then its run is recorded in scheduler.job_runs with trigger pg_cron and its minute as the tick", async () => {
    await db.query(
      "INSERT INTO drivers (is_available, updated_at) SELECT true, now() - interval '2 hours' FROM generate_series(1, 3)",
    );
    const at = new Date(tick.getTime() + 17_500);
    expect(await outcomeOf(command(task("driver-inactivity-check"), at))).toBe("succeeded");
    expect(await runRows("driver-inactivity-check")).toEqual([
      expect.objectContaining({
        trigger: "pg_cron",
        status: "succeeded",
        schedule_time: tick,
        rows_affected: "3",
        error_code: null,
      }),
    ]);
    expect(await count("SELECT count(*) AS n FROM drivers WHERE is_available")).toBe(0);
  });

  it("when a second session runs the same job at the same minute, then it is recorded skipped while the first holds the lock, and a duplicate after it succeeded", async () => {
    await db.query(
      "INSERT INTO drivers (is_available, updated_at) VALUES (true, now() - interval '2 hours')",
    );
    const holder = await db.connect();
    let first: Promise<string> | undefined;
    try {
      // The first run waits for the table inside its statement, holding the task's lock.
      await holder.query("BEGIN; LOCK TABLE drivers IN ACCESS EXCLUSIVE MODE");
      first = outcomeOf(command(task("driver-inactivity-check"), tick));
      await waitForBlocked("run_pg_cron_statement");
      expect(
        await outcomeOf(command(task("driver-inactivity-check"), new Date(tick.getTime() + 30_000))),
      ).toBe("skipped");
    } finally {
      await holder.query("ROLLBACK");
      holder.release();
    }
    expect(await first).toBe("succeeded");
    expect(await outcomeOf(command(task("driver-inactivity-check"), tick))).toBe("duplicate");
    const rows = await runRows("driver-inactivity-check");
    // By id: the first run's row was written (uncommitted) before the second's.
    expect(rows.map((row) => [row.trigger, row.status, row.schedule_time])).toEqual([
      ["pg_cron", "succeeded", tick],
      ["pg_cron", "skipped", tick],
    ]);
    expect(rows[1]?.message).toBe("another run of this task holds its lock");
  });

  it("when a single-statement task would change more than maxRows, then it changes nothing and the run is recorded failed: guard_tripped", async () => {
    await db.query(
      "INSERT INTO drivers (is_available, updated_at) SELECT true, now() - interval '2 hours' FROM generate_series(1, 3)",
    );
    const guarded = { ...task("driver-inactivity-check"), maxRows: 2 };
    expect(await outcomeOf(command(guarded, tick))).toBe("failed");
    expect(await count("SELECT count(*) AS n FROM drivers WHERE is_available")).toBe(3);
    expect(await runRows(guarded.name)).toEqual([
      expect.objectContaining({
        trigger: "pg_cron",
        status: "failed",
        error_code: "guard_tripped",
        rows_affected: "0",
        message:
          "driver-inactivity-check would change 3 rows, more than its limit of 2; nothing was changed (force the run to override)",
      }),
    ]);

    // The failed tick is no success: the next tick does the work.
    expect(
      await outcomeOf(command(task("driver-inactivity-check"), new Date(tick.getTime() + 300_000))),
    ).toBe("succeeded");
    expect(await count("SELECT count(*) AS n FROM drivers WHERE is_available")).toBe(0);
  });

  it("when a single-statement task's SQL fails, then its work is rolled back and the failure recorded: task_failed", async () => {
    const broken = { ...task("driver-inactivity-check") };
    const text = commandAt(
      jobCommand(broken, {
        statement: "UPDATE drivers SET updated_at = now() + (1 / 0) * interval '1 second'",
      }),
      tick,
    );
    await db.query("INSERT INTO drivers (is_available, updated_at) VALUES (true, now())");
    expect(await outcomeOf(text)).toBe("failed");
    expect(await runRows(broken.name)).toEqual([
      expect.objectContaining({ status: "failed", error_code: "task_failed", message: "division by zero" }),
    ]);
    expect(await count("SELECT count(*) AS n FROM drivers WHERE is_available")).toBe(1);
  });

  it("when a single-statement task runs past its timeout, then the statement is cancelled and the run recorded failed: timeout", async () => {
    const holder = await db.connect();
    try {
      await holder.query("BEGIN; LOCK TABLE drivers IN ACCESS EXCLUSIVE MODE");
      const quick = { ...task("driver-inactivity-check"), timeoutSeconds: 1 };
      const started = Date.now();
      expect(await outcomeOf(command(quick, tick))).toBe("failed");
      expect(Date.now() - started).toBeLessThan(5_000);
    } finally {
      await holder.query("ROLLBACK");
      holder.release();
    }
    expect(await runRows("driver-inactivity-check")).toEqual([
      expect.objectContaining({
        status: "failed",
        error_code: "timeout",
        message: "canceling statement due to statement timeout",
      }),
    ]);
  });

  it("when the task is paused at run time, then its pg_cron run is recorded paused with the reason and changes nothing", async () => {
    await db.query(
      "INSERT INTO drivers (is_available, updated_at) VALUES (true, now() - interval '2 hours')",
    );
    await db.query(
      "SELECT scheduler.pause_task('driver-inactivity-check', 'fleet app migration', 'ops@example.com', NULL)",
    );
    expect(await outcomeOf(command(task("driver-inactivity-check"), tick))).toBe("paused");
    expect(await runRows("driver-inactivity-check")).toEqual([
      expect.objectContaining({ trigger: "pg_cron", status: "paused", message: "fleet app migration" }),
    ]);
    expect(await count("SELECT count(*) AS n FROM drivers WHERE is_available")).toBe(1);
  });

  it("when a batched task has more rows than a batch, then it commits batch after batch until none are left, and records the total", async () => {
    await db.query(
      "INSERT INTO user_sessions (expires_at) SELECT now() - interval '1 hour' FROM generate_series(1, 7)",
    );
    await db.query("INSERT INTO user_sessions (expires_at) VALUES (now() + interval '1 hour')");
    const small = { ...task("cleanup-expired-sessions"), batch: { size: 2, timeBudgetSeconds: 60 } };
    await runAsPgCron(command(small, tick));
    expect(await count("SELECT count(*) AS n FROM user_sessions")).toBe(1);
    expect(await runRows(small.name)).toEqual([
      expect.objectContaining({ trigger: "pg_cron", status: "succeeded", rows_affected: "7", more: false }),
    ]);
  });

  it("when a batched run starts, then its running row is committed before the first batch, visible from another session", async () => {
    await db.query(
      "INSERT INTO user_sessions (expires_at) SELECT now() - interval '1 hour' FROM generate_series(1, 3)",
    );
    const holder = await db.connect();
    let run: Promise<unknown> | undefined;
    try {
      await holder.query("BEGIN; LOCK TABLE user_sessions IN ACCESS EXCLUSIVE MODE");
      run = runAsPgCron(command(task("cleanup-expired-sessions"), tick));
      await waitForBlocked("run_pg_cron_batches");
      expect(await runRows("cleanup-expired-sessions")).toEqual([
        expect.objectContaining({ trigger: "pg_cron", status: "running", schedule_time: tick }),
      ]);
    } finally {
      await holder.query("ROLLBACK");
      holder.release();
    }
    await run;
    expect(await runRows("cleanup-expired-sessions")).toEqual([
      expect.objectContaining({ status: "succeeded", rows_affected: "3" }),
    ]);
  });

  it("when a batched run's connection dies mid-run, then its committed running row is marked interrupted by the next run", async () => {
    await db.query(
      "INSERT INTO user_sessions (expires_at) SELECT now() - interval '1 hour' FROM generate_series(1, 3)",
    );
    const holder = await db.connect();
    let run: Promise<unknown> | undefined;
    try {
      await holder.query("BEGIN; LOCK TABLE user_sessions IN ACCESS EXCLUSIVE MODE");
      run = runAsPgCron(command(task("cleanup-expired-sessions"), tick)).catch((error: unknown) => error);
      await waitForBlocked("run_pg_cron_batches");
      await db.query(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE '%run_pg_cron_batches%' AND pid <> pg_backend_pid()",
      );
      expect(await run).toBeInstanceOf(Error);
    } finally {
      await holder.query("ROLLBACK");
      holder.release();
    }
    await runAsPgCron(command(task("cleanup-expired-sessions"), new Date(tick.getTime() + 3_600_000)));
    expect(
      (await runRows("cleanup-expired-sessions")).map((row) => [
        row.status,
        row.error_code,
        row.rows_affected,
      ]),
    ).toEqual([
      ["failed", "interrupted", null],
      ["succeeded", null, "3"],
    ]);
  });

  it("when a later batch fails, then the batches before it stay committed and the run is recorded failed with how far it got", async () => {
    await db.query(
      "INSERT INTO user_sessions (expires_at) SELECT now() - interval '1 hour' FROM generate_series(1, 5)",
    );
    // Batches go oldest first: the newest expired session, which the trigger refuses to delete, fails the third.
    await db.query("INSERT INTO user_sessions (expires_at) VALUES (now() - interval '1 minute')");
    await db.query(`
      CREATE OR REPLACE FUNCTION pg_cron_test_poison() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF OLD.expires_at > now() - interval '10 minutes' THEN RAISE EXCEPTION 'poisoned session'; END IF;
        RETURN OLD;
      END $$;
      CREATE TRIGGER poison BEFORE DELETE ON user_sessions FOR EACH ROW EXECUTE FUNCTION pg_cron_test_poison();`);
    try {
      const small = { ...task("cleanup-expired-sessions"), batch: { size: 2, timeBudgetSeconds: 60 } };
      // pg_cron's own history says failed too: the procedure raises once the failure is committed.
      await expect(runAsPgCron(command(small, tick))).rejects.toThrow(/poisoned session/);
      expect(await count("SELECT count(*) AS n FROM user_sessions")).toBe(2);
      expect(await runRows(small.name)).toEqual([
        expect.objectContaining({
          status: "failed",
          error_code: "task_failed",
          rows_affected: "4",
          message: "poisoned session (after 4 rows in 2 batches)",
        }),
      ]);
    } finally {
      await db.query("DROP TRIGGER poison ON user_sessions; DROP FUNCTION pg_cron_test_poison()");
    }
  });

  it("when a batched task's time budget is spent, then it starts no further batch and records more", async () => {
    await db.query(
      "INSERT INTO user_sessions (expires_at) SELECT now() - interval '1 hour' FROM generate_series(1, 7)",
    );
    const spent = { ...task("cleanup-expired-sessions"), batch: { size: 2, timeBudgetSeconds: 0 } };
    await runAsPgCron(command(spent, tick));
    expect(await count("SELECT count(*) AS n FROM user_sessions")).toBe(5);
    expect(await runRows(spent.name)).toEqual([
      expect.objectContaining({ status: "succeeded", rows_affected: "2", more: true }),
    ]);
  });

  it("when a batched task would change more than maxRows, then it changes nothing and the run is recorded failed: guard_tripped", async () => {
    await db.query(
      "INSERT INTO user_sessions (expires_at) SELECT now() - interval '1 hour' FROM generate_series(1, 4)",
    );
    const guarded = { ...task("cleanup-expired-sessions"), maxRows: 3 };
    await expect(runAsPgCron(command(guarded, tick))).rejects.toThrow(
      /cleanup-expired-sessions would change 4 rows, more than its limit of 3; nothing was changed/,
    );
    expect(await count("SELECT count(*) AS n FROM user_sessions")).toBe(4);
    expect(await runRows(guarded.name)).toEqual([
      expect.objectContaining({ status: "failed", error_code: "guard_tripped", rows_affected: "0" }),
    ]);
  });

  it("when another run holds the task's lock, then a batched job changes nothing, does not fail, and is recorded skipped", async () => {
    await db.query(
      "INSERT INTO user_sessions (expires_at) SELECT now() - interval '1 hour' FROM generate_series(1, 2)",
    );
    const holder = await db.connect();
    try {
      await holder.query("SELECT pg_advisory_lock($1, hashtext($2))", [
        TASK_LOCK_CLASS,
        "cleanup-expired-sessions",
      ]);
      await runAsPgCron(command(task("cleanup-expired-sessions"), tick));
      expect(await count("SELECT count(*) AS n FROM user_sessions")).toBe(2);
    } finally {
      await holder.query("SELECT pg_advisory_unlock_all()");
      holder.release();
    }
    expect(await runRows("cleanup-expired-sessions")).toEqual([
      expect.objectContaining({ trigger: "pg_cron", status: "skipped" }),
    ]);
  });

  it("when a batch waits for a lock longer than the task's timeout, then the run is cancelled and recorded failed: timeout", async () => {
    await db.query("INSERT INTO user_sessions (expires_at) VALUES (now() - interval '1 hour')");
    const holder = await db.connect();
    try {
      await holder.query("BEGIN; LOCK TABLE user_sessions IN ACCESS EXCLUSIVE MODE");
      const quick = { ...task("cleanup-expired-sessions"), timeoutSeconds: 1 };
      await expect(runAsPgCron(command(quick, tick))).rejects.toThrow(/lock timeout/);
    } finally {
      await holder.query("ROLLBACK");
      holder.release();
    }
    expect(await runRows("cleanup-expired-sessions")).toEqual([
      expect.objectContaining({
        status: "failed",
        error_code: "timeout",
        message: "canceling statement due to lock timeout (after 0 rows in 0 batches)",
      }),
    ]);
  });
});

describe("a task in another time zone on pg_cron", () => {
  beforeEach(async () => {
    await db.query("SELECT cron.unschedule(jobid) FROM cron.job");
    await db.query("TRUNCATE daily_order_stats, scheduler.job_runs RESTART IDENTITY CASCADE");
  });

  it("when a Europe/Berlin daily task's job is called every hour across both 2026 DST changes, then it runs at 00:05 Berlin time only, for the Berlin day before", async () => {
    const berlin = { ...task("generate-daily-stats"), timeZone: "Europe/Berlin" };
    expect(berlin.schedule).toBe("5 0 * * *");
    expect(pgCronSchedule(berlin)).toBe("5 * * * *");
    // pg_cron calls it at minute 5 of every UTC hour: around each change, these are its calls.
    const calls = [
      "2026-03-28T22:05:00Z", // 23:05 CET
      "2026-03-28T23:05:00Z", // 00:05 CET, 29 March: due
      "2026-03-29T00:05:00Z", // 01:05 CET; at 01:00 UTC the clocks go forward
      "2026-03-29T21:05:00Z", // 23:05 CEST
      "2026-03-29T22:05:00Z", // 00:05 CEST, 30 March: due
      "2026-03-29T23:05:00Z", // 01:05 CEST
      "2026-10-24T21:05:00Z", // 23:05 CEST
      "2026-10-24T22:05:00Z", // 00:05 CEST, 25 October: due; at 01:00 UTC the clocks go back
      "2026-10-24T23:05:00Z", // 01:05 CEST
      "2026-10-25T22:05:00Z", // 23:05 CET
      "2026-10-25T23:05:00Z", // 00:05 CET, 26 October: due
    ];
    const outcomes: string[] = [];
    for (const at of calls) outcomes.push(await outcomeOf(command(berlin, new Date(at))));
    expect(outcomes).toEqual([
      "not_due",
      "succeeded",
      "not_due",
      "not_due",
      "succeeded",
      "not_due",
      "not_due",
      "succeeded",
      "not_due",
      "not_due",
      "succeeded",
    ]);
    const runs = await runRows(berlin.name);
    expect(runs.map((run) => [run.trigger, run.status, run.schedule_time?.toISOString()])).toEqual(
      [calls[1], calls[4], calls[7], calls[10]].map((at) => [
        "pg_cron",
        "succeeded",
        new Date(at!).toISOString(),
      ]),
    );
    // Each run computed the Berlin day before its tick (its session's TimeZone and tick).
    const { rows } = await db.query<{ day: string }>(
      "SELECT to_char(stats_date, 'YYYY-MM-DD') AS day FROM daily_order_stats ORDER BY stats_date",
    );
    expect(rows.map((row) => row.day)).toEqual(["2026-03-28", "2026-03-29", "2026-10-24", "2026-10-25"]);
  });

  it("when pg_cron calls a job in a DST zone through both changes, then it runs at exactly the fire times /health expects (croner's)", async () => {
    // One UTC minute after another across each 2026 change in Berlin and New York: the minutes
    // pg_cron's entry calls the job, and of those, the ones its routine runs.
    const windows: [string, string, string][] = [
      ["Europe/Berlin", "2026-03-28T20:00:00Z", "2026-03-29T06:00:00Z"],
      ["Europe/Berlin", "2026-10-24T20:00:00Z", "2026-10-25T06:00:00Z"],
      ["America/New_York", "2026-03-08T02:00:00Z", "2026-03-08T12:00:00Z"],
      ["America/New_York", "2026-10-31T02:00:00Z", "2026-11-01T12:00:00Z"],
    ];
    const schedules = [
      "30 2 * * *",
      "0 2 * * *",
      "30 1 * * *",
      "*/30 * * * *",
      "30 1-3 * * *",
      "15 2,5 * * *",
      "5 0 * * *",
    ];
    for (const [timeZone, from, to] of windows) {
      for (const schedule of schedules) {
        const job = { ...task("generate-daily-stats"), schedule, timeZone };
        const called = pgCronSchedule(job).split(" ")[0]!;
        const calledMinutes = called === "*" ? null : called.split(",").map(Number);
        const local = localSchedule(job)!;
        const { rows } = await db.query<{ at: Date }>(
          `SELECT g.at FROM generate_series($1::timestamptz + interval '1 minute', $2::timestamptz, interval '1 minute') AS g (at)
           WHERE ($3::integer[] IS NULL OR extract(minute FROM g.at)::integer = ANY ($3))
             AND scheduler.cron_matches(g.at, $4, $5, $6, $7, $8, $9)
           ORDER BY g.at`,
          [
            from,
            to,
            calledMinutes,
            timeZone,
            local.minutes,
            local.hours,
            local.daysOfMonth,
            local.months,
            local.daysOfWeek,
          ],
        );
        expect(
          rows.map((row) => row.at.toISOString()),
          `${schedule} in ${timeZone} from ${from}`,
        ).toEqual(fireTimesBetween(job, new Date(from), new Date(to)).map((at) => at.toISOString()));
      }
    }
  });

  it("when a local time falls in the spring-forward gap, then a one-hour schedule fires at the first instant after it; when it repeats, then once", async () => {
    const matches = async (at: string): Promise<boolean> =>
      (
        await db.query<{ m: boolean }>(
          "SELECT scheduler.cron_matches($1, 'Europe/Berlin', '{30}', '{2}', NULL, NULL, NULL) AS m",
          [at],
        )
      ).rows[0]!.m;
    expect(await matches("2026-03-28T01:30:00Z")).toBe(true); // 02:30 CET the day before
    expect(await matches("2026-03-29T00:30:00Z")).toBe(false); // 01:30 CET
    expect(await matches("2026-03-29T01:00:00Z")).toBe(true); // 03:00 CEST: the gap held 02:30
    expect(await matches("2026-03-29T01:30:00Z")).toBe(false); // 03:30 CEST
    expect(await matches("2026-10-25T00:30:00Z")).toBe(true); // 02:30 CEST, the first
    expect(await matches("2026-10-25T01:30:00Z")).toBe(false); // 02:30 CET, the repeat
    expect(await matches("2026-10-26T01:30:00Z")).toBe(true); // 02:30 CET the day after
  });

  it("when both day fields are restricted, then a day matching either fires, as in cron; one restricted field must match", async () => {
    const matches = async (schedule: string, at: string): Promise<boolean> => {
      const parsed = parseCron(schedule);
      if ("problem" in parsed) throw new Error(parsed.problem);
      const f = parsed.fields;
      return (
        await db.query<{ m: boolean }>("SELECT scheduler.cron_matches($1, 'UTC', $2, $3, $4, $5, $6) AS m", [
          at,
          [...f.minutes],
          [...f.hours],
          f.daysOfMonthRestricted ? [...f.daysOfMonth] : null,
          [...f.months],
          f.daysOfWeekRestricted ? [...f.daysOfWeek] : null,
        ])
      ).rows[0]!.m;
    };
    expect(await matches("0 6 1 * MON", "2026-07-01T06:00:00Z")).toBe(true); // the 1st, a Wednesday
    expect(await matches("0 6 1 * MON", "2026-07-06T06:00:00Z")).toBe(true); // a Monday
    expect(await matches("0 6 1 * MON", "2026-07-07T06:00:00Z")).toBe(false);
    expect(await matches("0 6 * * MON", "2026-07-01T06:00:00Z")).toBe(false);
    expect(await matches("0 6 * * 7", "2026-07-05T06:00:00Z")).toBe(true); // 7 is Sunday
    expect(await matches("0 6 1 * *", "2026-07-06T06:00:00Z")).toBe(false);
  });

  it("when a task's zone is a half hour off UTC, then pg_cron calls it at the shifted minute and it runs at its local time", async () => {
    const kolkata = { ...task("generate-daily-stats"), timeZone: "Asia/Kolkata" };
    expect(pgCronSchedule(kolkata)).toBe("35 * * * *");
    expect(await outcomeOf(command(kolkata, new Date("2026-06-01T17:35:00Z")))).toBe("not_due"); // 23:05 IST
    expect(await outcomeOf(command(kolkata, new Date("2026-06-01T18:35:00Z")))).toBe("succeeded"); // 00:05 IST
  });
});

describe("the purge of pg_cron's run history", () => {
  it("when the purge job runs, then it deletes the run details older than the retention of scheduler.job_runs and keeps the rest", async () => {
    await db.query("SELECT cron.unschedule(jobid) FROM cron.job");
    await load(setupFile);
    const purge = (await jobs()).find((job) => job.jobname === PURGE_JOB_NAME);
    expect(purge?.schedule).toBe(PURGE_JOB_SCHEDULE);
    await db.query("DELETE FROM cron.job_run_details");
    await db.query(
      `INSERT INTO cron.job_run_details (jobid, runid, database, username, command, status, return_message, start_time, end_time)
       SELECT 1, n, current_database(), current_user, 'SELECT 1', 'succeeded', '1 row',
              now() - make_interval(days => n), now() - make_interval(days => n)
       FROM unnest(ARRAY[1, 29, 31, 60]) AS n`,
    );
    await runAsPgCron(purge!.command);
    const { rows } = await db.query<{ runid: string }>(
      "SELECT runid FROM cron.job_run_details ORDER BY runid",
    );
    expect(rows.map((row) => Number(row.runid))).toEqual([1, 29]);

    // The same setting as scheduler.job_runs' purge.
    await db.query(`ALTER DATABASE ${cluster.database} SET scheduler.run_retention_days = 7`);
    try {
      await runAsPgCron(purge!.command);
    } finally {
      await db.query(`ALTER DATABASE ${cluster.database} RESET scheduler.run_retention_days`);
    }
    const after = await db.query<{ runid: string }>("SELECT runid FROM cron.job_run_details ORDER BY runid");
    expect(after.rows.map((row) => Number(row.runid))).toEqual([1]);
  });
});

describe("pg_cron's scheduler", () => {
  it("when the setup is loaded and the minute turns, then pg_cron runs the tasks' SQL, changes the fixture rows and records each run in scheduler.job_runs", async () => {
    await db.query("SELECT cron.unschedule(jobid) FROM cron.job").catch(() => undefined);
    await db.query(
      "TRUNCATE orders, restaurants, user_sessions, scheduler.job_runs RESTART IDENTITY CASCADE",
    );
    await db.query("DELETE FROM cron.job_run_details");
    const { rows: restaurant } = await db.query<{ id: string }>(
      "INSERT INTO restaurants (name, email) VALUES ('Chez Test', 'test@example.com') RETURNING id",
    );
    await db.query(
      `INSERT INTO orders (restaurant_id, status, total_amount, placed_at)
         VALUES ($1, 'pending', 12.5, now() - interval '2 hours'), ($1, 'pending', 9, now())`,
      [restaurant[0]!.id],
    );
    await db.query(
      "INSERT INTO user_sessions (expires_at) SELECT now() - interval '1 day' FROM generate_series(1, 3)",
    );

    await load(setupFile);
    // auto-cancel-unconfirmed-orders runs every minute already; the batched hourly task is moved
    // to every minute too (as the superuser may), so one tick shows both kinds of job.
    await db.query(
      "SELECT cron.alter_job(jobid, schedule := '* * * * *') FROM cron.job WHERE jobname = 'cleanup-expired-sessions'",
    );

    const expected = ["auto-cancel-unconfirmed-orders", "cleanup-expired-sessions"];
    const deadline = Date.now() + 75_000;
    let runs: { jobname: string; status: string; return_message: string }[] = [];
    while (Date.now() < deadline) {
      runs = (
        await db.query<{ jobname: string; status: string; return_message: string }>(
          `SELECT j.jobname, r.status, r.return_message FROM cron.job_run_details r
             JOIN cron.job j ON j.jobid = r.jobid
             WHERE r.status IN ('succeeded', 'failed') ORDER BY j.jobname`,
        )
      ).rows;
      if (expected.every((name) => runs.some((run) => run.jobname === name))) break;
      await new Promise((resolve) => setTimeout(resolve, 1_000));
    }
    const log = readFileSync(cluster.logFile, "utf8").split("\n").slice(-20).join("\n");
    for (const name of expected) {
      expect(
        runs.find((run) => run.jobname === name),
        `${name} did not run within 75 s; server log:\n${log}`,
      ).toMatchObject({ status: "succeeded" });
    }

    const { rows: orders } = await db.query<{ status: string; cancellation_reason: string | null }>(
      "SELECT status, cancellation_reason FROM orders ORDER BY placed_at",
    );
    expect(orders.map((o) => o.status)).toEqual(["cancelled", "pending"]);
    expect(orders[0]?.cancellation_reason).toBe("Auto-cancelled: vendor did not confirm within 30 minutes");
    const { rows: sessions } = await db.query<{ n: string }>("SELECT count(*) AS n FROM user_sessions");
    expect(sessions[0]?.n).toBe("0");

    // Each pg_cron run is a run of scheduler.job_runs, its tick the minute pg_cron started it in.
    const { rows: recorded } = await db.query<{
      task: string;
      trigger: string;
      status: string;
      on_tick: boolean;
    }>(
      `SELECT r.task, r.trigger, r.status,
              r.schedule_time = date_trunc('minute', d.start_time) AS on_tick
       FROM scheduler.job_runs r
       JOIN cron.job j ON j.jobname = r.task
       JOIN cron.job_run_details d ON d.jobid = j.jobid AND d.status = 'succeeded'
         AND r.schedule_time = date_trunc('minute', d.start_time)
       ORDER BY r.task, r.id`,
    );
    for (const name of expected) {
      expect(recorded.find((run) => run.task === name)).toEqual({
        task: name,
        trigger: "pg_cron",
        status: "succeeded",
        on_tick: true,
      });
    }

    const { rows: health } = await db
      .query<{ jobname: string; total_runs: number; last_status: string }>(
        `${readFileSync(pathOf("sql/pg_cron_monitoring.sql"), "utf8")}
         ;SELECT jobname, total_runs, last_status FROM scheduler.cron_job_health
          WHERE jobname = 'auto-cancel-unconfirmed-orders'`,
      )
      .then((results) => (Array.isArray(results) ? results[results.length - 1] : results) as pg.QueryResult);
    expect(health[0]?.last_status).toBe("succeeded");
    expect(health[0]?.total_runs).toBeGreaterThanOrEqual(1);
  }, 90_000);
});
