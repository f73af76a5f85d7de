/**
 * An AWS stack's http targets under strict mocks: the function's role may invoke each target its
 * tasks call, that target only (an API Gateway stage: POST on the tasks' paths; a function URL:
 * its one function), and a target that checks no IAM, or a function URL whose function the stack
 * does not name, is refused before anything is created, naming the key.
 */
import { describe, expect, it } from "vitest";
import type { TaskDefinition } from "../../../functions/core/catalog.js";
import { tasks } from "../../../functions/core/catalog.js";
import type { RawConfig } from "../../../infra/config.js";
import { StackConfigError } from "../../../infra/config.js";
import { resolveAwsConfig } from "../../../infra/aws/config.js";
import { ACCOUNT, awsConfig, fakeLambdaBundle, REGION, runAwsStack } from "./harness.js";

const API = "https://a1b2c3d4e5.execute-api.eu-west-1.amazonaws.com/prod";
const FUNCTION_URL = "https://abcdefghijklmnopqrstuvwxyz012345.lambda-url.eu-central-1.on.aws";
const push = tasks.find((task) => task.name === "push-driver-notifications")!;
/** Two more http tasks: one on the function URL target, one on the API's other path. */
const catalog: readonly TaskDefinition[] = [
  ...tasks,
  { ...push, name: "sync-accounting", http: { target: "billing", path: "/internal/jobs/sync-accounting" } },
  {
    ...push,
    name: "expire-vouchers",
    http: { target: "app-backend", path: "/internal/jobs/expire-vouchers" },
  },
];

interface Statement {
  readonly Sid: string;
  readonly Action: string | string[];
  readonly Resource: string | string[];
  readonly Condition?: unknown;
}

function problemsOf(raw: RawConfig, withCatalog: readonly TaskDefinition[] = tasks): string {
  try {
    resolveAwsConfig(raw, withCatalog);
  } catch (error) {
    expect(error).toBeInstanceOf(StackConfigError);
    return (error as Error).message;
  }
  throw new Error("the configuration was accepted");
}

describe("an AWS stack's http targets", () => {
  it("when its tasks call an API Gateway stage and a function URL, then the role may POST to the stage's called paths and invoke the named function, nothing else", async () => {
    const run = await runAwsStack(
      awsConfig(fakeLambdaBundle(), {
        httpTargets: {
          "app-backend": { url: API },
          billing: { url: FUNCTION_URL, function: "billing-jobs" },
          // Named by the stack, called by no task: no grant.
          unused: { url: "https://zzzzzzzzzz.execute-api.eu-west-1.amazonaws.com/prod" },
        },
      }),
      { catalog },
    );
    const { Statement } = JSON.parse(
      String(run.one("aws:iam/rolePolicy:RolePolicy", "function-access").inputs.policy),
    ) as { Statement: Statement[] };
    const billing = `arn:aws:lambda:eu-central-1:${ACCOUNT}:function:billing-jobs`;
    expect(Statement.filter((statement) => /^Invoke/.test(statement.Sid))).toEqual([
      {
        Sid: "InvokeApiAppBackend",
        Effect: "Allow",
        Action: "execute-api:Invoke",
        Resource: [
          `arn:aws:execute-api:${REGION}:${ACCOUNT}:a1b2c3d4e5/prod/POST/internal/jobs/expire-vouchers`,
          `arn:aws:execute-api:${REGION}:${ACCOUNT}:a1b2c3d4e5/prod/POST/internal/jobs/push-driver-notifications`,
        ],
      },
      {
        Sid: "InvokeFunctionUrlBilling",
        Effect: "Allow",
        Action: "lambda:InvokeFunctionUrl",
        Resource: billing,
        Condition: { StringEquals: { "lambda:FunctionUrlAuthType": "AWS_IAM" } },
      },
      { Sid: "InvokeFunctionBilling", Effect: "Allow", Action: "lambda:InvokeFunction", Resource: billing },
    ]);
    expect(JSON.stringify(Statement)).not.toContain("zzzzzzzzzz");
    // No wildcard in any invoke grant; only the network-interface actions, which take no resource, are on "*".
    expect(JSON.stringify(Statement.filter((statement) => /^Invoke/.test(statement.Sid)))).not.toContain("*");
    expect(
      Statement.filter((statement) => statement.Resource === "*").map((statement) => statement.Sid),
    ).toEqual(["NetworkInterfaces"]);
    const deployed = JSON.parse(
      (run.one("aws:lambda/function:Function").inputs.environment.variables as Record<string, string>)
        .HTTP_TARGETS!,
    ) as Record<string, { url: string; function?: string }>;
    expect(deployed.billing).toMatchObject({ url: FUNCTION_URL, function: "billing-jobs" });
  }, 60_000);

  it("when the target is an HTTP API's $default stage, or the function is named by its ARN, then the grant says so", async () => {
    const aliasArn = `arn:aws:lambda:eu-central-1:${ACCOUNT}:function:billing-jobs:live`;
    const run = await runAwsStack(
      awsConfig(fakeLambdaBundle(), {
        httpTargets: {
          "app-backend": { url: "https://a1b2c3d4e5.execute-api.eu-west-1.amazonaws.com" },
          billing: { url: FUNCTION_URL, function: aliasArn },
        },
      }),
      { catalog },
    );
    const { Statement } = JSON.parse(
      String(run.one("aws:iam/rolePolicy:RolePolicy", "function-access").inputs.policy),
    ) as { Statement: Statement[] };
    expect(Statement.find((statement) => statement.Sid === "InvokeApiAppBackend")!.Resource).toContain(
      `arn:aws:execute-api:${REGION}:${ACCOUNT}:a1b2c3d4e5/$default/POST/internal/jobs/push-driver-notifications`,
    );
    expect(Statement.find((statement) => statement.Sid === "InvokeFunctionBilling")!.Resource).toBe(aliasArn);
  }, 60_000);

  it.each([
    [
      "a Cloud Run URL",
      "https://app-backend-123456789012.europe-west1.run.app",
      "app-backend-123456789012.europe-west1.run.app",
    ],
    ["the app's own domain", "https://api.delivery.example/jobs", "api.delivery.example"],
  ])("when the target is %s, then the stack is refused naming the key and the cause", (_, url, host) => {
    expect(problemsOf(awsConfig(fakeLambdaBundle(), { httpTargets: { "app-backend": { url } } }))).toContain(
      `scheduled-jobs:httpTargets.app-backend.url: on AWS an http target must be behind IAM: an API Gateway stage (execute-api) or a Lambda function URL with AWS_IAM auth; ${host} is neither`,
    );
  });

  it("when a private address is marked internal, then it is still refused on AWS: nothing there checks the role", () => {
    expect(
      problemsOf(
        awsConfig(fakeLambdaBundle(), {
          httpTargets: { "app-backend": { url: "https://10.0.4.12", internal: true } },
        }),
      ),
    ).toContain("scheduled-jobs:httpTargets.app-backend.url: on AWS an http target must be behind IAM");
  });

  it("when a function URL target does not name its function, then the stack is refused naming the key", () => {
    const raw = awsConfig(fakeLambdaBundle(), {
      httpTargets: { "app-backend": { url: API }, billing: { url: FUNCTION_URL } },
    });
    expect(problemsOf(raw, catalog)).toContain(
      "scheduled-jobs:httpTargets.billing.function is required for a Lambda function URL",
    );
  });

  it("when a target carries Google's invoker service or a function beside an API stage, then the stack says which key is wrong", () => {
    const raw = awsConfig(fakeLambdaBundle(), {
      httpTargets: { "app-backend": { url: API, service: "app-backend", function: "billing-jobs" } },
    });
    const problems = problemsOf(raw);
    expect(problems).toContain("scheduled-jobs:httpTargets.app-backend.service is a Cloud Run service");
    expect(problems).toContain(
      "scheduled-jobs:httpTargets.app-backend.function names a Lambda function URL's function",
    );
  });
});
