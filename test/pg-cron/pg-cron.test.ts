import { readFileSync } from "node:fs";
import pg from "pg";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { TaskDefinition } from "../../functions/catalog.js";
import { findTask, tasks } from "../../functions/catalog.js";
import { pathOf, pgCronSetupFiles } from "../../scripts/generate-pg-cron.js";
import { applyAppSchema, migrate } from "../../scripts/lib/migrate.js";
import type { PgCronScope } from "../../scripts/lib/pg-cron.js";
import { jobCommand, renderPgCronSetup, TASK_LOCK_CLASS } from "../../scripts/lib/pg-cron.js";
import { readTaskSqlFiles } from "../../scripts/lib/sql-files.js";
import type { PgCronCluster } from "./cluster.js";
import { startPgCronCluster } from "./cluster.js";

const sqlFiles = readTaskSqlFiles();
const setupFile = readFileSync(pathOf(pgCronSetupFiles[0]!.fileName), "utf8");
const sqlTasks = tasks.filter((task) => task.kind === "sql");

let cluster: PgCronCluster;
let db: pg.Pool;

function task(name: string): TaskDefinition {
  const found = findTask(name);
  if (!found) throw new Error(`no task ${name}`);
  return found;
}

function render(catalog: readonly TaskDefinition[], scope: PgCronScope = "all-sql"): string {
  return renderPgCronSetup(catalog, sqlFiles, { scope, fileName: "test.sql", generateCommand: "test" });
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
async function runAsPgCron(command: string): Promise<void> {
  const client = new pg.Client({ connectionString: cluster.url() });
  await client.connect();
  try {
    await client.query(command);
  } finally {
    await client.end();
  }
}

beforeAll(async () => {
  cluster = startPgCronCluster();
  const admin = new pg.Client({ connectionString: cluster.url("postgres") });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${cluster.database}`);
  await admin.end();
  await applyAppSchema(cluster.url());
  await migrate(cluster.url());
  db = new pg.Pool({ connectionString: cluster.url(), max: 3 });
  await db.query("CREATE EXTENSION IF NOT EXISTS pg_cron");
}, 60_000);

afterAll(async () => {
  await db?.end();
  cluster?.stop();
});

describe("sql/pg_cron_setup.sql on a real pg_cron", () => {
  beforeEach(async () => {
    await db.query("SELECT cron.unschedule(jobid) FROM cron.job").catch(() => undefined);
  });

  it("when the setup script is loaded twice, then cron.job holds exactly one job per SQL task, with its schedule", async () => {
    await load(setupFile);
    await load(setupFile);
    const rows = await jobs();
    expect(rows.map((row) => [row.jobname, row.schedule, row.active])).toEqual(
      sqlTasks.map((t) => [t.name, t.schedule, !t.paused] as const).sort((a, b) => a[0].localeCompare(b[0])),
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
    const client = new pg.Client({ connectionString: cluster.url(undefined, "delivery_app") });
    await client.connect();
    try {
      await client.query(setupFile);
      await client.query(setupFile);
      const { rows } = await client.query<{ jobname: string; username: string }>(
        "SELECT jobname, username FROM cron.job ORDER BY jobname",
      );
      expect(rows).toEqual(
        sqlTasks
          .map((t) => ({ jobname: t.name, username: "delivery_app" }))
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
    expect(rows).toHaveLength(sqlTasks.length);

    await load(setupFile);
    rows = await jobs();
    expect(rows.find((row) => row.jobname === "driver-inactivity-check")?.active).toBe(true);
    expect(rows.find((row) => row.jobname === "cleanup-orphaned-menus")?.schedule).toBe("0 2 * * *");
    expect(rows.map((row) => row.jobname)).toContain("generate-daily-stats");
    expect(rows).toHaveLength(sqlTasks.length + 1);
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
    ]);
  });

  it("when a task's time zone is not pg_cron's, then loading fails and schedules nothing", async () => {
    const paris = sqlTasks.map((t) =>
      t.name === "generate-daily-stats" ? { ...t, timeZone: "Europe/Paris" } : t,
    );
    await expect(load(render(paris))).rejects.toThrow(
      /cron\.timezone \(GMT\).*generate-daily-stats \(Europe\/Paris\)/,
    );
    expect(await jobs()).toEqual([]);

    const etcUtc = sqlTasks.map((t) => ({ ...t, timeZone: "Etc/UTC" }));
    await load(render(etcUtc));
    expect(await jobs()).toHaveLength(sqlTasks.length);
  });
});

describe("a job's command, run as pg_cron runs it", () => {
  beforeEach(async () => {
    // No scheduled job may touch the fixtures meanwhile: these tests run the commands themselves.
    await db.query("SELECT cron.unschedule(jobid) FROM cron.job");
    await db.query("TRUNCATE orders, restaurants, user_sessions, drivers RESTART IDENTITY CASCADE");
  });

  it("when a batched task has more rows than a batch, then it commits batch after batch until none are left", async () => {
    await db.query(
      "INSERT INTO user_sessions (expires_at) SELECT now() - interval '1 hour' FROM generate_series(1, 7)",
    );
    await db.query("INSERT INTO user_sessions (expires_at) VALUES (now() + interval '1 hour')");
    const small = { ...task("cleanup-expired-sessions"), batch: { size: 2, timeBudgetSeconds: 60 } };
    await runAsPgCron(jobCommand(small, sqlFiles[small.name]!));
    const { rows } = await db.query<{ n: string }>("SELECT count(*) AS n FROM user_sessions");
    expect(rows[0]?.n).toBe("1");
  });

  it("when a later batch fails, then the batches before it stay committed", async () => {
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
      await expect(runAsPgCron(jobCommand(small, sqlFiles[small.name]!))).rejects.toThrow(/poisoned session/);
      const { rows } = await db.query<{ n: string }>("SELECT count(*) AS n FROM user_sessions");
      expect(rows[0]?.n).toBe("2");
    } finally {
      await db.query("DROP TRIGGER poison ON user_sessions; DROP FUNCTION pg_cron_test_poison()");
    }
  });

  it("when a batched task's time budget is spent, then it starts no further batch", async () => {
    await db.query(
      "INSERT INTO user_sessions (expires_at) SELECT now() - interval '1 hour' FROM generate_series(1, 7)",
    );
    const spent = { ...task("cleanup-expired-sessions"), batch: { size: 2, timeBudgetSeconds: 0 } };
    await runAsPgCron(jobCommand(spent, sqlFiles[spent.name]!));
    const { rows } = await db.query<{ n: string }>("SELECT count(*) AS n FROM user_sessions");
    expect(rows[0]?.n).toBe("5");
  });

  it("when a single-statement task would change more than maxRows, then it fails and changes nothing", async () => {
    await db.query(
      "INSERT INTO drivers (is_available, updated_at) SELECT true, now() - interval '2 hours' FROM generate_series(1, 3)",
    );
    const guarded = { ...task("driver-inactivity-check"), maxRows: 2 };
    await expect(runAsPgCron(jobCommand(guarded, sqlFiles[guarded.name]!))).rejects.toThrow(
      /would change 3 rows, more than its limit of 2; nothing was changed/,
    );
    const { rows } = await db.query<{ n: string }>("SELECT count(*) AS n FROM drivers WHERE is_available");
    expect(rows[0]?.n).toBe("3");

    await runAsPgCron(jobCommand(task("driver-inactivity-check"), sqlFiles["driver-inactivity-check"]!));
    const after = await db.query<{ n: string }>("SELECT count(*) AS n FROM drivers WHERE is_available");
    expect(after.rows[0]?.n).toBe("0");
  });

  it("when a batched task would change more than maxRows, then it fails and changes nothing", async () => {
    await db.query(
      "INSERT INTO user_sessions (expires_at) SELECT now() - interval '1 hour' FROM generate_series(1, 4)",
    );
    const guarded = { ...task("cleanup-expired-sessions"), maxRows: 3 };
    await expect(runAsPgCron(jobCommand(guarded, sqlFiles[guarded.name]!))).rejects.toThrow(
      /would change 4 rows, more than its limit of 3/,
    );
    const { rows } = await db.query<{ n: string }>("SELECT count(*) AS n FROM user_sessions");
    expect(rows[0]?.n).toBe("4");
  });

  it("when another run holds the task's lock, then the job changes nothing and does not fail", async () => {
    await db.query(
      "INSERT INTO drivers (is_available, updated_at) VALUES (true, now() - interval '2 hours')",
    );
    const holder = await db.connect();
    try {
      await holder.query("SELECT pg_advisory_lock($1, hashtext($2))", [
        TASK_LOCK_CLASS,
        "driver-inactivity-check",
      ]);
      await runAsPgCron(jobCommand(task("driver-inactivity-check"), sqlFiles["driver-inactivity-check"]!));
      const { rows } = await db.query<{ n: string }>("SELECT count(*) AS n FROM drivers WHERE is_available");
      expect(rows[0]?.n).toBe("1");
    } finally {
      await holder.query("SELECT pg_advisory_unlock_all()");
      holder.release();
    }
  });

  it("when a single-statement task runs past its timeout, then the statement is cancelled", async () => {
    const holder = await db.connect();
    try {
      await holder.query("BEGIN; LOCK TABLE drivers IN ACCESS EXCLUSIVE MODE");
      const quick = { ...task("driver-inactivity-check"), timeoutSeconds: 1 };
      const started = Date.now();
      await expect(runAsPgCron(jobCommand(quick, sqlFiles[quick.name]!))).rejects.toThrow(
        /statement timeout/,
      );
      expect(Date.now() - started).toBeLessThan(5_000);
    } finally {
      await holder.query("ROLLBACK");
      holder.release();
    }
  });

  it("when a batch waits for a lock longer than the task's timeout, then the run is cancelled", async () => {
    const holder = await db.connect();
    try {
      await holder.query("BEGIN; LOCK TABLE user_sessions IN ACCESS EXCLUSIVE MODE");
      const quick = { ...task("cleanup-expired-sessions"), timeoutSeconds: 1 };
      await expect(runAsPgCron(jobCommand(quick, sqlFiles[quick.name]!))).rejects.toThrow(/lock timeout/);
    } finally {
      await holder.query("ROLLBACK");
      holder.release();
    }
  });
});

describe("pg_cron's scheduler", () => {
  it("when the setup is loaded and the minute turns, then pg_cron runs the tasks' SQL and changes the fixture rows", async () => {
    await db.query("SELECT cron.unschedule(jobid) FROM cron.job").catch(() => undefined);
    await db.query("TRUNCATE orders, restaurants, user_sessions RESTART IDENTITY CASCADE");
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
