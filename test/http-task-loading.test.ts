import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { childEnv } from "../scripts/local/child-env.js";
import { useTestDatabase } from "./helpers/database.js";

const db = useTestDatabase();

describe("loading the http tasks' code", () => {
  it("when a SQL task runs, then google-auth-library is not loaded; an http task's first run loads it", async () => {
    const { stdout } = await promisify(execFile)(
      process.execPath,
      ["--import", "tsx", "test/fixtures/http-load-probe.ts"],
      {
        cwd: new URL("..", import.meta.url),
        env: {
          ...childEnv(),
          PROBE_DATABASE_URL: db.url,
          // A metadata server that is not there: the token fails fast instead of waiting on a probe.
          GCE_METADATA_HOST: "127.0.0.1:9",
          METADATA_SERVER_DETECTION: "assume-present",
        },
        timeout: 60_000,
      },
    );
    const probe = JSON.parse(stdout.trim().split("\n").pop()!) as Record<string, string[] | string>;
    expect(probe.sql).toBe("succeeded");
    expect(probe.http).toBe("failed");
    const authPackages = ["google-auth-library", "gcp-metadata", "gaxios"];
    expect((probe.afterSql as string[]).filter((name) => authPackages.includes(name))).toEqual([]);
    expect(probe.afterHttp).toContain("google-auth-library");
  });
});
