/**
 * `plan` on fixed stacks, without a database: the calendar (a Europe/Berlin daily task at 02:30
 * across both 2026 changes, a pg_cron task, a paused task), the warnings (a timeout that outlasts
 * its interval, heavy tasks in one minute, DST, pg_cron's zone, the free tier, what `pulumi up`
 * would refuse), the cost, the Markdown and the exit codes. Each section's content is asserted.
 */
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type { TaskDefinition } from "../../functions/core/catalog.js";
import { tasks } from "../../functions/core/catalog.js";
import { backlogOf } from "../../scripts/plan/impact.js";
import type { PlanReport } from "../../scripts/plan/plan.js";
import { runCli } from "../helpers/cli.js";

const GCP = "test/plan/Pulumi.plan-gcp.yaml";
const AWS = "test/plan/Pulumi.plan-aws.yaml";
const SPRING = "2026-03-27T00:00:00Z";
const AUTUMN = "2026-10-23T00:00:00Z";

/** The catalog with cleanup-orphaned-menus run by pg_cron, in Europe/Berlin. */
const catalog: readonly TaskDefinition[] = tasks.map((task) =>
  task.name === "cleanup-orphaned-menus"
    ? { ...task, runner: "pg_cron" as const, timeZone: "Europe/Berlin" }
    : task,
);

const root = mkdtempSync(join(tmpdir(), "sj-plan-"));

async function plan(
  args: string[],
  options: { catalog?: readonly TaskDefinition[]; env?: Record<string, string> } = {},
) {
  return runCli(["plan", ...args], {
    env: options.env ?? {},
    root,
    now: new Date(SPRING),
    catalog: options.catalog ?? catalog,
  });
}

const reports = new Map<string, Promise<PlanReport>>();

/** The plan's JSON, asked once per stack and window. */
function report(stack: string, from: string, days = 4): Promise<PlanReport> {
  const key = `${stack} ${from} ${days}`;
  if (!reports.has(key)) reports.set(key, askReport(stack, from, days));
  return reports.get(key)!;
}

async function askReport(stack: string, from: string, days: number): Promise<PlanReport> {
  const result = await plan(["--stack", stack, "--from", from, "--days", String(days), "--json"]);
  expect(result.err).toBe("");
  expect(result.code).toBe(0);
  return JSON.parse(result.out) as PlanReport;
}

const entry = (r: PlanReport, task: string) => r.calendar.find((e) => e.task === task)!;
const warningsOf = (r: PlanReport, kind: string) => r.warnings.filter((w) => w.kind === kind);

describe("plan's calendar", () => {
  it("when a Europe/Berlin task runs daily at 02:30, then the spring change's skipped 02:30 fires at 03:00 and is marked, with what each runner does", async () => {
    const gcp = entry(await report(GCP, SPRING), "generate-daily-stats");
    expect(gcp).toMatchObject({
      runners: ["Cloud Scheduler"],
      schedule: "30 2 * * *",
      words: "daily at 02:30",
      timeZone: "Europe/Berlin",
      catalogSchedule: "5 0 * * *",
      fireCount: 4,
    });
    expect(gcp.fires).toEqual([
      { utc: "2026-03-27T01:30:00.000Z", local: "2026-03-27 02:30 +01:00" },
      { utc: "2026-03-28T01:30:00.000Z", local: "2026-03-28 02:30 +01:00" },
      { utc: "2026-03-29T01:00:00.000Z", local: "2026-03-29 03:00 +02:00", dst: "moved" },
      { utc: "2026-03-30T00:30:00.000Z", local: "2026-03-30 02:30 +02:00" },
    ]);
    expect(gcp.dst).toEqual([
      {
        kind: "moved",
        wall: "2026-03-29 02:30",
        change: "2026-03-29T01:00:00.000Z",
        runners: [
          {
            runner: "Cloud Scheduler",
            does: "fires at 2026-03-29 03:00 +02:00 (the project's rule; Google documents only that DST can make jobs run or not run unexpectedly)",
          },
        ],
      },
    ]);
    const aws = entry(await report(AWS, SPRING), "generate-daily-stats");
    expect(aws.dst[0]!.runners).toEqual([
      {
        runner: "EventBridge Scheduler",
        does: "does not fire (AWS: a skipped time is skipped, a repeated time runs once)",
      },
    ]);
  });

  it("when the autumn change repeats 02:30, then the task fires at its first occurrence only, marked, and EventBridge Scheduler runs it once too", async () => {
    const gcp = entry(await report(GCP, AUTUMN), "generate-daily-stats");
    expect(gcp.fires.map((f) => [f.utc, f.dst])).toEqual([
      ["2026-10-23T00:30:00.000Z", undefined],
      ["2026-10-24T00:30:00.000Z", undefined],
      ["2026-10-25T00:30:00.000Z", "repeated"],
      ["2026-10-26T01:30:00.000Z", undefined],
    ]);
    expect(gcp.dst).toMatchObject([
      { kind: "repeated", wall: "2026-10-25 02:30", change: "2026-10-25T01:00:00.000Z" },
    ]);
    const aws = entry(await report(AWS, AUTUMN), "generate-daily-stats");
    expect(aws.dst[0]!.runners[0]!.does).toBe(
      "fires at 2026-10-25 02:30 +02:00 (AWS: a skipped time is skipped, a repeated time runs once)",
    );
  });

  it("when a task is pg_cron's, paused in the stack, or in UTC, then its row says so and lists its fire times", async () => {
    const r = await report(GCP, SPRING);
    expect(entry(r, "cleanup-orphaned-menus")).toMatchObject({
      runners: ["pg_cron"],
      timeZone: "Europe/Berlin",
      fireCount: 4,
    });
    expect(entry(r, "cleanup-orphaned-menus").dst[0]!.runners[0]!.runner).toBe("pg_cron");
    expect(entry(r, "update-restaurant-ratings")).toMatchObject({ paused: true, overridden: ["paused"] });
    expect(entry(r, "auto-cancel-unconfirmed-orders")).toMatchObject({ fireCount: 4 * 1440, dst: [] });
    expect(entry(r, "auto-cancel-unconfirmed-orders").fires).toHaveLength(200);
    expect(r.calendar.map((e) => e.task)).toEqual(catalog.map((t) => t.name));
    expect(r.database).toBeNull();
    expect(r.drift).toBeUndefined();
  });
});

describe("plan's warnings", () => {
  it("when a task's timeout outlasts its interval, then the warning names both, and what its overlap policy does on the stack's runner", async () => {
    const [gcp] = warningsOf(await report(GCP, SPRING), "outlasts-interval");
    expect(gcp).toMatchObject({ tasks: ["send-order-confirmations"] });
    expect(gcp!.cause).toContain("can run 90 s (its timeout of 90 s) and fires every 60 s");
    expect(gcp!.cause).toContain(
      `on Cloud Scheduler, its overlap policy is "skip": that tick is recorded skipped and not retried`,
    );
    expect(gcp!.fix).toContain("below 60 s");
    expect(warningsOf(await report(GCP, SPRING), "outlasts-interval")).toHaveLength(1);
  });

  it("when heavy tasks fire in the same minute, then each group is a warning with its first minute", async () => {
    const groups = warningsOf(await report(GCP, SPRING), "same-minute").map((w) => w.tasks);
    expect(groups).toContainEqual(["cleanup-expired-sessions", "archive-old-orders", "purge-run-history"]);
    expect(groups).toContainEqual(["cleanup-expired-sessions", "purge-run-history"]);
    const sunday = warningsOf(await report(GCP, SPRING), "same-minute").find((w) => w.tasks.length === 3)!;
    expect(sunday.cause).toContain("2026-03-29 04:00Z in the window");
  });

  it("when a non-UTC task runs in the hour DST changes, then it is a warning on every runner, and a daily task EventBridge skips that night is another", async () => {
    const gcp = await report(GCP, SPRING);
    expect(warningsOf(gcp, "dst-hour").map((w) => w.tasks[0])).toEqual([
      "cleanup-orphaned-menus",
      "generate-daily-stats",
    ]);
    const daily = warningsOf(gcp, "dst-hour")[1]!;
    expect(daily.cause).toContain("2026-03-29 02:30 (does not happen), 2026-10-25 02:30 (happens twice)");
    expect(daily.cause).toContain("https://cloud.google.com/scheduler/docs/configuring/cron-job-schedules");
    // Cloud Scheduler (as the project reads it) and pg_cron fire a one-hour schedule once a day.
    expect(warningsOf(gcp, "dst-daily")).toEqual([]);
    const aws = await report(AWS, SPRING);
    expect(warningsOf(aws, "dst-daily")).toEqual([
      expect.objectContaining({ tasks: ["generate-daily-stats"] }),
    ]);
    expect(warningsOf(aws, "dst-daily")[0]!.cause).toMatch(
      /^generate-daily-stats fires not at all on 2026-03-29 \(Europe\/Berlin\) on EventBridge Scheduler/,
    );
    expect(warningsOf(aws, "dst-daily")[0]!.fix).toContain("2026-03-29 02:00 to 03:00 local");
  });

  it("when a pg_cron task is not in UTC, and Google's stack has more jobs than the free ones, then each is a warning with its figures", async () => {
    const gcp = await report(GCP, SPRING);
    expect(warningsOf(gcp, "pg-cron-zone")).toEqual([
      expect.objectContaining({ tasks: ["cleanup-orphaned-menus"] }),
    ]);
    expect(warningsOf(gcp, "pg-cron-zone")[0]!.cause).toContain("schedules it `0 * * * *`");
    expect(warningsOf(gcp, "free-tier")[0]!.cause).toMatch(
      /^12 Cloud Scheduler jobs \(a paused job counts\), 3 free per billing account: 9 billed at \$0\.10 a month each, \$0\.90 a month \(prices of 20\d\d-\d\d-\d\d/,
    );
    expect(warningsOf(await report(AWS, SPRING), "free-tier")).toEqual([]);
  });

  it("when the stack holds a value `pulumi up` refuses, then infra's own check says so as a warning", async () => {
    const file = join(root, "Pulumi.refused.yaml");
    writeFileSync(file, readFileSync(GCP, "utf8").replace("memory: 512Mi", "memory: lots"));
    const refused = warningsOf(await report(file, SPRING), "stack-refused");
    expect(refused.map((w) => w.cause)).toEqual([
      '`pulumi up` would refuse the stack: scheduled-jobs:function.memory "lots" must look like 256Mi or 1Gi',
    ]);
    expect(warningsOf(await report(GCP, SPRING), "stack-refused")).toEqual([]);
  });
});

describe("plan's cost", () => {
  it("when Google runs the stack, then jobs, requests and CPU time a month are costed at the dated prices", async () => {
    const { cost } = await report(GCP, SPRING);
    expect(cost.pricesDate).toMatch(/^20\d\d-\d\d-\d\d$/);
    expect(cost.month).toEqual({ from: "2026-03-27T00:00:00.000Z", days: 30 });
    const line = (item: string) => cost.lines.find((l) => l.item === item)!;
    expect(line("jobs")).toMatchObject({ platform: "Cloud Scheduler", quantity: 12, free: 3, cost: 0.9 });
    // 30 days of each unpaused Cloud Scheduler task (the pg_cron one is the database's).
    expect(line("requests")).toMatchObject({
      platform: "Cloud Run",
      quantity: 141_964,
      free: 2_000_000,
      cost: 0,
    });
    const runs = Object.fromEntries(cost.runs.map((r) => [`${r.runner} ${r.task}`, r.runs]));
    expect(runs).toMatchObject({
      "Cloud Scheduler send-order-confirmations": 43_200,
      "Cloud Scheduler push-driver-notifications": 43_200,
      "Cloud Scheduler generate-daily-stats": 30,
      "Cloud Scheduler archive-old-orders": 4,
      "pg_cron cleanup-orphaned-menus": 720,
    });
    expect(runs["Cloud Scheduler update-restaurant-ratings"]).toBeUndefined();
    // Every run is billed at least 100 ms; the vendor reports' 835 ms at 900 ms; 0.333 vCPU at 512 MiB.
    expect(line("vCPU-seconds").quantity).toBeCloseTo((141_934 * 0.1 + 30 * 0.9) * 0.333, 6);
    expect(cost.total).toBeCloseTo(0.9, 9);
  });

  it("when AWS runs the stack, then invocations, Lambda requests and GB-seconds are costed, inside the free tiers", async () => {
    const { cost } = await report(AWS, SPRING);
    expect(cost.lines.map((l) => [l.platform, l.item, l.quantity > 0, l.cost])).toEqual([
      ["EventBridge Scheduler", "invocations", true, 0],
      ["Lambda", "requests", true, 0],
      ["Lambda", "GB-seconds", true, 0],
    ]);
    expect(cost.lines[0]!.quantity).toBe(141_964);
    expect(cost.gross).toBeGreaterThan(0);
  });
});

describe("plan's backlog at the batch sizing rule", () => {
  it("when batches are sized by time, then each next batch doubles until one comes back short", () => {
    const batch = {
      size: 1000,
      timeBudgetSeconds: 600,
      sizedByTime: { targetMs: 100, minSize: 100, maxSize: 50_000 },
    };
    // 1,000 + 2,000 + 4,000 rows, then 3,000 of a batch of 8,000: short, done; 77 ms at 130 rows/ms.
    expect(backlogOf(batch, 10_000, (rows) => rows / 130, "p")).toEqual({
      batches: 4,
      seconds: 0.1,
      runs: 1,
      pace: "p",
    });
  });

  it("when the time budget runs out, then the next run goes on, from the first batch's size again", () => {
    const batch = { size: 1000, timeBudgetSeconds: 1 };
    // 600 ms a batch: a run stops after its second (1.2 s past the 1 s budget): 2 + 2 + 1 batches.
    expect(backlogOf(batch, 5000, () => 600, "p")).toEqual({ batches: 5, seconds: 3, runs: 3, pace: "p" });
    expect(backlogOf(batch, 0, () => 600, "p")).toEqual({ batches: 0, seconds: 0, runs: 0, pace: "p" });
  });
});

describe("plan's formats and exit codes", () => {
  it("when asked for Markdown, then it is a table per section, warnings first", async () => {
    const { out, code } = await plan(["--stack", GCP, "--from", SPRING, "--format", "markdown"]);
    expect(code).toBe(0);
    const sections = [...out.matchAll(/^#### (.+)$/gm)].map((m) => m[1]);
    expect(sections).toEqual([
      "Warnings (7)",
      "Calendar",
      expect.stringMatching(/^Cost \(prices of 20\d\d-\d\d-\d\d\)$/),
      "Drift and impact",
    ]);
    expect(out).toContain("| # | kind | cause | fix |");
    expect(out).toContain(
      "| generate-daily-stats | Cloud Scheduler | `30 2 * * *` (stack override; catalog `5 0 * * *`) | daily at 02:30 | Europe/Berlin | no | 7 |",
    );
    expect(out).toContain("- generate-daily-stats: 2026-03-29 02:30 (Europe/Berlin) does not happen");
  });

  it("when there are warnings, then --exit-code exits 1 and without it 0; a stack without any exits 0 either way", async () => {
    expect((await plan(["--stack", GCP, "--from", SPRING, "--exit-code"])).code).toBe(1);
    expect((await plan(["--stack", GCP, "--from", SPRING])).code).toBe(0);
    const quiet = join(root, "Pulumi.quiet.yaml");
    writeFileSync(quiet, readFileSync(GCP, "utf8").replace(/ {2}scheduled-jobs:taskOverrides:[\s\S]*$/, ""));
    const one = tasks.filter((t) => t.name === "auto-cancel-unconfirmed-orders");
    const result = await plan(["--stack", quiet, "--from", SPRING, "--exit-code"], {
      catalog: one,
      env: { PULUMI_STACK_FILE: quiet },
    });
    expect(result.out).toContain("Warnings (0)");
    expect(result.code).toBe(0);
  });

  it("when a flag is wrong, then it is a usage error (2) that says what is expected", async () => {
    expect(await plan(["--days", "0"])).toMatchObject({
      code: 2,
      err: expect.stringContaining("from 1 to 366"),
    });
    expect(await plan(["--format", "xml"])).toMatchObject({
      code: 2,
      err: expect.stringContaining("text, json, markdown"),
    });
    expect(await plan(["--stack", "Pulumi.nope.yaml"])).toMatchObject({
      code: 2,
      err: expect.stringContaining("no such file"),
    });
    expect(await plan(["--from", "tomorrow"])).toMatchObject({
      code: 2,
      err: expect.stringContaining("is not a time"),
    });
  });
});
