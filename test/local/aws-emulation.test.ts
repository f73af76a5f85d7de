/**
 * The local AWS stack (`npm start -- --cloud aws`): the local scheduler delivers each tick as
 * EventBridge Scheduler does (the schedule's Input substituted, a new execution id per attempt) to
 * the built Lambda's asynchronous queue, whose retries of a thrown error come on the scheduler's
 * clock; a manual run is a synchronous invoke through the loopback Invoke API, as the CLI's
 * `force-run --aws` sends it.
 *
 * The Lambda's processes read their own clock, as on Lambda: the scheduler's clock starts minutes
 * behind it, so every tick it fires is a fire time the tick rules accept (not ahead of the arrival).
 */
import { randomBytes } from "node:crypto";
import { rmSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { findTask } from "../../functions/core/catalog.js";
import { resolveJobs } from "../../functions/core/schedule/jobs.js";
import { runThroughLambda } from "../../scripts/cli/lambda-runs.js";
import type { Io } from "../../scripts/cli/io.js";
import type { AsyncAttempt } from "../../scripts/local/lambda-async.js";
import type { LocalAws } from "../../scripts/local/local-aws.js";
import { startLocalAws } from "../../scripts/local/local-aws.js";
import { LocalScheduler } from "../../scripts/local/local-scheduler.js";
import { ManualClock } from "../helpers/manual-clock.js";
import { useTestDatabase } from "../helpers/database.js";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const TASK = "auto-cancel-unconfirmed-orders";
const job = resolveJobs([findTask(TASK)!]).jobs[0]!;
const db = useTestDatabase();
/** Four minutes behind the real clock, on a minute: the ticks fired here are all in the Lambda's past. */
const start = Math.floor(Date.now() / 60_000) * 60_000 - 240_000;
const clock = new ManualClock(start);
const lambdaDir = join(root, "dist", `.test-lambda-${randomBytes(4).toString("hex")}`);
const attempts: AsyncAttempt[] = [];
let aws: LocalAws;
let scheduler: LocalScheduler;

beforeAll(async () => {
  aws = await startLocalAws({
    root,
    databaseUrl: db.url,
    jobs: [job],
    port: 0,
    lambdaDir,
    clock,
    onAsyncAttempt: (attempt) => attempts.push(attempt),
  });
  scheduler = new LocalScheduler({
    jobs: [job],
    clock,
    deliver: aws.deliver,
  });
  scheduler.start();
}, 120_000);

afterAll(async () => {
  await scheduler?.stop();
  await aws?.stop();
  rmSync(lambdaDir, { recursive: true, force: true });
});

/** Moves the scheduler's clock, letting each delivered event (and its retries due by then) run. */
async function advanceTo(ms: number): Promise<void> {
  await clock.advanceTo(ms, async () => {
    await scheduler.settled();
    await aws.invoker.settled();
  });
}

async function runsOf(time: Date) {
  const { rows } = await db.pool.query<{
    trigger: string;
    status: string;
    attempt: number;
    job_name: string;
  }>(
    "SELECT trigger, status, attempt, job_name FROM scheduler.job_runs WHERE task = $1 AND schedule_time = $2 ORDER BY id",
    [TASK, time],
  );
  return rows;
}

describe("the local EventBridge Scheduler and Lambda", () => {
  it("when a tick comes, then the Lambda gets the schedule's Input substituted, and the run is the tick's", async () => {
    const tick = new Date(start + 60_000);
    await advanceTo(tick.getTime());
    const event = attempts.at(-1)?.event as Record<string, string>;
    expect(Object.keys(event)).toEqual([
      "task",
      "scheduledTime",
      "scheduleArn",
      "attemptNumber",
      "executionId",
    ]);
    expect(event).toMatchObject({
      task: TASK,
      scheduledTime: tick.toISOString().replace(".000Z", "Z"),
      scheduleArn: `arn:aws:scheduler:local-1:000000000000:schedule/scheduled-jobs/${TASK}`,
      attemptNumber: "1",
      executionId: expect.stringMatching(/^[0-9a-f]{16}$/),
    });
    expect(await runsOf(tick)).toEqual([
      { trigger: "scheduler", status: "succeeded", attempt: 1, job_name: TASK },
    ]);
  });

  it("when the function throws, then Lambda runs the event again a minute later, on the scheduler's clock", async () => {
    const tick = new Date(start + 120_000);
    await db.pool.query("ALTER TABLE orders RENAME TO orders_away");
    try {
      await advanceTo(tick.getTime());
    } finally {
      await db.pool.query("ALTER TABLE orders_away RENAME TO orders");
    }
    const failed = attempts.at(-1)!;
    expect(failed).toMatchObject({ attempt: 1, willRetry: true, result: { ok: false } });
    await advanceTo(tick.getTime() + 60_000);
    const retried = attempts.find((attempt) => attempt.event === failed.event && attempt.attempt === 2);
    expect(retried?.result.ok).toBe(true);
    expect((await runsOf(tick)).map((run) => run.status)).toEqual(["failed", "succeeded"]);
  });

  it("when a manual run is invoked as force-run --aws sends it, then it runs as manual and the next tick still runs", async () => {
    const io: Io = { out: () => undefined, err: () => undefined } as unknown as Io;
    const local = { pid: process.pid, databaseUrl: db.url, functionUrl: "", consoleUrl: "", startedAt: "" };
    const outcome = await runThroughLambda(io, { ...local, lambdaInvokeUrl: aws.invokeUrl }, job, {
      dryRun: false,
      force: false,
      json: true,
    });
    expect(outcome).toMatchObject({ status: "succeeded", exit: 0 });
    const tick = new Date(start + 240_000);
    await advanceTo(tick.getTime());
    expect(await runsOf(tick)).toEqual([
      { trigger: "scheduler", status: "succeeded", attempt: 1, job_name: TASK },
    ]);
  });

  it("when the Invoke API is asked for an asynchronous or a failing synchronous invoke, then it answers as Lambda's", async () => {
    const queued = await fetch(aws.invokeUrl, {
      method: "POST",
      headers: { "x-amz-invocation-type": "Event" },
      body: JSON.stringify({ task: TASK, dryRun: true }),
    });
    expect(queued.status).toBe(202);
    const refused = await fetch(aws.invokeUrl, {
      method: "POST",
      body: JSON.stringify({ task: "no-such-task" }),
    });
    expect(refused.status).toBe(200);
    expect(refused.headers.get("x-amz-function-error")).toBeNull();
    expect(await refused.json()).toMatchObject({ error: { code: "not_found" } });
    await db.pool.query("ALTER TABLE orders RENAME TO orders_away");
    try {
      const thrown = await fetch(aws.invokeUrl, { method: "POST", body: JSON.stringify({ task: TASK }) });
      expect(thrown.headers.get("x-amz-function-error")).toBe("Unhandled");
      const error = (await thrown.json()) as { errorType: string; errorMessage: string; trace: string[] };
      expect(error.trace).toEqual([]);
      expect(JSON.parse(error.errorMessage)).toMatchObject({ error: { code: "task_failed", task: TASK } });
    } finally {
      await db.pool.query("ALTER TABLE orders_away RENAME TO orders");
    }
  });
});
