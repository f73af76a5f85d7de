/**
 * `npm run new-task` in a scratch copy of the project, after the README's own example: an SQL task,
 * an email task and an http task scaffolded there, under names the catalog does not have, must
 * type-check with the rest of the project, their generated tests must pass against a real
 * PostgreSQL (the http task's against a local stand-in for its target), and the tests that read the
 * task list (the README's table, the catalog, the pg_cron scripts, the stacks) must still pass once
 * the README's steps after the scaffold are done.
 */
import { execFile } from "node:child_process";
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { childEnv } from "../scripts/local/child-env.js";
import { ROOT } from "../scripts/local/local-stack.js";
import { removeLocalState, writeLocalState } from "../scripts/local/local-state.js";

const run = promisify(execFile);
const scratch = mkdtempSync(join(tmpdir(), "sj-new-task-"));
const SKIP = new Set([".git", "node_modules", ".data", "dist", "test-results", "coverage", "bench/results"]);

/** A command line as a user types it, in the scratch copy's shell. */
async function inShell(command: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return run("sh", ["-c", command], { cwd: scratch, env: childEnv(), maxBuffer: 16 * 1024 * 1024 }).then(
    (done) => ({ code: 0, ...done }),
    (error: { code: number; stdout: string; stderr: string }) => error,
  );
}

/** `base`, or `base-2`, `base-3`...: the first name the scratch copy's catalog does not have. */
function unusedTaskName(base: string): string {
  const catalog = readFileSync(join(scratch, "functions/core/catalog.ts"), "utf8");
  for (let n = 1; ; n++) {
    const name = n === 1 ? base : `${base}-${n}`;
    if (!catalog.includes(`name: "${name}",`)) return name;
  }
}

const camel = (name: string): string => name.replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase());

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
  it("when the name, the kind or an http task's call is wrong, then it exits 2, says why and writes nothing", async () => {
    const catalog = readFileSync(join(scratch, "functions/core/catalog.ts"), "utf8");
    const http = ["good-name", "--http", "--target", "app-backend", "--path"];
    for (const [args, why] of [
      [["Bad_Name", "--sql"], /kebab-case/],
      [["good-name"], /say which kind/],
      [["good-name", "--sql", "--email"], /say which kind/],
      [["good-name", "--sql", "--http"], /say which kind/],
      [["archive-old-orders", "--sql"], /already has a task/],
      [["good-name", "--http", "--path", "/internal/x"], /--http needs --target/],
      [["good-name", "--http", "--target", "app-backend"], /--http needs --path/],
      [["good-name", "--http", "--target", "App_Backend", "--path", "/x"], /--target: .*not kebab-case/],
      [["good-name", "--sql", "--target", "app-backend"], /--target and --path are an http task's/],
      [["good-name", "--email", "--path", "/x"], /--target and --path are an http task's/],
      [[...http, "internal/x"], /must start with "\/"/],
      [[...http, "/internal/x?since=1h"], /no query or fragment/],
      [[...http, "/internal/x#top"], /no query or fragment/],
      [[...http, "/internal/../admin"], /not a plain URL path/],
    ] as const) {
      const result = await inScratch(["--import", "tsx", "scripts/new-task.ts", ...args]);
      expect(result.code, args.join(" ")).toBe(2);
      expect(result.stderr, args.join(" ")).toMatch(/^new-task: /);
      expect(result.stderr, args.join(" ")).toMatch(why);
    }
    expect(readFileSync(join(scratch, "functions/core/catalog.ts"), "utf8")).toBe(catalog);
  });

  it("when the user has scaffolded the README's example, then tasks of other names scaffold beside it, the project type-checks, and the tests that read the task list pass", async () => {
    // The README's example first, exactly as a user runs it (unless the copied tree has it already):
    // a user's own tasks must not break this test, nor the suite.
    const readme = readFileSync(join(scratch, "README.md"), "utf8");
    const example = readme.split("\n").find((line) => line.startsWith("npm run new-task -- "));
    expect(example, "the README shows the scaffolder").toBeDefined();
    const theirName = /^npm run new-task -- ([a-z0-9-]+) /.exec(example!)![1]!;
    if (unusedTaskName(theirName) === theirName) {
      const theirs = await inShell(
        example!.replace(/^npm run new-task -- /, `"${process.execPath}" --import tsx scripts/new-task.ts `),
      );
      expect(theirs.code, theirs.stderr).toBe(0);
    }

    // A running npm start (this process stands in for it) read the catalog when it started.
    writeLocalState(
      {
        pid: process.pid,
        databaseUrl: "postgres://127.0.0.1:1/none",
        functionUrl: "http://127.0.0.1:1",
        consoleUrl: "http://127.0.0.1:1",
        startedAt: new Date().toISOString(),
      },
      scratch,
    );
    const sqlName = unusedTaskName("scaffold-check-sql");
    const emailName = unusedTaskName("scaffold-check-email");
    const httpName = unusedTaskName("scaffold-check-http");
    const httpPath = `/internal/jobs/${httpName}`;
    const outputs: Record<string, string> = {};
    for (const [name, ...kind] of [
      [sqlName, "--sql"],
      [emailName, "--email"],
      // app-backend: the target the dev stacks name, so nothing is said about the stack.
      [httpName, "--http", "--target", "app-backend", "--path", httpPath],
    ] as const) {
      const made = await inScratch([
        "--import",
        "tsx",
        "scripts/new-task.ts",
        name,
        ...kind,
        "--schedule",
        "0 5 * * 1",
      ]);
      outputs[name] = made.stdout;
      expect(made.code, made.stderr).toBe(0);
      expect(existsSync(join(scratch, "test/tasks", `${name}.test.ts`))).toBe(true);
      // Each generated file at most once, and no step asks for what the scaffolder did.
      expect(made.stdout.match(/sql\/pg_cron_setup\.sql/g)?.length ?? 0, made.stdout).toBeLessThanOrEqual(1);
      expect(made.stdout).not.toMatch(/README row/);
      expect(made.stdout).toContain(
        `npm start is running (pid ${process.pid}): it read the catalog when it started, so it answers 404 for ${name} until you stop it and start it again.`,
      );
    }
    expect(readFileSync(join(scratch, `sql/tasks/${sqlName}.sql`), "utf8")).toMatch(/^-- TODO/);
    expect(readFileSync(join(scratch, "functions/core/run/sql.generated.ts"), "utf8")).toContain(sqlName);
    expect(readFileSync(join(scratch, "functions/email/runtime.ts"), "utf8")).toContain(
      `"${emailName}": ${camel(emailName)}`,
    );
    const scaffoldedCatalog = readFileSync(join(scratch, "functions/core/catalog.ts"), "utf8");
    expect(scaffoldedCatalog).toContain(`http: { target: "app-backend", path: "${httpPath}" },`);
    expect(existsSync(join(scratch, "sql/tasks", `${httpName}.sql`))).toBe(false);
    expect(outputs[httpName]).toContain(`Next: build POST ${httpPath} in the app-backend service`);
    expect(outputs[httpName]).toContain(
      "The dev stack (Pulumi.dev.yaml) names scheduled-jobs:httpTargets.app-backend",
    );

    removeLocalState(scratch);
    const typecheck = await inScratch([
      join(scratch, "node_modules/typescript/bin/tsc"),
      "--noEmit",
      "-p",
      scratch,
    ]);
    expect(typecheck.code, typecheck.stdout + typecheck.stderr).toBe(0);

    // The rest of the README's block after the scaffold (its own task's test, the snapshot of the
    // Google resources pinned again), then the tests that read the task list.
    const after = readme.slice(readme.indexOf(example!)).split("```")[0]!.split("\n").slice(1);
    for (const line of after.map((l) => l.replace(/\s+#.*$/, "").trim()).filter(Boolean)) {
      const done = await inShell(
        line.replace(/^npx vitest /, `"${process.execPath}" node_modules/vitest/vitest.mjs `),
      );
      expect(done.code, `${line}\n${done.stdout}${done.stderr}`).toBe(0);
    }
    const vitest = join(scratch, "node_modules/vitest/vitest.mjs");
    const tests = await inScratch([
      vitest,
      "run",
      ...[theirName, sqlName, emailName, httpName].map((name) => `test/tasks/${name}.test.ts`),
      "test/docs.test.ts",
      "-t",
      `${theirName}|${sqlName}|${emailName}|${httpName}|task table`,
    ]);
    expect(tests.code, tests.stdout + tests.stderr).toBe(0);
    expect(tests.stdout).toMatch(/Tests\s+.*5 passed/);
    const listReaders = [
      "test/catalog.test.ts",
      "test/pg-cron-generated.test.ts",
      "test/infra/aws/stack.test.ts",
      "test/infra/registrations.test.ts",
    ];
    const readers = await inScratch([vitest, "run", ...listReaders]);
    expect(readers.code, readers.stdout + readers.stderr).toBe(0);

    // Last, after the readers: a target the dev stack does not name, which it then says how to add.
    const elsewhere = unusedTaskName("scaffold-check-billing");
    const unnamed = await inScratch([
      "--import",
      "tsx",
      "scripts/new-task.ts",
      elsewhere,
      "--http",
      "--target",
      "billing",
      "--path",
      "/jobs/settle",
    ]);
    expect(unnamed.code, unnamed.stderr).toBe(0);
    expect(unnamed.stdout).toContain(
      "The dev stack (Pulumi.dev.yaml) names no scheduled-jobs:httpTargets.billing: add it to Pulumi.<stack>.yaml",
    );
    expect(unnamed.stdout).toMatch(/scheduled-jobs:httpTargets:\n {4}billing:\n {6}url: https:/);
  }, 480_000);
});
