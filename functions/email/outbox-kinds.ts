/**
 * The kinds of email the outbox (scheduler.email_outbox) holds, and the task that sends each: what
 * the CLI's `requeue --task` and the dashboard's dead emails name. Dependency-free, so a reader of
 * the outbox loads no email task for it.
 */

/** An order's confirmation, queued by the trigger on `orders`, sent by send-order-confirmations. */
export const ORDER_CONFIRMATION_KIND = "order-confirmation";

/** The task that sends each kind: the task whose dead emails `requeue --task <task>` queues again. */
export const senderOfKind: Readonly<Record<string, string>> = {
  [ORDER_CONFIRMATION_KIND]: "send-order-confirmations",
};
