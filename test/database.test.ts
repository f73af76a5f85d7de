/** The instance's pool: created on first use, reused, and through the Cloud SQL connector when configured. */
import { afterEach, describe, expect, it } from "vitest";
import { createPoolProvider } from "../functions/core/db/pool-provider.js";
import { ScheduledTaskError } from "../functions/core/errors.js";
import { createLogger } from "../functions/core/log.js";
import { freePort } from "../scripts/local/embedded-postgres.js";
import { useTestDatabase } from "./helpers/database.js";

const db = useTestDatabase();
const savedCredentials = process.env.GOOGLE_APPLICATION_CREDENTIALS;

afterEach(() => {
  if (savedCredentials === undefined) delete process.env.GOOGLE_APPLICATION_CREDENTIALS;
  else process.env.GOOGLE_APPLICATION_CREDENTIALS = savedCredentials;
});

describe("createPoolProvider", () => {
  it("when the pool is asked for twice, then it is created once and reused", async () => {
    const provider = createPoolProvider(
      { kind: "url", connectionString: db.url },
      2,
      createLogger({}, () => undefined),
    );
    try {
      const [first, second] = await Promise.all([provider.get(), provider.get()]);
      expect(first).toBe(second);
      expect((await first.query("SELECT 1 AS one")).rows).toEqual([{ one: 1 }]);
      expect(await provider.get()).toBe(first);
    } finally {
      await provider.end();
    }
  });

  it("when the pool is open and its first connection warm, then every call hands over that pool, and a new one once it is ended", async () => {
    const provider = createPoolProvider(
      { kind: "url", connectionString: db.url },
      2,
      createLogger({}, () => undefined),
    );
    try {
      const first = provider.get();
      const preloading = provider.preload();
      const pool = await first;
      expect(await provider.get()).toBe(pool);
      await preloading;
      expect(await provider.get()).toBe(pool);
      await provider.end();
      expect(await provider.get()).not.toBe(pool);
    } finally {
      await provider.end();
    }
  });

  it("when the instance starts, then its first connection opens before any request", async () => {
    const provider = createPoolProvider(
      { kind: "url", connectionString: db.url },
      2,
      createLogger({}, () => undefined),
    );
    try {
      await provider.preload();
      const pool = await provider.get();
      expect([pool.totalCount, pool.idleCount]).toEqual([1, 1]);
    } finally {
      await provider.end();
    }
  });

  it("when a request arrives while the first connection is opening, then it waits for it rather than opening another", async () => {
    const provider = createPoolProvider(
      { kind: "url", connectionString: db.url },
      2,
      createLogger({}, () => undefined),
    );
    try {
      const preloaded = provider.preload();
      const pool = await provider.get();
      const client = await pool.connect();
      client.release();
      await preloaded;
      expect([pool.totalCount, pool.idleCount]).toEqual([1, 1]);
    } finally {
      await provider.end();
    }
  });

  it("when the first connection cannot open at start, then the start goes on and the first request tries again", async () => {
    const provider = createPoolProvider(
      { kind: "url", connectionString: `postgres://nobody@127.0.0.1:${await freePort()}/none` },
      2,
      createLogger({}, () => undefined),
    );
    try {
      await expect(provider.preload()).rejects.toThrow(/ECONNREFUSED/);
      const pool = await provider.get();
      await expect(pool.query("SELECT 1")).rejects.toThrow(/ECONNREFUSED/);
      expect(pool.totalCount).toBe(0);
    } finally {
      await provider.end();
    }
  });

  it("when Cloud SQL is configured and the connector cannot get credentials, then unavailable (503), logged, and the next request tries again", async () => {
    // A credentials file that does not exist fails at once, without probing a metadata server.
    process.env.GOOGLE_APPLICATION_CREDENTIALS = "/nonexistent/scheduled-jobs-test-credentials.json";
    const lines: string[] = [];
    const provider = createPoolProvider(
      {
        kind: "cloud-sql",
        instanceConnectionName: "demo-project:europe-west1:delivery-db",
        user: "scheduler@demo-project.iam",
        database: "delivery",
        ipType: "PUBLIC",
      },
      2,
      createLogger({}, (line) => lines.push(line)),
    );
    for (let attempt = 1; attempt <= 2; attempt += 1) {
      const error = await Promise.resolve(provider.get()).catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(ScheduledTaskError);
      expect((error as ScheduledTaskError).status).toBe(503);
      expect(lines).toHaveLength(attempt);
    }
    expect(JSON.parse(lines[0] ?? "{}")).toMatchObject({ severity: "ERROR" });
    expect(lines[0]).toMatch(/could not set up the database connection/);
    await provider.end();
  });
});
