/**
 * Writes the pg_cron setup scripts from the task catalog and sql/tasks/*.sql:
 * - sql/pg_cron_setup.sql schedules every SQL task (a database where pg_cron runs them all);
 * - sql/pg_cron_setup_hybrid.sql schedules the tasks whose runner is "pg_cron" (Cloud Scheduler runs the rest).
 * `--check` fails when either file is out of date (CI). The committed files schedule the catalog as
 * written; `--stack <Pulumi.<stack>.yaml>` prints both scripts for that stack's jobs instead (its
 * overrides and default time zone, resolved by the same rule as infra's: `resolveJobs`).
 */
import { readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { tasks } from "../../functions/core/catalog.js";
import type { Job } from "../../functions/core/schedule/jobs.js";
import { resolveJobs } from "../../functions/core/schedule/jobs.js";
import { loadStackJobs } from "../lib/jobs.js";
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

/** Each setup file's path and its content as these jobs (the catalog's, by default) and the task SQL say. */
export function renderPgCronSetupFiles(
  jobs: readonly Job[] = resolveJobs(tasks).jobs,
): { fileName: string; path: string; content: string }[] {
  const sqlFiles = readTaskSqlFiles();
  return pgCronSetupFiles.map(({ fileName, scope }) => ({
    fileName,
    path: pathOf(fileName),
    content: renderPgCronSetup(jobs, sqlFiles, { scope, fileName, generateCommand }),
  }));
}

function main(): void {
  const check = process.argv.includes("--check");
  const stackAt = process.argv.indexOf("--stack");
  if (stackAt >= 0) {
    const file = process.argv[stackAt + 1];
    if (!file) throw new Error("--stack needs a stack config file, e.g. --stack Pulumi.dev.yaml");
    for (const rendered of renderPgCronSetupFiles(loadStackJobs(file))) {
      process.stdout.write(`-- ${rendered.fileName} for ${file}\n${rendered.content}`);
    }
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
