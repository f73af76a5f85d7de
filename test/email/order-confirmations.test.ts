import { beforeEach, describe, expect, it } from "vitest";
import pg from "pg";
import { tasks } from "../../functions/core/catalog.js";
import { createEmailRuntime } from "../../functions/email/runtime.js";
import { resolveJobs } from "../../functions/core/schedule/jobs.js";
import { silentLogger } from "../../functions/core/log.js";
import { useTestDatabase } from "../helpers/database.js";
import { emailTask, fastRetries, runEmailTask, sendGridConfig, useFakeSendGrid } from "../helpers/email.js";

const TASK = "send-order-confirmations";
const db = useTestDatabase();
// The helper empties the sendGrid.fake and the email tables first; hooks run in the order registered.
const sendGrid = useFakeSendGrid(db);
beforeEach(async () => {
  await db.pool.query("INSERT INTO restaurants (name, email) VALUES ('Pizza Uno', 'uno@example.com')");
});

const options = (outbox = { maxAttempts: 3, backoffSeconds: 0 }) => ({
  config: sendGridConfig(sendGrid.fake),
  ...fastRetries,
  outbox,
});

/** `count` pending orders with customer addresses, then confirms them as the app would. */
async function confirmOrders(count: number, from = 1): Promise<void> {
  await db.pool.query(
    `INSERT INTO orders (restaurant_id, status, total_amount, customer_email)
     SELECT 1, 'pending', 12.5, 'customer' || i || '@example.com' FROM generate_series($1::int, $2::int) AS i`,
    [from, from + count - 1],
  );
  await db.pool.query("UPDATE orders SET status = 'confirmed' WHERE status = 'pending'");
}

async function outbox(): Promise<Record<string, number>> {
  const result = await db.pool.query<{ status: string; n: number }>(
    "SELECT status, count(*)::int AS n FROM scheduler.email_outbox GROUP BY status",
  );
  return Object.fromEntries(result.rows.map((row) => [row.status, row.n]));
}

describe("the order-confirmation outbox", () => {
  it("when an order becomes confirmed, then the trigger queues one confirmation, however often it is confirmed", async () => {
    await db.pool.query(
      "INSERT INTO orders (restaurant_id, status, customer_email) VALUES (1, 'pending', 'a@example.com'), (1, 'confirmed', 'b@example.com'), (1, 'pending', 'c@example.com')",
    );
    expect(await outbox()).toEqual({ pending: 1 }); // the order inserted as confirmed
    await db.pool.query("UPDATE orders SET status = 'confirmed' WHERE id = 1");
    await db.pool.query("UPDATE orders SET status = 'preparing' WHERE id = 1");
    await db.pool.query("UPDATE orders SET status = 'confirmed' WHERE id = 1");
    await db.pool.query("UPDATE orders SET total_amount = 3 WHERE id = 1"); // not a status change
    await db.pool.query("UPDATE orders SET status = 'cancelled' WHERE id = 3");
    const rows = await db.pool.query(
      "SELECT kind, order_id, status FROM scheduler.email_outbox ORDER BY order_id",
    );
    expect(rows.rows).toEqual([
      { kind: "order-confirmation", order_id: "1", status: "pending" },
      { kind: "order-confirmation", order_id: "2", status: "pending" },
    ]);
  });

  it("when the outbox is drained, then each confirmation is sent once, with its order's details, and marked sent", async () => {
    await confirmOrders(1500);
    const result = await runEmailTask(db.pool, options(), TASK);
    expect(result).toMatchObject({ status: "succeeded", rowsAffected: 1500 });
    expect(sendGrid.fake.invalid).toEqual([]);
    expect(sendGrid.fake.calls.map((c) => c.personalizations)).toEqual([1000, 500]);
    expect(await outbox()).toEqual({ sent: 1500 });
    const mail = sendGrid.fake.emails.find((email) => email.to === "customer42@example.com")!;
    expect(mail.subject).toBe("Your order #42 is confirmed");
    expect(mail.text).toContain("Pizza Uno has confirmed your order #42.");
    expect(mail.text).toContain("Order total: 12.50");
    expect(mail.customArgs.email_key).toBe("order-confirmation:42");
    const row = await db.pool.query(
      "SELECT message_id, attempts FROM scheduler.email_outbox WHERE order_id = 42",
    );
    expect(row.rows[0]).toEqual({ message_id: mail.messageId, attempts: 1 });

    const again = await runEmailTask(db.pool, options(), TASK);
    expect(again).toMatchObject({ status: "succeeded", rowsAffected: 0 });
    expect(sendGrid.fake.emails.length).toBe(1500);
  });

  it("when a tick is delivered 20 times at once while orders keep being confirmed, then no confirmation is sent twice", async () => {
    await confirmOrders(500);
    sendGrid.fake.setLatency(20);
    const scheduleTime = new Date("2026-01-03T10:00:00Z");
    const results = await Promise.all([
      ...Array.from({ length: 20 }, () =>
        runEmailTask(db.pool, options(), TASK, { trigger: "scheduler", scheduleTime }),
      ),
      confirmOrders(300, 501),
    ]);
    expect(results.filter((r) => r && r.status === "succeeded")).toHaveLength(1);
    // Whatever the first drain did not see, the next tick sends.
    await runEmailTask(db.pool, options(), TASK);
    const counts = new Map<string, number>();
    for (const email of sendGrid.fake.emails) counts.set(email.to, (counts.get(email.to) ?? 0) + 1);
    expect(counts.size).toBe(800);
    expect([...counts.values()].every((n) => n === 1)).toBe(true);
    expect(await outbox()).toEqual({ sent: 800 });
  });

  it("when two drains run at the same time past the task lock, then SKIP LOCKED gives them disjoint rows and none is sent twice", async () => {
    await confirmOrders(3000);
    sendGrid.fake.setLatency(30);
    // Two instances, each with its own pool and its own run, calling the handler directly (as if
    // the advisory lock had been lost): only the outbox's claim keeps them apart.
    const drain = async (): Promise<number> => {
      const pool = new pg.Pool({ connectionString: db.url, max: 1 });
      const client = await pool.connect();
      try {
        const run = await client.query<{ id: string }>(
          "INSERT INTO scheduler.job_runs (task, trigger, status) VALUES ($1, 'http', 'running') RETURNING id",
          [TASK],
        );
        const handler = await createEmailRuntime({
          ...options(),
          // Small claims, so the two drains interleave many times.
        }).handlerFor({ ...emailTask(TASK), batch: { size: 100, timeBudgetSeconds: 45 } });
        const work = await handler({
          task: { ...emailTask(TASK), batch: { size: 100, timeBudgetSeconds: 45 } },
          runId: run.rows[0]!.id,
          pool,
          client,
          dryRun: false,
          force: false,
          deadline: Date.now() + 60_000,
          jobs: resolveJobs(tasks).jobs,
          log: silentLogger,
        });
        return work.rowsAffected;
      } finally {
        client.release();
        await pool.end();
      }
    };
    const [a, b] = await Promise.all([drain(), drain()]);
    expect(a + b).toBe(3000);
    expect(a).toBeGreaterThan(0);
    expect(b).toBeGreaterThan(0);
    const counts = new Map<string, number>();
    for (const email of sendGrid.fake.emails) counts.set(email.to, (counts.get(email.to) ?? 0) + 1);
    expect(counts.size).toBe(3000);
    expect([...counts.values()].every((n) => n === 1)).toBe(true);
    expect(await outbox()).toEqual({ sent: 3000 });
  });

  it("when SendGrid keeps failing, then a row is retried by later runs and parked as dead after N attempts with the last error", async () => {
    await confirmOrders(2);
    sendGrid.fake.setFault(() => ({ status: 500 }));
    for (let attempt = 1; attempt <= 3; attempt++) {
      const result = await runEmailTask(db.pool, options(), TASK);
      expect(result).toMatchObject({ status: "failed", code: "task_failed" });
      const rows = await db.pool.query("SELECT status, attempts FROM scheduler.email_outbox ORDER BY id");
      const expected = attempt < 3 ? "pending" : "dead";
      expect(rows.rows).toEqual([
        { status: expected, attempts: attempt },
        { status: expected, attempts: attempt },
      ]);
    }
    const dead = await db.pool.query("SELECT last_error FROM scheduler.email_outbox LIMIT 1");
    expect(dead.rows[0].last_error).toMatch(/SendGrid answered 500.*gave up after 3 retries/);
    sendGrid.fake.setFault(undefined);
    const after = await runEmailTask(db.pool, options(), TASK);
    expect(after).toMatchObject({ status: "succeeded", rowsAffected: 0 });
    expect(sendGrid.fake.emails.length).toBe(0);
  });

  it("when a failed row's backoff has not elapsed, then the next run leaves it alone", async () => {
    await confirmOrders(1);
    sendGrid.fake.failNext({ status: 500 }, { status: 500 }, { status: 500 }, { status: 500 });
    const failed = await runEmailTask(db.pool, options({ maxAttempts: 5, backoffSeconds: 60 }), TASK);
    expect(failed.status).toBe("failed");
    const next = await runEmailTask(db.pool, options({ maxAttempts: 5, backoffSeconds: 60 }), TASK);
    expect(next).toMatchObject({ status: "succeeded", rowsAffected: 0 });
    const row = await db.pool.query(
      "SELECT status, next_attempt_at > now() + interval '50 seconds' AS later FROM scheduler.email_outbox",
    );
    expect(row.rows[0]).toEqual({ status: "pending", later: true });
  });

  it("when an order has no customer address or a refused one, then its row is dead at once and the others are sent", async () => {
    await db.pool.query(
      `INSERT INTO orders (restaurant_id, status, customer_email) VALUES
       (1, 'confirmed', 'good1@example.com'), (1, 'confirmed', NULL), (1, 'confirmed', 'bad address'), (1, 'confirmed', 'good2@example.com')`,
    );
    const result = await runEmailTask(db.pool, options(), TASK);
    expect(result).toMatchObject({ status: "succeeded", rowsAffected: 2 });
    const rows = await db.pool.query(
      "SELECT order_id, status, last_error FROM scheduler.email_outbox ORDER BY order_id",
    );
    expect(rows.rows.map((row) => [row.order_id, row.status])).toEqual([
      ["1", "sent"],
      ["2", "dead"],
      ["3", "dead"],
      ["4", "sent"],
    ]);
    expect(rows.rows[1].last_error).toBe("no recipient address for this order");
    expect(rows.rows[2].last_error).toMatch(/valid address/);
  });

  it("when another drain is still running with a claim, then its rows wait for their lease; once that run has ended, they are taken over at once", async () => {
    await confirmOrders(3);
    // A drain past the task's lock (another instance), still running: its claim is its own.
    const other = await db.pool.query<{ id: string }>(
      "INSERT INTO scheduler.job_runs (task, trigger, status) VALUES ('drain-elsewhere', 'http', 'running') RETURNING id",
    );
    await db.pool.query(
      "UPDATE scheduler.email_outbox SET status = 'sending', attempts = 1, run_id = $1, lease_until = now() + interval '5 minutes' WHERE order_id = 1",
      [other.rows[0]!.id],
    );
    expect(await runEmailTask(db.pool, options(), TASK)).toMatchObject({ rowsAffected: 2 });
    await db.pool.query("UPDATE scheduler.job_runs SET status = 'failed' WHERE id = $1", [other.rows[0]!.id]);
    expect(await runEmailTask(db.pool, options(), TASK)).toMatchObject({ rowsAffected: 1 });
    const row = await db.pool.query("SELECT status, attempts FROM scheduler.email_outbox WHERE order_id = 1");
    expect(row.rows[0]).toEqual({ status: "sent", attempts: 2 });
    expect(sendGrid.fake.emails.length).toBe(3);
  });

  it("when a running drain's lease has expired, then its rows are taken over", async () => {
    await confirmOrders(1);
    const other = await db.pool.query<{ id: string }>(
      "INSERT INTO scheduler.job_runs (task, trigger, status) VALUES ('drain-elsewhere', 'http', 'running') RETURNING id",
    );
    await db.pool.query(
      "UPDATE scheduler.email_outbox SET status = 'sending', attempts = 1, run_id = $1, lease_until = now() - interval '1 second'",
      [other.rows[0]!.id],
    );
    expect(await runEmailTask(db.pool, options(), TASK)).toMatchObject({ rowsAffected: 1 });
  });
});
