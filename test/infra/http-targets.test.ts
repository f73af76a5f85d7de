/**
 * The stack's http targets under Pulumi's mocks: the function's runtime account may invoke each
 * target service the stack names and nothing else, the function is told the targets by the
 * function's own rule, and a stack whose http task names a target it lacks is refused naming the key.
 */
import { beforeAll, describe, expect, it } from "vitest";
import type { TaskDefinition } from "../../functions/core/catalog.js";
import { tasks } from "../../functions/core/catalog.js";
import { parseConfig } from "../../functions/core/config/function-config.js";
import { resolveConfig } from "../../infra/gcp/config.js";
import type { StackRun } from "./harness.js";
import { baseConfig, fakeBundle, PROJECT, REGION, runStack } from "./harness.js";

const SERVICE_MEMBER = "gcp:cloudrunv2/serviceIamMember:ServiceIamMember";
const FUNCTION = "gcp:cloudfunctionsv2/function:Function";
const appBackend = "https://app-backend-123456789012.europe-west1.run.app";
const httpTargets = {
  "app-backend": { url: appBackend, service: "app-backend" },
  billing: {
    url: "https://billing.example.com",
    service: "projects/billing-prj/locations/us-central1/services/billing-api",
  },
  // No service: a target outside Cloud Run gets the token, and no grant is made for it.
  partner: { url: "https://partner.example.com/hooks" },
};

const notifyDrivers: TaskDefinition = {
  name: "notify-drivers",
  description: "Push the drivers' pending notifications through the app backend.",
  kind: "http",
  schedule: "*/5 * * * *",
  timeoutSeconds: 60,
  retry: { retryCount: 0, minBackoffSeconds: 5, maxBackoffSeconds: 60, maxDoublings: 2 },
  paused: false,
  http: { target: "app-backend", path: "/internal/notify-drivers" },
};

describe("a stack with http targets", () => {
  let run: StackRun;
  beforeAll(async () => {
    run = await runStack(baseConfig(fakeBundle(), { httpTargets }));
  }, 120_000);

  it("grants the runtime account roles/run.invoker on each named target service, that service only", () => {
    const grants = run
      .of(SERVICE_MEMBER)
      .filter(
        (resource) => resource.inputs.member === `serviceAccount:${String(run.values.runtimeServiceAccount)}`,
      )
      .map((resource) => resource.inputs)
      .sort((a, b) => String(a.name).localeCompare(String(b.name)));
    expect(grants).toEqual([
      expect.objectContaining({
        project: PROJECT,
        location: REGION,
        name: "app-backend",
        role: "roles/run.invoker",
      }),
      expect.objectContaining({
        project: "billing-prj",
        location: "us-central1",
        name: "billing-api",
        role: "roles/run.invoker",
      }),
    ]);
    expect(run.of("gcp:projects/iAMMember:IAMMember").map((resource) => resource.inputs.role)).not.toContain(
      "roles/run.invoker",
    );
  });

  it("tells the function the targets, which it reads back as the stack wrote them", () => {
    const env = run.one(FUNCTION, "scheduled-tasks").inputs.serviceConfig.environmentVariables as Record<
      string,
      string
    >;
    const parsed = parseConfig(env);
    expect(parsed.problems).toEqual([]);
    expect(parsed.config?.httpTargets["app-backend"]).toEqual({
      url: appBackend,
      audience: appBackend,
      service: "app-backend",
      internal: false,
    });
    expect(Object.keys(parsed.config?.httpTargets ?? {}).sort()).toEqual([
      "app-backend",
      "billing",
      "partner",
    ]);
  });
});

describe("a stack's http targets refused", () => {
  const problemsOf = (extra: Record<string, unknown>, catalog: readonly TaskDefinition[] = tasks): string => {
    try {
      resolveConfig(baseConfig("dist/function", extra), catalog);
      return "";
    } catch (error) {
      return (error as Error).message;
    }
  };

  it("refuses an http task whose target the stack does not name, naming the key", () => {
    expect(problemsOf({ httpTargets: {} }, [...tasks, notifyDrivers])).toMatch(
      /task notify-drivers calls target "app-backend", which scheduled-jobs:httpTargets does not name: add httpTargets\.app-backend\.url/,
    );
    expect(problemsOf({ httpTargets }, [...tasks, notifyDrivers])).toBe("");
  });

  it("refuses AWS's function field on a Google stack, naming the key", () => {
    expect(
      problemsOf({
        httpTargets: { "app-backend": { url: "https://app-backend.example", function: "app-backend" } },
      }),
    ).toContain("scheduled-jobs:httpTargets.app-backend.function names a Lambda function URL's function");
  });

  it("accepts a stack without the target when it pauses the task that calls it, and says so in the refusal", () => {
    const withoutTarget = problemsOf({ httpTargets: {} });
    expect(withoutTarget).toContain(
      "or pause the task (taskOverrides.push-driver-notifications.paused: true)",
    );
    expect(
      problemsOf({ httpTargets: {}, taskOverrides: { "push-driver-notifications": { paused: true } } }),
    ).toBe("");
  });

  it("refuses credentials, plain http, a private address not marked internal and the metadata server, naming each key", () => {
    const message = problemsOf({
      httpTargets: {
        creds: { url: "https://user:secret@app.example.com" },
        plain: { url: "http://app.example.com" },
        vpc: { url: "https://10.1.2.3" },
        metadata: { url: "https://169.254.169.254", internal: true },
        loopback: { url: "http://127.0.0.1:8080", internal: true },
      },
    });
    expect(message).toMatch(/scheduled-jobs:httpTargets\.creds\.url must not hold credentials/);
    expect(message).not.toMatch(/secret/);
    expect(message).toMatch(/scheduled-jobs:httpTargets\.plain\.url .* must use https/);
    expect(message).toMatch(/scheduled-jobs:httpTargets\.vpc\.url .* private address/);
    expect(message).toMatch(/scheduled-jobs:httpTargets\.metadata\.url .* link-local/);
    expect(message).toMatch(/scheduled-jobs:httpTargets\.loopback\.url .* must use https/);
  });
});
