/**
 * Wiring for the email tasks' tests: the real runner, the real SendGrid SDK pointed at the fake
 * server, and fixtures for restaurants, orders and the outbox.
 */
import type pg from "pg";
import { findTask } from "../../functions/core/catalog.js";
import type { TaskDefinition } from "../../functions/core/catalog.js";
import type { EmailConfig } from "../../functions/email/config.js";
import type { EmailRuntimeOptions } from "../../functions/email/runtime.js";
import { createEmailRuntime } from "../../functions/email/runtime.js";
import type { LogFields, Logger } from "../../functions/core/log.js";
import { createLogger } from "../../functions/core/log.js";
import type { RunRequest, RunResult } from "../../functions/core/run/runner.js";
import { runTask } from "../../functions/core/run/runner.js";
import { afterAll, beforeAll, beforeEach } from "vitest";
import type { FakeSendGrid } from "./fake-sendgrid.js";
import { startFakeSendGrid } from "./fake-sendgrid.js";
import type { TestDatabase } from "./database.js";

export const MAIL_FROM = "reports@delivery.example";
export const OPS_EMAIL = "ops@delivery.example";

export function emailTask(name: string): TaskDefinition {
  const task = findTask(name);
  if (!task) throw new Error(`no task ${name}`);
  return task;
}

export function sendGridConfig(fake: FakeSendGrid, overrides: Partial<EmailConfig> = {}): EmailConfig {
  return {
    transport: "sendgrid",
    key: { source: "env", apiKey: fake.apiKey },
    baseUrl: fake.url,
    mailFrom: MAIL_FROM,
    opsEmail: OPS_EMAIL,
    secretRefreshSeconds: 600,
    ...overrides,
  };
}

/** Fast retries so fault tests take milliseconds, a short call timeout for the hanging fake. */
export const fastRetries = {
  retry: { maxRetries: 3, baseDelayMs: 10, maxDelayMs: 50 },
  sendTimeoutMs: 1000,
} satisfies Partial<EmailRuntimeOptions>;

export interface CapturedLog extends Logger {
  readonly lines: (LogFields & { severity: string; message: string })[];
}

export function capturingLogger(): CapturedLog {
  const lines: (LogFields & { severity: string; message: string })[] = [];
  const logger = createLogger({}, (line) => lines.push(JSON.parse(line) as never));
  return Object.assign(logger, { lines });
}

/** Runs an email task through the runner, as the function would. */
export function runEmailTask(
  pool: pg.Pool,
  options: EmailRuntimeOptions,
  name: string,
  request: Partial<RunRequest> = {},
  log?: Logger,
): Promise<RunResult> {
  const runtime = createEmailRuntime(options);
  return runTask(
    { pool, log, loadEmailHandler: (task) => runtime.handlerFor(task) },
    { task: emailTask(name), trigger: "manual", ...request },
  );
}

export async function resetEmailState(pool: pg.Pool): Promise<void> {
  await pool.query(`
    TRUNCATE orders, restaurants, scheduler.vendor_report_deliveries, scheduler.email_outbox,
             scheduler.job_runs, scheduler.ops_alerts, scheduler.local_mailbox RESTART IDENTITY CASCADE`);
}

/** `count` restaurants vendor<i>@example.com, each with a few orders yesterday (UTC). */
export async function seedVendors(pool: pg.Pool, count: number): Promise<void> {
  await pool.query(
    `INSERT INTO restaurants (name, email)
     SELECT 'Restaurant ' || i, 'vendor' || i || '@example.com' FROM generate_series(1, $1) AS i`,
    [count],
  );
  // Restaurant i: i % 3 delivered orders of 10.00 and one cancelled order yesterday; one order today.
  await pool.query(
    `INSERT INTO orders (restaurant_id, status, total_amount, created_at)
     SELECT r.id, s.status::order_status, 10,
            (date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC') - interval '12 hours'
     FROM restaurants r
     CROSS JOIN LATERAL (
       SELECT 'delivered' AS status FROM generate_series(1, r.id % 3)
       UNION ALL SELECT 'cancelled'
     ) s
     WHERE r.id <= $1
     UNION ALL
     SELECT r.id, 'delivered', 99, now() FROM restaurants r WHERE r.id <= $1`,
    [Math.min(count, 3000)],
  );
}

/**
 * A fake SendGrid for the whole test file, emptied (with the email tables) before each test: what
 * every email test file starts with. Read the server through the handle once `beforeAll` has run.
 */
export function useFakeSendGrid(db: TestDatabase): { readonly fake: FakeSendGrid } {
  let fake: FakeSendGrid | undefined;
  beforeAll(async () => {
    fake = await startFakeSendGrid();
  });
  afterAll(async () => {
    await fake?.close();
  });
  beforeEach(async () => {
    fake?.reset();
    await resetEmailState(db.pool);
  });
  return {
    get fake(): FakeSendGrid {
      if (!fake) throw new Error("the fake SendGrid starts in beforeAll");
      return fake;
    },
  };
}
