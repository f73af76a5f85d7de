/**
 * The stack's configuration, validated before anything is created: every mistake an operator can
 * make in `pulumi config` fails the program with a message that names the key and the fix.
 */
import { readFileSync } from "node:fs";
import { load } from "js-yaml";
import { describe, expect, it } from "vitest";
import type { TaskDefinition } from "../../functions/core/catalog.js";
import { tasks } from "../../functions/core/catalog.js";
import type { RawConfig } from "../../infra/config.js";
import { StackConfigError } from "../../infra/config.js";
import { CONFIG_KEYS, functionTimeoutSeconds, resolveConfig } from "../../infra/gcp/config.js";
import { longestIntervalSeconds } from "../../functions/core/schedule/fire-times.js";

const valid: RawConfig = {
  project: "p",
  region: "europe-west1",
  alertEmail: "ops@example.com",
  mailFrom: "no-reply@example.com",
  database: { create: true, databaseName: "delivery_app" },
  httpTargets: { "app-backend": { url: "https://app-backend.example" } },
};

function problemsOf(raw: RawConfig, catalog?: readonly TaskDefinition[]): string {
  try {
    resolveConfig(raw, catalog);
  } catch (error) {
    expect(error).toBeInstanceOf(StackConfigError);
    return (error as Error).message;
  }
  throw new Error("the configuration was accepted");
}

describe("task overrides", () => {
  it.each([
    [
      "a bad cron",
      { "auto-cancel-unconfirmed-orders": { schedule: "61 * * * *" } },
      /auto-cancel-unconfirmed-orders.*"61 \* \* \* \*".*minute/,
    ],
    [
      "a 6-field cron",
      { "auto-cancel-unconfirmed-orders": { schedule: "0 * * * * *" } },
      /must have exactly five fields/,
    ],
    ["a nickname", { "generate-daily-stats": { schedule: "@daily" } }, /must have exactly five fields/],
    [
      "a croner extension Cloud Scheduler does not take",
      { "generate-daily-stats": { schedule: "0 0 L * *" } },
      /day of the month "L" is not a number/,
    ],
    [
      "a deadline below the task's own timeout",
      { "archive-old-orders": { attemptDeadlineSeconds: 600 } },
      /attempt deadline 600 s is below the task's timeout of 900 s/,
    ],
    [
      "an unknown time zone",
      { "generate-daily-stats": { timeZone: "Mars/Olympus_Mons" } },
      /"Mars\/Olympus_Mons" is not an IANA time zone/,
    ],
    [
      "an unknown task",
      { "cancel-everything": { paused: true } },
      /unknown task "cancel-everything" \(known: auto-cancel-unconfirmed-orders, /,
    ],
    [
      "a deadline beyond 30 minutes",
      { "archive-old-orders": { attemptDeadlineSeconds: 1801 } },
      /deadline 1801 s is outside Cloud Scheduler's 15\.\.1800 s/,
    ],
    [
      "a deadline under 15 s",
      { "archive-old-orders": { attemptDeadlineSeconds: 14 } },
      /deadline 14 s is outside/,
    ],
    [
      "an unknown field",
      { "archive-old-orders": { retries: 3 } },
      /archive-old-orders\.retries is not an override/,
    ],
    [
      "a paused that is not a boolean",
      { "archive-old-orders": { paused: "yes" } },
      /paused must be true or false/,
    ],
  ])("when an override has %s, then the program fails naming it", (_what, taskOverrides, message) => {
    expect(problemsOf({ ...valid, taskOverrides })).toMatch(message);
  });

  it("when several overrides are wrong, then one error lists every problem", () => {
    const message = problemsOf({
      ...valid,
      taskOverrides: { nope: {}, "archive-old-orders": { schedule: "bad", attemptDeadlineSeconds: 5000 } },
    });
    expect(message).toMatch(/unknown task "nope"/);
    expect(message).toMatch(/schedule "bad"/);
    expect(message).toMatch(/deadline 5000 s/);
  });

  it("when a catalog task's own timeout exceeds Cloud Scheduler's limit, then the program fails", () => {
    const catalog = [{ ...tasks[0], timeoutSeconds: 2400 }] as TaskDefinition[];
    expect(problemsOf(valid, catalog)).toMatch(/deadline 2400 s is outside/);
  });

  it("when a task is run by pg_cron, then it gets no Cloud Scheduler job and cannot be overridden here", () => {
    const catalog: TaskDefinition[] = [
      { ...tasks[0], name: "in-database", runner: "pg_cron" },
      { ...tasks[1] },
    ];
    const jobs = resolveConfig(valid, catalog).jobs;
    expect(jobs.map((job) => job.name)).toEqual([tasks[1].name]);
    expect(problemsOf({ ...valid, taskOverrides: { "in-database": { paused: true } } }, catalog)).toMatch(
      /"in-database" is scheduled by pg_cron/,
    );
  });

  it("when pulumi config set --path stored booleans and numbers as strings, then they are read as such", () => {
    const config = resolveConfig({
      ...valid,
      database: { create: "true", databaseName: "d", deletionProtection: "false" },
      taskOverrides: { "archive-old-orders": { paused: "true", attemptDeadlineSeconds: "1200" } },
      function: { maxInstances: "5" },
    });
    const archive = config.jobs.find((job) => job.name === "archive-old-orders");
    expect(archive).toMatchObject({ paused: true, attemptDeadlineSeconds: 1200 });
    expect(config.database).toMatchObject({ mode: "create", deletionProtection: false });
    expect(config.function.maxInstances).toBe(5);
  });

  it("when the stack sets a default time zone, then tasks without their own zone are read in it", () => {
    const config = resolveConfig({ ...valid, defaultTimeZone: "America/New_York" });
    expect(new Set(config.jobs.map((job) => job.timeZone))).toEqual(new Set(["America/New_York"]));
  });
});

describe("the rest of the configuration", () => {
  it("when the required keys are missing, then the error names each with the command to set it", () => {
    const message = problemsOf({});
    for (const key of [
      "gcp:project",
      "gcp:region",
      "scheduled-jobs:alertEmail",
      "scheduled-jobs:mailFrom",
      "scheduled-jobs:database",
    ]) {
      expect(message).toContain(key);
    }
    expect(message).toMatch(/pulumi config set gcp:project/);
  });

  it.each([
    [
      "both create and a connection name",
      { create: true, connectionName: "a:b:c", databaseName: "d" },
      /either "create": true or "connectionName"/,
    ],
    [
      "a malformed connection name",
      { connectionName: "just-a-name", databaseName: "d" },
      /must be project:region:instance/,
    ],
    [
      "a shared-core tier on Enterprise Plus",
      { create: true, databaseName: "d", tier: "db-f1-micro", edition: "ENTERPRISE_PLUS" },
      /shared-core/,
    ],
    ["no database name", { create: true }, /databaseName is required/],
    [
      "a connection name the function refuses (an underscore in the project)",
      { connectionName: "shared_prod:europe-west1:orders-db", databaseName: "d" },
      /scheduled-jobs:database\.connectionName "shared_prod:europe-west1:orders-db" would be refused by the function \(INSTANCE_CONNECTION_NAME\): INSTANCE_CONNECTION_NAME must look like/,
    ],
    [
      "a blank database name, which the function reads as unset",
      { create: true, databaseName: "   " },
      /scheduled-jobs:database\.databaseName "" would be refused by the function \(DB_NAME\)/,
    ],
  ])("when the database config has %s, then the program fails", (_what, database, message) => {
    expect(problemsOf({ ...valid, database })).toMatch(message);
  });

  it.each([
    [
      "concurrency above 1 without a whole vCPU",
      { concurrency: 4 },
      /needs scheduled-jobs:function.cpu of at least "1"/,
    ],
    ["an unknown ingress", { ingress: "PUBLIC" }, /ingress "PUBLIC" must be one of/],
    ["a name too long for a run.app label", { name: "x".repeat(60) }, /function.name/],
    ["an unknown setting", { timeout: 60 }, /function.timeout is not a setting/],
  ])("when the function config has %s, then the program fails", (_what, fn, message) => {
    expect(problemsOf({ ...valid, function: fn })).toMatch(message);
  });

  it("when concurrency above 1 comes with a whole vCPU, then it is accepted", () => {
    expect(resolveConfig({ ...valid, function: { concurrency: 4, cpu: "1" } }).function.concurrency).toBe(4);
  });

  it("when the config is valid, then the function timeout exceeds every job's deadline and stays within 60 minutes", () => {
    const config = resolveConfig(valid);
    const timeout = functionTimeoutSeconds(config.jobs);
    for (const job of config.jobs) expect(timeout).toBeGreaterThan(job.attemptDeadlineSeconds);
    expect(timeout).toBeLessThanOrEqual(3600);
  });
});

describe("cron intervals", () => {
  it.each([
    ["* * * * *", 60],
    ["*/5 * * * *", 300],
    ["0 * * * *", 3600],
    ["0 3 * * 0", 7 * 86400],
    ["0 9 * * 1-5", 3 * 86400],
  ])("when the schedule is %s, then the longest gap is %i s", (schedule, seconds) => {
    const job = { name: "t", schedule, timeZone: "UTC" };
    expect(longestIntervalSeconds(job, new Date("2030-01-06T00:00:00Z"))).toBe(seconds);
  });
});

describe("Pulumi.dev.yaml", () => {
  const text = readFileSync(new URL("../../Pulumi.dev.yaml", import.meta.url), "utf8");
  const config = (load(text) as { config: Record<string, unknown> }).config;

  it("when read as a stack's config, then it is valid", () => {
    const raw: Record<string, unknown> = { project: config["gcp:project"], region: config["gcp:region"] };
    for (const [key, value] of Object.entries(config)) {
      if (key.startsWith("scheduled-jobs:")) raw[key.slice("scheduled-jobs:".length)] = value;
    }
    const resolved = resolveConfig(raw);
    expect(resolved.database.mode).toBe("create");
    expect(resolved.jobs.find((job) => job.name === "archive-old-orders")?.schedule).toBe("0 4 * * 0");
  });

  it("when compared with what the program reads, then it shows every key (the SendGrid key as the command to set it)", () => {
    for (const key of CONFIG_KEYS) {
      if (key === "sendgridApiKey")
        expect(text).toContain("pulumi config set --secret scheduled-jobs:sendgridApiKey");
      else expect(Object.keys(config), key).toContain(`scheduled-jobs:${key}`);
    }
    expect(Object.keys(config)).toEqual(expect.arrayContaining(["gcp:project", "gcp:region"]));
  });
});
