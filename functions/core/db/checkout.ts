/**
 * Checking a client out of the pool, in a module of its own with no runtime import of pg: the
 * runner needs this at module load, pg itself loads only when the pool is created.
 */
import type pg from "pg";
import type { Logger } from "../log.js";

/**
 * Checks a client out of the pool with an 'error' listener for as long as it is held. pg-pool listens
 * only to idle clients: a held client whose connection dies between two queries (killed backend,
 * network loss while an email task talks to SendGrid) would otherwise throw an uncaught error and
 * stop the instance. Release through the returned function, never `client.release` directly.
 */
export function checkout(
  pool: pg.Pool,
  log?: Logger,
): Promise<{ client: pg.PoolClient; release: (error?: Error | boolean) => void }> {
  // Not an async function: one promise less on every run's path (functions/core/run/runner.ts, runTask).
  return pool.connect().then((client) => held(client, log));
}

function held(
  client: pg.PoolClient,
  log: Logger | undefined,
): { client: pg.PoolClient; release: (error?: Error | boolean) => void } {
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
  };
}
