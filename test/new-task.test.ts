/**
 * `npm run new-task` in a scratch copy of the project: an SQL task and an email task scaffolded
 * there must type-check with the rest of the project, their generated tests must pass against a
 * real PostgreSQL, and the README's task table must still match the catalog.
 */
import { execFile } from "node:child_process";
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { childEnv } from "../scripts/local/child-env.js";
import { ROOT } from "../scripts/local/local-stack.js";

const run = promisify(execFile);
const scratch = mkdtempSync(join(tmpdir(), "sj-new-task-"));
const SKIP = new Set([".git", "node_modules", ".data", "dist", "test-results", "coverage", "bench/results"]);

async function inScratch(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return run(process.execPath, args, { cwd: scratch, env: childEnv(), maxBuffer: 16 * 1024 * 1024 }).then(
    (done) => ({ code: 0, ...done }),
    (error: { code: number; stdout: string; stderr: string }) => error,
  );
}

beforeAll(() => {
  cpSync(ROOT, scratch, {
    recursive: true,
    filter: (source) => !SKIP.has(relative(ROOT, source)),
  });
  symlinkSync(join(ROOT, "node_modules"), join(scratch, "node_modules"), "dir");
});

afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe("npm run new-task", () => {
  it("when the name or the kind is wrong, then it exits 2 and writes nothing", async () => {
    const catalog = readFileSync(join(scratch, "functions/core/catalog.ts"), "utf8");
    for (const args of [
      ["Bad_Name", "--sql"],
      ["good-name"],
      ["good-name", "--sql", "--email"],
      ["archive-old-orders", "--sql"],
    ]) {
      const result = await inScratch(["--import", "tsx", "scripts/new-task.ts", ...args]);
      expect(result.code, args.join(" ")).toBe(2);
      expect(result.stderr).toMatch(/^new-task: /);
    }
    expect(readFileSync(join(scratch, "functions/core/catalog.ts"), "utf8")).toBe(catalog);
  });

  it("when an SQL task and an email task are scaffolded, then the project type-checks and their tests and the README table check pass", async () => {
    for (const [name, kind] of [
      ["purge-stale-carts", "--sql"],
      ["send-weekly-digest", "--email"],
    ] as const) {
      const made = await inScratch([
        "--import",
        "tsx",
        "scripts/new-task.ts",
        name,
        kind,
        "--schedule",
        "0 5 * * 1",
      ]);
      expect(made.code, made.stderr).toBe(0);
      expect(existsSync(join(scratch, "test/tasks", `${name}.test.ts`))).toBe(true);
    }
    expect(readFileSync(join(scratch, "sql/tasks/purge-stale-carts.sql"), "utf8")).toMatch(/^-- TODO/);
    expect(readFileSync(join(scratch, "functions/core/run/sql.generated.ts"), "utf8")).toContain(
      "purge-stale-carts",
    );
    expect(readFileSync(join(scratch, "functions/email/runtime.ts"), "utf8")).toContain(
      '"send-weekly-digest": sendWeeklyDigest',
    );

    const typecheck = await inScratch([
      join(scratch, "node_modules/typescript/bin/tsc"),
      "--noEmit",
      "-p",
      scratch,
    ]);
    expect(typecheck.code, typecheck.stdout + typecheck.stderr).toBe(0);

    const tests = await inScratch([
      join(scratch, "node_modules/vitest/vitest.mjs"),
      "run",
      "test/tasks/purge-stale-carts.test.ts",
      "test/tasks/send-weekly-digest.test.ts",
      "test/docs.test.ts",
      "-t",
      "purge-stale-carts|send-weekly-digest|task table",
    ]);
    expect(tests.code, tests.stdout + tests.stderr).toBe(0);
    expect(tests.stdout).toMatch(/Tests\s+.*3 passed/);
  }, 300_000);
});
