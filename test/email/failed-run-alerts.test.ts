import { describe, expect, it } from "vitest";
import { tasks } from "../../functions/core/catalog.js";
import { useTestDatabase } from "../helpers/database.js";
import { createEmailRuntime } from "../../functions/email/runtime.js";
import { resolveJobs } from "../../functions/core/schedule/jobs.js";
import { runTask } from "../../functions/core/run/runner.js";
import {
  emailTask,
  fastRetries,
  OPS_EMAIL,
  runEmailTask,
  sendGridConfig,
  useFakeSendGrid,
} from "../helpers/email.js";

const TASK = "alert-failed-runs";
const db = useTestDatabase();
const sendGrid = useFakeSendGrid(db);

const options = () => ({ config: sendGridConfig(sendGrid.fake), ...fastRetries });

async function addRun(
  task: string,
  status: string,
  startedAgo: string,
  message: string | null = null,
): Promise<string> {
  const result = await db.pool.query<{ id: string }>(
    `INSERT INTO scheduler.job_runs (task, trigger, status, error_code, message, started_at, finished_at)
     VALUES ($1, 'scheduler', $2, CASE WHEN $2 = 'failed' THEN 'task_failed' END, $3, now() - $4::interval, now() - $4::interval)
     RETURNING id`,
    [task, status, message, startedAgo],
  );
  return result.rows[0]!.id;
}

describe("alert-failed-runs", () => {
  it("when runs failed, then ops gets one email listing them, and each failure is alerted only once", async () => {
    // The history begins here, seconds ago: no tick has come due since, so nothing is overdue.
    const first = await addRun(
      "auto-cancel-unconfirmed-orders",
      "failed",
      "40 seconds",
      "relation does not exist",
    );
    const second = await addRun("generate-daily-stats", "failed", "30 seconds", "statement timeout");
    await addRun("auto-cancel-unconfirmed-orders", "succeeded", "20 seconds");

    const result = await runEmailTask(db.pool, options(), TASK);
    expect(result).toMatchObject({ status: "succeeded", rowsAffected: 2 });
    expect(sendGrid.fake.invalid).toEqual([]);
    expect(sendGrid.fake.emails).toHaveLength(1);
    const [alert] = sendGrid.fake.emails;
    expect(alert!.to).toBe(OPS_EMAIL);
    expect(alert!.subject).toBe("[scheduled jobs] 2 failed run(s)");
    expect(alert!.text).toContain(`auto-cancel-unconfirmed-orders, run ${first}`);
    expect(alert!.text).toContain("relation does not exist");
    expect(alert!.text).toContain(`generate-daily-stats, run ${second}`);

    const again = await runEmailTask(db.pool, options(), TASK);
    expect(again).toMatchObject({ status: "succeeded", rowsAffected: 0 });
    expect(sendGrid.fake.emails).toHaveLength(1);

    const third = await addRun("cleanup-expired-sessions", "failed", "10 seconds", "boom");
    await runEmailTask(db.pool, options(), TASK);
    expect(sendGrid.fake.emails).toHaveLength(2);
    expect(sendGrid.fake.emails[1]!.text).toContain(`cleanup-expired-sessions, run ${third}`);
    expect(sendGrid.fake.emails[1]!.text).not.toContain(`run ${first}`);
    const recorded = await db.pool.query(
      "SELECT failed_run_ids, message_id FROM scheduler.ops_alerts ORDER BY id",
    );
    expect(recorded.rows.map((row) => row.failed_run_ids)).toEqual([[first, second], [third]]);
    expect(recorded.rows[1].message_id).toBe(sendGrid.fake.emails[1]!.messageId);
  });

  it("when SendGrid fails, then the run fails and the failures are alerted by the next run", async () => {
    await addRun("generate-daily-stats", "failed", "2 minutes", "statement timeout");
    sendGrid.fake.setFault(() => ({ status: 503 }));
    const failed = await runEmailTask(db.pool, options(), TASK);
    expect(failed).toMatchObject({ status: "failed", code: "task_failed" });
    sendGrid.fake.setFault(undefined);
    const next = await runEmailTask(db.pool, options(), TASK);
    // The alert's own failed run is reported too.
    expect(next).toMatchObject({ status: "succeeded", rowsAffected: 2 });
    expect(sendGrid.fake.emails).toHaveLength(1);
    expect(sendGrid.fake.emails[0]!.text).toContain("alert-failed-runs, run");
  });

  it("when a task's latest settled tick has no success, then it is reported overdue (as /health says), once", async () => {
    await addRun("cleanup-expired-sessions", "succeeded", "5 hours"); // hourly
    // Every other task succeeded just now.
    for (const task of tasks) {
      if (task.name !== "cleanup-expired-sessions") await addRun(task.name, "succeeded", "10 seconds");
    }
    const result = await runEmailTask(db.pool, options(), TASK);
    expect(result).toMatchObject({ status: "succeeded", rowsAffected: 0 });
    expect(sendGrid.fake.emails).toHaveLength(1);
    expect(sendGrid.fake.emails[0]!.subject).toBe("[scheduled jobs] 1 overdue task(s)");
    expect(sendGrid.fake.emails[0]!.text).toContain(
      "Overdue tasks (their latest tick that should have finished has no success): cleanup-expired-sessions",
    );
    await runEmailTask(db.pool, options(), TASK);
    expect(sendGrid.fake.emails).toHaveLength(1);
  });

  it("when a task pg_cron runs has no success for its latest settled tick, then it is reported overdue too", async () => {
    // pg_cron records its runs in scheduler.job_runs (trigger pg_cron): its tasks have a history to judge.
    await db.pool.query(
      `INSERT INTO scheduler.job_runs (task, trigger, status, schedule_time, started_at, finished_at)
       VALUES ('cleanup-expired-sessions', 'pg_cron', 'succeeded', date_trunc('hour', now() - interval '5 hours'),
               now() - interval '5 hours', now() - interval '5 hours')`,
    );
    for (const task of tasks) {
      if (task.name !== "cleanup-expired-sessions") await addRun(task.name, "succeeded", "10 seconds");
    }
    const jobs = resolveJobs(
      tasks.map((task) =>
        task.name === "cleanup-expired-sessions" ? { ...task, runner: "pg_cron" as const } : task,
      ),
    ).jobs;
    const runtime = createEmailRuntime(options());
    const result = await runTask(
      { pool: db.pool, jobs, loadEmailHandler: (task) => runtime.handlerFor(task) },
      { task: emailTask(TASK), trigger: "manual" },
    );
    expect(result).toMatchObject({ status: "succeeded", rowsAffected: 0 });
    expect(sendGrid.fake.emails).toHaveLength(1);
    expect(sendGrid.fake.emails[0]!.text).toContain(
      "Overdue tasks (their latest tick that should have finished has no success): cleanup-expired-sessions",
    );
  });

  it("when nothing failed and nothing is overdue, then no email is sent", async () => {
    await addRun("auto-cancel-unconfirmed-orders", "succeeded", "10 seconds");
    expect(await runEmailTask(db.pool, options(), TASK)).toMatchObject({
      status: "succeeded",
      rowsAffected: 0,
    });
    expect(sendGrid.fake.calls).toHaveLength(0);
  });

  it("when OPS_EMAIL is not set and a key is, then the run fails saying so and alerts nothing", async () => {
    await addRun("generate-daily-stats", "failed", "2 minutes", "x");
    const result = await runEmailTask(
      db.pool,
      { ...options(), config: sendGridConfig(sendGrid.fake, { opsEmail: undefined }) },
      TASK,
    );
    expect(result).toMatchObject({
      status: "failed",
      code: "task_failed",
      message: expect.stringMatching(/OPS_EMAIL/),
    });
    const pending = await db.pool.query(
      "SELECT count(*)::int AS n FROM scheduler.job_runs WHERE alerted_at IS NULL AND status = 'failed'",
    );
    expect(pending.rows[0].n).toBe(2);
  });
});
