/**
 * The database routines (functions, procedures, the health view) each live in one file of
 * sql/routines/, which `migrate` applies after the migrations and again whenever the file changes.
 * A database migrated release by release ends with the routines of a fresh one; a second migrate
 * replaces nothing; each file creates its routine after the routines it names.
 */
import { randomBytes } from "node:crypto";
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { afterAll, describe, expect, inject, it } from "vitest";
import type { RoutineFile } from "../scripts/generate/sql-files.js";
import { orderRoutines, readMigrations, readRoutines, sqlDir } from "../scripts/generate/sql-files.js";
import { applyAppSchema, grantTaskPrivileges, migrate } from "../scripts/lib/migrate.js";
import { main } from "../scripts/migrate.js";
import { databaseUrl, useTestDatabase } from "./helpers/database.js";

const db = useTestDatabase();
const routines = readRoutines();
const migrations = readMigrations();

/**
 * The last migration of the releases before sql/routines/ existed: those releases' migrate applied
 * migrations only. The migrations after it hold tables and data only.
 */
const LAST_MIGRATION_BEFORE_ROUTINES = "000013_lean_run_record";

const cleanups: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

async function withClient<T>(url: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

/** A database with the app's tables and nothing of the scheduler's: where a new install starts. */
async function appOnlyDatabase(): Promise<string> {
  const name = `sj_routines_${randomBytes(5).toString("hex")}`;
  await withClient(inject("adminDatabaseUrl"), (admin) => admin.query(`CREATE DATABASE ${name}`));
  cleanups.push(async () => {
    await withClient(inject("adminDatabaseUrl"), (admin) =>
      admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`),
    );
  });
  const url = databaseUrl(name);
  await applyAppSchema(url);
  return url;
}

/** Every routine of the scheduler schema as the server prints it, and the triggers that call one. */
async function routinesIn(url: string): Promise<Record<string, string>> {
  return withClient(url, async (client) => {
    const rows = await client.query<{ name: string; definition: string }>(`
      SELECT p.oid::regprocedure::text AS name, pg_get_functiondef(p.oid) AS definition
      FROM pg_proc p WHERE p.pronamespace = 'scheduler'::regnamespace
      UNION ALL
      SELECT 'view ' || c.oid::regclass::text, pg_get_viewdef(c.oid)
      FROM pg_class c WHERE c.relnamespace = 'scheduler'::regnamespace AND c.relkind IN ('v', 'm')
      UNION ALL
      SELECT 'trigger ' || t.tgname, pg_get_triggerdef(t.oid)
      FROM pg_trigger t JOIN pg_proc p ON p.oid = t.tgfoid
      WHERE p.pronamespace = 'scheduler'::regnamespace AND NOT t.tgisinternal
      ORDER BY 1`);
    return Object.fromEntries(rows.rows.map((row) => [row.name, row.definition]));
  });
}

/** A copy of sql/routines/ with `edit` applied to one file's text, read as migrate reads it. */
function editedRoutines(name: string, edit: (sql: string) => string): RoutineFile[] {
  const dir = mkdtempSync(join(tmpdir(), "scheduled-jobs-routines-"));
  cleanups.push(async () => rmSync(dir, { recursive: true, force: true }));
  cpSync(join(sqlDir, "routines"), dir, { recursive: true });
  const file = join(dir, `${name}.sql`);
  const before = readFileSync(file, "utf8");
  const after = edit(before);
  expect(after, "the edit changed the file").not.toBe(before);
  writeFileSync(file, after);
  return readRoutines(dir);
}

const publicMessage = (url: string): Promise<string> =>
  withClient(
    url,
    async (client) => (await client.query("SELECT scheduler.public_message('') AS m")).rows[0].m,
  );

describe("routines: one file each, applied by every migrate", () => {
  it("when a database is migrated release by release, then it ends with the routines of a fresh one, each from its file", async () => {
    const fresh = await appOnlyDatabase();
    await migrate(fresh);

    const stepped = await appOnlyDatabase();
    for (let count = 1; count <= migrations.length; count += 1) {
      const release = migrations.slice(0, count);
      const hadRoutines = release.at(-1)!.name > LAST_MIGRATION_BEFORE_ROUTINES;
      await migrate(stepped, release, hadRoutines ? routines : []);
    }
    const upgrade = await migrate(stepped);
    expect(upgrade.applied).toEqual([]);
    // A release after the routines came applied them with its migrations; before, this migrate does.
    const releasedSince = migrations.some((migration) => migration.name > LAST_MIGRATION_BEFORE_ROUTINES);
    expect(upgrade.routinesApplied).toEqual(releasedSince ? [] : routines.map((routine) => routine.name));

    const freshRoutines = await routinesIn(fresh);
    expect(await routinesIn(stepped)).toEqual(freshRoutines);
    // Each routine of the schema has its file, once (an overload left by a changed signature would
    // show twice), and each file's routine is there.
    const names = Object.keys(freshRoutines)
      .filter((name) => !name.startsWith("trigger "))
      .map((name) => name.replace(/^view /, "").replace(/\(.*$/, ""))
      .sort();
    expect(names).toEqual(routines.map((routine) => routine.name).sort());
  });

  it("when migrate runs on a migrated database, then it applies nothing and replaces no routine", async () => {
    const versions = async () =>
      (
        await db.pool.query<{ name: string; version: string }>(`
          SELECT p.oid::regprocedure::text AS name, p.xmin::text AS version
          FROM pg_proc p WHERE p.pronamespace = 'scheduler'::regnamespace
          UNION ALL
          SELECT 'view ' || r.ev_class::regclass::text, r.xmin::text
          FROM pg_rewrite r JOIN pg_class c ON c.oid = r.ev_class
          WHERE c.relnamespace = 'scheduler'::regnamespace
          ORDER BY 1`)
      ).rows;
    const before = await versions();
    const result = await migrate(db.url);
    expect(result).toMatchObject({ applied: [], routinesApplied: [] });
    expect(result.routinesUnchanged).toEqual(routines.map((routine) => routine.name));
    expect(await versions()).toEqual(before);
  });

  it("when a routine's file changes, then the next migrate applies that file alone, and the old text when it goes back", async () => {
    const edited = editedRoutines("scheduler.public_message", (sql) =>
      sql.replace("'unknown error'", "'unknown failure'"),
    );
    const changed = await migrate(db.url, migrations, edited);
    expect(changed.routinesApplied).toEqual(["scheduler.public_message"]);
    expect(await publicMessage(db.url)).toBe("unknown failure");

    const back = await migrate(db.url);
    expect(back.routinesApplied).toEqual(["scheduler.public_message"]);
    expect(await publicMessage(db.url)).toBe("unknown error");
  });

  it("when a routine's arguments change, then a DROP of the old signature above its CREATE leaves one routine of that name", async () => {
    const overloads = async () =>
      (
        await db.pool.query<{ signature: string }>(
          "SELECT oid::regprocedure::text AS signature FROM pg_proc WHERE pronamespace = 'scheduler'::regnamespace AND proname = 'public_message' ORDER BY 1",
        )
      ).rows.map((row) => row.signature);
    const withLimit = (sql: string) =>
      sql.replace("(p_message text)", "(p_message text, p_limit integer DEFAULT 500)");
    // Without the DROP, CREATE OR REPLACE makes a second function beside the first.
    await migrate(db.url, migrations, editedRoutines("scheduler.public_message", withLimit));
    expect(await overloads()).toEqual([
      "scheduler.public_message(text)",
      "scheduler.public_message(text,integer)",
    ]);
    await db.pool.query("DROP FUNCTION scheduler.public_message(text, integer)");

    const dropFirst = (old: string) => (sql: string) =>
      sql.replace(
        "CREATE OR REPLACE",
        `DROP FUNCTION IF EXISTS scheduler.public_message(${old});\nCREATE OR REPLACE`,
      );
    await migrate(
      db.url,
      migrations,
      editedRoutines("scheduler.public_message", (sql) => dropFirst("text")(withLimit(sql))),
    );
    expect(await overloads()).toEqual(["scheduler.public_message(text,integer)"]);
    // And back, the same way.
    await migrate(db.url, migrations, editedRoutines("scheduler.public_message", dropFirst("text, integer")));
    await migrate(db.url);
    expect(await overloads()).toEqual(["scheduler.public_message(text)"]);
    expect(await publicMessage(db.url)).toBe("unknown error");
  });

  it("when a run applies a migration, then it applies every routine again after it (a migration may have replaced one)", async () => {
    // As the early migrations did: a routine replaced by a migration, whose file has not changed.
    await db.pool.query(`
      CREATE OR REPLACE FUNCTION scheduler.public_message(p_message text) RETURNS text
      LANGUAGE sql IMMUTABLE AS $$ SELECT 'replaced by a migration' $$;
      DELETE FROM scheduler.schema_migrations WHERE name = '000002_task_indexes';`);
    const result = await migrate(db.url);
    expect(result.applied).toEqual(["000002_task_indexes"]);
    expect(result.routinesApplied).toEqual(routines.map((routine) => routine.name));
    expect(await publicMessage(db.url)).toBe("unknown error");
  });

  it("when a routine fails, then the run's migrations are rolled back with it and the error names its file", async () => {
    const tableMigration = {
      name: "999999_routines_test_table",
      sql: "CREATE TABLE scheduler.routines_test_table (id integer)",
      transactional: true,
    };
    const broken = editedRoutines("scheduler.public_message", (sql) =>
      sql.replace("SELECT CASE", "SELECT CASE CASE"),
    );
    await expect(migrate(db.url, [...migrations, tableMigration], broken)).rejects.toThrow(
      /routine scheduler\.public_message \(sql\/routines\/scheduler\.public_message\.sql\) failed: syntax error/,
    );
    const left = await db.pool.query(`
      SELECT to_regclass('scheduler.routines_test_table') AS table_left,
             (SELECT count(*)::int FROM scheduler.schema_migrations WHERE name = '999999_routines_test_table') AS recorded`);
    expect(left.rows[0]).toEqual({ table_left: null, recorded: 0 });
    expect(await publicMessage(db.url)).toBe("unknown error");
  });

  it("when each file is applied with only the routines it names, on a schema without routines, then it is created (the order migrate applies them in is enough)", async () => {
    const byName = new Map(routines.map((routine) => [routine.name, routine]));
    const withRequired = (routine: RoutineFile): RoutineFile[] => {
      const needed = new Map<string, RoutineFile>();
      const visit = (name: string): void => {
        if (needed.has(name)) return;
        const found = byName.get(name)!;
        found.requires.forEach(visit);
        needed.set(name, found);
      };
      visit(routine.name);
      return orderRoutines([...needed.values()]);
    };
    const failures: string[] = [];
    await withClient(db.url, async (client) => {
      await client.query("BEGIN");
      try {
        // Every routine gone (the triggers that call one with it), as before the first migrate.
        const drops = await client.query<{ drop: string }>(`
          SELECT format('DROP %s IF EXISTS %s CASCADE', CASE p.prokind WHEN 'p' THEN 'PROCEDURE' ELSE 'FUNCTION' END,
                        p.oid::regprocedure) AS drop
          FROM pg_proc p WHERE p.pronamespace = 'scheduler'::regnamespace`);
        await client.query("DROP VIEW scheduler.job_health");
        for (const { drop } of drops.rows) await client.query(drop);
        for (const routine of routines) {
          await client.query("SAVEPOINT each");
          try {
            for (const needed of withRequired(routine)) await client.query(needed.sql);
          } catch (error) {
            failures.push(`${routine.name}: ${(error as Error).message}`);
          }
          await client.query("ROLLBACK TO SAVEPOINT each");
        }
        // The check can fail: a LANGUAGE sql body naming a routine not created yet is refused.
        await client.query("SAVEPOINT alone");
        await expect(client.query(byName.get("scheduler.count_due_email_outbox")!.sql)).rejects.toThrow(
          /function scheduler\.claim_is_abandoned\(.*\) does not exist/,
        );
        await client.query("ROLLBACK TO SAVEPOINT alone");
      } finally {
        await client.query("ROLLBACK");
      }
    });
    expect(failures).toEqual([]);
  });

  it("when `npm run migrate` reports, then it says which routines it applied and which were unchanged", async () => {
    const out: string[] = [];
    const io = { env: { DATABASE_URL: db.url }, out: (text: string) => out.push(text), err: () => undefined };
    await db.pool.query("DELETE FROM scheduler.schema_routines WHERE name = 'scheduler.tick'");
    expect(await main([], io)).toBe(0);
    expect(out).toEqual([
      "applied sql/routines/scheduler.tick.sql",
      `0 applied, ${migrations.length} already applied; 1 routines applied, ${routines.length - 1} unchanged`,
    ]);
    out.length = 0;
    expect(await main(["--json"], io)).toBe(0);
    expect(JSON.parse(out.join("\n"))).toMatchObject({
      applied: [],
      routinesApplied: [],
      routinesUnchanged: routines.map((routine) => routine.name),
    });
  });

  it("when the function's role is granted its privileges, then migrate's records are not among them", async () => {
    const role = `sj_routines_${randomBytes(4).toString("hex")}`;
    await db.pool.query(`CREATE ROLE ${role}`);
    try {
      const statements = await grantTaskPrivileges(db.url, role);
      expect(statements.some((statement) => /scheduler\."job_runs"/.test(statement))).toBe(true);
      expect(statements.filter((statement) => /schema_(migrations|routines)/.test(statement))).toEqual([]);
    } finally {
      await db.pool.query(`DROP OWNED BY ${role}`);
      await db.pool.query(`DROP ROLE ${role}`);
    }
  });
});

describe("routine files", () => {
  function routinesDir(files: Record<string, string>): string {
    const dir = mkdtempSync(join(tmpdir(), "scheduled-jobs-routine-files-"));
    cleanups.push(async () => rmSync(dir, { recursive: true, force: true }));
    for (const [file, text] of Object.entries(files)) writeFileSync(join(dir, file), text);
    return dir;
  }

  it("when a file names other routines, then it comes after them, whatever its name (comments and strings aside)", () => {
    const dir = routinesDir({
      "s.a_caller.sql":
        "-- calls s.z_callee\nCREATE OR REPLACE FUNCTION s.a_caller() RETURNS int LANGUAGE sql AS $$ SELECT s.z_callee() $$;\n",
      "s.z_callee.sql":
        "CREATE OR REPLACE FUNCTION s.z_callee() RETURNS int LANGUAGE sql AS $$ SELECT 1 $$;\n",
      "s.m_setting.sql":
        "-- s.a_caller\nCREATE OR REPLACE FUNCTION s.m_setting() RETURNS text LANGUAGE sql AS $$ SELECT current_setting('s.a_caller', true) $$;\n",
    });
    const read = readRoutines(dir);
    expect(read.map((routine) => [routine.name, routine.requires])).toEqual([
      ["s.m_setting", []],
      ["s.z_callee", []],
      ["s.a_caller", ["s.z_callee"]],
    ]);
  });

  it("when files name each other in a cycle, then reading them fails and names them", () => {
    expect(() =>
      orderRoutines([
        { name: "s.a", requires: ["s.b"] },
        { name: "s.b", requires: ["s.a"] },
        { name: "s.c", requires: [] },
      ]),
    ).toThrow(/in a cycle: s\.a, s\.b$/);
  });

  it("when a file is not a routine's CREATE OR REPLACE under its own name, then reading it fails", () => {
    const create = "CREATE OR REPLACE FUNCTION s.f() RETURNS int LANGUAGE sql AS $$ SELECT 1 $$;\n";
    expect(() => readRoutines(routinesDir({ "f.sql": create }))).toThrow(/named <schema>\.<name>\.sql/);
    expect(() => readRoutines(routinesDir({ "s.g.sql": create }))).toThrow(
      /creates s\.g, once, and nothing else/,
    );
    expect(() => readRoutines(routinesDir({ "s.f.sql": create.replace("OR REPLACE ", "") }))).toThrow(
      /CREATE OR REPLACE, so that every migrate can apply it again/,
    );
    expect(() => readRoutines(routinesDir({ "s.f.sql": `${create}CREATE VIEW s.v AS SELECT 1;\n` }))).toThrow(
      /creates s\.f, once, and nothing else/,
    );
  });

  it("when a migration comes after the routines' files, then it creates no routine (migrations hold tables and data)", () => {
    const later = migrations.filter((migration) => migration.name > LAST_MIGRATION_BEFORE_ROUTINES);
    const creating = later
      .filter((migration) =>
        /^\s*CREATE\s+(OR\s+REPLACE\s+)?(FUNCTION|PROCEDURE|VIEW)\b/im.test(migration.sql),
      )
      .map((migration) => migration.name);
    expect(creating).toEqual([]);
    expect(migrations.map((migration) => migration.name)).toContain(LAST_MIGRATION_BEFORE_ROUTINES);
  });
});
