import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { childEnv } from "../../scripts/local/child-env.js";
import { useTestDatabase } from "../helpers/database.js";

const db = useTestDatabase();

describe("loading the email code", () => {
  it("when a SQL task runs, then neither SendGrid nor Secret Manager is loaded; an email task loads SendGrid only", async () => {
    const { stdout } = await promisify(execFile)(
      process.execPath,
      ["--import", "tsx", "test/email/fixtures/load-probe.ts"],
      {
        cwd: new URL("../..", import.meta.url),
        env: {
          ...childEnv(),
          PROBE_DATABASE_URL: db.url,
          SENDGRID_API_KEY_SECRET: "projects/p/secrets/sendgrid/versions/latest",
          MAIL_FROM: "reports@delivery.example",
        },
      },
    );
    const probe = JSON.parse(stdout.trim().split("\n").pop()!) as Record<string, string[] | string>;
    expect(probe.sql).toBe("succeeded");
    expect(probe.email).toBe("succeeded");
    const sdks = [
      "@sendgrid/mail",
      "@sendgrid/client",
      "axios",
      "@google-cloud/secret-manager",
      "google-gax",
      "@grpc/grpc-js",
    ];
    expect((probe.afterSql as string[]).filter((name) => sdks.includes(name))).toEqual([]);
    expect(probe.afterSql).toContain("pg");
    // The same probe sees the SDK once an email task ran (a dry run reads no key: no Secret Manager),
    // and sees Secret Manager once it is imported: the check can tell.
    expect(probe.afterEmail).toContain("@sendgrid/mail");
    expect(probe.afterEmail).not.toContain("@google-cloud/secret-manager");
    expect(probe.afterSecretManager).toContain("@google-cloud/secret-manager");
  });
});
