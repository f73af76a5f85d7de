/**
 * Compiles sql/tasks/*.sql into functions/sql.generated.ts, so the deployed bundle carries its SQL
 * and reads no file at run time. `--check` fails when the generated module is out of date (CI).
 */
import { readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { readTaskSqlFiles } from "./lib/sql-files.js";

export const generatedPath = fileURLToPath(new URL("../functions/sql.generated.ts", import.meta.url));

export function renderTaskSqlModule(): string {
  const files = readTaskSqlFiles();
  const entries = Object.entries(files)
    .map(
      ([name, file]) => `  ${JSON.stringify(name)}: ${JSON.stringify(file, null, 2).replace(/\n/g, "\n  ")},`,
    )
    .join("\n");
  return `// Generated from sql/tasks/*.sql by \`npm run sql:generate\`. Do not edit: edit the .sql files.
import type { TaskSqlFile } from "./task-sql.js";

export const taskSql: Readonly<Record<string, TaskSqlFile>> = {
${entries}
};
`;
}

function main(): void {
  const rendered = renderTaskSqlModule();
  if (process.argv.includes("--check")) {
    let current = "";
    try {
      current = readFileSync(generatedPath, "utf8");
    } catch {
      // missing counts as out of date
    }
    if (current !== rendered) {
      console.error("functions/sql.generated.ts is out of date: run `npm run sql:generate`.");
      process.exit(1);
    }
    console.log("functions/sql.generated.ts is up to date.");
    return;
  }
  writeFileSync(generatedPath, rendered);
  console.log("wrote functions/sql.generated.ts");
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) main();
