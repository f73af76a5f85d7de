/** `npm run migrate`: applies sql/migrations/ to DATABASE_URL. `--with-app-schema` first creates the app's tables (local use). */
import { applyAppSchema, migrate } from "./lib/migrate.js";

const url = process.env.DATABASE_URL;
if (!url) {
  console.error(
    "DATABASE_URL is not set: point it at the database to migrate, e.g. postgres://user@host:5432/db",
  );
  process.exit(2);
}
try {
  if (process.argv.includes("--with-app-schema")) {
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
} catch (error) {
  console.error(`migrate: ${(error as Error).message}`);
  process.exit(1);
}
