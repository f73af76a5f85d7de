import { existsSync } from "node:fs";
import { Cron } from "croner";
import { describe, expect, it } from "vitest";
import { findTask, tasks, timeZoneOf } from "../functions/catalog.js";
import { taskSql } from "../functions/sql.generated.js";

describe("task catalog", () => {
  it.each(tasks.map((task) => [task.name, task] as const))(
    "when %s is read, then it is well formed",
    (_, task) => {
      expect(task.name).toMatch(/^[a-z][a-z0-9]*(-[a-z0-9]+)*$/);
      expect(task.description.length).toBeGreaterThan(10);
      expect(task.schedule.trim().split(/\s+/)).toHaveLength(5);
      expect(() => new Cron(task.schedule, { timezone: timeZoneOf(task), paused: true })).not.toThrow();
      expect(new Cron(task.schedule, { timezone: timeZoneOf(task), paused: true }).nextRun()).toBeInstanceOf(
        Date,
      );
      expect(() => new Intl.DateTimeFormat("en-US", { timeZone: timeZoneOf(task) })).not.toThrow();
      // Cloud Scheduler accepts attempt deadlines of 15 s to 30 min for HTTP targets.
      expect(task.timeoutSeconds).toBeGreaterThanOrEqual(15);
      expect(task.timeoutSeconds).toBeLessThanOrEqual(1800);
      expect(task.retry.retryCount).toBeGreaterThanOrEqual(0);
      expect(task.retry.retryCount).toBeLessThanOrEqual(5);
      expect(task.retry.minBackoffSeconds).toBeLessThanOrEqual(task.retry.maxBackoffSeconds);
      if ("batch" in task && task.batch) {
        expect(task.batch.size).toBeGreaterThan(0);
        expect(task.batch.timeBudgetSeconds).toBeLessThan(task.timeoutSeconds);
      }
      if ("maxRows" in task && task.maxRows !== undefined) expect(task.maxRows).toBeGreaterThan(0);
    },
  );

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

  it("when the catalog is imported, then no driver or SDK is loaded", async () => {
    const { execFileSync } = await import("node:child_process");
    const out = execFileSync(
      process.execPath,
      [
        "--import",
        "tsx",
        "-e",
        `await import("./functions/catalog.ts");
         const { createRequire } = await import("node:module");
         const loaded = Object.keys(createRequire(import.meta.url).cache);
         console.log(JSON.stringify(loaded.filter((p) => p.includes("node_modules") && !p.includes("/tsx/") && !p.includes("get-tsconfig") && !p.includes("resolve-pkg-maps") && !p.includes("esbuild"))));`,
      ],
      { cwd: new URL("..", import.meta.url), encoding: "utf8" },
    );
    expect(JSON.parse(out.trim().split("\n").pop() ?? "[]")).toEqual([]);
  });
});
