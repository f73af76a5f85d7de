/**
 * The stack's outputs, by name. The entry's exports are the stack's outputs, and an ES module's
 * export names are fixed when it is written, whichever cloud a stack chooses: both programs fill
 * the same names, each with what plays that part on its cloud (docs/aws.md, "Stack outputs"), and
 * `null` where its cloud has nothing of the kind (an `undefined` output would be a warning on every
 * `pulumi up`).
 */
import type * as pulumi from "@pulumi/pulumi";

/** A scheduled job as the stack deploys it (each cloud may add what its scheduler knows of it). */
export interface JobExport {
  readonly name: string;
  /** The unix-cron schedule the catalog and the stack's overrides give it. */
  readonly schedule: string;
  readonly timeZone: string;
  readonly paused: boolean;
}

type Text = pulumi.Input<string>;

export interface StackExports {
  readonly functionUrl: Text | null;
  readonly functionName: Text;
  readonly serviceName: Text | null;
  readonly jobs: readonly JobExport[];
  readonly runtimeServiceAccount: Text;
  readonly schedulerServiceAccount: Text;
  readonly buildServiceAccount: Text | null;
  readonly sendgridSecret: Text | null;
  readonly instanceConnectionName: Text;
  readonly databaseName: Text;
  readonly databaseUser: Text;
  readonly deadManChecks: pulumi.Input<readonly unknown[]>;
  readonly monitoringAgent: Text | null | undefined;
}
