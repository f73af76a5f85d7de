/**
 * EventBridge Scheduler (not the older EventBridge rules): one schedule group for the stack, one
 * schedule per task the cloud runs (pg_cron's tasks have none), each named for its task and
 * invoking the function with the templated Input of functions/aws/event.ts, and a dead-letter
 * queue for the deliveries that fail every retry.
 *
 * - `flexibleTimeWindow` OFF: the schedule fires at its time, which is what `scheduled-time` then
 *   says (https://docs.aws.amazon.com/scheduler/latest/UserGuide/managing-schedule-context-attributes.html).
 * - The delivery retry policy comes from the catalog's retry count, within AWS's 0-185 attempts and
 *   60-86400 s of event age (https://docs.aws.amazon.com/scheduler/latest/APIReference/API_RetryPolicy.html);
 *   the catalog's backoff settings have no AWS counterpart (docs/aws.md).
 * - A delivery that exhausts them goes to the standard SQS queue named in `deadLetterConfig`
 *   (https://docs.aws.amazon.com/scheduler/latest/UserGuide/configuring-schedule-dlq.html), whose
 *   non-empty state is an alarm (alarms.ts).
 */
import * as aws from "@pulumi/aws";
import type * as pulumi from "@pulumi/pulumi";
import { scheduleInput } from "../../functions/aws/event.js";
import type { AwsJobSpec } from "./config.js";

/** RetryPolicy's bounds (API_RetryPolicy). */
const RETRY_ATTEMPTS = { min: 0, max: 185 } as const;
const EVENT_AGE_SECONDS = { min: 60, max: 86_400 } as const;
/** SQS keeps a message at most 14 days: the longest an operator has to read a dead letter. */
const DEAD_LETTER_RETENTION_SECONDS = 1_209_600;

const clamp = (value: number, bounds: { min: number; max: number }): number =>
  Math.min(bounds.max, Math.max(bounds.min, value));

interface ScheduleRetryPolicy {
  readonly maximumRetryAttempts: number;
  readonly maximumEventAgeInSeconds: number;
}

/**
 * The catalog's retry count, and a delivery kept until the task's next tick would come: a tick
 * delivered after that has been overtaken (and the dead-man tells).
 */
function scheduleRetryPolicy(job: Pick<AwsJobSpec, "retry" | "intervalSeconds">): ScheduleRetryPolicy {
  return {
    maximumRetryAttempts: clamp(job.retry.retryCount, RETRY_ATTEMPTS),
    maximumEventAgeInSeconds: clamp(job.intervalSeconds, EVENT_AGE_SECONDS),
  };
}

export interface Schedules {
  readonly group: aws.scheduler.ScheduleGroup;
  readonly deadLetterQueue: aws.sqs.Queue;
  readonly schedules: ReadonlyMap<string, aws.scheduler.Schedule>;
}

export function createScheduleGroup(prefix: string): Pick<Schedules, "group" | "deadLetterQueue"> {
  const group = new aws.scheduler.ScheduleGroup("schedules", { name: prefix });
  const deadLetterQueue = new aws.sqs.Queue("dead-letters", {
    name: `${prefix}-dead-letters`,
    messageRetentionSeconds: DEAD_LETTER_RETENTION_SECONDS,
    sqsManagedSseEnabled: true,
  });
  return { group, deadLetterQueue };
}

export function createSchedules(args: {
  jobs: readonly AwsJobSpec[];
  group: aws.scheduler.ScheduleGroup;
  deadLetterQueue: aws.sqs.Queue;
  functionArn: pulumi.Input<string>;
  roleArn: pulumi.Input<string>;
  /** The role's policy: a schedule that fires before it exists fails its delivery. */
  dependsOn: pulumi.Input<pulumi.Resource>[];
}): ReadonlyMap<string, aws.scheduler.Schedule> {
  const schedules = new Map<string, aws.scheduler.Schedule>();
  for (const job of args.jobs) {
    schedules.set(
      job.name,
      new aws.scheduler.Schedule(
        job.name,
        {
          // The function reads a tick's task from its schedule's name too (SCHEDULE_GROUP_ARN).
          name: job.name,
          groupName: args.group.name,
          description: job.description,
          scheduleExpression: job.expression,
          scheduleExpressionTimezone: job.timeZone,
          flexibleTimeWindow: { mode: "OFF" },
          state: job.paused ? "DISABLED" : "ENABLED",
          target: {
            arn: args.functionArn,
            roleArn: args.roleArn,
            input: scheduleInput(job.name),
            retryPolicy: scheduleRetryPolicy(job),
            deadLetterConfig: { arn: args.deadLetterQueue.arn },
          },
        },
        { dependsOn: args.dependsOn },
      ),
    );
  }
  return schedules;
}
