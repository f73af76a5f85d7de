/**
 * Alerting from the function's structured logs: an email when a run fails (or Cloud Scheduler could
 * not get an answer at all), and an email when a frequent task has stopped succeeding: nothing that
 * is not running can report itself. Every task, rare ones included, also has a dead-man that needs
 * neither the scheduler nor these logs (dead-man.ts).
 */
import * as gcp from "@pulumi/gcp";
import * as pulumi from "@pulumi/pulumi";
import type { Apis } from "./apis.js";
import type { JobSpec } from "../config.js";

interface Alerts {
  readonly channel: gcp.monitoring.NotificationChannel;
  readonly failedRuns: gcp.logging.Metric;
  readonly succeededRuns: gcp.logging.Metric;
  readonly failedAttempts: gcp.logging.Metric;
  readonly failurePolicy: gcp.monitoring.AlertPolicy;
  readonly absencePolicies: ReadonlyMap<string, gcp.monitoring.AlertPolicy>;
}

/** The function's log lines: 2nd gen functions log as their Cloud Run service. */
function functionLogFilter(serviceName: string): string {
  return `resource.type="cloud_run_revision" AND resource.labels.service_name="${serviceName}"`;
}

/**
 * A failed run: the runner logs `severity: "ERROR"` with the run's `task` (and `runId`, `code`);
 * the router logs a task it could not run (database unreachable) the same way.
 */
export function failedRunsFilter(serviceName: string): string {
  return `${functionLogFilter(serviceName)} AND severity>=ERROR AND jsonPayload.task:*`;
}

/** A real (not dry) run that succeeded: "<task>: succeeded, <n> rows". */
export function succeededRunsFilter(serviceName: string): string {
  return `${functionLogFilter(serviceName)} AND severity=INFO AND jsonPayload.task:* AND jsonPayload.message=~": succeeded, " AND NOT jsonPayload.message=~"would change"`;
}

/** Cloud Scheduler's own record of an attempt that got no 2xx (401/403 from IAM, timeouts, 5xx). */
function failedAttemptsFilter(): string {
  return `resource.type="cloud_scheduler_job" AND severity>=ERROR`;
}

/** How long a task may go without a success before the absence alert fires: three ticks, at least 5 minutes. */
function absenceWindowSeconds(intervalSeconds: number): number {
  return Math.max(300, Math.ceil((3 * intervalSeconds) / 60) * 60);
}

export function createAlerts(args: {
  project: string;
  prefix: string;
  serviceName: string;
  alertEmail: string;
  jobs: readonly JobSpec[];
  absenceAlertMaxIntervalSeconds: number;
  apis: Apis;
}): Alerts {
  const { project, prefix, serviceName } = args;
  const dependsOn = [args.apis.logging, args.apis.monitoring];

  const channel = new gcp.monitoring.NotificationChannel(
    "alert-email",
    {
      project,
      displayName: `Scheduled jobs (${prefix}): ${args.alertEmail}`,
      type: "email",
      labels: { email_address: args.alertEmail },
    },
    { dependsOn },
  );

  const counter = (name: string, description: string, filter: string, labels: Record<string, string>) =>
    new gcp.logging.Metric(
      name,
      {
        project,
        name: `${prefix}-${name}`,
        description,
        filter,
        metricDescriptor: {
          metricKind: "DELTA",
          valueType: "INT64",
          unit: "1",
          labels: Object.keys(labels).map((key) => ({ key, valueType: "STRING" })),
        },
        labelExtractors: labels,
      },
      { dependsOn },
    );

  const failedRuns = counter(
    "failed-runs",
    "Scheduled task runs that failed, by task and error code.",
    failedRunsFilter(serviceName),
    {
      task: "EXTRACT(jsonPayload.task)",
      code: "EXTRACT(jsonPayload.code)",
    },
  );
  const succeededRuns = counter(
    "succeeded-runs",
    "Scheduled task runs that succeeded, by task.",
    succeededRunsFilter(serviceName),
    {
      task: "EXTRACT(jsonPayload.task)",
    },
  );
  const failedAttempts = counter(
    "failed-attempts",
    "Cloud Scheduler attempts that got no 2xx answer, by job.",
    failedAttemptsFilter(),
    { job: "EXTRACT(resource.labels.job_id)" },
  );

  const metricType = (metric: gcp.logging.Metric) =>
    pulumi.interpolate`metric.type="logging.googleapis.com/user/${metric.name}"`;
  const anyIncrease = (
    displayName: string,
    metric: gcp.logging.Metric,
    resourceType: string,
    groupBy: string,
  ) => ({
    displayName,
    conditionThreshold: {
      filter: pulumi.interpolate`${metricType(metric)} AND resource.type="${resourceType}"`,
      comparison: "COMPARISON_GT",
      thresholdValue: 0,
      duration: "0s",
      aggregations: [
        {
          alignmentPeriod: "60s",
          perSeriesAligner: "ALIGN_SUM",
          crossSeriesReducer: "REDUCE_SUM",
          groupByFields: [groupBy],
        },
      ],
      trigger: { count: 1 },
    },
  });

  const failurePolicy = new gcp.monitoring.AlertPolicy(
    "failed-runs",
    {
      project,
      displayName: `Scheduled jobs (${prefix}): a task failed`,
      combiner: "OR",
      conditions: [
        anyIncrease("A run failed", failedRuns, "cloud_run_revision", "metric.label.task"),
        anyIncrease(
          "Cloud Scheduler got no 2xx answer",
          failedAttempts,
          "cloud_scheduler_job",
          "metric.label.job",
        ),
      ],
      notificationChannels: [channel.name],
      alertStrategy: { autoClose: "1800s" },
      documentation: {
        mimeType: "text/markdown",
        content: [
          "A scheduled task failed, or Cloud Scheduler could not get a 2xx answer from the function.",
          "",
          `Logs: \`${failedRunsFilter(serviceName)}\` (the line carries \`task\`, \`runId\`, \`code\`).`,
          "Run history: `SELECT * FROM scheduler.job_runs WHERE status = 'failed' ORDER BY started_at DESC LIMIT 20;`",
          "A 401/403 in Cloud Scheduler's log means the invoker grant or the token audience is wrong.",
        ].join("\n"),
      },
    },
    { dependsOn },
  );

  const absencePolicies = new Map<string, gcp.monitoring.AlertPolicy>();
  for (const job of args.jobs) {
    // A paused job is silent on purpose; a rare job is better watched by its own failure alerts.
    if (job.paused || job.intervalSeconds > args.absenceAlertMaxIntervalSeconds) continue;
    const window = absenceWindowSeconds(job.intervalSeconds);
    absencePolicies.set(
      job.name,
      new gcp.monitoring.AlertPolicy(
        `absent-${job.name}`,
        {
          project,
          displayName: `Scheduled jobs (${prefix}): ${job.name} has not succeeded for ${window / 60} minutes`,
          combiner: "OR",
          conditions: [
            {
              displayName: `No success of ${job.name} for ${window / 60} minutes`,
              conditionAbsent: {
                filter: pulumi.interpolate`${metricType(succeededRuns)} AND resource.type="cloud_run_revision" AND metric.label.task="${job.name}"`,
                duration: `${window}s`,
                aggregations: [
                  {
                    alignmentPeriod: "60s",
                    perSeriesAligner: "ALIGN_SUM",
                    crossSeriesReducer: "REDUCE_SUM",
                    groupByFields: ["metric.label.task"],
                  },
                ],
                trigger: { count: 1 },
              },
            },
          ],
          notificationChannels: [channel.name],
          alertStrategy: { autoClose: "1800s" },
          documentation: {
            mimeType: "text/markdown",
            content: [
              `${job.name} runs on \`${job.schedule}\` (${job.timeZone}) and has not succeeded for ${window / 60} minutes.`,
              "Check that its Cloud Scheduler job is enabled, that the function answers, and the task's failures.",
            ].join("\n"),
          },
        },
        { dependsOn },
      ),
    );
  }
  return { channel, failedRuns, succeededRuns, failedAttempts, failurePolicy, absencePolicies };
}
