/**
 * The database: one small pool per process, created on first use and reused by every invocation
 * the instance serves; a connection held from it for one run; and the one way to send a simple
 * query. This module loads pg, so the request path reaches it by dynamic import (pool-provider.ts,
 * the runner): a cold start parses pg only once the database is used. It imports nothing but pg
 * and the logger.
 */
import pg from "pg";
import type { Logger } from "../log.js";

export type Pool = pg.Pool;
export type PoolClient = pg.PoolClient;

export interface PoolOptions {
  /**
   * A postgres:// URL; or, with the Cloud SQL connector, `stream` + `user` + `database`; or, on
   * RDS, `host` + `port` + `user` + `database` + `password` + `ssl` (./rds-iam.ts).
   */
  connectionString?: string;
  /** The Cloud SQL connector's socket factory (from `connector.getOptions`). */
  stream?: pg.PoolConfig["stream"];
  host?: string;
  port?: number;
  user?: string;
  database?: string;
  /** A function is asked for each new connection: an RDS IAM token is valid for 15 minutes only. */
  password?: pg.PoolConfig["password"];
  ssl?: pg.PoolConfig["ssl"];
  /** Connections kept by this process: size it to the requests one instance serves at once. */
  max?: number;
  /** How long to wait for a connection before the request answers 503. */
  connectionTimeoutMillis?: number;
  log?: Logger;
}

export function createPool(options: PoolOptions): pg.Pool {
  const pool = new pg.Pool({
    ...(options.connectionString !== undefined ? { connectionString: options.connectionString } : {}),
    ...(options.stream !== undefined ? { stream: options.stream } : {}),
    ...(options.host !== undefined ? { host: options.host } : {}),
    ...(options.port !== undefined ? { port: options.port } : {}),
    ...(options.user !== undefined ? { user: options.user } : {}),
    ...(options.database !== undefined ? { database: options.database } : {}),
    ...(options.password !== undefined ? { password: options.password } : {}),
    ...(options.ssl !== undefined ? { ssl: options.ssl } : {}),
    max: options.max ?? 2,
    connectionTimeoutMillis: options.connectionTimeoutMillis ?? 5000,
    idleTimeoutMillis: 60_000,
    application_name: "scheduled-jobs",
  });
  // An idle client that loses its connection emits 'error' on the pool; unhandled, it would kill the
  // instance and every request in it.
  pool.on("error", (error) => {
    options.log?.warn("an idle database connection failed; the pool will replace it", { error });
  });
  return pool;
}

/** A connection checked out for one run. */
export interface HeldClient {
  readonly client: PoolClient;
  /**
   * Gives the connection back to the pool; with `true` or an error, ends it instead (a session
   * that may hold a lock or odd settings). Use this, never `client.release` directly.
   */
  release(error?: Error | boolean): void;
  /** Sends one simple query on this connection (see {@link simpleQuery}). */
  simpleQuery(text: string): Promise<SimpleQueryResult>;
}

/**
 * Checks a client out of the pool with an 'error' listener for as long as it is held. pg-pool
 * listens only to idle clients: a held client whose connection dies between two queries (killed
 * backend, network loss while an email task talks to SendGrid) would otherwise throw an uncaught
 * error and stop the instance.
 */
export async function checkout(pool: Pool, log?: Logger): Promise<HeldClient> {
  const client = await pool.connect();
  let broken = false;
  const onError = (error: Error): void => {
    broken = true;
    log?.warn("a database connection in use failed", { error });
  };
  client.on("error", onError);
  let released = false;
  return {
    client,
    release(error?: Error | boolean) {
      if (released) return;
      released = true;
      client.removeListener("error", onError);
      client.release(error ?? broken);
    },
    simpleQuery: (text) => simpleQuery(client, text),
  };
}

/** What a simple query brought back. */
interface SimpleQueryResult {
  /** The rows of every statement, in the order they arrived. */
  readonly rows: readonly Record<string, unknown>[];
  /** The rows the last statement changed or returned (0 when the query failed). */
  readonly rowCount: number;
  /** What stopped the query; the rows that came before it are kept. */
  readonly error?: unknown;
}

/**
 * Sends one simple query (one message, which may hold several statements: PostgreSQL runs them in
 * order and stops at the first error; it takes no parameters) and resolves with what came back,
 * never rejecting. A promise of the whole result would drop the rows of the statements before a
 * failing one, or before the connection died; a run's opening is such a row.
 * https://www.postgresql.org/docs/current/protocol-flow.html#PROTOCOL-FLOW-MULTI-STATEMENT
 */
export function simpleQuery(client: pg.ClientBase, text: string): Promise<SimpleQueryResult> {
  return new Promise((resolve) => {
    const rows: Record<string, unknown>[] = [];
    const query = new pg.Query<Record<string, unknown>>(text);
    query.on("row", (row: Record<string, unknown>) => rows.push(row));
    query.once("error", (error: unknown) => resolve({ rows, rowCount: 0, error }));
    query.once("end", (results: unknown) => {
      const list = (Array.isArray(results) ? results : [results]) as { rowCount?: number | null }[];
      resolve({ rows, rowCount: list[list.length - 1]?.rowCount ?? 0 });
    });
    client.query(query);
  });
}
