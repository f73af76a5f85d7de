/**
 * The local scheduler sends a force run the way Google's console does (the next tick's time, or no
 * schedule time) to the real function, whose arrival clock is the scheduler's: the force run is a
 * manual run, and when the tick it named comes, that tick still runs and does its own day's work.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { findTask } from "../../functions/core/catalog.js";
import { createAuthenticator } from "../../functions/gcp/auth.js";
import { createPoolProvider } from "../../functions/core/db/pool-provider.js";
import { resolveJobs } from "../../functions/core/schedule/jobs.js";
import { createLogger } from "../../functions/core/log.js";
import { createHandler } from "../../functions/gcp/router.js";
import { runTask } from "../../functions/core/run/runner.js";
import type { CertsServer, DevIdentity } from "../../scripts/local/dev-identity.js";
import { createDevIdentity, serveCerts } from "../../scripts/local/dev-identity.js";
import { LocalScheduler } from "../../scripts/local/local-scheduler.js";
import { ManualClock } from "../helpers/manual-clock.js";
import { useTestDatabase } from "../helpers/database.js";
import { serveHandler } from "../helpers/function-server.js";

const db = useTestDatabase();
const TASK = "generate-daily-stats";
const job = resolveJobs([findTask(TASK)!]).jobs[0]!;

let identity: DevIdentity;
let certs: CertsServer;
let served: { url: string; close(): Promise<void> };
let clock: ManualClock;
let scheduler: LocalScheduler;

beforeAll(async () => {
  identity = createDevIdentity({ audience: "http://localhost:8080" });
  certs = await serveCerts(identity);
  // The scheduler's clock starts at the real one (tokens are minted on the real clock); the
  // function's arrival time is the scheduler's clock, so the test can move to tomorrow's tick.
  clock = new ManualClock(Math.floor(Date.now() / 60_000) * 60_000 + 30_000);
  const log = createLogger({}, () => undefined);
  const pools = createPoolProvider({ kind: "url", connectionString: db.url }, 2, log);
  served = await serveHandler(
    createHandler({
      authenticator: createAuthenticator({
        mode: "verify",
        audiences: [identity.audience],
        allowedEmails: new Set([identity.email]),
        certsUrl: certs.url,
      }),
      jobs: [job],
      pool: () => pools.get(),
      runTask,
      log,
      now: () => new Date(clock.now()),
    }),
  );
  scheduler = new LocalScheduler({
    jobs: [job],
    url: `${served.url}/`,
    clock,
    token: () => identity.signIdToken(),
  });
  scheduler.start();
});

afterAll(async () => {
  await scheduler?.stop();
  await served?.close();
  await certs?.close();
});

async function runs() {
  const result = await db.pool.query<{
    trigger: string;
    status: string;
    schedule_time: Date | null;
    requested_schedule_time: Date | null;
  }>("SELECT trigger, status, schedule_time, requested_schedule_time FROM scheduler.job_runs ORDER BY id");
  return result.rows;
}

describe("a force run from the local scheduler", () => {
  it("when forced twice before tomorrow's tick (with its time, then with none), then both run as manual runs and the tick still runs", async () => {
    const nextTick = scheduler.schedule.find((entry) => entry.job === TASK)!.next!;
    const withTime = await scheduler.forceRun(TASK, { scheduleTime: "next" });
    expect(withTime.scheduleTime?.toISOString()).toBe(nextTick.toISOString());
    expect(withTime.body).toMatchObject({ status: "succeeded" });
    const without = await scheduler.forceRun(TASK, { scheduleTime: "none" });
    expect(without.scheduleTime).toBeUndefined();
    expect(without.body).toMatchObject({ status: "succeeded" });

    // Tomorrow: the tick fires and is not taken for a duplicate of the force run.
    await clock.advanceTo(nextTick.getTime() + 1_000, async () => {
      await scheduler.settled();
    });
    await scheduler.idle();
    expect(await runs()).toEqual([
      { trigger: "manual", status: "succeeded", schedule_time: null, requested_schedule_time: nextTick },
      { trigger: "manual", status: "succeeded", schedule_time: null, requested_schedule_time: null },
      { trigger: "scheduler", status: "succeeded", schedule_time: nextTick, requested_schedule_time: null },
    ]);
    // The tick did its own day's work: the day before it, in the task's zone (UTC).
    const dayBefore = new Date(nextTick.getTime() - 86_400_000).toISOString().slice(0, 10);
    const stats = await db.pool.query("SELECT stats_date::text AS day FROM daily_order_stats ORDER BY 1");
    expect(stats.rows.map((row) => row.day)).toContain(dayBefore);
  });
});
