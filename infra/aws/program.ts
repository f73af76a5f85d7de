/**
 * The AWS program, which infra/index.ts runs for a stack whose `scheduled-jobs:cloud` is `aws`:
 * reads and validates the stack's config, builds the stack, and fills the stack's outputs (the
 * names infra/exports.ts fixes for every cloud) with AWS's values.
 */
import * as pulumi from "@pulumi/pulumi";
import { OperatorError } from "../errors.js";
import type { StackExports } from "../exports.js";
import { noGoogleExports } from "../exports.js";
import { loadAwsConfig } from "./config.js";
import { createAwsStack } from "./stack.js";

export function awsProgram(): StackExports {
  const config = loadAwsConfig();
  // Not requireSecret: its error carries a stack trace (see ../errors.ts).
  const sendgridApiKey = new pulumi.Config().getSecret("sendgridApiKey");
  if (sendgridApiKey === undefined && config.sendsEmail) {
    throw new OperatorError(
      "Missing required configuration variable 'scheduled-jobs:sendgridApiKey': the stack runs email tasks; set it as a secret with `pulumi config set --secret scheduled-jobs:sendgridApiKey` (it prompts for the value), or pause every email task in scheduled-jobs:taskOverrides to deploy without it",
    );
  }
  const outputs = createAwsStack(config, { sendgridApiKey });
  return {
    ...noGoogleExports,
    functionName: outputs.functionName,
    jobs: outputs.schedules,
    sendgridSecret: outputs.sendgridSecret ?? null,
    databaseName: outputs.databaseName,
    databaseUser: outputs.databaseUser,
    deadManChecks: outputs.deadMan,
    functionArn: outputs.functionArn,
    functionRoleArn: outputs.functionRole,
    schedulerRoleArn: outputs.schedulerRole,
    scheduleGroup: outputs.scheduleGroup,
    deadLetterQueueUrl: outputs.deadLetterQueueUrl,
    databaseEndpoint: outputs.databaseEndpoint,
  };
}
