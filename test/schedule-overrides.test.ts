/**
 * A stack's schedule overrides (TASK_OVERRIDES) as the deployed function sees them: the catalog's
 * lookups, the health report and its overdue verdict follow the schedule Cloud Scheduler really uses.
 */
import { describe, expect, it } from "vitest";
import { tasks } from "../functions/core/catalog.js";
import { parseJobs } from "../functions/core/config/function-config.js";
import { readHealth } from "../functions/core/reads/health.js";
import { resolveJobs } from "../functions/core/schedule/jobs.js";
import { useTestDatabase } from "./helpers/database.js";

const db = useTestDatabase();

function jobsFrom(overrides: unknown): { jobs: ReturnType<typeof resolveJobs>["jobs"]; problems: string[] } {
  const problems: string[] = [];
  const jobs = parseJobs({ TASK_OVERRIDES: JSON.stringify(overrides) }, problems) ?? [];
  return { jobs, problems };
}

describe("schedule overrides", () => {
  it("when TASK_OVERRIDES is set, then the jobs carry it and other tasks are the catalog's", () => {
    const { jobs, problems } = jobsFrom({
      "archive-old-orders": { schedule: "0 4 * * 0", timeZone: "Europe/Paris" },
    });
    expect(problems).toEqual([]);
    expect(jobs.find((job) => job.name === "archive-old-orders")).toMatchObject({
      schedule: "0 4 * * 0",
      timeZone: "Europe/Paris",
      overridden: ["schedule", "timeZone"],
    });
    const driver = tasks.find((t) => t.name === "driver-inactivity-check")!;
    expect(jobs.find((job) => job.name === "driver-inactivity-check")).toMatchObject({
      schedule: driver.schedule,
      timeZone: "UTC",
      overridden: [],
    });
    // No module state: resolving the catalog again gives it as written.
    expect(resolveJobs(tasks).jobs.find((job) => job.name === "archive-old-orders")?.schedule).toBe(
      "0 3 * * 0",
    );
  });

  it("when an override names no catalog task or holds a schedule Cloud Scheduler refuses, then it is a problem", () => {
    expect(jobsFrom({ "no-such-task": { paused: true } }).problems.join("\n")).toMatch(
      /TASK_OVERRIDES\.no-such-task: unknown task "no-such-task"/,
    );
    expect(jobsFrom({ "archive-old-orders": { schedule: "0 4 L * *" } }).problems.join("\n")).toMatch(
      /schedule "0 4 L \* \*" day of the month "L" is not a number/,
    );
  });

  it("when a stack pauses a task that stopped succeeding, then health reports it paused and not overdue", async () => {
    await db.pool.query(`
      INSERT INTO scheduler.job_runs (task, trigger, status, schedule_time, started_at, finished_at, duration_ms)
      VALUES ('driver-inactivity-check', 'scheduler', 'succeeded', date_trunc('minute', now()) - interval '3 hours',
              now() - interval '3 hours', now() - interval '3 hours', 5)`);
    const before = (await readHealth(db.pool, new Date(), resolveJobs(tasks).jobs)).tasks.find(
      (t) => t.task === "driver-inactivity-check",
    );
    expect(before).toMatchObject({ paused: false, overdue: true });

    const paused = jobsFrom({ "driver-inactivity-check": { paused: true, schedule: "*/10 * * * *" } }).jobs;
    const after = (await readHealth(db.pool, new Date(), paused)).tasks.find(
      (t) => t.task === "driver-inactivity-check",
    );
    expect(after).toMatchObject({ paused: true, overdue: false, schedule: "*/10 * * * *" });
  });
});

describe("overdue and manual runs", () => {
  const hourly = resolveJobs(tasks).jobs.find((job) => job.name === "cleanup-expired-sessions")!;

  async function overdueWith(rows: string): Promise<boolean> {
    await db.pool.query("DELETE FROM scheduler.job_runs");
    await db.pool.query(`
      INSERT INTO scheduler.job_runs (task, trigger, status, schedule_time, requested_schedule_time, started_at, finished_at)
      VALUES ${rows}`);
    const report = await readHealth(db.pool, new Date(), [hourly]);
    return report.tasks[0]!.overdue;
  }

  // Times relative to the database's clock; the latest settled hourly tick is date_trunc('hour', now() - 3 min).
  const due = "date_trunc('hour', now() - interval '3 minutes')";

  it("when the latest tick was missed and a manual run succeeded after it, then the task is not overdue", async () => {
    expect(
      await overdueWith(`
        ('cleanup-expired-sessions', 'scheduler', 'succeeded', ${due} - interval '1 hour', NULL, ${due} - interval '1 hour', ${due} - interval '1 hour'),
        ('cleanup-expired-sessions', 'manual', 'succeeded', NULL, NULL, ${due} + interval '1 minute', ${due} + interval '1 minute')`),
    ).toBe(false);
  });

  it("when a manual run came before the latest tick (even naming that tick, as a force run does), then it does not count as that tick", async () => {
    expect(
      await overdueWith(`
        ('cleanup-expired-sessions', 'scheduler', 'succeeded', ${due} - interval '1 hour', NULL, ${due} - interval '1 hour', ${due} - interval '1 hour'),
        ('cleanup-expired-sessions', 'manual', 'succeeded', NULL, ${due}, ${due} - interval '10 minutes', ${due} - interval '10 minutes')`),
    ).toBe(true);
  });

  it("when an old tick is backfilled after the latest tick succeeded, then the task is still not overdue", async () => {
    expect(
      await overdueWith(`
        ('cleanup-expired-sessions', 'scheduler', 'succeeded', ${due}, NULL, ${due} + interval '1 second', ${due} + interval '2 seconds'),
        ('cleanup-expired-sessions', 'cli', 'succeeded', ${due} - interval '2 hours', NULL, now(), now())`),
    ).toBe(false);
  });
});
