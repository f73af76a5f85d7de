/**
 * The deployable Lambda itself: built by `npm run build`'s code into a folder of its own, run in
 * child processes as Lambda runs it (scripts/local/lambda-host.ts), invoked with the recorded
 * events of test/fixtures/aws/ against the test database, through both retry layers: the
 * scheduler's deliveries (a new attempt number and execution id each) and Lambda's own retries of
 * a thrown error (scripts/local/lambda-async.ts, on a test clock).
 *
 * The bundle reads the time of its own process, as on Lambda: a tick here is a fire time a minute
 * or more before the test started, which the tick rules accept from any clock that is not behind.
 */
import { randomBytes } from "node:crypto";
import { readFileSync, rmSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseEvent } from "../../functions/aws/event.js";
import { writeEnvironment } from "../../functions/core/config/environment.js";
import { previousFireTime } from "../../functions/core/schedule/fire-times.js";
import type { LambdaBuildResult } from "../../scripts/generate/lambda-bundle.js";
import { buildLambda } from "../../scripts/generate/lambda-bundle.js";
import type { AsyncAttempt } from "../../scripts/local/lambda-async.js";
import { AsyncInvoker } from "../../scripts/local/lambda-async.js";
import type { InvokeResult } from "../../scripts/local/lambda-host.js";
import { LocalLambda } from "../../scripts/local/lambda-host.js";
import { newExecutionId, scheduledTimeText } from "../../scripts/local/local-eventbridge.js";
import { useTestDatabase } from "../helpers/database.js";
import { ManualClock } from "../helpers/manual-clock.js";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const fixture = (name: string): Record<string, unknown> =>
  JSON.parse(readFileSync(join(root, "test", "fixtures", "aws", name), "utf8")) as Record<string, unknown>;
const recordedTick = fixture("scheduled-event.json");
const TASK = "auto-cancel-unconfirmed-orders";
const GROUP = "arn:aws:scheduler:us-east-1:123456789012:schedule-group/scheduled-jobs";
const every = { name: TASK, schedule: "* * * * *", timeZone: "UTC" };
const started = new Date();
/** The n-th fire time before the test started: n minutes back, and never ahead of the bundle's clock. */
const tickBack = (minutes: number): Date =>
  previousFireTime(every, new Date(started.getTime() - minutes * 60_000))!;

const db = useTestDatabase();
let built: LambdaBuildResult;
let lambda: LocalLambda;
const lines: string[] = [];

beforeAll(async () => {
  built = await buildLambda(join(root, "dist", `.test-lambda-${randomBytes(4).toString("hex")}`));
  lambda = new LocalLambda({
    entry: built.entry,
    env: writeEnvironment({
      DATABASE_URL: db.url,
      SCHEDULE_GROUP_ARN: GROUP,
      EMAIL_TRANSPORT: "local-mailbox",
    }),
    onLine: (line) => lines.push(line),
  });
}, 120_000);

afterAll(async () => {
  await lambda?.stop();
  if (built) rmSync(built.outDir, { recursive: true, force: true });
});

/** The recorded tick, for this tick and delivery attempt: only the values the scheduler substitutes change. */
function tick(time: Date, attemptNumber = 1, changes: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    ...recordedTick,
    scheduledTime: scheduledTimeText(time),
    attemptNumber: String(attemptNumber),
    executionId: newExecutionId(),
    ...changes,
  };
}

interface RunRow {
  trigger: string;
  job_name: string | null;
  schedule_time: Date | null;
  attempt: number | null;
  status: string;
  error_code: string | null;
}

async function runsSince(id: number): Promise<RunRow[]> {
  const { rows } = await db.pool.query<RunRow>(
    `SELECT trigger, job_name, schedule_time, attempt, status, error_code
       FROM scheduler.job_runs WHERE task = $1 AND id > $2 ORDER BY id`,
    [TASK, id],
  );
  return rows;
}

async function lastRunId(): Promise<number> {
  const { rows } = await db.pool.query<{ id: string | null }>("SELECT max(id) AS id FROM scheduler.job_runs");
  return Number(rows[0]?.id ?? 0);
}

/** Polls until `done` holds, for at most 20 s of real time (the bundle runs in real time). */
async function waitFor(done: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`${what} did not come within 20 s`);
    await new Promise((next) => setTimeout(next, 20));
  }
}

function payloadOf(result: InvokeResult): Record<string, unknown> {
  if (!result.ok) throw new Error(`the function threw: ${result.error.errorMessage}`);
  return result.payload as Record<string, unknown>;
}

describe("the built Lambda", () => {
  it("when the recorded events are read, then they are a tick of the template and manual runs", () => {
    expect(parseEvent(recordedTick)).toMatchObject({ kind: "tick", task: TASK, attemptNumber: 1 });
    expect(parseEvent(fixture("sync-invoke.json"))).toEqual({
      kind: "invoke",
      task: TASK,
      dryRun: false,
      force: false,
    });
    expect(parseEvent(fixture("sync-invoke-dry-run.json"))).toMatchObject({ kind: "invoke", dryRun: true });
  });

  it("when a tick is delivered many times through both retry layers, then it is one run", async () => {
    const before = await lastRunId();
    const time = tickBack(1);
    // Lambda's queue delivers attempt 1 twice at once; the scheduler retries it as attempt 2 with a new id.
    const results = await Promise.all([
      lambda.invoke(tick(time, 1)),
      lambda.invoke(tick(time, 1)),
      lambda.invoke(tick(time, 2)),
    ]);
    const again = await lambda.invoke(tick(time, 3));
    const statuses = [...results, again].map((result) => payloadOf(result).status);
    expect(statuses.filter((status) => status === "succeeded")).toHaveLength(1);
    expect(payloadOf(again).status).toBe("duplicate");
    const runs = await runsSince(before);
    const succeeded = runs.filter((run) => run.status === "succeeded");
    expect(succeeded).toHaveLength(1);
    expect(succeeded[0]).toMatchObject({ trigger: "scheduler", job_name: TASK, schedule_time: time });
    expect([1, 2]).toContain(succeeded[0]!.attempt);
  });

  it("when scheduledTime is forged, ahead, or sent by another group's schedule, then the run is manual and takes no slot", async () => {
    const time = tickBack(2);
    const before = await lastRunId();
    const forged = tick(new Date(time.getTime() + 30_000));
    const ahead = tick(new Date(started.getTime() + 3_600_000));
    const foreign = tick(time, 1, {
      scheduleArn: `${String(recordedTick.scheduleArn).replace("/scheduled-jobs/", "/someone-else/")}`,
    });
    const otherTask = tick(time, 1, {
      scheduleArn: String(recordedTick.scheduleArn).replace(TASK, "driver-inactivity-check"),
    });
    for (const event of [forged, ahead, foreign, otherTask]) {
      expect(payloadOf(await lambda.invoke(event)).status).toBe("succeeded");
    }
    const manual = await runsSince(before);
    expect(manual.map((run) => [run.trigger, run.schedule_time])).toEqual(Array(4).fill(["manual", null]));
    // The real tick of that minute still runs as its tick.
    expect(payloadOf(await lambda.invoke(tick(time))).status).toBe("succeeded");
    expect((await runsSince(before)).at(-1)).toMatchObject({ trigger: "scheduler", schedule_time: time });
  });

  it("when a manual run comes first, then the next tick still runs", async () => {
    const before = await lastRunId();
    expect(payloadOf(await lambda.invoke(fixture("sync-invoke.json"))).status).toBe("succeeded");
    const time = tickBack(3);
    expect(payloadOf(await lambda.invoke(tick(time))).status).toBe("succeeded");
    expect((await runsSince(before)).map((run) => run.trigger)).toEqual(["manual", "scheduler"]);
  });

  it("when the task fails, then the function throws the error shape, and Lambda's retry runs the tick", async () => {
    const clock = new ManualClock(started);
    const attempts: AsyncAttempt[] = [];
    const invoker = new AsyncInvoker({ lambda, clock, onAttempt: (attempt) => attempts.push(attempt) });
    const before = await lastRunId();
    const time = tickBack(4);
    await db.pool.query("ALTER TABLE orders RENAME TO orders_away");
    try {
      invoker.invokeAsync(tick(time));
      await waitFor(() => clock.pending > 0 || attempts.length > 0, "the first attempt");
    } finally {
      await db.pool.query("ALTER TABLE orders_away RENAME TO orders");
    }
    await clock.advanceTo(started.getTime() + 60_000);
    await invoker.idle();
    expect(attempts.map((attempt) => attempt.result.ok)).toEqual([false, true]);
    const thrown = attempts[0]!.result;
    if (thrown.ok) throw new Error("unreachable");
    expect(thrown.error.trace).toEqual([]);
    expect(JSON.parse(thrown.error.errorMessage)).toMatchObject({
      error: { code: "task_failed", task: TASK, message: expect.stringMatching(/orders/) },
    });
    expect((await runsSince(before)).map((run) => [run.status, run.schedule_time])).toEqual([
      ["failed", time],
      ["succeeded", time],
    ]);
  });

  it("when the guard trips or the event is malformed, then the function returns the error and nothing retries it", async () => {
    await db.pool.query(
      "INSERT INTO orders (status, placed_at) SELECT 'pending', now() - interval '2 hours' FROM generate_series(1, 501)",
    );
    const clock = new ManualClock(started);
    const attempts: AsyncAttempt[] = [];
    const invoker = new AsyncInvoker({ lambda, clock, onAttempt: (attempt) => attempts.push(attempt) });
    try {
      invoker.invokeAsync(tick(tickBack(5)));
      invoker.invokeAsync({ ...tick(tickBack(5)), attemptNumber: 1 });
      invoker.invokeAsync({ task: "no-such-task" });
      await invoker.idle();
    } finally {
      await db.pool.query("DELETE FROM orders WHERE status = 'pending'");
    }
    expect(clock.pending).toBe(0);
    const codes = attempts.map((attempt) => (payloadOf(attempt.result).error as { code: string }).code);
    expect(codes.sort()).toEqual(["bad_request", "guard_tripped", "not_found"]);
  });

  it("when its configuration is broken, then every invoke is refused and thrown (retried), and the log says why", async () => {
    const seen: string[] = [];
    const refusing = new LocalLambda({
      entry: built.entry,
      env: writeEnvironment({ DATABASE_URL: db.url }),
      onLine: (line) => seen.push(line),
    });
    try {
      const result = await refusing.invoke(fixture("sync-invoke.json"));
      expect(result.ok).toBe(false);
      if (result.ok) return;
      expect(JSON.parse(result.error.errorMessage)).toMatchObject({ error: { code: "unavailable" } });
      expect(result.error.trace).toEqual([]);
      expect(seen.join("\n")).toMatch(/SCHEDULE_GROUP_ARN is not set/);
    } finally {
      await refusing.stop();
    }
  });
});
