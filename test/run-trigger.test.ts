/**
 * A run says what started it, and only the scheduler's ticks say `scheduler`: an operator's run of
 * a tick (the CLI's `run --slot`, `backfill` and `replay` through the local function) is recorded
 * `backfill` or `replay`, holding its tick's slot as a tick would. A caller can claim no other
 * trigger, an operator's tick that does not say which is refused, and a claimed trigger without a
 * tick is refused; on Google's function and on the Lambda alike.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { createLambdaHandler } from "../functions/aws/handler.js";
import { tasks } from "../functions/core/catalog.js";
import { createLogger } from "../functions/core/log.js";
import { runTask } from "../functions/core/run/runner.js";
import { previousFireTime } from "../functions/core/schedule/fire-times.js";
import { resolveJobs } from "../functions/core/schedule/jobs.js";
import type { CertsServer, DevIdentity } from "../scripts/local/dev-identity.js";
import { createDevIdentity, serveCerts } from "../scripts/local/dev-identity.js";
import { useTestDatabase } from "./helpers/database.js";
import type { RunningFunction } from "./helpers/function-server.js";
import { call, startFunction } from "./helpers/function-server.js";

const AUDIENCE = "http://localhost:8080";
const OPERATOR = "oncall@example.com";
const TASK = "driver-inactivity-check"; // every 5 minutes
/** The Lambda's pinned clock. */
const NOW = new Date("2026-03-02T10:02:30Z");
// Google's function reads the real clock: its ticks derive from the clock at start (two settled
// ticks of the task, and a minute that is none), so the file passes on any date.
const job = resolveJobs(tasks).jobs.find((candidate) => candidate.name === TASK)!;
const tickAt = previousFireTime(job, new Date(Date.now() - 10 * 60_000))!;
const TICK = tickAt.toISOString();
const EARLIER = new Date(tickAt.getTime() - 5 * 60_000).toISOString();
const NO_TICK = new Date(tickAt.getTime() + 60_000).toISOString();

const db = useTestDatabase();
let identity: DevIdentity;
let certs: CertsServer;
let fn: RunningFunction;

beforeAll(async () => {
  identity = createDevIdentity({ audience: AUDIENCE });
  certs = await serveCerts(identity);
  fn = await startFunction({
    env: {
      DATABASE_URL: db.url,
      AUTH_AUDIENCE: AUDIENCE,
      AUTH_ALLOWED_EMAILS: identity.email,
      OPERATOR_EMAILS: OPERATOR,
      AUTH_CERTS_URL: certs.url,
    },
    log: createLogger({}, () => undefined),
  });
});

afterAll(async () => {
  await fn?.close();
  await certs?.close();
});

beforeEach(async () => {
  await db.pool.query("TRUNCATE scheduler.job_runs RESTART IDENTITY");
});

const tickHeaders = (time = TICK) => ({
  "X-CloudScheduler-JobName": `projects/p/locations/l/jobs/${TASK}`,
  "X-CloudScheduler-ScheduleTime": time,
});

function post(body: Record<string, unknown>, headers: Record<string, string> = {}, email?: string) {
  return call(`${fn.url}/`, {
    token: identity.signIdToken(email ? { email } : {}),
    body: { task: TASK, ...body },
    headers,
  });
}

async function runs() {
  const { rows } = await db.pool.query(
    "SELECT trigger, schedule_time, status FROM scheduler.job_runs WHERE task = $1 ORDER BY id",
    [TASK],
  );
  return rows;
}

describe("what a run records as its trigger, on Google's function", () => {
  it("when the scheduler delivers a tick, then it is recorded scheduler", async () => {
    expect((await post({}, tickHeaders())).status).toBe(200);
    expect(await runs()).toEqual([
      { trigger: "scheduler", schedule_time: new Date(TICK), status: "succeeded" },
    ]);
  });

  it("when an operator's tick says backfill or replay, then it is recorded so, holding its tick's slot", async () => {
    const backfill = await post({ trigger: "backfill" }, tickHeaders());
    expect(backfill.status, backfill.text).toBe(200);
    expect((await post({ trigger: "replay" }, tickHeaders())).body).toMatchObject({ status: "duplicate" });
    const replay = await post({ trigger: "replay" }, tickHeaders(EARLIER), OPERATOR);
    expect(replay.status, replay.text).toBe(200);
    expect(await runs()).toEqual([
      { trigger: "backfill", schedule_time: new Date(TICK), status: "succeeded" },
      { trigger: "replay", schedule_time: new Date(EARLIER), status: "succeeded" },
    ]);
  });

  it("when a caller claims any other trigger, or a backfill with no tick, then it is refused and nothing runs", async () => {
    for (const trigger of ["scheduler", "pg_cron", "manual", "cli", "Backfill", 1]) {
      const refused = await post({ trigger }, tickHeaders());
      expect(refused.status, String(trigger)).toBe(400);
      expect(refused.body.error?.message).toMatch(/trigger must be "backfill" or "replay"/);
    }
    const noTick = await post({ trigger: "backfill" });
    expect(noTick.status).toBe(400);
    expect(noTick.body.error?.message).toMatch(/a backfill runs a tick/);
    // A time that is no tick of the task is a manual run, which a backfill is not.
    expect((await post({ trigger: "replay" }, tickHeaders(NO_TICK))).status).toBe(400);
    expect(await runs()).toEqual([]);
  });

  it("when an operator sends a tick without saying backfill or replay, then it is refused: only the scheduler's ticks are recorded scheduler", async () => {
    const refused = await post({}, tickHeaders(), OPERATOR);
    expect(refused.status).toBe(403);
    expect(refused.body.error?.message).toMatch(/an operator's run of a tick is a backfill or a replay/);
    // An operator's run without a tick is a manual run, as ever.
    expect((await post({}, {}, OPERATOR)).status).toBe(200);
    expect((await runs()).map((run) => run.trigger)).toEqual(["manual"]);
  });
});

describe("what a run records as its trigger, on the Lambda", () => {
  const handler = createLambdaHandler({
    jobs: resolveJobs(tasks).jobs,
    scheduleGroupArn: "arn:aws:scheduler:us-east-1:123456789012:schedule-group/scheduled-jobs",
    pool: () => db.pool,
    runTask,
    log: createLogger({}, () => undefined),
    now: () => NOW,
  });

  it("when an invoke claims a trigger, then it is refused (an invoke holds no tick) and nothing runs", async () => {
    for (const trigger of ["backfill", "scheduler"]) {
      await expect(handler({ task: TASK, trigger })).resolves.toMatchObject({
        error: { code: "bad_request" },
      });
    }
    expect(await runs()).toEqual([]);
  });
});
