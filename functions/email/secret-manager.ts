/**
 * Google Secret Manager's read of the SendGrid key, for the one key rule (./secrets.ts). The
 * client, slow to load, is created on the first read (BENCHMARKS.md, "SendGrid / Secret Manager
 * modules loaded by a SQL request").
 */
import type { ApiKeySource, RefreshOptions } from "./secrets.js";
import { refreshingKey, refused, unreachable } from "./secrets.js";

/** The one call of `SecretManagerServiceClient` used here, so tests can inject their own. */
export interface SecretVersionReader {
  accessSecretVersion(
    request: { name: string },
    options?: { timeout?: number },
  ): Promise<[{ payload?: { data?: Uint8Array | string | null } | null }, ...unknown[]]>;
}

interface SecretManagerKeyOptions extends RefreshOptions {
  /** projects/<project>/secrets/<secret>/versions/<version> */
  readonly secretVersion: string;
  /** Defaults to a SecretManagerServiceClient created on first use. */
  readonly client?: SecretVersionReader | (() => Promise<SecretVersionReader>) | undefined;
  /** Per call; Secret Manager answers in tens of milliseconds when it is up. */
  readonly timeoutMs?: number;
}

const STORE = "Secret Manager";

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

export function secretManagerKey(options: SecretManagerKeyOptions): ApiKeySource {
  let client: SecretVersionReader | undefined;
  const getClient = async (): Promise<SecretVersionReader> => {
    if (typeof options.client === "function") client ??= await options.client();
    else if (options.client) client = options.client;
    if (client) return client;
    const { SecretManagerServiceClient } = await import("@google-cloud/secret-manager");
    client = new SecretManagerServiceClient() as unknown as SecretVersionReader;
    return client;
  };

  const fetch = async (): Promise<string> => {
    let response;
    try {
      [response] = await (
        await getClient()
      ).accessSecretVersion({ name: options.secretVersion }, { timeout: options.timeoutMs ?? 10_000 });
    } catch (error) {
      const code = (error as { code?: unknown }).code;
      const name = typeof code === "number" ? (grpcCodeNames[code] ?? `code ${code}`) : "no answer";
      if (typeof code !== "number" || unreachableCodes.has(code)) throw unreachable(STORE, name, error);
      throw refused(STORE, options.secretVersion, name, error);
    }
    const data = response.payload?.data;
    return typeof data === "string" ? data : data ? Buffer.from(data).toString("utf8") : "";
  };

  return refreshingKey({ store: STORE, secret: options.secretVersion, fetch }, options);
}
