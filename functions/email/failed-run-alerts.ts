/**
 * alert-failed-runs: one email to ops listing the runs that failed since the last alert (each failed
 * run is reported once: job_runs.alerted_at), the tasks that are overdue, and the outbox emails that
 * died (each once: email_outbox.alerted_at). An alert is sent when there is a new failure, a new
 * dead email, or a task became overdue since the last alert, so a lasting outage is not
 * mailed every 15 minutes.
 */
import type { EmailTaskContext, TaskWork } from "../core/run/task-contract.js";
import { deliver, DeliveryStopped } from "./deliver.js";
import type { EmailWorkOptions } from "./runtime.js";
import { ScheduledTaskError } from "../core/errors.js";
import type { DeadEmailRow } from "../core/reads/email-side.js";

interface FailedRun {
  id: string;
  task: string;
  error_code: string | null;
  message: string | null;
  started_at: Date;
}

type DeadEmail = DeadEmailRow;

/** How many failed runs (and dead emails) one alert lists; the rest go in the next one. */
const MAX_RUNS_PER_ALERT = 200;

/** What one alert reports: the failures and dead emails not yet alerted, and the overdue tasks. */
interface AlertItems {
  readonly failed: readonly FailedRun[];
  readonly dead: readonly DeadEmail[];
  readonly overdue: readonly string[];
}

export async function alertFailedRuns(ctx: EmailTaskContext, options: EmailWorkOptions): Promise<TaskWork> {
  const { client, task } = ctx;
  const items = await readAlertItems(ctx);
  const previous = await client.query<{ overdue_tasks: string[] }>(
    "SELECT overdue_tasks FROM scheduler.ops_alerts ORDER BY id DESC LIMIT 1",
  );
  const alreadyReported = new Set(previous.rows[0]?.overdue_tasks ?? []);
  const newlyOverdue = items.overdue.filter((name) => !alreadyReported.has(name));
  const { failed, dead, overdue } = items;
  if (failed.length === 0 && newlyOverdue.length === 0 && dead.length === 0) return { rowsAffected: 0 };
  if (ctx.dryRun) return { rowsAffected: failed.length + dead.length };

  const recipient = options.opsEmail;
  if (!recipient) {
    throw new ScheduledTaskError("task_failed", "OPS_EMAIL is not set: there is no one to alert");
  }
  const messageId = await sendAlert(ctx, options, recipient, items);
  ctx.log.info(`${task.name}: alerted ${recipient} about ${failed.length} failed run(s)`, {
    messageId,
    overdue,
    deadEmails: dead.length,
  });
  return { rowsAffected: failed.length + dead.length };
}

async function readAlertItems(ctx: EmailTaskContext): Promise<AlertItems> {
  const { client } = ctx;
  const failed = (
    await client.query<FailedRun>(
      `SELECT id, task, error_code, message, started_at FROM scheduler.job_runs
       WHERE status = 'failed' AND alerted_at IS NULL AND NOT dry_run
       ORDER BY id LIMIT $1`,
      [MAX_RUNS_PER_ALERT],
    )
  ).rows;
  // Emails no run will try again: each is listed once, with how to send it after all.
  const dead = (
    await client.query<DeadEmail>(
      `SELECT id, kind, recipient, attempts, last_error, created_at FROM scheduler.email_outbox
       WHERE status = 'dead' AND alerted_at IS NULL ORDER BY id LIMIT $1`,
      [MAX_RUNS_PER_ALERT],
    )
  ).rows;
  // The tick rules over the same history /health reads (functions/core/schedule/tick-rules.ts),
  // whichever runner runs the task: pg_cron records its runs in scheduler.job_runs too. Loaded
  // here, not at cold start: it brings the cron arithmetic.
  const { overdueTasks } = await import("../core/reads/health.js");
  const overdue = await overdueTasks(client, new Date(), ctx.jobs);
  return { failed, dead, overdue };
}

/** The alert's subject and body. */
function alertMessage({ failed, dead, overdue }: AlertItems): { subject: string; text: string } {
  const lines = failed.map(
    (run) =>
      `- ${run.task}, run ${run.id} at ${run.started_at.toISOString()}: ${run.error_code ?? "failed"}: ${run.message ?? ""}`,
  );
  const text = [
    failed.length > 0 ? `Runs that failed since the last alert (${failed.length}):` : "No new failed runs.",
    ...lines,
    "",
    overdue.length > 0
      ? `Overdue tasks (their latest tick that should have finished has no success): ${overdue.join(", ")}`
      : "No task is overdue.",
    "",
    ...(dead.length > 0
      ? [
          `Emails no run will retry (dead) since the last alert (${dead.length}):`,
          ...dead.map(
            (row) =>
              `- ${row.kind} ${row.id} to ${row.recipient ?? "(no address)"}, queued ${row.created_at.toISOString()}, ${row.attempts} attempt(s): ${row.last_error ?? ""}`,
          ),
          "Send them again: npm run cli -- requeue --task <task> [--from <time>] [--to <time>] [--address <email>]",
          "",
        ]
      : []),
    "Run history: scheduler.job_runs; health: GET /health.",
  ].join("\n");
  const subject = `[scheduled jobs] ${[
    failed.length > 0 ? `${failed.length} failed run(s)` : "",
    overdue.length > 0 ? `${overdue.length} overdue task(s)` : "",
    dead.length > 0 ? `${dead.length} dead email(s)` : "",
  ]
    .filter(Boolean)
    .join(", ")}`;
  return { subject, text };
}

/**
 * Sends the alert through SendGrid and, right after its 202, records what it reported, so these
 * failures and dead emails are never reported again. Resolves with SendGrid's message id.
 */
async function sendAlert(
  ctx: EmailTaskContext,
  options: EmailWorkOptions,
  recipient: string,
  items: AlertItems,
): Promise<string> {
  const { client, runId, task } = ctx;
  const { subject, text } = alertMessage(items);
  let messageId = "";
  try {
    await deliver(
      {
        from: options.mailFrom,
        subject: "{{subject}}",
        text: "{{body}}",
        category: task.name,
        messages: [
          {
            to: recipient,
            substitutions: { subject, body: text },
            customArgs: { email_key: `ops-alert:${runId}` },
          },
        ],
      },
      {
        onSent: async (_, id) => {
          messageId = id;
          await recordAlert(client, { runId, recipient, messageId: id }, items);
        },
        onRejected: async (_, reason) => {
          throw new ScheduledTaskError("task_failed", `SendGrid refused OPS_EMAIL: ${reason}`);
        },
      },
      { transport: options.transport, deadline: ctx.deadline, retry: options.retry, log: ctx.log },
    );
  } catch (error) {
    if (error instanceof DeliveryStopped) {
      throw new ScheduledTaskError("task_failed", `SendGrid: ${error.message}; the alert was not sent`, {
        cause: error,
      });
    }
    throw error;
  }
  return messageId;
}

async function recordAlert(
  client: EmailTaskContext["client"],
  sent: { readonly runId: string; readonly recipient: string; readonly messageId: string },
  { failed, dead, overdue }: AlertItems,
): Promise<void> {
  await client.query(
    `WITH marked AS (
       UPDATE scheduler.job_runs SET alerted_at = now() WHERE id = ANY($1::bigint[]) RETURNING id)
     INSERT INTO scheduler.ops_alerts (run_id, recipient, failed_run_ids, overdue_tasks, message_id)
     VALUES ($2, $3, $1::bigint[], $4::text[], $5)`,
    [failed.map((run) => run.id), sent.runId, sent.recipient, overdue, sent.messageId],
  );
  await client.query("UPDATE scheduler.email_outbox SET alerted_at = now() WHERE id = ANY($1::bigint[])", [
    dead.map((row) => row.id),
  ]);
}
