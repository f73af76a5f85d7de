/**
 * send-daily-vendor-reports: yesterday's figures (in the task's time zone) to every restaurant with
 * an email, one email each, up to 1,000 per SendGrid call. Each restaurant's report is claimed in
 * scheduler.vendor_report_deliveries before the call and marked sent with SendGrid's message id
 * after it, so a duplicate, retried or concurrent run sends only the reports not sent yet.
 */
import type { EmailTaskContext, EmailTaskOutcome } from "../core/run/task-contract.js";
import type { ClaimQueue } from "./drain.js";
import { drain } from "./drain.js";
import type { EmailWorkOptions } from "./runtime.js";

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

export async function sendVendorReports(
  ctx: EmailTaskContext,
  options: EmailWorkOptions,
): Promise<EmailTaskOutcome> {
  const { client, runId } = ctx;
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

  const ids = (rows: readonly DueReport[]): string[] => rows.map((row) => row.restaurant_id);
  const queue: ClaimQueue<DueReport> = {
    noun: { one: "report", many: "reports" },
    claim: async (limit) =>
      (
        await client.query<DueReport>("SELECT * FROM scheduler.claim_vendor_reports($1::date, $2, $3, $4)", [
          reportDate,
          limit,
          runId,
          options.leaseSeconds,
        ])
      ).rows,
    message: (row) => ({
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
    }),
    markSent: async (rows, messageId) => {
      await client.query("SELECT scheduler.mark_vendor_reports_sent($1::date, $2, $3::bigint[], $4)", [
        reportDate,
        runId,
        ids(rows),
        messageId,
      ]);
    },
    markRejected: async (rows, reason) => {
      await client.query("SELECT scheduler.mark_vendor_reports_rejected($1::date, $2, $3::bigint[], $4)", [
        reportDate,
        runId,
        ids(rows),
        reason,
      ]);
    },
    release: async (reason) => {
      const released = await client.query<{ released: number; dead: number }>(
        "SELECT * FROM scheduler.release_vendor_reports($1::date, $2, $3)",
        [reportDate, runId, reason],
      );
      return released.rows[0] ?? { released: 0, dead: 0 };
    },
  };
  return drain({ ...ctx, log: ctx.log.child({ reportDate }) }, options, queue, {
    subject,
    text,
    rejectedFailsRun: true,
  });
}
