/**
 * The deployable bundle itself: built by `npm run build`'s code into a folder of its own, served
 * by the real `functions-framework` CLI in a child process, and called over HTTP with a real task
 * against the test database.
 */
import { readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { monitoringAgentEmail } from "../functions/gcp/google-identities.js";
import { writeEnvironment } from "../functions/core/config/environment.js";
import type { CertsServer, DevIdentity } from "../scripts/local/dev-identity.js";
import { createDevIdentity, serveCerts } from "../scripts/local/dev-identity.js";
import type { ServedFunction } from "./helpers/built-function.js";
import { buildFunction, serveBuilt } from "./helpers/built-function.js";
import { useTestDatabase } from "./helpers/database.js";
import { MAX_BODY_BYTES } from "../functions/gcp/router.js";
import { call } from "./helpers/function-server.js";
import { jsonOf, sendRaw, streamChunked } from "./helpers/raw-http.js";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const AUDIENCE = "https://scheduled-tasks-bundle-uc.a.run.app";
const SCHEDULER = "scheduler@demo-project.iam.gserviceaccount.com";
/** The identity of the dead-man uptime checks (infra/gcp/dead-man.ts), allowed as the stack allows it. */
const MONITORING_AGENT = monitoringAgentEmail("123456789012");

const db = useTestDatabase();
let built: Awaited<ReturnType<typeof buildFunction>>;
let identity: DevIdentity;
let certs: CertsServer;
let served: ServedFunction | undefined;
let url: string;
let output: string[] = [];

beforeAll(async () => {
  built = await buildFunction();
  identity = createDevIdentity({ audience: AUDIENCE, email: SCHEDULER });
  certs = await serveCerts(identity);
  served = await serveBuilt(
    built.outDir,
    writeEnvironment({
      DATABASE_URL: db.url,
      AUTH_AUDIENCE: [AUDIENCE],
      AUTH_ALLOWED_EMAILS: [SCHEDULER, MONITORING_AGENT],
      AUTH_CERTS_URL: certs.url,
    }),
  );
  url = served.url;
  output = served.output;
});

afterAll(async () => {
  await served?.stop();
  await certs?.close();
  built?.remove();
});

describe("the built function under functions-framework", () => {
  it("when the bundle is built, then it holds the task SQL, not the framework, and its package.json lists the framework", () => {
    const bundle = readFileSync(join(built.outDir, "index.js"), "utf8");
    expect(bundle).toContain("order_auto_cancel_minutes");
    expect(bundle).not.toContain("function_registry");
    // pg and the health report's cron library are chunks of their own, loaded after module load.
    expect(bundle).not.toContain("SCRAM-SHA-256");
    expect(built.files.some((file) => file.path.startsWith("chunks/pool-"))).toBe(true);
    expect(built.files.some((file) => file.path.startsWith("chunks/health-"))).toBe(true);
    // The dashboard's page, data and actions load on a dashboard request, never on a tick's.
    expect(bundle).not.toContain("operator_actions");
    expect(bundle).not.toContain("X-Scheduled-Jobs-Action");
    expect(built.files.some((file) => file.path.startsWith("chunks/dashboard-routes-"))).toBe(true);
    const manifest = JSON.parse(readFileSync(join(built.outDir, "package.json"), "utf8")) as Record<
      string,
      unknown
    >;
    const ours = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as {
      dependencies: Record<string, string>;
    };
    expect(manifest).toMatchObject({
      type: "module",
      main: "index.js",
      engines: { node: ">=22" },
      dependencies: {
        "@google-cloud/functions-framework": ours.dependencies["@google-cloud/functions-framework"],
        "@google-cloud/cloud-sql-connector": ours.dependencies["@google-cloud/cloud-sql-connector"],
        "@sendgrid/mail": ours.dependencies["@sendgrid/mail"],
        "@google-cloud/secret-manager": ours.dependencies["@google-cloud/secret-manager"],
      },
    });
  });

  it("when the scheduler posts a real task, then the bundle runs it against the database and answers 200", async () => {
    await db.pool.query(
      "INSERT INTO orders (status, placed_at) SELECT 'pending', now() - interval '2 hours' FROM generate_series(1, 3)",
    );
    const answer = await call(url, {
      token: identity.signIdToken(),
      body: { task: "auto-cancel-unconfirmed-orders" },
      headers: {
        "x-cloudscheduler-jobname": "auto-cancel-unconfirmed-orders",
        // A tick of the every-minute job, from the clock: a schedule time a year away is refused.
        "x-cloudscheduler-scheduletime": new Date(
          Math.floor(Date.now() / 60_000) * 60_000 - 60_000,
        ).toISOString(),
      },
    });
    expect(answer.status).toBe(200);
    expect(answer.body).toMatchObject({ status: "succeeded", rowsAffected: 3 });
    const runs = await db.pool.query("SELECT trigger, status FROM scheduler.job_runs");
    expect(runs.rows).toEqual([{ trigger: "scheduler", status: "succeeded" }]);
  });

  it("when an email task is posted, then its lazily loaded chunk and external SDK run it", async () => {
    const answer = await call(url, {
      token: identity.signIdToken(),
      body: { task: "send-daily-vendor-reports", dryRun: true },
    });
    expect(answer.status).toBe(200);
    expect(answer.body).toMatchObject({ status: "succeeded", dryRun: true });
  });

  it("when the body is malformed JSON, then the framework's parser error comes back in the JSON error shape", async () => {
    const answer = await call(url, {
      method: "POST",
      token: identity.signIdToken(),
      raw: '{"task": ',
      headers: { "content-type": "application/json" },
    });
    expect(answer.status).toBe(400);
    expect(answer.headers.get("content-type")).toMatch(/^application\/json/);
    expect(answer.body.error?.code).toBe("bad_request");
    expect(answer.text).not.toMatch(/SyntaxError|<html|node_modules/i);
  });

  it("when /health is asked with a token, then the lazily loaded health chunk answers", async () => {
    const answer = await call(`${url}/health`, { token: identity.signIdToken() });
    expect(answer.status).toBe(200);
    expect((answer.body as { tasks?: unknown[] }).tasks?.length).toBeGreaterThan(0);
  });

  it("when a body is sent in UTF-16 or repeats a key, then the framework does not get to run it: 415 and 400", async () => {
    const port = Number(new URL(url).port);
    const json = '{"task":"driver-inactivity-check","dryRun":true}';
    const headers = (contentType: string): [string, string][] => [
      ["content-type", contentType],
      ["authorization", `Bearer ${identity.signIdToken()}`],
    ];
    const utf16 = await sendRaw(port, {
      method: "POST",
      path: "/",
      headers: headers("application/json; charset=utf-16"),
      body: Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(json, "utf16le")]),
    });
    expect(utf16.status).toBe(415);
    expect(jsonOf(utf16)).toMatchObject({ error: { code: "unsupported_media_type" } });
    const repeated = await sendRaw(port, {
      method: "POST",
      path: "/",
      headers: headers("application/json"),
      body: Buffer.from('{"task":"driver-inactivity-check","task":"archive-old-orders","dryRun":true}'),
    });
    expect(repeated.status).toBe(400);
    expect(jsonOf(repeated)).toMatchObject({
      error: { message: 'the body repeats the key "task" (ambiguous JSON)' },
    });
    const runs = await db.pool.query(
      "SELECT 1 FROM scheduler.job_runs WHERE task = 'driver-inactivity-check'",
    );
    expect(runs.rows).toEqual([]);
  });

  it("when a request repeats its Authorization header, then 400 whichever copy is valid", async () => {
    const port = Number(new URL(url).port);
    for (const pair of [
      [`Bearer ${identity.signIdToken()}`, "Bearer x.y.z"],
      ["Bearer x.y.z", `Bearer ${identity.signIdToken()}`],
    ]) {
      const answer = await sendRaw(port, {
        method: "GET",
        path: "/health",
        headers: pair.map((value) => ["authorization", value] as const),
      });
      expect(answer.status).toBe(400);
      expect(jsonOf(answer)).toMatchObject({ error: { code: "bad_request" } });
    }
  });

  it("when a body comes without a declared length, then one under the limit runs and one past it is refused while it is still being sent", async () => {
    const port = Number(new URL(url).port);
    const headers: [string, string][] = [
      ["content-type", "application/json"],
      ["authorization", `Bearer ${identity.signIdToken()}`],
    ];
    const small = await sendRaw(port, {
      method: "POST",
      path: "/",
      headers,
      body: Buffer.from(
        JSON.stringify({ task: "driver-inactivity-check", dryRun: true }).padEnd(MAX_BODY_BYTES),
      ),
      chunked: true,
    });
    expect(small.status).toBe(200);
    expect(jsonOf(small)).toMatchObject({ status: "succeeded", dryRun: true });
    const huge = await streamChunked(port, { path: "/", headers, totalBytes: 64 * 1024 * 1024 });
    expect(huge.status).toBe(413);
    expect(jsonOf(huge)).toMatchObject({ error: { code: "payload_too_large" } });
    expect(huge.bodyFinished).toBe(false);
  });

  it("when GET /runs names a task without a token, then 401 whether the task exists or not", async () => {
    for (const task of ["no-such-task", "driver-inactivity-check"]) {
      const answer = await call(`${url}/runs?task=${task}`);
      expect(answer.status).toBe(401);
      expect(answer.text).not.toContain("unknown task");
    }
  });

  it("when /health names one task, then 200 with its entry until it is overdue, 503 with the same entry while it is, and 200 again once it succeeds", async () => {
    const task = "generate-daily-stats";
    const health = () =>
      call(`${url}/health?task=${task}`, { token: identity.signIdToken({ email: MONITORING_AGENT }) });
    // The history is this file's runs, minutes old: no daily tick fell since, so nothing is missed.
    const fresh = await health();
    expect(fresh.status).toBe(200);
    expect(fresh.body).toMatchObject({ task, overdue: false, paused: false });
    // A history reaching back eight days shows the scheduler was running at the task's last tick.
    await db.pool.query(
      `INSERT INTO scheduler.job_runs (task, trigger, status, started_at, finished_at)
       VALUES ('cleanup-expired-sessions', 'manual', 'succeeded', now() - interval '8 days', now() - interval '8 days')`,
    );
    const missed = await health();
    expect(missed.status).toBe(503);
    expect(missed.headers.get("content-type")).toMatch(/^application\/json/);
    expect(missed.body).toMatchObject({ task, overdue: true, lastSuccessAt: null });
    // Logged as a warning: the function did not fail, and an ERROR line every check would be noise.
    // The line is written after the answer is sent: wait for it.
    const requestLines = () =>
      output
        .join("")
        .split("\n")
        .filter((line) => line.startsWith("{"))
        .map((line) => JSON.parse(line) as { severity?: string; message?: string })
        .filter((entry) => entry.message === "GET /health: 503");
    for (let waited = 0; requestLines().length === 0 && waited < 5000; waited += 20) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(requestLines().map((entry) => entry.severity)).toEqual(["WARNING"]);
    // A manual run after the missed tick repairs it (health.ts: the one overdue rule).
    await db.pool.query(
      `INSERT INTO scheduler.job_runs (task, trigger, status, started_at, finished_at)
       VALUES ($1, 'manual', 'succeeded', now(), now())`,
      [task],
    );
    const repaired = await health();
    expect(repaired.status).toBe(200);
    expect(repaired.body).toMatchObject({ task, overdue: false });
    await db.pool.query(
      "DELETE FROM scheduler.job_runs WHERE task IN ($1, 'cleanup-expired-sessions') AND trigger = 'manual'",
      [task],
    );
  });

  it("when /health names no known task or adds a parameter, then 404 with the task list or 400", async () => {
    const token = identity.signIdToken();
    const unknown = await call(`${url}/health?task=no-such-task`, { token });
    expect(unknown.status).toBe(404);
    expect(unknown.body.error).toMatchObject({ code: "not_found" });
    expect(unknown.body.error?.tasks).toContain("generate-daily-stats");
    for (const query of ["task=generate-daily-stats&verbose=1", "task=", "task=a&task=b"]) {
      const refused = await call(`${url}/health?${query}`, { token });
      expect(refused.status, query).toBe(400);
      expect(refused.body.error?.code, query).toBe("bad_request");
    }
  });

  it("when the Monitoring service agent calls anything but GET /health, then 403 and nothing runs", async () => {
    const token = identity.signIdToken({ email: MONITORING_AGENT });
    const run = await call(url, { token, body: { task: "driver-inactivity-check" } });
    expect(run.status).toBe(403);
    expect(run.body.error).toMatchObject({ code: "forbidden" });
    expect(run.body.error?.message).toMatch(/may only call GET \/health/);
    for (const path of ["/runs", "/dashboard"]) {
      expect((await call(`${url}${path}`, { token })).status, path).toBe(403);
    }
    const runs = await db.pool.query(
      "SELECT 1 FROM scheduler.job_runs WHERE task = 'driver-inactivity-check' AND NOT dry_run",
    );
    expect(runs.rows).toEqual([]);
    // The scheduler's identity is unaffected.
    expect((await call(`${url}/runs`, { token: identity.signIdToken() })).status).toBe(200);
  });

  it("when requests have been served, then the process logged only structured JSON after the framework's banner", () => {
    const lines = output
      .join("")
      .split("\n")
      .filter((line) => line.startsWith("{"));
    expect(lines.length).toBeGreaterThan(3);
    for (const line of lines) expect(() => JSON.parse(line) as unknown).not.toThrow();
    expect(output.join("")).not.toMatch(/\n\s+at .+:\d+:\d+/);
  });
});
