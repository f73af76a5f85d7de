/**
 * The function over real HTTP, in-process behind the framework's test server, against real
 * PostgreSQL and real ID tokens (a key generated here, its certificate served on loopback): every
 * row of the HTTP contract's status table, each way a token can be refused, both auth modes,
 * duplicate and concurrent deliveries, /health, and what reaches the log.
 */
import { request as httpRequest } from "node:http";
import pg from "pg";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { taskNames, tasks } from "../functions/core/catalog.js";
import { routeList } from "../functions/gcp/contract.js";
import { resolveJobs } from "../functions/core/schedule/jobs.js";
import { createPoolProvider } from "../functions/core/db/pool-provider.js";
import { createLogger } from "../functions/core/log.js";
import { createHandler } from "../functions/gcp/router.js";
import type { RunTask } from "../functions/gcp/router.js";
import { runTask } from "../functions/core/run/runner.js";
import { createAuthenticator } from "../functions/gcp/auth.js";
import { parseAuthEnv } from "../functions/core/config/function-config.js";
import { writeEnvironment } from "../functions/core/config/environment.js";
import type { CertsServer, DevIdentity, IdTokenClaims } from "../scripts/local/dev-identity.js";
import type { ForgedTokenSpec } from "./helpers/forged-tokens.js";
import { forgeToken, publicKeyPemOf } from "./helpers/forged-tokens.js";
import { createDevIdentity, serveCerts, stripSignature } from "../scripts/local/dev-identity.js";
import { underShiftedClock } from "../scripts/local/child-env.js";
import { freePort } from "../scripts/local/embedded-postgres.js";
import { useTestDatabase } from "./helpers/database.js";
import type { RunningFunction } from "./helpers/function-server.js";
import { call, serveHandler, startFunction } from "./helpers/function-server.js";

const AUDIENCE = "https://scheduled-tasks-test-uc.a.run.app";
const SCHEDULER = "scheduler@demo-project.iam.gserviceaccount.com";
const PROJECT = "demo-project";
const UNREACHABLE_PASSWORD = "Unreachable-Pa55word";

const db = useTestDatabase();
let identity: DevIdentity;
let certs: CertsServer;
let fn: RunningFunction;
let env: Record<string, string>;

// Everything the process writes to stdout and stderr while the suite runs: the proof that no
// token, password or connection string is ever logged covers every request below.
const written: string[] = [];
// Distinct tokens: two minted in the same second with the same claims are the same string.
const tokensUsed = new Set<string>();
let tokensMinted = 0;
const originalStdout = process.stdout.write.bind(process.stdout);
const originalStderr = process.stderr.write.bind(process.stderr);

function token(overrides: Partial<IdTokenClaims> = {}): string {
  const minted = identity.signIdToken(overrides);
  tokensUsed.add(minted);
  tokensMinted += 1;
  return minted;
}

function mint(spec: ForgedTokenSpec): string {
  const minted = forgeToken(identity, spec);
  tokensUsed.add(minted);
  tokensMinted += 1;
  return minted;
}

async function runsOf(task: string): Promise<Record<string, unknown>[]> {
  const result = await db.pool.query("SELECT * FROM scheduler.job_runs WHERE task = $1 ORDER BY id", [task]);
  return result.rows;
}

/**
 * A tick of the every-minute task `minutes` before the clock at start, in Cloud Scheduler's format:
 * schedule data derives from one "now", so the suite passes on any date.
 */
const startedAt = Date.now();
function minuteTick(minutesAgo: number): string {
  const tick = Math.floor(startedAt / 60_000) * 60_000 - minutesAgo * 60_000;
  return new Date(tick).toISOString().replace(".000Z", "Z");
}

async function addDuePendingOrders(count: number): Promise<void> {
  await db.pool.query(
    "INSERT INTO orders (status, placed_at) SELECT 'pending', now() - interval '2 hours' FROM generate_series(1, $1)",
    [count],
  );
}

beforeAll(async () => {
  process.stdout.write = ((chunk: string | Uint8Array) => {
    written.push(String(chunk));
    return true;
  }) as typeof process.stdout.write;
  process.stderr.write = ((chunk: string | Uint8Array) => {
    written.push(String(chunk));
    return true;
  }) as typeof process.stderr.write;
  identity = createDevIdentity({ audience: AUDIENCE, email: SCHEDULER });
  certs = await serveCerts(identity);
  env = writeEnvironment({
    DATABASE_URL: db.url,
    AUTH_AUDIENCE: [AUDIENCE],
    AUTH_ALLOWED_EMAILS: [SCHEDULER],
    AUTH_CERTS_URL: certs.url,
    GOOGLE_CLOUD_PROJECT: PROJECT,
    DB_POOL_MAX: 6,
  });
  fn = await startFunction({ env });
});

afterAll(async () => {
  process.stdout.write = originalStdout;
  process.stderr.write = originalStderr;
  await fn?.close();
  await certs?.close();
});

beforeEach(async () => {
  await db.pool.query("DELETE FROM orders; DELETE FROM drivers; DELETE FROM scheduler.job_runs");
});

describe("POST /: ticks and manual runs (a console force run never swallows a real tick)", () => {
  const task = "auto-cancel-unconfirmed-orders";
  const jobHeaders = (scheduleTime?: string): Record<string, string> => ({
    "x-cloudscheduler-jobname": task,
    ...(scheduleTime ? { "x-cloudscheduler-scheduletime": scheduleTime } : {}),
  });
  const post = (headers: Record<string, string>) => call(fn.url, { token: token(), body: { task }, headers });

  it("when a force run carries the next tick's time, then it runs as a manual run, and the real tick at that time still runs", async () => {
    // What Google documents for "Force run": the next scheduled run's time, ahead of the arrival.
    const next = new Date(Math.ceil((Date.now() + 30_000) / 60_000) * 60_000 + 60_000).toISOString();
    await addDuePendingOrders(1);
    const forced = await post(jobHeaders(next));
    expect(forced.status).toBe(200);
    expect(forced.body).toMatchObject({ status: "succeeded", rowsAffected: 1 });
    const again = await post(jobHeaders(next));
    expect(again.body).toMatchObject({ status: "succeeded" });
    expect(again.body.runId).not.toBe(forced.body.runId);

    const runs = await runsOf(task);
    expect(runs).toHaveLength(2);
    for (const run of runs) {
      expect(run).toMatchObject({ trigger: "manual", job_name: task, schedule_time: null });
      expect((run.requested_schedule_time as Date).toISOString()).toBe(next);
    }
    const history = await call(`${fn.url}/runs?task=${task}`, { method: "GET", token: token() });
    expect(
      (history.body.runs as { trigger: string; requestedScheduleTime: string | null }[])[0],
    ).toMatchObject({
      trigger: "manual",
      requestedScheduleTime: next,
    });
    // The tick itself, once due (here: its retry, delivered after its time), runs and takes its slot.
    const tick = minuteTick(1);
    await addDuePendingOrders(2);
    const real = await post(jobHeaders(tick));
    expect(real.body).toMatchObject({ status: "succeeded", rowsAffected: 2 });
    expect((await post(jobHeaders(tick))).body).toMatchObject({
      status: "duplicate",
      runId: real.body.runId,
    });
  });

  it("when a delivery names no schedule time, or one that is not a tick of the job, then it is a manual run", async () => {
    const offTick = new Date(new Date(minuteTick(3)).getTime() + 30_000).toISOString();
    for (const headers of [jobHeaders(), jobHeaders(offTick), jobHeaders(offTick)]) {
      expect((await post(headers)).body).toMatchObject({ status: "succeeded" });
    }
    const runs = await runsOf(task);
    expect(runs.map((run) => run.trigger)).toEqual(["manual", "manual", "manual"]);
    expect(runs.map((run) => (run.requested_schedule_time as Date | null)?.toISOString() ?? null)).toEqual([
      null,
      offTick,
      offTick,
    ]);
    expect(runs.every((run) => run.schedule_time === null)).toBe(true);
  });
});

describe("POST / runs a task", () => {
  it("when the scheduler posts a task with a valid token, then it runs, answers 200 and records the scheduler's headers", async () => {
    await addDuePendingOrders(2);
    const answer = await call(fn.url, {
      token: token(),
      body: { task: "auto-cancel-unconfirmed-orders" },
      headers: {
        "x-cloudscheduler": "true",
        "x-cloudscheduler-jobname": "auto-cancel-unconfirmed-orders",
        "x-cloudscheduler-scheduletime": minuteTick(10),
      },
    });
    expect(answer.status).toBe(200);
    expect(answer.headers.get("content-type")).toMatch(/^application\/json/);
    expect(answer.body).toMatchObject({
      task: "auto-cancel-unconfirmed-orders",
      status: "succeeded",
      rowsAffected: 2,
      dryRun: false,
    });
    expect(typeof answer.body.runId).toBe("string");
    expect(typeof answer.body.durationMs).toBe("number");
    const [run] = await runsOf("auto-cancel-unconfirmed-orders");
    expect(run).toMatchObject({
      trigger: "scheduler",
      job_name: "auto-cancel-unconfirmed-orders",
      status: "succeeded",
      rows_affected: "2",
    });
    expect((run?.schedule_time as Date).toISOString()).toBe(new Date(minuteTick(10)).toISOString());
  });

  it("when the same schedule time is delivered again, then 200 duplicate with the original run id, and nothing runs", async () => {
    const headers = {
      "x-cloudscheduler-jobname": "auto-cancel-unconfirmed-orders",
      "x-cloudscheduler-scheduletime": minuteTick(9),
    };
    const first = await call(fn.url, {
      token: token(),
      body: { task: "auto-cancel-unconfirmed-orders" },
      headers,
    });
    await addDuePendingOrders(1);
    const second = await call(fn.url, {
      token: token(),
      body: { task: "auto-cancel-unconfirmed-orders" },
      headers,
    });
    expect(first.body.status).toBe("succeeded");
    expect(second.status).toBe(200);
    expect(second.body).toMatchObject({ status: "duplicate", runId: first.body.runId });
    const pending = await db.pool.query("SELECT count(*)::int AS n FROM orders WHERE status = 'pending'");
    expect(pending.rows[0].n).toBe(1);
  });

  it("when the same tick is delivered 20 times at once, then exactly one delivery executes", async () => {
    await addDuePendingOrders(3);
    const headers = {
      "x-cloudscheduler-jobname": "auto-cancel-unconfirmed-orders",
      "x-cloudscheduler-scheduletime": minuteTick(8),
    };
    const answers = await Promise.all(
      Array.from({ length: 20 }, () =>
        call(fn.url, { token: token(), body: { task: "auto-cancel-unconfirmed-orders" }, headers }),
      ),
    );
    expect(answers.map((answer) => answer.status)).toEqual(Array(20).fill(200));
    const statuses = answers.map((answer) => answer.body.status);
    expect(statuses.filter((status) => status === "succeeded")).toHaveLength(1);
    expect(statuses.every((status) => ["succeeded", "duplicate", "skipped"].includes(String(status)))).toBe(
      true,
    );
    const executed = (await runsOf("auto-cancel-unconfirmed-orders")).filter(
      (run) => run.status === "succeeded",
    );
    expect(executed).toHaveLength(1);
    expect(executed[0]?.rows_affected).toBe("3");
  });

  it("when an email task is posted, then the email module is loaded on demand and runs it", async () => {
    const answer = await call(fn.url, {
      token: token(),
      body: { task: "send-daily-vendor-reports", dryRun: true },
    });
    expect(answer.status).toBe(200);
    expect(answer.body).toMatchObject({
      task: "send-daily-vendor-reports",
      status: "succeeded",
      dryRun: true,
    });
  });

  it("when another run of the task holds its lock, then 200 skipped", async () => {
    const holder = new pg.Client({ connectionString: db.url });
    await holder.connect();
    try {
      await holder.query("SELECT pg_advisory_lock(7262005, hashtext('driver-inactivity-check'))");
      const answer = await call(fn.url, { token: token(), body: { task: "driver-inactivity-check" } });
      expect(answer.status).toBe(200);
      expect(answer.body).toMatchObject({ status: "skipped", task: "driver-inactivity-check" });
    } finally {
      await holder.end();
    }
  });

  it("when dryRun is true, then the answer says what would change and nothing changes; a run without scheduler headers is a manual run", async () => {
    await addDuePendingOrders(4);
    const answer = await call(fn.url, {
      token: token(),
      body: { task: "auto-cancel-unconfirmed-orders", dryRun: true },
    });
    expect(answer.status).toBe(200);
    expect(answer.body).toMatchObject({ status: "succeeded", rowsAffected: 4, dryRun: true });
    const pending = await db.pool.query("SELECT count(*)::int AS n FROM orders WHERE status = 'pending'");
    expect(pending.rows[0].n).toBe(4);
    const [run] = await runsOf("auto-cancel-unconfirmed-orders");
    expect(run).toMatchObject({ trigger: "manual", job_name: null, schedule_time: null, dry_run: true });
  });

  it("when a run would change more rows than the task's limit, then 422 with the count and the limit, nothing changes, and force overrides", async () => {
    await addDuePendingOrders(501);
    const refused = await call(fn.url, { token: token(), body: { task: "auto-cancel-unconfirmed-orders" } });
    expect(refused.status).toBe(422);
    expect(refused.body.error).toMatchObject({ code: "guard_tripped", wouldChange: 501, maxRows: 500 });
    const pending = await db.pool.query("SELECT count(*)::int AS n FROM orders WHERE status = 'pending'");
    expect(pending.rows[0].n).toBe(501);
    expect((await runsOf("auto-cancel-unconfirmed-orders"))[0]).toMatchObject({
      status: "failed",
      error_code: "guard_tripped",
    });

    const forced = await call(fn.url, {
      token: token(),
      body: { task: "auto-cancel-unconfirmed-orders", force: true },
    });
    expect(forced.status).toBe(200);
    expect(forced.body).toMatchObject({ status: "succeeded", rowsAffected: 501 });
  });

  it("when the task's SQL fails, then 500 task_failed, and the run is recorded as failed with the message", async () => {
    await db.pool.query("ALTER TABLE drivers RENAME COLUMN is_available TO available_now");
    try {
      const answer = await call(fn.url, { token: token(), body: { task: "driver-inactivity-check" } });
      expect(answer.status).toBe(500);
      expect(answer.body.error).toMatchObject({ code: "task_failed", task: "driver-inactivity-check" });
      expect(answer.body.error?.message).toMatch(/is_available/);
      expect(answer.text).not.toMatch(/\n\s+at /);
      const [run] = await runsOf("driver-inactivity-check");
      expect(run).toMatchObject({ status: "failed", error_code: "task_failed" });
      expect(run?.message).toMatch(/is_available/);
    } finally {
      await db.pool.query("ALTER TABLE drivers RENAME COLUMN available_now TO is_available");
    }
  });

  // Under libfaketime (CI's shifted-clock pass) PostgreSQL's statement_timeout still fires, but a
  // backend waiting on a lock is never woken by it; this test has no date in it, and the normal
  // pass runs it.
  it.skipIf(underShiftedClock())(
    "when the task hits its statement timeout, then 504 timeout, recorded as failed",
    async () => {
      // The catalog's shortest timeout is 30 s; the same runner with a 300 ms one keeps the test short.
      const shortTimeout: RunTask = (deps, request) =>
        runTask(deps, { ...request, task: { ...request.task, timeoutSeconds: 0.3 } });
      const auth = parseAuthEnv(env).config;
      if (!auth) throw new Error("test auth configuration is incomplete");
      const pools = createPoolProvider({ kind: "url", connectionString: db.url }, 2, createLogger());
      const served = await serveHandler(
        createHandler({
          authenticator: createAuthenticator(auth),
          jobs: resolveJobs(tasks).jobs,
          pool: () => pools.get(),
          runTask: shortTimeout,
          log: createLogger(),
        }),
      );
      await db.pool.query(
        "INSERT INTO drivers (is_available, updated_at) VALUES (true, now() - interval '1 hour')",
      );
      const locker = new pg.Client({ connectionString: db.url });
      await locker.connect();
      try {
        await locker.query("BEGIN; SELECT * FROM drivers FOR UPDATE");
        const answer = await call(served.url, { token: token(), body: { task: "driver-inactivity-check" } });
        expect(answer.status).toBe(504);
        expect(answer.body.error).toMatchObject({ code: "timeout", task: "driver-inactivity-check" });
        expect((await runsOf("driver-inactivity-check"))[0]).toMatchObject({
          status: "failed",
          error_code: "timeout",
        });
      } finally {
        await locker.end();
        await served.close();
        await pools.end();
      }
    },
  );
});

describe("POST / refuses bad requests before anything runs", () => {
  const badBodies: [string, { raw: string; contentType?: string }, RegExp][] = [
    ["malformed JSON", { raw: '{"task": "auto-cancel-unconfirmed-orders"' }, /not valid JSON/],
    ["a JSON string", { raw: '"auto-cancel-unconfirmed-orders"' }, /not valid JSON/],
    ["a JSON array", { raw: '["auto-cancel-unconfirmed-orders"]' }, /must be a JSON object/],
    ["an empty object", { raw: "{}" }, /task is required/],
    ["an empty body", { raw: "" }, /empty|task is required/],
    [
      "an unknown field",
      { raw: '{"task": "generate-daily-stats", "sql": "DROP TABLE orders"}' },
      /unknown field "sql"/,
    ],
    ["a task that is not a string", { raw: '{"task": 42}' }, /task must be a non-empty string/],
    ["an empty task", { raw: '{"task": ""}' }, /task must be a non-empty string/],
    [
      "a dryRun that is not a boolean",
      { raw: '{"task": "generate-daily-stats", "dryRun": "true"}' },
      /dryRun must be/,
    ],
    [
      "a force that is not a boolean",
      { raw: '{"task": "generate-daily-stats", "force": 1}' },
      /force must be/,
    ],
  ];

  it.each(badBodies)(
    "when the body is %s, then 400 in the JSON error shape and no run",
    async (_, input, message) => {
      const answer = await call(fn.url, {
        method: "POST",
        token: token(),
        raw: input.raw,
        headers: { "content-type": input.contentType ?? "application/json" },
      });
      expect(answer.status).toBe(400);
      expect(answer.headers.get("content-type")).toMatch(/^application\/json/);
      expect(answer.body.error?.code).toBe("bad_request");
      expect(answer.body.error?.message).toMatch(message);
      expect(answer.text).not.toMatch(/SyntaxError|body-parser|node_modules/);
      expect(await runsOf("generate-daily-stats")).toHaveLength(0);
    },
  );

  it.each([
    [
      "a schedule time that is not RFC 3339",
      { "x-cloudscheduler-scheduletime": "yesterday" },
      /ScheduleTime/,
    ],
    [
      "an impossible schedule time",
      { "x-cloudscheduler-scheduletime": "2026-13-45T99:00:00Z" },
      /ScheduleTime/,
    ],
    ["a job name with spaces", { "x-cloudscheduler-jobname": "drop table orders" }, /JobName/],
    ["the year 0000", { "x-cloudscheduler-scheduletime": "0000-01-01T00:05:00Z" }, /more than a year away/],
    ["the year 9999", { "x-cloudscheduler-scheduletime": "9999-12-31T00:05:00Z" }, /more than a year away/],
    [
      "a time two years ahead",
      { "x-cloudscheduler-scheduletime": new Date(startedAt + 2 * 366 * 86_400_000).toISOString() },
      /more than a year away/,
    ],
  ])("when the scheduler headers carry %s, then 400", async (_, headers, message) => {
    const answer = await call(fn.url, { token: token(), body: { task: "generate-daily-stats" }, headers });
    expect(answer.status).toBe(400);
    expect(answer.body.error?.message).toMatch(message);
    expect(await runsOf("generate-daily-stats")).toHaveLength(0);
  });

  it.each([
    ["text/plain", "text/plain"],
    ["application/octet-stream (Cloud Scheduler's default)", "application/octet-stream"],
    ["a form", "application/x-www-form-urlencoded"],
  ])("when the body is sent as %s, then 415", async (_, contentType) => {
    const answer = await call(fn.url, {
      method: "POST",
      token: token(),
      raw: '{"task": "generate-daily-stats"}',
      headers: { "content-type": contentType },
    });
    expect(answer.status).toBe(415);
    expect(answer.body.error?.code).toBe("unsupported_media_type");
  });

  it("when the body has no Content-Type, then 415", async () => {
    const answer = await call(fn.url, {
      method: "POST",
      token: token(),
      raw: undefined,
      headers: {},
    });
    expect(answer.status).toBe(415);
  });

  it("when the body is larger than the limit, then 413, also when its length is not declared", async () => {
    const big = JSON.stringify({ task: "x".repeat(9000) });
    const declared = await call(fn.url, {
      method: "POST",
      token: token(),
      raw: big,
      headers: { "content-type": "application/json" },
    });
    expect(declared.status).toBe(413);
    expect(declared.body.error?.code).toBe("payload_too_large");

    const chunked = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = httpRequest(`${fn.url}/`, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          "transfer-encoding": "chunked",
          authorization: `Bearer ${token()}`,
        },
      });
      req.on("response", (res) => {
        let body = "";
        res.on("data", (chunk: Buffer) => (body += chunk.toString()));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
      });
      req.on("error", reject);
      req.write(big.slice(0, 5000));
      req.end(big.slice(5000));
    });
    expect(chunked.status).toBe(413);
    expect(JSON.parse(chunked.body).error.code).toBe("payload_too_large");
  });

  it("when the method is not POST, then 405 with Allow, and /health takes only GET", async () => {
    const get = await call(fn.url, { method: "GET", token: token() });
    expect(get.status).toBe(405);
    expect(get.headers.get("allow")).toBe("POST");
    expect(get.body.error?.code).toBe("method_not_allowed");
    const put = await call(fn.url, { method: "PUT", token: token(), body: { task: "generate-daily-stats" } });
    expect(put.status).toBe(405);
    const postHealth = await call(`${fn.url}/health`, {
      token: token(),
      body: { task: "generate-daily-stats" },
    });
    expect(postHealth.status).toBe(405);
    expect(postHealth.headers.get("allow")).toBe("GET");
  });

  it("when the task is unknown, then 404 listing the known tasks (to an authenticated caller only)", async () => {
    const answer = await call(fn.url, { token: token(), body: { task: "drop-all-tables" } });
    expect(answer.status).toBe(404);
    expect(answer.body.error).toMatchObject({ code: "not_found", tasks: [...taskNames] });
    expect(answer.body.error?.message).toContain('"drop-all-tables"');

    const anonymous = await call(fn.url, { body: { task: "drop-all-tables" } });
    expect(anonymous.status).toBe(401);
    expect(anonymous.text).not.toContain("auto-cancel-unconfirmed-orders");
  });

  it("when the framework itself would answer (charset, compression, its ignored paths), then the answer is still the JSON error shape", async () => {
    const latin1 = await call(fn.url, {
      method: "POST",
      token: token(),
      raw: '{"task": "generate-daily-stats"}',
      headers: { "content-type": "application/json; charset=latin1" },
    });
    expect(latin1.status).toBe(415);
    expect(latin1.body.error?.code).toBe("unsupported_media_type");
    const gzipped = await call(fn.url, {
      method: "POST",
      token: token(),
      raw: "compressed?",
      headers: { "content-type": "application/json", "content-encoding": "gzip" },
    });
    expect(gzipped.status).toBe(415);
    expect(gzipped.body.error?.message).toMatch(/compressed/);
    for (const path of ["/robots.txt", "/favicon.ico"]) {
      const ignored = await call(`${fn.url}${path}`, { token: token() });
      expect(ignored.status).toBe(404);
      expect(ignored.body.error?.code).toBe("not_found");
    }
    const proto = await call(fn.url, {
      method: "POST",
      token: token(),
      raw: '{"task": "generate-daily-stats", "__proto__": {"force": true}}',
      headers: { "content-type": "application/json" },
    });
    expect(proto.status).toBe(400);
    expect(proto.body.error?.message).toMatch(/unknown field "__proto__"/);
    expect(await runsOf("generate-daily-stats")).toHaveLength(0);
  });

  it("when the path is unknown, then 404 naming every route of the contract, from the router and the framework alike", async () => {
    const answer = await call(`${fn.url}/admin`, { token: token(), body: { task: "generate-daily-stats" } });
    expect(answer.status).toBe(404);
    expect(answer.body.error?.code).toBe("not_found");
    // The framework answers /favicon.ico itself: its 404 must not name fewer routes than the router's.
    const framework = await call(`${fn.url}/favicon.ico`, { token: token() });
    expect(framework.body.error?.message).toBe(answer.body.error?.message);
    for (const route of routeList)
      expect(answer.body.error?.message).toContain(`${route.method} ${route.path}`);
  });

  it("when a route of the contract is called with another method, then 405 with the table's method in Allow", async () => {
    for (const route of routeList) {
      const wrong = await call(`${fn.url}${route.path}`, {
        method: route.method === "GET" ? "DELETE" : "GET",
        token: token(),
      });
      expect(wrong.status, route.path).toBe(405);
      expect(wrong.headers.get("allow"), route.path).toBe(route.method);
    }
  });
});

describe("authentication", () => {
  const expired = () => {
    const now = Math.floor(Date.now() / 1000);
    return token({ iat: now - 7200, exp: now - 3600 });
  };
  const refusals: [string, number, () => string | undefined][] = [
    ["no Authorization header", 401, () => undefined],
    ["a Basic header", 401, () => "Basic c2NoZWR1bGVyOnNlY3JldA=="],
    ["garbage after Bearer", 401, () => "Bearer not-a-token"],
    [
      "a token signed with another key",
      401,
      () => `Bearer ${mint({ signature: { kind: "rs256", key: createDevIdentity().privateKey } })}`,
    ],
    ["alg none", 401, () => `Bearer ${mint({ header: { alg: "none" }, signature: { kind: "none" } })}`],
    [
      "HS256 keyed with the public key",
      401,
      () =>
        `Bearer ${mint({ header: { alg: "HS256" }, signature: { kind: "hs256", secret: publicKeyPemOf(identity) } })}`,
    ],
    ["an expired token", 401, () => `Bearer ${expired()}`],
    ["a token not yet valid", 401, () => `Bearer ${token({ nbf: Math.floor(Date.now() / 1000) + 3600 })}`],
    ["another audience", 401, () => `Bearer ${token({ aud: "https://another-function.a.run.app" })}`],
    ["another issuer", 401, () => `Bearer ${token({ iss: "https://evil.example.com" })}`],
    [
      "a caller that is not allowed",
      403,
      () => `Bearer ${token({ email: "someone@demo-project.iam.gserviceaccount.com" })}`,
    ],
    ["an unverified email", 403, () => `Bearer ${token({ email_verified: false })}`],
    ["a signature stripped in transit (verify mode)", 401, () => `Bearer ${stripSignature(token())}`],
  ];

  it.each(refusals)(
    "when the request carries %s, then %i and nothing runs",
    async (_, status, authorization) => {
      const header = authorization();
      if (header) tokensUsed.add(header.replace(/^\w+ /, ""));
      const answer = await call(fn.url, {
        body: { task: "generate-daily-stats" },
        headers: header ? { authorization: header } : {},
      });
      expect(answer.status).toBe(status);
      expect(answer.body.error?.code).toBe(status === 401 ? "unauthenticated" : "forbidden");
      const health = await call(`${fn.url}/health`, { headers: header ? { authorization: header } : {} });
      expect(health.status).toBe(status);
      expect(await runsOf("generate-daily-stats")).toHaveLength(0);
    },
  );

  it("when the audience carries a trailing slash, then it is the same audience", async () => {
    const answer = await call(fn.url, {
      token: token({ aud: `${AUDIENCE}/` }),
      body: { task: "generate-daily-stats", dryRun: true },
    });
    expect(answer.status).toBe(200);
  });

  it("when AUTH_MODE is cloud-run, then a stripped signature is judged by its claims, and a present one is still verified", async () => {
    const cloudRun = await startFunction({ env: { ...env, AUTH_MODE: "cloud-run" } });
    try {
      const stripped = stripSignature(token());
      tokensUsed.add(stripped);
      const accepted = await call(cloudRun.url, {
        token: stripped,
        body: { task: "generate-daily-stats", dryRun: true },
      });
      expect(accepted.status).toBe(200);
      const wrongCaller = stripSignature(token({ email: "someone@demo-project.iam.gserviceaccount.com" }));
      expect(
        (await call(cloudRun.url, { token: wrongCaller, body: { task: "generate-daily-stats" } })).status,
      ).toBe(403);
      const expiredStripped = stripSignature(expired());
      expect(
        (await call(cloudRun.url, { token: expiredStripped, body: { task: "generate-daily-stats" } })).status,
      ).toBe(401);
      const forged = mint({ signature: { kind: "rs256", key: createDevIdentity().privateKey } });
      expect(
        (await call(cloudRun.url, { token: forged, body: { task: "generate-daily-stats" } })).status,
      ).toBe(401);
    } finally {
      await cloudRun.close();
    }
  });
});

describe("the function's environment and its database", () => {
  it("when the auth configuration is missing, then every request is refused with 503 and the log names each problem", async () => {
    const lines: string[] = [];
    const misconfigured = await startFunction({
      env: { DATABASE_URL: db.url },
      log: createLogger({}, (line) => lines.push(line)),
    });
    try {
      const answer = await call(misconfigured.url, {
        token: token(),
        body: { task: "generate-daily-stats" },
      });
      expect(answer.status).toBe(503);
      expect(answer.body.error?.code).toBe("unavailable");
      expect((await call(`${misconfigured.url}/health`, { token: token() })).status).toBe(503);
      const problems = lines.map((line) => JSON.parse(line) as { severity: string; message: string });
      expect(
        problems.filter((line) => line.severity === "ERROR" && /AUTH_AUDIENCE is not set/.test(line.message)),
      ).toHaveLength(1);
      expect(
        problems.filter(
          (line) => line.severity === "ERROR" && /AUTH_ALLOWED_EMAILS is not set/.test(line.message),
        ),
      ).toHaveLength(1);
      expect(await runsOf("generate-daily-stats")).toHaveLength(0);
    } finally {
      await misconfigured.close();
    }
  });

  it("when the database is unreachable, then 503 unavailable, and the pool is tried again on the next request", async () => {
    const port = await freePort();
    const unreachable = await startFunction({
      env: {
        ...env,
        DATABASE_URL: `postgres://scheduler:${UNREACHABLE_PASSWORD}@127.0.0.1:${port}/delivery`,
      },
    });
    try {
      for (let attempt = 0; attempt < 2; attempt += 1) {
        const answer = await call(unreachable.url, {
          token: token(),
          body: { task: "generate-daily-stats" },
        });
        expect(answer.status).toBe(503);
        expect(answer.body.error).toMatchObject({
          code: "unavailable",
          message: "the database is unreachable",
        });
      }
      expect((await call(`${unreachable.url}/health`, { token: token() })).status).toBe(503);
    } finally {
      await unreachable.close();
    }
  });
  it("when the database refuses the login or does not exist, then 503 unavailable (the deployment's fault, not the task's)", async () => {
    const url = new URL(db.url);
    for (const broken of [
      Object.assign(new URL(url), { password: UNREACHABLE_PASSWORD }),
      Object.assign(new URL(url), { pathname: "/no_such_database" }),
    ]) {
      const refused = await startFunction({ env: { ...env, DATABASE_URL: broken.toString() } });
      try {
        const answer = await call(refused.url, { token: token(), body: { task: "generate-daily-stats" } });
        expect(answer.status).toBe(503);
        expect(answer.body.error).toMatchObject({ code: "unavailable" });
        const health = await call(`${refused.url}/health`, { token: token() });
        expect(health.status).toBe(503);
        expect(health.body.error).toMatchObject({ code: "unavailable" });
      } finally {
        await refused.close();
      }
    }
  });

  it("when the runner throws something unexpected, then 500 internal without its detail, and the next request is served", async () => {
    const auth = parseAuthEnv(env).config;
    if (!auth) throw new Error("test auth configuration is incomplete");
    const lines: string[] = [];
    let calls = 0;
    const served = await serveHandler(
      createHandler({
        authenticator: createAuthenticator(auth),
        jobs: resolveJobs(tasks).jobs,
        pool: async () => db.pool,
        runTask: async (deps, request) => {
          calls += 1;
          if (calls === 1) throw new TypeError("Cannot read properties of undefined (reading 'rows')");
          return runTask(deps, request);
        },
        log: createLogger({}, (line) => lines.push(line)),
      }),
    );
    try {
      const broken = await call(served.url, {
        token: token(),
        body: { task: "generate-daily-stats", dryRun: true },
      });
      expect(broken.status).toBe(500);
      expect(broken.body).toEqual({ error: { code: "internal", message: "internal error" } });
      expect(lines.some((line) => line.includes("reading 'rows'"))).toBe(true);
      const next = await call(served.url, {
        token: token(),
        body: { task: "generate-daily-stats", dryRun: true },
      });
      expect(next.status).toBe(200);
    } finally {
      await served.close();
    }
  });
});

describe("GET /health", () => {
  it("when an authenticated caller asks, then every catalog task is reported with its schedule, next run and history", async () => {
    await call(fn.url, { token: token(), body: { task: "generate-daily-stats" } });
    await db.pool.query("ALTER TABLE drivers RENAME COLUMN is_available TO available_now");
    try {
      await call(fn.url, { token: token(), body: { task: "driver-inactivity-check" } });
    } finally {
      await db.pool.query("ALTER TABLE drivers RENAME COLUMN available_now TO is_available");
    }
    const answer = await call(`${fn.url}/health`, { token: token() });
    expect(answer.status).toBe(200);
    const report = answer.body as unknown as {
      status: string;
      tasks: {
        task: string;
        nextRunAt: string;
        lastStatus: string | null;
        runs24h: number;
        failures24h: number;
        lastError: string | null;
        overdue: boolean;
        runner: string;
        timeZone: string;
      }[];
    };
    expect(report.tasks.map((task) => task.task)).toEqual([...taskNames]);
    const stats = report.tasks.find((task) => task.task === "generate-daily-stats");
    expect(stats).toMatchObject({
      lastStatus: "succeeded",
      runs24h: 1,
      failures24h: 0,
      overdue: false,
      runner: "cloud",
      timeZone: "UTC",
    });
    expect(Date.parse(stats?.nextRunAt ?? "")).toBeGreaterThan(Date.now());
    const drivers = report.tasks.find((task) => task.task === "driver-inactivity-check");
    expect(drivers).toMatchObject({ lastStatus: "failed", failures24h: 1 });
    expect(drivers?.lastError).toMatch(/is_available/);
    expect(report.status).toBe("attention");
  });
});

describe("logs", () => {
  it("when a request carries X-Cloud-Trace-Context, then its log lines carry the trace", async () => {
    const before = written.length;
    await call(fn.url, {
      token: token(),
      body: { task: "generate-daily-stats", dryRun: true },
      headers: { "x-cloud-trace-context": "105445aa7843bc8bf206b12000100000/1;o=1" },
    });
    const lines = written
      .slice(before)
      .join("")
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    const traced = lines.filter(
      (line) =>
        line["logging.googleapis.com/trace"] ===
        `projects/${PROJECT}/traces/105445aa7843bc8bf206b12000100000`,
    );
    expect(traced.length).toBeGreaterThanOrEqual(2);
    expect(
      traced.some((line) => line.task === "generate-daily-stats" && typeof line.runId === "string"),
    ).toBe(true);
  });

  it("when every request above has been served, then every line written is structured JSON and none holds a token, password or connection string", () => {
    const output = written.join("");
    // The check below means something: many tokens went through the function (how many of them
    // are distinct depends on how many were minted within one second).
    expect(tokensMinted).toBeGreaterThan(15);
    expect(tokensUsed.size).toBeGreaterThan(5);
    const lines = output.trim().split("\n");
    expect(lines.length).toBeGreaterThan(50);
    for (const line of lines) {
      const entry = JSON.parse(line) as { severity?: unknown; message?: unknown };
      expect(["DEBUG", "INFO", "NOTICE", "WARNING", "ERROR"]).toContain(entry.severity);
      expect(typeof entry.message).toBe("string");
    }
    for (const used of tokensUsed) {
      expect(output).not.toContain(used);
      // Not even the signature or the payload of one.
      expect(output).not.toContain(used.split(".")[1] ?? used);
    }
    expect(output).not.toMatch(/Bearer [A-Za-z0-9_-]{8,}/);
    expect(output).not.toContain(UNREACHABLE_PASSWORD);
    expect(output).not.toContain(db.url);
    expect(output).not.toMatch(/postgres(ql)?:\/\//);
    expect(output).not.toMatch(/\n\s+at .+:\d+:\d+/);
  });
});
