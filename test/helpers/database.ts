/**
 * A database of its own for each test file, cloned from the template that global-setup built
 * (app schema + migrations), so files run in parallel without seeing each other's rows.
 */
import { randomBytes } from "node:crypto";
import pg from "pg";
import { afterAll, beforeAll, inject } from "vitest";
import { createPool } from "../../functions/core/db/pool.js";

export interface TestDatabase {
  readonly url: string;
  readonly name: string;
  /** A pool for the code under test and for fixtures. */
  readonly pool: pg.Pool;
}

export function databaseUrl(database: string): string {
  const url = new URL(inject("adminDatabaseUrl"));
  url.pathname = `/${database}`;
  return url.toString();
}

export async function createTestDatabase(): Promise<TestDatabase & { drop(): Promise<void> }> {
  const name = `sj_test_${randomBytes(5).toString("hex")}`;
  const admin = new pg.Client({ connectionString: inject("adminDatabaseUrl") });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name} TEMPLATE ${inject("templateDatabase")}`);
  } finally {
    await admin.end();
  }
  const url = databaseUrl(name);
  const pool = createPool({ connectionString: url, max: 6 });
  return {
    url,
    name,
    pool,
    async drop() {
      await pool.end();
      const cleanup = new pg.Client({ connectionString: inject("adminDatabaseUrl") });
      await cleanup.connect();
      await cleanup.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await cleanup.end();
    },
  };
}

/** Registers beforeAll/afterAll for a per-file database and returns a handle filled in by beforeAll. */
export function useTestDatabase(): TestDatabase {
  const handle = {} as { url: string; name: string; pool: pg.Pool; drop?: () => Promise<void> };
  beforeAll(async () => {
    Object.assign(handle, await createTestDatabase());
  });
  afterAll(async () => {
    await handle.drop?.();
  });
  return handle;
}
