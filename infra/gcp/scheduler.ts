/**
 * One Cloud Scheduler job per catalog task, each a component so the job and anything added to it
 * later share one name in the stack.
 */
import * as gcp from "@pulumi/gcp";
import * as pulumi from "@pulumi/pulumi";
import type { JobSpec } from "../config.js";

interface ScheduledJobArgs {
  readonly project: string;
  readonly region: string;
  readonly job: JobSpec;
  /** The function's URL: where the job posts, and its token's audience. */
  readonly url: pulumi.Input<string>;
  readonly schedulerEmail: pulumi.Input<string>;
}

/** The body of every job: exactly what the function's contract accepts, `{"task": "<name>"}`. */
function jobBody(task: string): string {
  return JSON.stringify({ task });
}

export class ScheduledJob extends pulumi.ComponentResource {
  readonly job: gcp.cloudscheduler.Job;

  constructor(name: string, args: ScheduledJobArgs, options?: pulumi.ComponentResourceOptions) {
    super("scheduled-jobs:index:ScheduledJob", name, {}, options);
    const { job } = args;
    const seconds = (value: number): string => `${value}s`;
    this.job = new gcp.cloudscheduler.Job(
      name,
      {
        project: args.project,
        region: args.region,
        // The job id is the task's name: the function records it from X-CloudScheduler-JobName.
        name: job.name,
        description: job.description,
        schedule: job.schedule,
        timeZone: job.timeZone,
        paused: job.paused,
        attemptDeadline: seconds(job.attemptDeadlineSeconds),
        retryConfig: {
          retryCount: job.retry.retryCount,
          minBackoffDuration: seconds(job.retry.minBackoffSeconds),
          maxBackoffDuration: seconds(job.retry.maxBackoffSeconds),
          maxDoublings: job.retry.maxDoublings,
        },
        httpTarget: {
          uri: args.url,
          httpMethod: "POST",
          // Without it the body arrives as application/octet-stream, which the function refuses.
          headers: { "Content-Type": "application/json" },
          body: Buffer.from(jobBody(job.name)).toString("base64"),
          oidcToken: { serviceAccountEmail: args.schedulerEmail, audience: args.url },
        },
      },
      { parent: this },
    );
    this.registerOutputs({ job: this.job });
  }
}

export function createScheduledJobs(
  args: Omit<ScheduledJobArgs, "job"> & { jobs: readonly JobSpec[] },
  options: pulumi.ComponentResourceOptions,
): ScheduledJob[] {
  return args.jobs.map(
    (job) =>
      new ScheduledJob(
        job.name,
        {
          project: args.project,
          region: args.region,
          job,
          url: args.url,
          schedulerEmail: args.schedulerEmail,
        },
        options,
      ),
  );
}
