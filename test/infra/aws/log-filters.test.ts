/**
 * The AWS stack's metric filters against the lines the runner really writes, on real PostgreSQL:
 * a run that failed (a guard trip) is counted once by the failed-runs filter, a real success once by
 * the succeeded-runs filter with its task for the dead-man's dimension, and a dry run, a skipped run
 * and the progress lines of a batched task are counted by neither.
 */
import { describe, expect, it } from "vitest";
import type { TaskDefinition } from "../../../functions/core/catalog.js";
import { tasks } from "../../../functions/core/catalog.js";
import { createLogger } from "../../../functions/core/log.js";
import { runTask } from "../../../functions/core/run/runner.js";
import { FAILED_RUNS_PATTERN, SUCCEEDED_RUNS_PATTERN } from "../../../infra/aws/alarms.js";
import { useTestDatabase } from "../../helpers/database.js";
import { matchesPattern } from "./metric-filter.js";

const db = useTestDatabase();
const task = (name: string): TaskDefinition => tasks.find((candidate) => candidate.name === name)!;

function capturingLogger() {
  const lines: Record<string, unknown>[] = [];
  return { lines, log: createLogger({}, (line) => lines.push(JSON.parse(line) as Record<string, unknown>)) };
}

const failed = (lines: Record<string, unknown>[]) =>
  lines.filter((line) => matchesPattern(FAILED_RUNS_PATTERN, line));
const succeeded = (lines: Record<string, unknown>[]) =>
  lines.filter((line) => matchesPattern(SUCCEEDED_RUNS_PATTERN, line));

describe("the AWS stack's metric filters over the runner's log lines", () => {
  it("when a run succeeds, then the succeeded-runs filter counts it once, with its task, and the failed-runs filter not at all", async () => {
    const { lines, log } = capturingLogger();
    const batched = task("cleanup-expired-sessions");
    const result = await runTask({ pool: db.pool, log }, { task: batched, trigger: "scheduler" });
    expect(result.status).toBe("succeeded");
    // The batched task also says it started: an INFO line with its task that is not a success.
    expect(
      lines.filter((line) => line.severity === "INFO" && line.task === batched.name).length,
    ).toBeGreaterThan(1);
    expect(succeeded(lines)).toEqual([expect.objectContaining({ task: batched.name, runId: result.runId })]);
    expect(failed(lines)).toEqual([]);
  });

  it("when a run is a dry run, then neither filter counts it", async () => {
    const { lines, log } = capturingLogger();
    const result = await runTask(
      { pool: db.pool, log },
      { task: task("generate-daily-stats"), trigger: "manual", dryRun: true },
    );
    expect(result.status).toBe("succeeded");
    expect(lines.some((line) => String(line.message).endsWith("would change"))).toBe(true);
    expect([...succeeded(lines), ...failed(lines)]).toEqual([]);
  });

  it("when a run fails (its guard trips), then the failed-runs filter counts it once and the succeeded-runs filter not at all", async () => {
    const guarded = task("auto-cancel-unconfirmed-orders");
    await db.pool.query(`
      INSERT INTO restaurants (name, email) VALUES ('r', 'owner@restaurant.example');
      INSERT INTO orders (restaurant_id, status, placed_at)
        SELECT id, 'pending', now() - interval '2 hours' FROM restaurants, generate_series(1, ${guarded.maxRows! + 1});
    `);
    const { lines, log } = capturingLogger();
    const result = await runTask({ pool: db.pool, log }, { task: guarded, trigger: "scheduler" });
    expect(result).toMatchObject({ status: "failed" });
    expect(failed(lines)).toEqual([
      expect.objectContaining({ task: guarded.name, runId: result.runId, severity: "ERROR" }),
    ]);
    expect(succeeded(lines)).toEqual([]);
  });

  it("when the patterns are read, then they are JSON patterns the evaluator fully understands, and an unknown form is refused", () => {
    expect(matchesPattern(FAILED_RUNS_PATTERN, { severity: "ERROR" })).toBe(false);
    expect(
      matchesPattern(SUCCEEDED_RUNS_PATTERN, {
        severity: "INFO",
        task: "t",
        more: "false",
        message: "t: succeeded, 1 rows",
      }),
    ).toBe(false);
    expect(() => matchesPattern('{ $.message = "a*b" }', {})).toThrow(/wildcard inside a value/);
  });
});
