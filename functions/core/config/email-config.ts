/**
 * The email tasks' settings. The function's config module reads them from the environment
 * (`parseEmailEnv` in functions/core/config/function-config.ts, through the environment contract) and hands them over.
 */

import type { EmailTransportChoice } from "./environment.js";

export interface EmailConfig {
  /** SendGrid, or the local mailbox when a local run chose it (EMAIL_TRANSPORT): never a fallback. */
  readonly transport: EmailTransportChoice;
  /** Where the SendGrid key comes from; `none` with SendGrid chosen is a configuration error of the email tasks. */
  readonly key:
    | { readonly source: "env"; readonly apiKey: string }
    | { readonly source: "secret-manager"; readonly secretVersion: string }
    /** AWS Secrets Manager: the secret's SecretString is the key. */
    | { readonly source: "secrets-manager"; readonly secretArn: string }
    | { readonly source: "none" };
  /** SendGrid's API root, replaced by a local fake in tests. */
  readonly baseUrl: string | undefined;
  readonly mailFrom: string;
  /** Who alert-failed-runs writes to; the task fails without it. */
  readonly opsEmail: string | undefined;
  /** How long a key read from Secret Manager or Secrets Manager is used before it is read again (rotation). */
  readonly secretRefreshSeconds: number;
}

export class EmailConfigError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(`invalid email settings: ${problems.join("; ")}`);
    this.name = "EmailConfigError";
  }
}
