/**
 * `npm run migrate`: applies sql/migrations/ to DATABASE_URL. `--with-app-schema` first creates the
 * app's tables (local use). `--grant-to <role>` then grants that role (the function's IAM database
 * user) exactly what the tasks need.
 */
import { applyAppSchema, grantTaskPrivileges, migrate } from "./lib/migrate.js";

const url = process.env.DATABASE_URL;
if (!url) {
  console.error(
    "DATABASE_URL is not set: point it at the database to migrate, e.g. postgres://user@host:5432/db",
  );
  process.exit(2);
}
const args = process.argv.slice(2);
const grantIndex = args.findIndex((arg) => arg === "--grant-to" || arg.startsWith("--grant-to="));
const grantArg = grantIndex === -1 ? undefined : args[grantIndex];
const grantTo = grantArg?.startsWith("--grant-to=")
  ? grantArg.slice("--grant-to=".length)
  : args[grantIndex + 1];
if (grantIndex !== -1 && (!grantTo || grantTo.startsWith("--"))) {
  console.error(
    "--grant-to needs the database role to grant, e.g. --grant-to sched-jobs-runtime@my-project.iam",
  );
  process.exit(2);
}
try {
  if (args.includes("--with-app-schema")) {
    await applyAppSchema(url);
    console.log("applied sql/schema.sql");
  }
  const result = await migrate(url);
  for (const name of result.applied) console.log(`applied ${name}`);
  console.log(
    result.applied.length === 0
      ? `up to date (${result.alreadyApplied.length} migrations already applied)`
      : `${result.applied.length} applied, ${result.alreadyApplied.length} already applied`,
  );
  if (grantTo) {
    const statements = await grantTaskPrivileges(url, grantTo);
    for (const statement of statements) console.log(`${statement};`);
    console.log(`granted the scheduled tasks' privileges to "${grantTo}"`);
  }
} catch (error) {
  console.error(`migrate: ${(error as Error).message}`);
  process.exit(1);
}
