/**
 * One stack, one schedule: the committed setup is rendered for the shipped dev stack, records that
 * stack and its schedules in the database as it loads, and the CLI's `jobs` and `health` read it:
 * silent when they read the stack pg_cron runs, a loud warning (and `health` exit 1) when they read
 * a stack that schedules a pg_cron task otherwise. The served /health is test/pg-cron/health.test.ts.
 */
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readHealth } from "../../functions/core/reads/health.js";
import { pathOf, pgCronSetupFiles } from "../../scripts/generate/pg-cron.js";
import { loadStackJobs } from "../../scripts/lib/jobs.js";
import { ROOT } from "../../scripts/local/local-stack.js";
import { runCli } from "../helpers/cli.js";
import { startAppCluster } from "./app-database.js";
import type { PgCronCluster } from "./cluster.js";

const setupFile = readFileSync(pathOf(pgCronSetupFiles[0]!.fileName), "utf8");
const root = mkdtempSync(join(tmpdir(), "sj-pg-cron-stack-"));
/** A second stack that runs archive-old-orders at another hour than the dev stack (0 4 * * 0). */
const staging = join(root, "Pulumi.staging.yaml");
writeFileSync(
  staging,
  [
    "config:",
    "  scheduled-jobs:taskOverrides:",
    "    archive-old-orders:",
    '      schedule: "0 6 * * 0"',
    "",
  ].join("\n"),
);
const now = new Date("2026-12-07T06:30:00Z");

let cluster: PgCronCluster;
let db: pg.Pool;

beforeAll(async () => {
  ({ cluster, db } = await startAppCluster());
  await db.query(setupFile);
}, 60_000);

afterAll(async () => {
  await db?.end();
  cluster?.stop();
});

function cli(args: string[], stackFile: string) {
  return runCli(args, {
    // A host name for the URL parser; pg connects to the socket directory named by `host=`.
    env: {
      DATABASE_URL: cluster.url().replace("postgres@/", "postgres@localhost/"),
      PULUMI_STACK_FILE: stackFile,
    },
    root,
    now,
  });
}

describe("the stack a database's pg_cron was set up for", () => {
  it("when the committed setup loads, then the database records the dev stack and each job's schedule in the stack's terms", async () => {
    const { rows } = await db.query(
      "SELECT stack, stack_file, setup_file, scope, jobs, loaded_by FROM scheduler.pg_cron_setup",
    );
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({
      stack: "dev",
      stack_file: "Pulumi.dev.yaml",
      setup_file: "sql/pg_cron_setup.sql",
      scope: "all-sql",
      loaded_by: "postgres",
    });
    expect(rows[0].jobs).toContainEqual({
      task: "archive-old-orders",
      schedule: "0 4 * * 0",
      timeZone: "UTC",
      paused: false,
    });
    // pg_cron itself runs the dev stack's schedule, which the record says.
    const cron = await db.query("SELECT schedule FROM cron.job WHERE jobname = 'archive-old-orders'");
    expect(cron.rows).toEqual([{ schedule: "0 4 * * 0" }]);
  });

  it("when the CLI reads the dev stack, then `jobs` and `health` say nothing of pg_cron's setup", async () => {
    const dev = join(ROOT, "Pulumi.dev.yaml");
    const jobs = await cli(["jobs"], dev);
    const health = await cli(["health"], dev);
    expect(jobs.err).not.toContain("WARNING");
    expect(health.err).not.toContain("WARNING");
    expect(health.out).not.toContain("pg_cron's setup");
    const json = JSON.parse((await cli(["health", "--json"], dev)).out) as {
      pgCronSetup: { stack: string; disagreements: string[] };
    };
    expect(json.pgCronSetup).toMatchObject({ stack: "dev", disagreements: [] });
  });

  it("when the CLI reads another stack that schedules a pg_cron task otherwise, then `jobs` and `health` warn loudly, and `health` exits 1", async () => {
    const expected = [
      'WARNING: pg_cron in this database runs the setup rendered for stack "dev" (Pulumi.dev.yaml)',
      'set up for stack "dev", while this reads stack "staging"',
      "archive-old-orders: pg_cron runs it at `0 4 * * 0` UTC, this stack at `0 6 * * 0` UTC",
      `judged by ${staging}, not by what pg_cron runs`,
    ];
    const jobs = await cli(["jobs"], staging);
    const jobsJson = await cli(["jobs", "--json"], staging);
    const health = await cli(["health"], staging);
    for (const result of [jobs, jobsJson, health]) {
      for (const part of expected) expect(result.err).toContain(part);
    }
    expect(jobs.code).toBe(0);
    expect(health.code).toBe(1);
    expect(health.out).toMatch(/needs attention: .*pg_cron's setup/);
    expect(
      (JSON.parse(jobsJson.out) as { pgCronSetup: { disagreements: string[] } }).pgCronSetup.disagreements,
    ).toHaveLength(2);
  });

  it("when /health's report judges by a stack that disagrees, then it carries the setup and its disagreements and says attention", async () => {
    const report = await readHealth(db, now, loadStackJobs(staging));
    expect(report.status).toBe("attention");
    expect(report.pgCronSetup).toMatchObject({
      stack: "dev",
      setupFile: "sql/pg_cron_setup.sql",
      disagreements: [
        "archive-old-orders: pg_cron runs it at `0 4 * * 0` UTC, this stack at `0 6 * * 0` UTC",
      ],
    });
  });
});
