/**
 * `npm run task -- <name> [--dry-run] [--force]`: runs one task now against DATABASE_URL, through
 * the same runner as the function (trigger "cli"), and prints the run as JSON.
 * Exit codes: 0 succeeded, skipped or duplicate; 1 failed; 2 bad arguments or unknown task;
 * 3 database unreachable.
 */
import { findTask, taskNames } from "../functions/catalog.js";
import { createPool } from "../functions/db.js";
import { ScheduledTaskError } from "../functions/errors.js";
import { createLogger } from "../functions/log.js";
import { refreshGeneratedSql } from "./generate-sql.js";

export const exitCodes = { ok: 0, failed: 1, usage: 2, unreachable: 3 } as const;

const usage = `usage: npm run task -- <task> [--dry-run] [--force]\ntasks:\n${taskNames.map((name) => `  ${name}`).join("\n")}`;

function fail(code: number, message: string): never {
  console.error(message);
  process.exit(code);
}

const args = process.argv.slice(2);
const flags = new Set(args.filter((arg) => arg.startsWith("--")));
const names = args.filter((arg) => !arg.startsWith("--"));
const unknownFlags = [...flags].filter((flag) => flag !== "--dry-run" && flag !== "--force");
if (names.length !== 1 || unknownFlags.length > 0) {
  fail(
    exitCodes.usage,
    `${unknownFlags.length > 0 ? `unknown option ${unknownFlags.join(", ")}\n` : ""}${usage}`,
  );
}
const name = names[0] ?? "";
const task = findTask(name);
if (!task) fail(exitCodes.usage, `unknown task "${name}"\n${usage}`);
const url = process.env.DATABASE_URL;
if (!url) {
  fail(
    exitCodes.usage,
    "DATABASE_URL is not set: point it at the database, e.g. postgres://user@host:5432/db",
  );
}

// Progress lines go to stderr; stdout carries only the run's JSON.
try {
  const regenerated = refreshGeneratedSql();
  if (regenerated.length > 0) console.error(`sql/tasks changed: regenerated ${regenerated.join(", ")}`);
} catch (error) {
  fail(exitCodes.failed, (error as Error).message);
}
// Only now: the runner's module graph reads functions/sql.generated.ts when it loads.
const { runTask } = await import("../functions/runner.js");
const log = createLogger({}, (line) => process.stderr.write(`${line}\n`));
const pool = createPool({ connectionString: url, max: 2, log });
let code: number;
try {
  const result = await runTask(
    {
      pool,
      log,
      // Email tasks read their settings (SENDGRID_*, MAIL_FROM, OPS_EMAIL) from the environment.
      loadEmailHandler: (emailTask) =>
        import("../functions/email/index.js").then((email) => email.loadEmailHandler(emailTask)),
    },
    { task, trigger: "cli", dryRun: flags.has("--dry-run"), force: flags.has("--force") },
  );
  console.log(JSON.stringify(result, null, 2));
  code = result.status === "failed" ? exitCodes.failed : exitCodes.ok;
} catch (error) {
  const unreachable = error instanceof ScheduledTaskError && error.code === "unavailable";
  console.error(`${name}: ${error instanceof Error ? error.message : String(error)}`);
  code = unreachable ? exitCodes.unreachable : exitCodes.failed;
} finally {
  await pool.end().catch(() => undefined);
}
process.exit(code);
