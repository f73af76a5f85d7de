/**
 * /health of the built function, served by functions-framework against the database pg_cron runs
 * its jobs in: a pg_cron run is a run like any other for /health and its overdue rule.
 */
import { readFileSync } from "node:fs";
import type pg from "pg";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { findTask } from "../../functions/core/catalog.js";
import { writeEnvironment } from "../../functions/core/config/environment.js";
import { readHealth } from "../../functions/core/reads/health.js";
import { resolveJobs } from "../../functions/core/schedule/jobs.js";
import { tasks } from "../../functions/core/catalog.js";
import type { CertsServer, DevIdentity } from "../../scripts/local/dev-identity.js";
import { createDevIdentity, serveCerts } from "../../scripts/local/dev-identity.js";
import { pathOf, pgCronSetupFiles } from "../../scripts/generate/pg-cron.js";
import { jobCommand } from "../../scripts/generate/pg-cron-render.js";
import { readTaskSqlFiles } from "../../scripts/generate/sql-files.js";
import { commandAt, jobOf } from "../helpers/jobs.js";
import type { ServedFunction } from "../helpers/built-function.js";
import { buildFunction, serveBuilt } from "../helpers/built-function.js";
import { call } from "../helpers/function-server.js";
import { startAppCluster } from "./app-database.js";
import type { PgCronCluster } from "./cluster.js";

const AUDIENCE = "https://scheduled-tasks-pgcron-uc.a.run.app";
const SCHEDULER = "scheduler@demo-project.iam.gserviceaccount.com";
const TASK = "auto-cancel-unconfirmed-orders";

let cluster: PgCronCluster;
let db: pg.Pool;
let built: Awaited<ReturnType<typeof buildFunction>> | undefined;
let identity: DevIdentity;
let certs: CertsServer | undefined;
let served: ServedFunction | undefined;

beforeAll(async () => {
  ({ cluster, db } = await startAppCluster());
  built = await buildFunction();
  identity = createDevIdentity({ audience: AUDIENCE, email: SCHEDULER });
  certs = await serveCerts(identity);
  served = await serveBuilt(
    built.outDir,
    writeEnvironment({
      // A host name for the URL parser; pg connects to the socket directory named by `host=`.
      DATABASE_URL: cluster.url().replace("postgres@/", "postgres@localhost/"),
      AUTH_AUDIENCE: [AUDIENCE],
      AUTH_ALLOWED_EMAILS: [SCHEDULER],
      AUTH_CERTS_URL: certs.url,
    }),
  );
}, 90_000);

afterAll(async () => {
  await served?.stop();
  await certs?.close();
  built?.remove();
  await db?.end();
  cluster?.stop();
});

/** Runs the task's pg_cron job body as pg_cron would, with its tick at `at`. */
async function runJob(at: Date): Promise<void> {
  const job = jobOf(findTask(TASK)!);
  await db.query(commandAt(jobCommand(job, readTaskSqlFiles()[TASK]!), at));
}

interface TaskAnswer {
  task: string;
  runner: string;
  lastRunAt: string | null;
  lastStatus: string | null;
  lastSuccessAt: string | null;
  overdue: boolean;
}

async function healthOf(task: string): Promise<TaskAnswer> {
  const answer = await call(`${served!.url}/health`, { token: identity.signIdToken() });
  expect(answer.status).toBe(200);
  const found = (answer.body as { tasks: TaskAnswer[] }).tasks.find((t) => t.task === task);
  if (!found) throw new Error(`/health has no ${task}`);
  return found;
}

describe("/health of the built function, for a task pg_cron runs", () => {
  beforeEach(async () => {
    await db.query("SELECT cron.unschedule(jobid) FROM cron.job");
    await db.query("TRUNCATE scheduler.job_runs RESTART IDENTITY");
  });

  it("when pg_cron's last run of the task stood for a tick ten minutes ago, then /health reports that run and the task overdue; after a run for the current tick, not overdue", async () => {
    const now = Date.now();
    await runJob(new Date(now - 10 * 60_000));
    const { rows } = await db.query<{ started_at: Date; trigger: string }>(
      "SELECT started_at, trigger FROM scheduler.job_runs WHERE task = $1",
      [TASK],
    );
    expect(rows).toHaveLength(1);
    expect(rows[0]!.trigger).toBe("pg_cron");
    const stale = await healthOf(TASK);
    expect(stale).toMatchObject({
      lastRunAt: rows[0]!.started_at.toISOString(),
      lastStatus: "succeeded",
      lastSuccessAt: rows[0]!.started_at.toISOString(),
      overdue: true,
    });

    await runJob(new Date(now));
    const fresh = await healthOf(TASK);
    expect(fresh.lastStatus).toBe("succeeded");
    expect(Date.parse(fresh.lastRunAt!)).toBeGreaterThan(Date.parse(stale.lastRunAt!));
    expect(fresh.overdue).toBe(false);
  });

  it("when the task's runner is pg_cron, then the health report names that runner and judges its runs by the same rule", async () => {
    const now = new Date();
    await runJob(new Date(now.getTime() - 10 * 60_000));
    const jobs = resolveJobs(
      tasks.map((t) => (t.name === TASK ? { ...t, runner: "pg_cron" as const } : t)),
    ).jobs;
    let report = await readHealth(db, now, jobs);
    expect(report.tasks.find((t) => t.task === TASK)).toMatchObject({ runner: "pg_cron", overdue: true });
    await runJob(now);
    report = await readHealth(db, now, jobs);
    expect(report.tasks.find((t) => t.task === TASK)).toMatchObject({
      runner: "pg_cron",
      lastStatus: "succeeded",
      overdue: false,
    });
  });
});

describe("/health of the built function, on a database whose pg_cron runs another stack's schedule", () => {
  afterAll(async () => {
    await db.query("SELECT cron.unschedule(jobid) FROM cron.job");
    await db.query("DELETE FROM scheduler.pg_cron_setup");
  });

  it("when the database loaded the dev stack's setup and the function judges by the catalog as written, then /health says attention and names the task pg_cron runs otherwise", async () => {
    await db.query(readFileSync(pathOf(pgCronSetupFiles[0]!.fileName), "utf8"));
    const answer = await call(`${served!.url}/health`, { token: identity.signIdToken() });
    expect(answer.status).toBe(200);
    expect(answer.body).toMatchObject({
      status: "attention",
      pgCronSetup: {
        stack: "dev",
        stackFile: "Pulumi.dev.yaml",
        setupFile: "sql/pg_cron_setup.sql",
        disagreements: [
          "archive-old-orders: pg_cron runs it at `0 4 * * 0` UTC, this stack at `0 3 * * 0` UTC",
        ],
      },
    });
  });
});
