/**
 * A stack's schedule overrides (TASK_OVERRIDES) as the deployed function sees them: the catalog's
 * lookups, the health report and its overdue verdict follow the schedule Cloud Scheduler really uses.
 */
import { afterEach, describe, expect, it } from "vitest";
import { findTask, scheduledTasks, tasks, useScheduleOverrides } from "../functions/catalog.js";
import { readHealth } from "../functions/health.js";
import { useTestDatabase } from "./helpers/database.js";

const db = useTestDatabase();

afterEach(() => {
  useScheduleOverrides({});
});

describe("schedule overrides", () => {
  it("when overrides are applied, then lookups and the scheduled list carry them and other tasks are the catalog's", () => {
    useScheduleOverrides({ "archive-old-orders": { schedule: "0 4 * * 0", timeZone: "Europe/Paris" } });
    expect(findTask("archive-old-orders")).toMatchObject({ schedule: "0 4 * * 0", timeZone: "Europe/Paris" });
    expect(scheduledTasks().find((t) => t.name === "archive-old-orders")?.schedule).toBe("0 4 * * 0");
    expect(findTask("driver-inactivity-check")).toBe(tasks.find((t) => t.name === "driver-inactivity-check"));
    useScheduleOverrides({});
    expect(findTask("archive-old-orders")?.schedule).toBe("0 3 * * 0");
  });

  it("when an override names no catalog task, then it is refused", () => {
    expect(() => useScheduleOverrides({ "no-such-task": { paused: true } })).toThrow(
      /no task named "no-such-task"/,
    );
  });

  it("when a stack pauses a task that stopped succeeding, then health reports it paused and not overdue", async () => {
    await db.pool.query(`
      INSERT INTO scheduler.job_runs (task, trigger, status, schedule_time, started_at, finished_at, duration_ms)
      VALUES ('driver-inactivity-check', 'scheduler', 'succeeded', now() - interval '3 hours', now() - interval '3 hours',
              now() - interval '3 hours', 5)`);
    const before = (await readHealth(db.pool, new Date())).tasks.find(
      (t) => t.task === "driver-inactivity-check",
    );
    expect(before).toMatchObject({ paused: false, overdue: true });

    useScheduleOverrides({ "driver-inactivity-check": { paused: true, schedule: "*/10 * * * *" } });
    const after = (await readHealth(db.pool, new Date())).tasks.find(
      (t) => t.task === "driver-inactivity-check",
    );
    expect(after).toMatchObject({ paused: true, overdue: false, schedule: "*/10 * * * *" });
  });
});
