/**
 * The AWS stack under strict mocks: what it registers is exactly what EventBridge Scheduler,
 * Lambda, RDS, Secrets Manager and CloudWatch need, and each role is allowed what its part needs on
 * this stack's resources and nothing wider (each policy parsed, its statements compared whole).
 */
import * as pulumi from "@pulumi/pulumi";
import { beforeAll, describe, expect, it } from "vitest";
import { scheduleInput } from "../../../functions/aws/event.js";
import type { TaskDefinition } from "../../../functions/core/catalog.js";
import { runnerOf, tasks } from "../../../functions/core/catalog.js";
import { problemsWith } from "../../../functions/core/config/environment.js";
import type { VariableName } from "../../../functions/core/config/environment.js";
import { toAwsCron } from "../../../infra/aws/cron.js";
import { ALARM_LOOKBACK_SECONDS, deadManPlan } from "../../../infra/aws/dead-man.js";
import { FAILED_RUNS_PATTERN, SUCCEEDED_RUNS_PATTERN } from "../../../infra/aws/alarms.js";
import type { AwsStackRun } from "./harness.js";
import {
  ACCOUNT,
  awsConfig,
  EXISTING,
  fakeLambdaBundle,
  NETWORK,
  REGION,
  RESOURCE_ID,
  runAwsStack,
  SENDGRID_KEY,
} from "./harness.js";

const arn = (service: string, resource: string) => `arn:aws:${service}:${REGION}:${ACCOUNT}:${resource}`;
const FUNCTION_ARN = arn("lambda", "function:sched-jobs-tasks");
const GROUP_ARN = arn("scheduler", "schedule-group/sched-jobs");
const QUEUE_ARN = arn("sqs", "sched-jobs-dead-letters");
const SECRET_ARN = arn("secretsmanager", "secret:sched-jobs/sendgrid-api-key-AbCdEf");
const LOG_GROUP_ARN = arn("logs", "log-group:/aws/lambda/sched-jobs-tasks");
const DB_USER_ARN = `arn:aws:rds-db:${REGION}:${ACCOUNT}:dbuser:${RESOURCE_ID}/scheduled_jobs`;

const policy = (run: AwsStackRun, type: string, name: string): unknown =>
  JSON.parse(String(run.one(type, name).inputs[type.endsWith("Role") ? "assumeRolePolicy" : "policy"]));

const cloudTasks = tasks.filter((task) => runnerOf(task) === "cloud");

describe("the AWS stack under mocks", () => {
  let run: AwsStackRun;
  beforeAll(async () => {
    run = await runAwsStack(
      awsConfig(fakeLambdaBundle(), { taskOverrides: { "cleanup-orphaned-menus": { paused: true } } }),
    );
  }, 60_000);

  it("when built, then it registers these types only: no function URL, no resource-based permission, no other role", () => {
    expect([...new Set(run.resources.map((resource) => resource.type))].sort()).toEqual([
      "aws:cloudwatch/logGroup:LogGroup",
      "aws:cloudwatch/logMetricFilter:LogMetricFilter",
      "aws:cloudwatch/metricAlarm:MetricAlarm",
      "aws:ec2/securityGroup:SecurityGroup",
      "aws:iam/role:Role",
      "aws:iam/rolePolicy:RolePolicy",
      "aws:lambda/function:Function",
      "aws:lambda/functionEventInvokeConfig:FunctionEventInvokeConfig",
      "aws:rds/instance:Instance",
      "aws:rds/subnetGroup:SubnetGroup",
      "aws:scheduler/schedule:Schedule",
      "aws:scheduler/scheduleGroup:ScheduleGroup",
      "aws:secretsmanager/secret:Secret",
      "aws:secretsmanager/secretVersion:SecretVersion",
      "aws:sns/topic:Topic",
      "aws:sns/topicSubscription:TopicSubscription",
      "aws:sqs/queue:Queue",
      "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
    ]);
    expect(
      run
        .of("aws:iam/role:Role")
        .map((role) => role.name)
        .sort(),
    ).toEqual(["function-role", "scheduler-role"]);
    expect(run.of("aws:iam/rolePolicy:RolePolicy")).toHaveLength(2);
  });

  it("when built, then each cloud task has one schedule in the group, firing at its time in its zone with the templated Input", () => {
    const schedules = run.of("aws:scheduler/schedule:Schedule");
    expect(schedules.map((schedule) => schedule.name).sort()).toEqual(
      cloudTasks.map((task) => task.name).sort(),
    );
    for (const job of run.config.jobs) {
      const { inputs } = run.one("aws:scheduler/schedule:Schedule", job.name);
      expect(inputs).toMatchObject({
        name: job.name,
        groupName: "sched-jobs",
        scheduleExpression: (toAwsCron(job.schedule) as { expression: string }).expression,
        scheduleExpressionTimezone: job.timeZone,
        flexibleTimeWindow: { mode: "OFF" },
        state: job.paused ? "DISABLED" : "ENABLED",
      });
      expect(inputs.target.arn).toBe(FUNCTION_ARN);
      expect(inputs.target.roleArn).toBe(`arn:aws:iam::${ACCOUNT}:role/sched-jobs-scheduler`);
      expect(inputs.target.input).toBe(scheduleInput(job.name));
      expect(JSON.parse(inputs.target.input)).toEqual({
        task: job.name,
        scheduledTime: "<aws.scheduler.scheduled-time>",
        scheduleArn: "<aws.scheduler.schedule-arn>",
        attemptNumber: "<aws.scheduler.attempt-number>",
        executionId: "<aws.scheduler.execution-id>",
      });
      expect(inputs.target.deadLetterConfig).toEqual({ arn: QUEUE_ARN });
      expect(inputs.target.retryPolicy).toEqual({
        maximumRetryAttempts: job.retry.retryCount,
        maximumEventAgeInSeconds: Math.min(86_400, Math.max(60, job.intervalSeconds)),
      });
    }
    expect(run.one("aws:scheduler/scheduleGroup:ScheduleGroup").inputs).toEqual({ name: "sched-jobs" });
    expect(run.one("aws:sqs/queue:Queue").inputs).toMatchObject({
      name: "sched-jobs-dead-letters",
      sqsManagedSseEnabled: true,
    });
  });

  it("when a task is run by pg_cron, then it has no schedule", async () => {
    const catalog: TaskDefinition[] = [
      { ...tasks[0], name: "in-database", runner: "pg_cron" },
      ...tasks.slice(1),
    ];
    const other = await runAwsStack(awsConfig(fakeLambdaBundle()), { catalog });
    const names = other.of("aws:scheduler/schedule:Schedule").map((schedule) => schedule.name);
    expect(names).not.toContain("in-database");
    expect(names).toHaveLength(tasks.length - 1);
  }, 60_000);

  it("when the scheduler's role is read, then it trusts the scheduler for this account's group only, and may invoke this function and send to this queue", () => {
    expect(policy(run, "aws:iam/role:Role", "scheduler-role")).toEqual({
      Version: "2012-10-17",
      Statement: [
        {
          Effect: "Allow",
          Principal: { Service: "scheduler.amazonaws.com" },
          Action: "sts:AssumeRole",
          Condition: {
            StringEquals: { "aws:SourceAccount": ACCOUNT },
            ArnEquals: { "aws:SourceArn": GROUP_ARN },
          },
        },
      ],
    });
    expect(policy(run, "aws:iam/rolePolicy:RolePolicy", "scheduler-access")).toEqual({
      Version: "2012-10-17",
      Statement: [
        {
          Sid: "InvokeTheFunction",
          Effect: "Allow",
          Action: "lambda:InvokeFunction",
          Resource: FUNCTION_ARN,
        },
        { Sid: "DeadLetters", Effect: "Allow", Action: "sqs:SendMessage", Resource: QUEUE_ARN },
      ],
    });
  });

  it("when the function's role is read, then it may manage its network interfaces, write its own logs, connect as its one database user, read its one secret and invoke its http target", () => {
    expect(policy(run, "aws:iam/role:Role", "function-role")).toEqual({
      Version: "2012-10-17",
      Statement: [
        { Effect: "Allow", Principal: { Service: "lambda.amazonaws.com" }, Action: "sts:AssumeRole" },
      ],
    });
    expect(policy(run, "aws:iam/rolePolicy:RolePolicy", "function-access")).toEqual({
      Version: "2012-10-17",
      Statement: [
        {
          Sid: "NetworkInterfaces",
          Effect: "Allow",
          Action: [
            "ec2:CreateNetworkInterface",
            "ec2:DescribeNetworkInterfaces",
            "ec2:DescribeSubnets",
            "ec2:DeleteNetworkInterface",
            "ec2:AssignPrivateIpAddresses",
            "ec2:UnassignPrivateIpAddresses",
          ],
          Resource: "*",
        },
        {
          Sid: "OwnLogs",
          Effect: "Allow",
          Action: ["logs:CreateLogStream", "logs:PutLogEvents"],
          Resource: `${LOG_GROUP_ARN}:*`,
        },
        { Sid: "DatabaseUser", Effect: "Allow", Action: "rds-db:connect", Resource: DB_USER_ARN },
        {
          Sid: "SendGridKey",
          Effect: "Allow",
          Action: "secretsmanager:GetSecretValue",
          Resource: SECRET_ARN,
        },
        // The catalog's http tasks on the stack's API Gateway stage: that stage, POST, their paths.
        {
          Sid: "InvokeApiAppBackend",
          Effect: "Allow",
          Action: "execute-api:Invoke",
          Resource: tasks.flatMap((task: TaskDefinition) =>
            task.http?.target === "app-backend"
              ? [`arn:aws:execute-api:${REGION}:${ACCOUNT}:a1b2c3d4e5/prod/POST${task.http.path}`]
              : [],
          ),
        },
      ],
    });
  });

  it("when the function is read, then it runs the bundle on Node.js 22 in the VPC, its timeout covering every run, its environment one the function accepts", () => {
    const { inputs } = run.one("aws:lambda/function:Function");
    expect(inputs).toMatchObject({
      name: "sched-jobs-tasks",
      runtime: "nodejs22.x",
      handler: "index.handler",
      role: `arn:aws:iam::${ACCOUNT}:role/sched-jobs-function`,
      timeout: run.config.lambda.timeoutSeconds,
      memorySize: 512,
      vpcConfig: { subnetIds: NETWORK.subnetIds, securityGroupIds: NETWORK.securityGroupIds },
      loggingConfig: { logGroup: "/aws/lambda/sched-jobs-tasks" },
    });
    expect(run.config.lambda.timeoutSeconds).toBeLessThanOrEqual(900);
    const variables = inputs.environment.variables as Record<string, string>;
    expect(variables).toEqual({
      NODE_ENV: "production",
      DB_HOST: `sched-jobs-db.c0ffee.${REGION}.rds.amazonaws.com`,
      DB_PORT: "5432",
      DB_NAME: "delivery_app",
      DB_USER: "scheduled_jobs",
      DB_IAM_AUTH: "true",
      SCHEDULE_GROUP_ARN: GROUP_ARN,
      SENDGRID_API_KEY_SECRET_ARN: SECRET_ARN,
      MAIL_FROM: "no-reply@example.com",
      OPS_EMAIL: "ops@example.com",
      TASK_OVERRIDES: JSON.stringify({ "cleanup-orphaned-menus": { paused: true } }),
      HTTP_TARGETS: JSON.stringify({
        "app-backend": {
          url: "https://a1b2c3d4e5.execute-api.eu-west-1.amazonaws.com/prod",
          audience: "https://a1b2c3d4e5.execute-api.eu-west-1.amazonaws.com",
          internal: false,
        },
      }),
    });
    for (const [name, text] of Object.entries(variables))
      expect(problemsWith(name as VariableName, text), name).toEqual([]);
    expect(JSON.stringify(variables)).not.toContain(SENDGRID_KEY);
    expect(run.one("aws:lambda/functionEventInvokeConfig:FunctionEventInvokeConfig").inputs).toEqual({
      functionName: "sched-jobs-tasks",
      maximumRetryAttempts: 2,
      maximumEventAgeInSeconds: 21_600,
    });
  });

  it("when the database is created, then it is private, encrypted, signs in with IAM, and admits PostgreSQL from the function's groups only", () => {
    expect(run.one("aws:rds/instance:Instance").inputs).toMatchObject({
      identifier: "sched-jobs-db",
      engine: "postgres",
      iamDatabaseAuthenticationEnabled: true,
      manageMasterUserPassword: true,
      publiclyAccessible: false,
      storageEncrypted: true,
      dbName: "delivery_app",
      vpcSecurityGroupIds: ["sg-0feedface0000000d"],
      deletionProtection: true,
    });
    expect(run.one("aws:rds/instance:Instance").inputs.password).toBeUndefined();
    const rules = run
      .of("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")
      .map((rule) => rule.inputs);
    expect(rules).toEqual(
      NETWORK.securityGroupIds.map((source) =>
        expect.objectContaining({
          securityGroupId: "sg-0feedface0000000d",
          referencedSecurityGroupId: source,
          ipProtocol: "tcp",
          fromPort: 5432,
          toPort: 5432,
        }),
      ),
    );
    expect(rules.every((rule) => rule.cidrIpv4 === undefined && rule.cidrIpv6 === undefined)).toBe(true);
  });

  it("when the SendGrid key is set, then it lives in the one secret, as a Pulumi secret, and nowhere else", () => {
    expect(run.one("aws:secretsmanager/secretVersion:SecretVersion").inputs.secretString).toEqual({
      [pulumi.runtime.specialSigKey]: pulumi.runtime.specialSecretSig,
      value: SENDGRID_KEY,
    });
    const elsewhere = run.resources.filter(
      (resource) =>
        resource.type !== "aws:secretsmanager/secretVersion:SecretVersion" &&
        JSON.stringify(resource.inputs).includes(SENDGRID_KEY),
    );
    expect(elsewhere).toEqual([]);
  });

  it("when built, then failed runs and a non-empty dead-letter queue page the alert email", () => {
    expect(run.one("aws:sns/topicSubscription:TopicSubscription").inputs).toMatchObject({
      protocol: "email",
      endpoint: "ops@example.com",
    });
    const filters = run.of("aws:cloudwatch/logMetricFilter:LogMetricFilter").map((filter) => filter.inputs);
    expect(filters).toEqual([
      expect.objectContaining({ logGroupName: "/aws/lambda/sched-jobs-tasks", pattern: FAILED_RUNS_PATTERN }),
      expect.objectContaining({
        pattern: SUCCEEDED_RUNS_PATTERN,
        metricTransformation: expect.objectContaining({ dimensions: { task: "$.task" } }),
      }),
    ]);
    const topic = arn("sns", "sched-jobs-alerts");
    // An alarm's name ends its ARN: letters, digits and hyphens, the prefix first.
    for (const alarm of run.of("aws:cloudwatch/metricAlarm:MetricAlarm")) {
      expect(alarm.inputs.name).toMatch(/^sched-jobs-[a-z0-9-]+$/);
    }
    expect(run.one("aws:cloudwatch/metricAlarm:MetricAlarm", "failed-runs").inputs).toMatchObject({
      metricName: "FailedRuns",
      threshold: 1,
      comparisonOperator: "GreaterThanOrEqualToThreshold",
      treatMissingData: "notBreaching",
      alarmActions: [topic],
    });
    expect(run.one("aws:cloudwatch/metricAlarm:MetricAlarm", "dead-letters").inputs).toMatchObject({
      namespace: "AWS/SQS",
      metricName: "ApproximateNumberOfMessagesVisible",
      dimensions: { QueueName: "sched-jobs-dead-letters" },
      alarmActions: [topic],
    });
  });

  it("when built, then every unpaused task an alarm can wait for has a dead-man, missing data breaching, within CloudWatch's look-back; the weekly task falls to the overdue report", () => {
    const alarms = run
      .of("aws:cloudwatch/metricAlarm:MetricAlarm")
      .filter((alarm) => alarm.name.startsWith("dead-man-"));
    const watched = run.config.deadManJobs.filter((job) => deadManPlan(job).kind === "alarm");
    expect(alarms.map((alarm) => alarm.name).sort()).toEqual(
      watched.map((job) => `dead-man-${job.name}`).sort(),
    );
    expect(watched.map((job) => job.name)).not.toContain("cleanup-orphaned-menus");
    expect(watched.map((job) => job.name)).not.toContain("archive-old-orders");
    expect(run.values.deadMan).toContainEqual({
      task: "archive-old-orders",
      overdueReport: expect.stringMatching(/longer than a CloudWatch alarm can look back/),
    });
    for (const job of watched) {
      const { inputs } = run.one("aws:cloudwatch/metricAlarm:MetricAlarm", `dead-man-${job.name}`);
      expect(inputs).toMatchObject({
        metricName: "SucceededRuns",
        dimensions: { task: job.name },
        statistic: "Sum",
        threshold: 1,
        comparisonOperator: "LessThanThreshold",
        treatMissingData: "breaching",
        datapointsToAlarm: inputs.evaluationPeriods,
      });
      const lookBack = inputs.period * inputs.evaluationPeriods;
      expect(lookBack).toBeGreaterThanOrEqual(job.intervalSeconds + job.timeoutSeconds);
      expect(lookBack).toBeLessThanOrEqual(
        inputs.period < 3600 ? ALARM_LOOKBACK_SECONDS.shortPeriods : ALARM_LOOKBACK_SECONDS.longPeriods,
      );
    }
  });

  it("when built, then the outputs name the function, the schedules' group and queue, the database and its user", () => {
    expect(run.values).toMatchObject({
      functionName: "sched-jobs-tasks",
      functionArn: FUNCTION_ARN,
      scheduleGroup: "sched-jobs",
      deadLetterQueueUrl: `https://sqs.${REGION}.amazonaws.com/${ACCOUNT}/sched-jobs-dead-letters`,
      databaseEndpoint: `sched-jobs-db.c0ffee.${REGION}.rds.amazonaws.com:5432`,
      databaseName: "delivery_app",
      databaseUser: "scheduled_jobs",
      sendgridSecret: SECRET_ARN,
    });
  });
});

describe("the AWS stack with an existing database and no email task", () => {
  let run: AwsStackRun;
  beforeAll(async () => {
    const paused = Object.fromEntries(
      tasks.filter((task) => task.kind === "email").map((task) => [task.name, { paused: true }]),
    );
    run = await runAwsStack(
      awsConfig(fakeLambdaBundle(), {
        rds: { instanceIdentifier: EXISTING.identifier, databaseName: "delivery_app", databaseUser: "jobs" },
        network: { subnetIds: NETWORK.subnetIds.slice(0, 1), securityGroupIds: NETWORK.securityGroupIds },
        deadMan: false,
        taskOverrides: paused,
      }),
      { sendgridApiKey: undefined },
    );
  }, 60_000);

  it("when built, then it creates no database, connects to the existing one as its user, and has no secret to read", () => {
    expect(run.of("aws:rds/instance:Instance")).toEqual([]);
    expect(run.of("aws:secretsmanager/secret:Secret")).toEqual([]);
    const variables = run.one("aws:lambda/function:Function").inputs.environment.variables as Record<
      string,
      string
    >;
    expect(variables.DB_HOST).toBe(EXISTING.address);
    expect(variables.DB_USER).toBe("jobs");
    expect(variables.SENDGRID_API_KEY_SECRET_ARN).toBeUndefined();
    const access = policy(run, "aws:iam/rolePolicy:RolePolicy", "function-access") as {
      Statement: { Sid: string; Resource: string }[];
    };
    expect(access.Statement.map((statement) => statement.Sid)).toEqual([
      "NetworkInterfaces",
      "OwnLogs",
      "DatabaseUser",
      "InvokeApiAppBackend",
    ]);
    expect(access.Statement[2]!.Resource).toBe(
      `arn:aws:rds-db:${REGION}:${ACCOUNT}:dbuser:${RESOURCE_ID}/jobs`,
    );
    expect(
      run
        .of("aws:cloudwatch/metricAlarm:MetricAlarm")
        .map((alarm) => alarm.name)
        .sort(),
    ).toEqual(["dead-letters", "failed-runs"]);
  });
});
