/**
 * The Lambda handler in-process, on the test database, with "now" pinned: how each event is read,
 * classified by the tick rules and settled (returned, or thrown for a retry). The built bundle's
 * own tests (lambda.test.ts) run the same handler as deployed.
 */
import { describe, expect, it } from "vitest";
import { createLambdaHandler, RetryableRunError } from "../../functions/aws/handler.js";
import { tasks } from "../../functions/core/catalog.js";
import { createLogger } from "../../functions/core/log.js";
import { runTask } from "../../functions/core/run/runner.js";
import { resolveJobs } from "../../functions/core/schedule/jobs.js";
import { useTestDatabase } from "../helpers/database.js";

const GROUP = "arn:aws:scheduler:us-east-1:123456789012:schedule-group/scheduled-jobs";
const NOW = new Date("2026-03-02T10:00:30Z");
const db = useTestDatabase();
const lines: Record<string, unknown>[] = [];
const handler = createLambdaHandler({
  jobs: resolveJobs(tasks).jobs,
  scheduleGroupArn: GROUP,
  pool: () => db.pool,
  runTask,
  log: createLogger({}, (line) => lines.push(JSON.parse(line) as Record<string, unknown>)),
  now: () => NOW,
});

const scheduleArn = (task: string, group = "scheduled-jobs"): string =>
  `arn:aws:scheduler:us-east-1:123456789012:schedule/${group}/${task}`;

function tick(task: string, scheduledTime: string, changes: Record<string, string> = {}) {
  return {
    task,
    scheduledTime,
    scheduleArn: scheduleArn(task),
    attemptNumber: "1",
    executionId: "d32c5kddcf5bb8c3",
    ...changes,
  };
}

async function lastRun(task: string) {
  const { rows } = await db.pool.query(
    `SELECT trigger, job_name, schedule_time, requested_schedule_time, attempt, status
       FROM scheduler.job_runs WHERE task = $1 ORDER BY id DESC LIMIT 1`,
    [task],
  );
  return rows[0] as Record<string, unknown> | undefined;
}

describe("the Lambda handler", () => {
  it("when a tick of the task's own schedule comes, then it runs as the tick, and its retry is a duplicate", async () => {
    const event = tick("cleanup-expired-sessions", "2026-03-02T10:00:00Z", { attemptNumber: "2" });
    expect(await handler(event, { awsRequestId: "r-1" })).toMatchObject({ status: "succeeded" });
    expect(await lastRun("cleanup-expired-sessions")).toMatchObject({
      trigger: "scheduler",
      job_name: "cleanup-expired-sessions",
      schedule_time: new Date("2026-03-02T10:00:00Z"),
      attempt: 2,
    });
    expect(await handler({ ...event, executionId: "another" })).toMatchObject({ status: "duplicate" });
    const invoked = lines.find((line) => line.requestId === "r-1" && line.invocation === "tick");
    expect(invoked).toMatchObject({ executionId: "d32c5kddcf5bb8c3", attemptNumber: 2, status: 200 });
  });

  it("when the schedule is another group's or another task's, then the run is manual, recorded with what it named", async () => {
    const foreign = tick("cleanup-expired-sessions", "2026-03-02T09:00:00Z", {
      scheduleArn: scheduleArn("cleanup-expired-sessions", "elsewhere"),
    });
    expect(await handler(foreign)).toMatchObject({ status: "succeeded" });
    expect(await lastRun("cleanup-expired-sessions")).toMatchObject({
      trigger: "manual",
      job_name: scheduleArn("cleanup-expired-sessions", "elsewhere"),
      schedule_time: null,
      requested_schedule_time: new Date("2026-03-02T09:00:00Z"),
    });
    const borrowed = tick("cleanup-expired-sessions", "2026-03-02T08:00:00Z", {
      scheduleArn: scheduleArn("purge-run-history"),
    });
    expect(await handler(borrowed)).toMatchObject({ status: "succeeded" });
    expect(await lastRun("cleanup-expired-sessions")).toMatchObject({
      trigger: "manual",
      job_name: "purge-run-history",
    });
  });

  it("when the time is no fire time or lies ahead, then the run is manual; a year away, the event is refused and returned", async () => {
    for (const time of ["2026-03-02T09:30:00Z", "2026-03-02T11:00:00Z"]) {
      expect(await handler(tick("cleanup-expired-sessions", time))).toMatchObject({ status: "succeeded" });
      expect(await lastRun("cleanup-expired-sessions")).toMatchObject({
        trigger: "manual",
        schedule_time: null,
      });
    }
    expect(await handler(tick("cleanup-expired-sessions", "2028-03-02T10:00:00Z"))).toMatchObject({
      error: { code: "bad_request", message: expect.stringMatching(/more than a year/) },
    });
  });

  it("when the event is malformed or names no task, then the refusal is returned, never thrown", async () => {
    expect(await handler({ task: "cleanup-expired-sessions", dryRun: "yes" })).toMatchObject({
      error: { code: "bad_request" },
    });
    expect(await handler({ task: "nope" })).toMatchObject({
      error: { code: "not_found", tasks: expect.arrayContaining(["cleanup-expired-sessions"]) },
    });
  });

  it("when a tick of a task that must not lose it finds the lock held, then the handler throws the 409 shape, with no stack", async () => {
    const holder = await db.pool.connect();
    try {
      await holder.query("SELECT pg_advisory_lock(7262005, hashtext('update-restaurant-ratings'))");
      const thrown = await handler(tick("update-restaurant-ratings", "2026-03-02T01:00:00Z")).then(
        () => undefined,
        (error: unknown) => error,
      );
      expect(thrown).toBeInstanceOf(RetryableRunError);
      expect((thrown as Error).stack).toBeUndefined();
      expect(JSON.parse((thrown as Error).message)).toMatchObject({
        error: { code: "lock_held", task: "update-restaurant-ratings" },
      });
    } finally {
      await holder.query("SELECT pg_advisory_unlock_all()");
      holder.release();
    }
    expect(await handler(tick("update-restaurant-ratings", "2026-03-02T01:00:00Z"))).toMatchObject({
      status: "succeeded",
    });
  });
});
