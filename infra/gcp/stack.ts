/**
 * Wires the stack together from a validated configuration: APIs, identities, secret, database,
 * function, jobs, alerts. Returns what an operator needs as stack outputs.
 */
import * as pulumi from "@pulumi/pulumi";
import { createAlerts } from "./alerts.js";
import { enableApis } from "./apis.js";
import type { StackConfig } from "./config.js";
import { createDatabase } from "./database.js";
import { createDeadMan, deadManPath } from "./dead-man.js";
import { createFunction, functionSource } from "./function.js";
import { grantTargetInvokers } from "./http-targets.js";
import { createIdentities } from "./iam.js";
import { createScheduledJobs } from "./scheduler.js";
import { createSendGridSecret } from "./secrets.js";

interface StackSecrets {
  /** Absent on a stack that runs no email task (infra/config.ts `sendsEmail`): no secret is made. */
  readonly sendgridApiKey: pulumi.Output<string> | undefined;
}

export interface StackOutputs {
  readonly functionUrl: pulumi.Output<string>;
  readonly functionName: pulumi.Output<string>;
  readonly serviceName: pulumi.Output<string>;
  readonly jobs: { name: string; schedule: string; timeZone: string; paused: boolean }[];
  readonly runtimeServiceAccount: pulumi.Output<string>;
  readonly schedulerServiceAccount: pulumi.Output<string>;
  readonly buildServiceAccount: pulumi.Output<string>;
  readonly sendgridSecret: pulumi.Output<string> | null;
  readonly instanceConnectionName: pulumi.Output<string>;
  readonly databaseName: string;
  readonly databaseUser: pulumi.Output<string>;
  /** Per unpaused task, its dead-man uptime check (empty when scheduled-jobs:deadMan is false). */
  readonly deadManChecks: pulumi.Output<DeadManCheckOutput[]>;
  /** The identity the dead-man checks call as (undefined when they are off). */
  readonly monitoringAgent: pulumi.Output<string> | undefined;
}

interface DeadManCheckOutput {
  readonly task: string;
  /** The uptime check's id: its results are `uptime_check/check_passed` with this `check_id`. */
  readonly uptimeCheckId: string;
  readonly path: string;
  readonly periodSeconds: number;
}

export function createStack(config: StackConfig, secrets: StackSecrets): StackOutputs {
  const { project, region, prefix } = config;
  // Before the first registration: a missing bundle found halfway would leave `pulumi up` creating
  // the APIs, identities, secret and database of a stack that cannot deploy its function.
  const source = functionSource(config.function.sourceDir);
  const apis = enableApis(project);
  const databaseProject = config.database.mode === "existing" ? config.database.instanceProject : project;
  const identities = createIdentities(project, prefix, apis, databaseProject);
  const secret = secrets.sendgridApiKey
    ? createSendGridSecret(project, prefix, secrets.sendgridApiKey, identities.runtime.email, apis)
    : undefined;
  const database = createDatabase(project, region, config.database, identities.runtime.email, apis);
  const fn = createFunction({
    project,
    region,
    prefix,
    config: config.function,
    source,
    jobs: config.jobs,
    allJobs: config.allJobs,
    runtimeEmail: identities.runtime.email,
    buildServiceAccount: identities.build.name,
    schedulerEmail: identities.scheduler.email,
    acceptMonitoringAgent: config.deadMan,
    environment: {
      instanceConnectionName: database.connectionName,
      databaseUser: database.user,
      databaseName: database.databaseName,
      sendGridSecretVersion: secret?.version.name,
      mailFrom: config.mailFrom,
      opsEmail: config.opsEmail,
      httpTargets: config.httpTargets,
      operators: config.operators,
    },
    apis,
    dependsOn: [
      ...identities.bindings,
      ...(secret ? [secret.accessor] : []),
      ...(database.iamUser ? [database.iamUser] : []),
      ...(database.database ? [database.database] : []),
    ],
  });
  grantTargetInvokers({
    project,
    region,
    targets: config.httpTargets,
    runtimeEmail: identities.runtime.email,
  });
  createScheduledJobs(
    { project, region, jobs: config.jobs, url: fn.url, schedulerEmail: identities.scheduler.email },
    // A job created before the grant would fire into 403s.
    { dependsOn: [apis.cloudscheduler, fn.invoker] },
  );
  const alerts = createAlerts({
    project,
    prefix,
    serviceName: config.function.name,
    alertEmail: config.alertEmail,
    jobs: config.jobs,
    absenceAlertMaxIntervalSeconds: config.absenceAlertMaxIntervalSeconds,
    apis,
  });
  const deadMan =
    config.deadMan && fn.monitoringAgentEmail
      ? createDeadMan({
          project,
          region,
          prefix,
          jobs: config.deadManJobs,
          url: fn.url,
          serviceName: fn.serviceName,
          monitoringAgentEmail: fn.monitoringAgentEmail,
          channel: alerts.channel.name,
          dependsOn: [apis.monitoring, fn.function],
        })
      : undefined;
  const deadManChecks = pulumi.all(
    [...(deadMan?.checks ?? [])].map(([task, entry]) =>
      entry.check.uptimeCheckId.apply((uptimeCheckId): DeadManCheckOutput => ({
        task,
        uptimeCheckId,
        path: deadManPath(task),
        periodSeconds: entry.timing.periodSeconds,
      })),
    ),
  );

  return {
    functionUrl: fn.url,
    functionName: fn.function.name,
    serviceName: fn.serviceName,
    jobs: config.jobs.map((job) => ({
      name: job.name,
      schedule: job.schedule,
      timeZone: job.timeZone,
      paused: job.paused,
    })),
    runtimeServiceAccount: identities.runtime.email,
    schedulerServiceAccount: identities.scheduler.email,
    buildServiceAccount: identities.build.email,
    sendgridSecret: secret ? secret.secret.name : null,
    instanceConnectionName: database.connectionName,
    databaseName: database.databaseName,
    databaseUser: database.user,
    deadManChecks,
    monitoringAgent: deadMan ? fn.monitoringAgentEmail : undefined,
  };
}
