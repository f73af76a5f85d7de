/**
 * Which database a command works on (DATABASE_URL, else the local stack's embedded one) and a pool
 * on it that names a database it cannot use for its cause (exit 3) before the command runs.
 */
import type { Pool } from "../../functions/core/db/pool.js";
import { createPool } from "../../functions/core/db/pool.js";
import { classifyDatabaseError, ScheduledTaskError } from "../../functions/core/errors.js";
import { connectionProblem, malformedUrl } from "../lib/connection-problem.js";
import { ToolError } from "../lib/exit-codes.js";
import type { LocalState } from "../local/local-state.js";
import { readLocalState } from "../local/local-state.js";
import type { Io } from "./io.js";

export interface Target {
  readonly databaseUrl: string;
  /** The local stack, when it runs on this database: its function can run tasks. */
  readonly local: LocalState | undefined;
  /** The database in words, without its password. */
  readonly where: string;
}

export function target(io: Io): Target {
  const local = readLocalState(io.root);
  const url = io.env.DATABASE_URL;
  if (url)
    return {
      databaseUrl: url,
      local: local && local.databaseUrl === url ? local : undefined,
      where: describeUrl(url),
    };
  if (local)
    return {
      databaseUrl: local.databaseUrl,
      local,
      where: `the local stack (${describeUrl(local.databaseUrl)})`,
    };
  throw new ToolError(
    "unreachable",
    "no database: DATABASE_URL is not set and the local stack is not running (the embedded database in .data/postgres runs only while `npm start` does). Start it with `npm start`, or set DATABASE_URL.",
  );
}

export function describeUrl(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.hostname}:${parsed.port || 5432}${parsed.pathname}`;
  } catch {
    return "DATABASE_URL (malformed)";
  }
}

/** The error that says the database at `where` cannot be used, or undefined when `error` is another. */
function unreachable(error: unknown, databaseUrl: string, where: string): ToolError | undefined {
  const cause = error instanceof ScheduledTaskError ? error.cause : error;
  const problem = connectionProblem(cause, databaseUrl);
  if (problem) return new ToolError("unreachable", `the database at ${where} is unreachable: ${problem}`);
  const unavailable =
    error instanceof ScheduledTaskError
      ? error.code === "unavailable"
      : classifyDatabaseError(error) === "unavailable";
  if (!unavailable) return undefined;
  const reason = cause instanceof Error && cause.message ? `: ${cause.message}` : "";
  return new ToolError("unreachable", `the database at ${where} is unreachable${reason}`);
}

export async function withPool<T>(io: Io, work: (pool: Pool, where: string) => Promise<T>): Promise<T> {
  const { databaseUrl, where } = target(io);
  const malformed = malformedUrl(databaseUrl);
  if (malformed) throw new ToolError("unreachable", malformed);
  const pool = createPool({ connectionString: databaseUrl, max: 2, connectionTimeoutMillis: 5000 });
  try {
    // One connection first: whatever the command, a database it cannot use is named for its cause
    // (a task's runner, say, would report a wrong password as the task's own failure).
    await pool.query("SELECT 1").catch((error: unknown) => {
      throw unreachable(error, databaseUrl, where) ?? error;
    });
    return await work(pool, where);
  } catch (error) {
    if (error instanceof ToolError) throw error;
    throw unreachable(error, databaseUrl, where) ?? error;
  } finally {
    await pool.end().catch(() => undefined);
  }
}
