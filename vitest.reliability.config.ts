import { defineConfig } from "vitest/config";

/** The long reliability suite (`npm run test:reliability`): the built function over real HTTP. */
export default defineConfig({
  test: {
    include: ["test/reliability/**/*.test.ts"],
    globalSetup: ["test/sql-setup.ts", "test/global-setup.ts", "test/reliability/build-setup.ts"],
    testTimeout: 300_000,
    hookTimeout: 120_000,
    pool: "forks",
    // One file at a time: each starts its own function process and measures latency on 2 cores.
    fileParallelism: false,
  },
});
