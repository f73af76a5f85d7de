/**
 * Sends a batch of emails in as few API calls as SendGrid allows, and keeps going past the failures
 * that concern one message or one moment:
 * - at most 1,000 personalizations per call, and no address twice in one call (SendGrid refuses
 *   the whole request for either);
 * - a 400 that names personalizations drops those messages (recorded as rejected) and resends the
 *   rest; a 400 or 413 that names none is split in halves until the culprit is alone (a bounded
 *   search: when nothing gets through, the message itself is refused and the delivery stops);
 * - 429 waits for Retry-After; 5xx, timeouts and broken connections back off and retry;
 * - no attempt starts after the task's deadline: the delivery then stops, and the caller records
 *   what was sent and releases the rest for the next run.
 */
import { publicMessage } from "../core/errors.js";
import type { Logger } from "../core/log.js";
import type { MailBatch, MailTransport, OutgoingMessage } from "./transport.js";
import { MailSendError } from "./transport.js";

/** SendGrid's limit of personalizations (and recipients) per mail/send request. */
export const MAX_PERSONALIZATIONS = 1000;

/** How one SendGrid API call is retried within a run (Cloud Scheduler's retries are the catalog's `RetryPolicy`). */
export interface SendRetryPolicy {
  /** Retries of one call after 5xx or timeouts (429s are bounded by the deadline only). */
  readonly maxRetries: number;
  readonly baseDelayMs: number;
  readonly maxDelayMs: number;
}

export const defaultSendRetryPolicy: SendRetryPolicy = {
  maxRetries: 5,
  baseDelayMs: 500,
  maxDelayMs: 30_000,
};

export interface DeliverOptions {
  readonly transport: MailTransport;
  /** Epoch ms: no call or retry starts after it. */
  readonly deadline: number;
  readonly retry: SendRetryPolicy;
  readonly log: Logger;
  readonly maxPerCall?: number;
  readonly sleep?: (ms: number) => Promise<void>;
}

export interface DeliverCallbacks {
  /** The provider accepted these messages (indexes into the batch): record them before anything else is sent. */
  onSent(indexes: readonly number[], messageId: string): Promise<void>;
  /** The provider refused this message for itself (a bad address): it will not be retried. */
  onRejected(index: number, reason: string): Promise<void>;
}

export interface DeliveryReport {
  calls: number;
  sent: number;
  rejected: number;
}

/** Delivery stopped: retries exhausted, the deadline reached, or a failure no retry can fix. */
export class DeliveryStopped extends Error {
  constructor(
    message: string,
    readonly report: DeliveryReport,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = "DeliveryStopped";
  }
}

interface Indexed {
  readonly index: number;
  readonly message: OutgoingMessage;
}

const defaultSleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export async function deliver(
  batch: MailBatch,
  callbacks: DeliverCallbacks,
  options: DeliverOptions,
): Promise<DeliveryReport> {
  const report: DeliveryReport = { calls: 0, sent: 0, rejected: 0 };
  const sleep = options.sleep ?? defaultSleep;
  const maxPerCall = Math.min(options.maxPerCall ?? MAX_PERSONALIZATIONS, MAX_PERSONALIZATIONS);

  // A 400 that names no personalization is narrowed down by halving; these bound that search.
  const maxUnnamedRefusals = 2 * Math.ceil(Math.log2(batch.messages.length + 1)) + 8;
  let unnamedRefusals = 0;
  const suspects: { item: Indexed; reason: string }[] = [];

  const stop = (message: string, cause?: unknown): never => {
    throw new DeliveryStopped(message, report, { cause });
  };

  const sendGroup = async (group: readonly Indexed[]): Promise<void> => {
    for (const call of splitForApi(group, maxPerCall)) await sendCall(call);
  };

  const sendCall = async (initial: readonly Indexed[]): Promise<void> => {
    let pending = initial;
    let retries = 0;
    for (;;) {
      let failure: MailSendError;
      try {
        report.calls += 1;
        const { messageId } = await options.transport.send({
          ...batch,
          messages: pending.map((item) => item.message),
        });
        await recorded(() =>
          callbacks.onSent(
            pending.map((item) => item.index),
            messageId,
          ),
        );
        report.sent += pending.length;
        return;
      } catch (error) {
        if (!(error instanceof MailSendError)) throw error;
        failure = error;
      }

      if (failure.kind === "fatal") stop(failure.message, failure);
      if (failure.kind === "rejected") {
        const named = new Set((failure.details.rejectedIndexes ?? []).filter((i) => i < pending.length));
        if (named.size > 0) {
          for (const i of named) {
            await recorded(() => callbacks.onRejected(pending[i]!.index, failure.message));
            report.rejected += 1;
          }
          options.log.warn(`SendGrid refused ${named.size} recipient(s); sending the others`, {
            error: failure.message,
          });
          pending = pending.filter((_, i) => !named.has(i));
          if (pending.length === 0) return;
          continue;
        }
        unnamedRefusals += 1;
        if (unnamedRefusals > maxUnnamedRefusals) {
          // Far more refusals than one or two bad addresses cause: the message itself is refused.
          stop(`SendGrid refused the message itself: ${failure.message}`, failure);
        }
        if (pending.length === 1) {
          // Alone and refused: its address, unless nothing at all gets through (judged at the end).
          suspects.push({ item: pending[0]!, reason: failure.message });
          return;
        }
        const half = Math.ceil(pending.length / 2);
        await sendGroup(pending.slice(0, half));
        await sendGroup(pending.slice(half));
        return;
      }

      // rate_limited or transient: nothing of this call was accepted (or, for a timeout, we cannot tell).
      const backoff = Math.min(options.retry.maxDelayMs, options.retry.baseDelayMs * 2 ** retries);
      const jittered = Math.round(backoff / 2 + Math.random() * (backoff / 2));
      const wait = failure.kind === "rate_limited" ? (failure.details.retryAfterMs ?? jittered) : jittered;
      if (failure.kind === "transient") {
        retries += 1;
        if (retries > options.retry.maxRetries) {
          stop(`${failure.message} (gave up after ${options.retry.maxRetries} retries)`, failure);
        }
      }
      if (Date.now() + wait >= options.deadline) {
        stop(`${failure.message} (no time left in this run to retry)`, failure);
      }
      options.log.warn(`${failure.message}; retrying in ${wait} ms`, {
        status: failure.details.status,
        messages: pending.length,
      });
      await sleep(wait);
    }
  };

  try {
    await sendGroup(batch.messages.map((message, index) => ({ index, message })));
    if (suspects.length > 0 && report.sent === 0) {
      stop(`SendGrid refused every message: ${suspects[0]!.reason}`);
    }
    for (const suspect of suspects) {
      await recorded(() => callbacks.onRejected(suspect.item.index, suspect.reason));
      report.rejected += 1;
    }
  } catch (error) {
    if (error instanceof DeliveryStopped) throw error;
    // Messages SendGrid accepted but we could not record must not be released for a resend: the
    // error goes up as it is, their claims stay 'sending' until the next run of the task takes them
    // over (the at-least-once window, marked by email_key).
    if (error instanceof RecordingFailed) throw error.cause;
    throw new DeliveryStopped(publicMessage(error), report, { cause: error });
  }
  return report;
}

class RecordingFailed extends Error {
  constructor(readonly cause: unknown) {
    super("recording a delivery failed", { cause });
  }
}

async function recorded(record: () => Promise<void>): Promise<void> {
  try {
    await record();
  } catch (error) {
    throw new RecordingFailed(error);
  }
}

/**
 * Calls of at most `maxPerCall` messages in which no address appears twice (case-insensitive):
 * a restaurant sharing its address with another goes into the next call, not into a rejected one.
 */
function splitForApi(group: readonly Indexed[], maxPerCall: number): Indexed[][] {
  const calls: { items: Indexed[]; addresses: Set<string> }[] = [];
  let firstOpen = 0;
  for (const item of group) {
    const address = item.message.to.toLowerCase();
    let target: (typeof calls)[number] | undefined;
    for (let i = firstOpen; i < calls.length; i++) {
      const call = calls[i]!;
      if (call.items.length < maxPerCall && !call.addresses.has(address)) {
        target = call;
        break;
      }
    }
    if (!target) {
      target = { items: [], addresses: new Set() };
      calls.push(target);
    }
    target.items.push(item);
    target.addresses.add(address);
    while (firstOpen < calls.length && calls[firstOpen]!.items.length >= maxPerCall) firstOpen += 1;
  }
  return calls.map((call) => call.items);
}
