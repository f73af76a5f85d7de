/**
 * An edited sql/tasks/<name>.sql takes effect with no separate step. Each test copies the project
 * into a scratch directory (never touching this tree), rewrites driver-inactivity-check's statement
 * to insert a marker row, and runs a command there as a user would, while the copy's
 * functions/core/run/sql.generated.ts still holds the old SQL.
 */
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import {
  cpSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, inject, it } from "vitest";
import { useTestDatabase } from "./helpers/database.js";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const db = useTestDatabase();
const scratchDirs: string[] = [];
const task = "driver-inactivity-check";

afterAll(() => {
  for (const dir of scratchDirs) rmSync(dir, { recursive: true, force: true });
});

/** A copy of what the commands need, with the task's statement changed to insert `marker`. */
function scratchCopy(marker: string, extra: readonly string[] = []): string {
  const dir = mkdtempSync(join(tmpdir(), "scheduled-jobs-sql-fresh-"));
  scratchDirs.push(dir);
  for (const entry of [
    "package.json",
    "tsconfig.json",
    "Pulumi.dev.yaml",
    "functions",
    "scripts",
    "sql",
    ...extra,
  ]) {
    if (existsSync(join(root, entry))) cpSync(join(root, entry), join(dir, entry), { recursive: true });
  }
  symlinkSync(join(root, "node_modules"), join(dir, "node_modules"), "dir");
  writeFileSync(
    join(dir, "sql", "tasks", `${task}.sql`),
    `-- Edited by a test: proves the runner sends this file's statement.\nINSERT INTO system_settings (setting_key, setting_value) VALUES ('${marker}', 'ran');\n`,
  );
  return dir;
}

interface Outcome {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

function run(
  cwd: string,
  command: string,
  args: readonly string[],
  env: Record<string, string> = {},
): Promise<Outcome> {
  return new Promise((done) => {
    // The whole environment (a shifted clock's LD_PRELOAD/FAKETIME too), plus what the command needs.
    execFile(command, args, { cwd, env: { ...process.env, ...env } }, (error, stdout, stderr) =>
      done({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr }),
    );
  });
}

const npm = (cwd: string, args: readonly string[], env?: Record<string, string>): Promise<Outcome> =>
  run(cwd, "npm", ["run", "--silent", ...args], env);

/** CI's check of the generated files, as .ci/run runs it. */
const generatedCheck = (cwd: string): Promise<Outcome> =>
  run(cwd, process.execPath, ["--import", "tsx", "scripts/generate/sql.ts", "--check"]);

async function markerRan(marker: string): Promise<boolean> {
  const found = await db.pool.query("SELECT 1 FROM system_settings WHERE setting_key = $1", [marker]);
  return found.rowCount === 1;
}

const newMarker = (where: string): string => `sql-fresh-${where}-${randomBytes(4).toString("hex")}`;

describe("an edited task .sql file", () => {
  it("when `npm run task` runs the task, then it runs the new SQL", async () => {
    const marker = newMarker("task");
    const dir = scratchCopy(marker);
    const outcome = await npm(dir, ["task", "--", task], { DATABASE_URL: db.url });
    expect(outcome.code, outcome.stderr).toBe(0);
    expect(JSON.parse(outcome.stdout)).toMatchObject({ task, status: "succeeded", rowsAffected: 1 });
    expect(await markerRan(marker)).toBe(true);
    expect(outcome.stderr).toContain("regenerated functions/core/run/sql.generated.ts");
  });

  it("when `npm run cli -- run --direct` runs the task, then it runs the new SQL", async () => {
    const marker = newMarker("cli");
    const dir = scratchCopy(marker);
    const outcome = await npm(dir, ["cli", "--", "run", task, "--direct", "--json"], {
      DATABASE_URL: db.url,
    });
    expect(outcome.code, outcome.stderr).toBe(0);
    expect(JSON.parse(outcome.stdout)).toMatchObject({ task, status: "succeeded", rowsAffected: 1 });
    expect(await markerRan(marker)).toBe(true);
  });

  it("when `npm run build` bundles the function, then the bundle carries the new SQL and CI's check passes", async () => {
    const marker = newMarker("build");
    const dir = scratchCopy(marker);
    const before = await generatedCheck(dir);
    expect(before.code).toBe(1);
    expect(before.stderr).toContain("functions/core/run/sql.generated.ts is out of date");

    const built = await npm(dir, ["build"]);
    expect(built.code, built.stderr).toBe(0);
    const bundleDir = join(dir, "dist", "function");
    const bundle = readdirSync(bundleDir, { recursive: true, encoding: "utf8" })
      .filter((file) => file.endsWith(".js"))
      .map((file) => readFileSync(join(bundleDir, file), "utf8"))
      .join("\n");
    // Asserted as booleans: a failure would otherwise print the whole bundle.
    expect(bundle.includes(`VALUES ('${marker}', 'ran')`), "the bundle has the edited statement").toBe(true);
    expect(bundle.includes("UPDATE drivers"), "the bundle has the old statement").toBe(false);

    const after = await generatedCheck(dir);
    expect(after.code, after.stderr).toBe(0);
  });

  it("when `npm test` runs, then the tests see the new SQL", async () => {
    const marker = newMarker("test");
    const dir = scratchCopy(marker, ["vitest.config.ts", "test/sql-setup.ts", "test/global-setup.ts"]);
    writeFileSync(
      join(dir, "test", "marker.test.ts"),
      `import { expect, it } from "vitest";
import { findTask } from "../functions/core/catalog.js";
import { sqlOf } from "../functions/core/run/task-sql.js";
it("sees the edited SQL", () => {
  expect(sqlOf(findTask(${JSON.stringify(task)})!).statement).toContain(${JSON.stringify(marker)});
});
`,
    );
    // The test server of this run, so the copy's global setup starts no PostgreSQL of its own.
    const outcome = await npm(dir, ["test"], { DATABASE_URL: inject("adminDatabaseUrl") });
    expect(outcome.code, `${outcome.stdout}\n${outcome.stderr}`).toBe(0);
    expect(outcome.stdout).toContain("1 passed");
  });
});
