/**
 * Wiring for the email tasks' tests: the real runner, the real SendGrid SDK pointed at the fake
 * server, and fixtures for restaurants, orders and the outbox.
 */
import type pg from "pg";
import type { EmailRuntimeOptions } from "../../functions/email/runtime.js";
import type { LogFields, Logger } from "../../functions/core/log.js";
import { createLogger } from "../../functions/core/log.js";
import { afterAll, beforeAll, beforeEach } from "vitest";
import type { FakeSendGrid } from "../../scripts/local/fake-sendgrid.js";
import { startFakeSendGrid } from "../../scripts/local/fake-sendgrid.js";
export { emailTask, runEmailTask, seedVendors } from "../../bench/lib/email.js";
export { MAIL_FROM, OPS_EMAIL, sendGridConfig } from "../../scripts/local/fake-sendgrid.js";
import type { TestDatabase } from "./database.js";

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

export async function resetEmailState(pool: pg.Pool): Promise<void> {
  await pool.query(`
    TRUNCATE orders, restaurants, scheduler.vendor_report_deliveries, scheduler.email_outbox,
             scheduler.job_runs, scheduler.ops_alerts, scheduler.local_mailbox RESTART IDENTITY CASCADE`);
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
