import { describe, expect, it } from "vitest";
import { parseEmailEnv } from "../../functions/core/config/function-config.js";

const SECRET = "projects/delivery/secrets/sendgrid-api-key/versions/latest";
const MAIL_FROM = "reports@delivery.example";

describe("parseEmailEnv", () => {
  it.each([
    [
      {},
      {
        transport: "sendgrid",
        key: { source: "none" },
        mailFrom: "scheduled-jobs@localhost.localdomain",
        secretRefreshSeconds: 600,
      },
    ],
    [
      {
        SENDGRID_API_KEY: "SG.x",
        MAIL_FROM,
        OPS_EMAIL: "ops@example.com",
        SENDGRID_BASE_URL: "http://127.0.0.1:9",
      },
      {
        key: { source: "env", apiKey: "SG.x" },
        mailFrom: MAIL_FROM,
        opsEmail: "ops@example.com",
        baseUrl: "http://127.0.0.1:9",
      },
    ],
    [{ EMAIL_TRANSPORT: "local-mailbox" }, { transport: "local-mailbox", key: { source: "none" } }],
    [
      { SENDGRID_API_KEY_SECRET: SECRET, MAIL_FROM, SENDGRID_SECRET_REFRESH_SECONDS: "60" },
      { key: { source: "secret-manager", secretVersion: SECRET }, secretRefreshSeconds: 60 },
    ],
  ])("when the environment is %j, then the settings are read", (env, expected) => {
    const { config, problems } = parseEmailEnv(env);
    expect(problems).toEqual([]);
    expect(config).toMatchObject(expected);
  });

  it.each([
    [{ SENDGRID_API_KEY: "SG.x", SENDGRID_API_KEY_SECRET: SECRET, MAIL_FROM }, /not both/],
    [{ SENDGRID_API_KEY_SECRET: "sendgrid-key", MAIL_FROM }, /Secret Manager version name/],
    [{ SENDGRID_API_KEY: "SG.x" }, /MAIL_FROM is required/],
    [{ MAIL_FROM: "not an address" }, /MAIL_FROM must be an email address/],
    [{ OPS_EMAIL: "ops" }, /OPS_EMAIL must be an email address/],
    [{ SENDGRID_BASE_URL: "ftp://x" }, /SENDGRID_BASE_URL must be an http\(s\) URL/],
    [{ SENDGRID_SECRET_REFRESH_SECONDS: "soon" }, /whole number/],
    [{ EMAIL_TRANSPORT: "log" }, /EMAIL_TRANSPORT must be one of sendgrid, local-mailbox/],
    [
      { EMAIL_TRANSPORT: "local-mailbox", SENDGRID_API_KEY: "SG.x", MAIL_FROM },
      /EMAIL_TRANSPORT=local-mailbox sends nothing, yet a SendGrid key is set/,
    ],
  ])("when the environment is %j, then it is refused with a precise message", (env, message) => {
    const { config, problems } = parseEmailEnv(env);
    expect(config).toBeUndefined();
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(message);
  });

  it("when a key is configured, then no problem contains it", () => {
    const { problems } = parseEmailEnv({
      SENDGRID_API_KEY: "SG.very-secret",
      SENDGRID_API_KEY_SECRET: SECRET,
    });
    expect(problems.length).toBeGreaterThan(0);
    expect(problems.join("\n")).not.toContain("very-secret");
  });
});
