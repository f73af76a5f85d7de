import { describe, expect, it } from "vitest";
import type { Env } from "../../functions/core/config/function-config.js";
import { parseLambdaConfig } from "../../functions/aws/config.js";

const groupArn = "arn:aws:scheduler:eu-west-1:123456789012:schedule-group/scheduled-jobs";
const secretArn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:scheduled-jobs/sendgrid-AbCdEf";
const rds = {
  DB_HOST: "delivery-db.abcdefghijkl.eu-west-1.rds.amazonaws.com",
  DB_USER: "scheduled_jobs",
  DB_NAME: "delivery_app",
  DB_IAM_AUTH: "true",
  AWS_REGION: "eu-west-1",
};

describe("parseLambdaConfig", () => {
  it("when RDS, the group and the key's secret are set, then the configuration is complete", () => {
    const { config, problems, warnings } = parseLambdaConfig({
      ...rds,
      SCHEDULE_GROUP_ARN: groupArn,
      SENDGRID_API_KEY_SECRET_ARN: secretArn,
      MAIL_FROM: "reports@delivery.example",
    });
    expect(problems).toEqual([]);
    expect(warnings).toEqual([]);
    expect(config?.database).toEqual({
      kind: "rds-iam",
      host: rds.DB_HOST,
      port: 5432,
      user: "scheduled_jobs",
      database: "delivery_app",
      region: "eu-west-1",
    });
    expect(config?.email.key).toEqual({ source: "secrets-manager", secretArn });
    expect(config?.scheduleGroupArn).toBe(groupArn);
  });

  const cases: [string, Env, string[]][] = [
    [
      "no schedule group",
      { ...rds },
      [
        "SCHEDULE_GROUP_ARN is not set: the Lambda cannot tell its schedules' ticks from other deliveries, so it refuses every invoke",
      ],
    ],
    [
      "a schedule's ARN where the group's belongs",
      { ...rds, SCHEDULE_GROUP_ARN: `${groupArn.replace("schedule-group", "schedule")}/x` },
      [
        "SCHEDULE_GROUP_ARN must be a schedule group's ARN: arn:aws:scheduler:<region>:<account>:schedule-group/<group>",
      ],
    ],
    [
      "DB_HOST without IAM sign-in",
      { ...rds, DB_IAM_AUTH: "false", SCHEDULE_GROUP_ARN: groupArn },
      ["DB_HOST signs in with RDS IAM authentication only: set DB_IAM_AUTH=true (or use DATABASE_URL)"],
    ],
    [
      "DB_HOST without a region, user or database",
      { DB_HOST: rds.DB_HOST, DB_IAM_AUTH: "true", SCHEDULE_GROUP_ARN: groupArn },
      [
        "DB_USER is not set (with DB_HOST: the IAM database user)",
        "DB_NAME is not set (with DB_HOST: the database to use)",
        "AWS_REGION is not set: DB_IAM_AUTH needs the Region its token is made for (Lambda sets it)",
      ],
    ],
    [
      "DB_HOST beside DATABASE_URL",
      { ...rds, DATABASE_URL: "postgres://a@b/c", SCHEDULE_GROUP_ARN: groupArn },
      ["set one of DATABASE_URL, INSTANCE_CONNECTION_NAME and DB_HOST, not DB_HOST and DATABASE_URL"],
    ],
    [
      "a port out of range and a key secret that is no ARN",
      { ...rds, DB_PORT: "70000", SCHEDULE_GROUP_ARN: groupArn, SENDGRID_API_KEY_SECRET_ARN: "sendgrid" },
      [
        "DB_PORT must be a port number from 1 to 65535",
        "SENDGRID_API_KEY_SECRET_ARN must be a Secrets Manager secret's ARN: arn:aws:secretsmanager:<region>:<account>:secret:<name>",
      ],
    ],
    [
      "two key sources",
      {
        ...rds,
        SCHEDULE_GROUP_ARN: groupArn,
        SENDGRID_API_KEY: "SG.x",
        SENDGRID_API_KEY_SECRET_ARN: secretArn,
      },
      [
        "set one of SENDGRID_API_KEY, SENDGRID_API_KEY_SECRET, SENDGRID_API_KEY_SECRET_ARN, not SENDGRID_API_KEY and SENDGRID_API_KEY_SECRET_ARN",
      ],
    ],
  ];

  it.each(cases)(
    "when the environment has %s, then each problem is named once and nothing starts",
    (_, env, expected) => {
      const { config, problems } = parseLambdaConfig(env);
      expect(config).toBeUndefined();
      expect(problems).toEqual(expected);
    },
  );
});
