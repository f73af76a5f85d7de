import { describe, expect, it } from "vitest";
import type { Env } from "../functions/config.js";
import { parseConfig } from "../functions/config.js";

const auth = {
  AUTH_AUDIENCE: "https://scheduled-tasks-abc-uc.a.run.app",
  AUTH_ALLOWED_EMAILS: "scheduler@demo-project.iam.gserviceaccount.com",
};
const url = { DATABASE_URL: "postgres://app:Sup3rSecret@db.internal:5432/delivery" };

describe("parseConfig", () => {
  it("when DATABASE_URL and the auth variables are set, then the configuration is complete", () => {
    const { config, problems } = parseConfig({ ...url, ...auth, GOOGLE_CLOUD_PROJECT: "demo-project" });
    expect(problems).toEqual([]);
    expect(config?.database).toEqual({ kind: "url", connectionString: url.DATABASE_URL });
    expect(config?.poolMax).toBe(2);
    expect(config?.projectId).toBe("demo-project");
    expect(config?.auth.allowedEmails.has(auth.AUTH_ALLOWED_EMAILS)).toBe(true);
  });

  it("when Cloud SQL is named with its user and database, then the connector is configured with IAM on a public IP", () => {
    const { config, problems } = parseConfig({
      ...auth,
      INSTANCE_CONNECTION_NAME: "demo-project:europe-west1:delivery-db",
      DB_USER: "scheduler@demo-project.iam",
      DB_NAME: "delivery",
      DB_POOL_MAX: "4",
    });
    expect(problems).toEqual([]);
    expect(config?.database).toEqual({
      kind: "cloud-sql",
      instanceConnectionName: "demo-project:europe-west1:delivery-db",
      user: "scheduler@demo-project.iam",
      database: "delivery",
      ipType: "PUBLIC",
    });
    expect(config?.poolMax).toBe(4);
  });

  const cases: [string, Env, string[]][] = [
    [
      "no database",
      { ...auth },
      ["no database configured: set DATABASE_URL, or INSTANCE_CONNECTION_NAME with DB_USER and DB_NAME"],
    ],
    [
      "a DATABASE_URL that is not a URL",
      { ...auth, DATABASE_URL: "host=db user=app password=Sup3rSecret" },
      ["DATABASE_URL is not a postgres:// or postgresql:// URL"],
    ],
    [
      "a DATABASE_URL of another scheme",
      { ...auth, DATABASE_URL: "mysql://app:Sup3rSecret@db/delivery" },
      ["DATABASE_URL is not a postgres:// or postgresql:// URL"],
    ],
    [
      "both DATABASE_URL and INSTANCE_CONNECTION_NAME",
      { ...auth, ...url, INSTANCE_CONNECTION_NAME: "p:r:i", DB_USER: "u", DB_NAME: "d" },
      ["set either DATABASE_URL or INSTANCE_CONNECTION_NAME (with DB_USER and DB_NAME), not both"],
    ],
    [
      "INSTANCE_CONNECTION_NAME without DB_USER and DB_NAME",
      { ...auth, INSTANCE_CONNECTION_NAME: "demo-project:europe-west1:delivery-db" },
      [
        "DB_USER is not set (with INSTANCE_CONNECTION_NAME: the IAM database user, e.g. the service account email without .gserviceaccount.com)",
        "DB_NAME is not set (with INSTANCE_CONNECTION_NAME: the database to use)",
      ],
    ],
    [
      "a malformed INSTANCE_CONNECTION_NAME and an unknown DB_IP_TYPE",
      { ...auth, INSTANCE_CONNECTION_NAME: "delivery-db", DB_USER: "u", DB_NAME: "d", DB_IP_TYPE: "VPN" },
      [
        "INSTANCE_CONNECTION_NAME must look like <project>:<region>:<instance>",
        "DB_IP_TYPE must be one of PUBLIC, PRIVATE, PSC",
      ],
    ],
    [
      "a DB_POOL_MAX that is not a whole number",
      { ...auth, ...url, DB_POOL_MAX: "2.5" },
      ["DB_POOL_MAX must be a whole number from 1 to 50"],
    ],
    [
      "a DB_POOL_MAX of 0",
      { ...auth, ...url, DB_POOL_MAX: "0" },
      ["DB_POOL_MAX must be a whole number from 1 to 50"],
    ],
    [
      "both SendGrid key variables",
      {
        ...auth,
        ...url,
        SENDGRID_API_KEY: "SG.x",
        SENDGRID_API_KEY_SECRET: "projects/p/secrets/s/versions/1",
      },
      ["set either SENDGRID_API_KEY or SENDGRID_API_KEY_SECRET, not both"],
    ],
    [
      "a SENDGRID_API_KEY_SECRET that is not a version name",
      { ...auth, ...url, SENDGRID_API_KEY_SECRET: "sendgrid-key" },
      [
        "SENDGRID_API_KEY_SECRET must be a Secret Manager version name: projects/<project>/secrets/<secret>/versions/<version or latest>",
      ],
    ],
    [
      "malformed mail settings",
      {
        ...auth,
        ...url,
        SENDGRID_BASE_URL: "localhost:3030",
        MAIL_FROM: "nobody",
        OPS_EMAIL: "ops at example",
      },
      [
        "SENDGRID_BASE_URL is not an http(s) URL",
        "MAIL_FROM is not an email address",
        "OPS_EMAIL is not an email address",
      ],
    ],
  ];

  it.each(cases)("when the environment has %s, then each problem is named once", (_, env, expected) => {
    const { config, problems } = parseConfig(env);
    expect(config).toBeUndefined();
    expect(problems).toEqual(expected);
  });

  it("when the auth variables are missing, then the configuration is refused (fail closed)", () => {
    const { config, problems } = parseConfig({ ...url });
    expect(config).toBeUndefined();
    expect(problems.some((problem) => problem.includes("AUTH_AUDIENCE"))).toBe(true);
  });

  it("when a value is malformed, then no problem repeats the value (it may hold a password)", () => {
    const { problems } = parseConfig({
      DATABASE_URL: "mysql://app:Sup3rSecret@db/delivery",
      SENDGRID_API_KEY: "SG.Sup3rSecret",
      SENDGRID_API_KEY_SECRET: "Sup3rSecret",
    });
    expect(problems.length).toBeGreaterThan(1);
    expect(problems.join("\n")).not.toContain("Sup3rSecret");
  });
});
