/**
 * `npm run new-task -- <name> --sql|--email|--http [--target <key> --path </path>] [--schedule "<cron>"]
 * [--description "<text>"]`: a new task to start from. Writes its catalog entry (paused, so nothing
 * fires before it is ready), its SQL file or email work module (registered with the email runtime)
 * (an http task has neither: its work is the target's endpoint), a test that runs it through the
 * runner (against the test database; an http task's against a local stand-in for its target), and
 * its row of the README's task table; then regenerates the files generated from the catalog and
 * sql/tasks. For an http task it says what the stack must name (`scheduled-jobs:httpTargets.<key>`)
 * when the dev stack does not. Arguments, errors and exit codes as the other tools'
 * (scripts/lib/args.ts, scripts/lib/exit-codes.ts): 0 written, 2 bad usage, 4 the project's files
 * are not where it expects them; nothing is written unless every check passed.
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { taskNameProblem } from "../functions/core/catalog.js";
import { parseHttpTargets } from "../functions/core/config/http-targets.js";
import { cronProblem } from "../functions/core/schedule/cron-grammar.js";
import { errorOutput, parseCommandLine, UsageError } from "./lib/args.js";
import { EXIT, ToolError } from "./lib/exit-codes.js";
import { readStackHttpTargetKeys } from "./lib/jobs.js";
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
  readonly kind: "sql" | "email" | "http";
  readonly schedule: string;
  readonly description: string;
  /** An http task's call: the stack's target key and the path on it. */
  readonly http?: { readonly target: string; readonly path: string };
}

const CATALOG = "functions/core/catalog.ts";
const CATALOG_END = "] as const satisfies readonly TaskDefinition[];";
const EMAIL_RUNTIME = "functions/email/runtime.ts";
const EMAIL_WORK_MAP = "const workByTask: Readonly<Record<string, Work>> = {\n";
const EMAIL_IMPORT_ANCHOR = 'import { sendVendorReports } from "./vendor-reports.js";\n';
const usage = `Usage: npm run new-task -- <name> --sql|--email [--schedule "<cron>"] [--description "<text>"]
       npm run new-task -- <name> --http --target <key> --path </path> [--schedule "<cron>"] [--description "<text>"]
  --http: a POST to the app's own service, the target the stack names in scheduled-jobs:httpTargets.<key>`;

export function main(argv: readonly string[], io: NewTaskIo): number {
  try {
    const request = parseRequest(argv);
    if (request === "help") {
      io.out(usage);
      return EXIT.ok;
    }
    const files = plannedFiles(request, io.root);
    // Read before anything is written: a stack file it cannot read stops the command with nothing done.
    const stackNote = request.http ? stackNoteFor(request.http.target, io.root) : [];
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
    for (const line of [...nextSteps(request, io.root), ...stackNote]) io.out(line);
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
function nextSteps({ name, kind, http }: Request, root: string): string[] {
  const test = `npx vitest run test/tasks/${name}.test.ts`;
  const steps = [
    "",
    http
      ? `Next: build POST ${http.path} in the ${http.target} service (the body, headers and answers it deals in: docs/http-api.md, "HTTP tasks"), and make its test's stand-in answer as it will (${test});`
      : `Next: write ${kind === "sql" ? `sql/tasks/${name}.sql` : `functions/email/${name}.ts`} and its test (${test});`,
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

/**
 * What the stacks must name for an http task: Pulumi.dev.yaml's `scheduled-jobs:httpTargets` read
 * as the local tools read a stack file; `pulumi up` refuses a stack that runs an http task whose
 * target it does not name (infra/config.ts), so the task stays paused there until it does.
 */
function stackNoteFor(target: string, root: string): string[] {
  const file = "Pulumi.dev.yaml";
  let named: readonly string[];
  try {
    named = readStackHttpTargetKeys(join(root, file));
  } catch (error) {
    throw new ToolError("error", (error as Error).message);
  }
  if (named.includes(target))
    return [
      `The dev stack (${file}) names scheduled-jobs:httpTargets.${target}; any other stack that deploys this task must name it too.`,
    ];
  return [
    "",
    `The dev stack (${file}) names no scheduled-jobs:httpTargets.${target}: add it to Pulumi.<stack>.yaml of each stack before the task runs there (pulumi up refuses a stack that runs an http task whose target it does not name; one that pauses it deploys without):`,
    "  scheduled-jobs:httpTargets:",
    `    ${target}:`,
    `      url: https://${target}-<project-number>.<region>.run.app   # its https base URL`,
    `      service: ${target}   # the Cloud Run service the function's account may invoke`,
  ];
}

/** The target key and path of an http task, each checked; a UsageError says what is wrong. */
function httpCallOf(target: unknown, path: unknown): { target: string; path: string } {
  if (typeof target !== "string")
    throw new UsageError(
      "--http needs --target <key>: the app service's key in the stack's scheduled-jobs:httpTargets (e.g. app-backend)",
    );
  if (typeof path !== "string")
    throw new UsageError(
      "--http needs --path </path>: where on the target to POST (e.g. /internal/jobs/<name>)",
    );
  // The stack's own rule for a key, with a stand-in URL: only the key is judged here.
  const problems: string[] = [];
  parseHttpTargets({ [target]: { url: "https://target.example" } }, problems);
  if (problems.length > 0) throw new UsageError(`--target: ${problems[0]}`);
  if (!path.startsWith("/")) throw new UsageError(`--path "${path}" must start with "/"`);
  if (/[?#]/.test(path))
    throw new UsageError(`--path "${path}" must carry no query or fragment: the body carries the run`);
  // Appended to the target's URL as it is: a path the URL would rewrite (dot segments, spaces,
  // quotes, backslashes) is not the path the catalog says.
  if (/["'`\\]/.test(path) || new URL(path, "https://target.example").pathname !== path)
    throw new UsageError(
      `--path "${path}" is not a plain URL path (no spaces, quotes, backslashes or dot segments)`,
    );
  return { target, path };
}

/** The request the arguments make, "help" for --help; a UsageError says what is wrong with them. */
function parseRequest(argv: readonly string[]): Request | "help" {
  const { values, positionals } = parseCommandLine(argv, {
    sql: { type: "boolean", default: false },
    email: { type: "boolean", default: false },
    http: { type: "boolean", default: false },
    target: { type: "string" },
    path: { type: "string" },
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
  const kinds = (["sql", "email", "http"] as const).filter((kind) => values[kind] === true);
  const [kind] = kinds;
  if (!kind || kinds.length > 1) throw new UsageError("say which kind: --sql, --email or --http");
  if (kind !== "http" && (values.target !== undefined || values.path !== undefined))
    throw new UsageError("--target and --path are an http task's: use them with --http");
  const http = kind === "http" ? httpCallOf(values.target, values.path) : undefined;
  const schedule = values.schedule as string;
  const cronError = cronProblem(schedule);
  if (cronError) throw new UsageError(`--schedule: ${cronError}`);
  const description =
    typeof values.description === "string" ? values.description : `TODO: what ${name} does.`;
  if (/[`\n|]/.test(description))
    throw new UsageError("--description: no backquotes, newlines or | (it goes into code and a table)");
  return { name, kind, schedule, description, ...(http ? { http } : {}) };
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
  else if (kind === "email") Object.assign(files, emailFiles(request, read(EMAIL_RUNTIME)));
  files[`test/tasks/${name}.test.ts`] = request.http ? httpTestFile(name, request.http) : testFile(request);
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

function catalogEntry({ name, kind, schedule, description, http }: Request): string {
  const call = http
    ? `\n    // POST to the stack's httpTargets.${http.target}.url + path, answered within the timeout.\n    http: { target: ${JSON.stringify(http.target)}, path: ${JSON.stringify(http.path)} },`
    : "";
  return `  {
    name: "${name}",
    description: ${JSON.stringify(description)},
    kind: "${kind}",
    schedule: "${schedule}",
    timeoutSeconds: 60,
    retry: noRetry,${kind === "sql" ? "\n    // The most rows one run may change; more fails the run (forced runs excepted).\n    maxRows: 1000," : ""}${call}
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

/**
 * An http task's test: the runner's one run path against a local stand-in for the target, with
 * the call proven as the local stack proves it (an ID token of the development identity).
 */
function httpTestFile(name: string, { target, path }: { target: string; path: string }): string {
  return `/**
 * ${name}: a starting point. The runner calls a local stand-in for ${target} as it will call the
 * service (the run in the body, the tick's idempotency key, an ID token for the target's audience,
 * signed here by the local development identity). Make the stand-in answer as the endpoint will
 * (the count it did, a 409, a 5xx) and check what the run records.
 */
import { createServer } from "node:http";
import type { IncomingHttpHeaders } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { findTask } from "../../functions/core/catalog.js";
import { parseHttpTargets } from "../../functions/core/config/http-targets.js";
import type { HttpDeps } from "../../functions/core/run/http-contract.js";
import { runTask } from "../../functions/core/run/runner.js";
import { createDevIdentity } from "../../scripts/local/dev-identity.js";
import { useTestDatabase } from "../helpers/database.js";

const db = useTestDatabase();
const identity = createDevIdentity();
const received: { path: string; headers: IncomingHttpHeaders; body: unknown }[] = [];
const standIn = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on("data", (chunk: Buffer) => chunks.push(chunk));
  req.on("end", () => {
    received.push({
      path: req.url ?? "",
      headers: req.headers,
      body: JSON.parse(Buffer.concat(chunks).toString("utf8")),
    });
    res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ rowsAffected: 0 }));
  });
});

beforeAll(() => new Promise<void>((resolve) => standIn.listen(0, "127.0.0.1", resolve)));
afterAll(() => new Promise((resolve) => standIn.close(resolve)));

/** ${target} as a stack names it, here on loopback (plain http is the local stack's alone). */
function http(): HttpDeps {
  const { port } = standIn.address() as AddressInfo;
  const problems: string[] = [];
  const url = \`http://127.0.0.1:\${port}\`;
  const targets = parseHttpTargets({ ${JSON.stringify(target)}: { url, internal: true } }, problems, { local: true });
  expect(problems).toEqual([]);
  return {
    targets: targets ?? {},
    loadAuthorizer: () =>
      Promise.resolve((call) =>
        Promise.resolve({ authorization: \`Bearer \${identity.signIdToken({ aud: call.target.audience })}\` }),
      ),
  };
}

describe("${name}", () => {
  it("when a tick runs, then it posts the run to ${path} with the tick's key and an ID token, and the run succeeds and is recorded", async () => {
    const task = findTask("${name}")!;
    const tick = new Date("2026-01-05T05:00:00Z");
    const result = await runTask(
      { pool: db.pool, http: http() },
      { task, trigger: "scheduler", scheduleTime: tick, tick },
    );
    expect(result).toMatchObject({ task: "${name}", status: "succeeded", rowsAffected: 0 });
    expect(received).toHaveLength(1);
    const [call] = received;
    expect(call?.path).toBe(${JSON.stringify(path)});
    expect(call?.body).toMatchObject({
      task: "${name}",
      scheduleTime: tick.toISOString(),
      trigger: "scheduler",
    });
    expect(call?.headers["idempotency-key"]).toBe(\`${name}:\${tick.toISOString()}\`);
    const token = (call?.headers.authorization ?? "").replace(/^Bearer /, "");
    const payload = Buffer.from(token.split(".")[1] ?? "", "base64url").toString("utf8");
    const claims = JSON.parse(payload) as { aud?: string };
    expect(claims.aud).toBe(\`http://127.0.0.1:\${(standIn.address() as AddressInfo).port}\`);
    const recorded = await db.pool.query("SELECT status FROM scheduler.job_runs WHERE task = $1", [
      "${name}",
    ]);
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
