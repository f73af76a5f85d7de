import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import type { TaskDefinition } from "../functions/core/catalog.js";
import { runnerOf, tasks } from "../functions/core/catalog.js";
import type { PgCronScope } from "../scripts/generate/pg-cron-render.js";
import {
  JOB_MARKER,
  pgCronSchedule,
  PURGE_JOB_NAME,
  renderPgCronSetup,
} from "../scripts/generate/pg-cron-render.js";
import { renderPgCronSetupFiles } from "../scripts/generate/pg-cron.js";
import { readTaskSqlFiles } from "../scripts/generate/sql-files.js";
import { loadStackJobs } from "../scripts/lib/jobs.js";
import { jobOf, jobsOf } from "./helpers/jobs.js";

const sqlFiles = readTaskSqlFiles();

function render(
  catalog: readonly TaskDefinition[],
  scope: PgCronScope = "all-sql",
  files = sqlFiles,
  stack?: { name: string; file: string },
): string {
  return renderPgCronSetup(jobsOf(catalog), files, {
    scope,
    fileName: "test.sql",
    generateCommand: "test",
    ...(stack ? { stack } : {}),
  });
}

/** The tasks' jobs a setup script schedules (not its purge job): name and schedule of each cron.schedule call. */
function scheduledJobs(script: string): [string, string][] {
  return [...script.matchAll(/^SELECT cron\.schedule\('([^']+)', '([^']+)', \$pg_cron_job\$(.*)$/gm)]
    .map((match) => {
      expect(match[3]).toBe(`${JOB_MARKER} ${match[1]}`);
      return [match[1]!, match[2]!] as [string, string];
    })
    .filter(([name]) => name !== PURGE_JOB_NAME);
}

describe("the generated pg_cron setup scripts", () => {
  it("when the committed setup is read, then it schedules every SQL task of the shipped dev stack under the stack's schedule, and records that stack as it loads", () => {
    const committed = readFileSync(new URL("../sql/pg_cron_setup.sql", import.meta.url), "utf8");
    const dev = loadStackJobs(fileURLToPath(new URL("../Pulumi.dev.yaml", import.meta.url)));
    expect(scheduledJobs(committed)).toEqual(
      dev.filter((job) => job.kind === "sql").map((job) => [job.name, pgCronSchedule(job)]),
    );
    // The dev stack's override, which the CLI and /health judge the task by, not the catalog's 0 3 * * 0.
    expect(scheduledJobs(committed)).toContainEqual(["archive-old-orders", "0 4 * * 0"]);
    expect(committed).toContain(
      "VALUES (true, 'dev', 'Pulumi.dev.yaml', 'sql/pg_cron_setup.sql', 'all-sql',",
    );
    expect(committed).toContain(
      '{"task":"archive-old-orders","schedule":"0 4 * * 0","timeZone":"UTC","paused":false}',
    );
  });

  it("when the generator checks the committed files, then each is what it renders for the dev stack", () => {
    for (const file of renderPgCronSetupFiles()) {
      expect(readFileSync(file.path, "utf8"), `${file.fileName}: run npm run pg-cron:generate`).toBe(
        file.content,
      );
    }
  });

  it("when a setup is rendered for another stack, then it records that stack's name and file", () => {
    const script = render(tasks, "pg_cron-runner", sqlFiles, { name: "prod", file: "Pulumi.prod.yaml" });
    expect(script).toContain("VALUES (true, 'prod', 'Pulumi.prod.yaml', 'test.sql', 'pg_cron-runner',");
    expect(render(tasks)).toContain("VALUES (true, NULL, NULL, 'test.sql', 'all-sql',");
  });

  it("when a task is added to the catalog, then the script schedules it and keeps it out of the removal", () => {
    const added: TaskDefinition = {
      ...tasks[0],
      name: "purge-old-carts",
      description: "Delete carts abandoned for a week.",
      schedule: "20 3 * * *",
    };
    const script = render([...tasks, added], "all-sql", {
      ...sqlFiles,
      "purge-old-carts": { statement: "DELETE FROM carts WHERE updated_at < now() - interval '7 days';" },
    });
    expect(scheduledJobs(script)).toContainEqual(["purge-old-carts", "20 3 * * *"]);
    expect(script).toMatch(/j\.jobname <> ALL \(ARRAY\[[^\]]*'purge-old-carts'/);
    expect(script).toContain("DELETE FROM carts WHERE updated_at < now() - interval '7 days'\n$pg_cron_sql$");
  });

  it("when tasks are paused, then the script deactivates exactly those", () => {
    const script = render(tasks.map((task) => ({ ...task, paused: task.name === "archive-old-orders" })));
    expect(script).toContain("('archive-old-orders', true)");
    expect(script).toContain("('auto-cancel-unconfirmed-orders', false)");
  });

  it("when no task's runner is pg_cron, then the hybrid script schedules nothing and removes what the other script scheduled", () => {
    expect(tasks.every((task) => runnerOf(task) === "cloud")).toBe(true);
    const hybrid = render(tasks, "pg_cron-runner");
    expect(scheduledJobs(hybrid)).toEqual([]);
    expect(hybrid).toContain(`j.jobname <> ALL (ARRAY['${PURGE_JOB_NAME}'])`);
  });

  it("when some tasks' runner is pg_cron, then the hybrid script schedules those only", () => {
    const catalog = tasks.map((task) =>
      task.name === "archive-old-orders" ? { ...task, runner: "pg_cron" as const } : task,
    );
    expect(scheduledJobs(render(catalog, "pg_cron-runner"))).toEqual([["archive-old-orders", "0 3 * * 0"]]);
    expect(scheduledJobs(render(catalog, "all-sql"))).toHaveLength(
      tasks.filter((task) => task.kind === "sql").length,
    );
  });

  it("when an email task's runner is pg_cron, then rendering refuses and says why", () => {
    const email: TaskDefinition = {
      ...tasks[0],
      name: "daily-vendor-report",
      kind: "email",
      runner: "pg_cron",
    };
    expect(() => render([...tasks, email])).toThrow(
      /daily-vendor-report: runner "pg_cron" is only for SQL tasks/,
    );
  });

  it("when an email task runs on Cloud Scheduler, then the scripts leave it out", () => {
    const email: TaskDefinition = { ...tasks[0], name: "daily-vendor-report", kind: "email" };
    expect(scheduledJobs(render([...tasks, email])).map(([name]) => name)).not.toContain(
      "daily-vendor-report",
    );
  });

  it("when a task's SQL contains one of the script's dollar-quote tags, then rendering refuses", () => {
    expect(() =>
      render(tasks, "all-sql", {
        ...sqlFiles,
        "driver-inactivity-check": { statement: "SELECT $pg_cron_job$ x $pg_cron_job$" },
      }),
    ).toThrow(/must not contain \$pg_cron_job\$/);
  });

  it("when a SQL task has no SQL file, then rendering refuses and names it", () => {
    const files = { ...sqlFiles };
    delete (files as Record<string, unknown>)["generate-daily-stats"];
    expect(() => render(tasks, "all-sql", files)).toThrow(/generate-daily-stats: no SQL/);
  });

  it("when a task is in a time zone, then pg_cron runs it hourly at its minute and its job carries the local schedule", () => {
    const script = render(tasks.map((task) => ({ ...task, timeZone: "Europe/Paris" })));
    expect(scheduledJobs(script)).toContainEqual(["generate-daily-stats", "5 * * * *"]);
    expect(scheduledJobs(script)).toContainEqual(["archive-old-orders", "0 * * * *"]);
    expect(script).toContain(
      "p_minutes => '{0}',\n  p_hours => '{3}',\n  p_days_of_month => NULL,\n  p_months => NULL,\n  p_days_of_week => '{0}'",
    );
    // cron.timezone must stay UTC: the schedules are written in it.
    expect(script).toContain("current_setting('cron.timezone', true)");
  });

  it("when a task is in UTC under any of its names, then pg_cron runs it on its own schedule, unchecked", () => {
    for (const timeZone of ["UTC", "Etc/UTC", "GMT"]) {
      const task = { ...tasks.find((t) => t.name === "generate-daily-stats")!, timeZone };
      expect(pgCronSchedule(jobOf(task))).toBe("5 0 * * *");
      expect(render([task])).not.toContain("p_minutes");
    }
  });

  it("when a zone is a half or quarter hour off UTC, then pg_cron's minutes are shifted by every remainder the zone has", () => {
    const at = (schedule: string, timeZone: string) =>
      pgCronSchedule(jobOf({ ...tasks.find((t) => t.name === "generate-daily-stats")!, schedule, timeZone }));
    expect(at("5 0 * * *", "Asia/Kolkata")).toBe("35 * * * *"); // +05:30
    expect(at("0 3 * * *", "Asia/Kathmandu")).toBe("15 * * * *"); // +05:45
    expect(at("0 3 * * *", "America/St_Johns")).toBe("30 * * * *"); // -03:30, -02:30 in summer
    expect(at("0 3 * * *", "Australia/Lord_Howe")).toBe("0,30 * * * *"); // +10:30, +11:00 in summer
    expect(at("*/20 * * * *", "Europe/Berlin")).toBe("0,20,40 * * * *");
    // One hour that the spring change skips: also the change's minute (01:00 UTC in Berlin, 07:00 in New York).
    expect(at("30 2 * * *", "Europe/Berlin")).toBe("0,30 * * * *");
    expect(at("30 2 * * *", "America/New_York")).toBe("0,30 * * * *");
    expect(at("30 4 * * *", "Europe/Berlin")).toBe("30 * * * *");
    expect(at("* 3 * * *", "Asia/Kolkata")).toBe("* * * * *");
  });

  it("when a catalog task takes the purge job's name, then rendering refuses", () => {
    expect(() => render([...tasks, { ...tasks[0], name: PURGE_JOB_NAME }])).toThrow(/purge job/);
  });

  it("when the setup is rendered, then it schedules the purge of pg_cron's run history by the retention of scheduler.job_runs", () => {
    for (const scope of ["all-sql", "pg_cron-runner"] as const) {
      expect(render(tasks, scope)).toContain(
        `SELECT cron.schedule('${PURGE_JOB_NAME}', '45 4 * * *', $pg_cron_job$${JOB_MARKER} ${PURGE_JOB_NAME}\nDELETE FROM cron.job_run_details WHERE start_time < now() - scheduler.run_retention();`,
      );
    }
  });
});
