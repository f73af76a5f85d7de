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

interface FailedRun {
  id: string;
  task: string;
  error_code: string | null;
  message: string | null;
  started_at: Date;
}

interface DeadEmail {
  id: string;
  kind: string;
  recipient: string | null;
  attempts: number;
  last_error: string | null;
  created_at: Date;
}

/** How many failed runs (and dead emails) one alert lists; the rest go in the next one. */
const MAX_RUNS_PER_ALERT = 200;

export async function alertFailedRuns(ctx: EmailTaskContext, options: EmailWorkOptions): Promise<TaskWork> {
  const { client, runId, task } = ctx;
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
  const overdue = await overdueTasks(ctx);
  const previous = await client.query<{ overdue_tasks: string[] }>(
    "SELECT overdue_tasks FROM scheduler.ops_alerts ORDER BY id DESC LIMIT 1",
  );
  const alreadyReported = new Set(previous.rows[0]?.overdue_tasks ?? []);
  const newlyOverdue = overdue.filter((name) => !alreadyReported.has(name));
  if (failed.length === 0 && newlyOverdue.length === 0 && dead.length === 0) return { rowsAffected: 0 };
  if (ctx.dryRun) return { rowsAffected: failed.length + dead.length };

  const recipient = options.opsEmail;
  if (!recipient) {
    throw new ScheduledTaskError("task_failed", "OPS_EMAIL is not set: there is no one to alert");
  }
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
          // Recorded right after SendGrid's 202 so these failures are never reported again.
          await client.query(
            `WITH marked AS (
               UPDATE scheduler.job_runs SET alerted_at = now() WHERE id = ANY($1::bigint[]) RETURNING id)
             INSERT INTO scheduler.ops_alerts (run_id, recipient, failed_run_ids, overdue_tasks, message_id)
             VALUES ($2, $3, $1::bigint[], $4::text[], $5)`,
            [failed.map((run) => run.id), runId, recipient, overdue, id],
          );
          await client.query(
            "UPDATE scheduler.email_outbox SET alerted_at = now() WHERE id = ANY($1::bigint[])",
            [dead.map((row) => row.id)],
          );
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
  ctx.log.info(`${task.name}: alerted ${recipient} about ${failed.length} failed run(s)`, {
    messageId,
    overdue,
    deadEmails: dead.length,
  });
  return { rowsAffected: failed.length + dead.length };
}

/**
 * The tasks /health reports overdue (one rule: `isOverdue` in health.ts, over the same view),
 * whichever runner runs them: pg_cron's runs are recorded in scheduler.job_runs too (migration 000008).
 */
async function overdueTasks(ctx: EmailTaskContext): Promise<string[]> {
  const { readHealth } = await import("../core/reads/health.js");
  const report = await readHealth(ctx.client, new Date(), ctx.jobs);
  return report.tasks.filter((task) => task.overdue).map((task) => task.task);
}
