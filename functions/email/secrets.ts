/**
 * The SendGrid key, from the environment or from Secret Manager. Secret Manager's client is loaded
 * (about 120 ms of module loading) only when an email task first needs the key, and the key is kept
 * for the life of the instance, read again after the refresh interval so a rotated key is picked up.
 */
import { ScheduledTaskError } from "../core/errors.js";
import type { Logger } from "../core/log.js";

/** The one call of `SecretManagerServiceClient` used here, so tests can inject their own. */
export interface SecretVersionReader {
  accessSecretVersion(
    request: { name: string },
    options?: { timeout?: number },
  ): Promise<[{ payload?: { data?: Uint8Array | string | null } | null }, ...unknown[]]>;
}

export type ApiKeySource = () => Promise<string>;

export interface SecretManagerKeyOptions {
  /** projects/<project>/secrets/<secret>/versions/<version> */
  readonly secretVersion: string;
  readonly refreshSeconds: number;
  /** Defaults to a SecretManagerServiceClient created on first use. */
  readonly client?: SecretVersionReader | (() => Promise<SecretVersionReader>);
  readonly log?: Logger;
  readonly now?: () => number;
  /** Per call; Secret Manager answers in tens of milliseconds when it is up. */
  readonly timeoutMs?: number;
}

// gRPC status codes that mean "could not reach it", as opposed to "it said no".
const unreachableCodes = new Set([4, 14]); // DEADLINE_EXCEEDED, UNAVAILABLE
const grpcCodeNames: Record<number, string> = {
  3: "INVALID_ARGUMENT",
  4: "DEADLINE_EXCEEDED",
  5: "NOT_FOUND",
  7: "PERMISSION_DENIED",
  9: "FAILED_PRECONDITION",
  14: "UNAVAILABLE",
  16: "UNAUTHENTICATED",
};

export function envKey(apiKey: string): ApiKeySource {
  return () => Promise.resolve(apiKey);
}

export function secretManagerKey(options: SecretManagerKeyOptions): ApiKeySource {
  const now = options.now ?? Date.now;
  let cached: { key: string; readAt: number } | undefined;
  let inFlight: Promise<string> | undefined;
  let client: SecretVersionReader | undefined;

  const getClient = async (): Promise<SecretVersionReader> => {
    if (client) return client;
    if (typeof options.client === "function") {
      client = await options.client();
    } else if (options.client) {
      client = options.client;
    } else {
      const { SecretManagerServiceClient } = await import("@google-cloud/secret-manager");
      client = new SecretManagerServiceClient() as unknown as SecretVersionReader;
    }
    return client;
  };

  const read = async (): Promise<string> => {
    let response;
    try {
      [response] = await (
        await getClient()
      ).accessSecretVersion({ name: options.secretVersion }, { timeout: options.timeoutMs ?? 10_000 });
    } catch (error) {
      const code = (error as { code?: unknown }).code;
      const name = typeof code === "number" ? (grpcCodeNames[code] ?? `code ${code}`) : "no answer";
      if (typeof code !== "number" || unreachableCodes.has(code)) {
        throw new ScheduledTaskError("unavailable", `Secret Manager is unreachable (${name})`, {
          cause: error,
        });
      }
      // An unreadable key is a configuration error of the email tasks: 503 (Cloud Scheduler retries),
      // nothing claimed, every email still queued once the permission or the secret is fixed.
      throw new ScheduledTaskError(
        "unavailable",
        `Secret Manager refused to read the SendGrid key ${options.secretVersion} (${name}); nothing was sent and every email stays queued`,
        { cause: error },
      );
    }
    const data = response.payload?.data;
    const key = (typeof data === "string" ? data : data ? Buffer.from(data).toString("utf8") : "").trim();
    if (!key) {
      throw new ScheduledTaskError(
        "unavailable",
        `the secret ${options.secretVersion} is empty; nothing was sent and every email stays queued`,
      );
    }
    cached = { key, readAt: now() };
    return key;
  };

  return async () => {
    if (cached && now() - cached.readAt < options.refreshSeconds * 1000) return cached.key;
    inFlight ??= read().finally(() => {
      inFlight = undefined;
    });
    if (!cached) return inFlight;
    try {
      return await inFlight;
    } catch (error) {
      // A key we already hold is better than no mail; SendGrid's 401 will say if it was revoked.
      options.log?.warn("could not refresh the SendGrid key from Secret Manager; using the one held", {
        error: error instanceof Error ? error.message : String(error),
      });
      return cached.key;
    }
  };
}
