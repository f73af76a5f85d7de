/**
 * `plan`'s drift against pg_cron's own `cron.job`, on a cluster with pg_cron: the setup the
 * generator renders for the stack's jobs, loaded, is no drift; a job changed, added by hand,
 * removed or left over from an earlier setup is named; and a database that loaded the setup of
 * every SQL task runs the stack's Cloud Scheduler tasks too (both runners).
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type pg from "pg";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { TaskDefinition } from "../../functions/core/catalog.js";
import { tasks } from "../../functions/core/catalog.js";
import type { PgCronScope } from "../../scripts/generate/pg-cron-render.js";
import { JOB_MARKER, PURGE_JOB_NAME, renderPgCronSetup } from "../../scripts/generate/pg-cron-render.js";
import { readTaskSqlFiles } from "../../scripts/generate/sql-files.js";
import { stackJobs } from "../../scripts/lib/jobs.js";
import type { DriftReport, PgCronDrift } from "../../scripts/plan/drift.js";
import type { PlanReport } from "../../scripts/plan/plan.js";
import { runCli } from "../helpers/cli.js";
import { startAppCluster } from "./app-database.js";
import type { PgCronCluster } from "./cluster.js";

const STACK = "Pulumi.dev.yaml";
const PG_CRON_TASK = "cleanup-expired-sessions";
/** The dev stack's catalog with one task given to pg_cron: the hybrid. */
const catalog: readonly TaskDefinition[] = tasks.map((task) =>
  task.name === PG_CRON_TASK ? { ...task, runner: "pg_cron" as const } : task,
);
const jobs = stackJobs(STACK, catalog).jobs;
const root = mkdtempSync(join(tmpdir(), "sj-plan-pg-cron-"));

let cluster: PgCronCluster;
let db: pg.Pool;

beforeAll(async () => {
  ({ cluster, db } = await startAppCluster());
}, 60_000);

afterAll(async () => {
  await db?.end();
  cluster?.stop();
});

beforeEach(async () => {
  await db.query("SELECT cron.unschedule(jobid) FROM cron.job");
});

async function load(scope: PgCronScope): Promise<void> {
  await db.query(
    renderPgCronSetup(jobs, readTaskSqlFiles(), { scope, fileName: "test.sql", generateCommand: "test" }),
  );
}

async function plan(): Promise<PlanReport> {
  const result = await runCli(["plan", "--stack", STACK, "--json", "--read-only"], {
    // A host name for the URL parser; pg connects to the socket directory named by `host=`.
    env: { DATABASE_URL: cluster.url().replace("postgres@/", "postgres@localhost/") },
    root,
    now: new Date("2026-12-07T06:00:00Z"),
    catalog,
  });
  expect(result.err).toBe("");
  return JSON.parse(result.out) as PlanReport;
}

const pgCronOf = (report: PlanReport): PgCronDrift => (report.drift as DriftReport).pgCron as PgCronDrift;

describe("plan's pg_cron drift", () => {
  it("when the hybrid setup for the stack is loaded, then nothing is to add, change or remove", async () => {
    await load("pg_cron-runner");
    const report = await plan();
    expect(pgCronOf(report)).toEqual({
      installed: true,
      setupFile: "sql/pg_cron_setup_hybrid.sql",
      add: [],
      change: [],
      remove: [],
      foreign: [],
      runs: [PG_CRON_TASK],
    });
    expect(report.calendar.find((e) => e.task === PG_CRON_TASK)!.runners).toEqual(["pg_cron"]);
    expect(report.warnings.filter((w) => w.kind === "drift" || w.kind === "both-runners")).toEqual([]);
  });

  it("when jobs were changed, added by hand, removed or left from an earlier setup, then each is named and foreign ones are left alone", async () => {
    await load("pg_cron-runner");
    await db.query(`SELECT cron.alter_job(jobid, schedule := '0 5 * * 0') FROM cron.job WHERE jobname = $1`, [
      PG_CRON_TASK,
    ]);
    await db.query(`SELECT cron.unschedule($1)`, [PURGE_JOB_NAME]);
    await db.query(`SELECT cron.schedule('vacuum-nightly', '0 3 * * *', 'VACUUM')`);
    await db.query(`SELECT cron.schedule('retired-task', '0 6 * * *', $1)`, [
      `${JOB_MARKER} retired-task\nSELECT 1`,
    ]);
    const report = await plan();
    expect(pgCronOf(report)).toMatchObject({
      add: [PURGE_JOB_NAME],
      change: [{ job: PG_CRON_TASK, fields: ["schedule"] }],
      remove: ["retired-task"],
      foreign: [{ job: "vacuum-nightly", schedule: "0 3 * * *" }],
    });
    const [drift] = report.warnings.filter((w) => w.kind === "drift");
    expect(drift!.cause).toBe(
      `pg_cron's jobs are not what sql/pg_cron_setup_hybrid.sql schedules for this stack: to add ${PURGE_JOB_NAME}; to change ${PG_CRON_TASK} (schedule); to remove retired-task`,
    );
  });

  it("when the database loaded the setup of every SQL task, then the stack's Cloud Scheduler SQL tasks run from both, and that is a warning", async () => {
    await load("all-sql");
    const report = await plan();
    expect(pgCronOf(report)).toMatchObject({
      setupFile: "sql/pg_cron_setup.sql",
      add: [],
      change: [],
      remove: [],
    });
    expect(report.calendar.find((e) => e.task === "auto-cancel-unconfirmed-orders")!.runners).toEqual([
      "Cloud Scheduler",
      "pg_cron",
    ]);
    expect(report.calendar.find((e) => e.task === "send-order-confirmations")!.runners).toEqual([
      "Cloud Scheduler",
    ]);
    const both = report.warnings.filter((w) => w.kind === "both-runners").map((w) => w.tasks[0]);
    expect(both).toEqual(jobs.filter((j) => j.kind === "sql" && j.runner === "cloud").map((j) => j.name));
  });
});
