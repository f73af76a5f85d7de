/**
 * send-order-confirmations: drains the outbox that the trigger on `orders` fills when an order
 * becomes confirmed. Rows are claimed (FOR UPDATE SKIP LOCKED, committed as 'sending' under a lease),
 * sent up to 1,000 per SendGrid call, then marked sent with the message id. A row that fails goes
 * back to pending with a growing delay, and is parked as dead, with its last error, after
 * `maxAttempts` runs have tried it; a refused address is dead at once.
 */
import type { EmailTaskContext, EmailTaskOutcome } from "../core/run/task-contract.js";
import type { ClaimQueue } from "./drain.js";
import { drain } from "./drain.js";
import { ORDER_CONFIRMATION_KIND } from "./outbox-kinds.js";
import type { EmailWorkOptions } from "./runtime.js";

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
): Promise<EmailTaskOutcome> {
  const { client, runId } = ctx;
  if (ctx.dryRun) {
    const counted = await client.query<{ due: string }>(
      "SELECT scheduler.count_due_email_outbox($1) AS due",
      [ORDER_CONFIRMATION_KIND],
    );
    return { rowsAffected: Number(counted.rows[0]?.due ?? 0) };
  }

  const { maxAttempts, backoffSeconds, maxBackoffSeconds } = options.outbox;
  const ids = (rows: readonly ClaimedRow[]): string[] => rows.map((row) => row.id);
  const queue: ClaimQueue<ClaimedRow> = {
    noun: { one: "confirmation", many: "confirmations" },
    claim: async (limit) =>
      (
        await client.query<ClaimedRow>("SELECT * FROM scheduler.claim_email_outbox($1, $2, $3, $4, $5)", [
          ORDER_CONFIRMATION_KIND,
          limit,
          runId,
          options.leaseSeconds,
          maxAttempts,
        ])
      ).rows,
    message: (row) =>
      row.recipient
        ? {
            to: row.recipient,
            substitutions: {
              order: String(row.order_id ?? row.payload.orderId ?? ""),
              restaurant: row.restaurant_name || "The restaurant",
              total: Number(row.payload.totalAmount ?? 0).toFixed(2),
            },
            customArgs: { email_key: `order-confirmation:${row.order_id}`, outbox_id: row.id },
          }
        : { unsendable: "no recipient address for this order" },
    markSent: async (rows, messageId) => {
      await client.query("SELECT scheduler.mark_email_outbox_sent($1::bigint[], $2, $3)", [
        ids(rows),
        runId,
        messageId,
      ]);
    },
    markRejected: async (rows, reason) => {
      await client.query("SELECT scheduler.mark_email_outbox_rejected($1::bigint[], $2, $3)", [
        ids(rows),
        runId,
        reason,
      ]);
    },
    release: async (reason) => {
      const released = await client.query<{ released: number; dead: number }>(
        "SELECT * FROM scheduler.release_email_outbox($1, $2, $3, $4, $5, $6)",
        [ORDER_CONFIRMATION_KIND, runId, reason, maxAttempts, backoffSeconds, maxBackoffSeconds],
      );
      return released.rows[0] ?? { released: 0, dead: 0 };
    },
  };
  return drain(ctx, options, queue, { subject, text, rejectedFailsRun: false });
}
