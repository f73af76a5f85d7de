/**
 * The instance's one pool, created on the first request that needs the database (never at cold
 * start, so a misconfigured or unreachable database cannot stop the function from answering) and
 * reused by every later request.
 */
import type { DatabaseConfig } from "./config.js";
import type { Pool } from "./db.js";
import { publicMessage, ScheduledTaskError } from "./errors.js";
import type { Logger } from "./log.js";

export interface PoolProvider {
  /** The pool; rejects with `unavailable` when it cannot be set up (the next call tries again). */
  get(): Promise<Pool>;
  /**
   * Loads the driver (and the connector, when configured) without connecting: called once the
   * instance is up, so the first request does not wait for module loading.
   */
  preload(): Promise<void>;
  /** Closes the pool (and the connector) if one was created. */
  end(): Promise<void>;
}

export function createPoolProvider(database: DatabaseConfig, max: number, log: Logger): PoolProvider {
  let pending: Promise<{ pool: Pool; close?: () => void }> | undefined;

  const open = async (): Promise<{ pool: Pool; close?: () => void }> => {
    // pg loads with the first request rather than at module load: the same total for the first
    // request, but the instance is up and answering (health checks, refusals) sooner.
    const { createPool } = await import("./db.js");
    if (database.kind === "url") {
      return { pool: createPool({ connectionString: database.connectionString, max, log }) };
    }
    // The connector and its Google auth libraries cost tens of milliseconds to load: only
    // deployments that use Cloud SQL through it pay for them.
    const { Connector, AuthTypes, IpAddressTypes } = await import("@google-cloud/cloud-sql-connector");
    const connector = new Connector();
    const options = await connector.getOptions({
      instanceConnectionName: database.instanceConnectionName,
      ipType: IpAddressTypes[database.ipType],
      authType: AuthTypes.IAM,
    });
    const pool = createPool({
      stream: options.stream,
      user: database.user,
      database: database.database,
      max,
      log,
    });
    return { pool, close: () => connector.close() };
  };

  return {
    async preload() {
      await import("./db.js");
      if (database.kind === "cloud-sql") await import("@google-cloud/cloud-sql-connector");
    },
    get() {
      pending ??= open().catch((error: unknown) => {
        pending = undefined;
        log.error(`could not set up the database connection: ${publicMessage(error)}`);
        throw new ScheduledTaskError("unavailable", "the database is unreachable", { cause: error });
      });
      return pending.then((opened) => opened.pool);
    },
    async end() {
      const opened = await pending?.catch(() => undefined);
      pending = undefined;
      if (!opened) return;
      await opened.pool.end();
      opened.close?.();
    },
  };
}
