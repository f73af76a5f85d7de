/**
 * One run history, every surface that judges ticks: /health's `overdue`, the dead-man's answer
 * (`GET /health?task=` through the function's router), the overdue alert's email, and the CLI's
 * `missed`, `backfill --dry-run` and `replay --dry-run`, on a real database. The history holds a
 * manual repair, a pause that ended and one still in force, a tick still in flight, a failed tick
 * a later success did the work of, and failed ticks still missed: all of them agree on which ticks
 * are missed, held back and in flight, and on which tasks are overdue.
 *
 * Schedules are built around the clock at start (the overdue alert judges at the time it runs), so
 * that every tick and every settle time is minutes away from it: the answers hold however long the
 * file takes.
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { TaskDefinition } from "../functions/core/catalog.js";
import { createPoolProvider } from "../functions/core/db/pool-provider.js";
import { createLogger } from "../functions/core/log.js";
import { readHealth } from "../functions/core/reads/health.js";
import { runTask } from "../functions/core/run/runner.js";
import { resolveJobs } from "../functions/core/schedule/jobs.js";
import { latestSettledTick } from "../functions/core/schedule/tick-rules.js";
import { createEmailRuntime } from "../functions/email/runtime.js";
import { createAuthenticator } from "../functions/gcp/auth.js";
import { createHandler } from "../functions/gcp/router.js";
import type { CertsServer, DevIdentity } from "../scripts/local/dev-identity.js";
import { createDevIdentity, serveCerts } from "../scripts/local/dev-identity.js";
import { runCli } from "./helpers/cli.js";
import { useTestDatabase } from "./helpers/database.js";
import { emailTask, fastRetries, sendGridConfig, useFakeSendGrid } from "./helpers/email.js";
import { call, serveHandler } from "./helpers/function-server.js";

const db = useTestDatabase();
const sendGrid = useFakeSendGrid(db);
const emptyRoot = mkdtempSync(join(tmpdir(), "sj-agree-"));

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const now = new Date();
const minuteOf = (time: number) => new Date(Math.floor(time / MINUTE) * MINUTE);
/** The latest tick of the hourly tasks: 40 to 41 minutes ago, settled 11 minutes after it. */
const t0 = minuteOf(now.getTime() - 40 * MINUTE);
/** The latest tick of the task in flight: 5 to 6 minutes ago, settled 16 minutes after it. */
const t1 = minuteOf(now.getTime() - 5 * MINUTE);
const hourlyAt = (tick: Date) => `${tick.getUTCMinutes()} * * * *`;
const ago = (tick: Date, hours: number) => new Date(tick.getTime() - hours * HOUR);
const iso = (time: Date) => time.toISOString().replace(".000Z", "Z");
/** The counting starts three hours back: the three latest ticks of every task. */
const since = new Date(now.getTime() - 3 * HOUR);

function task(name: string, tick: Date, timeoutSeconds: number, readsTick: boolean): TaskDefinition {
  return {
    name,
    description: `A task of the agreement history (${name}).`,
    kind: "sql",
    schedule: hourlyAt(tick),
    timeoutSeconds,
    retry: { retryCount: 0, minBackoffSeconds: 5, maxBackoffSeconds: 60, maxDoublings: 2 },
    paused: false,
    ...(readsTick ? { readsTick } : {}),
  };
}

/** Each task, what the history gives it, and what every surface must say of it. */
const catalog = [
  // A failed tick, repaired by a manual run after it (its input, its start, is that tick's).
  task("agree-repaired", t0, 600, true),
  // A pause that held two ticks back and ended after the latest.
  task("agree-resumed", t0, 600, false),
  // Its latest tick is still running and not settled; the one before failed.
  task("agree-in-flight", t1, 900, true),
  // Paused now: its ticks since the pause are held back, the one before it missed.
  task("agree-paused-now", t0, 600, false),
  // Does not read its tick: a later success did a failed tick's work; the latest tick never ran.
  task("agree-behind", t0, 600, false),
];
const { jobs, problems } = resolveJobs(catalog);

const expected = {
  missed: {
    "agree-repaired": [ago(t0, 2)],
    "agree-resumed": [ago(t0, 2)],
    "agree-in-flight": [ago(t1, 1)],
    "agree-paused-now": [ago(t0, 2)],
    "agree-behind": [t0],
  },
  heldBack: {
    "agree-repaired": [],
    "agree-resumed": [ago(t0, 1), t0],
    "agree-in-flight": [],
    "agree-paused-now": [ago(t0, 1), t0],
    "agree-behind": [],
  },
  inFlight: { "agree-in-flight": [t1] },
  overdue: ["agree-in-flight", "agree-behind"],
  // The failed ticks still missed; the others a later run did the work of.
  replayed: [
    ["agree-paused-now", ago(t0, 2)],
    ["agree-repaired", ago(t0, 2)],
    ["agree-in-flight", ago(t1, 1)],
  ],
  leftAlone: [
    ["agree-behind", ago(t0, 2)],
    ["agree-repaired", t0],
  ],
} as const;

async function addRun(name: string, status: string, scheduleTime: Date | null, startedAt: Date) {
  await db.pool.query(
    `INSERT INTO scheduler.job_runs (task, trigger, schedule_time, status, started_at, finished_at)
     VALUES ($1, $2, $3, $4, $5::timestamptz, CASE WHEN $4 = 'running' THEN NULL ELSE $5::timestamptz END)`,
    [name, scheduleTime ? "scheduler" : "manual", scheduleTime, status, startedAt],
  );
}

async function addPause(name: string, pausedAt: Date, resumedAt: Date | null) {
  await db.pool.query(
    `INSERT INTO scheduler.task_pauses (task, reason, paused_by, paused_at, resumed_at, resumed_by)
     VALUES ($1, 'agreement', 'alice', $2, $3, CASE WHEN $3::timestamptz IS NULL THEN NULL ELSE 'bob' END)`,
    [name, pausedAt, resumedAt],
  );
}

const second = (tick: Date) => new Date(tick.getTime() + 1000);

/** The one history (the email helper empties the tables before each test). */
async function seed(): Promise<void> {
  await db.pool.query("DELETE FROM scheduler.task_pauses");
  // The history began six hours ago, with a run of a task of another stack.
  await addRun("agree-history", "succeeded", null, new Date(now.getTime() - 6 * HOUR));

  await addRun("agree-repaired", "failed", ago(t0, 2), second(ago(t0, 2)));
  await addRun("agree-repaired", "succeeded", ago(t0, 1), second(ago(t0, 1)));
  await addRun("agree-repaired", "failed", t0, second(t0));
  await addRun("agree-repaired", "succeeded", null, new Date(t0.getTime() + 5 * MINUTE));

  await addPause(
    "agree-resumed",
    new Date(ago(t0, 1).getTime() - 10 * MINUTE),
    new Date(t0.getTime() + 10 * MINUTE),
  );
  await addRun("agree-resumed", "paused", t0, second(t0));

  await addRun("agree-in-flight", "succeeded", ago(t1, 2), second(ago(t1, 2)));
  await addRun("agree-in-flight", "failed", ago(t1, 1), second(ago(t1, 1)));
  await addRun("agree-in-flight", "running", t1, second(t1));

  await addRun("agree-paused-now", "failed", ago(t0, 2), second(ago(t0, 2)));
  await addPause("agree-paused-now", new Date(ago(t0, 1).getTime() - 10 * MINUTE), null);

  await addRun("agree-behind", "failed", ago(t0, 2), second(ago(t0, 2)));
  await addRun("agree-behind", "succeeded", ago(t0, 1), second(ago(t0, 1)));
}

const cli = (args: string[]) =>
  runCli(args, {
    // No stack file: these jobs are the catalog's alone.
    env: { DATABASE_URL: db.url, PULUMI_STACK_FILE: join(emptyRoot, "Pulumi.none.yaml") },
    now,
    root: emptyRoot,
    catalog,
  });
const isos = (times: readonly Date[]) => times.map(iso);

let identity: DevIdentity;
let certs: CertsServer;
let served: { url: string; close(): Promise<void> };
let closePools: () => Promise<void>;

beforeAll(async () => {
  identity = createDevIdentity({ audience: "http://localhost:8080" });
  certs = await serveCerts(identity);
  const log = createLogger({}, () => undefined);
  const pools = createPoolProvider({ kind: "url", connectionString: db.url }, 2, log);
  closePools = () => pools.end();
  served = await serveHandler(
    createHandler({
      authenticator: createAuthenticator({
        mode: "verify",
        audiences: [identity.audience],
        allowedEmails: new Set([identity.email]),
        certsUrl: certs.url,
      }),
      jobs,
      pool: () => pools.get(),
      runTask,
      log,
      now: () => now,
    }),
  );
});

afterAll(async () => {
  await served?.close();
  await closePools?.();
  await certs?.close();
});

describe("one history, every surface", () => {
  it("when the jobs are resolved, then they are sound and each task's latest settled tick is the one the history is built around", () => {
    expect(problems).toEqual([]);
    for (const job of jobs) {
      const latest = latestSettledTick(job, now);
      expect(latest, job.name).toEqual(job.name === "agree-in-flight" ? ago(t1, 1) : t0);
    }
  });

  it("when missed and backfill --dry-run judge each task, then they list the same missed and held-back ticks, and leave the tick in flight out", async () => {
    await seed();
    const missed = await cli(["missed", "--since", iso(since), "--json"]);
    expect(missed.err).toBe("");
    const report = JSON.parse(missed.out) as {
      tasks: { task: string; missed: string[]; heldBack: string[]; inFlight: string[] }[];
    };
    for (const job of jobs) {
      const listed = report.tasks.find((t) => t.task === job.name)!;
      const name = job.name as keyof typeof expected.missed;
      expect(listed.missed, job.name).toEqual(isos(expected.missed[name]));
      expect(listed.heldBack, job.name).toEqual(isos(expected.heldBack[name]));
      expect(listed.inFlight, job.name).toEqual(
        isos(expected.inFlight[name as keyof typeof expected.inFlight] ?? []),
      );
      const dry = await cli(["backfill", job.name, "--since", iso(since), "--dry-run", "--json"]);
      expect(dry.code, dry.err).toBe(0);
      const plan = JSON.parse(dry.out) as { ticks: string[]; heldBack: string[] };
      expect(plan.ticks, job.name).toEqual(listed.missed);
      expect(plan.heldBack, job.name).toEqual(listed.heldBack);
    }
  });

  it("when replay --failed --dry-run judges the failed ticks, then it replays exactly the failed ones missed lists, and says why it leaves the others", async () => {
    await seed();
    const dry = await cli(["replay", "--failed", "--since", iso(since), "--dry-run", "--json"]);
    expect(dry.code, dry.err).toBe(0);
    const plan = JSON.parse(dry.out) as {
      ticks: { task: string; tick: string }[];
      leftAlone: { task: string; tick: string; why: string }[];
    };
    expect(plan.ticks.map((t) => [t.task, t.tick])).toEqual(
      expected.replayed.map(([name, tick]) => [name, iso(tick)]),
    );
    expect(plan.leftAlone.map((t) => [t.task, t.tick])).toEqual(
      expected.leftAlone.map(([name, tick]) => [name, iso(tick)]),
    );
    expect(plan.leftAlone.every((left) => left.why === "a later run did its work")).toBe(true);
    const missed = JSON.parse((await cli(["missed", "--since", iso(since), "--json"])).out) as {
      tasks: { task: string; missed: string[] }[];
    };
    for (const { task: name, tick } of plan.ticks)
      expect(missed.tasks.find((t) => t.task === name)!.missed).toContain(tick);
  });

  it("when /health, the dead-man and the overdue alert judge the tasks, then the overdue ones are exactly those whose latest settled tick missed lists", async () => {
    await seed();
    const missed = JSON.parse((await cli(["missed", "--since", iso(since), "--json"])).out) as {
      tasks: { task: string; missed: string[] }[];
    };
    const byMissed = jobs
      .filter((job) =>
        missed.tasks.find((t) => t.task === job.name)!.missed.includes(iso(latestSettledTick(job, now)!)),
      )
      .map((job) => job.name);
    expect(byMissed).toEqual(expected.overdue);
    const overdue: readonly string[] = byMissed;

    const health = await readHealth(db.pool, now, jobs);
    expect(health.tasks.filter((t) => t.overdue).map((t) => t.task)).toEqual(overdue);
    expect(health.tasks.find((t) => t.task === "agree-paused-now")).toMatchObject({
      paused: true,
      pause: { pausedBy: "alice", reason: "agreement", until: null },
    });

    for (const job of jobs) {
      const answer = await call(`${served.url}/health?task=${job.name}`, { token: identity.signIdToken() });
      expect(answer.status, job.name).toBe(overdue.includes(job.name) ? 503 : 200);
      expect(answer.body.overdue, job.name).toBe(overdue.includes(job.name));
    }

    const runtime = createEmailRuntime({ config: sendGridConfig(sendGrid.fake), ...fastRetries });
    const alert = await runTask(
      { pool: db.pool, jobs, loadEmailHandler: (definition) => runtime.handlerFor(definition) },
      { task: emailTask("alert-failed-runs"), trigger: "manual" },
    );
    expect(alert).toMatchObject({ status: "succeeded" });
    expect(sendGrid.fake.emails).toHaveLength(1);
    expect(sendGrid.fake.emails[0]!.text).toContain(
      `Overdue tasks (their latest tick that should have finished has no success): ${overdue.join(", ")}\n`,
    );
  });
});
