/**
 * An AWS stack's configuration, validated before anything is created: each mistake fails the
 * program with a message that names the key and the cause, the shared keys checked by the same
 * rules as a Google stack's, and the catalog checked against what AWS can run.
 */
import { readFileSync } from "node:fs";
import * as pulumi from "@pulumi/pulumi";
import { load } from "js-yaml";
import { describe, expect, it } from "vitest";
import type { TaskDefinition } from "../../../functions/core/catalog.js";
import { tasks } from "../../../functions/core/catalog.js";
import type { RawConfig } from "../../../infra/config.js";
import { cloudOf, StackConfigError } from "../../../infra/config.js";
import {
  AWS_CONFIG_KEYS,
  LAMBDA_TIMEOUT_MAX_SECONDS,
  loadAwsConfig,
  resolveAwsConfig,
  runBoundSeconds,
} from "../../../infra/aws/config.js";
import { deadManPlan } from "../../../infra/aws/dead-man.js";
import { awsConfig, fakeLambdaBundle } from "./harness.js";

const valid = awsConfig(fakeLambdaBundle());

function problemsOf(raw: RawConfig, catalog?: readonly TaskDefinition[]): string {
  try {
    resolveAwsConfig(raw, catalog);
  } catch (error) {
    expect(error).toBeInstanceOf(StackConfigError);
    return (error as Error).message;
  }
  throw new Error("the configuration was accepted");
}

describe("an AWS stack's config", () => {
  it("when it is complete, then every cloud task gets its AWS schedule and the function a timeout that covers every run", () => {
    const config = resolveAwsConfig(valid);
    expect(config.jobs.map((job) => job.name)).toEqual(tasks.map((task) => task.name));
    expect(config.jobs.find((job) => job.name === "archive-old-orders")?.expression).toBe(
      "cron(0 3 ? * SUN *)",
    );
    // archive-old-orders' catalog timeout is Lambda's whole 900 s; its batches sized by time end its run at its budget.
    const archive = tasks.find((task) => task.name === "archive-old-orders")!;
    expect(archive.timeoutSeconds).toBe(LAMBDA_TIMEOUT_MAX_SECONDS);
    expect(runBoundSeconds(archive)).toBe(archive.batch.timeBudgetSeconds + 1);
    for (const job of config.jobs)
      expect(config.lambda.timeoutSeconds).toBeGreaterThanOrEqual(runBoundSeconds(job) + 30);
    expect(config.lambda.timeoutSeconds).toBeLessThanOrEqual(LAMBDA_TIMEOUT_MAX_SECONDS);
    expect(config).toMatchObject({
      region: "eu-west-1",
      sendsEmail: true,
      lambda: { name: "sched-jobs-tasks", memoryMb: 512 },
    });
  });

  it.each([
    ["no region", { region: undefined }, /aws:region is required \(pulumi config set aws:region <value>\)/],
    ["no network", { network: undefined }, /scheduled-jobs:network is required: \{"subnetIds"/],
    [
      "a subnet that is not one",
      { network: { subnetIds: ["net-1"], securityGroupIds: ["sg-0123456789abcdef0"] } },
      /scheduled-jobs:network.subnetIds: "net-1" is not a subnet-… id/,
    ],
    [
      "six security groups",
      {
        network: {
          subnetIds: ["subnet-0123456789abcdef0"],
          securityGroupIds: Array(6).fill("sg-0123456789abcdef0"),
        },
      },
      /scheduled-jobs:network.securityGroupIds is required: a list of 1 to 5 sg-… ids/,
    ],
    [
      "a new database without the VPC",
      {
        network: {
          subnetIds: ["subnet-0123456789abcdef0", "subnet-0fedcba9876543210"],
          securityGroupIds: ["sg-0123456789abcdef0"],
        },
      },
      /scheduled-jobs:network.vpcId is required when scheduled-jobs:rds.create is true/,
    ],
    ["no database", { rds: undefined }, /scheduled-jobs:rds is required/],
    [
      "an existing database without its identifier",
      { rds: { databaseName: "d" } },
      /scheduled-jobs:rds: set "instanceIdentifier" \(an existing instance\) or "create": true/,
    ],
    [
      "a database user PostgreSQL would have to quote",
      { rds: { create: true, databaseName: "d", databaseUser: "Jobs-User" } },
      /scheduled-jobs:rds.databaseUser "Jobs-User" must be a lowercase PostgreSQL name/,
    ],
    [
      "a setting an existing instance does not take",
      { rds: { instanceIdentifier: "delivery-prod", databaseName: "d", instanceClass: "db.t4g.micro" } },
      /scheduled-jobs:rds.instanceClass is not a setting for an existing instance/,
    ],
    [
      "a Lambda memory outside Lambda's range",
      { lambda: { memoryMb: 64 } },
      /scheduled-jobs:lambda.memoryMb must be a whole number from 128 to 10240/,
    ],
    [
      "a Lambda timeout shorter than a run",
      { lambda: { timeoutSeconds: 60 } },
      /scheduled-jobs:lambda.timeoutSeconds 60 is shorter than the longest run of a scheduled task/,
    ],
    [
      "Google's function settings",
      { function: { memory: "512Mi" } },
      /scheduled-jobs:function is a Google setting; an AWS stack \(scheduled-jobs:cloud aws\) takes scheduled-jobs:lambda/,
    ],
    [
      "Cloud Scheduler's attempt deadline",
      { taskOverrides: { "archive-old-orders": { attemptDeadlineSeconds: 1200 } } },
      /scheduled-jobs:taskOverrides.archive-old-orders.attemptDeadlineSeconds is Cloud Scheduler's attempt deadline; EventBridge Scheduler has none/,
    ],
    [
      "a schedule that restricts both day fields",
      { taskOverrides: { "generate-daily-stats": { schedule: "5 0 1 * MON" } } },
      /task "generate-daily-stats" \(with scheduled-jobs:taskOverrides.generate-daily-stats\): schedule "5 0 1 \* MON" cannot run on EventBridge Scheduler: it restricts both the day of the month/,
    ],
    [
      "a shared key's mistake",
      { alertEmail: "ops" },
      /scheduled-jobs:alertEmail "ops" is not an email address/,
    ],
  ])("when it has %s, then the program fails naming the key and the cause", (_case, change, message) => {
    expect(
      problemsOf({
        ...valid,
        ...change,
        lambda: { ...(valid.lambda as object), ...((change as RawConfig).lambda as object) },
      }),
    ).toMatch(message);
  });

  it("when a task's run could outlast Lambda's 900 s, then the stack is refused with the task and the cause", () => {
    const slow: TaskDefinition = { ...tasks[0], name: "slow-report", timeoutSeconds: 1200 };
    expect(problemsOf(valid, [slow, ...tasks.slice(1)])).toContain(
      'task "slow-report": a run may take 1200 s (its timeoutSeconds), and Lambda stops a function at 900 s, 30 s too soon to record how the run ended: lower its timeoutSeconds in the catalog, or give it a batch budget',
    );
  });

  it("when the weekly task's dead-man falls to the overdue report and that report is paused, then the stack is refused", () => {
    const weekly = resolveAwsConfig(valid).deadManJobs.find((job) => job.name === "archive-old-orders")!;
    expect(deadManPlan(weekly)).toMatchObject({ kind: "overdue-report" });
    expect(problemsOf({ ...valid, taskOverrides: { "alert-failed-runs": { paused: true } } })).toMatch(
      /task "archive-old-orders" needs the overdue report of task "alert-failed-runs" as its dead-man \(its window of \d+ s is longer than a CloudWatch alarm can look back \(604800 s\)\)/,
    );
    // Without the dead-man, pausing the report is the operator's choice.
    expect(() =>
      resolveAwsConfig({
        ...valid,
        deadMan: false,
        taskOverrides: { "alert-failed-runs": { paused: true } },
      }),
    ).not.toThrow();
  });

  it("when the cloud key is not gcp or aws, then the program fails naming it; unset is Google", () => {
    expect(cloudOf(undefined)).toBe("gcp");
    expect(cloudOf("aws")).toBe("aws");
    expect(() => cloudOf("azure")).toThrow(
      'scheduled-jobs:cloud "azure" must be one of gcp, aws (gcp when unset)',
    );
  });
});

describe("Pulumi.aws-dev.yaml", () => {
  const text = readFileSync(new URL("../../../Pulumi.aws-dev.yaml", import.meta.url), "utf8");
  const config = (load(text) as { config: Record<string, unknown> }).config;

  it("when read as a stack's config, then it is an AWS stack the program accepts", () => {
    const raw: Record<string, unknown> = { region: config["aws:region"] };
    for (const [key, value] of Object.entries(config)) {
      if (key.startsWith("scheduled-jobs:")) raw[key.slice("scheduled-jobs:".length)] = value;
    }
    expect(cloudOf(raw.cloud)).toBe("aws");
    const resolved = resolveAwsConfig(raw);
    expect(resolved.rds.mode).toBe("create");
    expect(resolved.jobs.find((job) => job.name === "archive-old-orders")?.expression).toBe(
      "cron(0 4 ? * SUN *)",
    );
  });

  it("when compared with what the program reads, then it shows every key, each with a comment (the SendGrid key as the command to set it)", () => {
    for (const key of AWS_CONFIG_KEYS) {
      if (key === "sendgridApiKey")
        expect(text).toContain("pulumi config set --secret scheduled-jobs:sendgridApiKey");
      else expect(Object.keys(config), key).toContain(`scheduled-jobs:${key}`);
    }
    expect(Object.keys(config)).toContain("aws:region");
    const lines = text.split("\n");
    for (const key of Object.keys(config)) {
      const at = lines.findIndex((line) => line.startsWith(`  ${key}:`));
      expect(lines[at - 1], `the line above ${key}`).toMatch(/^\s+#/);
    }
  });
});

describe("an AWS stack's config as Pulumi hands it over", () => {
  it("when the stack file sets the keys both clouds share, then the program reads them (pauseAll, httpTargets)", async () => {
    await pulumi.runtime.setMocks(
      { newResource: (args) => ({ id: args.name, state: args.inputs }), call: (args) => args.inputs },
      "scheduled-jobs",
      "aws-dev",
      false,
    );
    const raw = awsConfig(fakeLambdaBundle());
    const config: Record<string, string> = { "aws:region": "eu-west-1", "scheduled-jobs:pauseAll": "true" };
    for (const [key, value] of Object.entries(raw)) {
      if (key === "region") continue;
      config[`scheduled-jobs:${key}`] = typeof value === "string" ? value : JSON.stringify(value);
    }
    pulumi.runtime.setAllConfig(config, []);
    const loaded = loadAwsConfig();
    expect(loaded.jobs.filter((job) => !job.paused)).toEqual([]);
    expect(Object.keys(loaded.httpTargets)).toEqual(["app-backend"]);
  });
});
