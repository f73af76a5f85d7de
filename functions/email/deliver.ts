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
const MAX_PERSONALIZATIONS = 1000;

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

interface DeliverOptions {
  readonly transport: MailTransport;
  /** Epoch ms: no call or retry starts after it. */
  readonly deadline: number;
  readonly retry: SendRetryPolicy;
  readonly log: Logger;
  readonly maxPerCall?: number;
  readonly sleep?: (ms: number) => Promise<void>;
}

interface DeliverCallbacks {
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
  const delivery = new Delivery(batch, callbacks, options);
  try {
    await delivery.sendGroup(batch.messages.map((message, index) => ({ index, message })));
    await delivery.rejectSuspects();
  } catch (error) {
    if (error instanceof DeliveryStopped) throw error;
    // Messages SendGrid accepted but we could not record must not be released for a resend: the
    // error goes up as it is, their claims stay 'sending' until the next run of the task takes them
    // over (the at-least-once window, marked by email_key).
    if (error instanceof RecordingFailed) throw error.cause;
    throw new DeliveryStopped(publicMessage(error), delivery.report, { cause: error });
  }
  return delivery.report;
}

/** One delivery of a batch: its calls, what they did, and the messages suspected of a refusal. */
class Delivery {
  readonly report: DeliveryReport = { calls: 0, sent: 0, rejected: 0 };
  /** Messages refused alone with no personalization named: their address, unless nothing got through. */
  private readonly suspects: { item: Indexed; reason: string }[] = [];
  private unnamedRefusals = 0;
  /** A 400 that names no personalization is narrowed down by halving; this bounds that search. */
  private readonly maxUnnamedRefusals: number;
  private readonly maxPerCall: number;
  private readonly sleep: (ms: number) => Promise<void>;

  constructor(
    private readonly batch: MailBatch,
    private readonly callbacks: DeliverCallbacks,
    private readonly options: DeliverOptions,
  ) {
    this.maxUnnamedRefusals = 2 * Math.ceil(Math.log2(batch.messages.length + 1)) + 8;
    this.maxPerCall = Math.min(options.maxPerCall ?? MAX_PERSONALIZATIONS, MAX_PERSONALIZATIONS);
    this.sleep = options.sleep ?? defaultSleep;
  }

  async sendGroup(group: readonly Indexed[]): Promise<void> {
    for (const call of splitForApi(group, this.maxPerCall)) await this.sendCall(call);
  }

  /** The suspects, once every call is done: rejected, or the delivery stopped when nothing got through. */
  async rejectSuspects(): Promise<void> {
    if (this.suspects.length > 0 && this.report.sent === 0) {
      this.stop(`SendGrid refused every message: ${this.suspects[0]!.reason}`);
    }
    for (const suspect of this.suspects) {
      await recorded(() => this.callbacks.onRejected(suspect.item.index, suspect.reason));
      this.report.rejected += 1;
    }
  }

  /** One API call, retried until it is accepted, its refused messages are set apart, or it stops. */
  private async sendCall(initial: readonly Indexed[]): Promise<void> {
    let pending: readonly Indexed[] | undefined = initial;
    let retries = 0;
    while (pending) {
      const failure = await this.attempt(pending);
      if (!failure) return;
      if (failure.kind === "fatal") this.stop(failure.message, failure);
      if (failure.kind === "rejected") pending = await this.refused(pending, failure);
      else retries = await this.waitToRetry(failure, retries, pending.length);
    }
  }

  /** Sends the call once: undefined when SendGrid accepted it (and it is recorded), else why not. */
  private async attempt(pending: readonly Indexed[]): Promise<MailSendError | undefined> {
    try {
      this.report.calls += 1;
      const { messageId } = await this.options.transport.send({
        ...this.batch,
        messages: pending.map((item) => item.message),
      });
      await recorded(() =>
        this.callbacks.onSent(
          pending.map((item) => item.index),
          messageId,
        ),
      );
      this.report.sent += pending.length;
      return undefined;
    } catch (error) {
      if (!(error instanceof MailSendError)) throw error;
      return error;
    }
  }

  /**
   * A refused call: the messages it named are rejected and the rest are what to send again; a
   * refusal that names none is split in halves (each sent here) until the culprit is alone.
   * Undefined when nothing of this call is left to send.
   */
  private async refused(
    pending: readonly Indexed[],
    failure: MailSendError,
  ): Promise<readonly Indexed[] | undefined> {
    const named = new Set((failure.details.rejectedIndexes ?? []).filter((i) => i < pending.length));
    if (named.size > 0) {
      for (const i of named) {
        await recorded(() => this.callbacks.onRejected(pending[i]!.index, failure.message));
        this.report.rejected += 1;
      }
      this.options.log.warn(`SendGrid refused ${named.size} recipient(s); sending the others`, {
        error: failure.message,
      });
      const rest = pending.filter((_, i) => !named.has(i));
      return rest.length > 0 ? rest : undefined;
    }
    this.unnamedRefusals += 1;
    if (this.unnamedRefusals > this.maxUnnamedRefusals) {
      // Far more refusals than one or two bad addresses cause: the message itself is refused.
      this.stop(`SendGrid refused the message itself: ${failure.message}`, failure);
    }
    if (pending.length === 1) {
      // Alone and refused: its address, unless nothing at all gets through (judged at the end).
      this.suspects.push({ item: pending[0]!, reason: failure.message });
      return undefined;
    }
    const half = Math.ceil(pending.length / 2);
    await this.sendGroup(pending.slice(0, half));
    await this.sendGroup(pending.slice(half));
    return undefined;
  }

  /**
   * Rate-limited or transient: nothing of this call was accepted (or, for a timeout, we cannot
   * tell). Waits for Retry-After or a backoff, unless the retries or the run's time are spent;
   * answers the transient retries so far.
   */
  private async waitToRetry(failure: MailSendError, retries: number, messages: number): Promise<number> {
    const { retry, deadline, log } = this.options;
    const backoff = Math.min(retry.maxDelayMs, retry.baseDelayMs * 2 ** retries);
    const jittered = Math.round(backoff / 2 + Math.random() * (backoff / 2));
    const wait = failure.kind === "rate_limited" ? (failure.details.retryAfterMs ?? jittered) : jittered;
    const counted = failure.kind === "transient" ? retries + 1 : retries;
    if (counted > retry.maxRetries) {
      this.stop(`${failure.message} (gave up after ${retry.maxRetries} retries)`, failure);
    }
    if (Date.now() + wait >= deadline) {
      this.stop(`${failure.message} (no time left in this run to retry)`, failure);
    }
    log.warn(`${failure.message}; retrying in ${wait} ms`, { status: failure.details.status, messages });
    await this.sleep(wait);
    return counted;
  }

  private stop(message: string, cause?: unknown): never {
    throw new DeliveryStopped(message, this.report, { cause });
  }
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
