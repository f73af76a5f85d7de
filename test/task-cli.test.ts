/**
 * `npm run task`: the run's JSON on stdout and the documented exit codes, against real PostgreSQL.
 * It is the CLI's `run <task> --direct --json` (package.json), so it runs as npm runs it.
 */
import { execFile } from "node:child_process";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { childEnv } from "../scripts/local/child-env.js";
import { freePort } from "../scripts/local/embedded-postgres.js";
import { useTestDatabase } from "./helpers/database.js";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const db = useTestDatabase();

function task(
  args: string[],
  databaseUrl?: string,
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((done) => {
    execFile(
      "npm",
      ["run", "--silent", "task", "--", ...args],
      {
        cwd: root,
        env: childEnv({ DATABASE_URL: databaseUrl }),
      },
      (error, stdout, stderr) => done({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr }),
    );
  });
}

describe("npm run task", () => {
  it("when a task runs, then its run is printed as JSON and the exit code is 0; a dry run changes nothing", async () => {
    await db.pool.query(
      "INSERT INTO orders (status, placed_at) SELECT 'pending', now() - interval '2 hours' FROM generate_series(1, 2)",
    );
    const dry = await task(["auto-cancel-unconfirmed-orders", "--dry-run"], db.url);
    expect(dry.code).toBe(0);
    expect(JSON.parse(dry.stdout)).toMatchObject({ status: "succeeded", rowsAffected: 2, dryRun: true });
    const run = await task(["auto-cancel-unconfirmed-orders"], db.url);
    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout)).toMatchObject({ status: "succeeded", rowsAffected: 2, dryRun: false });
    const recorded = await db.pool.query("SELECT DISTINCT trigger FROM scheduler.job_runs");
    expect(recorded.rows).toEqual([{ trigger: "cli" }]);
  });

  it("when the task fails, then the failed run is printed and the exit code is 1", async () => {
    await db.pool.query(
      "INSERT INTO orders (status, placed_at) SELECT 'pending', now() - interval '2 hours' FROM generate_series(1, 501)",
    );
    const run = await task(["auto-cancel-unconfirmed-orders"], db.url);
    expect(run.code).toBe(1);
    expect(JSON.parse(run.stdout)).toMatchObject({ status: "failed", code: "guard_tripped" });
  });

  it("when the arguments are wrong or the task unknown, then the exit code is 2 and the task names are listed", async () => {
    const [unknown, badFlag] = await Promise.all([
      task(["no-such-task"], db.url),
      task(["generate-daily-stats", "--yes"], db.url),
    ]);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain("auto-cancel-unconfirmed-orders");
    expect(badFlag.code).toBe(2);
    expect(badFlag.stderr).toContain("unknown option --yes");
  });

  it("when the database is unreachable, then the exit code is 3", async () => {
    const run = await task(
      ["generate-daily-stats"],
      `postgres://nobody:nothing@127.0.0.1:${await freePort()}/none`,
    );
    expect(run.code).toBe(3);
    expect(run.stderr).toContain("unreachable");
  });
});
