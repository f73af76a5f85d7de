/**
 * A Google stack that runs no email task (each paused in its config) deploys without a SendGrid
 * key: no secret, no accessor grant, no SENDGRID_API_KEY_SECRET in the function's environment. A
 * stack with an email task to run still refuses to start without it, as AWS's does (one rule,
 * infra/config.ts `sendsEmail`). The dev stack as shipped is the second kind.
 */
import { fileURLToPath } from "node:url";
import { join } from "node:path";
import { describe, expect, it, vi } from "vitest";
import { tasks } from "../../functions/core/catalog.js";
import type { InvokeAnswers } from "./harness.js";
import { fakeBundle, PROJECT_NUMBER, previewEntryUnderMocks } from "./harness.js";
import { StackFile } from "./stack-file.js";

const ROOT = fileURLToPath(new URL("../..", import.meta.url)).replace(/\/$/, "");
const emailTasks = tasks.filter((task) => task.kind === "email").map((task) => task.name);

const invokes: InvokeAnswers = {
  "gcp:organizations/getProject:getProject": (args) => ({
    projectId: args.projectId,
    number: PROJECT_NUMBER,
    name: args.projectId,
  }),
};

/** The dev stack with no SendGrid key, its email tasks paused or not. */
function devStack(pauseEmail: boolean) {
  const file = StackFile.read(join(ROOT, "Pulumi.dev.yaml"), "scheduled-jobs").set(
    "scheduled-jobs:function.sourceDir",
    fakeBundle("exports.x = 1;\n"),
    { path: true },
  );
  if (pauseEmail)
    for (const task of emailTasks)
      file.set(`scheduled-jobs:taskOverrides.${task}.paused`, "true", { path: true });
  return file.runConfig();
}

describe("the SendGrid key, on a Google stack", () => {
  it("when every email task is paused and no key is set, then the stack deploys with no secret and the function is told of none", async () => {
    expect(emailTasks.length).toBeGreaterThan(0);
    vi.resetModules();
    const { config, secretKeys } = devStack(true);
    expect(secretKeys).toEqual([]);
    const { registrations } = await previewEntryUnderMocks(config, secretKeys, invokes, "dev");
    const types = registrations.map((registration) => registration.type);
    expect(types).toContain("gcp:cloudfunctionsv2/function:Function");
    expect(types.filter((type) => type.startsWith("gcp:secretmanager/"))).toEqual([]);
    const fn = registrations.find(
      (registration) => registration.type === "gcp:cloudfunctionsv2/function:Function",
    )!;
    const env = (fn.inputs.serviceConfig as { environmentVariables: Record<string, unknown> })
      .environmentVariables;
    expect(Object.keys(env)).not.toContain("SENDGRID_API_KEY_SECRET");
    expect(Object.keys(env)).toContain("INSTANCE_CONNECTION_NAME");
    // Their jobs are created paused: pulumi up deploys them, nothing runs them.
    for (const task of emailTasks) {
      const job = registrations.find(
        (registration) => registration.type === "gcp:cloudscheduler/job:Job" && registration.name === task,
      );
      expect(job?.inputs.paused, task).toBe(true);
    }
  }, 60_000);

  it("when an email task is left to run and no key is set, then the program stops before registering anything, naming the key", async () => {
    vi.resetModules();
    const { config, secretKeys } = devStack(false);
    await expect(previewEntryUnderMocks(config, secretKeys, invokes, "dev")).rejects.toThrow(
      /Missing required configuration variable 'scheduled-jobs:sendgridApiKey': the stack runs email tasks/,
    );
  }, 60_000);
});
