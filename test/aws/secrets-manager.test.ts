/**
 * The SendGrid key from AWS Secrets Manager, by the one key rule (functions/email/secrets.ts): read
 * on first use, kept for the refresh interval, refused or unreachable as `unavailable`, and a held
 * key kept when a refresh fails. The SDK's GetSecretValue is replaced by a counting stand-in; its
 * errors are shaped as the SDK's (`name`, `$metadata.httpStatusCode`).
 */
import { describe, expect, it } from "vitest";
import { ScheduledTaskError } from "../../functions/core/errors.js";
import type { SecretValueReader } from "../../functions/email/secrets-manager.js";
import { secretsManagerKey } from "../../functions/email/secrets-manager.js";

const ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:scheduled-jobs/sendgrid-AbCdEf";

function reader(answer: () => Promise<string | undefined>) {
  const calls: string[] = [];
  const client: SecretValueReader = {
    async getSecretValue(request, options) {
      calls.push(request.SecretId);
      expect(options.abortSignal).toBeInstanceOf(AbortSignal);
      return { SecretString: await answer() };
    },
  };
  return { client, calls };
}

const sdkError = (name: string, status?: number): Error =>
  Object.assign(new Error(name), { name, ...(status ? { $metadata: { httpStatusCode: status } } : {}) });

async function refusal(read: () => Promise<string>): Promise<ScheduledTaskError> {
  const error = await read().then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(ScheduledTaskError);
  expect((error as ScheduledTaskError).code).toBe("unavailable");
  return error as ScheduledTaskError;
}

describe("the SendGrid key from Secrets Manager", () => {
  it("when the key is asked for twice within the refresh interval, then the secret is read once, lazily, by its ARN", async () => {
    const { client, calls } = reader(async () => " SG.key \n");
    let clock = 0;
    const key = secretsManagerKey({ secretArn: ARN, refreshSeconds: 600, client, now: () => clock });
    expect(calls).toEqual([]);
    expect(await key()).toBe("SG.key");
    clock += 599_000;
    expect(await key()).toBe("SG.key");
    expect(calls).toEqual([ARN]);
    clock += 2_000;
    await key();
    expect(calls).toEqual([ARN, ARN]);
  });

  it("when Secrets Manager cannot be reached or fails on its side, then the read is unavailable, naming the store", async () => {
    for (const error of [sdkError("TimeoutError"), sdkError("InternalServiceError", 500)]) {
      const { client } = reader(() => Promise.reject(error));
      const refused = await refusal(secretsManagerKey({ secretArn: ARN, refreshSeconds: 600, client }));
      expect(refused.message).toBe(`Secrets Manager is unreachable (${error.name})`);
    }
  });

  it("when Secrets Manager says no, or the secret is empty, then the read is unavailable, naming the secret and never a value", async () => {
    const denied = reader(() => Promise.reject(sdkError("AccessDeniedException", 400)));
    expect(
      (await refusal(secretsManagerKey({ secretArn: ARN, refreshSeconds: 600, client: denied.client })))
        .message,
    ).toBe(
      `Secrets Manager refused to read the SendGrid key ${ARN} (AccessDeniedException); nothing was sent and every email stays queued`,
    );
    const empty = reader(async () => undefined);
    expect(
      (await refusal(secretsManagerKey({ secretArn: ARN, refreshSeconds: 600, client: empty.client })))
        .message,
    ).toBe(`the secret ${ARN} is empty; nothing was sent and every email stays queued`);
  });

  it("when a refresh fails while a key is held, then the held key is used and the failure logged", async () => {
    let up = true;
    const { client, calls } = reader(() =>
      up ? Promise.resolve("SG.held") : Promise.reject(sdkError("TimeoutError")),
    );
    const warnings: string[] = [];
    const log = { warn: (message: string) => warnings.push(message) } as never;
    const key = secretsManagerKey({ secretArn: ARN, refreshSeconds: 0, client, log });
    expect(await key()).toBe("SG.held");
    up = false;
    expect(await key()).toBe("SG.held");
    expect(calls).toHaveLength(2);
    expect(warnings).toEqual(["could not refresh the SendGrid key from Secrets Manager; using the one held"]);
  });
});
