/**
 * What pages the operator on AWS, by email through one SNS topic:
 * - a run failed: a metric filter on the function's log group counts the runner's failed-run line
 *   (`severity` ERROR with the run's `task`, functions/core/run/runner.ts through core/log.ts), and
 *   any count is an alarm;
 * - a delivery was given up: the dead-letter queue holds a message;
 * - a task stopped succeeding: per unpaused task, the dead-man (dead-man.ts) on a metric of its
 *   successful runs (the runner's success line, `more` set, not a dry run), missing data breaching.
 * Filter syntax: https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/FilterAndPatternSyntax.html
 * (JSON patterns, `= "*"` for a field that exists, `IS TRUE` / `IS FALSE` for booleans, a wildcard
 * at a value's start); a metric filter's dimension takes a field its pattern names.
 */
import * as aws from "@pulumi/aws";
import type * as pulumi from "@pulumi/pulumi";
import type { JobSpec } from "../config.js";
import { deadManPlan } from "./dead-man.js";

/** The failed-run line, and the line of a task the function could not run at all (database unreachable). */
export const FAILED_RUNS_PATTERN = '{ ($.severity = "ERROR") && ($.task = "*") }';

/** A real run that succeeded: "<task>: succeeded, <n> rows", the only line that carries `more`. */
export const SUCCEEDED_RUNS_PATTERN =
  '{ ($.severity = "INFO") && ($.task = "*") && (($.more IS TRUE) || ($.more IS FALSE)) && ($.message != "*would change") }';

const FAILED_RUNS_METRIC = "FailedRuns";
const SUCCEEDED_RUNS_METRIC = "SucceededRuns";

function metricNamespace(prefix: string): string {
  return `ScheduledJobs/${prefix}`;
}

interface Alarms {
  readonly topic: aws.sns.Topic;
  readonly failedRuns: aws.cloudwatch.MetricAlarm;
  readonly deadLetters: aws.cloudwatch.MetricAlarm;
  /** Per task its dead-man alarm, for the tasks an alarm can watch (dead-man.ts). */
  readonly deadMan: ReadonlyMap<string, aws.cloudwatch.MetricAlarm>;
}

/**
 * The dead-man alarm's name, which the alarm's email names. Letters, digits and hyphens only: the
 * name is also the last part of the alarm's ARN.
 */
export function deadManAlarmName(prefix: string, task: string): string {
  return `${prefix}-dead-man-${task}`;
}

function createMetricFilters(prefix: string, logGroupName: pulumi.Input<string>): void {
  const filter = (name: string, pattern: string, metric: string, dimensions?: Record<string, string>) =>
    new aws.cloudwatch.LogMetricFilter(name, {
      name: `${prefix}-${name}`,
      logGroupName,
      pattern,
      metricTransformation: {
        namespace: metricNamespace(prefix),
        name: metric,
        value: "1",
        unit: "Count",
        ...(dimensions ? { dimensions } : {}),
      },
    });
  filter("failed-runs", FAILED_RUNS_PATTERN, FAILED_RUNS_METRIC);
  filter("succeeded-runs", SUCCEEDED_RUNS_PATTERN, SUCCEEDED_RUNS_METRIC, { task: "$.task" });
}

/** Any count in a period is an alarm; no data is no news. */
const anyCount = {
  evaluationPeriods: 1,
  threshold: 1,
  comparisonOperator: "GreaterThanOrEqualToThreshold",
  treatMissingData: "notBreaching",
} as const;

function createDeadManAlarms(
  prefix: string,
  jobs: readonly JobSpec[],
  actions: pulumi.Input<string>[],
): Map<string, aws.cloudwatch.MetricAlarm> {
  const alarms = new Map<string, aws.cloudwatch.MetricAlarm>();
  for (const job of jobs) {
    const plan = deadManPlan(job);
    if (plan.kind !== "alarm") continue;
    const alarm = new aws.cloudwatch.MetricAlarm(`dead-man-${job.name}`, {
      name: deadManAlarmName(prefix, job.name),
      alarmDescription: `${job.name} runs on "${job.schedule}" (${job.timeZone}) and has not succeeded for ${plan.windowSeconds} s. Check its schedule, its failures (scheduled-jobs history ${job.name}) and the dead-letter queue.`,
      namespace: metricNamespace(prefix),
      metricName: SUCCEEDED_RUNS_METRIC,
      dimensions: { task: job.name },
      statistic: "Sum",
      period: plan.periodSeconds,
      evaluationPeriods: plan.evaluationPeriods,
      datapointsToAlarm: plan.evaluationPeriods,
      threshold: 1,
      comparisonOperator: "LessThanThreshold",
      // No success at all in the window is the alarm, not a lack of evidence.
      treatMissingData: "breaching",
      alarmActions: actions,
      okActions: actions,
    });
    alarms.set(job.name, alarm);
  }
  return alarms;
}

export function createAlarms(args: {
  prefix: string;
  alertEmail: string;
  logGroupName: pulumi.Input<string>;
  deadLetterQueueName: pulumi.Input<string>;
  deadManJobs: readonly JobSpec[];
}): Alarms {
  const { prefix } = args;
  const topic = new aws.sns.Topic("alerts", { name: `${prefix}-alerts` });
  // Email subscriptions stay pending until the address confirms them (docs/aws.md).
  new aws.sns.TopicSubscription("alert-email", {
    topic: topic.arn,
    protocol: "email",
    endpoint: args.alertEmail,
  });
  const actions = [topic.arn];
  createMetricFilters(prefix, args.logGroupName);
  const failedRuns = new aws.cloudwatch.MetricAlarm("failed-runs", {
    name: `${prefix}-failed-runs`,
    alarmDescription:
      "A run of a scheduled task failed (its log line has the task, runId and code); see scheduler.job_runs.",
    namespace: metricNamespace(prefix),
    metricName: FAILED_RUNS_METRIC,
    statistic: "Sum",
    period: 60,
    ...anyCount,
    alarmActions: actions,
  });
  const deadLetters = new aws.cloudwatch.MetricAlarm("dead-letters", {
    name: `${prefix}-dead-letters`,
    alarmDescription:
      "EventBridge Scheduler could not deliver a tick after its retries; the dead-letter queue holds it.",
    namespace: "AWS/SQS",
    metricName: "ApproximateNumberOfMessagesVisible",
    dimensions: { QueueName: args.deadLetterQueueName },
    statistic: "Maximum",
    period: 300,
    ...anyCount,
    alarmActions: actions,
  });
  const deadMan = createDeadManAlarms(prefix, args.deadManJobs, actions);
  return { topic, failedRuns, deadLetters, deadMan };
}
