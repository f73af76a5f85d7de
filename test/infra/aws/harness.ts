/**
 * Runs the AWS program under strict mocks (../harness.ts `strictMocks`): every AWS resource type the
 * program may create is listed with the outputs AWS would compute (ARNs, the queue's URL, the
 * instance's endpoint and DbiResourceId), an unknown type or call fails the test, and each
 * resource's inputs are recorded for the policy assertions.
 */
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as pulumi from "@pulumi/pulumi";
import type { TaskDefinition } from "../../../functions/core/catalog.js";
import type { RawConfig } from "../../../infra/config.js";
import type { AwsStackConfig } from "../../../infra/aws/config.js";
import type { AwsStackOutputs } from "../../../infra/aws/stack.js";
import type { Inputs, InvokeAnswers, RecordedResource, Synthesizer } from "../harness.js";
import { strictMocks, valueOf } from "../harness.js";

export const ACCOUNT = "123456789012";
export const REGION = "eu-west-1";
export const RESOURCE_ID = "db-ABCDEFGHIJKLMNOPQRSTUVWXY0";
export const EXISTING = {
  identifier: "delivery-prod",
  address: "delivery-prod.c0ffee.eu-west-1.rds.amazonaws.com",
};

const arn = (service: string, resource: string, region = REGION): string =>
  `arn:aws:${service}:${region}:${ACCOUNT}:${resource}`;

/** Outputs AWS computes, by type; every type the AWS program may create is listed. */
const synthesize: Record<string, Synthesizer> = {
  "aws:scheduler/scheduleGroup:ScheduleGroup": (inputs) => ({
    arn: arn("scheduler", `schedule-group/${inputs.name}`),
  }),
  "aws:scheduler/schedule:Schedule": (inputs) => ({
    arn: arn("scheduler", `schedule/${inputs.groupName}/${inputs.name}`),
  }),
  "aws:sqs/queue:Queue": (inputs) => ({
    arn: arn("sqs", String(inputs.name)),
    url: `https://sqs.${REGION}.amazonaws.com/${ACCOUNT}/${inputs.name}`,
  }),
  "aws:secretsmanager/secret:Secret": (inputs) => ({
    arn: arn("secretsmanager", `secret:${inputs.name}-AbCdEf`),
  }),
  "aws:secretsmanager/secretVersion:SecretVersion": () => ({ versionId: "v1" }),
  "aws:rds/subnetGroup:SubnetGroup": (inputs) => ({ arn: arn("rds", `subgrp:${inputs.name}`) }),
  "aws:ec2/securityGroup:SecurityGroup": (inputs) => ({ arn: arn("ec2", `security-group/${inputs.name}`) }),
  "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule": () => ({}),
  "aws:rds/instance:Instance": (inputs) => ({
    address: `${inputs.identifier}.c0ffee.${REGION}.rds.amazonaws.com`,
    port: inputs.port,
    arn: arn("rds", `db:${inputs.identifier}`),
    resourceId: RESOURCE_ID,
  }),
  "aws:cloudwatch/logGroup:LogGroup": (inputs) => ({ arn: arn("logs", `log-group:${inputs.name}`) }),
  "aws:iam/role:Role": (inputs) => ({ arn: `arn:aws:iam::${ACCOUNT}:role/${inputs.name}` }),
  "aws:iam/rolePolicy:RolePolicy": () => ({}),
  "aws:lambda/function:Function": (inputs) => ({ arn: arn("lambda", `function:${inputs.name}`) }),
  "aws:lambda/functionEventInvokeConfig:FunctionEventInvokeConfig": () => ({}),
  "aws:sns/topic:Topic": (inputs) => ({ arn: arn("sns", String(inputs.name)) }),
  "aws:sns/topicSubscription:TopicSubscription": () => ({ pendingConfirmation: true }),
  "aws:cloudwatch/logMetricFilter:LogMetricFilter": () => ({}),
  "aws:cloudwatch/metricAlarm:MetricAlarm": (inputs) => ({ arn: arn("cloudwatch", `alarm:${inputs.name}`) }),
};

/** The one function the AWS program calls: an existing RDS instance, looked up by identifier. */
export const awsInvokes: InvokeAnswers = {
  "aws:rds/getInstance:getInstance": (args) => ({
    dbInstanceIdentifier: args.dbInstanceIdentifier,
    address: args.dbInstanceIdentifier === EXISTING.identifier ? EXISTING.address : "unknown.invalid",
    port: 5432,
    dbInstanceArn: arn("rds", `db:${args.dbInstanceIdentifier}`),
    resourceId: RESOURCE_ID,
  }),
};

/** A security group's id looks like one (the ingress rules name it); every other id is its ARN or name. */
function idOf(state: Inputs, name: string, type: string): string {
  if (type === "aws:ec2/securityGroup:SecurityGroup") return "sg-0feedface0000000d";
  return typeof state.arn === "string" ? state.arn : `${name}-id`;
}

const recorded: RecordedResource[] = [];

export async function installAwsMocks(stack = "aws-test"): Promise<void> {
  await pulumi.runtime.setMocks(
    strictMocks(synthesize, awsInvokes, recorded, idOf),
    "scheduled-jobs",
    stack,
    false,
  );
}

/** A stand-in for `npm run build`'s Lambda bundle. */
export function fakeLambdaBundle(content = "export const handler = async () => ({});\n"): string {
  const dir = mkdtempSync(join(tmpdir(), "sj-lambda-bundle-"));
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "index.mjs"), content);
  return dir;
}

export const NETWORK = {
  vpcId: "vpc-0123456789abcdef0",
  subnetIds: ["subnet-0123456789abcdef0", "subnet-0fedcba9876543210"],
  securityGroupIds: ["sg-0123456789abcdef0", "sg-0aaaabbbbccccdddd"],
};

export function awsConfig(sourceDir: string, extra: Record<string, unknown> = {}): RawConfig {
  return {
    region: REGION,
    alertEmail: "ops@example.com",
    mailFrom: "no-reply@example.com",
    network: NETWORK,
    rds: { create: true, databaseName: "delivery_app" },
    // The catalog's http task calls this target: every stack that runs it names it.
    httpTargets: { "app-backend": { url: "https://a1b2c3d4e5.execute-api.eu-west-1.amazonaws.com/prod" } },
    ...extra,
    lambda: { sourceDir, ...((extra.lambda as object | undefined) ?? {}) },
  };
}

export const SENDGRID_KEY = `SG.aws-${Math.random().toString(36).slice(2)}`;

export interface AwsStackRun {
  readonly resources: readonly RecordedResource[];
  readonly config: AwsStackConfig;
  readonly outputs: AwsStackOutputs;
  /** Resolved values of every output. */
  readonly values: Record<string, unknown>;
  of(type: string): RecordedResource[];
  one(type: string, name?: string): RecordedResource;
}

/** Builds the AWS stack from raw config under fresh mocks and waits until every resource is registered. */
export async function runAwsStack(
  raw: RawConfig,
  options: { catalog?: readonly TaskDefinition[]; sendgridApiKey?: string | undefined } = {},
): Promise<AwsStackRun> {
  recorded.length = 0;
  await installAwsMocks();
  const { resolveAwsConfig } = await import("../../../infra/aws/config.js");
  const { createAwsStack } = await import("../../../infra/aws/stack.js");
  const config = options.catalog ? resolveAwsConfig(raw, options.catalog) : resolveAwsConfig(raw);
  const key = "sendgridApiKey" in options ? options.sendgridApiKey : SENDGRID_KEY;
  const outputs = createAwsStack(config, {
    sendgridApiKey: key === undefined ? undefined : pulumi.secret(key),
  });
  const values: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(outputs))
    values[name] = await valueOf(value as pulumi.Input<unknown>);
  await pulumi.runtime.disconnect();
  const resources = [...recorded];
  const of = (type: string) => resources.filter((resource) => resource.type === type);
  return {
    resources,
    config,
    outputs,
    values,
    of,
    one(type, name) {
      const found = of(type).filter((resource) => name === undefined || resource.name === name);
      if (found.length !== 1)
        throw new Error(`expected one ${type}${name ? ` named ${name}` : ""}, found ${found.length}`);
      return found[0]!;
    },
  };
}
