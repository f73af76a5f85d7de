import { describe, expect, it } from "vitest";
import type { TaskDefinition } from "../functions/core/catalog.js";
import type { HealthRow } from "../functions/core/reads/health.js";
import { taskHealth } from "../functions/core/reads/health.js";
import type { Job } from "../functions/core/schedule/jobs.js";
import { resolveJobs } from "../functions/core/schedule/jobs.js";
import type { TickHistory } from "../functions/core/schedule/tick-rules.js";

const asJob = (task: TaskDefinition): Job => resolveJobs([task]).jobs[0]!;

const hourly = asJob({
  name: "hourly-task",
  description: "A task for the health arithmetic.",
  kind: "sql",
  schedule: "0 * * * *",
  timeoutSeconds: 120,
  retry: { retryCount: 0, minBackoffSeconds: 5, maxBackoffSeconds: 60, maxDoublings: 2 },
  paused: false,
});

function row(overrides: Partial<HealthRow>): HealthRow {
  return {
    task: hourly.name,
    runs_24h: 1,
    failures_24h: 0,
    skipped_24h: 0,
    p50_ms: 12,
    p95_ms: 30,
    last_run_at: null,
    last_status: "succeeded",
    last_success_at: null,
    last_success_schedule_time: null,
    last_success_tick: null,
    last_failure_at: null,
    last_error: null,
    running: false,
    ...overrides,
  };
}

/** A history that began at `historyBegins`, with these ticks' runs succeeded (each a second after it). */
function history(historyBegins: Date | null, ...succeededTicks: string[]): TickHistory {
  return {
    historyBegins,
    runs: succeededTicks.map((tick) => ({
      status: "succeeded" as const,
      scheduleTime: new Date(tick),
      startedAt: new Date(new Date(tick).getTime() + 1000),
    })),
  };
}

// 10:30 UTC: the 10:00 tick has had its timeout and grace (2 + 1 minutes); the 11:00 tick is next.
const now = new Date("2026-11-29T10:30:00Z");

describe("taskHealth", () => {
  it("when the last success is the latest settled tick, then the task is not overdue and the next run is the next tick", () => {
    const health = taskHealth(
      hourly,
      row({
        last_success_at: new Date("2026-11-29T10:00:01Z"),
        last_success_schedule_time: new Date("2026-11-29T10:00:00Z"),
        last_success_tick: new Date("2026-11-29T10:00:00Z"),
      }),
      history(new Date("2026-11-01T00:00:00Z"), "2026-11-29T10:00:00Z"),
      now,
    );
    expect(health).toMatchObject({
      overdue: false,
      nextRunAt: "2026-11-29T11:00:00.000Z",
      p50Ms: 12,
      runner: "cloud",
    });
  });

  it("when the last success is a tick older than the latest settled one, then the task is overdue", () => {
    const health = taskHealth(
      hourly,
      row({
        last_success_at: new Date("2026-11-29T09:00:02Z"),
        last_success_schedule_time: new Date("2026-11-29T09:00:00Z"),
        last_success_tick: new Date("2026-11-29T09:00:00Z"),
      }),
      history(new Date("2026-11-01T00:00:00Z"), "2026-11-29T09:00:00Z"),
      now,
    );
    expect(health.overdue).toBe(true);
  });

  it("when the latest tick is still within its timeout and grace, then an older success is not yet overdue", () => {
    const health = taskHealth(
      hourly,
      row({
        last_success_at: new Date("2026-11-29T09:00:02Z"),
        last_success_tick: new Date("2026-11-29T09:00:00Z"),
      }),
      history(new Date("2026-11-01T00:00:00Z"), "2026-11-29T09:00:00Z"),
      new Date("2026-11-29T10:02:30Z"),
    );
    expect(health.overdue).toBe(false);
  });

  it("when a task never succeeded and the history began before its latest tick, then it is overdue", () => {
    expect(taskHealth(hourly, undefined, history(new Date("2026-11-29T08:00:00Z")), now).overdue).toBe(true);
  });

  it("when a task never succeeded and the history is empty or younger than its latest tick, then it is not overdue", () => {
    expect(taskHealth(hourly, undefined, history(null), now).overdue).toBe(false);
    expect(taskHealth(hourly, undefined, history(new Date("2026-11-29T10:10:00Z")), now).overdue).toBe(false);
  });

  it("when the task is paused, then it is never overdue and has no next run", () => {
    const health = taskHealth(
      { ...hourly, paused: true },
      undefined,
      history(new Date("2026-01-01T00:00:00Z")),
      now,
    );
    expect(health).toMatchObject({ overdue: false, nextRunAt: null, paused: true });
  });

  it("when the task's schedule is read in a time zone, then the next run is that zone's wall-clock time", () => {
    const paris = asJob({ ...hourly, schedule: "0 1 * * *", timeZone: "Europe/Paris" });
    // 01:00 in Paris in winter (UTC+1) is 00:00 UTC.
    expect(taskHealth(paris, undefined, history(null), now)).toMatchObject({
      nextRunAt: "2026-11-30T00:00:00.000Z",
      timeZone: "Europe/Paris",
    });
  });
});
