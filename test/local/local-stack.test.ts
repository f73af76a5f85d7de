import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { tasks } from "../../functions/core/catalog.js";
import { previousFireTime } from "../../functions/core/schedule/fire-times.js";
import { resolveJobs } from "../../functions/core/schedule/jobs.js";
import type { Attempt } from "../../scripts/local/local-scheduler.js";
import { ManualClock } from "../helpers/manual-clock.js";
import type { LocalStack } from "../../scripts/local/local-stack.js";
import { prepareDatabase, ROOT, startLocalStack } from "../../scripts/local/local-stack.js";
import { writeLocalState } from "../../scripts/local/local-state.js";
import { main } from "../../scripts/cli.js";
import { runCli } from "../helpers/cli.js";
import { useTestDatabase } from "../helpers/database.js";

const db = useTestDatabase();
let stack: LocalStack;
let clock: ManualClock;
const attempts: Attempt[] = [];
const functionLog: string[] = [];

function cli(args: string[]) {
  return runCli(args, { env: { DATABASE_URL: db.url }, root: mkdtempSync(join(tmpdir(), "sj-cli-")) });
}

// Inside the project, as npm start's: the bundle resolves its external packages from node_modules.
const functionDir = join(ROOT, ".data", `test-function-${process.pid}`);

beforeAll(async () => {
  const prepared = await prepareDatabase(db.url, true);
  expect(prepared).toEqual({ createdAppSchema: false, migrationsApplied: [], demoDataLoaded: true });
  // Half a minute past a five-minute mark: the next tick (xx:x1) fires only the every-minute jobs,
  // so driver-inactivity-check (every 5 minutes) cannot run before the CLI's dry run of it below.
  // Five minutes back, so every tick this clock fires is in the past for the function's real clock
  // (a tick ahead of its arrival would be a force run's, run as a manual run).
  clock = new ManualClock(Math.floor(Date.now() / 300_000) * 300_000 - 300_000 + 30_000);
  stack = await startLocalStack({
    databaseUrl: db.url,
    functionPort: 0,
    consolePort: 0,
    functionDir,
    jobs: resolveJobs(tasks).jobs,
    clock,
    onAttempt: (attempt) => attempts.push(attempt),
    onFunctionLog: (line) => functionLog.push(line),
  });
}, 90_000);

afterAll(async () => {
  await stack?.stop();
  rmSync(functionDir, { recursive: true, force: true });
});

describe("npm start's pieces together", () => {
  it("when the first minute passes, then auto-cancel fires through the built function, cancels the stale demo order, and history shows the run", async () => {
    const nextMinute = Math.ceil((clock.now() + 1) / 60_000) * 60_000;
    await clock.advanceTo(nextMinute, () => stack.scheduler!.settled());
    const fired = attempts.find((a) => a.job === "auto-cancel-unconfirmed-orders");
    expect(fired).toMatchObject({ status: 200, ok: true, attempt: 1 });
    expect(fired!.body).toMatchObject({ status: "succeeded", rowsAffected: 1 });

    const orders = await db.pool.query<{ status: string; cancellation_reason: string | null }>(
      "SELECT status, cancellation_reason FROM orders WHERE placed_at < now() - interval '40 minutes' AND placed_at > now() - interval '50 minutes'",
    );
    expect(orders.rows.map((r) => r.status)).toEqual(["cancelled"]);

    const history = await cli(["history", "auto-cancel-unconfirmed-orders", "--json"]);
    expect(history.code).toBe(0);
    const runs = JSON.parse(history.out).runs;
    expect(runs[0]).toMatchObject({
      task: "auto-cancel-unconfirmed-orders",
      trigger: "scheduler",
      status: "succeeded",
      rowsAffected: 1,
      scheduleTime: new Date(nextMinute).toISOString(),
      jobName: "projects/local-dev/locations/local/jobs/auto-cancel-unconfirmed-orders",
    });
    // The function's own structured log says what ran.
    expect(functionLog.some((line) => /auto-cancel-unconfirmed-orders: succeeded, 1 rows/.test(line))).toBe(
      true,
    );
  });

  it("when the same tick is delivered again, then the function answers duplicate and nothing runs twice", async () => {
    const scheduleTime = attempts.find((a) => a.job === "auto-cancel-unconfirmed-orders")!.scheduleTime;
    const response = await fetch(`${stack.functionUrl}/`, {
      method: "POST",
      headers: {
        authorization: `Bearer ${stack.token()}`,
        "content-type": "application/json",
        "x-cloudscheduler-jobname": "projects/local-dev/locations/local/jobs/auto-cancel-unconfirmed-orders",
        "x-cloudscheduler-scheduletime": scheduleTime.toISOString(),
      },
      body: JSON.stringify({ task: "auto-cancel-unconfirmed-orders" }),
    });
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ status: "duplicate" });
  });

  it("when the CLI finds the local stack, then `run` goes through the function, and a slot that succeeded is a duplicate", async () => {
    const root = mkdtempSync(join(tmpdir(), "sj-cli-local-"));
    writeLocalState(
      {
        pid: process.pid,
        databaseUrl: stack.databaseUrl,
        functionUrl: stack.functionUrl,
        consoleUrl: stack.consoleUrl,
        startedAt: new Date().toISOString(),
      },
      root,
    );
    const run = async (args: string[]) => {
      const out: string[] = [];
      const err: string[] = [];
      const code = await main(args, {
        env: {},
        out: (t) => out.push(t),
        err: (t) => err.push(t),
        now: () => new Date(),
        root,
      });
      return { code, out: out.join("\n"), err: err.join("\n") };
    };
    const dry = await run(["run", "driver-inactivity-check", "--dry-run"]);
    expect(dry.code).toBe(0);
    expect(dry.err).toContain(`through the local function at ${stack.functionUrl}`);
    expect(dry.out).toMatch(
      /driver-inactivity-check: succeeded, 1 rows would change \(dry run, nothing changed\)/,
    );

    const slot = attempts.find((a) => a.job === "auto-cancel-unconfirmed-orders")!.scheduleTime.toISOString();
    const again = await run(["run", "auto-cancel-unconfirmed-orders", "--slot", slot]);
    expect(again.code).toBe(0);
    expect(again.out).toMatch(/this schedule time already succeeded in run \d+; nothing done/);

    const token = await run(["token"]);
    expect(token.code).toBe(0);
    const answer = await fetch(`${stack.functionUrl}/health`, {
      headers: { authorization: `Bearer ${token.out}` },
    });
    expect(answer.status).toBe(200);
  });

  it("when the CLI finds the local stack, then `backfill` and `run --slot` send each tick through the function as the operator's backfill of it, in order, and a rerun sends none", async () => {
    const root = mkdtempSync(join(tmpdir(), "sj-cli-local-"));
    writeLocalState(
      {
        pid: process.pid,
        databaseUrl: stack.databaseUrl,
        functionUrl: stack.functionUrl,
        consoleUrl: stack.consoleUrl,
        startedAt: new Date().toISOString(),
      },
      root,
    );
    const now = new Date();
    const since = new Date(now.getTime() - 3 * 86_400_000).toISOString();
    // The run history begins three days back (a run of another task): ticks since then count as missed.
    await db.pool.query(
      "INSERT INTO scheduler.job_runs (task, trigger, status, started_at, finished_at) VALUES ('purge-run-history', 'cli', 'succeeded', $1, $1)",
      [since],
    );
    const backfill = async () => {
      const out: string[] = [];
      const code = await main(["backfill", "generate-daily-stats", "--since", since, "--json"], {
        env: {},
        out: (t) => out.push(t),
        err: (t) => out.push(t),
        now: () => now,
        root,
      });
      return {
        code,
        report: JSON.parse(out.join("\n")) as { via: string; ticks: string[]; runs: unknown[] },
      };
    };
    const first = await backfill();
    expect(first.code).toBe(0);
    expect(first.report.via).toBe(`through the local function at ${stack.functionUrl}`);
    expect(first.report.ticks.length).toBeGreaterThanOrEqual(2);
    const ran = await db.pool.query<{ schedule_time: Date; trigger: string; status: string }>(
      "SELECT schedule_time, trigger, status FROM scheduler.job_runs WHERE task = 'generate-daily-stats' AND schedule_time = ANY($1::timestamptz[]) ORDER BY id",
      [first.report.ticks],
    );
    expect(ran.rows).toEqual(
      first.report.ticks.map((tick) => ({
        schedule_time: new Date(tick),
        trigger: "backfill",
        status: "succeeded",
      })),
    );
    const again = await backfill();
    expect(again.code).toBe(0);
    expect(again.report.runs).toEqual([]);

    // One tick before the backfill's range, run by hand through the function: a backfill too.
    const stats = resolveJobs(tasks).jobs.find((job) => job.name === "generate-daily-stats")!;
    const before = previousFireTime(stats, new Date(Date.parse(since) - 1))!;
    const out: string[] = [];
    const slot = await main(["run", "generate-daily-stats", "--slot", before.toISOString()], {
      env: {},
      out: (t) => out.push(t),
      err: (t) => out.push(t),
      now: () => now,
      root,
    });
    expect(slot, out.join("\n")).toBe(0);
    expect(out.join("\n")).toContain("through the local function");
    const slotRun = await db.pool.query(
      "SELECT trigger, status FROM scheduler.job_runs WHERE task = 'generate-daily-stats' AND schedule_time = $1",
      [before],
    );
    expect(slotRun.rows).toEqual([{ trigger: "backfill", status: "succeeded" }]);
  });

  it("when npm start is given no SendGrid key, then it chooses the local mailbox explicitly and an email task runs", async () => {
    expect(functionLog.join("\n")).toContain("EMAIL_TRANSPORT=local-mailbox: the email tasks send nothing");
    const root = mkdtempSync(join(tmpdir(), "sj-cli-local-"));
    writeLocalState(
      {
        pid: process.pid,
        databaseUrl: stack.databaseUrl,
        functionUrl: stack.functionUrl,
        consoleUrl: stack.consoleUrl,
        startedAt: new Date().toISOString(),
      },
      root,
    );
    const out: string[] = [];
    const code = await main(["run", "send-order-confirmations"], {
      env: {},
      out: (t) => out.push(t),
      err: (t) => out.push(t),
      now: () => new Date(),
      root,
    });
    expect(out.join("\n")).toMatch(/send-order-confirmations: (succeeded|skipped)/);
    expect(code).toBe(0);
  });

  it("when the dashboard is asked for, then the function wants a token and the local console adds one", async () => {
    expect((await fetch(`${stack.functionUrl}/dashboard`)).status).toBe(401);
    const page = await fetch(`${stack.consoleUrl}/dashboard`);
    expect(page.status).toBe(200);
    expect(page.headers.get("content-type")).toMatch(/^text\/html/);
    expect(await page.text()).toContain("<title>Scheduled jobs</title>");
    const runs = await fetch(`${stack.consoleUrl}/runs?limit=5`);
    expect(runs.status).toBe(200);
    expect(((await runs.json()) as { runs: unknown[] }).runs.length).toBeGreaterThan(0);
    const health = (await (await fetch(`${stack.consoleUrl}/health`)).json()) as { tasks: unknown[] };
    expect(health.tasks).toHaveLength(tasks.length);
  });

  it("when the console is reached under another host name, then it refuses (no token for a rebinding page)", async () => {
    const { request } = await import("node:http");
    const status = await new Promise<number>((resolve, reject) => {
      const url = new URL(`${stack.consoleUrl}/token`);
      const req = request(
        {
          host: url.hostname,
          port: url.port,
          path: "/token",
          method: "POST",
          headers: { host: "attacker.example:80" },
        },
        (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        },
      );
      req.on("error", reject);
      req.end();
    });
    expect(status).toBe(403);
    const minted = await fetch(`${stack.consoleUrl}/token`, { method: "POST" });
    expect(minted.status).toBe(200);
    expect(((await minted.json()) as { token: string }).token.split(".")).toHaveLength(3);
  });

  it("when the database is prepared again (the next npm start), then nothing is recreated or reloaded", async () => {
    expect(await prepareDatabase(db.url, true)).toEqual({
      createdAppSchema: false,
      migrationsApplied: [],
      demoDataLoaded: false,
    });
    const restaurants = await db.pool.query("SELECT count(*)::int AS n FROM restaurants");
    expect(restaurants.rows[0].n).toBe(3);
  });

  it("when the stack stops, then the function and the console no longer answer", async () => {
    const { functionUrl, consoleUrl } = stack;
    await stack.stop();
    await expect(fetch(`${functionUrl}/health`)).rejects.toThrow();
    await expect(fetch(`${consoleUrl}/dashboard`)).rejects.toThrow();
  });
});
