/**
 * The Lambda's http tasks: each call is signed with SigV4 as the function's role, and a real local
 * HTTP server checks the signature as an IAM-checking AWS endpoint does, by recomputing it with
 * the same credentials (scripts/local/sigv4-check.ts); a request changed after signing, or signed
 * with another secret, fails that check. Then the built Lambda, given the role's keys in its
 * environment as Lambda gives them, runs push-driver-notifications to a loopback target on the
 * test database, and the run is recorded.
 */
import { createHash, randomBytes } from "node:crypto";
import type { IncomingMessage, Server, ServerResponse } from "node:http";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { rmSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { AwsCredentials } from "../../functions/aws/sigv4.js";
import { sigv4Authorizer } from "../../functions/aws/sigv4.js";
import { signingScopeOf } from "../../functions/aws/sigv4-scope.js";
import { writeEnvironment } from "../../functions/core/config/environment.js";
import type { HttpTarget } from "../../functions/core/config/http-targets.js";
import { callTarget } from "../../functions/core/run/http-call.js";
import type { OutgoingCall } from "../../functions/core/run/http-contract.js";
import { RunFailure } from "../../functions/core/run/run-result.js";
import type { LambdaBuildResult } from "../../scripts/generate/lambda-bundle.js";
import { buildLambda } from "../../scripts/generate/lambda-bundle.js";
import { LocalLambda } from "../../scripts/local/lambda-host.js";
import type { SignedRequest } from "../../scripts/local/sigv4-check.js";
import { LOCAL_AWS_CREDENTIALS, sigv4Problem } from "../../scripts/local/sigv4-check.js";
import { useTestDatabase } from "../helpers/database.js";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const REGION = "eu-west-1";
const GROUP = "arn:aws:scheduler:eu-west-1:123456789012:schedule-group/scheduled-jobs";
const TASK = "push-driver-notifications";
const PATH = "/internal/jobs/push-driver-notifications";
const SIGNED_AT = new Date("2026-03-02T10:15:30Z");
const ROLE: AwsCredentials = {
  accessKeyId: "ASIAEXAMPLEROLE00001",
  secretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
  sessionToken: "IQoJb3JpZ2luX2VjEXAMPLEsessionToken",
};

interface Received extends SignedRequest {
  readonly problem: string | undefined;
}

/** A target that checks each request's signature against `credentials` and answers 200 or 403. */
async function signatureCheckingTarget(
  credentials: AwsCredentials,
  now?: () => Date,
): Promise<{ server: Server; url: string; received: Received[] }> {
  const received: Received[] = [];
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      const request = {
        method: req.method ?? "",
        url: req.url ?? "",
        headers: req.headers,
        body: Buffer.concat(chunks),
      };
      const problem = sigv4Problem(request, {
        credentials,
        region: REGION,
        service: "execute-api",
        ...(now ? { now: now() } : {}),
      });
      received.push({ ...request, problem });
      res.writeHead(problem ? 403 : 200, { "content-type": "application/json" });
      res.end(JSON.stringify(problem ? { message: problem } : { rowsAffected: 3 }));
    });
  });
  await new Promise<void>((listening) => server.listen(0, "127.0.0.1", listening));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, received };
}

const loopbackTarget = (url: string): HttpTarget => ({ url, audience: url, internal: true });

function outgoing(url: string, body = '{"task":"push-driver-notifications"}'): OutgoingCall {
  return {
    targetKey: "app-backend",
    target: loopbackTarget(url),
    url: new URL(`${url}${PATH}`),
    method: "POST",
    headers: {
      "content-type": "application/json",
      "idempotency-key": `${TASK}:2026-03-02T10:15:00.000Z`,
      "user-agent": "scheduled-jobs",
    },
    body,
  };
}

const servers: Server[] = [];
afterAll(() => {
  for (const server of servers) server.close();
});

describe("the SigV4 signer, against a server that checks signatures", () => {
  const sign = sigv4Authorizer({ region: REGION, credentials: async () => ROLE, now: () => SIGNED_AT });
  let target: Awaited<ReturnType<typeof signatureCheckingTarget>>;

  beforeAll(async () => {
    target = await signatureCheckingTarget(ROLE, () => SIGNED_AT);
    servers.push(target.server);
  });

  async function send(call: OutgoingCall, changes: { body?: string; headers?: Record<string, string> } = {}) {
    const auth = await sign(call);
    return callTarget({
      url: call.url,
      target: call.target,
      headers: { ...call.headers, ...auth, ...changes.headers },
      body: changes.body ?? call.body,
      deadline: Date.now() + 5_000,
    });
  }

  it("when a call is signed, then it arrives with the role's key, date, Region, service, session token and body hash, and the server's recomputed signature matches", async () => {
    const call = outgoing(target.url);
    const answer = await send(call);
    expect(answer.status).toBe(200);
    const request = target.received.at(-1)!;
    expect(request.problem).toBeUndefined();
    expect(request.headers.authorization).toMatch(
      /^AWS4-HMAC-SHA256 Credential=ASIAEXAMPLEROLE00001\/20260302\/eu-west-1\/execute-api\/aws4_request, SignedHeaders=[a-z0-9;-]+, Signature=[0-9a-f]{64}$/,
    );
    const signedHeaders = /SignedHeaders=([^,]+)/.exec(request.headers.authorization!)![1]!.split(";");
    expect(signedHeaders).toEqual(
      expect.arrayContaining([
        "host",
        "content-type",
        "idempotency-key",
        "x-amz-date",
        "x-amz-security-token",
      ]),
    );
    expect(request.headers["x-amz-date"]).toBe("20260302T101530Z");
    expect(request.headers["x-amz-security-token"]).toBe(ROLE.sessionToken);
    expect(request.headers["x-amz-content-sha256"]).toBe(
      createHash("sha256").update(call.body).digest("hex"),
    );
    expect(request.headers["idempotency-key"]).toBe(`${TASK}:2026-03-02T10:15:00.000Z`);
  });

  it("when the body, a signed header or the path changes after signing, then the server's check fails", async () => {
    const call = outgoing(target.url);
    expect((await send(call, { body: '{"task":"archive-old-orders"}' })).status).toBe(403);
    expect(target.received.at(-1)!.problem).toMatch(/x-amz-content-sha256/);
    // With the declared hash changed too, only the signature can tell.
    const tampered = '{"task":"archive-old-orders"}';
    const hash = createHash("sha256").update(tampered).digest("hex");
    expect((await send(call, { body: tampered, headers: { "x-amz-content-sha256": hash } })).status).toBe(
      403,
    );
    expect(target.received.at(-1)!.problem).toMatch(/signature does not match/);
    expect((await send(call, { headers: { "idempotency-key": `${TASK}:manual:1` } })).status).toBe(403);
    expect(target.received.at(-1)!.problem).toMatch(/signature does not match/);
    const auth = await sign(call);
    const elsewhere = await callTarget({
      url: new URL(`${target.url}/internal/jobs/archive-old-orders`),
      target: call.target,
      headers: { ...call.headers, ...auth },
      body: call.body,
      deadline: Date.now() + 5_000,
    });
    expect(elsewhere.status).toBe(403);
  });

  it("when another secret, Region or session token signed it, or the date is stale, then the check says which", async () => {
    const call = outgoing(target.url);
    const stranger = sigv4Authorizer({
      region: REGION,
      credentials: async () => ({ ...ROLE, secretAccessKey: "another-secret" }),
      now: () => SIGNED_AT,
    });
    const auth = await stranger(call);
    const answer = await callTarget({
      url: call.url,
      target: call.target,
      headers: { ...call.headers, ...auth },
      body: call.body,
      deadline: Date.now() + 5_000,
    });
    expect(answer.status).toBe(403);
    expect(target.received.at(-1)!.problem).toMatch(/signature does not match/);
    const received = { method: "POST", url: PATH, body: call.body };
    const headers = { ...call.headers, ...(await sign(call)), host: call.url.host };
    const check = (changes: Partial<Parameters<typeof sigv4Problem>[1]>, sent = headers) =>
      sigv4Problem(
        { ...received, headers: sent },
        { credentials: ROLE, region: REGION, service: "execute-api", now: SIGNED_AT, ...changes },
      );
    expect(check({})).toBeUndefined();
    expect(check({ region: "us-east-1" })).toMatch(/signed for eu-west-1\/execute-api, not us-east-1/);
    expect(check({ credentials: { ...ROLE, sessionToken: "another" } })).toMatch(/session token/);
    expect(check({ now: new Date(SIGNED_AT.getTime() + 6 * 60_000) })).toMatch(/five minutes/);
  });

  it("when the credentials carry no session token, then no token header is sent and the signature still holds", async () => {
    const { sessionToken: _, ...keys } = ROLE;
    const call = outgoing(target.url);
    const auth = await sigv4Authorizer({
      region: REGION,
      credentials: async () => keys,
      now: () => SIGNED_AT,
    })(call);
    expect(auth).not.toHaveProperty("x-amz-security-token");
    const problem = sigv4Problem(
      {
        method: "POST",
        url: PATH,
        body: call.body,
        headers: { ...call.headers, ...auth, host: call.url.host },
      },
      { credentials: keys, region: REGION, service: "execute-api", now: SIGNED_AT },
    );
    expect(problem).toBeUndefined();
  });

  it("when the target is a Lambda function URL or an API Gateway stage, then the call is signed for its service and the Region in its host", async () => {
    const functionUrl = "https://abcdefghijklmnopqrstuvwxyz012345.lambda-url.eu-central-1.on.aws";
    const call = {
      ...outgoing(functionUrl),
      target: { url: functionUrl, audience: functionUrl, internal: false },
    };
    const auth = await sign(call);
    expect(auth.authorization).toContain("/20260302/eu-central-1/lambda/aws4_request");
    const request = {
      method: "POST",
      url: PATH,
      body: call.body,
      headers: { ...call.headers, ...auth, host: call.url.host },
    };
    expect(
      sigv4Problem(request, { credentials: ROLE, region: "eu-central-1", service: "lambda", now: SIGNED_AT }),
    ).toBeUndefined();
    expect(signingScopeOf(new URL("https://a1b2c3d4e5.execute-api.us-east-2.amazonaws.com/prod"))).toEqual({
      service: "execute-api",
      id: "a1b2c3d4e5",
      region: "us-east-2",
    });
  });

  it("when the target's host checks no IAM, then the call is refused with the cause and nothing is signed", async () => {
    for (const url of [
      "https://app-backend-123456789012.europe-west1.run.app",
      "https://api.delivery.example",
    ]) {
      const call = { ...outgoing(url), target: { url, audience: url, internal: false } };
      const refusal = await sign(call).catch((error: unknown) => error);
      expect(refusal).toBeInstanceOf(RunFailure);
      expect(refusal).toMatchObject({
        code: "target_refused",
        message: `app-backend: on AWS an http target must be behind IAM: an API Gateway stage (execute-api) or a Lambda function URL with AWS_IAM auth; ${new URL(url).hostname} is neither`,
      });
    }
    // A loopback target is the local stack's stand-in only while the Lambda knows its Region.
    const local = sigv4Authorizer({ region: undefined, credentials: async () => ROLE });
    await expect(local(outgoing(target.url))).rejects.toMatchObject({ code: "target_refused" });
  });
});

describe("the built Lambda's http task", () => {
  const db = useTestDatabase();
  let built: LambdaBuildResult;
  let lambda: LocalLambda;
  let accepting: Awaited<ReturnType<typeof signatureCheckingTarget>>;
  let refusing: Awaited<ReturnType<typeof signatureCheckingTarget>>;
  const lines: string[] = [];

  beforeAll(async () => {
    accepting = await signatureCheckingTarget(LOCAL_AWS_CREDENTIALS);
    // A target that holds another secret: the same signature must fail there.
    refusing = await signatureCheckingTarget({ ...LOCAL_AWS_CREDENTIALS, secretAccessKey: "someone-else" });
    servers.push(accepting.server, refusing.server);
    built = await buildLambda(join(root, "dist", `.test-lambda-${randomBytes(4).toString("hex")}`));
  }, 120_000);

  afterAll(async () => {
    await lambda?.stop();
    if (built) rmSync(built.outDir, { recursive: true, force: true });
  });

  function start(targetUrl: string): LocalLambda {
    return new LocalLambda({
      entry: built.entry,
      env: {
        ...writeEnvironment({
          DATABASE_URL: db.url,
          SCHEDULE_GROUP_ARN: GROUP,
          EMAIL_TRANSPORT: "local-mailbox",
          HTTP_TARGETS: { "app-backend": loopbackTarget(targetUrl) },
          AWS_REGION: REGION,
        }),
        // What Lambda puts in every function's environment: its role's keys.
        AWS_ACCESS_KEY_ID: LOCAL_AWS_CREDENTIALS.accessKeyId,
        AWS_SECRET_ACCESS_KEY: LOCAL_AWS_CREDENTIALS.secretAccessKey,
        AWS_SESSION_TOKEN: LOCAL_AWS_CREDENTIALS.sessionToken,
      },
      onLine: (line) => lines.push(line),
    });
  }

  async function lastRun() {
    const { rows } = await db.pool.query<{
      status: string;
      rows_affected: string | null;
      error_code: string | null;
      message: string | null;
    }>(
      "SELECT status, rows_affected, error_code, message FROM scheduler.job_runs WHERE task = $1 ORDER BY id DESC LIMIT 1",
      [TASK],
    );
    return rows[0];
  }

  it("when push-driver-notifications runs, then the target receives a call signed with the role's keys from the environment, and the run is recorded with the target's count", async () => {
    lambda = start(accepting.url);
    const result = await lambda.invoke({ task: TASK });
    expect(result).toMatchObject({ ok: true, payload: { status: "succeeded" } });
    expect(accepting.received).toHaveLength(1);
    const request = accepting.received[0]!;
    expect(request.problem).toBeUndefined();
    expect(request.url).toBe(PATH);
    expect(request.headers.authorization).toMatch(
      new RegExp(
        `^AWS4-HMAC-SHA256 Credential=${LOCAL_AWS_CREDENTIALS.accessKeyId}/\\d{8}/${REGION}/execute-api/aws4_request, `,
      ),
    );
    expect(request.headers["x-amz-security-token"]).toBe(LOCAL_AWS_CREDENTIALS.sessionToken);
    expect(request.headers["idempotency-key"]).toMatch(new RegExp(`^${TASK}:manual:`));
    expect(JSON.parse(request.body.toString())).toMatchObject({
      task: TASK,
      scheduleTime: null,
      trigger: "manual",
    });
    expect(await lastRun()).toMatchObject({ status: "succeeded", rows_affected: "3", error_code: null });
    await lambda.stop();
  });

  it("when the target holds another secret, then it refuses the signature and the run is recorded as refused", async () => {
    lambda = start(refusing.url);
    const result = await lambda.invoke({ task: TASK });
    expect(result.ok).toBe(true);
    expect(refusing.received.at(-1)!.problem).toMatch(/signature does not match/);
    expect(await lastRun()).toMatchObject({ status: "failed", error_code: "target_refused" });
    expect((await lastRun())!.message).toMatch(/answered 403/);
    await lambda.stop();
  });
});
