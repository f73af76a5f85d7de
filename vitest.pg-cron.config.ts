import { defineConfig } from "vitest/config";

// The pg_cron tests: a PostgreSQL 15 cluster with pg_cron of their own (see test/pg-cron/cluster.ts),
// apart from `npm test`, which needs Node.js alone. One of them waits for pg_cron's next minute.
export default defineConfig({
  test: {
    include: ["test/pg-cron/**/*.test.ts"],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    globalSetup: ["test/sql-setup.ts"],
    pool: "forks",
  },
});
