/**
 * Wires an AWS stack together from a validated configuration: the schedule group and its
 * dead-letter queue, the SendGrid key's secret, the database, the function and its role, the
 * schedules and the scheduler's role, the alarms. Returns what an operator needs.
 */
import * as pulumi from "@pulumi/pulumi";
import type { AwsStackConfig } from "./config.js";
import { createAlarms, deadManAlarmName } from "./alarms.js";
import { createDatabase } from "./database.js";
import type { Database } from "./database.js";
import { deadManPlan } from "./dead-man.js";
import { createFunction, createLogGroup, lambdaCode, lambdaEnvironment } from "./function.js";
import { httpTargetStatements } from "./http-targets.js";
import { createFunctionRole, createSchedulerRole, databaseUserArn } from "./iam.js";
import { createScheduleGroup, createSchedules } from "./scheduler.js";
import { createSendGridSecret } from "./secrets.js";

export interface AwsStackOutputs {
  readonly functionName: pulumi.Output<string>;
  readonly functionArn: pulumi.Output<string>;
  readonly scheduleGroup: pulumi.Output<string>;
  readonly deadLetterQueueUrl: pulumi.Output<string>;
  readonly schedules: AwsScheduleOutput[];
  readonly functionRole: pulumi.Output<string>;
  readonly schedulerRole: pulumi.Output<string>;
  readonly sendgridSecret: pulumi.Output<string> | undefined;
  /** host:port of the RDS endpoint. */
  readonly databaseEndpoint: pulumi.Output<string>;
  readonly databaseName: string;
  readonly databaseUser: string;
  readonly deadMan: DeadManOutput[];
}

interface AwsScheduleOutput {
  readonly name: string;
  readonly schedule: string;
  readonly timeZone: string;
  readonly paused: boolean;
  /** The schedule's expression on EventBridge Scheduler. */
  readonly expression: string;
  readonly scheduleGroup: string;
}

type DeadManOutput =
  | { readonly task: string; readonly alarm: string; readonly windowSeconds: number }
  | { readonly task: string; readonly overdueReport: string };

function functionAccess(
  config: AwsStackConfig,
  database: Database,
  logGroupArn: pulumi.Output<string>,
  secretArn?: pulumi.Output<string>,
) {
  return pulumi
    .all([logGroupArn, database.arn, database.resourceId, secretArn])
    .apply(([logs, instanceArn, resourceId, secret]) => {
      // The log group's ARN is the stack's: its partition and account are the grants' own.
      const [, partition = "aws", , , account = ""] = logs.split(":");
      return {
        logGroupArn: logs,
        databaseUserArn: databaseUserArn(instanceArn, resourceId, database.databaseUser),
        sendGridSecretArn: secret,
        httpTargets: httpTargetStatements(config.httpTargets, config.allJobs, { partition, account }),
      };
    });
}

/** Per watched task, its alarm, or why the overdue report watches it instead. */
function deadManOutputs(prefix: string, config: AwsStackConfig): DeadManOutput[] {
  return config.deadManJobs.map((job): DeadManOutput => {
    const plan = deadManPlan(job);
    return plan.kind === "alarm"
      ? { task: job.name, alarm: deadManAlarmName(prefix, job.name), windowSeconds: plan.windowSeconds }
      : { task: job.name, overdueReport: plan.reason };
  });
}

export function createAwsStack(
  config: AwsStackConfig,
  secrets: { sendgridApiKey: pulumi.Output<string> | undefined },
): AwsStackOutputs {
  const { prefix } = config;
  // Before the first registration: a missing bundle found halfway would leave a half-made stack.
  const code = lambdaCode(config.lambda.sourceDir);
  const { group, deadLetterQueue } = createScheduleGroup(prefix);
  const secret = secrets.sendgridApiKey ? createSendGridSecret(prefix, secrets.sendgridApiKey) : undefined;
  const database = createDatabase(prefix, config.rds, config.network);
  const logGroup = createLogGroup(config.lambda.name);
  const functionRole = createFunctionRole(
    prefix,
    functionAccess(config, database, logGroup.arn, secret?.secret.arn),
  );
  const fn = createFunction({
    config: config.lambda,
    network: config.network,
    code,
    roleArn: functionRole.role.arn,
    logGroup,
    environment: lambdaEnvironment({
      databaseHost: database.address,
      databasePort: database.port,
      databaseName: database.databaseName,
      databaseUser: database.databaseUser,
      scheduleGroupArn: group.arn,
      sendGridSecretArn: secret?.secret.arn,
      mailFrom: config.mailFrom,
      opsEmail: config.opsEmail,
      allJobs: config.allJobs,
      httpTargets: config.httpTargets,
    }),
    dependsOn: [
      functionRole.policy,
      ...(secret ? [secret.version] : []),
      ...(database.instance ? [database.instance] : []),
    ],
  });
  const schedulerRole = createSchedulerRole(prefix, group.arn, fn.function.arn, deadLetterQueue.arn);
  createSchedules({
    jobs: config.jobs,
    group,
    deadLetterQueue,
    functionArn: fn.function.arn,
    roleArn: schedulerRole.role.arn,
    dependsOn: [schedulerRole.policy, fn.invokeConfig],
  });
  createAlarms({
    prefix,
    alertEmail: config.alertEmail,
    logGroupName: logGroup.name,
    deadLetterQueueName: deadLetterQueue.name,
    deadManJobs: config.deadManJobs,
  });
  return {
    functionName: fn.function.name,
    functionArn: fn.function.arn,
    scheduleGroup: group.name,
    deadLetterQueueUrl: deadLetterQueue.url,
    schedules: config.jobs.map((job) => ({
      name: job.name,
      schedule: job.schedule,
      timeZone: job.timeZone,
      paused: job.paused,
      expression: job.expression,
      scheduleGroup: prefix,
    })),
    functionRole: functionRole.role.arn,
    schedulerRole: schedulerRole.role.arn,
    sendgridSecret: secret?.secret.arn,
    databaseEndpoint: pulumi.interpolate`${database.address}:${database.port}`,
    databaseName: database.databaseName,
    databaseUser: database.databaseUser,
    deadMan: deadManOutputs(prefix, config),
  };
}
