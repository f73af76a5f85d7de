/**
 * The dashboard's operators under Pulumi's mocks: each person the stack names may invoke the
 * function (what `gcloud run services proxy` needs) and is listed in OPERATOR_EMAILS, read back by
 * the function's own parser; a stack naming the scheduler's account, or something that is not a
 * list of emails, is refused naming the key.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { parseConfig } from "../../functions/core/config/function-config.js";
import { resolveConfig } from "../../infra/gcp/config.js";
import type { StackRun } from "./harness.js";
import { baseConfig, fakeBundle, PROJECT, REGION, runStack } from "./harness.js";

const SERVICE_MEMBER = "gcp:cloudrunv2/serviceIamMember:ServiceIamMember";
const FUNCTION = "gcp:cloudfunctionsv2/function:Function";

const isTargetGrant = (name: string | undefined): boolean =>
  name?.startsWith("http-target-invoker-") === true;

describe("a stack with operators", () => {
  let run: StackRun;
  beforeAll(async () => {
    run = await runStack(baseConfig(fakeBundle(), { operators: ["Alice@Example.com", "bob@example.com"] }));
  }, 120_000);

  it("grants each operator, by name, roles/run.invoker on the function's service, beside the scheduler's and the dead-man's grants", () => {
    const invokers = run
      .of(SERVICE_MEMBER)
      // The function's own service; the http targets' grants are test/infra/http-targets.test.ts's.
      .filter((resource) => resource.inputs.role === "roles/run.invoker" && !isTargetGrant(resource.name))
      .map((resource) => [resource.name, resource.inputs.member])
      .sort();
    expect(invokers).toEqual([
      ["monitoring-invoker", expect.stringMatching(/^serviceAccount:service-\d+@gcp-sa-monitoring/)],
      ["operator-invoker-alice@example.com", "user:alice@example.com"],
      ["operator-invoker-bob@example.com", "user:bob@example.com"],
      ["scheduler-invoker", `serviceAccount:${String(run.values.schedulerServiceAccount)}`],
    ]);
    for (const name of ["operator-invoker-alice@example.com", "operator-invoker-bob@example.com"]) {
      expect(run.one(SERVICE_MEMBER, name).inputs).toMatchObject({ project: PROJECT, location: REGION });
    }
  });

  it("lists them in OPERATOR_EMAILS, apart from the callers, as the function reads it", () => {
    const env = run.one(FUNCTION, "scheduled-tasks").inputs.serviceConfig.environmentVariables as Record<
      string,
      string
    >;
    expect(env.OPERATOR_EMAILS).toBe("alice@example.com,bob@example.com");
    expect(env.AUTH_ALLOWED_EMAILS).not.toContain("example.com");
    const parsed = parseConfig(env);
    expect(parsed.problems).toEqual([]);
    expect([...(parsed.config?.auth.operatorEmails ?? [])]).toEqual(["alice@example.com", "bob@example.com"]);
  });
});

describe("a stack's operators refused", () => {
  const problemsOf = (operators: unknown): string => {
    try {
      resolveConfig(baseConfig("dist/function", { operators }));
      return "";
    } catch (error) {
      return (error as Error).message;
    }
  };

  it("refuses the scheduler's account, a non-list and an address the function would refuse, naming the key", () => {
    expect(problemsOf([`sched-jobs-invoker@${PROJECT}.iam.gserviceaccount.com`])).toMatch(
      /scheduled-jobs:operators lists sched-jobs-invoker@delivery-test\.iam\.gserviceaccount\.com, the scheduler's account/,
    );
    expect(problemsOf("alice@example.com")).toMatch(
      /scheduled-jobs:operators must be a list of email addresses/,
    );
    expect(problemsOf(["not an address"])).toMatch(
      /scheduled-jobs:operators .* would be refused by the function/,
    );
    expect(problemsOf([])).toBe("");
    expect(problemsOf(undefined)).toBe("");
  });
});
