/**
 * The program's entry, `infra/index.ts`, as Pulumi runs it: config read from the stack, the
 * SendGrid key required as a secret, outputs exported; and loadable by plain Node with tsx, the
 * loader Pulumi.yaml names for this ESM TypeScript package.
 */
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { promisify } from "node:util";
import * as pulumi from "@pulumi/pulumi";
import { beforeEach, describe, expect, it, vi } from "vitest";
import { fakeBundle, installMocks, valueOf } from "./harness.js";

const KEY = "SG.program-test-key";

function stackConfig(sourceDir: string, withKey: boolean): Record<string, string> {
  return {
    "gcp:project": "program-test",
    "gcp:region": "us-central1",
    "scheduled-jobs:alertEmail": "ops@example.com",
    "scheduled-jobs:mailFrom": "no-reply@example.com",
    "scheduled-jobs:database": JSON.stringify({
      connectionName: "program-test:us-central1:db",
      databaseName: "app",
    }),
    "scheduled-jobs:function": JSON.stringify({ sourceDir, maxInstances: 2 }),
    "scheduled-jobs:taskOverrides": JSON.stringify({ "generate-daily-stats": { paused: true } }),
    "scheduled-jobs:httpTargets": JSON.stringify({ "app-backend": { url: "https://app-backend.example" } }),
    ...(withKey ? { "scheduled-jobs:sendgridApiKey": KEY } : {}),
  };
}

describe("the program's entry", () => {
  beforeEach(async () => {
    vi.resetModules();
    await installMocks();
  });

  it("when the stack's config is complete, then the program exports the operator's outputs, read from that config", async () => {
    pulumi.runtime.setAllConfig(stackConfig(fakeBundle(), true), ["scheduled-jobs:sendgridApiKey"]);
    const program = await import("../../infra/index.js");
    expect(await valueOf(program.functionUrl)).toBe(
      "https://scheduled-tasks-123456789012.us-central1.run.app",
    );
    expect(await valueOf(program.instanceConnectionName)).toBe("program-test:us-central1:db");
    expect(program.jobs.find((job) => job.name === "generate-daily-stats")?.paused).toBe(true);
    expect(await valueOf(program.sendgridSecret)).toMatch(/secrets\/sched-jobs-sendgrid-api-key$/);
    await pulumi.runtime.disconnect();
  });

  it("when the SendGrid key is not set, then the program fails naming the key", async () => {
    pulumi.runtime.setAllConfig(stackConfig(fakeBundle(), false), []);
    await expect(import("../../infra/index.js")).rejects.toThrow(/scheduled-jobs:sendgridApiKey/);
  });
});

describe("Pulumi.yaml", () => {
  it("when Pulumi starts the program, then it runs infra/index.ts with tsx, not its own TypeScript compiler", () => {
    const project = readFileSync(new URL("../../Pulumi.yaml", import.meta.url), "utf8");
    expect(project).toMatch(/^name: scheduled-jobs$/m);
    expect(project).toMatch(/^main: infra\/index\.ts$/m);
    expect(project).toMatch(/^\s+typescript: false$/m);
    expect(project).toMatch(/^\s+nodeargs: "--import tsx"$/m);
  });

  it("when plain Node loads the program with --import tsx, then it builds the whole stack", async () => {
    const { stdout } = await promisify(execFile)(
      process.execPath,
      ["--import", "tsx", "test/infra/fixtures/run-program.ts", fakeBundle()],
      { cwd: new URL("../..", import.meta.url).pathname, timeout: 60_000 },
    );
    const result = JSON.parse(stdout.trim().split("\n").pop() ?? "{}") as {
      exports: string[];
      functionUrl: string;
      resources: number;
    };
    expect(result.functionUrl).toBe("https://scheduled-tasks-123456789012.europe-west1.run.app");
    expect(result.exports).toContain("jobs");
    expect(result.resources).toBeGreaterThan(40);
  }, 60_000);
});
