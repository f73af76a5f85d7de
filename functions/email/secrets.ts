/**
 * The SendGrid key: from the environment, or from a cloud's secret store through a fetcher
 * (Google's Secret Manager: ./secret-manager.ts; AWS Secrets Manager: ./secrets-manager.ts). One
 * rule for both stores: the store's client loads (tens to hundreds of milliseconds of modules)
 * only when an email task first needs the key; the key is kept for the life of the instance and
 * read again after the refresh interval, so a rotated key is picked up; a key that cannot be read
 * fails the run as `unavailable` (the email tasks' configuration, never the task), with nothing
 * claimed and every email still queued; and a refresh that fails while a key is held keeps the
 * held key.
 */
import { ScheduledTaskError } from "../core/errors.js";
import type { Logger } from "../core/log.js";

export type ApiKeySource = () => Promise<string>;

/** One secret store's read of the key: its text, or a ScheduledTaskError that says why not. */
interface KeyFetcher {
  /** The store, for messages: "Secret Manager", "Secrets Manager". */
  readonly store: string;
  /** The secret's name in the store (never its value), for messages. */
  readonly secret: string;
  fetch(): Promise<string>;
}

export interface RefreshOptions {
  readonly refreshSeconds: number;
  readonly log?: Logger;
  readonly now?: () => number;
}

export function envKey(apiKey: string): ApiKeySource {
  return () => Promise.resolve(apiKey);
}

/** The key from a store, by the one rule above. */
export function refreshingKey(fetcher: KeyFetcher, options: RefreshOptions): ApiKeySource {
  const now = options.now ?? Date.now;
  let cached: { key: string; readAt: number } | undefined;
  let inFlight: Promise<string> | undefined;

  const read = async (): Promise<string> => {
    const key = (await fetcher.fetch()).trim();
    if (!key) {
      throw new ScheduledTaskError(
        "unavailable",
        `the secret ${fetcher.secret} is empty; nothing was sent and every email stays queued`,
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
      options.log?.warn(`could not refresh the SendGrid key from ${fetcher.store}; using the one held`, {
        error: error instanceof Error ? error.message : String(error),
      });
      return cached.key;
    }
  };
}

/** The store's answer when it could not be reached: 503, the run is worth retrying. */
export function unreachable(store: string, why: string, cause: unknown): ScheduledTaskError {
  return new ScheduledTaskError("unavailable", `${store} is unreachable (${why})`, { cause });
}

/**
 * The store's answer when it said no (permission, no such secret): a configuration error of the
 * email tasks, 503 as well, so that the tick is retried once the permission or the secret is fixed.
 */
export function refused(store: string, secret: string, why: string, cause: unknown): ScheduledTaskError {
  return new ScheduledTaskError(
    "unavailable",
    `${store} refused to read the SendGrid key ${secret} (${why}); nothing was sent and every email stays queued`,
    { cause },
  );
}
