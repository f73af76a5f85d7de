/**
 * The email tasks' settings, read from an environment passed in (never `process.env` directly), so
 * the function's config module and the tests call the same parser.
 */

export interface EmailConfig {
  /** Where the SendGrid key comes from; `none` means nothing is sent (local mailbox instead). */
  readonly key:
    | { readonly source: "env"; readonly apiKey: string }
    | { readonly source: "secret-manager"; readonly secretVersion: string }
    | { readonly source: "none" };
  /** SendGrid's API root, replaced by a local fake in tests. */
  readonly baseUrl: string | undefined;
  readonly mailFrom: string;
  /** Who alert-failed-runs writes to; the task fails without it. */
  readonly opsEmail: string | undefined;
  /** How long a key read from Secret Manager is used before it is read again (rotation). */
  readonly secretRefreshSeconds: number;
}

export class EmailConfigError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(`invalid email settings: ${problems.join("; ")}`);
    this.name = "EmailConfigError";
  }
}

const emailPattern = /^[^\s@<>(),;:"]+@[^\s@<>(),;:"]+\.[^\s@<>(),;:"]+$/;
const secretVersionPattern = /^projects\/[^/\s]+\/secrets\/[^/\s]+\/versions\/[^/\s]+$/;

/** A development address: where mail would come from locally when MAIL_FROM is unset and nothing is sent. */
export const LOCAL_MAIL_FROM = "scheduled-jobs@localhost.localdomain";

export function isEmailAddress(value: string): boolean {
  return emailPattern.test(value);
}

/**
 * Reads SENDGRID_API_KEY or SENDGRID_API_KEY_SECRET (a Secret Manager version name), SENDGRID_BASE_URL,
 * MAIL_FROM, OPS_EMAIL and SENDGRID_SECRET_REFRESH_SECONDS. Throws EmailConfigError naming every problem.
 */
export function parseEmailEnv(env: Readonly<Record<string, string | undefined>>): EmailConfig {
  const problems: string[] = [];
  const value = (name: string): string | undefined => {
    const raw = env[name]?.trim();
    return raw ? raw : undefined;
  };

  const apiKey = value("SENDGRID_API_KEY");
  const secretVersion = value("SENDGRID_API_KEY_SECRET");
  let key: EmailConfig["key"] = { source: "none" };
  if (apiKey && secretVersion) {
    problems.push("set SENDGRID_API_KEY or SENDGRID_API_KEY_SECRET, not both");
  } else if (apiKey) {
    key = { source: "env", apiKey };
  } else if (secretVersion) {
    if (!secretVersionPattern.test(secretVersion)) {
      problems.push(
        "SENDGRID_API_KEY_SECRET must be a Secret Manager version name: projects/<project>/secrets/<secret>/versions/<version or latest>",
      );
    } else {
      key = { source: "secret-manager", secretVersion };
    }
  }

  const baseUrl = value("SENDGRID_BASE_URL");
  if (baseUrl !== undefined) {
    let parsed: URL | undefined;
    try {
      parsed = new URL(baseUrl);
    } catch {
      parsed = undefined;
    }
    if (!parsed || (parsed.protocol !== "https:" && parsed.protocol !== "http:")) {
      problems.push("SENDGRID_BASE_URL must be an http(s) URL");
    }
  }

  const mailFrom = value("MAIL_FROM");
  if (mailFrom !== undefined && !isEmailAddress(mailFrom))
    problems.push("MAIL_FROM must be an email address");
  if (mailFrom === undefined && key.source !== "none") {
    problems.push("MAIL_FROM is required when a SendGrid key is configured (a sender verified in SendGrid)");
  }

  const opsEmail = value("OPS_EMAIL");
  if (opsEmail !== undefined && !isEmailAddress(opsEmail))
    problems.push("OPS_EMAIL must be an email address");

  const refreshRaw = value("SENDGRID_SECRET_REFRESH_SECONDS");
  const secretRefreshSeconds = refreshRaw === undefined ? 600 : Number(refreshRaw);
  if (!Number.isInteger(secretRefreshSeconds) || secretRefreshSeconds < 0) {
    problems.push("SENDGRID_SECRET_REFRESH_SECONDS must be a whole number of seconds");
  }

  if (problems.length > 0) throw new EmailConfigError(problems);
  return {
    key,
    baseUrl,
    mailFrom: mailFrom ?? LOCAL_MAIL_FROM,
    opsEmail,
    secretRefreshSeconds,
  };
}
