/**
 * Everything generated from sql/tasks/*.sql: functions/core/run/sql.generated.ts (the function's task SQL, so
 * the deployed bundle carries it and reads no file at run time) and the pg_cron setup scripts.
 *
 * `refreshGeneratedSql()` rewrites whichever of them no longer matches its sources. Every command
 * that runs or ships task SQL calls it first (`npm run build`, so `npm start` and what `pulumi up`
 * uploads; `npm run task`; `cli run --direct`; the test setups), so an edited .sql file takes effect
 * with no separate step and leaves the tree ready to commit. Regenerating the one module, rather than
 * serving the SQL through an esbuild plugin plus a Node loader plus a Vite plugin, keeps a single
 * artifact that tsx, vitest, esbuild and tsc all read the same way; and the committed file stays the
 * reviewed record of what ships, which CI's `--check` keeps current.
 *
 * `npm run sql:generate` writes them all; `--check` only reports the stale ones and fails (CI).
 */
import { readFileSync, renameSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { renderPgCronSetupFiles } from "./pg-cron.js";
import { readTaskSqlFiles } from "./sql-files.js";

export const generateCommand = "npm run sql:generate";

const generatedPath = fileURLToPath(new URL("../../functions/core/run/sql.generated.ts", import.meta.url));

interface GeneratedFile {
  /** Relative to the project root, for messages. */
  readonly fileName: string;
  readonly path: string;
  readonly content: string;
}

function renderTaskSqlModule(): string {
  const files = readTaskSqlFiles();
  const entries = Object.entries(files)
    .map(
      ([name, file]) => `  ${JSON.stringify(name)}: ${JSON.stringify(file, null, 2).replace(/\n/g, "\n  ")},`,
    )
    .join("\n");
  return `// Generated from sql/tasks/*.sql (by \`npm run build\`, \`npm run task\`, \`npm test\` or \`${generateCommand}\`). Do not edit: edit the .sql files.
import type { TaskSqlFile } from "./task-sql.js";

export const taskSql: Readonly<Record<string, TaskSqlFile>> = {
${entries}
};
`;
}

/** Every generated file with the content its sources say it should have. */
function renderGeneratedSql(): GeneratedFile[] {
  return [
    { fileName: "functions/core/run/sql.generated.ts", path: generatedPath, content: renderTaskSqlModule() },
    ...renderPgCronSetupFiles(),
  ];
}

function isCurrent(file: GeneratedFile): boolean {
  try {
    return readFileSync(file.path, "utf8") === file.content;
  } catch {
    return false; // missing counts as out of date
  }
}

/** The generated files that do not match their sources. */
function staleGeneratedSql(files = renderGeneratedSql()): string[] {
  return files.filter((file) => !isCurrent(file)).map((file) => file.fileName);
}

/**
 * Rewrites the generated files that do not match their sources and returns their names (none when
 * nothing changed, so an unchanged tree is not touched). Each file is written whole and renamed into
 * place: test files and builds running at the same time never read half a module.
 */
export function refreshGeneratedSql(): string[] {
  const written: string[] = [];
  for (const file of renderGeneratedSql()) {
    if (isCurrent(file)) continue;
    const temporary = `${file.path}.${process.pid}.tmp`;
    writeFileSync(temporary, file.content);
    renameSync(temporary, file.path);
    written.push(file.fileName);
  }
  return written;
}

function main(): void {
  if (process.argv.includes("--check")) {
    const stale = staleGeneratedSql();
    for (const fileName of stale) console.error(`${fileName} is out of date: run \`${generateCommand}\`.`);
    if (stale.length > 0) process.exit(1);
    console.log("the files generated from sql/tasks are up to date.");
    return;
  }
  const written = refreshGeneratedSql();
  console.log(written.length > 0 ? `wrote ${written.join(", ")}` : "the generated files were up to date.");
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) main();
