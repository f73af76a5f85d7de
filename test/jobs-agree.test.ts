/**
 * One stack config with overrides (schedule, time zone, paused, deadline, a default zone), read by
 * every reader of the schedule: infra's jobs, the function (TASK_OVERRIDES as infra writes it) and
 * its /health, the CLI's jobs, health, missed and run, the local scheduler and the pg_cron
 * generator. They all agree on every task's schedule, zone and paused state, because they all call
 * `resolveJobs`.
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import { tasks } from "../functions/core/catalog.js";
import { parseConfig } from "../functions/core/config/function-config.js";
import { readHealth } from "../functions/core/reads/health.js";
import { cloudJobs, overridesOf } from "../functions/core/schedule/jobs.js";
import { resolveConfig } from "../infra/gcp/config.js";
import { main as cli } from "../scripts/cli.js";
import { renderPgCronSetupFiles } from "../scripts/generate/pg-cron.js";
import { pgCronSchedule } from "../scripts/generate/pg-cron-render.js";
import { loadStackJobs } from "../scripts/lib/jobs.js";
import { LocalScheduler } from "../scripts/local/local-scheduler.js";
import { ManualClock } from "./helpers/manual-clock.js";
import { useTestDatabase } from "./helpers/database.js";

const db = useTestDatabase();

const stackYaml = `config:
  gcp:project: demo
  gcp:region: europe-west1
  scheduled-jobs:alertEmail: ops@example.com
  scheduled-jobs:mailFrom: no-reply@example.com
  scheduled-jobs:database:
    create: true
    databaseName: delivery_app
  scheduled-jobs:defaultTimeZone: Europe/Berlin
  scheduled-jobs:httpTargets:
    app-backend:
      url: https://app-backend.example
  scheduled-jobs:taskOverrides:
    archive-old-orders:
      schedule: "0 4 * * 0"
      timeZone: Europe/Paris
    driver-inactivity-check:
      paused: "true"
    cleanup-distance-requests:
      attemptDeadlineSeconds: 900
    generate-daily-stats:
      schedule: "10 1 * * *"
`;
const dir = mkdtempSync(join(tmpdir(), "sj-agree-"));
const stackFile = join(dir, "Pulumi.agree.yaml");
writeFileSync(stackFile, stackYaml);

type Seen = Record<string, { schedule: string; timeZone: string; paused: boolean }>;
const seen = (
  rows: readonly { name?: string; task?: string; schedule: string; timeZone: string; paused: boolean }[],
): Seen =>
  Object.fromEntries(
    rows.map((row) => [
      row.name ?? row.task!,
      { schedule: row.schedule, timeZone: row.timeZone, paused: row.paused },
    ]),
  );

/** Infra's view: the stack config as `pulumi.Config` hands it over. */
function infraConfig() {
  const config = (parseYaml(stackYaml) as { config: Record<string, unknown> }).config;
  const raw: Record<string, unknown> = { project: config["gcp:project"], region: config["gcp:region"] };
  for (const [key, value] of Object.entries(config)) {
    if (key.startsWith("scheduled-jobs:")) raw[key.slice("scheduled-jobs:".length)] = value;
  }
  return resolveConfig(raw);
}

async function cliJson(args: string[]): Promise<{ code: number; json: unknown }> {
  const out: string[] = [];
  const code = await cli(args, {
    env: { DATABASE_URL: db.url, PULUMI_STACK_FILE: stackFile },
    out: (text) => out.push(text),
    err: () => undefined,
    now: () => new Date(),
    root: dir,
  });
  return { code, json: JSON.parse(out.join("\n")) };
}

describe("one stack config, every reader of the schedule", () => {
  it("when infra, the function, the CLI, the local scheduler and the pg_cron generator read it, then they agree", async () => {
    const infra = infraConfig();
    const expected = seen(infra.jobs);
    // The overrides really change something, and the default zone reaches tasks that name none.
    expect(expected["archive-old-orders"]).toEqual({
      schedule: "0 4 * * 0",
      timeZone: "Europe/Paris",
      paused: false,
    });
    expect(expected["driver-inactivity-check"]).toMatchObject({ paused: true, timeZone: "Europe/Berlin" });
    expect(expected["generate-daily-stats"]).toEqual({
      schedule: "10 1 * * *",
      timeZone: "Europe/Berlin",
      paused: false,
    });
    expect(infra.jobs.find((job) => job.name === "cleanup-distance-requests")?.attemptDeadlineSeconds).toBe(
      900,
    );

    // The function: TASK_OVERRIDES as infra writes it, read by its own parser; then /health.
    const parsed = parseConfig({
      DATABASE_URL: db.url,
      AUTH_AUDIENCE: "https://f.example",
      AUTH_ALLOWED_EMAILS: "s@p.iam.gserviceaccount.com",
      MAIL_FROM: "no-reply@example.com",
      TASK_OVERRIDES: JSON.stringify(overridesOf(tasks, infra.allJobs)),
    });
    expect(parsed.problems).toEqual([]);
    const functionJobs = parsed.config!.jobs;
    expect(seen(cloudJobs(functionJobs))).toEqual(expected);
    const health = await readHealth(db.pool, new Date(), functionJobs);
    expect(seen(health.tasks)).toEqual(expected);

    // The CLI, from the stack file.
    const jobs = await cliJson(["jobs", "--json"]);
    expect(seen((jobs.json as { jobs: Seen[string][] & { task: string }[] }).jobs)).toEqual(expected);
    const cliHealth = await cliJson(["health", "--json"]);
    expect(seen((cliHealth.json as { tasks: (Seen[string] & { task: string })[] }).tasks)).toEqual(expected);
    const missed = await cliJson(["missed", "--since", "1h", "--json"]);
    const missedTasks = (missed.json as { tasks: { task: string }[] }).tasks.map((task) => task.task);
    // Paused jobs are left out of missed ticks.
    expect(missedTasks).toEqual(Object.keys(expected).filter((name) => !expected[name]!.paused));

    // The local scheduler fires exactly the unpaused jobs.
    const stackJobs = loadStackJobs(stackFile);
    expect(seen(cloudJobs(stackJobs))).toEqual(expected);
    const scheduler = new LocalScheduler({
      jobs: cloudJobs(stackJobs),
      url: "http://127.0.0.1:1/",
      token: () => "t",
      clock: new ManualClock(Date.now()),
    });
    expect(scheduler.schedule.map((entry) => entry.job)).toEqual(missedTasks);

    // The pg_cron generator, for this stack: each SQL task under its schedule and zone (pg_cron's
    // entry is hourly at the task's minute, and the job carries the task's local schedule).
    const [setup] = renderPgCronSetupFiles({ name: "agree", file: stackFile, jobs: stackJobs });
    for (const job of cloudJobs(stackJobs).filter((candidate) => candidate.kind === "sql")) {
      expect(setup!.content).toContain(`SELECT cron.schedule('${job.name}', '${pgCronSchedule(job)}'`);
      expect(setup!.content).toContain(`  p_task => '${job.name}',`);
      expect(setup!.content).toContain(`(${`'${job.name}'`}, ${job.paused})`);
    }
    expect(pgCronSchedule(stackJobs.find((job) => job.name === "generate-daily-stats")!)).toBe("10 * * * *");
    expect(setup!.content).toContain("p_time_zone => 'Europe/Paris'");
    expect(setup!.content).toContain("p_minutes => '{10}',\n  p_hours => '{1}'");
  });

  it("when the CLI runs a tick of the overridden schedule, then it is accepted; a tick only of the catalog's is refused", async () => {
    // generate-daily-stats at 01:10 Berlin: 00:10 UTC in winter. The catalog's 00:05 UTC is not a tick here.
    const accepted = await cliJson([
      "run",
      "generate-daily-stats",
      "--slot",
      "2026-11-29T00:10:00Z",
      "--direct",
      "--json",
    ]);
    expect(accepted.code).toBe(0);
    expect(accepted.json).toMatchObject({ status: "succeeded" });
    const out: string[] = [];
    const refused = await cli(["run", "generate-daily-stats", "--slot", "2026-11-29T00:05:00Z", "--direct"], {
      env: { DATABASE_URL: db.url, PULUMI_STACK_FILE: stackFile },
      out: (text) => out.push(text),
      err: (text) => out.push(text),
      now: () => new Date(),
      root: dir,
    });
    expect(refused).toBe(2);
    expect(out.join("\n")).toContain(
      "is not a schedule time of generate-daily-stats (10 1 * * * in Europe/Berlin)",
    );
    // The run read its day in the stack's zone: the day before 01:10 Berlin on the 29th.
    const stats = await db.pool.query("SELECT stats_date::text AS day FROM daily_order_stats");
    expect(stats.rows).toEqual([{ day: "2026-11-28" }]);
  });
});
