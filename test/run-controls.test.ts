/**
 * Run-time pause and the overlap policy, over real HTTP against real PostgreSQL: a paused task's
 * tick answers 200 "paused", is recorded with the reason and runs nothing, and runs again after
 * `until` or a resume; /health shows it paused, not overdue, and overdue again once resumed and
 * missed; a tick of an overlap "retry" task that finds the lock held answers 409, a manual run 200.
 * Every time derives from one "now" taken at start, so the file passes on any date.
 */
import pg from "pg";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { findTask, tasks } from "../functions/core/catalog.js";
import { writeEnvironment } from "../functions/core/config/environment.js";
import { readHealth } from "../functions/core/reads/health.js";
import { resolveJobs } from "../functions/core/schedule/jobs.js";
import { previousFireTime } from "../functions/core/schedule/fire-times.js";
import type { CertsServer, DevIdentity } from "../scripts/local/dev-identity.js";
import { createDevIdentity, serveCerts } from "../scripts/local/dev-identity.js";
import { useTestDatabase } from "./helpers/database.js";
import type { RunningFunction } from "./helpers/function-server.js";
import { call, startFunction } from "./helpers/function-server.js";

const AUDIENCE = "https://scheduled-tasks-test-uc.a.run.app";
const SCHEDULER = "scheduler@demo-project.iam.gserviceaccount.com";

const db = useTestDatabase();
const { jobs } = resolveJobs(tasks);
const now = new Date();
let identity: DevIdentity;
let certs: CertsServer;
let fn: RunningFunction;

/** The every-minute task's tick `minutesAgo` before now, as Cloud Scheduler writes it. */
function minuteTick(minutesAgo: number): string {
  return new Date(Math.floor(now.getTime() / 60_000) * 60_000 - minutesAgo * 60_000)
    .toISOString()
    .replace(".000Z", "Z");
}

const tickHeaders = (task: string, scheduleTime: string): Record<string, string> => ({
  "x-cloudscheduler": "true",
  "x-cloudscheduler-jobname": task,
  "x-cloudscheduler-scheduletime": scheduleTime,
});

async function runsOf(task: string): Promise<Record<string, unknown>[]> {
  return (await db.pool.query("SELECT * FROM scheduler.job_runs WHERE task = $1 ORDER BY id", [task])).rows;
}

async function addDuePendingOrders(count: number): Promise<void> {
  await db.pool.query(
    "INSERT INTO orders (status, placed_at) SELECT 'pending', now() - interval '2 hours' FROM generate_series(1, $1)",
    [count],
  );
}

beforeAll(async () => {
  identity = createDevIdentity({ audience: AUDIENCE, email: SCHEDULER });
  certs = await serveCerts(identity);
  fn = await startFunction({
    env: writeEnvironment({
      DATABASE_URL: db.url,
      AUTH_AUDIENCE: [AUDIENCE],
      AUTH_ALLOWED_EMAILS: [SCHEDULER],
      AUTH_CERTS_URL: certs.url,
      GOOGLE_CLOUD_PROJECT: "demo-project",
    }),
  });
});

afterAll(async () => {
  await fn?.close();
  await certs?.close();
});

beforeEach(async () => {
  await db.pool.query(
    "DELETE FROM orders; DELETE FROM scheduler.job_runs; DELETE FROM scheduler.task_pauses",
  );
});

describe("pause at run time", () => {
  const task = "auto-cancel-unconfirmed-orders";
  const tick = (minutesAgo: number) =>
    call(fn.url, {
      token: identity.signIdToken(),
      body: { task },
      headers: tickHeaders(task, minuteTick(minutesAgo)),
    });

  it("when a paused task's tick arrives, then 200 paused with the reason, recorded, and nothing runs; after `until` the next tick runs", async () => {
    await addDuePendingOrders(2);
    await db.pool.query(
      "SELECT scheduler.pause_task($1, 'vendor app outage', 'alice', now() + interval '1 hour')",
      [task],
    );
    const paused = await tick(3);
    expect(paused.status).toBe(200);
    expect(paused.body).toMatchObject({
      status: "paused",
      task,
      reason: "vendor app outage",
      pausedBy: "alice",
    });
    expect(typeof paused.body.until).toBe("string");
    const [run] = await runsOf(task);
    expect(run).toMatchObject({ status: "paused", message: "vendor app outage", trigger: "scheduler" });
    const pending = await db.pool.query("SELECT count(*)::int AS n FROM orders WHERE status = 'pending'");
    expect(pending.rows[0].n).toBe(2);

    // The hour passes: the pause's `until` is behind the database's clock.
    await db.pool.query(
      "UPDATE scheduler.task_pauses SET paused_at = now() - interval '2 hours', until = now() - interval '1 minute'",
    );
    const ran = await tick(2);
    expect(ran.status).toBe(200);
    expect(ran.body).toMatchObject({ status: "succeeded", rowsAffected: 2 });
  });

  it("when a paused task is resumed, then its next tick runs, and who paused and resumed stays recorded", async () => {
    await db.pool.query("SELECT scheduler.pause_task($1, 'investigating', 'alice', NULL)", [task]);
    expect((await tick(3)).body).toMatchObject({ status: "paused" });
    const resumed = await db.pool.query("SELECT * FROM scheduler.resume_task($1, 'bob')", [task]);
    expect(resumed.rows[0]).toMatchObject({ paused_by: "alice", resumed_by: "bob", reason: "investigating" });
    expect((await tick(2)).body).toMatchObject({ status: "succeeded" });
    expect((await runsOf(task)).map((r) => r.status)).toEqual(["paused", "succeeded"]);
  });
});

describe("health of a paused task", () => {
  const job = jobs.find((j) => j.name === "generate-daily-stats")!;
  // The latest tick that should have finished by `now`, and the success the day before it.
  const due = previousFireTime(job, new Date(now.getTime() - job.timeoutSeconds * 1000 - 60_000))!;
  const dayMs = 86_400_000;
  const hourMs = 3_600_000;

  beforeEach(async () => {
    const before = new Date(due.getTime() - dayMs);
    await db.pool.query(
      `INSERT INTO scheduler.job_runs (task, trigger, schedule_time, status, started_at, finished_at, duration_ms, rows_affected)
       VALUES ($1, 'scheduler', $2, 'succeeded', $2, $2, 5, 1)`,
      [job.name, before],
    );
  });

  async function pause(pausedAt: Date, resumedAt: Date | null): Promise<void> {
    await db.pool.query(
      `INSERT INTO scheduler.task_pauses (task, reason, paused_by, paused_at, resumed_at, resumed_by)
       VALUES ($1, 'stats table rebuild', 'alice', $2, $3, CASE WHEN $3::timestamptz IS NULL THEN NULL ELSE 'bob' END)`,
      [job.name, pausedAt, resumedAt],
    );
  }

  const healthOf = async (at: Date) =>
    (await readHealth(db.pool, at, jobs)).tasks.find((t) => t.task === job.name)!;

  it("when a task missed its tick, then it is overdue; paused at run time, it is paused and not overdue", async () => {
    expect(await healthOf(now)).toMatchObject({ overdue: true, paused: false, pause: null });
    await pause(new Date(due.getTime() - hourMs), null);
    expect(await healthOf(now)).toMatchObject({
      overdue: false,
      paused: true,
      nextRunAt: null,
      pause: { reason: "stats table rebuild", pausedBy: "alice", until: null },
    });
  });

  it("when resumed, then a tick the pause held back is not missed, and the first tick missed after it is", async () => {
    await pause(new Date(due.getTime() - hourMs), new Date(due.getTime() + hourMs));
    expect(await healthOf(now)).toMatchObject({ overdue: false, paused: false, pause: null });
    expect(await healthOf(new Date(now.getTime() + dayMs))).toMatchObject({ overdue: true, paused: false });
  });
  it("when a task whose last run failed is paused and its ticks are recorded paused, then the last run is still the failure, paused or resumed", async () => {
    // A manual run failed, then the task was paused and its tick `due` was recorded paused.
    const failedAt = new Date(due.getTime() - 3 * hourMs);
    await db.pool.query(
      `INSERT INTO scheduler.job_runs (task, trigger, schedule_time, status, started_at, finished_at, duration_ms, message)
       VALUES ($1, 'manual', NULL, 'failed', $2, $2, 5, 'stats table locked'),
              ($1, 'scheduler', $3, 'paused', $3, $3, 0, 'stats table rebuild')`,
      [job.name, failedAt, due],
    );
    await pause(new Date(due.getTime() - hourMs), null);
    const paused = await readHealth(db.pool, now, jobs);
    expect(paused.tasks.find((t) => t.task === job.name)).toMatchObject({
      paused: true,
      overdue: false,
      lastStatus: "failed",
      lastRunAt: failedAt.toISOString(),
      lastError: "stats table locked",
    });
    expect(paused.status).toBe("attention");

    await db.pool.query(
      "UPDATE scheduler.task_pauses SET resumed_at = $2, resumed_by = 'bob' WHERE task = $1",
      [job.name, new Date(due.getTime() + 60_000)],
    );
    expect(await healthOf(now)).toMatchObject({ paused: false, lastStatus: "failed" });
  });
});

describe("overlap policy", () => {
  it("when a tick of a task with overlap retry finds the lock held, then 409 lock_held (recorded skipped); a manual run 200 skipped; a frequent task's tick 200 skipped", async () => {
    const daily = jobs.find((j) => j.name === "generate-daily-stats")!;
    expect(findTask(daily.name)?.overlap).toBe("retry");
    expect(findTask("auto-cancel-unconfirmed-orders")?.overlap).toBeUndefined();
    const dailyTick = previousFireTime(daily, now)!.toISOString().replace(".000Z", "Z");
    const holder = new pg.Client({ connectionString: db.url });
    await holder.connect();
    try {
      await holder.query(
        "SELECT pg_advisory_lock(7262005, hashtext('generate-daily-stats')), pg_advisory_lock(7262005, hashtext('auto-cancel-unconfirmed-orders'))",
      );
      const ticked = await call(fn.url, {
        token: identity.signIdToken(),
        body: { task: daily.name },
        headers: tickHeaders(daily.name, dailyTick),
      });
      expect(ticked.status).toBe(409);
      expect(ticked.body.error).toMatchObject({ code: "lock_held", task: daily.name });
      expect(await runsOf(daily.name)).toMatchObject([{ status: "skipped", trigger: "scheduler" }]);

      const manual = await call(fn.url, { token: identity.signIdToken(), body: { task: daily.name } });
      expect(manual.status).toBe(200);
      expect(manual.body).toMatchObject({ status: "skipped" });

      const frequent = await call(fn.url, {
        token: identity.signIdToken(),
        body: { task: "auto-cancel-unconfirmed-orders" },
        headers: tickHeaders("auto-cancel-unconfirmed-orders", minuteTick(1)),
      });
      expect(frequent.status).toBe(200);
      expect(frequent.body).toMatchObject({ status: "skipped" });
    } finally {
      await holder.end();
    }
  });
});
