/**
 * Dead emails back to the queue (`npm run cli -- requeue`): the operator's way to send what no run
 * will retry any more (an outage longer than the outbox's retries, a fixed address). The rule is
 * scheduler.requeue_email_outbox (sql/routines/scheduler.requeue_email_outbox.sql).
 */
import type { Pool } from "../../functions/core/db/pool.js";
import { senderOfKind } from "../../functions/email/outbox-kinds.js";

/** The tasks whose emails can die, and the outbox kind each sends. */
const kindOfTask: Readonly<Record<string, string>> = Object.fromEntries(
  Object.entries(senderOfKind).map(([kind, task]) => [task, kind]),
);

export const requeueableTasks: readonly string[] = Object.keys(kindOfTask);

interface RequeueFilter {
  readonly task: string;
  /** Queued at or after. */
  readonly from?: Date | undefined;
  /** Queued before. */
  readonly to?: Date | undefined;
  readonly address?: string | undefined;
  /** Only count. */
  readonly dryRun: boolean;
}

/** How many dead emails matched (and, unless a dry run, are pending again, due now). */
export async function requeueDeadEmails(pool: Pool, filter: RequeueFilter): Promise<number> {
  const kind = kindOfTask[filter.task];
  if (!kind) throw new Error(`no emails of ${filter.task} can be requeued`);
  const result = await pool.query<{ count: number }>(
    "SELECT scheduler.requeue_email_outbox($1, $2, $3, $4, $5) AS count",
    [kind, filter.from ?? null, filter.to ?? null, filter.address?.trim() || null, filter.dryRun],
  );
  return result.rows[0]?.count ?? 0;
}
