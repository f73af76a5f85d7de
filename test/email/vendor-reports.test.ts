import { describe, expect, it } from "vitest";
import { useTestDatabase } from "../helpers/database.js";
import {
  capturingLogger,
  emailTask,
  fastRetries,
  MAIL_FROM,
  runEmailTask,
  seedVendors,
  sendGridConfig,
  useFakeSendGrid,
} from "../helpers/email.js";

const TASK = "send-daily-vendor-reports";
const db = useTestDatabase();
const sendGrid = useFakeSendGrid(db);

const options = () => ({ config: sendGridConfig(sendGrid.fake), ...fastRetries });

function countsByRecipient(): Map<string, number> {
  const counts = new Map<string, number>();
  for (const email of sendGrid.fake.emails) counts.set(email.to, (counts.get(email.to) ?? 0) + 1);
  return counts;
}

async function deliveries(): Promise<Record<string, number>> {
  const result = await db.pool.query<{ status: string; n: number }>(
    "SELECT status, count(*)::int AS n FROM scheduler.vendor_report_deliveries GROUP BY status",
  );
  return Object.fromEntries(result.rows.map((row) => [row.status, row.n]));
}

describe("send-daily-vendor-reports", () => {
  it("when 2,500 restaurants have an email, then they get one report each in 3 valid API calls", async () => {
    await seedVendors(db.pool, 2500);
    const result = await runEmailTask(db.pool, options(), TASK);

    expect(result).toMatchObject({ status: "succeeded", rowsAffected: 2500 });
    expect(sendGrid.fake.invalid).toEqual([]);
    expect(sendGrid.fake.calls.map((call) => [call.personalizations, call.status])).toEqual([
      [1000, 202],
      [1000, 202],
      [500, 202],
    ]);
    const counts = countsByRecipient();
    expect(counts.size).toBe(2500);
    expect([...counts.values()].every((n) => n === 1)).toBe(true);
    expect(await deliveries()).toEqual({ sent: 2500 });

    // Each email carries its own restaurant's figures for yesterday (UTC), not today's order.
    const yesterday = new Date(Date.now() - 86_400_000).toISOString().slice(0, 10);
    const seventh = sendGrid.fake.emails.find((email) => email.to === "vendor7@example.com")!;
    expect(seventh.from).toBe(MAIL_FROM);
    expect(seventh.subject).toBe(`Your orders on ${yesterday}: Restaurant 7`);
    expect(seventh.text).toContain("Hello Restaurant 7,");
    expect(seventh.text).toMatch(/Orders placed: +2\n/);
    expect(seventh.text).toMatch(/Delivered: +1\n/);
    expect(seventh.text).toMatch(/Cancelled: +1\n/);
    expect(seventh.text).toContain("Revenue (delivered orders): 10.00");
    expect(seventh.customArgs).toEqual({ email_key: `vendor-report:7:${yesterday}` });
    const ninth = sendGrid.fake.emails.find((email) => email.to === "vendor9@example.com")!;
    expect(ninth.text).toMatch(/Orders placed: +1\n/);
    expect(ninth.text).toContain("Revenue (delivered orders): 0.00");

    const recorded = await db.pool.query<{ message_id: string }>(
      "SELECT message_id FROM scheduler.vendor_report_deliveries WHERE restaurant_id = 7",
    );
    expect(recorded.rows[0]?.message_id).toBe(seventh.messageId);
  });

  it("when a past tick runs (a retry after midnight, a backfill), then it reports the day before that tick", async () => {
    await db.pool.query("INSERT INTO restaurants (name, email) VALUES ('Late', 'late@example.com')");
    await db.pool.query(`
      INSERT INTO orders (restaurant_id, status, total_amount, created_at) VALUES
        (1, 'delivered', 10, '2026-11-28T09:00:00Z'), (1, 'delivered', 10, '2026-11-28T18:00:00Z'),
        (1, 'delivered', 10, '2026-11-29T09:00:00Z')`);
    const result = await runEmailTask(db.pool, options(), TASK, {
      trigger: "scheduler",
      scheduleTime: new Date("2026-11-29T07:00:00Z"),
    });
    expect(result).toMatchObject({ status: "succeeded", rowsAffected: 1 });
    const sent = await db.pool.query(
      "SELECT report_date::text AS day FROM scheduler.vendor_report_deliveries",
    );
    expect(sent.rows).toEqual([{ day: "2026-11-28" }]);
    expect(sendGrid.fake.emails[0]!.text).toMatch(/Orders placed: +2\n/);
  });

  it("when the run is delivered again, for the same or a new schedule time, then nothing new is sent", async () => {
    await seedVendors(db.pool, 1200);
    const scheduleTime = new Date("2026-01-02T07:00:00Z");
    const first = await runEmailTask(db.pool, options(), TASK, { trigger: "scheduler", scheduleTime });
    expect(first).toMatchObject({ status: "succeeded", rowsAffected: 1200 });
    const callsAfterFirst = sendGrid.fake.calls.length;

    const duplicate = await runEmailTask(db.pool, options(), TASK, { trigger: "scheduler", scheduleTime });
    expect(duplicate.status).toBe("duplicate");
    // A force run later that day (its tick: its arrival) reports the same day: nothing is left to send.
    const forced = await runEmailTask(db.pool, options(), TASK, {
      trigger: "manual",
      tick: new Date("2026-01-02T10:00:00Z"),
    });
    expect(forced).toMatchObject({ status: "succeeded", rowsAffected: 0 });

    expect(sendGrid.fake.calls.length).toBe(callsAfterFirst);
    expect(sendGrid.fake.emails.length).toBe(1200);
  });

  it("when one tick is delivered 20 times at once, then one run sends, the others are locked (overlap retry: answered 409, a retry finds the duplicate) or duplicates, and each vendor gets one email", async () => {
    await seedVendors(db.pool, 1500);
    sendGrid.fake.setLatency(50);
    const scheduleTime = new Date("2026-01-03T07:00:00Z");
    const results = await Promise.all(
      Array.from({ length: 20 }, () =>
        runEmailTask(db.pool, options(), TASK, { trigger: "scheduler", scheduleTime }),
      ),
    );
    const statuses = results.map((r) => r.status);
    expect(statuses.filter((status) => status === "succeeded")).toHaveLength(1);
    expect(statuses.every((status) => ["succeeded", "locked", "duplicate"].includes(status))).toBe(true);
    const counts = countsByRecipient();
    expect(counts.size).toBe(1500);
    expect([...counts.values()].every((n) => n === 1)).toBe(true);
    expect(sendGrid.fake.calls).toHaveLength(2);
  });

  it.each([
    ["429 with Retry-After", [{ status: 429 as const, retryAfterSeconds: 1 }]],
    ["a 500 then a 503", [{ status: 500 as const }, { status: 503 as const }]],
    ["a timeout", [{ hang: true as const }]],
  ])(
    "when SendGrid answers %s mid-run, then the run retries and every vendor gets exactly one email",
    async (_, faults) => {
      await seedVendors(db.pool, 2500);
      sendGrid.fake.setFault((call) => (call === 2 ? faults[0] : call === 3 ? faults[1] : undefined));
      const started = Date.now();
      const result = await runEmailTask(db.pool, options(), TASK);
      expect(result).toMatchObject({ status: "succeeded", rowsAffected: 2500 });
      if (faults[0] && "retryAfterSeconds" in faults[0])
        expect(Date.now() - started).toBeGreaterThanOrEqual(1000);
      const faultStatuses = faults.map((fault) => ("status" in fault ? fault.status : "hang"));
      expect(sendGrid.fake.calls.map((call) => call.status)).toEqual([202, ...faultStatuses, 202, 202]);
      const counts = countsByRecipient();
      expect(counts.size).toBe(2500);
      expect([...counts.values()].every((n) => n === 1)).toBe(true);
    },
  );

  it("when SendGrid keeps failing mid-run, then the run fails having recorded what was sent, and a rerun sends exactly the rest", async () => {
    await seedVendors(db.pool, 2500);
    sendGrid.fake.setFault((call) => (call >= 2 ? { status: 500 } : undefined));
    const log = capturingLogger();
    const failed = await runEmailTask(db.pool, options(), TASK, {}, log);
    expect(failed).toMatchObject({ status: "failed", code: "task_failed" });
    expect(failed.status === "failed" && failed.message).toMatch(/SendGrid answered 500.*1000 reports sent/);
    expect(await deliveries()).toEqual({ sent: 1000, pending: 1000 });
    const run = await db.pool.query("SELECT status, rows_affected FROM scheduler.job_runs WHERE id = $1", [
      failed.runId,
    ]);
    expect(run.rows[0]).toEqual({ status: "failed", rows_affected: "1000" });
    // 1 good call, then 1 + 3 retries of the second batch.
    expect(sendGrid.fake.calls.length).toBe(5);

    sendGrid.fake.setFault(undefined);
    const rerun = await runEmailTask(db.pool, options(), TASK);
    expect(rerun).toMatchObject({ status: "succeeded", rowsAffected: 1500 });
    const counts = countsByRecipient();
    expect(counts.size).toBe(2500);
    expect([...counts.values()].every((n) => n === 1)).toBe(true);
    expect(await deliveries()).toEqual({ sent: 2500 });
  });

  it("when the time budget is spent, then the run stops starting batches and answers more, and the next run goes on", async () => {
    await seedVendors(db.pool, 2500);
    const task = { ...emailTask(TASK), batch: { size: 1000, timeBudgetSeconds: 0 } };
    const first = await runEmailTask(db.pool, options(), TASK, { task });
    expect(first).toMatchObject({ status: "succeeded", rowsAffected: 1000, more: true });
    const second = await runEmailTask(db.pool, options(), TASK, { task });
    expect(second).toMatchObject({ status: "succeeded", rowsAffected: 1000, more: true });
    const third = await runEmailTask(db.pool, options(), TASK);
    expect(third).toMatchObject({ status: "succeeded", rowsAffected: 500 });
    expect(countsByRecipient().size).toBe(2500);
    expect(sendGrid.fake.emails).toHaveLength(2500);
  });

  it("when SendGrid asks to wait longer than the run has left, then the run fails at once and leaves the reports for the next run", async () => {
    await seedVendors(db.pool, 10);
    sendGrid.fake.failNext({ status: 429, retryAfterSeconds: 3600 });
    const started = Date.now();
    const result = await runEmailTask(db.pool, options(), TASK);
    expect(Date.now() - started).toBeLessThan(5000);
    expect(result).toMatchObject({ status: "failed", code: "task_failed" });
    expect(result.status === "failed" && result.message).toMatch(/429.*no time left in this run to retry/);
    expect(await deliveries()).toEqual({ pending: 10 });
    expect(await runEmailTask(db.pool, options(), TASK)).toMatchObject({
      status: "succeeded",
      rowsAffected: 10,
    });
  });

  it("when SendGrid accepts a call but its answer never arrives, then that call is sent again (the documented at-least-once window) under the same email_key", async () => {
    await seedVendors(db.pool, 10);
    sendGrid.fake.failNext({ acceptThenHang: true });
    const result = await runEmailTask(db.pool, options(), TASK);
    expect(result).toMatchObject({ status: "succeeded", rowsAffected: 10 });
    expect(sendGrid.fake.emails.length).toBe(20);
    const keys = sendGrid.fake.emails.map((email) => email.customArgs.email_key);
    expect(new Set(keys).size).toBe(10);
  });

  it("when a run died mid-send, then the next run of the task resumes its claims at once, lease or not, and each report goes out once", async () => {
    await seedVendors(db.pool, 10);
    // What a run cut off between claim and send leaves behind: its record still 'running', its
    // claims 'sending' under a lease that has 25 minutes to go.
    const crashed = await db.pool.query<{ id: string }>(
      "INSERT INTO scheduler.job_runs (task, trigger, status) VALUES ($1, 'scheduler', 'running') RETURNING id",
      [TASK],
    );
    await db.pool.query(
      `INSERT INTO scheduler.vendor_report_deliveries (restaurant_id, report_date, email, status, attempts, run_id, lease_until)
       SELECT id, (now() AT TIME ZONE 'UTC')::date - 1, email, 'sending', 1, $1, now() + interval '25 minutes'
       FROM restaurants WHERE id <= 4`,
      [crashed.rows[0]!.id],
    );
    const dry = await runEmailTask(db.pool, options(), TASK, { dryRun: true });
    expect(dry).toMatchObject({ status: "succeeded", rowsAffected: 10 });
    const next = await runEmailTask(db.pool, options(), TASK);
    expect(next).toMatchObject({ status: "succeeded", rowsAffected: 10 });
    const counts = countsByRecipient();
    expect(counts.size).toBe(10);
    expect([...counts.values()].every((n) => n === 1)).toBe(true);
    const run = await db.pool.query("SELECT status, error_code FROM scheduler.job_runs WHERE id = $1", [
      crashed.rows[0]!.id,
    ]);
    expect(run.rows[0]).toEqual({ status: "failed", error_code: "interrupted" });
  });

  it("when one address is invalid, then SendGrid's 400 stops only that vendor, and the run fails to say so", async () => {
    await seedVendors(db.pool, 1000);
    await db.pool.query("UPDATE restaurants SET email = 'not-an-address@' WHERE id = 500");
    const result = await runEmailTask(db.pool, options(), TASK);
    expect(result).toMatchObject({ status: "failed", code: "task_failed" });
    expect(result.status === "failed" && result.message).toMatch(/refused 1 recipient/);
    expect(sendGrid.fake.emails.length).toBe(999);
    expect(sendGrid.fake.calls.map((c) => c.status)).toEqual([400, 202]);
    const rejected = await db.pool.query(
      "SELECT restaurant_id, last_error FROM scheduler.vendor_report_deliveries WHERE status = 'rejected'",
    );
    expect(rejected.rows).toEqual([
      { restaurant_id: "500", last_error: expect.stringContaining("Does not contain a valid address") },
    ]);
    // The retry Cloud Scheduler makes after the 500 has nothing left to send.
    const retry = await runEmailTask(db.pool, options(), TASK);
    expect(retry).toMatchObject({ status: "succeeded", rowsAffected: 0 });
  });

  it("when SendGrid refuses a call without naming the recipient, then halving isolates it in a few calls and the others are sent", async () => {
    await seedVendors(db.pool, 1000);
    sendGrid.fake.refuseUnnamed(["vendor700@example.com"]);
    const result = await runEmailTask(db.pool, options(), TASK);
    expect(result).toMatchObject({ status: "failed", code: "task_failed" });
    expect(sendGrid.fake.emails).toHaveLength(999);
    expect(sendGrid.fake.calls.length).toBeLessThanOrEqual(21);
    const rejected = await db.pool.query(
      "SELECT restaurant_id FROM scheduler.vendor_report_deliveries WHERE status = 'rejected'",
    );
    expect(rejected.rows).toEqual([{ restaurant_id: "700" }]);
    expect(await deliveries()).toEqual({ sent: 999, rejected: 1 });
  });

  it("when SendGrid refuses every message without naming a recipient, then the search stops early and nothing is marked rejected", async () => {
    await seedVendors(db.pool, 1000);
    sendGrid.fake.refuseUnnamed(Array.from({ length: 1000 }, (_, i) => `vendor${i + 1}@example.com`));
    const result = await runEmailTask(db.pool, options(), TASK);
    expect(result).toMatchObject({ status: "failed", code: "task_failed" });
    expect(result.status === "failed" && result.message).toMatch(
      /refused the message itself|refused every message/,
    );
    expect(sendGrid.fake.calls.length).toBeLessThanOrEqual(30);
    expect(await deliveries()).toEqual({ pending: 1000 });
  });

  it("when two restaurants share an address, then both reports go out, in separate calls", async () => {
    await seedVendors(db.pool, 3);
    await db.pool.query("UPDATE restaurants SET email = 'Shared@example.com' WHERE id IN (1, 3)");
    const result = await runEmailTask(db.pool, options(), TASK);
    expect(result).toMatchObject({ status: "succeeded", rowsAffected: 3 });
    expect(sendGrid.fake.invalid).toEqual([]);
    expect(sendGrid.fake.calls.map((c) => c.personalizations)).toEqual([2, 1]);
  });

  it("when SendGrid refuses the key, then nothing is recorded as sent and the run fails", async () => {
    await seedVendors(db.pool, 5);
    const result = await runEmailTask(
      db.pool,
      { ...options(), config: sendGridConfig(sendGrid.fake, { key: { source: "env", apiKey: "SG.wrong" } }) },
      TASK,
    );
    expect(result).toMatchObject({ status: "failed", code: "task_failed" });
    expect(result.status === "failed" && result.message).toMatch(/401/);
    expect(sendGrid.fake.calls.length).toBe(1);
    expect(await deliveries()).toEqual({ pending: 5 });
  });

  it("when it is a dry run, then it counts the reports due and sends nothing", async () => {
    await seedVendors(db.pool, 30);
    await db.pool.query("UPDATE restaurants SET email = NULL WHERE id <= 5");
    const result = await runEmailTask(db.pool, options(), TASK, { dryRun: true });
    expect(result).toMatchObject({ status: "succeeded", rowsAffected: 25, dryRun: true });
    expect(sendGrid.fake.calls.length).toBe(0);
    expect(await deliveries()).toEqual({});
  });

  it("when the local mailbox is chosen, then nothing is sent: the reports go to the log and the local mailbox", async () => {
    await seedVendors(db.pool, 3);
    const log = capturingLogger();
    const result = await runEmailTask(
      db.pool,
      {
        config: {
          transport: "local-mailbox",
          key: { source: "none" },
          baseUrl: sendGrid.fake.url,
          mailFrom: MAIL_FROM,
          opsEmail: undefined,
          secretRefreshSeconds: 600,
        },
      },
      TASK,
      {},
      log,
    );
    expect(result).toMatchObject({ status: "succeeded", rowsAffected: 3 });
    expect(sendGrid.fake.calls.length).toBe(0);
    const mailbox = await db.pool.query<{ recipient: string; subject: string; body: string }>(
      "SELECT recipient, subject, body FROM scheduler.local_mailbox ORDER BY id",
    );
    expect(mailbox.rows.map((row) => row.recipient)).toEqual([
      "vendor1@example.com",
      "vendor2@example.com",
      "vendor3@example.com",
    ]);
    expect(mailbox.rows[1]!.body).toContain("Hello Restaurant 2,");
    expect(log.lines.filter((line) => line.mailbox === "local").map((line) => line.to)).toEqual([
      "vendor1@example.com",
      "vendor2@example.com",
      "vendor3@example.com",
    ]);
    const again = await runEmailTask(
      db.pool,
      {
        config: {
          transport: "local-mailbox",
          key: { source: "none" },
          baseUrl: undefined,
          mailFrom: MAIL_FROM,
          opsEmail: undefined,
          secretRefreshSeconds: 600,
        },
      },
      TASK,
    );
    expect(again).toMatchObject({ status: "succeeded", rowsAffected: 0 });
  });

  it("when SendGrid is the transport and no key is configured, then the run fails (503) with every report still due and nothing in the local mailbox", async () => {
    await seedVendors(db.pool, 3);
    const result = await runEmailTask(
      db.pool,
      { config: { ...sendGridConfig(sendGrid.fake), key: { source: "none" } } },
      TASK,
    );
    expect(result).toMatchObject({ status: "failed", code: "unavailable" });
    expect(result.status === "failed" && result.message).toMatch(/no SendGrid key is configured/);
    expect(await deliveries()).toEqual({});
    const mailbox = await db.pool.query("SELECT 1 FROM scheduler.local_mailbox");
    expect(mailbox.rows).toEqual([]);
    expect(sendGrid.fake.calls.length).toBe(0);
    const dry = await runEmailTask(
      db.pool,
      { config: { ...sendGridConfig(sendGrid.fake), key: { source: "none" } } },
      TASK,
      { dryRun: true },
    );
    expect(dry).toMatchObject({ status: "succeeded", rowsAffected: 3 });
  });
});
