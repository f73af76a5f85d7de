/**
 * The function's database user on real PostgreSQL: a new role (as a new Cloud SQL IAM user is) can
 * do nothing; `grantTaskPrivileges` lets it run every SQL task and nothing more. The log lines of
 * its runs are checked against the stack's log-based metrics, so an alert matches what the runner
 * really writes.
 */
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { promisify } from "node:util";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { TaskDefinition } from "../../functions/core/catalog.js";
import { runnerOf, tasks } from "../../functions/core/catalog.js";
import { createEmailRuntime } from "../../functions/email/runtime.js";
import { createPool } from "../../functions/core/db/pool.js";
import { parseHttpTargets } from "../../functions/core/config/http-targets.js";
import { createLogger } from "../../functions/core/log.js";
import type { HttpDeps } from "../../functions/core/run/http-contract.js";
import { runTask } from "../../functions/core/run/runner.js";
import { failedRunsFilter, succeededRunsFilter } from "../../infra/gcp/alerts.js";
import { grantTaskPrivileges } from "../../scripts/lib/migrate.js";
import { useTestDatabase } from "../helpers/database.js";
import { matchesFilter } from "./log-filter.js";

const db = useTestDatabase();
const suffix = randomBytes(4).toString("hex");
// Shaped like a Cloud SQL IAM user name, so quoting is exercised.
const granted = `sched-jobs-runtime-${suffix}@delivery-test.iam`;
const bare = `sched-jobs-bare-${suffix}@delivery-test.iam`;
const schedulerOnly = `sched-jobs-partial-${suffix}@delivery-test.iam`;
const viaCli = `sched-jobs-cli-${suffix}@delivery-test.iam`;
const password = randomBytes(12).toString("hex");
const roles = [granted, bare, schedulerOnly, viaCli];
const pools: pg.Pool[] = [];

const sqlTasks = tasks.filter((task) => task.kind === "sql" && runnerOf(task) === "cloud");
const cloudTasks = tasks.filter((task) => runnerOf(task) === "cloud");
// The local mailbox: the email tasks write to scheduler.local_mailbox instead of sending.
const email = createEmailRuntime({
  config: {
    transport: "local-mailbox",
    key: { source: "none" },
    baseUrl: undefined,
    mailFrom: "reports@delivery.example",
    opsEmail: "ops@delivery.example",
    secretRefreshSeconds: 600,
  },
});
const loadEmailHandler = (task: TaskDefinition) => email.handlerFor(task);
// The http tasks' target on loopback: its run writes only the run record, which is what is tested here.
const target = createServer((_req, res) => res.end('{"rowsAffected": 0}'));
let http: HttpDeps;
const SERVICE = { type: "cloud_run_revision", "labels.service_name": "scheduled-tasks" };

function poolAs(role: string): pg.Pool {
  const url = new URL(db.url);
  url.username = encodeURIComponent(role);
  url.password = password;
  const pool = createPool({ connectionString: url.toString(), max: 2 });
  pools.push(pool);
  return pool;
}

function capturingLogger() {
  const lines: Record<string, unknown>[] = [];
  return { lines, log: createLogger({}, (line) => lines.push(JSON.parse(line) as Record<string, unknown>)) };
}

beforeAll(async () => {
  await new Promise<void>((resolve) => target.listen(0, "127.0.0.1", resolve));
  const url = `http://127.0.0.1:${(target.address() as AddressInfo).port}`;
  const targets = parseHttpTargets({ "app-backend": { url, internal: true } }, [], { local: true });
  http = { targets: targets ?? {}, loadAuthorizer: () => Promise.resolve(() => Promise.resolve({})) };
  for (const role of roles) {
    await db.pool.query(`CREATE ROLE ${pg.escapeIdentifier(role)} LOGIN PASSWORD '${password}'`);
  }
  // Work for every task, so each one really reads and writes its tables.
  await db.pool.query(`
    INSERT INTO restaurants (name, email) VALUES ('a', 'owner@restaurant.example');
    INSERT INTO orders (restaurant_id, status, placed_at) SELECT id, 'pending', now() - interval '2 hours' FROM restaurants;
    INSERT INTO orders (restaurant_id, status, delivered_at, total_amount)
      SELECT id, 'delivered', now() - interval '100 days', 10 FROM restaurants;
    INSERT INTO orders (restaurant_id, status, created_at, total_amount)
      SELECT id, 'delivered', now() - interval '1 day', 12 FROM restaurants;
    INSERT INTO orders (restaurant_id, status, customer_email) SELECT id, 'confirmed', 'eater@example.com' FROM restaurants;
    INSERT INTO reviews (restaurant_id, rating) SELECT id, 4 FROM restaurants;
    INSERT INTO menus (created_at) VALUES (now() - interval '40 days');
    INSERT INTO drivers (is_available, updated_at) VALUES (true, now() - interval '2 hours');
    INSERT INTO user_sessions (expires_at) VALUES (now() - interval '1 day');
    INSERT INTO distance_requests (created_at) VALUES (now() - interval '100 days');
    INSERT INTO system_settings (setting_key, setting_value) VALUES ('order_auto_cancel_minutes', '30');
    CREATE TABLE customers (id bigint PRIMARY KEY, email text);
  `);
});

afterAll(async () => {
  await new Promise((resolve) => target.close(resolve));
  for (const pool of pools) await pool.end();
  for (const role of roles) {
    await db.pool.query(`DROP OWNED BY ${pg.escapeIdentifier(role)}`);
    await db.pool.query(`DROP ROLE ${pg.escapeIdentifier(role)}`);
  }
});

describe("the function's database user", () => {
  it("when a new role has no grants, then it cannot even open a run", async () => {
    await expect(runTask({ pool: poolAs(bare) }, { task: sqlTasks[0]!, trigger: "cli" })).rejects.toThrow(
      /could not open a run: permission denied/,
    );
  });

  it("when the role exists nowhere, then granting fails saying how to create it", async () => {
    await expect(grantTaskPrivileges(db.url, `nobody-${suffix}@x.iam`)).rejects.toThrow(
      /does not exist: create the function's IAM database user first/,
    );
  });

  it("when the role holds only the scheduler's grants, then a task fails on its table and the failure log line feeds the failed-runs metric", async () => {
    await grantTaskPrivileges(db.url, schedulerOnly, {});
    const { lines, log } = capturingLogger();
    const task = sqlTasks.find((candidate) => candidate.name === "driver-inactivity-check")!;
    const result = await runTask({ pool: poolAs(schedulerOnly), log }, { task, trigger: "cli" });
    expect(result).toMatchObject({ status: "failed", code: "task_failed" });
    expect(result.status === "failed" && result.message).toMatch(/permission denied for table drivers/);
    const failures = lines.filter((line) =>
      matchesFilter(failedRunsFilter("scheduled-tasks"), line, SERVICE),
    );
    expect(failures).toHaveLength(1);
    expect(failures[0]).toMatchObject({ task: task.name, runId: result.runId, code: "task_failed" });
    expect(
      lines.filter((line) => matchesFilter(succeededRunsFilter("scheduled-tasks"), line, SERVICE)),
    ).toEqual([]);
  });

  it("when granted, then the role runs every task Cloud Scheduler runs, and each success feeds the succeeded-runs metric", async () => {
    const statements = await grantTaskPrivileges(db.url, granted);
    // Granting again changes nothing and does not fail.
    expect(await grantTaskPrivileges(db.url, granted)).toEqual(statements);
    const pool = poolAs(granted);
    const { lines, log } = capturingLogger();
    const outcomes: Record<string, string> = {};
    for (const task of cloudTasks) {
      const result = await runTask({ pool, log, loadEmailHandler, http }, { task, trigger: "cli" });
      outcomes[task.name] = result.status === "failed" ? `failed: ${result.message}` : result.status;
    }
    expect(outcomes).toEqual(Object.fromEntries(cloudTasks.map((task) => [task.name, "succeeded"])));
    const successes = lines.filter((line) =>
      matchesFilter(succeededRunsFilter("scheduled-tasks"), line, SERVICE),
    );
    expect(successes.map((line) => line.task)).toEqual(cloudTasks.map((task) => task.name));
    expect(lines.filter((line) => matchesFilter(failedRunsFilter("scheduled-tasks"), line, SERVICE))).toEqual(
      [],
    );
    // The work was real: the fixtures changed.
    const { rows } = await db.pool.query<{ cancelled: string; sessions: string; mails: string }>(
      `SELECT (SELECT count(*) FROM orders WHERE status = 'cancelled') AS cancelled,
              (SELECT count(*) FROM user_sessions) AS sessions,
              (SELECT count(*) FROM scheduler.local_mailbox) AS mails`,
    );
    expect(rows[0]).toMatchObject({ cancelled: "1", sessions: "0" });
    expect(Number(rows[0]?.mails)).toBeGreaterThan(0);
  });

  it("when a dry run is asked, then the granted role can count too, and its success line is not counted as a run", async () => {
    const { lines, log } = capturingLogger();
    const task = sqlTasks.find((candidate) => candidate.name === "cleanup-distance-requests")!;
    const result = await runTask({ pool: poolAs(granted), log }, { task, trigger: "cli", dryRun: true });
    expect(result.status).toBe("succeeded");
    expect(
      lines.filter((line) => matchesFilter(succeededRunsFilter("scheduled-tasks"), line, SERVICE)),
    ).toEqual([]);
  });

  it.each([
    ["TRUNCATE orders", /permission denied for table orders/],
    ["DELETE FROM orders", /permission denied for table orders/],
    ["INSERT INTO restaurants (name) VALUES ('x')", /permission denied for table restaurants/],
    ["SELECT * FROM customers", /permission denied for table customers/],
    [
      "INSERT INTO scheduler.schema_migrations (name) VALUES ('999_fake.sql')",
      /permission denied for table schema_migrations/,
    ],
    ["CREATE TABLE scheduler.extra (id int)", /permission denied for schema scheduler/],
    ["DROP TABLE scheduler.job_runs", /must be owner of table job_runs/],
    ["ALTER TABLE orders ADD COLUMN x int", /must be owner of table orders/],
  ])("when the granted role tries %s, then PostgreSQL refuses", async (statement, message) => {
    await expect(poolAs(granted).query(statement)).rejects.toThrow(message);
  });

  it("when an operator runs npm run migrate -- --grant-to <user>, then that user can run a task", async () => {
    const { stdout } = await promisify(execFile)(
      process.execPath,
      ["--import", "tsx", "scripts/migrate.ts", "--grant-to", viaCli],
      {
        cwd: new URL("../..", import.meta.url).pathname,
        env: { ...process.env, DATABASE_URL: db.url },
        timeout: 30_000,
      },
    );
    expect(stdout).toContain(`granted the scheduled tasks' privileges to "${viaCli}"`);
    const task = sqlTasks.find((candidate) => candidate.name === "generate-daily-stats")!;
    expect((await runTask({ pool: poolAs(viaCli) }, { task, trigger: "cli" })).status).toBe("succeeded");
  });
});
