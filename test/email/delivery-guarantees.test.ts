/**
 * No email is lost: the deployable bundle under functions-framework, the real SendGrid SDK against
 * the fake SendGrid over real HTTP, and the faults of issue 13, one per test. Each test lets the
 * fault clear and then checks that every queued email reached SendGrid exactly once (at least once,
 * marked by custom_args.email_key, for a 202 whose answer was lost), and that no run answered
 * success for an email SendGrid was not handed.
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { tasks } from "../../functions/core/catalog.js";
import { writeEnvironment } from "../../functions/core/config/environment.js";
import { resolveJobs } from "../../functions/core/schedule/jobs.js";
import { previousFireTime } from "../../functions/core/schedule/fire-times.js";
import { main as cli } from "../../scripts/cli.js";
import type { CertsServer, DevIdentity } from "../../scripts/local/dev-identity.js";
import { createDevIdentity, serveCerts } from "../../scripts/local/dev-identity.js";
import type { ServedFunction } from "../helpers/built-function.js";
import { buildFunction, serveBuilt } from "../helpers/built-function.js";
import { useTestDatabase } from "../helpers/database.js";
import { MAIL_FROM, OPS_EMAIL, useFakeSendGrid } from "../helpers/email.js";
import type { JsonAnswer } from "../helpers/function-server.js";
import { call } from "../helpers/function-server.js";

const AUDIENCE = "https://scheduled-tasks-delivery-uc.a.run.app";
const SCHEDULER = "scheduler@demo-project.iam.gserviceaccount.com";
const CONFIRMATIONS = "send-order-confirmations";
const REPORTS = "send-daily-vendor-reports";

const db = useTestDatabase();
const sendGrid = useFakeSendGrid(db);
let built: Awaited<ReturnType<typeof buildFunction>>;
let identity: DevIdentity;
let certs: CertsServer;
const served: ServedFunction[] = [];

beforeAll(async () => {
  built = await buildFunction();
  identity = createDevIdentity({ audience: AUDIENCE, email: SCHEDULER });
  certs = await serveCerts(identity);
});

afterAll(async () => {
  for (const fn of served) await fn.stop();
  await certs?.close();
  built?.remove();
});

/** An instance of the built function; `withKey: false` is a deployment whose secret is missing. */
async function instance(options: { withKey: boolean }): Promise<ServedFunction> {
  const fn = await serveBuilt(
    built.outDir,
    writeEnvironment({
      NODE_ENV: "production",
      DATABASE_URL: db.url,
      AUTH_AUDIENCE: [AUDIENCE],
      AUTH_ALLOWED_EMAILS: [SCHEDULER],
      AUTH_CERTS_URL: certs.url,
      MAIL_FROM,
      OPS_EMAIL,
      ...(options.withKey
        ? { SENDGRID_API_KEY: sendGrid.fake.apiKey, SENDGRID_BASE_URL: sendGrid.fake.url }
        : {}),
    }),
  );
  served.push(fn);
  return fn;
}

function post(fn: ServedFunction, task: string, headers: Record<string, string> = {}): Promise<JsonAnswer> {
  return call(fn.url, { token: identity.signIdToken(), body: { task }, headers });
}

/** `count` orders confirmed by the app, each queueing one confirmation to customer<i>@example.com. */
async function confirmOrders(count: number): Promise<void> {
  await db.pool.query("INSERT INTO restaurants (name, email) VALUES ('Pizza Uno', 'uno@example.com')");
  await db.pool.query(
    `INSERT INTO orders (restaurant_id, status, total_amount, customer_email)
     SELECT 1, 'confirmed', 12.5, 'customer' || i || '@example.com' FROM generate_series(1, $1::int) AS i`,
    [count],
  );
}

async function outbox(): Promise<Record<string, number>> {
  const result = await db.pool.query<{ status: string; n: number }>(
    "SELECT status, count(*)::int AS n FROM scheduler.email_outbox GROUP BY status",
  );
  return Object.fromEntries(result.rows.map((row) => [row.status, row.n]));
}

/** How often SendGrid accepted an email for each address (the ops alert left out). */
function deliveredTo(): Map<string, number> {
  const counts = new Map<string, number>();
  for (const email of sendGrid.fake.emails) {
    if (email.to === OPS_EMAIL) continue;
    counts.set(email.to, (counts.get(email.to) ?? 0) + 1);
  }
  return counts;
}

function expectEachOnce(addresses: readonly string[]): void {
  const counts = deliveredTo();
  expect([...counts.keys()].sort()).toEqual([...addresses].sort());
  expect([...counts.values()].every((n) => n === 1)).toBe(true);
}

const customers = (count: number): string[] =>
  Array.from({ length: count }, (_, i) => `customer${i + 1}@example.com`);

/** The outbox's next attempts come due now: the hours a retry schedule spans, in a moment. */
async function timePasses(): Promise<void> {
  await db.pool.query("UPDATE scheduler.email_outbox SET next_attempt_at = now() WHERE status = 'pending'");
}

describe("no email is lost", () => {
  it("when an instance has no SendGrid key, then the email task answers 503 and every email stays queued, SQL tasks run, the CLI drains nothing, and a keyed instance sends each once", async () => {
    await confirmOrders(5);
    await db.pool.query(
      "INSERT INTO orders (status, placed_at) VALUES ('pending', now() - interval '2 hours')",
    );
    const keyless = await instance({ withKey: false });

    const refused = await post(keyless, CONFIRMATIONS);
    expect(refused.status).toBe(503);
    expect(refused.body.error).toMatchObject({ code: "unavailable" });
    expect(refused.body.error?.message).toMatch(/no SendGrid key is configured/);
    const queued = await db.pool.query("SELECT status, attempts FROM scheduler.email_outbox");
    expect(queued.rows).toEqual(Array.from({ length: 5 }, () => ({ status: "pending", attempts: 0 })));
    expect((await db.pool.query("SELECT 1 FROM scheduler.local_mailbox")).rows).toEqual([]);
    expect(sendGrid.fake.calls).toEqual([]);

    const sql = await post(keyless, "auto-cancel-unconfirmed-orders");
    expect(sql.status).toBe(200);
    expect(sql.body).toMatchObject({ status: "succeeded", rowsAffected: 1 });

    // An operator's shell without the key: the CLI's direct run must not drain the outbox either.
    const out: string[] = [];
    const code = await cli(["run", CONFIRMATIONS, "--direct"], {
      env: { DATABASE_URL: db.url },
      out: (text) => out.push(text),
      err: (text) => out.push(text),
      now: () => new Date(),
      root: mkdtempSync(join(tmpdir(), "sj-requeue-")),
    });
    expect(code).not.toBe(0);
    expect(out.join("\n")).toMatch(/no SendGrid key is configured/);
    expect(await outbox()).toEqual({ pending: 5 });
    await keyless.stop();

    const keyed = await instance({ withKey: true });
    const sent = await post(keyed, CONFIRMATIONS);
    expect(sent.status).toBe(200);
    expect(sent.body).toMatchObject({ status: "succeeded", rowsAffected: 5 });
    expectEachOnce(customers(5));
    expect(await outbox()).toEqual({ sent: 5 });
    await keyed.stop();
  });

  it("when the instance dies mid-run, then Cloud Scheduler's retry of the same tick resumes the reports the dead run claimed, and each vendor gets one", async () => {
    await db.pool.query(
      `INSERT INTO restaurants (name, email)
       SELECT 'Restaurant ' || i, 'vendor' || i || '@example.com' FROM generate_series(1, 1500) AS i`,
    );
    const job = resolveJobs(tasks).jobs.find((j) => j.name === REPORTS)!;
    const tick = previousFireTime(job, new Date(Date.now() - 60_000))!;
    const headers = {
      "x-cloudscheduler-jobname": REPORTS,
      "x-cloudscheduler-scheduletime": tick.toISOString(),
    };
    // The first 1,000 go out; the call for the other 500 never returns, and the instance dies.
    sendGrid.fake.setFault((n) => (n === 2 ? { hang: true } : undefined));
    const doomed = await instance({ withKey: true });
    const first = post(doomed, REPORTS, headers).catch((error: unknown) => error);
    for (let i = 0; sendGrid.fake.calls.length < 2; i++) {
      if (i > 400) throw new Error(`the second call never came: ${doomed.output.join("")}`);
      await new Promise((next) => setTimeout(next, 25));
    }
    const claimed = await db.pool.query<{ status: string; n: number }>(
      "SELECT status, count(*)::int AS n FROM scheduler.vendor_report_deliveries GROUP BY status ORDER BY status",
    );
    expect(claimed.rows).toEqual([
      { status: "sending", n: 500 },
      { status: "sent", n: 1000 },
    ]);
    await doomed.stop("SIGKILL");
    expect(await first).toBeInstanceOf(Error);
    // The database notices the dead session and frees the task's lock.
    for (let i = 0; ; i++) {
      const locks = await db.pool.query(
        "SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND classid = 7262005 AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
      );
      if (locks.rows.length === 0) break;
      if (i > 200) throw new Error("the dead run's lock was never released");
      await new Promise((next) => setTimeout(next, 25));
    }

    sendGrid.fake.setFault(undefined);
    const retry = await instance({ withKey: true });
    const resumed = await post(retry, REPORTS, headers);
    expect(resumed.status).toBe(200);
    expect(resumed.body).toMatchObject({ status: "succeeded", rowsAffected: 500 });
    expectEachOnce(Array.from({ length: 1500 }, (_, i) => `vendor${i + 1}@example.com`));
    const reportDates = new Set(
      sendGrid.fake.emails.map((email) => email.customArgs.email_key?.split(":")[2]),
    );
    expect(reportDates.size).toBe(1);
    const runs = await db.pool.query(
      "SELECT status, error_code, rows_affected FROM scheduler.job_runs WHERE task = $1 ORDER BY id",
      [REPORTS],
    );
    expect(runs.rows).toEqual([
      { status: "failed", error_code: "interrupted", rows_affected: null },
      { status: "succeeded", error_code: null, rows_affected: "500" },
    ]);
    expect((await post(retry, REPORTS, headers)).body).toMatchObject({ status: "duplicate" });
    await retry.stop();
  });

  it("when SendGrid is out for longer than 15 minutes, then no confirmation is parked: the retries spread over hours and all are sent once it is back", async () => {
    await confirmOrders(3);
    // SendGrid turns every call away for an hour: no run can send, every run must say so.
    sendGrid.fake.setFault(() => ({ status: 429, retryAfterSeconds: 3600 }));
    const fn = await instance({ withKey: true });
    const delays: number[] = [];
    for (let attempt = 1; attempt <= 6; attempt++) {
      const answer = await post(fn, CONFIRMATIONS);
      expect(answer.status).toBe(500);
      expect(answer.body.error).toMatchObject({ code: "task_failed", sent: 0 });
      const rows = await db.pool.query<{ status: string; attempts: number; delay: number }>(
        "SELECT status, attempts, extract(epoch FROM next_attempt_at - now())::float AS delay FROM scheduler.email_outbox",
      );
      expect(rows.rows.map((row) => [row.status, row.attempts])).toEqual(
        Array.from({ length: 3 }, () => ["pending", attempt]),
      );
      delays.push(Math.round(rows.rows[0]!.delay / 60));
      await timePasses();
    }
    // 1, 2, 4, 8, 16, 32 minutes: the old policy had parked them as dead after the fifth.
    expect(delays).toEqual([1, 2, 4, 8, 16, 32]);

    sendGrid.fake.setFault(undefined);
    const sent = await post(fn, CONFIRMATIONS);
    expect(sent.body).toMatchObject({ status: "succeeded", rowsAffected: 3 });
    expectEachOnce(customers(3));
    expect(await outbox()).toEqual({ sent: 3 });
    await fn.stop();
  });

  it("when the outage outlasts every retry, then the rows die, the alert lists them once, and a requeue by address or time sends each once", async () => {
    await confirmOrders(2);
    sendGrid.fake.setFault(() => ({ status: 429, retryAfterSeconds: 3600 }));
    const fn = await instance({ withKey: true });
    let waited = 0;
    for (let attempt = 1; attempt <= 12; attempt++) {
      expect((await post(fn, CONFIRMATIONS)).status).toBe(500);
      const row = await db.pool.query<{ delay: number }>(
        "SELECT extract(epoch FROM next_attempt_at - now())::float AS delay FROM scheduler.email_outbox LIMIT 1",
      );
      if (attempt < 12) waited += row.rows[0]!.delay;
      await timePasses();
    }
    expect(await outbox()).toEqual({ dead: 2 });
    // The twelfth attempt comes some 16 hours after the first.
    expect(waited / 3600).toBeGreaterThan(16);

    sendGrid.fake.setFault(undefined);
    const alert = await post(fn, "alert-failed-runs");
    expect(alert.status).toBe(200);
    const alerts = sendGrid.fake.emails.filter((email) => email.to === OPS_EMAIL);
    expect(alerts).toHaveLength(1);
    expect(alerts[0]!.subject).toMatch(/2 dead email\(s\)/);
    expect(alerts[0]!.text).toContain("to customer1@example.com");
    expect(alerts[0]!.text).toContain("to customer2@example.com");
    expect(alerts[0]!.text).toContain("npm run cli -- requeue");
    expect((await post(fn, "alert-failed-runs")).body).toMatchObject({ rowsAffected: 0 });
    expect(sendGrid.fake.emails.filter((email) => email.to === OPS_EMAIL)).toHaveLength(1);

    const io = (out: string[]) => ({
      env: { DATABASE_URL: db.url },
      out: (text: string) => out.push(text),
      err: (text: string) => out.push(text),
      now: () => new Date(),
      root: mkdtempSync(join(tmpdir(), "sj-requeue-")),
    });
    const out: string[] = [];
    expect(await cli(["requeue", "--task", "no-such-task"], io(out))).toBe(2);
    expect(
      await cli(
        ["requeue", "--task", CONFIRMATIONS, "--address", "CUSTOMER1@example.com", "--dry-run"],
        io(out),
      ),
    ).toBe(0);
    expect(await outbox()).toEqual({ dead: 2 });
    expect(
      await cli(["requeue", "--task", CONFIRMATIONS, "--address", "customer1@example.com"], io(out)),
    ).toBe(0);
    expect(out.at(-1)).toMatch(/1 dead email\(s\) queued again/);
    expect((await post(fn, CONFIRMATIONS)).body).toMatchObject({ status: "succeeded", rowsAffected: 1 });
    expect(
      await cli(
        ["requeue", "--task", CONFIRMATIONS, "--from", "1d", "--to", "2999-01-01T00:00:00Z"],
        io(out),
      ),
    ).toBe(0);
    expect(out.at(-1)).toMatch(/1 dead email\(s\) queued again/);
    expect((await post(fn, CONFIRMATIONS)).body).toMatchObject({ status: "succeeded", rowsAffected: 1 });
    expectEachOnce(customers(2));
    expect(await outbox()).toEqual({ sent: 2 });
    await fn.stop();
  });

  it("when SendGrid accepts a call and the connection drops before its 202 arrives, then the call is resent (at least once) and every copy carries the same email_key", async () => {
    await confirmOrders(4);
    sendGrid.fake.failNext({ acceptThenDrop: true });
    const fn = await instance({ withKey: true });
    const answer = await post(fn, CONFIRMATIONS);
    expect(answer.status).toBe(200);
    expect(answer.body).toMatchObject({ status: "succeeded", rowsAffected: 4 });
    expect(sendGrid.fake.calls.map((c) => c.status)).toEqual(["dropped", 202]);
    const keys = new Map<string, Set<string>>();
    for (const email of sendGrid.fake.emails) {
      const key = email.customArgs.email_key!;
      keys.set(key, (keys.get(key) ?? new Set()).add(email.to));
    }
    // Two copies of each, recognisable as one message by its key: what a receiver dedups on.
    expect(sendGrid.fake.emails).toHaveLength(8);
    expect([...keys.keys()].sort()).toEqual([1, 2, 3, 4].map((id) => `order-confirmation:${id}`));
    expect([...keys.values()].every((to) => to.size === 1)).toBe(true);
    const recorded = await db.pool.query<{ message_id: string }>(
      "SELECT DISTINCT message_id FROM scheduler.email_outbox WHERE status = 'sent'",
    );
    expect(recorded.rows.map((row) => row.message_id)).toEqual([sendGrid.fake.emails[7]!.messageId]);
    await fn.stop();
  });
});
