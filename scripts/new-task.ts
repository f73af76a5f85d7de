/**
 * `npm run new-task -- <name> --sql|--email [--schedule "<cron>"] [--description "<text>"]`: a new
 * task to start from. Writes its catalog entry (paused, so nothing fires before it is ready), its
 * SQL file or email work module (registered with the email runtime), a test that runs it against
 * the test database, and its row of the README's task table; then regenerates the files generated
 * from the catalog and sql/tasks. Exit codes: 0 written, 2 bad usage (nothing written).
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { cronProblem } from "../functions/core/schedule/cron-grammar.js";
import { childEnv } from "./local/child-env.js";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const CATALOG = "functions/core/catalog.ts";
const CATALOG_END = "] as const satisfies readonly TaskDefinition[];";
const EMAIL_RUNTIME = "functions/email/runtime.ts";
const EMAIL_WORK_MAP = "const workByTask: Readonly<Record<string, Work>> = {\n";
const EMAIL_IMPORT_ANCHOR = 'import { sendVendorReports } from "./vendor-reports.js";\n';
const usage = `Usage: npm run new-task -- <name> --sql|--email [--schedule "<cron>"] [--description "<text>"]`;

function fail(message: string): never {
  process.stderr.write(`new-task: ${message}\n${usage}\n`);
  process.exit(2);
}

let parsed;
try {
  parsed = parseArgs({
    allowPositionals: true,
    options: {
      sql: { type: "boolean", default: false },
      email: { type: "boolean", default: false },
      schedule: { type: "string", default: "0 * * * *" },
      description: { type: "string" },
      help: { type: "boolean", short: "h", default: false },
    },
  });
} catch (error) {
  fail((error as Error).message);
}
const { values, positionals } = parsed;
if (values.help) {
  process.stdout.write(`${usage}\n`);
  process.exit(0);
}
const [name, ...extra] = positionals;
if (!name) fail("a task name is required");
if (extra.length > 0) fail(`unexpected argument "${extra[0]}"`);
// The name is the Cloud Scheduler job id too: letters, digits and hyphens, at most 500 characters.
if (!/^[a-z][a-z0-9]*(-[a-z0-9]+)*$/.test(name) || name.length > 60)
  fail(`"${name}" is not a kebab-case name (lowercase letters, digits, single hyphens; at most 60)`);
if (values.sql === values.email) fail("say which kind: --sql or --email");
const kind = values.sql ? "sql" : "email";
const schedule = values.schedule;
const cronError = cronProblem(schedule);
if (cronError) fail(`--schedule: ${cronError}`);
const description = values.description ?? `TODO: what ${name} does.`;
if (/[`\n|]/.test(description))
  fail("--description: no backquotes, newlines or | (it goes into code and a table)");

const read = (file: string): string => readFileSync(join(ROOT, file), "utf8");
const catalog = read(CATALOG);
if (catalog.includes(`name: "${name}",`)) fail(`the catalog already has a task "${name}"`);
if (!catalog.includes(CATALOG_END)) fail(`${CATALOG} has changed shape: no "${CATALOG_END}"`);
const camel = name.replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase());
const files: Record<string, string> = {};

files[CATALOG] = catalog.replace(
  CATALOG_END,
  `  {
    name: "${name}",
    description: ${JSON.stringify(description)},
    kind: "${kind}",
    schedule: "${schedule}",
    timeoutSeconds: 60,
    retry: noRetry,${kind === "sql" ? "\n    // The most rows one run may change; more fails the run (forced runs excepted).\n    maxRows: 1000," : ""}
    // Paused until it does what it should: \`pulumi up\` creates its job paused.
    paused: true,
  },
${CATALOG_END}`,
);

if (kind === "sql") {
  files[`sql/tasks/${name}.sql`] = `-- ${description}
-- One statement; the rows it changes are the run's rowsAffected. The runner sets the task's
-- statement timeout and time zone, holds its lock, and applies the catalog's maxRows guard.
-- For work that must be done in bounded transactions, see the catalog's \`batch\` and
-- sql/tasks/cleanup-expired-sessions.sql.
SELECT 1 WHERE false;
`;
} else {
  const runtime = read(EMAIL_RUNTIME);
  if (!runtime.includes(EMAIL_WORK_MAP) || !runtime.includes(EMAIL_IMPORT_ANCHOR))
    fail(`${EMAIL_RUNTIME} has changed shape: its imports or workByTask map are not where expected`);
  files[EMAIL_RUNTIME] = runtime
    .replace(EMAIL_IMPORT_ANCHOR, `${EMAIL_IMPORT_ANCHOR}import { ${camel} } from "./${name}.js";\n`)
    .replace(EMAIL_WORK_MAP, `${EMAIL_WORK_MAP}  "${name}": ${camel},\n`);
  files[`functions/email/${name}.ts`] = `/**
 * ${description}
 */
import type { EmailTaskContext, TaskWork } from "../core/run/task-contract.js";
import type { EmailWorkOptions } from "./runtime.js";

/**
 * One run: read what is due with ctx.client (the run's connection, under the task's lock), send it
 * with options.transport (SendGrid, or the local mailbox when a local run chose it), and return how many
 * messages went out. On a dry run, count and send nothing. See order-confirmations.ts for an outbox
 * that never sends a recorded message twice.
 */
export async function ${camel}(ctx: EmailTaskContext, options: EmailWorkOptions): Promise<TaskWork> {
  void options;
  const due = await ctx.client.query<{ count: number }>("SELECT 0::int AS count");
  return { rowsAffected: due.rows[0]?.count ?? 0 };
}
`;
}

files[`test/tasks/${name}.test.ts`] = `/**
 * ${name}: a starting point. Write the rows the task must change (and some it must leave alone),
 * run it, and check the database afterwards.
 */
import { describe, expect, it } from "vitest";
import { findTask } from "../../functions/core/catalog.js";
${kind === "email" ? 'import { createEmailRuntime } from "../../functions/email/runtime.js";\n' : ""}import { runTask } from "../../functions/core/run/runner.js";
import { useTestDatabase } from "../helpers/database.js";

const db = useTestDatabase();

describe("${name}", () => {
  it("when it runs on the test database, then the run succeeds and is recorded", async () => {
    const task = findTask("${name}")!;
    const result = await runTask(
      {
        pool: db.pool,${
          kind === "email"
            ? `
        // The local mailbox, chosen explicitly: messages go to scheduler.local_mailbox.
        loadEmailHandler: (t) =>
          createEmailRuntime({
            config: {
              transport: "local-mailbox",
              key: { source: "none" },
              baseUrl: undefined,
              mailFrom: "jobs@example.com",
              opsEmail: undefined,
              secretRefreshSeconds: 600,
            },
          }).handlerFor(t),`
            : ""
        }
      },
      { task, trigger: "cli" },
    );
    expect(result).toMatchObject({ task: "${name}", status: "succeeded", rowsAffected: 0 });
    const recorded = await db.pool.query("SELECT status FROM scheduler.job_runs WHERE task = $1", ["${name}"]);
    expect(recorded.rows).toEqual([{ status: "succeeded" }]);
  });
});
`;

const readme = read("README.md");
const rows = [...readme.matchAll(/^\| `[a-z0-9-]+` \| `[^`]+`.*\|$/gm)];
const lastRow = rows.at(-1);
if (!lastRow || lastRow.index === undefined) fail("README.md has no task table");
const at = lastRow.index + lastRow[0].length;
files["README.md"] =
  `${readme.slice(0, at)}\n| \`${name}\` | \`${schedule}\` | ${description} (paused) |${readme.slice(at)}`;

for (const file of Object.keys(files)) {
  if (
    file !== CATALOG &&
    !file.endsWith("runtime.ts") &&
    file !== "README.md" &&
    existsSync(join(ROOT, file))
  )
    fail(`${file} exists already`);
}
for (const [file, text] of Object.entries(files)) {
  mkdirSync(dirname(join(ROOT, file)), { recursive: true });
  writeFileSync(join(ROOT, file), text);
  process.stdout.write(`wrote ${file}\n`);
}
for (const generator of ["scripts/generate/sql.ts", "scripts/generate/pg-cron.ts"]) {
  execFileSync(process.execPath, ["--import", "tsx", generator], {
    cwd: ROOT,
    env: childEnv(),
    stdio: "inherit",
  });
}
process.stdout.write(
  `\nNext: ${kind === "sql" ? `write sql/tasks/${name}.sql` : `write functions/email/${name}.ts`}, then the test (npx vitest run test/tasks/${name}.test.ts), the README row, and unpause it in ${CATALOG}.\n`,
);
