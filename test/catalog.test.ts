import { existsSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { findTask, taskNameProblem, tasks } from "../functions/core/catalog.js";
import type { BatchSizing } from "../functions/core/catalog.js";
import { cronProblem } from "../functions/core/schedule/cron-grammar.js";
import { resolveJobs } from "../functions/core/schedule/jobs.js";
import { taskSql } from "../functions/core/run/sql.generated.js";

describe("task catalog", () => {
  it.each(tasks.map((task) => [task.name, task] as const))(
    "when %s is read, then it is well formed",
    (_, task) => {
      expect(taskNameProblem(task.name)).toBeUndefined();
      expect(task.description.length).toBeGreaterThan(10);
      // The grammar Cloud Scheduler documents (functions/core/schedule/cron-grammar.ts), as the stack and the function check it.
      expect(cronProblem(task.schedule)).toBeUndefined();
      // Cloud Scheduler accepts attempt deadlines of 15 s to 30 min for HTTP targets.
      expect(task.timeoutSeconds).toBeGreaterThanOrEqual(15);
      expect(task.timeoutSeconds).toBeLessThanOrEqual(1800);
      expect(task.retry.retryCount).toBeGreaterThanOrEqual(0);
      expect(task.retry.retryCount).toBeLessThanOrEqual(5);
      expect(task.retry.minBackoffSeconds).toBeLessThanOrEqual(task.retry.maxBackoffSeconds);
      if ("batch" in task && task.batch) {
        expect(task.batch.size).toBeGreaterThan(0);
        expect(task.batch.timeBudgetSeconds).toBeLessThan(task.timeoutSeconds);
        const sizing: BatchSizing | undefined =
          "sizedByTime" in task.batch ? task.batch.sizedByTime : undefined;
        if (sizing) {
          // Only the SQL runner sizes by time; an email batch is an API call of fixed size.
          expect(task.kind).toBe("sql");
          expect(sizing.minSize).toBeGreaterThan(0);
          expect(sizing.minSize).toBeLessThanOrEqual(task.batch.size);
          expect(task.batch.size).toBeLessThanOrEqual(sizing.maxSize);
          // A statement timeout (the task's) far above one batch's target.
          expect(sizing.targetMs * 10).toBeLessThan(task.timeoutSeconds * 1000);
        }
      }
      if ("maxRows" in task && task.maxRows !== undefined) expect(task.maxRows).toBeGreaterThan(0);
    },
  );

  it("when the catalog is resolved with no overrides, then it has no problem and every job is its task", () => {
    const { jobs, problems } = resolveJobs(tasks);
    expect(problems).toEqual([]);
    expect(jobs.map((job) => job.name)).toEqual(tasks.map((task) => task.name));
    for (const job of jobs) expect(job.overridden).toEqual([]);
  });

  it("when names are compared, then each is unique", () => {
    const names = tasks.map((task) => task.name);
    expect(new Set(names).size).toBe(names.length);
  });

  it("when a task is sql, then sql/tasks/<name>.sql exists and is compiled in", () => {
    for (const task of tasks.filter((t) => t.kind === "sql")) {
      expect(existsSync(new URL(`../sql/tasks/${task.name}.sql`, import.meta.url)), task.name).toBe(true);
      const sql = taskSql[task.name];
      expect(sql, task.name).toBeDefined();
      if ("batch" in task && task.batch) {
        expect(sql?.batch, `${task.name} batch`).toContain("$1");
        expect(sql?.count, `${task.name} count`).toContain("$1");
      } else {
        expect(sql?.statement, task.name).toBeTruthy();
      }
    }
  });

  it("when an unknown or hostile name is looked up, then nothing is found", () => {
    expect(findTask("auto-cancel-unconfirmed-orders")?.name).toBe("auto-cancel-unconfirmed-orders");
    for (const name of [
      "",
      "../etc/passwd",
      "constructor",
      "__proto__",
      "toString",
      "AUTO-CANCEL-UNCONFIRMED-ORDERS",
    ]) {
      expect(findTask(name)).toBeUndefined();
    }
  });

  it("when the catalog and the job resolver are imported, then no driver or SDK is loaded", async () => {
    const { execFileSync } = await import("node:child_process");
    const out = execFileSync(
      process.execPath,
      [
        "--import",
        "tsx",
        "-e",
        `await import("./functions/core/catalog.ts");
         await import("./functions/core/schedule/jobs.ts");
         const { createRequire } = await import("node:module");
         const loaded = Object.keys(createRequire(import.meta.url).cache);
         console.log(JSON.stringify(loaded.filter((p) => p.includes("node_modules") && !p.includes("/tsx/") && !p.includes("get-tsconfig") && !p.includes("resolve-pkg-maps") && !p.includes("esbuild"))));`,
      ],
      { cwd: new URL("..", import.meta.url), encoding: "utf8" },
    );
    expect(JSON.parse(out.trim().split("\n").pop() ?? "[]")).toEqual([]);
  });
});
