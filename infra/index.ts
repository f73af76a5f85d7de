/**
 * The Pulumi program (named by Pulumi.yaml): reads and validates the stack's config, builds the
 * stack, and exports what an operator needs. The resources live in the modules next to this one.
 */
import * as pulumi from "@pulumi/pulumi";
import { loadConfig } from "./config.js";
import { OperatorError } from "./errors.js";
import { createStack } from "./gcp/stack.js";

const config = loadConfig();
// Not requireSecret: its error carries a stack trace, which costs Pulumi's runtime seconds to format
// (see errors.ts) and tells the operator nothing.
const sendgridApiKey = new pulumi.Config().getSecret("sendgridApiKey");
if (sendgridApiKey === undefined) {
  throw new OperatorError(
    "Missing required configuration variable 'scheduled-jobs:sendgridApiKey': set it as a secret with `pulumi config set --secret scheduled-jobs:sendgridApiKey` (it prompts for the value)",
  );
}
const outputs = createStack(config, { sendgridApiKey });

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
