/**
 * `npm run migrate`: the scheduler's schema in two parts.
 * - sql/migrations/: tables, indexes and data, each applied once, in order, recorded in
 *   scheduler.schema_migrations. A migration is never edited once applied (databases in the field
 *   have run it): a change is a new migration.
 * - sql/routines/: each function, procedure and logic view in one file, its current text, applied
 *   after the migrations and again whenever the file's checksum changes, recorded with that
 *   checksum in scheduler.schema_routines. This is how Flyway's repeatable migrations work
 *   (https://flywaydb.org/documentation/concepts/migrations#repeatable-migrations: "(re-)applied
 *   every time their checksum changes ... always applied last, after all pending versioned
 *   migrations"), and what sqitch's rework is for (https://sqitch.org/docs/manual/sqitch-rework/).
 *   A run that applied any migration applies every routine again: a migration may have replaced or
 *   dropped one (the early migrations create routines, and dropping a column drops a view on it).
 *
 * The run's pending migrations and its routines are one transaction, so a database moves from one
 * release's schema to the next whole or not at all; a migration that opts out (`-- migrate:
 * no-transaction`, for CREATE INDEX CONCURRENTLY, which cannot run in one) commits what came before
 * it and runs on its own. An advisory lock keeps two migrate commands from racing. Running it again
 * is a no-op.
 */
import pg from "pg";
import type { MigrationFile, RoutineFile } from "../generate/sql-files.js";
import { readAppSchema, readMigrations, readRoutines } from "../generate/sql-files.js";

const MIGRATION_LOCK = 7262006;

interface MigrateResult {
  readonly applied: string[];
  readonly alreadyApplied: string[];
  /** The routines applied (new, changed, or after a migration), in the order applied. */
  readonly routinesApplied: string[];
  /** The routines whose recorded checksum matched their file. */
  readonly routinesUnchanged: string[];
}

export async function migrate(
  connectionString: string,
  migrations: readonly MigrationFile[] = readMigrations(),
  routines: readonly RoutineFile[] = readRoutines(),
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
      );
      CREATE TABLE IF NOT EXISTS scheduler.schema_routines (
        name text PRIMARY KEY,
        checksum text NOT NULL,
        applied_at timestamptz NOT NULL DEFAULT now()
      );`);
    const done = new Set(
      (await client.query<{ name: string }>("SELECT name FROM scheduler.schema_migrations")).rows.map(
        (row) => row.name,
      ),
    );
    const transaction = new Transaction(client);
    try {
      const applied = await applyMigrations(client, transaction, migrations, done);
      const recorded = new Map(
        (
          await client.query<{ name: string; checksum: string }>(
            "SELECT name, checksum FROM scheduler.schema_routines",
          )
        ).rows.map((row) => [row.name, row.checksum]),
      );
      const due = routines.filter(
        (routine) => applied.length > 0 || recorded.get(routine.name) !== routine.checksum,
      );
      await applyRoutines(client, transaction, due);
      await transaction.commit();
      return {
        applied,
        alreadyApplied: migrations.filter((migration) => done.has(migration.name)).map((m) => m.name),
        routinesApplied: due.map((routine) => routine.name),
        routinesUnchanged: routines.filter((routine) => !due.includes(routine)).map((r) => r.name),
      };
    } catch (error) {
      await transaction.rollback();
      throw error;
    }
  } finally {
    await client.query("SELECT pg_advisory_unlock($1)", [MIGRATION_LOCK]).catch(() => undefined);
    await client.end();
  }
}

/** The one transaction of a run, opened by the first statement that needs it. */
class Transaction {
  private open = false;
  constructor(private readonly client: pg.Client) {}
  async begin(): Promise<void> {
    if (this.open) return;
    await this.client.query("BEGIN");
    this.open = true;
  }
  async commit(): Promise<void> {
    if (!this.open) return;
    this.open = false;
    await this.client.query("COMMIT");
  }
  async rollback(): Promise<void> {
    if (!this.open) return;
    this.open = false;
    await this.client.query("ROLLBACK").catch(() => undefined);
  }
}

/** The migrations not yet recorded, in order; returns their names. */
async function applyMigrations(
  client: pg.Client,
  transaction: Transaction,
  migrations: readonly MigrationFile[],
  done: ReadonlySet<string>,
): Promise<string[]> {
  const applied: string[] = [];
  for (const migration of migrations) {
    if (done.has(migration.name)) continue;
    const record = (): Promise<unknown> =>
      client.query("INSERT INTO scheduler.schema_migrations (name) VALUES ($1)", [migration.name]);
    try {
      if (migration.transactional) {
        await transaction.begin();
        await client.query(migration.sql);
        await record();
      } else {
        await transaction.commit();
        // One statement at a time (a multi-statement query is an implicit transaction). Each is
        // written to be re-runnable (IF NOT EXISTS), so a file cut off half-way is applied again.
        for (const statement of splitStatements(migration.sql)) await client.query(statement);
        await record();
      }
    } catch (error) {
      throw new Error(`migration ${migration.name} failed: ${(error as Error).message}`, { cause: error });
    }
    applied.push(migration.name);
  }
  return applied;
}

/** The routines given, in their order, each recorded with its checksum. */
async function applyRoutines(
  client: pg.Client,
  transaction: Transaction,
  routines: readonly RoutineFile[],
): Promise<void> {
  if (routines.length > 0) await transaction.begin();
  for (const routine of routines) {
    try {
      await client.query(routine.sql);
    } catch (error) {
      throw new Error(
        `routine ${routine.name} (sql/routines/${routine.name}.sql) failed: ${(error as Error).message}`,
        {
          cause: error,
        },
      );
    }
    await client.query(
      `INSERT INTO scheduler.schema_routines (name, checksum) VALUES ($1, $2)
       ON CONFLICT (name) DO UPDATE SET checksum = excluded.checksum, applied_at = now()`,
      [routine.name, routine.checksum],
    );
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
function splitStatements(sql: string): string[] {
  return sql
    .split(/;\s*$/m)
    .map((part) => part.replace(/^\s*--.*$/gm, "").trim())
    .filter((part) => part.length > 0);
}

type TablePrivilege = "SELECT" | "INSERT" | "UPDATE" | "DELETE";

/**
 * The app's tables the scheduled tasks touch, and how. A task that touches another table needs a
 * line here (the grants test runs every SQL task as a role holding only these grants).
 */
const TASK_TABLE_PRIVILEGES: Readonly<Record<string, readonly TablePrivilege[]>> = {
  // auto-cancel-unconfirmed-orders, archive-old-orders (UPDATE ... FOR UPDATE), generate-daily-stats
  orders: ["SELECT", "UPDATE"],
  system_settings: ["SELECT"],
  // update-restaurant-ratings
  restaurants: ["SELECT", "UPDATE"],
  reviews: ["SELECT"],
  // cleanup-orphaned-menus
  menus: ["SELECT", "DELETE"],
  restaurant_menus: ["SELECT"],
  // driver-inactivity-check
  drivers: ["SELECT", "UPDATE"],
  // cleanup-expired-sessions, cleanup-distance-requests: their batches pick rows with
  // SELECT ... FOR UPDATE SKIP LOCKED, which PostgreSQL allows only with UPDATE privilege.
  user_sessions: ["SELECT", "UPDATE", "DELETE"],
  distance_requests: ["SELECT", "UPDATE", "DELETE"],
  // generate-daily-stats (an upsert)
  daily_order_stats: ["SELECT", "INSERT", "UPDATE"],
};

/** Tables of the scheduler schema that the function must not write: migrate's own records. */
const SCHEDULER_TABLES_WITHOUT_GRANT = new Set(["schema_migrations", "schema_routines"]);

/**
 * Grants a database role (the function's Cloud SQL IAM user) exactly what the tasks need: the
 * scheduler's run history and functions, and the listed privileges on the app's tables. A new IAM
 * database user owns nothing and may do nothing until this runs; run it as the tables' owner (the
 * admin user), after `migrate`, and again after a migration adds scheduler tables. Idempotent.
 *
 * Returns the statements it ran.
 */
export async function grantTaskPrivileges(
  connectionString: string,
  role: string,
  tablePrivileges: Readonly<Record<string, readonly TablePrivilege[]>> = TASK_TABLE_PRIVILEGES,
): Promise<string[]> {
  const client = new pg.Client({ connectionString, application_name: "scheduled-jobs-migrate" });
  await client.connect();
  const statements: string[] = [];
  try {
    const found = await client.query("SELECT 1 FROM pg_roles WHERE rolname = $1", [role]);
    if (found.rowCount === 0) {
      throw new Error(
        `the database role "${role}" does not exist: create the function's IAM database user first (\`pulumi up\` does; its name is the stack output databaseUser)`,
      );
    }
    const grantee = pg.escapeIdentifier(role);
    const relations = await client.query<{ name: string; kind: string }>(
      `SELECT c.relname AS name, c.relkind::text AS kind
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
       WHERE n.nspname = 'scheduler' AND c.relkind IN ('r', 'p', 'v', 'm')
       ORDER BY c.relname`,
    );
    if (relations.rowCount === 0) {
      throw new Error("the scheduler schema has no tables: run the migrations first (`npm run migrate`)");
    }
    statements.push(`GRANT USAGE ON SCHEMA scheduler TO ${grantee}`);
    for (const relation of relations.rows) {
      if (SCHEDULER_TABLES_WITHOUT_GRANT.has(relation.name)) continue;
      const privileges =
        relation.kind === "v" || relation.kind === "m" ? "SELECT" : "SELECT, INSERT, UPDATE, DELETE";
      statements.push(`GRANT ${privileges} ON scheduler.${pg.escapeIdentifier(relation.name)} TO ${grantee}`);
    }
    statements.push(`GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA scheduler TO ${grantee}`);

    const missing: string[] = [];
    const schemas = new Set<string>();
    const tableGrants: string[] = [];
    for (const [table, privileges] of Object.entries(tablePrivileges)) {
      const located = await client.query<{ schema: string | null }>(
        `SELECT n.nspname AS schema FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE c.oid = to_regclass($1)`,
        [table],
      );
      const schema = located.rows[0]?.schema;
      if (!schema) {
        missing.push(table);
        continue;
      }
      schemas.add(schema);
      tableGrants.push(
        `GRANT ${privileges.join(", ")} ON ${pg.escapeIdentifier(schema)}.${pg.escapeIdentifier(table)} TO ${grantee}`,
      );
    }
    if (missing.length > 0) {
      throw new Error(
        `the app's tables ${missing.join(", ")} are not in this database (search_path): is this the app's database? (\`npm run migrate -- --with-app-schema\` creates them on an empty one)`,
      );
    }
    for (const schema of [...schemas].sort())
      statements.push(`GRANT USAGE ON SCHEMA ${pg.escapeIdentifier(schema)} TO ${grantee}`);
    statements.push(...tableGrants);

    await client.query("BEGIN");
    for (const statement of statements) await client.query(statement);
    await client.query("COMMIT");
    return statements;
  } catch (error) {
    await client.query("ROLLBACK").catch(() => undefined);
    throw error;
  } finally {
    await client.end();
  }
}
