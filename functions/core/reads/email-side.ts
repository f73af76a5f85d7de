/**
 * The email tasks' side of the database, as the dashboard shows it: the outbox's depth per kind
 * and its oldest pending email (how far behind the drain is), the dead emails that no run retries
 * any more (they wait for an operator's requeue), and the local mailbox's messages (what the email
 * tasks "sent" where nothing leaves the machine: EMAIL_TRANSPORT=local-mailbox, as `npm start` runs).
 */
import type { Queryable } from "./tick-facts.js";

/** An outbox email no run will retry (status 'dead'), as the outbox table holds it. */
export interface DeadEmailRow {
  id: string;
  kind: string;
  recipient: string | null;
  attempts: number;
  last_error: string | null;
  created_at: Date;
}

interface OutboxKind {
  readonly kind: string;
  readonly pending: number;
  readonly sending: number;
  readonly dead: number;
  readonly sent: number;
  /** When the oldest email still pending was queued; null when none is. */
  readonly oldestPendingAt: string | null;
}

export interface DeadEmail {
  readonly id: string;
  readonly kind: string;
  readonly recipient: string | null;
  readonly attempts: number;
  readonly lastError: string | null;
  readonly queuedAt: string;
}

interface MailboxMessage {
  readonly id: string;
  readonly recipient: string;
  readonly subject: string;
  readonly body: string;
  readonly createdAt: string;
}

export interface EmailSide {
  readonly outbox: readonly OutboxKind[];
  /** The latest dead emails, newest first (at most `limit`). */
  readonly dead: readonly DeadEmail[];
  /** The local mailbox's latest messages, newest first (at most `limit`); empty where mail is sent. */
  readonly mailbox: readonly MailboxMessage[];
}

export async function readEmailSide(db: Queryable, limit = 50): Promise<EmailSide> {
  const outbox = await db.query<{
    kind: string;
    pending: number;
    sending: number;
    dead: number;
    sent: number;
    oldest_pending_at: Date | null;
  }>(
    `SELECT kind,
            count(*) FILTER (WHERE status = 'pending')::int AS pending,
            count(*) FILTER (WHERE status = 'sending')::int AS sending,
            count(*) FILTER (WHERE status = 'dead')::int AS dead,
            count(*) FILTER (WHERE status = 'sent')::int AS sent,
            min(created_at) FILTER (WHERE status IN ('pending', 'sending')) AS oldest_pending_at
     FROM scheduler.email_outbox GROUP BY kind ORDER BY kind`,
  );
  const dead = await db.query<DeadEmailRow>(
    `SELECT id, kind, recipient, attempts, last_error, created_at FROM scheduler.email_outbox
     WHERE status = 'dead' ORDER BY created_at DESC, id DESC LIMIT $1`,
    [limit],
  );
  const mailbox = await db.query<{
    id: string;
    recipient: string;
    subject: string;
    body: string;
    created_at: Date;
  }>(
    `SELECT id, recipient, subject, body, created_at FROM scheduler.local_mailbox ORDER BY id DESC LIMIT $1`,
    [limit],
  );
  return {
    outbox: outbox.rows.map((row) => ({
      kind: row.kind,
      pending: row.pending,
      sending: row.sending,
      dead: row.dead,
      sent: row.sent,
      oldestPendingAt: row.oldest_pending_at?.toISOString() ?? null,
    })),
    dead: dead.rows.map((row) => ({
      id: String(row.id),
      kind: row.kind,
      recipient: row.recipient,
      attempts: row.attempts,
      lastError: row.last_error,
      queuedAt: row.created_at.toISOString(),
    })),
    mailbox: mailbox.rows.map((row) => ({
      id: String(row.id),
      recipient: row.recipient,
      subject: row.subject,
      body: row.body,
      createdAt: row.created_at.toISOString(),
    })),
  };
}
