/**
 * Reads `sql/tasks/*.sql` into statements. A task file holds one statement, or, for a batched task,
 * named statements marked by `-- name: batch` and `-- name: count` lines (the batch takes the batch
 * size as $1; the count counts at most $1 rows, all when NULL).
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

export const sqlDir = fileURLToPath(new URL("../../sql/", import.meta.url));

export interface TaskSqlFile {
  /** The single statement of a task that is not batched. */
  readonly statement?: string;
  /** One batch of a batched task. */
  readonly batch?: string;
  /** The count of rows a batched task would change. */
  readonly count?: string;
}

const nameMarker = /^--\s*name:\s*([a-z]+)\s*$/;
const allowedNames = new Set(["batch", "count"]);

export function parseTaskSql(fileName: string, text: string): TaskSqlFile {
  const lines = text.replace(/\r\n/g, "\n").split("\n");
  if (!lines.some((line) => nameMarker.test(line))) {
    return { statement: clean(text) };
  }
  const parts: Record<string, string[]> = {};
  let current: string[] | undefined;
  for (const line of lines) {
    const match = nameMarker.exec(line);
    if (match) {
      const name = match[1]!;
      if (!allowedNames.has(name)) throw new Error(`${fileName}: unknown statement name "${name}"`);
      if (parts[name]) throw new Error(`${fileName}: statement "${name}" appears twice`);
      current = parts[name] = [];
    } else if (current) {
      current.push(line);
    }
  }
  if (!parts.batch || !parts.count) {
    throw new Error(`${fileName}: a batched task needs both "-- name: batch" and "-- name: count"`);
  }
  return { batch: clean(parts.batch.join("\n")), count: clean(parts.count.join("\n")) };
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

export function readAppSchema(): string {
  return readFileSync(join(sqlDir, "schema.sql"), "utf8");
}
