/**
 * The dashboard's routes over real HTTP, against the function in-process and a real database: an
 * operator's actions (pause, resume, run now, replay a failed tick) and who may take them, the
 * browser checks that stop a forged request (OWASP's CSRF cheat sheet: no action on a GET, JSON
 * only, a custom header, Fetch Metadata, a loopback Origin), and the pages' data routes.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createAuthenticator } from "../functions/gcp/auth.js";
import { ACTION_HEADER } from "../functions/gcp/action-guard.js";
import { gcloudUserAudience, monitoringAgentEmail } from "../functions/gcp/google-identities.js";
import { createHandler } from "../functions/gcp/router.js";
import { parseConfig } from "../functions/core/config/function-config.js";
import { writeEnvironment } from "../functions/core/config/environment.js";
import { createLogger } from "../functions/core/log.js";
import { runTask } from "../functions/core/run/runner.js";
import type { CertsServer, DevIdentity } from "../scripts/local/dev-identity.js";
import { createDevIdentity, serveCerts } from "../scripts/local/dev-identity.js";
import { useTestDatabase } from "./helpers/database.js";
import type { JsonAnswer, RunningFunction } from "./helpers/function-server.js";
import { call, serveHandler, startFunction } from "./helpers/function-server.js";

const AUDIENCE = "http://localhost:8080";
const SCHEDULER = "scheduler@demo-project.iam.gserviceaccount.com";
const OPERATOR = "alice@example.com";
const MONITORING = monitoringAgentEmail("123456789012");
/** What the dashboard's own page sends with an action. */
const PAGE = { [ACTION_HEADER]: "1", origin: "http://localhost:8081", "sec-fetch-site": "same-origin" };

const db = useTestDatabase();
let identity: DevIdentity;
let certs: CertsServer;
let fn: RunningFunction;
let env: Record<string, string>;
const quiet = createLogger({}, () => undefined);

beforeAll(async () => {
  identity = createDevIdentity({ audience: AUDIENCE, email: SCHEDULER });
  certs = await serveCerts(identity);
  env = writeEnvironment({
    DATABASE_URL: db.url,
    AUTH_AUDIENCE: [AUDIENCE],
    AUTH_ALLOWED_EMAILS: [SCHEDULER, MONITORING],
    OPERATOR_EMAILS: [OPERATOR],
    AUTH_CERTS_URL: certs.url,
  });
  fn = await startFunction({ env, log: quiet });
});

afterAll(async () => {
  await fn?.close();
  await certs?.close();
});

const operator = (claims = {}) => identity.signIdToken({ email: OPERATOR, ...claims });
const scheduler = () => identity.signIdToken();

function action(
  path: string,
  body: unknown,
  init: { token?: string; headers?: Record<string, string> } = {},
) {
  return call(`${fn.url}${path}`, {
    ...(init.token !== undefined ? { token: init.token } : {}),
    body,
    headers: init.headers ?? PAGE,
  });
}

/** Everything an action could have changed. */
async function state(): Promise<unknown> {
  const [pauses, runs, actions] = await Promise.all([
    db.pool.query("SELECT * FROM scheduler.task_pauses ORDER BY task"),
    db.pool.query("SELECT id, task, status, trigger FROM scheduler.job_runs ORDER BY id"),
    db.pool.query("SELECT id FROM scheduler.operator_actions ORDER BY id"),
  ]);
  return { pauses: pauses.rows, runs: runs.rows, actions: actions.rows };
}

function refusedWith(answer: JsonAnswer, status: number, code: string, message?: RegExp): void {
  expect(answer.status, answer.text).toBe(status);
  expect(answer.body.error?.code).toBe(code);
  if (message) expect(answer.body.error?.message).toMatch(message);
}

describe("who may act, and how a browser's request must look", () => {
  it("when an action is asked with GET, then 405 with Allow: POST and nothing changes", async () => {
    const before = await state();
    for (const path of ["/actions/pause", "/actions/resume", "/actions/run", "/actions/replay"]) {
      const answer = await call(`${fn.url}${path}?task=generate-daily-stats&reason=x`, { token: operator() });
      refusedWith(answer, 405, "method_not_allowed");
      expect(answer.headers.get("allow")).toBe("POST");
    }
    expect(await state()).toEqual(before);
  });

  it("when a request lacks what only the dashboard's page sends, then 403 (or 415) before the token is read, and nothing changes", async () => {
    const before = await state();
    const body = { task: "generate-daily-stats", reason: "forged" };
    const forged: [Record<string, string>, number, string, RegExp][] = [
      [{}, 403, "forbidden", /X-Scheduled-Jobs-Action/],
      [{ [ACTION_HEADER]: "yes" }, 403, "forbidden", /X-Scheduled-Jobs-Action/],
      [{ ...PAGE, "sec-fetch-site": "cross-site" }, 403, "forbidden", /another site/],
      // Another port of localhost is the same site, another origin.
      [{ ...PAGE, "sec-fetch-site": "same-site" }, 403, "forbidden", /another site/],
      [{ ...PAGE, origin: "https://evil.example" }, 403, "forbidden", /not a loopback origin/],
      // A page that reached the proxy's port through DNS rebinding keeps its own name as origin.
      [{ ...PAGE, origin: "http://rebound.evil.example:8081" }, 403, "forbidden", /not a loopback origin/],
      [{ ...PAGE, origin: "null" }, 403, "forbidden", /not a loopback origin/],
    ];
    for (const [headers, status, code, message] of forged) {
      // No token at all: the browser check comes first and reveals nothing about tokens.
      refusedWith(await action("/actions/pause", body, { headers }), status, code, message);
      refusedWith(
        await action("/actions/pause", body, { headers, token: operator() }),
        status,
        code,
        message,
      );
    }
    // A form can post only simple types: text/plain is refused even with the header.
    const plain = await call(`${fn.url}/actions/pause`, {
      token: operator(),
      raw: JSON.stringify(body),
      headers: { ...PAGE, "content-type": "text/plain" },
    });
    refusedWith(plain, 415, "unsupported_media_type");
    expect(await state()).toEqual(before);
  });

  it("when an action comes without a token, or with a caller who is not an operator, then 401 or 403 and nothing changes", async () => {
    const before = await state();
    const body = { task: "generate-daily-stats", reason: "not yours" };
    refusedWith(await action("/actions/pause", body), 401, "unauthenticated");
    refusedWith(await action("/actions/pause", body, { token: "not-a-token" }), 401, "unauthenticated");
    // The scheduler's account may run tasks, not pause them.
    refusedWith(
      await action("/actions/pause", body, { token: scheduler() }),
      403,
      "forbidden",
      /not an operator/,
    );
    refusedWith(
      await action("/actions/run", { task: "generate-daily-stats" }, { token: scheduler() }),
      403,
      "forbidden",
    );
    refusedWith(
      await action("/actions/pause", body, { token: identity.signIdToken({ email: MONITORING }) }),
      403,
      "forbidden",
      /Monitoring service agent/,
    );
    refusedWith(
      await action("/actions/pause", body, { token: identity.signIdToken({ email: "mallory@example.com" }) }),
      403,
      "forbidden",
    );
    expect(await state()).toEqual(before);
    // ... and the scheduler's account still runs tasks.
    const run = await call(fn.url, {
      token: scheduler(),
      body: { task: "generate-daily-stats", dryRun: true },
    });
    expect(run.status, run.text).toBe(200);
  });

  it("when an operator's token carries gcloud's own audience (gcloud run services proxy), then it is accepted; the scheduler's is not", async () => {
    const viaProxy = await call(`${fn.url}/dashboard/task?task=generate-daily-stats`, {
      token: operator({ aud: gcloudUserAudience }),
    });
    expect(viaProxy.status, viaProxy.text).toBe(200);
    expect(viaProxy.body.viewer).toEqual({ email: OPERATOR, operator: true });
    const schedulers = await call(`${fn.url}/health`, {
      token: identity.signIdToken({ aud: gcloudUserAudience }),
    });
    refusedWith(schedulers, 401, "unauthenticated", /AUTH_AUDIENCE/);
  });

  it("when OPERATOR_EMAILS names an account AUTH_ALLOWED_EMAILS lists, then the function refuses to start with that problem", () => {
    const parsed = parseConfig({ ...env, OPERATOR_EMAILS: `${OPERATOR},${SCHEDULER.toUpperCase()}` });
    expect(parsed.config).toBeUndefined();
    expect(parsed.problems.join("\n")).toMatch(/OPERATOR_EMAILS lists scheduler@demo-project/);
  });
});

describe("an operator's actions, recorded with who took them", () => {
  it("when an operator pauses a task with a reason and an end, then its ticks answer paused, /health shows who, why and until, and resume ends it", async () => {
    const until = new Date(Date.now() + 2 * 3600_000);
    until.setUTCMilliseconds(0);
    const paused = await action(
      "/actions/pause",
      { task: "cleanup-orphaned-menus", reason: "  menus migration running  ", until: until.toISOString() },
      { token: operator() },
    );
    expect(paused.status, paused.text).toBe(200);
    expect(paused.body).toMatchObject({
      action: "pause",
      task: "cleanup-orphaned-menus",
      ran: false,
      pause: { pausedBy: OPERATOR, reason: "menus migration running", until: until.toISOString() },
    });
    const health = await call(`${fn.url}/health?task=cleanup-orphaned-menus`, { token: scheduler() });
    expect(health.body).toMatchObject({
      paused: true,
      pause: { pausedBy: OPERATOR, until: until.toISOString() },
    });
    const tick = await call(fn.url, { token: scheduler(), body: { task: "cleanup-orphaned-menus" } });
    expect(tick.body.status).toBe("paused");

    const resumed = await action(
      "/actions/resume",
      { task: "cleanup-orphaned-menus" },
      { token: operator() },
    );
    expect(resumed.body).toMatchObject({ action: "resume", pause: { resumedBy: OPERATOR } });
    const again = await action("/actions/resume", { task: "cleanup-orphaned-menus" }, { token: operator() });
    expect(again.body.outcome).toBe("was not paused at run time: nothing to do");

    const recorded = await db.pool.query<{
      operator: string;
      action: string;
      outcome: string;
      request: unknown;
    }>(
      "SELECT operator, action, outcome, request FROM scheduler.operator_actions WHERE task = 'cleanup-orphaned-menus' ORDER BY id",
    );
    expect(recorded.rows.map((row) => [row.operator, row.action])).toEqual([
      [OPERATOR, "pause"],
      [OPERATOR, "resume"],
      [OPERATOR, "resume"],
    ]);
    expect(recorded.rows[0]!.request).toEqual({
      reason: "menus migration running",
      until: until.toISOString(),
    });
  });

  it("when a pause's fields are wrong, then 400 naming the field and nothing is paused", async () => {
    const before = await state();
    const cases: [unknown, RegExp][] = [
      [{ task: "cleanup-orphaned-menus" }, /reason is required/],
      [{ task: "cleanup-orphaned-menus", reason: " " }, /reason is required/],
      [{ task: "cleanup-orphaned-menus", reason: "x".repeat(501) }, /longer than 500/],
      [{ task: "cleanup-orphaned-menus", reason: "x", until: "tomorrow" }, /RFC 3339/],
      [{ task: "cleanup-orphaned-menus", reason: "x", until: "2001-01-01T00:00:00Z" }, /not in the future/],
      [{ task: "cleanup-orphaned-menus", reason: "x", until: "2999-01-01T00:00:00Z" }, /more than a year/],
      [{ task: "cleanup-orphaned-menus", reason: "x", by: "someone-else" }, /unknown field\(s\) "by"/],
      [[], /JSON object/],
    ];
    for (const [body, message] of cases) {
      refusedWith(await action("/actions/pause", body, { token: operator() }), 400, "bad_request", message);
    }
    refusedWith(
      await action("/actions/pause", { task: "no-such-task", reason: "x" }, { token: operator() }),
      404,
      "not_found",
    );
    expect(await state()).toEqual(before);
  });

  it("when an operator runs a task now as a dry run, then it is a manual run that changes nothing, recorded with its run", async () => {
    const answer = await action(
      "/actions/run",
      { task: "driver-inactivity-check", dryRun: true },
      { token: operator() },
    );
    expect(answer.status, answer.text).toBe(200);
    expect(answer.body).toMatchObject({
      action: "run",
      ran: true,
      run: { status: "succeeded", dryRun: true },
    });
    expect(answer.body.outcome).toMatch(/^succeeded \(dry run\): \d+ row\(s\) would change$/);
    const runId = (answer.body.run as { runId: string }).runId;
    const run = await db.pool.query(
      "SELECT trigger, dry_run, schedule_time FROM scheduler.job_runs WHERE id = $1",
      [runId],
    );
    expect(run.rows[0]).toEqual({ trigger: "manual", dry_run: true, schedule_time: null });
    const recorded = await db.pool.query(
      "SELECT operator, run_id FROM scheduler.operator_actions WHERE id = $1",
      [answer.body.actionId],
    );
    expect(recorded.rows[0]).toEqual({ operator: OPERATOR, run_id: runId });
  });
});

describe("the pages' data", () => {
  it("when the task page is read, then it has the task's schedule, next fire times, actions and log query, and says whether the reader may act", async () => {
    const page = await call(`${fn.url}/dashboard/task?task=generate-daily-stats`, { token: scheduler() });
    expect(page.status, page.text).toBe(200);
    expect(page.body.viewer).toEqual({ email: SCHEDULER, operator: false });
    expect(page.body.task).toMatchObject({
      name: "generate-daily-stats",
      schedule: "5 0 * * *",
      timeZone: "UTC",
    });
    expect(page.body.task).toMatchObject({ kind: "sql", call: null });
    const httpPage = await call(`${fn.url}/dashboard/task?task=push-driver-notifications`, {
      token: scheduler(),
    });
    expect(httpPage.body.task).toMatchObject({
      kind: "http",
      call: "POST /internal/jobs/push-driver-notifications on app-backend",
    });
    expect(page.body.nextFireTimes).toHaveLength(5);
    expect(page.body.logQuery).toBe(
      'resource.type="cloud_run_revision"\nAND jsonPayload.task="generate-daily-stats"',
    );
    for (const query of ["", "?task=", "?task=a&task=b", "?task=generate-daily-stats&x=1"]) {
      refusedWith(await call(`${fn.url}/dashboard/task${query}`, { token: scheduler() }), 400, "bad_request");
    }
    refusedWith(await call(`${fn.url}/dashboard/task?task=nope`, { token: scheduler() }), 404, "not_found");
    refusedWith(await call(`${fn.url}/dashboard/task?task=nope`), 401, "unauthenticated");
  });

  it("when /runs is filtered by status, trigger and time, then it answers only those runs", async () => {
    await db.pool.query(`
      INSERT INTO scheduler.job_runs (task, trigger, status, started_at, finished_at, duration_ms, error_code, message)
      VALUES ('purge-run-history', 'scheduler', 'failed', '2026-03-01T10:00:00Z', '2026-03-01T10:00:01Z', 1000, 'task_failed', 'boom'),
             ('purge-run-history', 'cli', 'succeeded', '2026-03-02T10:00:00Z', '2026-03-02T10:00:01Z', 1000, NULL, NULL)`);
    const runs = async (query: string) =>
      (await call(`${fn.url}/runs?task=purge-run-history&${query}`, { token: scheduler() })).body.runs as {
        status: string;
        trigger: string;
      }[];
    expect((await runs("status=failed")).map((r) => r.status)).toEqual(["failed"]);
    expect((await runs("trigger=cli")).map((r) => r.trigger)).toEqual(["cli"]);
    expect(await runs("since=2026-03-02T00:00:00Z&until=2026-03-03T00:00:00Z")).toHaveLength(1);
    expect(await runs("until=2026-03-02T00:00:00Z")).toHaveLength(1);
    for (const query of [
      "status=broken",
      "since=yesterday",
      "trigger=DROP TABLE",
      "status=failed&status=succeeded",
    ]) {
      refusedWith(await call(`${fn.url}/runs?${query}`, { token: scheduler() }), 400, "bad_request");
    }
  });

  it("when the email side is read, then it has the outbox's depth and oldest pending, the dead emails with the requeue command, and the local mailbox", async () => {
    await db.pool.query(`
      INSERT INTO scheduler.email_outbox (kind, recipient, status, attempts, last_error, created_at)
      VALUES ('order-confirmation', 'a@example.com', 'pending', 0, NULL, '2026-03-01T09:00:00Z'),
             ('order-confirmation', 'b@example.com', 'pending', 1, NULL, '2026-03-01T10:00:00Z'),
             ('order-confirmation', 'c@example.com', 'dead', 5, '550 mailbox unavailable', '2026-03-01T08:00:00Z');
      INSERT INTO scheduler.local_mailbox (message_id, recipient, subject, body)
      VALUES ('local-1', 'a@example.com', 'Your order #1 is confirmed', 'Good news');`);
    const side = await call(`${fn.url}/dashboard/email`, { token: scheduler() });
    expect(side.status, side.text).toBe(200);
    expect(side.body.outbox).toEqual([
      {
        kind: "order-confirmation",
        pending: 2,
        sending: 0,
        dead: 1,
        sent: 0,
        oldestPendingAt: "2026-03-01T09:00:00.000Z",
      },
    ]);
    expect(side.body.dead).toMatchObject([
      { recipient: "c@example.com", attempts: 5, lastError: "550 mailbox unavailable" },
    ]);
    expect(side.body.senders).toEqual({
      "order-confirmation": {
        task: "send-order-confirmations",
        requeue: "npm run cli -- requeue --task send-order-confirmations",
      },
    });
    expect(side.body.mailbox).toMatchObject([{ subject: "Your order #1 is confirmed", body: "Good news" }]);
  });
});

describe("a replay of one failed tick, at a pinned time", () => {
  const NOW = new Date("2026-03-10T12:00:00Z");
  let pinned: { url: string; close(): Promise<void> };

  beforeAll(async () => {
    const { config } = parseConfig(env);
    pinned = await serveHandler(
      createHandler({
        authenticator: createAuthenticator(config!.auth, { log: quiet }),
        jobs: config!.jobs,
        pool: async () => db.pool,
        runTask,
        log: quiet,
        now: () => NOW,
      }),
    );
  });

  afterAll(async () => pinned?.close());

  it("when an operator replays a failed tick still missed, then it runs with that tick as slot (trigger replay); a second replay is left alone", async () => {
    // update-restaurant-ratings runs at 01:00 UTC daily; its 2026-03-08 tick failed and nothing did its work since.
    const failed = await db.pool.query<{ id: string }>(`
      INSERT INTO scheduler.job_runs (task, trigger, schedule_time, status, started_at, finished_at, duration_ms, error_code, message)
      VALUES ('update-restaurant-ratings', 'scheduler', '2026-03-08T01:00:00Z', 'failed', '2026-03-08T01:00:01Z',
              '2026-03-08T01:00:02Z', 900, 'task_failed', 'deadlock detected')
      RETURNING id`);
    const runId = failed.rows[0]!.id;
    const page = await call(`${pinned.url}/dashboard/run?id=${runId}`, { token: operator() });
    expect(page.body.replay).toEqual({ possible: true, why: null });
    expect(page.body.logQuery).toBe(
      `resource.type="cloud_run_revision"\nAND jsonPayload.runId="${runId}"\nAND timestamp>="2026-03-08T00:59:01.000Z"\nAND timestamp<="2026-03-08T01:01:02.000Z"`,
    );

    const replayed = await call(`${pinned.url}/actions/replay`, {
      token: operator(),
      body: { runId },
      headers: PAGE,
    });
    expect(replayed.status, replayed.text).toBe(200);
    expect(replayed.body).toMatchObject({ action: "replay", ran: true, run: { status: "succeeded" } });
    const runs = await db.pool.query(
      "SELECT trigger, status FROM scheduler.job_runs WHERE task = 'update-restaurant-ratings' AND schedule_time = '2026-03-08T01:00:00Z' ORDER BY id",
    );
    expect(runs.rows).toEqual([
      { trigger: "scheduler", status: "failed" },
      { trigger: "replay", status: "succeeded" },
    ]);
    const again = await call(`${pinned.url}/actions/replay`, {
      token: operator(),
      body: { runId },
      headers: PAGE,
    });
    expect(again.body).toMatchObject({ ran: false, outcome: "left alone: it succeeded since" });
    const after = await call(`${pinned.url}/dashboard/run?id=${runId}`, { token: operator() });
    expect(after.body.replay).toEqual({ possible: false, why: "it succeeded since" });
    expect((after.body.tickRuns as unknown[]).length).toBe(2);
  });

  it("when the run to replay is no failed tick, then 400 or 404 and nothing runs", async () => {
    const manual = await db.pool.query<{ id: string }>(`
      INSERT INTO scheduler.job_runs (task, trigger, status, started_at, finished_at, duration_ms, error_code, message)
      VALUES ('update-restaurant-ratings', 'manual', 'failed', '2026-03-09T05:00:00Z', '2026-03-09T05:00:01Z', 10, 'task_failed', 'x')
      RETURNING id`);
    const before = await state();
    const replay = (runId: unknown) =>
      call(`${pinned.url}/actions/replay`, { token: operator(), body: { runId }, headers: PAGE });
    refusedWith(await replay(manual.rows[0]!.id), 400, "bad_request", /not a failed run of a tick/);
    refusedWith(await replay("999999999"), 404, "not_found");
    refusedWith(await replay(12), 400, "bad_request", /runId must be/);
    expect(await state()).toEqual(before);
  });
});
