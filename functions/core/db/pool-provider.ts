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
  /**
   * The pool; rejects with `unavailable` when it cannot be set up (the next call tries again).
   * While the first connection is opening, waits for it.
   */
  get(): Promise<Pool>;
  /**
   * Loads the driver (and the connector, when configured) and opens the pool's first connection:
   * called once the instance is up, so the first request waits for neither. A request that arrives
   * meanwhile waits for this connection rather than opening a second one.
   */
  preload(): Promise<void>;
  /** Closes the pool (and the connector) if one was created. */
  end(): Promise<void>;
}

interface OpenedPool {
  readonly pool: Pool;
  readonly close?: () => void;
}

export function createPoolProvider(database: DatabaseConfig, max: number, log: Logger): PoolProvider {
  let pending: Promise<OpenedPool> | undefined;
  /** The first connection, while it is being opened at cold start. */
  let warming: Promise<void> | undefined;

  const opened = (): Promise<OpenedPool> => {
    pending ??= openPool(database, max, log).catch((error: unknown) => {
      pending = undefined;
      log.error(`could not set up the database connection: ${publicMessage(error)}`);
      throw new ScheduledTaskError("unavailable", "the database is unreachable", { cause: error });
    });
    return pending;
  };

  return {
    async preload() {
      const { pool } = await opened();
      warming = pool.connect().then((client) => client.release());
      try {
        await warming;
      } finally {
        warming = undefined;
      }
    },
    async get() {
      const { pool } = await opened();
      // Below `max`, pg opens a new connection for every checkout that finds none idle: wait for
      // the one being opened instead (if it failed, the request's checkout tries once more).
      await warming?.catch(() => undefined);
      return pool;
    },
    async end() {
      await warming?.catch(() => undefined);
      const ending = await pending?.catch(() => undefined);
      pending = undefined;
      if (!ending) return;
      await ending.pool.end();
      ending.close?.();
    },
  };
}

async function openPool(database: DatabaseConfig, max: number, log: Logger): Promise<OpenedPool> {
  // pg loads with the first request rather than at module load: the same total for the first
  // request, but the instance is up and answering (health checks, refusals) sooner.
  const { createPool } = await import("./pool.js");
  if (database.kind === "url") {
    return { pool: createPool({ connectionString: database.connectionString, max, log }) };
  }
  if (database.kind === "rds-iam") {
    // The signer and the RDS certificates load only for a deployment on RDS.
    const { rdsIamPoolOptions } = await import("./rds-iam.js");
    return { pool: createPool({ ...rdsIamPoolOptions(database), max, log }) };
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
}
