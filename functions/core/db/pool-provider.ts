/**
 * The instance's one pool, reused by every request. Its first connection is opened in the
 * background once the instance is up (`preload`), while the framework finishes starting, so the
 * first request, which is why the instance started, finds it open; a failure there is the first
 * request's own (answered 503) and the next one tries again, so a misconfigured or unreachable
 * database never stops the function from starting or answering.
 */
import type { DatabaseConfig } from "../config/function-config.js";
import type { Pool } from "./pool.js";
import { publicMessage, ScheduledTaskError } from "../errors.js";
import type { Logger } from "../log.js";

export interface PoolProvider {
  /** The pool; rejects with `unavailable` when it cannot be set up (the next call tries again). */
  /** The pool: itself once open and warm (a warm request awaits nothing for it), else a promise of it. */
  get(): Pool | Promise<Pool>;
  /**
   * Loads the driver (and the connector, when configured) and opens the pool's first connection:
   * called once the instance is up, so the first request waits for neither. A request that arrives
   * meanwhile waits for this connection rather than opening a second one.
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
    const { createPool } = await import("./pool.js");
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

  /** The first connection, while it is being opened at cold start. */
  let warming: Promise<void> | undefined;

  /** The pool once it is open, until it is ended. */
  let ready: Pool | undefined;

  const get = (): Promise<Pool> => {
    pending ??= open().then(
      (opened) => {
        ready = opened.pool;
        return opened;
      },
      (error: unknown) => {
        pending = undefined;
        log.error(`could not set up the database connection: ${publicMessage(error)}`);
        throw new ScheduledTaskError("unavailable", "the database is unreachable", { cause: error });
      },
    );
    return pending.then((opened) => opened.pool);
  };

  const waitForPool = async (): Promise<Pool> => {
    const pool = await get();
    // Below `max`, pg opens a new connection for every checkout that finds none idle: wait for
    // the one being opened instead (if it failed, the request's checkout tries once more).
    await warming?.catch(() => undefined);
    return pool;
  };

  return {
    async preload() {
      const pool = await get();
      warming = pool.connect().then((client) => client.release());
      try {
        await warming;
      } finally {
        warming = undefined;
      }
    },
    get() {
      if (ready && !warming) return ready;
      return waitForPool();
    },
    async end() {
      await warming?.catch(() => undefined);
      const opened = await pending?.catch(() => undefined);
      pending = undefined;
      ready = undefined;
      if (!opened) return;
      await opened.pool.end();
      opened.close?.();
    },
  };
}
