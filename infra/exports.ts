/**
 * The stack's outputs, by name. The entry's exports are the stack's outputs, and an ES module's
 * export names are fixed when it is written, whichever cloud a stack chooses: the names both clouds
 * share, then each cloud's own, which the other cloud's program sets to `null` (docs/deploy.md and
 * docs/aws.md list them). A name never holds another cloud's kind of thing.
 */
import type * as pulumi from "@pulumi/pulumi";

/** A scheduled job as the stack deploys it (each cloud may add what its scheduler knows of it). */
interface JobExport {
  readonly name: string;
  /** The unix-cron schedule the catalog and the stack's overrides give it. */
  readonly schedule: string;
  readonly timeZone: string;
  readonly paused: boolean;
}

type Text = pulumi.Input<string>;

/** What both clouds' stacks output. */
interface SharedExports {
  readonly functionName: Text;
  readonly jobs: readonly JobExport[];
  readonly sendgridSecret: Text | null;
  readonly databaseName: Text;
  readonly databaseUser: Text;
  readonly deadManChecks: pulumi.Input<readonly unknown[]>;
}

/** What only a Google stack outputs. */
interface GoogleExports {
  readonly functionUrl: Text;
  readonly serviceName: Text;
  readonly runtimeServiceAccount: Text;
  readonly schedulerServiceAccount: Text;
  readonly buildServiceAccount: Text;
  readonly instanceConnectionName: Text;
  readonly monitoringAgent: Text | null | undefined;
}

/** What only an AWS stack outputs. */
interface AwsExports {
  readonly functionArn: Text;
  readonly functionRoleArn: Text;
  readonly schedulerRoleArn: Text;
  readonly scheduleGroup: Text;
  readonly deadLetterQueueUrl: Text;
  readonly databaseEndpoint: Text;
}

type Absent<T> = { readonly [K in keyof T]: null };

export type StackExports = SharedExports &
  ((GoogleExports & Absent<AwsExports>) | (AwsExports & Absent<GoogleExports>));

export const noAwsExports: Absent<AwsExports> = {
  functionArn: null,
  functionRoleArn: null,
  schedulerRoleArn: null,
  scheduleGroup: null,
  deadLetterQueueUrl: null,
  databaseEndpoint: null,
};

export const noGoogleExports: Absent<GoogleExports> = {
  functionUrl: null,
  serviceName: null,
  runtimeServiceAccount: null,
  schedulerServiceAccount: null,
  buildServiceAccount: null,
  instanceConnectionName: null,
  monitoringAgent: null,
};
