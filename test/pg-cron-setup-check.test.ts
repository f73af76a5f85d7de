/**
 * The one comparison of the pg_cron setup a database was loaded with (scheduler.pg_cron_setup)
 * with the jobs a reader judges the history by: the dev stack's own setup agrees with the dev
 * stack; another stack, another schedule, pause or runner is named, one sentence each.
 */
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { tasks } from "../functions/core/catalog.js";
import type { PgCronSetup } from "../functions/core/reads/pg-cron-setup.js";
import {
  checkPgCronSetup,
  pgCronSetupDisagreements,
  pgCronSetupWarning,
} from "../functions/core/reads/pg-cron-setup.js";
import { loadStackJobs } from "../scripts/lib/jobs.js";
import { ROOT } from "../scripts/local/local-stack.js";
import { jobsOf } from "./helpers/jobs.js";

const dev = loadStackJobs(join(ROOT, "Pulumi.dev.yaml"));

/** The record the dev stack's committed setup writes as it loads. */
function setupOf(jobs = dev, scope: PgCronSetup["scope"] = "all-sql"): PgCronSetup {
  return {
    stack: "dev",
    stackFile: "Pulumi.dev.yaml",
    setupFile: "sql/pg_cron_setup.sql",
    scope,
    jobs: jobs
      .filter((job) => job.kind === "sql" && (scope === "all-sql" || job.runner === "pg_cron"))
      .map((job) => ({ task: job.name, schedule: job.schedule, timeZone: job.timeZone, paused: job.paused })),
    loadedAt: new Date("2026-12-07T05:00:00Z"),
    loadedBy: "delivery_app",
  };
}

describe("the pg_cron setup against the stack a reader reads", () => {
  it("when the reader reads the stack the setup was rendered for, then they agree", () => {
    expect(pgCronSetupDisagreements(setupOf(), dev, "dev")).toEqual([]);
    expect(pgCronSetupDisagreements(setupOf(), dev)).toEqual([]);
    expect(pgCronSetupWarning(checkPgCronSetup(setupOf(), dev, "dev"), "Pulumi.dev.yaml")).toBeUndefined();
  });

  it("when the reader judges by the catalog as written (0 3 * * 0) a database set up for the dev stack (0 4 * * 0), then it names the task and both schedules", () => {
    expect(pgCronSetupDisagreements(setupOf(), jobsOf(tasks))).toEqual([
      "archive-old-orders: pg_cron runs it at `0 4 * * 0` UTC, this stack at `0 3 * * 0` UTC",
    ]);
  });

  it("when the reader reads another stack, then the stack's name is a disagreement even where the schedules agree", () => {
    expect(pgCronSetupDisagreements(setupOf(), dev, "prod")).toEqual([
      'set up for stack "dev", while this reads stack "prod"',
    ]);
  });

  it("when a pause or a runner differs, then each is named; a task the reader does not list is not judged", () => {
    const paused = dev.map((job) => (job.name === "generate-daily-stats" ? { ...job, paused: true } : job));
    expect(pgCronSetupDisagreements(setupOf(), paused)).toEqual([
      "generate-daily-stats: pg_cron's job is active, this stack's paused",
    ]);
    const toPgCron = dev.map((job) =>
      job.name === "purge-run-history" ? { ...job, runner: "pg_cron" as const } : job,
    );
    const hybrid = setupOf(dev, "pg_cron-runner");
    expect(hybrid.jobs).toEqual([]);
    expect(pgCronSetupDisagreements(hybrid, toPgCron)).toEqual([
      "purge-run-history: this stack gives it to pg_cron, whose setup does not schedule it",
    ]);
    expect(pgCronSetupDisagreements(setupOf(toPgCron, "pg_cron-runner"), dev)).toEqual([
      "purge-run-history: the setup gives it to pg_cron, this stack to its cloud's scheduler",
    ]);
    expect(
      pgCronSetupDisagreements(
        setupOf(),
        dev.filter((job) => job.name === "driver-inactivity-check"),
      ),
    ).toEqual([]);
  });

  it("when they disagree, then the warning says which setup, loaded when and by whom, each difference, and what to do", () => {
    const warning = pgCronSetupWarning(checkPgCronSetup(setupOf(), jobsOf(tasks), "catalog"), "the catalog")!;
    expect(warning.split("\n")).toEqual([
      'WARNING: pg_cron in this database runs the setup rendered for stack "dev" (Pulumi.dev.yaml) (sql/pg_cron_setup.sql, loaded 2026-12-07T05:00:00.000Z by delivery_app), which disagrees with the catalog:',
      '  - set up for stack "dev", while this reads stack "catalog"',
      "  - archive-old-orders: pg_cron runs it at `0 4 * * 0` UTC, this stack at `0 3 * * 0` UTC",
      "Overdue and next runs here are judged by the catalog, not by what pg_cron runs. Load the setup rendered for this stack (docs/pg-cron.md), or read the stack the database was set up for.",
    ]);
  });
});
