/**
 * Writes the pg_cron setup scripts from the shipped dev stack (the catalog with Pulumi.dev.yaml's
 * overrides, resolved by infra's rule, `resolveJobs`) and sql/tasks/*.sql:
 * - sql/pg_cron_setup.sql schedules every SQL task (a database where pg_cron runs them all);
 * - sql/pg_cron_setup_hybrid.sql schedules the tasks whose runner is "pg_cron" (Cloud Scheduler runs the rest).
 * The committed files are the dev stack's, the stack the CLI and the local stack read by default,
 * so a database loaded as docs/pg-cron.md says runs the schedules /health judges it by; each records
 * its stack in the database as it loads (scheduler.pg_cron_setup). `--check` fails when either file
 * is out of date (CI). `--stack <Pulumi.<stack>.yaml>` prints the setup of every SQL task for that
 * stack instead (`--hybrid`: the hybrid's), to load into that stack's database.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { relative } from "node:path";
import { fileURLToPath } from "node:url";
import type { Job } from "../../functions/core/schedule/jobs.js";
import { loadStackJobs, stackNameOf } from "../lib/jobs.js";
import type { PgCronScope } from "./pg-cron-render.js";
import { renderPgCronSetup } from "./pg-cron-render.js";
import { readTaskSqlFiles } from "./sql-files.js";

export const generateCommand = "npm run pg-cron:generate";

export const pgCronSetupFiles: readonly { readonly fileName: string; readonly scope: PgCronScope }[] = [
  { fileName: "sql/pg_cron_setup.sql", scope: "all-sql" },
  { fileName: "sql/pg_cron_setup_hybrid.sql", scope: "pg_cron-runner" },
];

export function pathOf(fileName: string): string {
  return fileURLToPath(new URL(`../../${fileName}`, import.meta.url));
}

/** The stack the committed setup files are rendered for: the shipped dev stack. */
export const SHIPPED_STACK_FILE = "Pulumi.dev.yaml";

/** A stack's jobs, with its name and config file as the setup records them. */
export interface PgCronStack {
  /** `dev` for Pulumi.dev.yaml. */
  readonly name: string;
  /** The config file, as a path from the project's root when it is inside it. */
  readonly file: string;
  readonly jobs: readonly Job[];
}

/** The stack of a config file `Pulumi.<stack>.yaml`: its jobs (throws on their problems). */
export function pgCronStack(file: string): PgCronStack {
  const name = stackNameOf(file);
  if (!name) throw new Error(`${file}: a stack's config file is named Pulumi.<stack>.yaml`);
  const fromRoot = relative(pathOf(""), file);
  return { name, file: fromRoot.startsWith("..") ? file : fromRoot, jobs: loadStackJobs(file) };
}

/** Each setup file's path and its content as the stack (the shipped dev stack, by default) and the task SQL say. */
export function renderPgCronSetupFiles(
  stack: PgCronStack = pgCronStack(pathOf(SHIPPED_STACK_FILE)),
): { fileName: string; path: string; content: string }[] {
  const sqlFiles = readTaskSqlFiles();
  return pgCronSetupFiles.map(({ fileName, scope }) => ({
    fileName,
    path: pathOf(fileName),
    content: renderPgCronSetup(stack.jobs, sqlFiles, {
      scope,
      fileName,
      generateCommand,
      stack: { name: stack.name, file: stack.file },
    }),
  }));
}

function main(): void {
  const check = process.argv.includes("--check");
  const stackAt = process.argv.indexOf("--stack");
  if (stackAt >= 0) {
    const file = process.argv[stackAt + 1];
    if (!file) throw new Error("--stack needs a stack config file, e.g. --stack Pulumi.dev.yaml");
    // One script, to load as it is: every SQL task's, or the hybrid's with --hybrid.
    const hybrid = process.argv.includes("--hybrid");
    const wanted = pgCronSetupFiles[hybrid ? 1 : 0]!.fileName;
    const rendered = renderPgCronSetupFiles(pgCronStack(file)).find((one) => one.fileName === wanted)!;
    process.stdout.write(rendered.content);
    return;
  }
  let stale = 0;
  for (const file of renderPgCronSetupFiles()) {
    if (check) {
      let current = "";
      try {
        current = readFileSync(file.path, "utf8");
      } catch {
        // missing counts as out of date
      }
      if (current !== file.content) {
        console.error(`${file.fileName} is out of date: run \`${generateCommand}\`.`);
        stale += 1;
      } else {
        console.log(`${file.fileName} is up to date.`);
      }
    } else {
      writeFileSync(file.path, file.content);
      console.log(`wrote ${file.fileName}`);
    }
  }
  if (stale > 0) process.exit(1);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) main();
