/**
 * The http task under `npm start -- --cloud aws`: the built Lambda, holding the local stand-in for
 * its role's keys as Lambda gives them, signs its call to the demo app backend with SigV4, and the
 * backend checks the signature as an API Gateway stage with IAM authorization would; the function
 * beside it still calls with its ID token.
 */
import { rmSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { tasks } from "../../functions/core/catalog.js";
import { resolveJobs } from "../../functions/core/schedule/jobs.js";
import { devRuntimeEmail } from "../../scripts/local/dev-identity.js";
import type { LocalStack } from "../../scripts/local/local-stack.js";
import { prepareDatabase, ROOT, startLocalStack } from "../../scripts/local/local-stack.js";
import { LOCAL_AWS_CREDENTIALS } from "../../scripts/local/sigv4-check.js";
import { useTestDatabase } from "../helpers/database.js";

const TASK = "push-driver-notifications";
const db = useTestDatabase();
const functionDir = join(ROOT, ".data", `test-function-http-aws-${process.pid}`);
const lambdaDir = join(ROOT, ".data", `test-lambda-http-aws-${process.pid}`);
let stack: LocalStack;

beforeAll(async () => {
  await prepareDatabase(db.url, true);
  stack = await startLocalStack({
    databaseUrl: db.url,
    functionPort: 0,
    consolePort: 0,
    appBackendPort: 0,
    lambdaPort: 0,
    functionDir,
    lambdaDir,
    jobs: resolveJobs(tasks).jobs,
    cloud: "aws",
    scheduler: false,
  });
}, 120_000);

afterAll(async () => {
  await stack?.stop();
  for (const dir of [functionDir, lambdaDir]) rmSync(dir, { recursive: true, force: true });
});

function invoke(): Promise<{ status: number; body: Record<string, unknown> }> {
  return fetch(stack.aws!.invokeUrl, {
    method: "POST",
    headers: { "content-type": "application/json", "x-amz-invocation-type": "RequestResponse" },
    body: JSON.stringify({ task: TASK }),
  }).then(async (response) => ({
    status: response.status,
    body: (await response.json()) as Record<string, unknown>,
  }));
}

describe("an http task under npm start -- --cloud aws", () => {
  it("when the Lambda runs it, then its call arrives signed by the Lambda's role and the backend's check holds", async () => {
    const answered = await invoke();
    expect(answered.status).toBe(200);
    expect(answered.body).toMatchObject({ status: "succeeded", rowsAffected: 3 });
    expect(stack.appBackend.calls.at(-1)).toMatchObject({
      path: `/internal/jobs/${TASK}`,
      caller: `the Lambda's role (${LOCAL_AWS_CREDENTIALS.accessKeyId})`,
      status: 200,
    });
  });

  it("when a call's signature does not hold, then the backend refuses it, and a token-less call too", async () => {
    const url = `${stack.appBackend.url}/internal/jobs/${TASK}`;
    const forged = await fetch(url, {
      method: "POST",
      headers: {
        authorization: `AWS4-HMAC-SHA256 Credential=${LOCAL_AWS_CREDENTIALS.accessKeyId}/20261207/eu-west-1/execute-api/aws4_request, SignedHeaders=host;x-amz-date, Signature=${"0".repeat(64)}`,
        "x-amz-date": "20261207T000000Z",
      },
      body: "{}",
    });
    expect(forged.status).toBe(403);
    expect(((await forged.json()) as { error: string }).error).toMatch(/the signature does not hold/);
    expect((await fetch(url, { method: "POST", body: "{}" })).status).toBe(401);
  });

  it("when the function runs it beside the Lambda, then it still calls with its own ID token", async () => {
    const response = await fetch(`${stack.functionUrl}/`, {
      method: "POST",
      headers: { authorization: `Bearer ${stack.token()}`, "content-type": "application/json" },
      body: JSON.stringify({ task: TASK }),
    });
    expect(response.status).toBe(200);
    expect(stack.appBackend.calls.at(-1)).toMatchObject({ caller: devRuntimeEmail, status: 200 });
  });
});
