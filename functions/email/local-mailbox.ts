/**
 * The transport used when no SendGrid key is configured (local runs, demos): nothing leaves the
 * machine. Each message is filled in as SendGrid would fill it, logged, and kept in
 * scheduler.local_mailbox for a dashboard to show. Runs record these messages as sent, under a
 * `local-` message id, so a rerun behaves as it would in production.
 */
import { randomUUID } from "node:crypto";
import type { Pool } from "../core/db/pool.js";
import type { Logger } from "../core/log.js";
import type { MailBatch, MailTransport } from "./transport.js";
import { substitute } from "./transport.js";

export function createLocalMailboxTransport(pool: Pool, log: Logger): MailTransport {
  return {
    name: "local-mailbox",
    accepted: "kept in the local mailbox (not sent)",
    async send(batch: MailBatch) {
      const messageId = `local-${randomUUID()}`;
      const rows = batch.messages.map((message) => ({
        recipient: message.to,
        subject: substitute(batch.subject, message.substitutions),
        body: substitute(batch.text, message.substitutions),
        customArgs: message.customArgs,
      }));
      await pool.query(
        `INSERT INTO scheduler.local_mailbox (message_id, recipient, subject, body, custom_args)
         SELECT $1, m.recipient, m.subject, m.body, m.custom_args
         FROM jsonb_to_recordset($2::jsonb) AS m(recipient text, subject text, body text, custom_args jsonb)`,
        [
          messageId,
          JSON.stringify(
            rows.map((row) => ({
              recipient: row.recipient,
              subject: row.subject,
              body: row.body,
              custom_args: row.customArgs,
            })),
          ),
        ],
      );
      for (const row of rows) {
        log.info(
          `email kept in the local mailbox, not sent (no SendGrid key configured): to ${row.recipient}: ${row.subject}`,
          {
            mailbox: "local",
            messageId,
            to: row.recipient,
            subject: row.subject,
            body: row.body,
          },
        );
      }
      return { messageId };
    },
  };
}
