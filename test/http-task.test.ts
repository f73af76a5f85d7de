/**
 * An http task against a real local HTTP server and real PostgreSQL, through the runner's one run
 * path: what the target receives (body, headers, the idempotency key of a tick and of a manual
 * run, the token's audience and issuer), how each kind of answer is recorded and answered, that
 * redirects are refused and an endless answer is cut off, and that the lock, the dedup slot,
 * pause and backfill hold for an http task as they do for SQL.
 */
import { createServer } from "node:http";
import type { IncomingMessage, Server, ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { TaskDefinition } from "../functions/core/catalog.js";
import type { HttpTarget } from "../functions/core/config/http-targets.js";
import { parseHttpTargets } from "../functions/core/config/http-targets.js";
import type { HttpAuthorizer, HttpDeps } from "../functions/core/run/http-contract.js";
import { isRetryable, outcomeOfRun } from "../functions/core/run/outcome.js";
import type { RunRequest } from "../functions/core/run/runner.js";
import { runTask } from "../functions/core/run/runner.js";
import { createDevIdentity } from "../scripts/local/dev-identity.js";
import { useTestDatabase } from "./helpers/database.js";

const db = useTestDatabase();
const identity = createDevIdentity();
const audience = "https://app-backend-123456789012.europe-west1.run.app";

interface Received {
  readonly path: string;
  readonly headers: IncomingMessage["headers"];
  readonly body: Record<string, unknown>;
}

type Respond = (req: IncomingMessage, res: ServerResponse, body: Record<string, unknown>) => void;

let server: Server;
let port = 0;
let respond: Respond = (_req, res) => res.end("{}");
let received: Received[] = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      const body = JSON.parse(Buffer.concat(chunks).toString("utf8") || "{}") as Record<string, unknown>;
      received.push({ path: req.url ?? "", headers: req.headers, body });
      respond(req, res, body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  port = (server.address() as AddressInfo).port;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

beforeEach(async () => {
  received = [];
  respond = (_req, res) => res.end("{}");
  await db.pool.query("TRUNCATE scheduler.job_runs, scheduler.task_pauses RESTART IDENTITY CASCADE");
});

const authorize: HttpAuthorizer = (call) =>
  Promise.resolve({ authorization: `Bearer ${identity.signIdToken({ aud: call.target.audience })}` });

function deps(): HttpDeps {
  const problems: string[] = [];
  const targets = parseHttpTargets(
    { "app-backend": { url: `http://127.0.0.1:${port}`, audience, internal: true } },
    problems,
    { local: true },
  );
  expect(problems).toEqual([]);
  return { targets: targets ?? {}, loadAuthorizer: () => Promise.resolve(authorize) };
}

function task(overrides: Partial<TaskDefinition> = {}): TaskDefinition {
  return {
    name: "notify-drivers",
    description: "Push the drivers' pending notifications through the app backend.",
    kind: "http",
    schedule: "*/5 * * * *",
    timeoutSeconds: 5,
    retry: { retryCount: 3, minBackoffSeconds: 10, maxBackoffSeconds: 60, maxDoublings: 2 },
    overlap: "retry",
    paused: false,
    http: { target: "app-backend", path: "/internal/notify-drivers" },
    ...overrides,
  };
}

const tick = new Date("2026-12-07T06:05:00Z");

function run(request: Partial<RunRequest> = {}, http: HttpDeps = deps()) {
  return runTask(
    { pool: db.pool, http },
    { task: task(), trigger: "scheduler", scheduleTime: tick, tick, ...request },
  );
}

async function runs() {
  const { rows } = await db.pool.query<{ status: string; error_code: string | null; message: string | null }>(
    "SELECT status, error_code, message FROM scheduler.job_runs WHERE task = 'notify-drivers' ORDER BY id",
  );
  return rows;
}

function claimsOf(authorization: string | undefined): Record<string, unknown> {
  const token = (authorization ?? "").replace(/^Bearer /, "");
  return JSON.parse(Buffer.from(token.split(".")[1] ?? "", "base64url").toString("utf8")) as Record<
    string,
    unknown
  >;
}

describe("an http task's call", () => {
  it("posts the run to the target's path with a tick's idempotency key, kept across the scheduler's retries", async () => {
    let calls = 0;
    respond = (_req, res) => {
      calls += 1;
      res.statusCode = calls === 1 ? 503 : 200;
      res.end(calls === 1 ? "busy" : '{"rowsAffected": 12}');
    };
    const first = await run({ attempt: 1, traceHeader: "105445aa7843bc8bf206b12000100000/1;o=1" });
    const second = await run({ attempt: 2 });
    expect(first.status).toBe("failed");
    expect(second).toMatchObject({ status: "succeeded", rowsAffected: 12 });
    expect(received.map((call) => call.path)).toEqual([
      "/internal/notify-drivers",
      "/internal/notify-drivers",
    ]);
    const [one, two] = received;
    expect(one?.body).toEqual({
      task: "notify-drivers",
      scheduleTime: tick.toISOString(),
      runId: first.runId,
      trigger: "scheduler",
      attempt: 1,
      maxRows: null,
    });
    expect(two?.body).toMatchObject({ attempt: 2, runId: second.runId });
    expect(one?.headers["idempotency-key"]).toBe(`notify-drivers:${tick.toISOString()}`);
    expect(two?.headers["idempotency-key"]).toBe(one?.headers["idempotency-key"]);
    expect(one?.headers["content-type"]).toBe("application/json");
    expect(one?.headers["x-cloud-trace-context"]).toBe("105445aa7843bc8bf206b12000100000/1;o=1");
    const recorded = await runs();
    expect(recorded[0]).toMatchObject({ status: "failed", error_code: "unavailable" });
    expect(recorded[0]?.message).toMatch(/answered 503 in \d+ ms: busy/);
    expect(recorded[1]?.message).toMatch(
      /POST http:\/\/127\.0\.0\.1:\d+\/internal\/notify-drivers answered 200/,
    );
  });

  it("gives each manual run a fresh key of its own, and says it is manual", async () => {
    const one = await run({ trigger: "manual", scheduleTime: undefined });
    const two = await run({ trigger: "manual", scheduleTime: undefined });
    expect([one.status, two.status]).toEqual(["succeeded", "succeeded"]);
    const keys = received.map((call) => call.headers["idempotency-key"]);
    expect(keys).toEqual([`notify-drivers:manual:${one.runId}`, `notify-drivers:manual:${two.runId}`]);
    expect(received[0]?.body).toMatchObject({ scheduleTime: null, trigger: "manual" });
  });

  it("carries an ID token for the target's audience from the token issuer", async () => {
    await run();
    const claims = claimsOf(received[0]?.headers.authorization);
    expect(claims.aud).toBe(audience);
    expect(claims.iss).toBe("https://accounts.google.com");
    expect(claims.email).toBe(identity.email);
  });
});

describe("an http task's outcome", () => {
  const cases: {
    name: string;
    respond: Respond;
    status: string;
    code?: string;
    answer: number;
    retryable: boolean;
  }[] = [
    {
      name: "2xx",
      respond: (_q, res) => res.writeHead(204).end(),
      status: "succeeded",
      answer: 200,
      retryable: false,
    },
    {
      name: "4xx",
      respond: (_q, res) => res.writeHead(400).end("no such driver list"),
      status: "failed",
      code: "target_refused",
      answer: 424,
      retryable: false,
    },
    {
      name: "5xx",
      respond: (_q, res) => res.writeHead(502).end(),
      status: "failed",
      code: "unavailable",
      answer: 503,
      retryable: true,
    },
    {
      name: "429 whose Retry-After is past the deadline",
      respond: (_q, res) => res.writeHead(429, { "retry-after": "3600" }).end(),
      status: "failed",
      code: "unavailable",
      answer: 503,
      retryable: true,
    },
    {
      name: "a reset connection",
      respond: (req) => req.socket.destroy(),
      status: "failed",
      code: "unavailable",
      answer: 503,
      retryable: true,
    },
  ];
  for (const c of cases) {
    it(`records and answers ${c.name}`, async () => {
      respond = c.respond;
      const result = await run();
      expect(result.status).toBe(c.status);
      if (c.code) expect(result).toMatchObject({ code: c.code });
      const outcome = outcomeOfRun(result);
      expect(outcome.status).toBe(c.answer);
      expect(isRetryable(outcome.status)).toBe(c.retryable);
      expect((await runs())[0]).toMatchObject({ status: c.status, error_code: c.code ?? null });
    });
  }

  it("waits out a 409's Retry-After within the deadline and calls again", async () => {
    let calls = 0;
    respond = (_req, res) => {
      calls += 1;
      if (calls === 1) res.writeHead(409, { "retry-after": "1" }).end("a run is in progress");
      else res.end("{}");
    };
    const started = Date.now();
    const result = await run();
    expect(result.status).toBe("succeeded");
    expect(received).toHaveLength(2);
    expect(Date.now() - started).toBeGreaterThanOrEqual(1000);
  });

  it("times out a target that hangs past the task's timeout: recorded as a timeout, answered 504", async () => {
    respond = () => undefined;
    const started = Date.now();
    const hung = await runTask(
      { pool: db.pool, http: deps() },
      { task: task({ timeoutSeconds: 1 }), trigger: "manual" },
    );
    expect(hung).toMatchObject({ status: "failed", code: "timeout" });
    expect(outcomeOfRun(hung).status).toBe(504);
    expect(Date.now() - started).toBeLessThan(5000);
    expect((await runs())[0]).toMatchObject({ status: "failed", error_code: "timeout" });
  });

  it("refuses a redirect without following it", async () => {
    respond = (_req, res) =>
      res.writeHead(302, { location: "http://169.254.169.254/computeMetadata/v1/" }).end();
    const result = await run();
    expect(result).toMatchObject({ status: "failed", code: "target_refused" });
    expect(received).toHaveLength(1);
    expect((await runs())[0]?.message).toMatch(/redirects are not followed/);
  });

  it("reads at most a bounded start of a 100 MB answer and drops the connection", async () => {
    let written = 0;
    let closed = false;
    respond = (_req, res) => {
      res.writeHead(200, { "content-type": "text/plain" });
      const chunk = Buffer.alloc(64 * 1024, "x");
      const write = (): void => {
        while (written < 100 * 1024 * 1024) {
          written += chunk.length;
          if (!res.write(chunk)) return void res.once("drain", write);
        }
        res.end();
      };
      res.on("close", () => {
        closed = true;
      });
      write();
    };
    const before = process.memoryUsage().arrayBuffers;
    const result = await run();
    const grew = process.memoryUsage().arrayBuffers - before;
    expect(result.status).toBe("succeeded");
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(closed).toBe(true);
    expect(written).toBeLessThan(10 * 1024 * 1024);
    expect(grew).toBeLessThan(20 * 1024 * 1024);
    expect((await runs())[0]?.message?.length).toBeLessThan(600);
  });
});

describe("an http task on the run path", () => {
  it("lets one of two concurrent deliveries of a tick call, and a later one finds the slot done", async () => {
    respond = (_req, res) => setTimeout(() => res.end("{}"), 300);
    const [a, b] = await Promise.all([run({ attempt: 1 }), run({ attempt: 1 })]);
    expect([a.status, b.status].sort()).toEqual(["locked", "succeeded"]);
    const again = await run({ attempt: 2 });
    expect(again.status).toBe("duplicate");
    expect(received).toHaveLength(1);
  });

  it("does not call while the task is paused", async () => {
    await db.pool.query("SELECT scheduler.pause_task('notify-drivers', 'backend migration', 'alice', NULL)");
    const result = await run();
    expect(result.status).toBe("paused");
    expect(received).toHaveLength(0);
  });

  it("backfills a missed tick with that tick's key", async () => {
    const missed = new Date("2026-12-07T05:55:00Z");
    const result = await run({ trigger: "backfill", scheduleTime: missed, tick: missed });
    expect(result.status).toBe("succeeded");
    expect(received[0]?.body).toMatchObject({ trigger: "backfill", scheduleTime: missed.toISOString() });
    expect(received[0]?.headers["idempotency-key"]).toBe(`notify-drivers:${missed.toISOString()}`);
  });

  it("sends the task's row limit and fails a run whose answer counts more", async () => {
    respond = (_req, res) => res.end('{"rowsAffected": 900}');
    const result = await runTask(
      { pool: db.pool, http: deps() },
      { task: task({ maxRows: 500 }), trigger: "scheduler", scheduleTime: tick, tick },
    );
    expect(received[0]?.body.maxRows).toBe(500);
    expect(result).toMatchObject({ status: "failed", code: "guard_tripped" });
  });
});

describe("where an http task may call", () => {
  it("fails a task whose target the stack does not name, naming it", async () => {
    const result = await runTask(
      { pool: db.pool, http: deps() },
      { task: task({ http: { target: "billing", path: "/x" } }), trigger: "manual" },
    );
    expect(result).toMatchObject({ status: "failed", code: "task_failed" });
    expect(result.status === "failed" && result.message).toMatch(
      /target "billing" is not in this stack's httpTargets/,
    );
    expect(received).toHaveLength(0);
  });

  it("refuses credentials, plain http outside the local stack and private or link-local addresses", () => {
    const problemsOf = (targets: unknown, local = false): string[] => {
      const problems: string[] = [];
      parseHttpTargets(targets, problems, { local });
      return problems;
    };
    expect(problemsOf({ a: { url: "https://user:pw@app.example" } })[0]).toMatch(/credentials/);
    expect(problemsOf({ a: { url: "http://app.example" } })[0]).toMatch(/must use https/);
    expect(problemsOf({ a: { url: "http://127.0.0.1:8080", internal: true } })[0]).toMatch(/must use https/);
    expect(problemsOf({ a: { url: "http://127.0.0.1:8080", internal: true } }, true)).toEqual([]);
    expect(problemsOf({ a: { url: "https://10.0.0.7" } })[0]).toMatch(/private address/);
    expect(problemsOf({ a: { url: "https://10.0.0.7", internal: true } })).toEqual([]);
    expect(problemsOf({ a: { url: "https://169.254.169.254", internal: true } })[0]).toMatch(/link-local/);
    expect(problemsOf({ a: { url: "https://[fe80::1]", internal: true } })[0]).toMatch(/link-local/);
    expect(problemsOf({ a: { url: "https://app.example", colour: "blue" } })[0]).toMatch(
      /httpTargets\.a\.colour/,
    );
  });

  it("refuses a name that resolves to a private address when the target is not internal", async () => {
    const target: HttpTarget = { url: `http://localhost:${port}`, audience, internal: false };
    const http: HttpDeps = {
      targets: { "app-backend": target },
      loadAuthorizer: () => Promise.resolve(authorize),
    };
    const result = await run({}, http);
    expect(result).toMatchObject({ status: "failed", code: "target_refused" });
    expect(result.status === "failed" && result.message).toMatch(/resolves to .*a private address/);
    expect(received).toHaveLength(0);
  });
});
