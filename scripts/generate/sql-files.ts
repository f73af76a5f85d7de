/**
 * Reads `sql/tasks/*.sql` into statements. A task file holds one statement, or, for a batched task,
 * its batch under a `-- name: batch` line: a statement that changes at most $1 rows, picked by a
 * selection whose FROM and WHERE lines sit between `-- due: begin` and `-- due: end`. Those lines
 * are the task's one statement of which rows are due: the count a dry run and the blast-radius guard
 * ask for is built from them (see countOfDue), so the predicate is written once.
 */
import { createHash } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

export const sqlDir = fileURLToPath(new URL("../../sql/", import.meta.url));

export interface TaskSqlFile {
  /** The single statement of a task that is not batched. */
  readonly statement?: string;
  /** One batch of a batched task. */
  readonly batch?: string;
  /** The count of rows a batched task would change: built from the batch's due lines. */
  readonly count?: string;
}

const nameMarker = /^--\s*name:\s*([a-z]+)\s*$/;
const dueMarker = /^\s*--\s*due:\s*(begin|end)\s*$/;

export function parseTaskSql(fileName: string, text: string): TaskSqlFile {
  const lines = text.replace(/\r\n/g, "\n").split("\n");
  const names = lines.flatMap((line) => nameMarker.exec(line)?.[1] ?? []);
  if (names.length === 0) return { statement: clean(text) };
  if (names.length > 1 || names[0] !== "batch") {
    const other = names.find((name) => name !== "batch") ?? "batch";
    throw new Error(
      other === "batch"
        ? `${fileName}: statement "batch" appears twice`
        : `${fileName}: unknown statement name "${other}" (a batched task has one, "batch"; its count is built from the batch's "-- due: begin" ... "-- due: end" lines)`,
    );
  }
  const batch = lines.slice(lines.findIndex((line) => nameMarker.test(line)) + 1);
  return { batch: clean(batch.join("\n")), count: countOfDue(fileName, batch) };
}

/**
 * The count statement of a batched task: how many rows its due lines select, counting at most $1
 * (all when NULL), as `SELECT count(*) ... LIMIT $1` over the same FROM and WHERE the batch picks
 * from. The batch's ORDER BY and FOR UPDATE SKIP LOCKED are not in it: a count neither orders nor
 * locks.
 */
function countOfDue(fileName: string, batch: readonly string[]): string {
  const markers = batch.flatMap((line, index) => {
    const marker = dueMarker.exec(line)?.[1];
    return marker ? [{ marker, index }] : [];
  });
  if (markers.length !== 2 || markers[0]!.marker !== "begin" || markers[1]!.marker !== "end") {
    throw new Error(
      `${fileName}: a batched task marks the FROM and WHERE of its selection with one "-- due: begin" line and one "-- due: end" line after it`,
    );
  }
  const due = batch.slice(markers[0]!.index + 1, markers[1]!.index).filter((line) => !/^\s*--/.test(line));
  const indent = Math.min(...due.filter((line) => line.trim()).map((line) => /^ */.exec(line)![0].length));
  const body = due.map((line) => (line.trim() ? `  ${line.slice(indent)}` : "")).join("\n");
  if (!body.trim()) throw new Error(`${fileName}: nothing between "-- due: begin" and "-- due: end"`);
  return `SELECT count(*) AS rows FROM (\n  SELECT 1\n${body}\n  LIMIT $1\n) AS due;`;
}

/** Drops comment-only lines and surrounding blank space, so the statement is what is sent. */
function clean(sql: string): string {
  const body = sql
    .split("\n")
    .filter((line) => !/^\s*--/.test(line))
    .join("\n")
    .trim();
  if (!body) throw new Error("empty SQL statement");
  return body;
}

export function readTaskSqlFiles(dir = join(sqlDir, "tasks")): Record<string, TaskSqlFile> {
  const out: Record<string, TaskSqlFile> = {};
  for (const file of readdirSync(dir).sort()) {
    if (!file.endsWith(".sql")) continue;
    const name = file.slice(0, -".sql".length);
    try {
      out[name] = parseTaskSql(file, readFileSync(join(dir, file), "utf8"));
    } catch (error) {
      throw new Error(`sql/tasks/${file}: ${(error as Error).message}`, { cause: error });
    }
  }
  return out;
}

export interface MigrationFile {
  readonly name: string;
  readonly sql: string;
  /** False when the file starts with `-- migrate: no-transaction` (for CREATE INDEX CONCURRENTLY). */
  readonly transactional: boolean;
}

export function readMigrations(dir = join(sqlDir, "migrations")): MigrationFile[] {
  return readdirSync(dir)
    .filter((file) => /^\d{6}_[a-z0-9_]+\.sql$/.test(file))
    .sort()
    .map((file) => {
      const sql = readFileSync(join(dir, file), "utf8");
      return {
        name: file.slice(0, -".sql".length),
        sql,
        transactional: !/^--\s*migrate:\s*no-transaction\b/m.test(sql.split("\n", 1)[0] ?? ""),
      };
    });
}

/**
 * A database routine (function, procedure, or a view whose body is logic) from
 * `sql/routines/<schema>.<name>.sql`: the one home of its current text. `npm run migrate` applies
 * it after the migrations, again whenever its checksum changes (see scripts/lib/migrate.ts).
 */
export interface RoutineFile {
  /** `<schema>.<name>`: the file's name, and the routine it creates. */
  readonly name: string;
  readonly sql: string;
  /** sha256 of the text: what the migration record compares. */
  readonly checksum: string;
  /** The other routines its text names, which are created before it. */
  readonly requires: readonly string[];
}

const routineFileName = /^([a-z_][a-z0-9_]*\.[a-z_][a-z0-9_]*)\.sql$/;

/**
 * The routines of `dir`, each after the routines it names. A LANGUAGE sql body and a view are
 * checked when created (check_function_bodies), so what they call must exist by then; reading the
 * order off the texts, rather than from a numeric prefix or a list to keep, keeps each file named
 * after its routine and the order true when a body changes.
 */
export function readRoutines(dir = join(sqlDir, "routines")): RoutineFile[] {
  const texts = new Map<string, string>();
  for (const file of readdirSync(dir).sort()) {
    if (!file.endsWith(".sql")) continue;
    const name = routineFileName.exec(file)?.[1];
    if (!name) throw new Error(`sql/routines/${file}: a routine's file is named <schema>.<name>.sql`);
    const sql = readFileSync(join(dir, file), "utf8").replace(/\r\n/g, "\n");
    checkRoutineText(name, sql);
    texts.set(name, sql);
  }
  const routines = [...texts].map(([name, sql]) => ({
    name,
    sql,
    checksum: createHash("sha256").update(sql).digest("hex"),
    requires: routinesNamedIn(sql, texts, name),
  }));
  return orderRoutines(routines);
}

/** Every routine file creates its routine with CREATE OR REPLACE, which a second run can repeat. */
function checkRoutineText(name: string, sql: string): void {
  const creates = [
    ...sql.matchAll(/^\s*CREATE\s+(OR\s+REPLACE\s+)?(FUNCTION|PROCEDURE|VIEW)\s+([a-z0-9_.]+)/gim),
  ];
  const own = creates.filter((create) => create[3]!.toLowerCase() === name);
  if (own.length !== 1 || creates.length !== 1) {
    throw new Error(`sql/routines/${name}.sql: the file creates ${name}, once, and nothing else`);
  }
  if (!own[0]![1]) {
    throw new Error(`sql/routines/${name}.sql: CREATE OR REPLACE, so that every migrate can apply it again`);
  }
}

/** The routines of `all` that `sql` names outside comments and string literals, itself excepted. */
function routinesNamedIn(sql: string, all: ReadonlyMap<string, string>, self: string): string[] {
  // 'scheduler.tick' in set_config(...) is a setting's name, not the routine.
  const code = sql.replace(/--.*$/gm, "").replace(/'(?:[^']|'')*'/g, "''");
  const named = new Set<string>();
  for (const match of code.matchAll(/\b([a-z_][a-z0-9_]*\.[a-z_][a-z0-9_]*)\b/gi)) {
    const name = match[1]!.toLowerCase();
    if (name !== self && all.has(name)) named.add(name);
  }
  return [...named].sort();
}

/**
 * Each routine after those it requires: first the routines that require none, then those that
 * require only these, and so on, by name within each round (a stable order). A cycle is an error.
 */
export function orderRoutines<T extends { readonly name: string; readonly requires: readonly string[] }>(
  routines: readonly T[],
): T[] {
  const waiting = new Map(routines.map((routine) => [routine.name, routine]));
  const ordered: T[] = [];
  const placed = new Set<string>();
  while (waiting.size > 0) {
    const ready = [...waiting.values()]
      .filter((routine) => routine.requires.every((name) => placed.has(name) || !waiting.has(name)))
      .sort((a, b) => (a.name < b.name ? -1 : 1));
    if (ready.length === 0) {
      throw new Error(
        `sql/routines: these routines name each other in a cycle: ${[...waiting.keys()].join(", ")}`,
      );
    }
    for (const routine of ready) {
      ordered.push(routine);
      placed.add(routine.name);
      waiting.delete(routine.name);
    }
  }
  return ordered;
}

export function readAppSchema(): string {
  return readFileSync(join(sqlDir, "schema.sql"), "utf8");
}
