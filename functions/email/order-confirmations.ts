/**
 * send-order-confirmations: drains the outbox that the trigger on `orders` fills when an order
 * becomes confirmed. Rows are claimed (FOR UPDATE SKIP LOCKED, committed as 'sending' under a lease),
 * sent up to 1,000 per SendGrid call, then marked sent with the message id. A row that fails goes
 * back to pending with a growing delay, and is parked as dead, with its last error, after
 * `maxAttempts` runs have tried it; a refused address is dead at once.
 */
import { ScheduledTaskError } from "../errors.js";
import type { EmailTaskContext, TaskWork } from "../runner.js";
import type { DeliveryReport } from "./deliver.js";
import { deliver, DeliveryStopped } from "./deliver.js";
import type { EmailWorkOptions } from "./runtime.js";
import type { MailBatch } from "./transport.js";

export const ORDER_CONFIRMATION_KIND = "order-confirmation";

interface ClaimedRow {
  id: string;
  order_id: string | null;
  recipient: string | null;
  payload: { orderId?: number; totalAmount?: number | string };
  attempts: number;
  restaurant_name: string | null;
}

const subject = "Your order #{{order}} is confirmed";
const text = `Good news: {{restaurant}} has confirmed your order #{{order}}.

Order total: {{total}}

We will let you know when it is on its way.
`;

export async function sendOrderConfirmations(
  ctx: EmailTaskContext,
  options: EmailWorkOptions,
): Promise<TaskWork> {
  const { client, runId, task } = ctx;
  if (ctx.dryRun) {
    const counted = await client.query<{ due: string }>(
      `SELECT count(*) AS due FROM scheduler.email_outbox
       WHERE kind = $1 AND ((status = 'pending' AND next_attempt_at <= now())
                            OR (status = 'sending' AND lease_until < now()))`,
      [ORDER_CONFIRMATION_KIND],
    );
    return { rowsAffected: Number(counted.rows[0]?.due ?? 0) };
  }

  const batchSize = task.batch?.size ?? 1000;
  const { maxAttempts, backoffSeconds } = options.outbox;
  const totals: DeliveryReport = { calls: 0, sent: 0, rejected: 0 };
  const log = ctx.log.child({ transport: options.transport.name });

  for (let round = 0; ; round++) {
    if (round > 0 && Date.now() >= ctx.deadline) return { rowsAffected: totals.sent, more: true };
    const claimed = await client.query<ClaimedRow>(
      "SELECT * FROM scheduler.claim_email_outbox($1, $2, $3, $4, $5)",
      [ORDER_CONFIRMATION_KIND, batchSize, runId, options.leaseSeconds, maxAttempts],
    );
    if (claimed.rows.length === 0) break;

    const noRecipient = claimed.rows.filter((row) => !row.recipient);
    if (noRecipient.length > 0) {
      await client.query(
        `UPDATE scheduler.email_outbox
         SET status = 'dead', lease_until = NULL, last_error = 'no recipient address for this order'
         WHERE id = ANY($1::bigint[]) AND run_id = $2 AND status = 'sending'`,
        [noRecipient.map((row) => row.id), runId],
      );
      totals.rejected += noRecipient.length;
    }
    const rows = claimed.rows.filter((row) => row.recipient);
    const batch: MailBatch = {
      from: options.mailFrom,
      subject,
      text,
      category: task.name,
      messages: rows.map((row) => ({
        to: row.recipient!,
        substitutions: {
          order: String(row.order_id ?? row.payload.orderId ?? ""),
          restaurant: row.restaurant_name || "The restaurant",
          total: Number(row.payload.totalAmount ?? 0).toFixed(2),
        },
        customArgs: { email_key: `order-confirmation:${row.order_id}`, outbox_id: row.id },
      })),
    };
    try {
      if (rows.length > 0) {
        const report = await deliver(
          batch,
          {
            onSent: async (indexes, messageId) => {
              await client.query(
                `UPDATE scheduler.email_outbox
                 SET status = 'sent', message_id = $3, sent_at = now(), lease_until = NULL, last_error = NULL
                 WHERE id = ANY($1::bigint[]) AND run_id = $2 AND status = 'sending'`,
                [indexes.map((i) => rows[i]!.id), runId, messageId],
              );
            },
            onRejected: async (index, reason) => {
              await client.query(
                `UPDATE scheduler.email_outbox SET status = 'dead', lease_until = NULL, last_error = $3
                 WHERE id = $1 AND run_id = $2 AND status = 'sending'`,
                [rows[index]!.id, runId, reason],
              );
            },
          },
          { transport: options.transport, deadline: ctx.deadline, retry: options.retry, log },
        );
        totals.calls += report.calls;
        totals.sent += report.sent;
        totals.rejected += report.rejected;
      }
    } catch (error) {
      if (!(error instanceof DeliveryStopped)) throw error;
      totals.calls += error.report.calls;
      totals.sent += error.report.sent;
      totals.rejected += error.report.rejected;
      const released = await client.query<{ status: string; n: string }>(
        `WITH released AS (
           UPDATE scheduler.email_outbox
           SET status = CASE WHEN attempts >= $3 THEN 'dead' ELSE 'pending' END,
               next_attempt_at = now() + make_interval(secs => $4 * power(2, attempts - 1)),
               lease_until = NULL,
               last_error = $5
           WHERE run_id = $1 AND kind = $2 AND status = 'sending'
           RETURNING status)
         SELECT status, count(*) AS n FROM released GROUP BY status`,
        [runId, ORDER_CONFIRMATION_KIND, maxAttempts, backoffSeconds, error.message],
      );
      const dead = Number(released.rows.find((row) => row.status === "dead")?.n ?? 0);
      throw new ScheduledTaskError(
        "task_failed",
        `SendGrid: ${error.message}; ${totals.sent} confirmations sent, the rest are retried later${dead ? `, ${dead} dead after ${maxAttempts} attempts` : ""}`,
        { cause: error, details: { rowsAffected: totals.sent, ...totals, dead } },
      );
    }
    if (claimed.rows.length < batchSize) break;
  }
  if (totals.rejected > 0) {
    log.warn(`${task.name}: ${totals.rejected} confirmations parked as dead (address refused or missing)`, {
      ...totals,
    });
  }
  return { rowsAffected: totals.sent };
}
