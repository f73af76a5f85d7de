/**
 * AWS Secrets Manager's read of the SendGrid key, for the one key rule (./secrets.ts): the
 * secret's `SecretString` is the key itself. The SDK's client loads and is created on the first
 * read, never at cold start (a SQL task never loads it). GetSecretValue:
 * https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_GetSecretValue.html; from a
 * Lambda function: https://docs.aws.amazon.com/lambda/latest/dg/with-secrets-manager.html.
 */
import type { ApiKeySource, RefreshOptions } from "./secrets.js";
import { refreshingKey, refused, unreachable } from "./secrets.js";

/** The one call of the SDK used here (GetSecretValue), so tests can inject their own. */
export interface SecretValueReader {
  getSecretValue(
    request: { SecretId: string },
    options: { abortSignal: AbortSignal },
  ): Promise<{ SecretString?: string | undefined }>;
}

interface SecretsManagerKeyOptions extends RefreshOptions {
  /** arn:aws:secretsmanager:<region>:<account>:secret:<name> */
  readonly secretArn: string;
  /** Defaults to a SecretsManagerClient created on first use (region and role from Lambda's environment). */
  readonly client?: SecretValueReader | undefined;
  /** Per call; Secrets Manager answers in tens of milliseconds when it is up. */
  readonly timeoutMs?: number;
}

const STORE = "Secrets Manager";

/** The SDK's client, behind the one call. */
async function sdkReader(): Promise<SecretValueReader> {
  const { SecretsManagerClient, GetSecretValueCommand } = await import("@aws-sdk/client-secrets-manager");
  const client = new SecretsManagerClient({});
  return {
    getSecretValue: (request, options) => client.send(new GetSecretValueCommand(request), options),
  };
}

/**
 * Whether an SDK error means the service was not reached or failed on its side: no HTTP answer
 * at all (a network error, a timeout), a 5xx, or throttling; anything else is the service saying no.
 */
function isUnreachable(error: unknown): boolean {
  const { name, $metadata } = error as { name?: unknown; $metadata?: { httpStatusCode?: unknown } };
  const status = $metadata?.httpStatusCode;
  return (
    typeof status !== "number" || status >= 500 || name === "ThrottlingException" || name === "AbortError"
  );
}

export function secretsManagerKey(options: SecretsManagerKeyOptions): ApiKeySource {
  let reader: Promise<SecretValueReader> | undefined;

  const fetch = async (): Promise<string> => {
    let response;
    try {
      reader ??= options.client ? Promise.resolve(options.client) : sdkReader();
      const abortSignal = AbortSignal.timeout(options.timeoutMs ?? 10_000);
      response = await (await reader).getSecretValue({ SecretId: options.secretArn }, { abortSignal });
    } catch (error) {
      const name = (error as { name?: unknown }).name;
      const why = typeof name === "string" ? name : "no answer";
      if (isUnreachable(error)) throw unreachable(STORE, why, error);
      throw refused(STORE, options.secretArn, why, error);
    }
    return response.SecretString ?? "";
  };

  return refreshingKey({ store: STORE, secret: options.secretArn, fetch }, options);
}
