/**
 * The Pulumi program (named by Pulumi.yaml): reads and validates the stack's config, builds the
 * stack, and exports what an operator needs. The resources live in the modules next to this one.
 */
import * as pulumi from "@pulumi/pulumi";
import { loadConfig } from "./config.js";
import { createStack } from "./stack.js";

const outputs = createStack(loadConfig(), {
  sendgridApiKey: new pulumi.Config().requireSecret("sendgridApiKey"),
});

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
