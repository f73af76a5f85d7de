/**
 * The one delivery loop of the queued emails (vendor reports, the outbox): claim a batch (committed
 * as 'sending' before anything is sent), hand it to SendGrid, record each accepted message as sent
 * with SendGrid's message id and each refused address as rejected, and give back (release) what the
 * run claimed and could not send. Each step is a SQL function beside the claim it follows (one file
 * each in sql/routines/, e.g. scheduler.claim_email_outbox.sql); a queue only says which.
 */
import type { EmailTaskContext, EmailTaskOutcome } from "../core/run/task-contract.js";
import type { DeliveryReport } from "./deliver.js";
import { deliver, DeliveryStopped } from "./deliver.js";
import type { EmailWorkOptions } from "./runtime.js";
import type { OutgoingMessage } from "./transport.js";

export interface ClaimQueue<Row> {
  /** What one message is, for the log and the run's message ("report", "reports"). */
  readonly noun: { readonly one: string; readonly many: string };
  /** Claims up to `limit` due messages for this run; the claim is committed when this resolves. */
  claim(limit: number): Promise<readonly Row[]>;
  /** The email of a claimed row, or why it has none (the row is then rejected at once). */
  message(row: Row): OutgoingMessage | { readonly unsendable: string };
  /** SendGrid accepted these rows in one call. */
  markSent(rows: readonly Row[], messageId: string): Promise<void>;
  /** SendGrid refused these rows' addresses (or they have none): no retry helps. */
  markRejected(rows: readonly Row[], reason: string): Promise<void>;
  /** Gives back every row this run claimed and did not send; how many are due again and how many are now dead. */
  release(reason: string): Promise<{ readonly released: number; readonly dead: number }>;
}

interface DrainSettings {
  readonly subject: string;
  readonly text: string;
  /**
   * A refused address fails the run, so the failed-runs alert reports it (vendor reports); else
   * the row is only dead, and the alert lists dead rows (the outbox).
   */
  readonly rejectedFailsRun: boolean;
}

interface Totals extends DeliveryReport {
  dead: number;
}

export async function drain<Row>(
  ctx: EmailTaskContext,
  options: EmailWorkOptions,
  queue: ClaimQueue<Row>,
  settings: DrainSettings,
): Promise<EmailTaskOutcome> {
  const { task } = ctx;
  const batchSize = task.batch?.size ?? 1000;
  const totals: Totals = { calls: 0, sent: 0, rejected: 0, dead: 0 };
  const log = ctx.log.child({ transport: options.transport.name });

  for (let round = 0; ; round++) {
    if (round > 0 && Date.now() >= ctx.deadline) {
      log.info(
        `${task.name}: time budget spent after ${counted(totals.sent, queue.noun)}; the next run goes on`,
        {
          ...totals,
        },
      );
      return { rowsAffected: totals.sent, more: true };
    }
    const claimed = await queue.claim(batchSize);
    if (claimed.length === 0) break;

    const sendable: { row: Row; message: OutgoingMessage }[] = [];
    for (const row of claimed) {
      const message = queue.message(row);
      if ("unsendable" in message) {
        await queue.markRejected([row], message.unsendable);
        totals.rejected += 1;
      } else {
        sendable.push({ row, message });
      }
    }
    if (sendable.length > 0) {
      try {
        const report = await deliver(
          {
            from: options.mailFrom,
            subject: settings.subject,
            text: settings.text,
            category: task.name,
            messages: sendable.map((item) => item.message),
          },
          {
            onSent: (indexes, messageId) =>
              queue.markSent(
                indexes.map((i) => sendable[i]!.row),
                messageId,
              ),
            onRejected: (index, reason) => queue.markRejected([sendable[index]!.row], reason),
          },
          { transport: options.transport, deadline: ctx.deadline, retry: options.retry, log },
        );
        add(totals, report);
      } catch (error) {
        if (!(error instanceof DeliveryStopped)) throw error;
        add(totals, error.report);
        const { released, dead } = await queue.release(error.message);
        totals.dead += dead;
        return {
          rowsAffected: totals.sent,
          stopped: {
            code: "task_failed",
            message: `SendGrid: ${error.message}; ${counted(totals.sent, queue.noun)} sent, ${released} left for a later run${dead > 0 ? `, ${dead} dead after their last attempt` : ""}`,
            cause: error,
          },
          figures: { ...totals },
        };
      }
    }
    log.info(`${task.name}: ${counted(totals.sent, queue.noun)} ${options.transport.accepted} so far`, {
      ...totals,
    });
    if (claimed.length < batchSize) break;
  }

  if (totals.rejected > 0) {
    const message = `SendGrid refused ${totals.rejected} recipient address(es), or there was none; ${counted(totals.sent, queue.noun)} sent (the refused ones are recorded with their reason, not retried)`;
    if (settings.rejectedFailsRun) {
      return { rowsAffected: totals.sent, stopped: { code: "task_failed", message }, figures: { ...totals } };
    }
    log.warn(`${task.name}: ${message}`, { ...totals });
  }
  return { rowsAffected: totals.sent };
}

/** "1 report", "2 reports". */
function counted(n: number, noun: ClaimQueue<unknown>["noun"]): string {
  return `${n} ${n === 1 ? noun.one : noun.many}`;
}

function add(into: DeliveryReport, report: DeliveryReport): void {
  into.calls += report.calls;
  into.sent += report.sent;
  into.rejected += report.rejected;
}
