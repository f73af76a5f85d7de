/**
 * send-daily-vendor-reports: yesterday's figures (in the task's time zone) to every restaurant with
 * an email, one email each, up to 1,000 per SendGrid call. Each restaurant's report is claimed in
 * scheduler.vendor_report_deliveries before the call and marked sent with SendGrid's message id
 * after it, so a duplicate, retried or concurrent run sends only the reports not sent yet.
 */
import { ScheduledTaskError } from "../errors.js";
import type { EmailTaskContext, TaskWork } from "../runner.js";
import type { DeliveryReport } from "./deliver.js";
import { deliver, DeliveryStopped } from "./deliver.js";
import type { EmailWorkOptions } from "./runtime.js";
import type { MailBatch } from "./transport.js";

interface DueReport {
  restaurant_id: string;
  name: string;
  email: string;
  orders: string;
  delivered: string;
  cancelled: string;
  revenue: string;
}

const subject = "Your orders on {{date}}: {{restaurant}}";
const text = `Hello {{restaurant}},

Your orders on {{date}}:

  Orders placed:   {{orders}}
  Delivered:       {{delivered}}
  Cancelled:       {{cancelled}}
  Revenue (delivered orders): {{revenue}}

This report is sent once a day by the delivery app.
`;

export async function sendVendorReports(ctx: EmailTaskContext, options: EmailWorkOptions): Promise<TaskWork> {
  const { client, runId, task } = ctx;
  // The day before the run's tick, in the task's time zone (the session's): a retry after midnight
  // or a backfill of a past tick reports that tick's day.
  const dated = await client.query<{ report_date: string }>(
    "SELECT (scheduler.tick()::date - 1)::text AS report_date",
  );
  const reportDate = dated.rows[0]!.report_date;

  if (ctx.dryRun) {
    const counted = await client.query<{ due: string }>(
      "SELECT scheduler.count_due_vendor_reports($1::date) AS due",
      [reportDate],
    );
    return { rowsAffected: Number(counted.rows[0]?.due ?? 0) };
  }

  const batchSize = task.batch?.size ?? 1000;
  const totals: DeliveryReport = { calls: 0, sent: 0, rejected: 0 };
  const log = ctx.log.child({ reportDate, transport: options.transport.name });
  for (let round = 0; ; round++) {
    if (round > 0 && Date.now() >= ctx.deadline) {
      log.info(`${task.name}: time budget spent after ${totals.sent} reports; the next run goes on`, {
        ...totals,
      });
      return { rowsAffected: totals.sent, more: true };
    }
    const claimed = await client.query<DueReport>(
      "SELECT * FROM scheduler.claim_vendor_reports($1::date, $2, $3, $4)",
      [reportDate, batchSize, runId, options.leaseSeconds],
    );
    const due = claimed.rows;
    if (due.length === 0) break;

    const batch: MailBatch = {
      from: options.mailFrom,
      subject,
      text,
      category: task.name,
      messages: due.map((row) => ({
        to: row.email,
        name: row.name || undefined,
        substitutions: {
          restaurant: row.name || `restaurant ${row.restaurant_id}`,
          date: reportDate,
          orders: row.orders,
          delivered: row.delivered,
          cancelled: row.cancelled,
          revenue: Number(row.revenue).toFixed(2),
        },
        customArgs: { email_key: `vendor-report:${row.restaurant_id}:${reportDate}` },
      })),
    };
    const ids = (indexes: readonly number[]): string[] => indexes.map((i) => due[i]!.restaurant_id);
    try {
      const report = await deliver(
        batch,
        {
          onSent: async (indexes, messageId) => {
            await client.query(
              `UPDATE scheduler.vendor_report_deliveries
               SET status = 'sent', message_id = $4, sent_at = now(), lease_until = NULL, last_error = NULL
               WHERE report_date = $1::date AND run_id = $2 AND restaurant_id = ANY($3::bigint[]) AND status = 'sending'`,
              [reportDate, runId, ids(indexes), messageId],
            );
          },
          onRejected: async (index, reason) => {
            await client.query(
              `UPDATE scheduler.vendor_report_deliveries
               SET status = 'rejected', lease_until = NULL, last_error = $4
               WHERE report_date = $1::date AND run_id = $2 AND restaurant_id = $3 AND status = 'sending'`,
              [reportDate, runId, due[index]!.restaurant_id, reason],
            );
          },
        },
        { transport: options.transport, deadline: ctx.deadline, retry: options.retry, log },
      );
      add(totals, report);
    } catch (error) {
      if (!(error instanceof DeliveryStopped)) throw error;
      add(totals, error.report);
      // Not sent, as far as SendGrid told us: the next run (Cloud Scheduler retries on the 500) sends them.
      await client.query(
        `UPDATE scheduler.vendor_report_deliveries
         SET status = 'pending', lease_until = NULL, last_error = $3
         WHERE report_date = $1::date AND run_id = $2 AND status = 'sending'`,
        [reportDate, runId, error.message],
      );
      throw new ScheduledTaskError(
        "task_failed",
        `SendGrid: ${error.message}; ${totals.sent} reports sent, the rest are left for the next run`,
        { cause: error, details: { rowsAffected: totals.sent, ...totals } },
      );
    }
    log.info(`${task.name}: ${totals.sent} reports sent so far`, { ...totals });
    if (due.length < batchSize) break;
  }

  if (totals.rejected > 0) {
    throw new ScheduledTaskError(
      "task_failed",
      `SendGrid refused ${totals.rejected} recipient address(es); ${totals.sent} reports sent (see scheduler.vendor_report_deliveries, status rejected)`,
      { details: { rowsAffected: totals.sent, ...totals } },
    );
  }
  return { rowsAffected: totals.sent };
}

function add(into: DeliveryReport, report: DeliveryReport): void {
  into.calls += report.calls;
  into.sent += report.sent;
  into.rejected += report.rejected;
}
