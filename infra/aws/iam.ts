/**
 * The two identities of an AWS stack, each allowed what it needs on this stack's resources and
 * nothing else:
 * - the scheduler's execution role, which EventBridge Scheduler assumes for this stack's schedule
 *   group only (`aws:SourceAccount` and `aws:SourceArn`, the group's ARN, as the scheduler's
 *   confused-deputy page asks: https://docs.aws.amazon.com/scheduler/latest/UserGuide/cross-service-confused-deputy-prevention.html),
 *   and which may invoke this function and send to this dead-letter queue
 *   (https://docs.aws.amazon.com/scheduler/latest/UserGuide/configuring-schedule-dlq.html);
 * - the function's execution role: the network-interface actions of AWS's managed
 *   AWSLambdaVPCAccessExecutionRole (which take no resource), its log writes on the function's own
 *   log group only, `rds-db:connect` as its one database user, the SendGrid key's one secret, and
 *   the invoke of each http target its tasks call, that target only (./http-targets.ts).
 * No resource-based permission on the function: the scheduler invokes with its role
 * (https://docs.aws.amazon.com/lambda/latest/dg/with-eventbridge-scheduler.html), and nothing else
 * may (no function URL, no public principal).
 */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";

export interface PolicyStatement {
  readonly Sid?: string;
  readonly Effect: "Allow";
  readonly Action: string | readonly string[];
  readonly Resource?: string | readonly string[];
  readonly Principal?: { readonly Service: string };
  readonly Condition?: Readonly<Record<string, Readonly<Record<string, string>>>>;
}

interface PolicyDocument {
  readonly Version: "2012-10-17";
  readonly Statement: readonly PolicyStatement[];
}

const document = (...statements: PolicyStatement[]): PolicyDocument => ({
  Version: "2012-10-17",
  Statement: statements,
});

/**
 * The actions AWSLambdaVPCAccessExecutionRole grants for the function's network interfaces
 * (https://docs.aws.amazon.com/aws-managed-policy/latest/reference/AWSLambdaVPCAccessExecutionRole.html);
 * they take no resource-level scope. Its log actions are granted below on the function's log group.
 */
const NETWORK_INTERFACE_ACTIONS = [
  "ec2:CreateNetworkInterface",
  "ec2:DescribeNetworkInterfaces",
  "ec2:DescribeSubnets",
  "ec2:DeleteNetworkInterface",
  "ec2:AssignPrivateIpAddresses",
  "ec2:UnassignPrivateIpAddresses",
] as const;

/** The account of an ARN (`arn:<partition>:<service>:<region>:<account>:...`). */
function accountOf(arn: string): string {
  return arn.split(":")[4] ?? "";
}

function schedulerTrustPolicy(groupArn: string): PolicyDocument {
  return document({
    Effect: "Allow",
    Principal: { Service: "scheduler.amazonaws.com" },
    Action: "sts:AssumeRole",
    Condition: {
      StringEquals: { "aws:SourceAccount": accountOf(groupArn) },
      ArnEquals: { "aws:SourceArn": groupArn },
    },
  });
}

function schedulerPolicy(functionArn: string, deadLetterQueueArn: string): PolicyDocument {
  return document(
    { Sid: "InvokeTheFunction", Effect: "Allow", Action: "lambda:InvokeFunction", Resource: functionArn },
    { Sid: "DeadLetters", Effect: "Allow", Action: "sqs:SendMessage", Resource: deadLetterQueueArn },
  );
}

function functionTrustPolicy(): PolicyDocument {
  return document({
    Effect: "Allow",
    Principal: { Service: "lambda.amazonaws.com" },
    Action: "sts:AssumeRole",
  });
}

/**
 * `rds-db:connect` takes `arn:<partition>:rds-db:<region>:<account>:dbuser:<DbiResourceId>/<user>`
 * (https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/UsingWithRDS.IAMDBAuth.IAMPolicy.html);
 * the partition, region and account are the instance's own.
 */
export function databaseUserArn(instanceArn: string, resourceId: string, user: string): string {
  const [, partition, , region, account] = instanceArn.split(":");
  return `arn:${partition}:rds-db:${region}:${account}:dbuser:${resourceId}/${user}`;
}

interface FunctionAccess {
  logGroupArn: string;
  databaseUserArn: string;
  sendGridSecretArn: string | undefined;
  /** The invoke grants of the http targets the tasks call (./http-targets.ts). */
  httpTargets: readonly PolicyStatement[];
}

function functionPolicy(args: FunctionAccess): PolicyDocument {
  return document(
    { Sid: "NetworkInterfaces", Effect: "Allow", Action: NETWORK_INTERFACE_ACTIONS, Resource: "*" },
    {
      Sid: "OwnLogs",
      Effect: "Allow",
      Action: ["logs:CreateLogStream", "logs:PutLogEvents"],
      Resource: `${args.logGroupArn}:*`,
    },
    { Sid: "DatabaseUser", Effect: "Allow", Action: "rds-db:connect", Resource: args.databaseUserArn },
    ...(args.sendGridSecretArn === undefined
      ? []
      : [
          {
            Sid: "SendGridKey",
            Effect: "Allow" as const,
            Action: "secretsmanager:GetSecretValue",
            Resource: args.sendGridSecretArn,
          },
        ]),
    ...args.httpTargets,
  );
}

const json = (policy: PolicyDocument): string => JSON.stringify(policy);

/** The function's role with its one inline policy; the function waits for both. */
export function createFunctionRole(
  prefix: string,
  access: pulumi.Input<FunctionAccess>,
): { role: aws.iam.Role; policy: aws.iam.RolePolicy } {
  const role = new aws.iam.Role("function-role", {
    name: `${prefix}-function`,
    description:
      "The scheduled tasks' Lambda function: its network interfaces, its logs, its database user, its secret, its http targets.",
    assumeRolePolicy: json(functionTrustPolicy()),
  });
  const policy = new aws.iam.RolePolicy("function-access", {
    role: role.name,
    policy: pulumi.output(access).apply((values) => json(functionPolicy(values))),
  });
  return { role, policy };
}

/** The scheduler's role: assumed for this schedule group only, allowed this function and this queue. */
export function createSchedulerRole(
  prefix: string,
  groupArn: pulumi.Input<string>,
  functionArn: pulumi.Input<string>,
  deadLetterQueueArn: pulumi.Input<string>,
): { role: aws.iam.Role; policy: aws.iam.RolePolicy } {
  const role = new aws.iam.Role("scheduler-role", {
    name: `${prefix}-scheduler`,
    description: "EventBridge Scheduler's execution role for the scheduled tasks' schedule group.",
    assumeRolePolicy: pulumi.output(groupArn).apply((arn) => json(schedulerTrustPolicy(arn))),
  });
  const policy = new aws.iam.RolePolicy("scheduler-access", {
    role: role.name,
    policy: pulumi
      .all([functionArn, deadLetterQueueArn])
      .apply(([fn, queue]) => json(schedulerPolicy(fn, queue))),
  });
  return { role, policy };
}
