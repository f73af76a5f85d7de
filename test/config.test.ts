import { describe, expect, it } from "vitest";
import type { Env } from "../functions/core/config/function-config.js";
import { parseConfig } from "../functions/core/config/function-config.js";
import { taskNames } from "../functions/core/catalog.js";
import { isTimeZone } from "../functions/core/schedule/jobs.js";

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
    expect(config?.email.key).toEqual({ source: "none" });
  });

  it("when the SendGrid key is a Secret Manager version, then the email settings carry it, and no warning is logged", () => {
    const { config, problems, warnings } = parseConfig({
      ...url,
      ...auth,
      SENDGRID_API_KEY_SECRET: "projects/demo-project/secrets/sendgrid/versions/latest",
      MAIL_FROM: "reports@delivery.example",
      OPS_EMAIL: "ops@delivery.example",
    });
    expect(problems).toEqual([]);
    expect(warnings).toEqual([]);
    expect(config?.email).toMatchObject({
      key: {
        source: "secret-manager",
        secretVersion: "projects/demo-project/secrets/sendgrid/versions/latest",
      },
      mailFrom: "reports@delivery.example",
      opsEmail: "ops@delivery.example",
    });
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
      [
        "no database configured: set DATABASE_URL, or INSTANCE_CONNECTION_NAME with DB_USER and DB_NAME, or DB_HOST with DB_USER, DB_NAME and DB_IAM_AUTH=true",
      ],
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
      ["set SENDGRID_API_KEY or SENDGRID_API_KEY_SECRET, not both"],
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
        "SENDGRID_BASE_URL must be an http(s) URL",
        "MAIL_FROM must be an email address",
        "OPS_EMAIL must be an email address",
      ],
    ],
    [
      "a SendGrid key without MAIL_FROM",
      { ...auth, ...url, SENDGRID_API_KEY: "SG.x" },
      ["MAIL_FROM is required when a SendGrid key is configured (a sender verified in SendGrid)"],
    ],
    [
      "TASK_OVERRIDES that is not JSON",
      { ...auth, ...url, TASK_OVERRIDES: "{paused" },
      ["TASK_OVERRIDES is not valid JSON"],
    ],
    [
      "TASK_OVERRIDES that is a list",
      { ...auth, ...url, TASK_OVERRIDES: "[]" },
      [
        "TASK_OVERRIDES must be an object of task name to {schedule?, timeZone?, paused?, attemptDeadlineSeconds?}",
      ],
    ],
    [
      "TASK_OVERRIDES with bad names, fields and values",
      {
        ...auth,
        ...url,
        TASK_OVERRIDES: JSON.stringify({
          "no-such-task": { paused: true },
          "archive-old-orders": { schedule: "@daily", timeZone: "Mars/Olympus", paused: "yes", retries: 3 },
        }),
      },
      [
        `TASK_OVERRIDES.no-such-task: unknown task "no-such-task" (known: ${taskNames.join(", ")})`,
        "TASK_OVERRIDES.archive-old-orders.paused must be true or false",
        "TASK_OVERRIDES.archive-old-orders.retries is not an override (allowed: schedule, timeZone, paused, attemptDeadlineSeconds)",
        `task "archive-old-orders" (with TASK_OVERRIDES.archive-old-orders): schedule "@daily" must have exactly five fields (minute hour day-of-month month day-of-week), as Cloud Scheduler's unix-cron takes; it has 1`,
        `task "archive-old-orders" (with TASK_OVERRIDES.archive-old-orders): time zone "Mars/Olympus" is not an IANA time zone`,
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

describe("isTimeZone", () => {
  /** The rule as it was: whatever Intl.DateTimeFormat takes. */
  const takenByDateTimeFormat = (name: string): boolean => {
    try {
      new Intl.DateTimeFormat("en-US", { timeZone: name });
      return true;
    } catch {
      return false;
    }
  };

  it("when a name is listed, an alias, UTC, or not a zone at all, then it answers as Intl.DateTimeFormat does", () => {
    const names = [
      ...Intl.supportedValuesOf("timeZone"),
      "UTC",
      "Etc/UTC",
      "Asia/Kolkata",
      "Asia/Calcutta",
      "Europe/Kyiv",
      "US/Eastern",
      "europe/berlin",
      "Mars/Olympus",
      "Europe/Berlin ",
      "",
      "   ",
      "+01:00",
    ];
    for (const name of names) {
      const expected = name.trim() !== "" && name === name.trim() && takenByDateTimeFormat(name);
      expect([name, isTimeZone(name)]).toEqual([name, expected]);
    }
  });
});
