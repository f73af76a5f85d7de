/**
 * `npm run migrate`: applies sql/migrations/, then sql/routines/, to DATABASE_URL (scripts/lib/
 * migrate.ts says how). `--with-app-schema` first creates the app's tables (local use).
 * `--grant-to <role>` then grants that role (the function's IAM database user) exactly what the
 * tasks need. Arguments, errors and exit codes as the operator CLI's
 * (scripts/lib/args.ts, scripts/lib/exit-codes.ts).
 */
import { errorOutput, parseCommandLine, UsageError, wantsJson } from "./lib/args.js";
import { connectionProblem, malformedUrl } from "./lib/connection-problem.js";
import { EXIT, exitCodeLines, ToolError } from "./lib/exit-codes.js";
import { applyAppSchema, grantTaskPrivileges, migrate } from "./lib/migrate.js";

interface MigrateIo {
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly out: (text: string) => void;
  readonly err: (text: string) => void;
}

const usage = `Usage: npm run migrate -- [--with-app-schema] [--grant-to <role>] [--json]

  Applies sql/migrations/ (each once), then sql/routines/ (each new or changed one) to
  DATABASE_URL; running it again changes nothing.
  --with-app-schema   first create the app's tables from sql/schema.sql (an empty local database;
                      production has them)
  --grant-to <role>   then grant that role (the function's IAM database user, the stack output
                      databaseUser) exactly what the tasks need
  --json              the result, and errors, as JSON

Exit codes:
${exitCodeLines()}`;

export async function main(argv: readonly string[], io: MigrateIo): Promise<number> {
  const json = wantsJson(argv);
  try {
    return await run(argv, io);
  } catch (error) {
    const exit = error instanceof ToolError ? error.exit : "error";
    const message = error instanceof UsageError ? `${error.message}\n\n${usage}` : (error as Error).message;
    io.err(errorOutput(json, "migrate", exit, EXIT[exit], message));
    return EXIT[exit];
  }
}

async function run(argv: readonly string[], io: MigrateIo): Promise<number> {
  // No positional argument: before, any word was taken for the --grant-to role.
  const { values } = parseCommandLine(
    argv,
    {
      "with-app-schema": { type: "boolean", default: false },
      "grant-to": { type: "string" },
      json: { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
    },
    false,
  );
  if (values.help) {
    io.out(usage);
    return EXIT.ok;
  }
  const json = values.json === true;
  const grantTo = typeof values["grant-to"] === "string" ? values["grant-to"] : undefined;
  if (grantTo !== undefined && grantTo.trim() === "") {
    throw new UsageError(
      "--grant-to needs the database role to grant, e.g. --grant-to sched-jobs-runtime@my-project.iam",
    );
  }
  const url = io.env.DATABASE_URL;
  if (!url) {
    throw new ToolError(
      "unreachable",
      "DATABASE_URL is not set: point it at the database to migrate, e.g. postgres://user@host:5432/db",
    );
  }
  const malformed = malformedUrl(url);
  if (malformed) throw new ToolError("unreachable", malformed);
  const say = (line: string): void => {
    if (!json) io.out(line);
  };
  try {
    if (values["with-app-schema"]) {
      await applyAppSchema(url);
      say("applied sql/schema.sql");
    }
    const result = await migrate(url);
    for (const name of result.applied) say(`applied ${name}`);
    for (const name of result.routinesApplied) say(`applied sql/routines/${name}.sql`);
    const routines = `${result.routinesApplied.length} routines applied, ${result.routinesUnchanged.length} unchanged`;
    say(
      result.applied.length === 0 && result.routinesApplied.length === 0
        ? `up to date (${result.alreadyApplied.length} migrations already applied, ${result.routinesUnchanged.length} routines unchanged)`
        : `${result.applied.length} applied, ${result.alreadyApplied.length} already applied; ${routines}`,
    );
    let granted: string[] | undefined;
    if (grantTo !== undefined) {
      granted = await grantTaskPrivileges(url, grantTo);
      for (const statement of granted) say(`${statement};`);
      say(`granted the scheduled tasks' privileges to "${grantTo}"`);
    }
    if (json) {
      io.out(
        JSON.stringify(
          {
            appSchema: values["with-app-schema"] === true,
            applied: result.applied,
            alreadyApplied: result.alreadyApplied,
            routinesApplied: result.routinesApplied,
            routinesUnchanged: result.routinesUnchanged,
            ...(granted ? { grantedTo: grantTo, statements: granted } : {}),
          },
          null,
          2,
        ),
      );
    }
    return EXIT.ok;
  } catch (error) {
    const cause = (error as Error).cause ?? error;
    const problem = connectionProblem(cause, url);
    if (problem) throw new ToolError("unreachable", `the database is unreachable: ${problem}`);
    const missingTable = (cause as { code?: unknown }).code === "42P01";
    throw new ToolError(
      "error",
      `${(error as Error).message}${missingTable && !values["with-app-schema"] ? " (an empty database has none of the app's tables: --with-app-schema creates them from sql/schema.sql)" : ""}`,
    );
  }
}

if (process.argv[1] && /scripts[\\/]migrate\.ts$/.test(process.argv[1])) {
  process.exitCode = await main(process.argv.slice(2), {
    env: process.env,
    out: (text) => process.stdout.write(`${text}\n`),
    err: (text) => process.stderr.write(`${text}\n`),
  });
}
