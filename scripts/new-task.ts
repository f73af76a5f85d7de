/**
 * `npm run new-task -- <name> --sql|--email [--schedule "<cron>"] [--description "<text>"]`: a new
 * task to start from. Writes its catalog entry (paused, so nothing fires before it is ready), its
 * SQL file or email work module (registered with the email runtime), a test that runs it against
 * the test database, and its row of the README's task table; then regenerates the files generated
 * from the catalog and sql/tasks. Arguments, errors and exit codes as the other tools'
 * (scripts/lib/args.ts, scripts/lib/exit-codes.ts): 0 written, 2 bad usage, 4 the project's files
 * are not where it expects them; nothing is written unless every check passed.
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { taskNameProblem } from "../functions/core/catalog.js";
import { cronProblem } from "../functions/core/schedule/cron-grammar.js";
import { errorOutput, parseCommandLine, UsageError } from "./lib/args.js";
import { EXIT, ToolError } from "./lib/exit-codes.js";
import { childEnv } from "./local/child-env.js";
import { readLocalState } from "./local/local-state.js";

interface NewTaskIo {
  readonly out: (text: string) => void;
  readonly err: (text: string) => void;
  /** The project to scaffold into. */
  readonly root: string;
}

/** What to scaffold, as the command line asked. */
interface Request {
  readonly name: string;
  readonly kind: "sql" | "email";
  readonly schedule: string;
  readonly description: string;
}

const CATALOG = "functions/core/catalog.ts";
const CATALOG_END = "] as const satisfies readonly TaskDefinition[];";
const EMAIL_RUNTIME = "functions/email/runtime.ts";
const EMAIL_WORK_MAP = "const workByTask: Readonly<Record<string, Work>> = {\n";
const EMAIL_IMPORT_ANCHOR = 'import { sendVendorReports } from "./vendor-reports.js";\n';
const usage = `Usage: npm run new-task -- <name> --sql|--email [--schedule "<cron>"] [--description "<text>"]`;

export function main(argv: readonly string[], io: NewTaskIo): number {
  try {
    const request = parseRequest(argv);
    if (request === "help") {
      io.out(usage);
      return EXIT.ok;
    }
    const files = plannedFiles(request, io.root);
    for (const [file, text] of Object.entries(files)) {
      mkdirSync(dirname(join(io.root, file)), { recursive: true });
      writeFileSync(join(io.root, file), text);
      io.out(`wrote ${file}`);
    }
    // One generator writes every file generated from the catalog and sql/tasks (each once).
    execFileSync(process.execPath, ["--import", "tsx", "scripts/generate/sql.ts"], {
      cwd: io.root,
      env: childEnv(),
      stdio: "inherit",
    });
    for (const line of nextSteps(request, io.root)) io.out(line);
    return EXIT.ok;
  } catch (error) {
    const exit = error instanceof ToolError ? error.exit : "error";
    const message = (error as Error).message;
    io.err(
      errorOutput(false, "new-task", exit, EXIT[exit], exit === "usage" ? `${message}\n${usage}` : message),
    );
    return EXIT[exit];
  }
}

/** What is left to do, and a running `npm start` that must be restarted to serve the task. */
function nextSteps({ name, kind }: Request, root: string): string[] {
  const work = kind === "sql" ? `sql/tasks/${name}.sql` : `functions/email/${name}.ts`;
  const steps = [
    "",
    `Next: write ${work} and its test (npx vitest run test/tasks/${name}.test.ts);`,
    "pin the new job's Google resources in the infra snapshot (npx vitest run test/infra/registrations.test.ts -u);",
    `and unpause it in ${CATALOG} when it is ready.`,
  ];
  const running = readLocalState(root);
  if (running)
    steps.push(
      `npm start is running (pid ${running.pid}): it read the catalog when it started, so it answers 404 for ${name} until you stop it and start it again.`,
    );
  return steps;
}

/** The request the arguments make, "help" for --help; a UsageError says what is wrong with them. */
function parseRequest(argv: readonly string[]): Request | "help" {
  const { values, positionals } = parseCommandLine(argv, {
    sql: { type: "boolean", default: false },
    email: { type: "boolean", default: false },
    schedule: { type: "string", default: "0 * * * *" },
    description: { type: "string" },
    help: { type: "boolean", short: "h", default: false },
  });
  if (values.help) return "help";
  const [name, ...extra] = positionals;
  if (!name) throw new UsageError("a task name is required");
  if (extra.length > 0) throw new UsageError(`unexpected argument "${extra[0]}"`);
  const nameProblem = taskNameProblem(name);
  if (nameProblem) throw new UsageError(nameProblem);
  if (values.sql === values.email) throw new UsageError("say which kind: --sql or --email");
  const schedule = values.schedule as string;
  const cronError = cronProblem(schedule);
  if (cronError) throw new UsageError(`--schedule: ${cronError}`);
  const description =
    typeof values.description === "string" ? values.description : `TODO: what ${name} does.`;
  if (/[`\n|]/.test(description))
    throw new UsageError("--description: no backquotes, newlines or | (it goes into code and a table)");
  return { name, kind: values.sql ? "sql" : "email", schedule, description };
}

/** Every file the task needs, path to text: nothing is written when one of them cannot be. */
function plannedFiles(request: Request, root: string): Record<string, string> {
  const read = (file: string): string => readFileSync(join(root, file), "utf8");
  const { name, kind } = request;
  const catalog = read(CATALOG);
  if (catalog.includes(`name: "${name}",`)) throw new UsageError(`the catalog already has a task "${name}"`);
  if (!catalog.includes(CATALOG_END))
    throw new ToolError("error", `${CATALOG} has changed shape: no "${CATALOG_END}"`);
  const files: Record<string, string> = { [CATALOG]: catalog.replace(CATALOG_END, catalogEntry(request)) };
  if (kind === "sql") files[`sql/tasks/${name}.sql`] = sqlFile(request);
  else Object.assign(files, emailFiles(request, read(EMAIL_RUNTIME)));
  files[`test/tasks/${name}.test.ts`] = testFile(request);
  files["README.md"] = readmeWithRow(read("README.md"), request);
  for (const file of Object.keys(files)) {
    if (
      file !== CATALOG &&
      !file.endsWith("runtime.ts") &&
      file !== "README.md" &&
      existsSync(join(root, file))
    )
      throw new UsageError(`${file} exists already`);
  }
  return files;
}

/** The name in camelCase, as the email work function is called. */
const camelOf = (name: string): string => name.replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase());

function catalogEntry({ name, kind, schedule, description }: Request): string {
  return `  {
    name: "${name}",
    description: ${JSON.stringify(description)},
    kind: "${kind}",
    schedule: "${schedule}",
    timeoutSeconds: 60,
    retry: noRetry,${kind === "sql" ? "\n    // The most rows one run may change; more fails the run (forced runs excepted).\n    maxRows: 1000," : ""}
    // Paused until it does what it should: \`pulumi up\` creates its job paused.
    paused: true,
  },
${CATALOG_END}`;
}

function sqlFile({ description }: Request): string {
  return `-- ${description}
-- One statement; the rows it changes are the run's rowsAffected. The runner sets the task's
-- statement timeout and time zone, holds its lock, and applies the catalog's maxRows guard.
-- For work that must be done in bounded transactions, see the catalog's \`batch\` and
-- sql/tasks/cleanup-expired-sessions.sql.
SELECT 1 WHERE false;
`;
}

/** The email work module, and the runtime that registers it. */
function emailFiles({ name, description }: Request, runtime: string): Record<string, string> {
  if (!runtime.includes(EMAIL_WORK_MAP) || !runtime.includes(EMAIL_IMPORT_ANCHOR))
    throw new ToolError(
      "error",
      `${EMAIL_RUNTIME} has changed shape: its imports or workByTask map are not where expected`,
    );
  const camel = camelOf(name);
  return {
    [EMAIL_RUNTIME]: runtime
      .replace(EMAIL_IMPORT_ANCHOR, `${EMAIL_IMPORT_ANCHOR}import { ${camel} } from "./${name}.js";\n`)
      .replace(EMAIL_WORK_MAP, `${EMAIL_WORK_MAP}  "${name}": ${camel},\n`),
    [`functions/email/${name}.ts`]: `/**
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
`,
  };
}

function testFile({ name, kind }: Request): string {
  return `/**
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
}

/** The README with the task's row after the last row of its task table. */
function readmeWithRow(readme: string, { name, schedule, description }: Request): string {
  const rows = [...readme.matchAll(/^\| `[a-z0-9-]+` \| `[^`]+`.*\|$/gm)];
  const lastRow = rows.at(-1);
  if (!lastRow || lastRow.index === undefined) throw new ToolError("error", "README.md has no task table");
  const at = lastRow.index + lastRow[0].length;
  return `${readme.slice(0, at)}\n| \`${name}\` | \`${schedule}\` | ${description} (paused) |${readme.slice(at)}`;
}

if (process.argv[1] && /scripts[\\/]new-task\.ts$/.test(process.argv[1])) {
  process.exitCode = main(process.argv.slice(2), {
    out: (text) => process.stdout.write(`${text}\n`),
    err: (text) => process.stderr.write(`${text}\n`),
    root: resolve(dirname(fileURLToPath(import.meta.url)), ".."),
  });
}
