/**
 * The SendGrid transport: the official `@sendgrid/mail` SDK (v3 mail/send), one API call per batch,
 * one personalization per message with its own substitutions and custom_args. Imported only when a
 * key is configured, so no other path pays for loading the SDK.
 */
import sendgrid from "@sendgrid/mail";

// The package exports a ready instance; a service of our own keeps its client (key, base URL) ours.
const { MailService } = sendgrid as unknown as { MailService: new () => typeof sendgrid };
import type { ApiKeySource } from "./secrets.js";
import type { MailBatch, MailTransport } from "./transport.js";
import { MailSendError } from "./transport.js";

interface SendGridOptions {
  readonly apiKey: ApiKeySource;
  /** SendGrid's API root when not the default (a local fake in tests). */
  readonly baseUrl?: string | undefined;
  /** Per API call. A call that times out may still have been accepted: see the delivery guarantee. */
  readonly timeoutMs?: number;
}

// The SDK's request client: `setApiKey` resets its base URL to SendGrid's own, so ours is set after it.
interface SdkClient {
  setDefaultRequest(key: string, value: unknown): unknown;
}

export function createSendGridTransport(options: SendGridOptions): MailTransport {
  const service = new MailService();
  const client = (service as unknown as { client: SdkClient }).client;
  service.setTimeout(options.timeoutMs ?? 30_000);
  let currentKey: string | undefined;

  return {
    name: "sendgrid",
    accepted: "sent",
    async send(batch: MailBatch) {
      const key = await options.apiKey();
      if (key !== currentKey) {
        service.setApiKey(key);
        currentKey = key;
      }
      if (options.baseUrl) client.setDefaultRequest("baseUrl", options.baseUrl);

      let response;
      try {
        [response] = await service.send({
          from: batch.from,
          subject: batch.subject,
          content: [{ type: "text/plain", value: batch.text }],
          categories: [batch.category],
          personalizations: batch.messages.map((message) => ({
            to: [message.name ? { email: message.to, name: message.name } : { email: message.to }],
            substitutions: { ...message.substitutions },
            customArgs: { ...message.customArgs },
          })),
        });
      } catch (error) {
        throw classify(error);
      }
      const header = response.headers["x-message-id"] as unknown;
      const messageId = Array.isArray(header) ? String(header[0]) : typeof header === "string" ? header : "";
      return { messageId: messageId || "unknown" };
    },
  };
}

interface SdkResponseError {
  code?: unknown;
  message?: unknown;
  response?: { headers?: Record<string, unknown>; body?: unknown };
}

function classify(error: unknown): MailSendError {
  const err = (error ?? {}) as SdkResponseError;
  const status = typeof err.code === "number" ? err.code : undefined;
  if (status === undefined || !err.response) {
    // No HTTP answer: a timeout or a broken connection. SendGrid may or may not have queued it.
    const code = typeof err.code === "string" ? err.code : "no answer";
    return new MailSendError("transient", `SendGrid did not answer (${code})`, {}, { cause: error });
  }
  const headers = err.response.headers ?? {};
  const body = err.response.body as { errors?: { message?: unknown; field?: unknown }[] } | undefined;
  const errors = Array.isArray(body?.errors) ? body.errors : [];
  const summary = errors
    .map((e) => [e.field, e.message].filter((part) => typeof part === "string" && part).join(": "))
    .filter(Boolean)
    .slice(0, 3)
    .join("; ");
  const message = `SendGrid answered ${status}${summary ? `: ${summary}` : ""}`;

  if (status === 429) {
    return new MailSendError("rate_limited", message, { status, retryAfterMs: retryAfterMs(headers) });
  }
  if (status >= 500) return new MailSendError("transient", message, { status });
  if (status === 400 || status === 413) {
    const indexes = new Set<number>();
    for (const e of errors) {
      const match = typeof e.field === "string" ? /^personalizations\.(\d+)\b/.exec(e.field) : null;
      if (match) indexes.add(Number(match[1]));
    }
    return new MailSendError("rejected", message, { status, rejectedIndexes: [...indexes] });
  }
  return new MailSendError("fatal", message, { status });
}

/** Retry-After in seconds or as an HTTP date; SendGrid also sends X-RateLimit-Reset (epoch seconds). */
function retryAfterMs(headers: Record<string, unknown>): number | undefined {
  const retryAfter = headers["retry-after"];
  if (typeof retryAfter === "string" && retryAfter.trim()) {
    const seconds = Number(retryAfter);
    if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
    const date = Date.parse(retryAfter);
    if (Number.isFinite(date)) return Math.max(0, date - Date.now());
  }
  const reset = Number(headers["x-ratelimit-reset"]);
  if (Number.isFinite(reset) && reset > 0) return Math.max(0, reset * 1000 - Date.now());
  return undefined;
}
