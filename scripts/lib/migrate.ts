/**
 * Applies sql/migrations/ in order, once each, recording them in scheduler.schema_migrations.
 * A transaction per file unless the file opts out (CREATE INDEX CONCURRENTLY cannot run in one);
 * an advisory lock keeps two migrate commands from racing. Running it again is a no-op.
 */
import pg from "pg";
import type { MigrationFile } from "./sql-files.js";
import { readAppSchema, readMigrations } from "./sql-files.js";

const MIGRATION_LOCK = 7262006;

export interface MigrateResult {
  readonly applied: string[];
  readonly alreadyApplied: string[];
}

export async function migrate(
  connectionString: string,
  migrations: MigrationFile[] = readMigrations(),
): Promise<MigrateResult> {
  const client = new pg.Client({ connectionString, application_name: "scheduled-jobs-migrate" });
  await client.connect();
  try {
    await client.query("SELECT pg_advisory_lock($1)", [MIGRATION_LOCK]);
    await client.query(`
      CREATE SCHEMA IF NOT EXISTS scheduler;
      CREATE TABLE IF NOT EXISTS scheduler.schema_migrations (
        name text PRIMARY KEY,
        applied_at timestamptz NOT NULL DEFAULT now()
      );`);
    const done = new Set(
      (await client.query<{ name: string }>("SELECT name FROM scheduler.schema_migrations")).rows.map(
        (row) => row.name,
      ),
    );
    const applied: string[] = [];
    const alreadyApplied: string[] = [];
    for (const migration of migrations) {
      if (done.has(migration.name)) {
        alreadyApplied.push(migration.name);
        continue;
      }
      try {
        if (migration.transactional) {
          await client.query("BEGIN");
          await client.query(migration.sql);
          await client.query("INSERT INTO scheduler.schema_migrations (name) VALUES ($1)", [migration.name]);
          await client.query("COMMIT");
        } else {
          // One statement at a time (a multi-statement query is an implicit transaction). Each is
          // written to be re-runnable (IF NOT EXISTS), so a file cut off half-way is applied again.
          for (const statement of splitStatements(migration.sql)) await client.query(statement);
          await client.query("INSERT INTO scheduler.schema_migrations (name) VALUES ($1)", [migration.name]);
        }
      } catch (error) {
        if (migration.transactional) await client.query("ROLLBACK").catch(() => undefined);
        throw new Error(`migration ${migration.name} failed: ${(error as Error).message}`, { cause: error });
      }
      applied.push(migration.name);
    }
    return { applied, alreadyApplied };
  } finally {
    await client.query("SELECT pg_advisory_unlock($1)", [MIGRATION_LOCK]).catch(() => undefined);
    await client.end();
  }
}

/** The delivery app's tables (sql/schema.sql), for local runs and tests; production has its own. */
export async function applyAppSchema(connectionString: string): Promise<void> {
  const client = new pg.Client({ connectionString });
  await client.connect();
  try {
    await client.query(readAppSchema());
  } finally {
    await client.end();
  }
}

/** Splits a no-transaction migration at semicolons that end a line; such files hold no function bodies. */
export function splitStatements(sql: string): string[] {
  return sql
    .split(/;\s*$/m)
    .map((part) => part.replace(/^\s*--.*$/gm, "").trim())
    .filter((part) => part.length > 0);
}
