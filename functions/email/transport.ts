/**
 * What the email tasks need from a mail service, and how a failed call is classified. This module
 * loads no SDK: the SendGrid transport is imported only when a key is configured.
 */

/** One email of a batch: its recipient and the values its copy of the template is filled with. */
export interface OutgoingMessage {
  readonly to: string;
  readonly name?: string;
  /** Values for the `{{key}}` placeholders of the batch's subject and text. */
  readonly substitutions: Readonly<Record<string, string>>;
  /**
   * Sent as SendGrid custom_args and echoed by its event webhook; `email_key` identifies the logical
   * message, so a copy sent twice (see the delivery guarantee) is recognisable.
   */
  readonly customArgs: Readonly<Record<string, string>>;
}

/** Emails sharing one template: one SendGrid API call, one personalization per message. */
export interface MailBatch {
  readonly from: string;
  readonly subject: string;
  readonly text: string;
  readonly category: string;
  readonly messages: readonly OutgoingMessage[];
}

export interface MailTransport {
  /** "sendgrid" or "local-mailbox": said in the logs so a run says whether mail really left. */
  readonly name: string;
  /** What a message it accepted became, as the run's log counts them: "sent", or kept where. */
  readonly accepted: string;
  /** Resolves with the provider's message id once the provider accepted every message of the batch. */
  send(batch: MailBatch): Promise<{ messageId: string }>;
}

type MailErrorKind =
  /** The provider refused the request (400, 413): nothing in it was sent. */
  | "rejected"
  /** 429: nothing was sent; try again after `retryAfterMs`. */
  | "rate_limited"
  /** 5xx, a timeout or a broken connection: try again (see the guarantee about timeouts). */
  | "transient"
  /** The key or the sender is wrong (401, 403, other 4xx): no retry helps. */
  | "fatal";

export class MailSendError extends Error {
  constructor(
    readonly kind: MailErrorKind,
    message: string,
    readonly details: {
      readonly status?: number;
      readonly retryAfterMs?: number;
      /** For `rejected`: the indexes of the batch's messages the provider named as the problem. */
      readonly rejectedIndexes?: readonly number[];
    } = {},
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = "MailSendError";
  }
}

/** Fills `{{key}}` placeholders (what SendGrid does with substitutions), for the local mailbox and tests. */
export function substitute(template: string, values: Readonly<Record<string, string>>): string {
  return template.replace(/\{\{(\w+)\}\}/g, (match, key: string) => values[key] ?? match);
}
