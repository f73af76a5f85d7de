/**
 * The Lambda function that runs the tasks, from the bundle `npm run build` writes to dist/lambda
 * (everything bundled: Lambda installs nothing, https://docs.aws.amazon.com/lambda/latest/dg/nodejs-package.html),
 * in the stack's VPC, with its log group, its environment and its asynchronous-invoke settings.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { tasks } from "../../functions/core/catalog.js";
import { writeEnvironment } from "../../functions/core/config/environment.js";
import { overridesOf } from "../../functions/core/schedule/jobs.js";
import { computedVariable } from "../environment.js";
import { OperatorError } from "../errors.js";
import type { LambdaDeployment, NetworkDeployment } from "./config.js";
import type { HttpTargets } from "../../functions/core/config/http-targets.js";
import type { Job } from "../../functions/core/schedule/jobs.js";

/** Supported into 2027 (https://docs.aws.amazon.com/lambda/latest/dg/lambda-nodejs.html). */
export const RUNTIME = "nodejs22.x";
/** The bundle's entry, dist/lambda/index.mjs, exports `handler`. */
const HANDLER = "index.handler";
const BUNDLE_ENTRY = "index.mjs";
/** The bundle is JavaScript only, so it runs on Graviton, which Lambda bills lower than x86_64. */
const ARCHITECTURE = "arm64";
const LOG_RETENTION_DAYS = 30;

/**
 * Lambda's own retries of an asynchronous invoke whose handler threw: 0 to 2, per function, not per
 * schedule (https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-error-handling.html). The
 * handler throws only for an outcome a retry can repair (a failed run, the database unreachable, a
 * lock a daily task must wait for); 2, the most, is the nearest to the daily and weekly tasks' three
 * retries, and a frequent task's retry finds its next tick holding the lock and is skipped.
 */
const ASYNC_RETRY_ATTEMPTS = 2;
/** Lambda's longest (and default) wait for an event it could not start yet: six hours. */
const ASYNC_EVENT_AGE_SECONDS = 21_600;

/** The bundle, read before anything is registered: a stack that cannot deploy its function creates nothing. */
export function lambdaCode(dir: string): pulumi.asset.FileArchive {
  if (!existsSync(join(dir, BUNDLE_ENTRY))) {
    throw new OperatorError(
      `the Lambda bundle is missing: ${dir} has no ${BUNDLE_ENTRY}. Run \`npm run build\` before \`pulumi up\` (or point scheduled-jobs:lambda.sourceDir at the bundle).`,
    );
  }
  return new pulumi.asset.FileArchive(dir);
}

/** The stack's values that the function's environment carries. */
interface LambdaEnvironment {
  readonly databaseHost: pulumi.Input<string>;
  readonly databasePort: pulumi.Input<number>;
  readonly databaseName: string;
  readonly databaseUser: string;
  readonly scheduleGroupArn: pulumi.Input<string>;
  readonly sendGridSecretArn: pulumi.Input<string> | undefined;
  readonly mailFrom: string;
  readonly opsEmail: string;
  /** Every task as the stack schedules it, pg_cron's too: the function judges them all in its health report. */
  readonly allJobs: readonly Job[];
  /** The http tasks' targets (HTTP_TARGETS; absent when none), each signed for as its host says. */
  readonly httpTargets: HttpTargets;
}

/**
 * The function's environment, each variable written by the function's own environment contract
 * (functions/core/config/environment.ts) and read back with its parser. No secret among them: the
 * SendGrid key is the secret's ARN, the database password a token made per connection.
 */
export function lambdaEnvironment(env: LambdaEnvironment): Record<string, pulumi.Input<string>> {
  return {
    ...writeEnvironment({
      NODE_ENV: "production",
      DB_NAME: env.databaseName,
      DB_USER: env.databaseUser,
      DB_IAM_AUTH: true,
      MAIL_FROM: env.mailFrom,
      OPS_EMAIL: env.opsEmail,
      // What the stack really runs (EventBridge Scheduler's schedules and pg_cron's), so health and
      // overdue reports judge every task by its deployed schedule (absent when nothing is overridden).
      TASK_OVERRIDES: overridesOf(tasks, env.allJobs),
      HTTP_TARGETS: env.httpTargets,
    }),
    DB_HOST: computedVariable("DB_HOST", env.databaseHost),
    DB_PORT: computedVariable("DB_PORT", env.databasePort),
    SCHEDULE_GROUP_ARN: computedVariable("SCHEDULE_GROUP_ARN", env.scheduleGroupArn),
    ...(env.sendGridSecretArn === undefined
      ? {}
      : {
          SENDGRID_API_KEY_SECRET_ARN: computedVariable("SENDGRID_API_KEY_SECRET_ARN", env.sendGridSecretArn),
        }),
  };
}

export function createLogGroup(name: string): aws.cloudwatch.LogGroup {
  // Lambda writes to /aws/lambda/<function name>; made here, so its retention and metric filters are the stack's.
  return new aws.cloudwatch.LogGroup("function-logs", {
    name: `/aws/lambda/${name}`,
    retentionInDays: LOG_RETENTION_DAYS,
  });
}

export interface DeployedFunction {
  readonly function: aws.lambda.Function;
  readonly invokeConfig: aws.lambda.FunctionEventInvokeConfig;
}

export function createFunction(args: {
  config: LambdaDeployment;
  network: NetworkDeployment;
  code: pulumi.asset.FileArchive;
  roleArn: pulumi.Input<string>;
  logGroup: aws.cloudwatch.LogGroup;
  environment: Record<string, pulumi.Input<string>>;
  /** The role's policy: without its network-interface actions Lambda refuses a VPC function. */
  dependsOn: pulumi.Input<pulumi.Resource>[];
}): DeployedFunction {
  const { config } = args;
  const fn = new aws.lambda.Function(
    "scheduled-tasks",
    {
      name: config.name,
      description: "Runs the scheduled tasks of the delivery app; invoked by EventBridge Scheduler.",
      runtime: RUNTIME,
      handler: HANDLER,
      architectures: [ARCHITECTURE],
      code: args.code,
      role: args.roleArn,
      memorySize: config.memoryMb,
      timeout: config.timeoutSeconds,
      vpcConfig: {
        subnetIds: [...args.network.subnetIds],
        securityGroupIds: [...args.network.securityGroupIds],
      },
      environment: { variables: args.environment },
      loggingConfig: { logFormat: "Text", logGroup: args.logGroup.name },
    },
    { dependsOn: [args.logGroup, ...args.dependsOn] },
  );
  const invokeConfig = new aws.lambda.FunctionEventInvokeConfig("async-invokes", {
    functionName: fn.name,
    maximumRetryAttempts: ASYNC_RETRY_ATTEMPTS,
    maximumEventAgeInSeconds: ASYNC_EVENT_AGE_SECONDS,
  });
  return { function: fn, invokeConfig };
}
