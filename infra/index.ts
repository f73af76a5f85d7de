/**
 * The Pulumi program (named by Pulumi.yaml): the stack's config chooses the cloud
 * (`scheduled-jobs:cloud`: `gcp`, the default, or `aws`), whose program reads and validates the rest
 * of the config, builds the stack and returns what an operator needs. The resources live in
 * infra/gcp/ and infra/aws/; the AWS program is loaded only by a stack that chooses it.
 */
import * as pulumi from "@pulumi/pulumi";
import { loadCloud } from "./config.js";
import { OperatorError } from "./errors.js";
import type { StackExports } from "./exports.js";
import { noAwsExports } from "./exports.js";
import { loadConfig } from "./gcp/config.js";
import { createStack } from "./gcp/stack.js";

function google(): StackExports {
  const config = loadConfig();
  // Not requireSecret: its error carries a stack trace, which costs Pulumi's runtime seconds to format
  // (see errors.ts) and tells the operator nothing.
  const sendgridApiKey = new pulumi.Config().getSecret("sendgridApiKey");
  if (sendgridApiKey === undefined && config.sendsEmail) {
    throw new OperatorError(
      "Missing required configuration variable 'scheduled-jobs:sendgridApiKey': the stack runs email tasks; set it as a secret with `pulumi config set --secret scheduled-jobs:sendgridApiKey` (it prompts for the value), or pause every email task in scheduled-jobs:taskOverrides to deploy without it",
    );
  }
  return { ...noAwsExports, ...createStack(config, { sendgridApiKey }) };
}

const outputs: StackExports =
  loadCloud() === "aws" ? (await import("./aws/program.js")).awsProgram() : google();

export const functionUrl = outputs.functionUrl;
export const functionName = outputs.functionName;
export const serviceName = outputs.serviceName;
export const jobs = outputs.jobs;
export const runtimeServiceAccount = outputs.runtimeServiceAccount;
export const schedulerServiceAccount = outputs.schedulerServiceAccount;
export const buildServiceAccount = outputs.buildServiceAccount;
export const sendgridSecret = outputs.sendgridSecret;
export const instanceConnectionName = outputs.instanceConnectionName;
export const databaseName = outputs.databaseName;
export const databaseUser = outputs.databaseUser;
export const deadManChecks = outputs.deadManChecks;
export const monitoringAgent = outputs.monitoringAgent;
export const functionArn = outputs.functionArn;
export const functionRoleArn = outputs.functionRoleArn;
export const schedulerRoleArn = outputs.schedulerRoleArn;
export const scheduleGroup = outputs.scheduleGroup;
export const deadLetterQueueUrl = outputs.deadLetterQueueUrl;
export const databaseEndpoint = outputs.databaseEndpoint;
