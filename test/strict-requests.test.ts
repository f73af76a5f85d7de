/**
 * Requests are read strictly: each case here was accepted or mishandled by the function under
 * functions-framework before (issue 12, point 3). In-process behind the framework's own Express app,
 * over real HTTP, against real PostgreSQL and real ID tokens.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { createLogger } from "../functions/core/log.js";
import { MAX_BODY_BYTES } from "../functions/gcp/router.js";
import type { CertsServer, DevIdentity } from "../scripts/local/dev-identity.js";
import { createDevIdentity, serveCerts } from "../scripts/local/dev-identity.js";
import { useTestDatabase } from "./helpers/database.js";
import type { RunningFunction } from "./helpers/function-server.js";
import { call, startFunction } from "./helpers/function-server.js";
import { jsonOf, sendRaw, streamChunked } from "./helpers/raw-http.js";

const db = useTestDatabase();
let identity: DevIdentity;
let certs: CertsServer;
let fn: RunningFunction;
let port: number;
const logLines: Record<string, unknown>[] = [];

beforeAll(async () => {
  identity = createDevIdentity();
  certs = await serveCerts(identity);
  fn = await startFunction({
    env: {
      DATABASE_URL: db.url,
      AUTH_AUDIENCE: identity.audience,
      AUTH_ALLOWED_EMAILS: identity.email,
      AUTH_CERTS_URL: certs.url,
    },
    log: createLogger({}, (line) => logLines.push(JSON.parse(line) as Record<string, unknown>)),
  });
  port = Number(new URL(fn.url).port);
});

afterAll(async () => {
  await fn?.close();
  await certs?.close();
});

beforeEach(async () => {
  await db.pool.query("DELETE FROM scheduler.job_runs");
});

async function runCount(): Promise<number> {
  const result = await db.pool.query<{ count: string }>("SELECT count(*) FROM scheduler.job_runs");
  return Number(result.rows[0]?.count);
}

function post(
  body: Buffer | string,
  contentType: string,
  authorization = `Bearer ${identity.signIdToken()}`,
) {
  return sendRaw(port, {
    method: "POST",
    path: "/",
    headers: [
      ["content-type", contentType],
      ["authorization", authorization],
    ],
    body: typeof body === "string" ? Buffer.from(body, "utf8") : body,
  });
}

describe("a body with a repeated key is ambiguous", () => {
  it.each([
    ["at the top", '{"task":"generate-daily-stats","task":"archive-old-orders","dryRun":true}', "task"],
    ["in another spelling", '{"task":"generate-daily-stats","t\\u0061sk":"archive-old-orders"}', "task"],
    ["of a flag", '{"task":"generate-daily-stats","dryRun":true,"dryRun":false}', "dryRun"],
    ["inside a value", '{"task":"generate-daily-stats","dryRun":{"a":1,"a":2}}', "a"],
    ["deep in arrays", '{"task":"generate-daily-stats","force":[{"x":1},[{"z":{},"z":[]}]]}', "z"],
    ["named __proto__", '{"task":"generate-daily-stats","__proto__":1,"__proto__":2}', "__proto__"],
  ])("when a key repeats %s, then 400 names it and nothing runs", async (_, body, key) => {
    const answer = await post(body, "application/json");
    expect(answer.status).toBe(400);
    expect(jsonOf(answer)).toEqual({
      error: {
        code: "bad_request",
        message: `the body repeats the key ${JSON.stringify(key)} (ambiguous JSON)`,
      },
    });
    expect(await runCount()).toBe(0);
  });

  it("when equal keys sit in different objects, or a value holds a repeated key as text, then the body is read", async () => {
    const answer = await post(
      '{"task":"driver-inactivity-check","dryRun":true,"force":false}',
      "application/json",
    );
    expect(answer.status).toBe(200);
    // Not a body this function takes, but not ambiguous either: its own field check answers.
    const nested = await post(
      '{"task":"driver-inactivity-check","x":[{"a":1},{"a":1}],"y":"{\\"a\\":1,\\"a\\":2}"}',
      "application/json",
    );
    expect(jsonOf(nested)).toMatchObject({
      error: { message: 'unknown fields "x", "y": the body takes task, dryRun, force and trigger' },
    });
  });

  it("when the body is not UTF-8, then 400 and nothing runs", async () => {
    const answer = await post(
      Buffer.concat([
        Buffer.from('{"task":"driver-inactivity-check","dryRun":true,"'),
        Buffer.from([0xff]),
        Buffer.from('":1}'),
      ]),
      "application/json",
    );
    expect(answer.status).toBe(400);
    expect(jsonOf(answer)).toMatchObject({
      error: { code: "bad_request", message: "the body is not valid UTF-8" },
    });
    expect(await runCount()).toBe(0);
  });
});

describe("a body in any charset but UTF-8 is refused before it is decoded", () => {
  const json = '{"task":"driver-inactivity-check","dryRun":true}';
  const utf16le = Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(json, "utf16le")]);
  it.each<[string, Buffer]>([
    ["application/json; charset=utf-16", utf16le],
    ["application/json; charset=UTF-16LE", Buffer.from(json, "utf16le")],
    ['application/json; charset="utf-16"', utf16le],
    ["application/json; charset=utf-7", Buffer.from(json)],
    ["application/json; charset=latin1", Buffer.from(json)],
    ["application/json; charset=iso-8859-1", Buffer.from(json)],
    ["application/json; charset=utf8", Buffer.from(json)],
    ["application/json; charset=utf-8; charset=utf-16", utf16le],
    ["application/json; charset=utf-16; charset=utf-8", utf16le],
    ["application/json; charset=", Buffer.from(json)],
    ["application/json; charset=utf-8 x", Buffer.from(json)],
    ['application/json; charset="utf-8', Buffer.from(json)],
  ])("when the Content-Type is %s, then 415 and nothing runs", async (contentType, body) => {
    const answer = await post(body, contentType);
    expect(answer.status).toBe(415);
    expect(jsonOf(answer)).toMatchObject({ error: { code: "unsupported_media_type" } });
    expect(await runCount()).toBe(0);
  });

  it.each([
    "application/json",
    "application/json; charset=utf-8",
    "Application/JSON;Charset=UTF-8",
    'application/json ; charset="UTF-8"',
  ])("when the Content-Type is %s, then the body is read", async (contentType) => {
    const answer = await post(json, contentType);
    expect(answer.status).toBe(200);
    expect(jsonOf(answer)).toMatchObject({ status: "succeeded", dryRun: true });
  });
});

describe("a body without a declared length", () => {
  it("when a chunked body passes the limit, then 413 comes while it is still being sent, and nothing runs", async () => {
    const answer = await streamChunked(port, {
      path: "/",
      headers: [
        ["content-type", "application/json"],
        ["authorization", `Bearer ${identity.signIdToken()}`],
      ],
      totalBytes: 64 * 1024 * 1024,
    });
    expect(answer.status).toBe(413);
    expect(jsonOf(answer)).toMatchObject({ error: { code: "payload_too_large" } });
    expect(answer.bodyFinished).toBe(false);
    expect(await runCount()).toBe(0);
  });

  it("when a chunked body stays under the limit, then it is read and runs", async () => {
    const body = Buffer.from(
      JSON.stringify({ task: "driver-inactivity-check", dryRun: true }).padEnd(MAX_BODY_BYTES, " "),
    );
    const answer = await sendRaw(port, {
      method: "POST",
      path: "/",
      headers: [
        ["content-type", "application/json"],
        ["authorization", `Bearer ${identity.signIdToken()}`],
      ],
      body,
      chunked: true,
    });
    expect(answer.status).toBe(200);
    expect(jsonOf(answer)).toMatchObject({ status: "succeeded", dryRun: true });
  });
});

describe("nothing that names a task answers before authentication", () => {
  it.each([
    "/runs?task=no-such-task",
    "/runs?task=generate-daily-stats",
    "/runs?task=x&limit=0",
    "/runs?sort=asc",
  ])("when %s is asked without a token, then 401 like any other query", async (path) => {
    const anonymous = await call(`${fn.url}${path}`);
    expect(anonymous.status).toBe(401);
    expect(anonymous.body.error?.code).toBe("unauthenticated");
    expect(anonymous.text).not.toMatch(/task/);
  });

  it("when an authenticated caller names an unknown task, then it learns so", async () => {
    const answer = await call(`${fn.url}/runs?task=no-such-task`, { token: identity.signIdToken() });
    expect(answer.status).toBe(400);
    expect(answer.body.error?.message).toBe('unknown task "no-such-task"');
  });
});

describe("the caller's email", () => {
  it("when the email differs from the allowed one by a look-alike code point (KELVIN SIGN for k), then 403, and the log shows it as received", async () => {
    const lookalike = identity.email.replace("k", "\u212a");
    expect(lookalike).not.toBe(identity.email);
    expect(lookalike.toLowerCase()).toBe(identity.email);
    const answer = await post(
      '{"task":"driver-inactivity-check","dryRun":true}',
      "application/json",
      `Bearer ${identity.signIdToken({ email: lookalike })}`,
    );
    expect(answer.status).toBe(403);
    expect(await runCount()).toBe(0);
    const line = logLines.findLast((entry) => entry.code === "forbidden");
    expect(String(line?.message)).toContain(JSON.stringify(lookalike));
  });

  it("when the email differs from the allowed one only in ASCII case, then it runs, and the log shows the email as received", async () => {
    const upper = identity.email.toUpperCase();
    const answer = await post(
      '{"task":"driver-inactivity-check","dryRun":true}',
      "application/json",
      `Bearer ${identity.signIdToken({ email: upper })}`,
    );
    expect(answer.status).toBe(200);
    expect(logLines.some((entry) => entry.caller === upper)).toBe(true);
  });
});

describe("the Authorization header", () => {
  const body = '{"task":"driver-inactivity-check","dryRun":true}';
  const valid = (name = "authorization"): [string, string] => [name, `Bearer ${identity.signIdToken()}`];
  const garbage: [string, string] = ["authorization", "Bearer x.y.z"];
  it.each<[string, () => [string, string][]]>([
    ["a valid token, then garbage", () => [valid(), garbage]],
    ["garbage, then a valid token", () => [garbage, valid()]],
    ["a valid token twice", () => [valid(), valid()]],
    ["a valid token under two spellings of the name", () => [valid(), valid("AUTHORIZATION")]],
  ])("when a request repeats it (%s), then 400 on every path and nothing runs", async (_, twice) => {
    for (const [method, path] of [
      ["POST", "/"],
      ["GET", "/health"],
      ["GET", "/runs"],
      ["GET", "/dashboard"],
    ] as const) {
      const answer = await sendRaw(port, {
        method,
        path,
        headers: [["content-type", "application/json"], ...twice()],
        ...(method === "POST" ? { body: Buffer.from(body) } : {}),
      });
      expect(answer.status, `${method} ${path}`).toBe(400);
      expect(jsonOf(answer)).toEqual({
        error: { code: "bad_request", message: "the request repeats the Authorization header: send one" },
      });
    }
    expect(await runCount()).toBe(0);
  });
});

describe("the token's audience", () => {
  it("when aud lists this function's audience and another, then 401 and nothing runs", async () => {
    const answer = await post(
      '{"task":"driver-inactivity-check","dryRun":true}',
      "application/json",
      `Bearer ${identity.signIdToken({ aud: [identity.audience, "https://attacker.example"] })}`,
    );
    expect(answer.status).toBe(401);
    expect(jsonOf(answer)).toMatchObject({ error: { code: "unauthenticated" } });
    expect(await runCount()).toBe(0);
  });
});
