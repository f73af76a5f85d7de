/**
 * `scheduled-jobs:pauseAll`: one config key that pauses every job the cloud's scheduler runs, as
 * if each task's override said `paused: true` (for the first deploy, before the database is
 * migrated, and for any stop of everything); removing it resumes them. One rule (`resolveJobs`),
 * so infra, the function (through TASK_OVERRIDES) and the CLI agree.
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type { TaskDefinition } from "../functions/core/catalog.js";
import { runnerOf, tasks } from "../functions/core/catalog.js";
import { overridesOf, resolveJobs } from "../functions/core/schedule/jobs.js";
import { runCli } from "./helpers/cli.js";

const root = mkdtempSync(join(tmpdir(), "sj-pause-all-"));

describe("pauseAll", () => {
  it("when it is true, then every job the cloud's scheduler runs is paused, and the function is told so", () => {
    const { jobs, problems } = resolveJobs(tasks, {
      pauseAll: "true",
      overrides: { "archive-old-orders": { schedule: "0 4 * * 0" } },
    });
    expect(problems).toEqual([]);
    expect(jobs.every((job) => job.paused)).toBe(true);
    expect(jobs.find((job) => job.name === "archive-old-orders")).toMatchObject({ schedule: "0 4 * * 0" });
    // What the function is told resolves, by the same rule, to the same paused jobs.
    const told = resolveJobs(tasks, { overrides: overridesOf(tasks, jobs) });
    expect(told.problems).toEqual([]);
    expect(told.jobs.map((job) => job.paused)).toEqual(jobs.map(() => true));
    expect(resolveJobs(tasks, { pauseAll: false }).jobs.map((job) => job.paused)).toEqual(
      tasks.map((task) => task.paused),
    );
  });

  it("when a task runs on pg_cron, then pauseAll leaves it to the database's setup, as an override would", () => {
    const catalog: TaskDefinition[] = tasks.map((task) =>
      task.name === "cleanup-expired-sessions" ? { ...task, runner: "pg_cron" } : task,
    );
    const { jobs, problems } = resolveJobs(catalog, { pauseAll: true });
    expect(problems).toEqual([]);
    for (const job of jobs) expect(job.paused, job.name).toBe(runnerOf(job) === "cloud" ? true : job.paused);
    expect(jobs.find((job) => job.name === "cleanup-expired-sessions")!.paused).toBe(false);
  });

  it("when it is not a boolean, then it is a problem naming the key", () => {
    expect(
      resolveJobs(tasks, { pauseAll: "yes", pauseAllSource: "scheduled-jobs:pauseAll" }).problems,
    ).toEqual(['scheduled-jobs:pauseAll must be true or false (got "yes")']);
  });

  it("when the stack file the CLI reads sets it, then `jobs` lists every job paused in the config", async () => {
    const file = join(root, "Pulumi.first.yaml");
    writeFileSync(file, 'config:\n  scheduled-jobs:pauseAll: "true"\n');
    const listed = await runCli(["jobs", "--json"], {
      env: { PULUMI_STACK_FILE: file, DATABASE_URL: "postgres://nobody@127.0.0.1:1/none" },
      now: new Date("2026-12-07T06:00:00Z"),
      root,
    });
    expect(listed.code).toBe(0);
    const jobs = (JSON.parse(listed.out) as { jobs: { task: string; paused: boolean; next: string[] }[] })
      .jobs;
    expect(jobs).toHaveLength(tasks.length);
    for (const job of jobs) expect(job, job.task).toMatchObject({ paused: true, next: [] });
  });
});
