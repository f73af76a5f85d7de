/**
 * A dead-man for every unpaused task, daily and weekly included: a Cloud Monitoring uptime check of
 * the function's `GET /health?task=<name>`, which answers 503 while the task is overdue by the one
 * overdue rule (functions/core/schedule/tick-rules.ts `isOverdue`, over `scheduler.job_runs`), and an alert per task on
 * that check. Nothing here depends on Cloud Scheduler firing or on the function's own logs: Monitoring
 * runs the checks, and the overdue rule reads what ran (through Cloud Scheduler or pg_cron) against
 * the schedule. A stopped scheduler, a deleted job, a pg_cron job that no longer fires and a task
 * that keeps failing all make the task overdue.
 *
 * Why an uptime check and not a metric condition (docs/deploy.md, "Dead-man checks"):
 * - A metric-absence condition over the success log metric waits at most 23.5 hours
 *   (https://docs.cloud.google.com/monitoring/alerts/metric-absence), too short for a weekly task.
 * - A PromQL condition may look back that far (https://docs.cloud.google.com/monitoring/alerts/using-promql:
 *   "up to 2 years of metric data"), but over the function's log lines it sees neither pg_cron runs
 *   nor run-time pauses, and fires on a fresh deployment that has not run yet; /health knows all three.
 *
 * The checks authenticate as the project's Monitoring service agent with an OIDC token
 * (`serviceAgentAuthentication`, https://docs.cloud.google.com/monitoring/uptime-checks); the agent gets
 * roles/run.invoker on this service alone, and the function lets it read /health and nothing else
 * (functions/gcp/router.ts). Public uptime checkers call from the internet, so the function's ingress must
 * be ALLOW_ALL (config.ts refuses the combination otherwise); private uptime checks reach only internal
 * IP addresses through Service Directory (https://docs.cloud.google.com/monitoring/uptime-checks/private-checks),
 * which a Cloud Run URL is not.
 */
import * as gcp from "@pulumi/gcp";
import * as pulumi from "@pulumi/pulumi";
import type { JobSpec } from "../config.js";
import { routes } from "../../functions/gcp/contract.js";

/** The periods an uptime check may have, in seconds (the API's values). */
const UPTIME_CHECK_PERIODS_SECONDS = [60, 300, 600, 900] as const;

/**
 * The shortest period used: each check is a request from every checker location to the function, and a
 * task that ticks more often than this also has the log-based absence alert (alerts.ts).
 */
const MIN_DEAD_MAN_PERIOD_SECONDS = 300;

/**
 * The regions the checkers call from. An uptime check needs at least three checker locations; "USA"
 * holds three (Oregon, Iowa, Virginia), the fewest requests that satisfy it
 * (https://docs.cloud.google.com/monitoring/uptime-checks, "identify at least three checkers").
 */
const DEAD_MAN_REGIONS = ["USA"] as const;

/** More checker locations than this failing at once is the alert: one location's hiccup is not. */
const DEAD_MAN_FAILING_LOCATIONS = 1;

/** How long a check waits for an answer: a cold start plus the Cloud SQL connector's handshake. */
const DEAD_MAN_TIMEOUT_SECONDS = 30;

/**
 * What a 200 answer must contain (besides the status). The function serializes with JSON.stringify,
 * which writes no spaces, so this is exactly how a task that is not overdue reads; anything else that
 * answers 200 on that URL fails the check.
 */
export const DEAD_MAN_CONTENT = '"overdue":false';

interface DeadManTiming {
  /** How often the check runs. */
  readonly periodSeconds: number;
  /** How long the check must keep failing before the alert opens: one more check, the slack. */
  readonly durationSeconds: number;
}

/**
 * The check's cadence from the task's own: the longest allowed period within one interval of the
 * task's schedule (`longestIntervalSeconds`, functions/core/schedule/fire-times.ts), at least
 * {@link MIN_DEAD_MAN_PERIOD_SECONDS}. The alert waits one more period, so one failed check (a
 * deployment, a cold start past the timeout) does not page.
 *
 * When the alert opens after a missed tick: the task is overdue once the tick is settled, its timeout
 * (or a longer attempt deadline) and one minute after it (tick-rules.ts); the next check sees it within
 * one period, the alert one period later,
 * plus Monitoring's own delay of a few minutes.
 */
export function deadManTiming(intervalSeconds: number): DeadManTiming {
  const ceiling = Math.max(intervalSeconds, MIN_DEAD_MAN_PERIOD_SECONDS);
  const periodSeconds = UPTIME_CHECK_PERIODS_SECONDS.filter((period) => period <= ceiling).at(-1)!;
  return { periodSeconds, durationSeconds: periodSeconds };
}

/** The path each check calls: the task's own health. */
export function deadManPath(task: string): string {
  return `${routes.health.path}?task=${encodeURIComponent(task)}`;
}

/** The host of an https URL (the function's deterministic run.app URL). */
function hostOf(url: string): string {
  return new URL(url).host;
}

interface DeadManCheckArgs {
  readonly project: string;
  readonly prefix: string;
  readonly job: JobSpec;
  /** The function's URL; its host is what the checkers call. */
  readonly url: pulumi.Input<string>;
  readonly channel: pulumi.Input<string>;
}

/** One task's dead-man: the uptime check of its health and the alert on it. */
export class DeadManCheck extends pulumi.ComponentResource {
  readonly check: gcp.monitoring.UptimeCheckConfig;
  readonly policy: gcp.monitoring.AlertPolicy;
  readonly timing: DeadManTiming;

  constructor(name: string, args: DeadManCheckArgs, options?: pulumi.ComponentResourceOptions) {
    super("scheduled-jobs:index:DeadManCheck", name, {}, options);
    const { project, prefix, job } = args;
    const timing = deadManTiming(job.intervalSeconds);
    this.timing = timing;
    const path = deadManPath(job.name);
    this.check = new gcp.monitoring.UptimeCheckConfig(
      `dead-man-${job.name}`,
      {
        project,
        displayName: `${prefix} dead-man: ${job.name}`,
        period: `${timing.periodSeconds}s`,
        timeout: `${DEAD_MAN_TIMEOUT_SECONDS}s`,
        selectedRegions: [...DEAD_MAN_REGIONS],
        checkerType: "STATIC_IP_CHECKERS",
        monitoredResource: {
          type: "uptime_url",
          labels: { project_id: project, host: pulumi.output(args.url).apply(hostOf) },
        },
        httpCheck: {
          requestMethod: "GET",
          path,
          port: 443,
          useSsl: true,
          validateSsl: true,
          // 200 only: the function answers 503 while the task is overdue, and any other status
          // (401/403 from a broken grant, 5xx from a database outage) is a dead-man that cannot see.
          acceptedResponseStatusCodes: [{ statusValue: 200 }],
          serviceAgentAuthentication: { type: "OIDC_TOKEN" },
        },
        contentMatchers: [{ content: DEAD_MAN_CONTENT, matcher: "CONTAINS_STRING" }],
        userLabels: { app: "scheduled-jobs", task: job.name },
      },
      { parent: this },
    );
    this.policy = new gcp.monitoring.AlertPolicy(
      `dead-man-${job.name}`,
      {
        project,
        displayName: `Scheduled jobs (${prefix}): ${job.name} is overdue (dead-man)`,
        combiner: "OR",
        conditions: [
          {
            displayName: `${job.name}: GET ${path} is not 200`,
            conditionThreshold: {
              filter: pulumi.interpolate`metric.type="monitoring.googleapis.com/uptime_check/check_passed" AND resource.type="uptime_url" AND metric.label.check_id="${this.check.uptimeCheckId}"`,
              comparison: "COMPARISON_GT",
              thresholdValue: DEAD_MAN_FAILING_LOCATIONS,
              duration: `${timing.durationSeconds}s`,
              aggregations: [
                {
                  // Longer than the longest period, so each location's latest result is in it.
                  alignmentPeriod: "1200s",
                  perSeriesAligner: "ALIGN_NEXT_OLDER",
                  crossSeriesReducer: "REDUCE_COUNT_FALSE",
                  groupByFields: ["resource.label.project_id", "resource.label.host"],
                },
              ],
              trigger: { count: 1 },
            },
          },
        ],
        notificationChannels: [args.channel],
        alertStrategy: { autoClose: "1800s" },
        documentation: {
          mimeType: "text/markdown",
          content: [
            `${job.name} runs on \`${job.schedule}\` (${job.timeZone}, ${job.runner === "cloud" ? "Cloud Scheduler" : "pg_cron"}) and is overdue: its last settled tick has no success, or \`GET ${path}\` does not answer at all.`,
            "",
            `Check: \`scheduled-jobs health\` and \`scheduled-jobs history ${job.name}\`; that its scheduler job is enabled (Cloud Scheduler job \`${job.name}\`, or \`cron.job\` for pg_cron); the task's failures.`,
            `Repair a missed tick with \`scheduled-jobs run ${job.name} --slot <tick>\`; stop the alert while you work with \`scheduled-jobs pause ${job.name} --reason "..."\` (a paused task is not overdue).`,
            "A 401/403 in the uptime check's result means the Monitoring service agent lost its invoker grant or AUTH_ALLOWED_EMAILS.",
          ].join("\n"),
        },
      },
      { parent: this },
    );
    this.registerOutputs({ check: this.check, policy: this.policy });
  }
}

interface DeadMan {
  readonly checks: ReadonlyMap<string, DeadManCheck>;
  /** roles/run.invoker for the Monitoring service agent on the function's service. */
  readonly invoker: gcp.cloudrunv2.ServiceIamMember;
}

export function createDeadMan(args: {
  project: string;
  region: string;
  prefix: string;
  /** The tasks to watch: every task the stack does not pause (config.ts `deadManJobs`). */
  jobs: readonly JobSpec[];
  url: pulumi.Input<string>;
  serviceName: pulumi.Input<string>;
  monitoringAgentEmail: pulumi.Input<string>;
  channel: pulumi.Input<string>;
  dependsOn: pulumi.Input<pulumi.Resource>[];
}): DeadMan {
  const checks = new Map<string, DeadManCheck>();
  for (const job of args.jobs) {
    checks.set(
      job.name,
      new DeadManCheck(
        job.name,
        { project: args.project, prefix: args.prefix, job, url: args.url, channel: args.channel },
        { dependsOn: args.dependsOn },
      ),
    );
  }
  // After the checks: a check that authenticates as the service agent is what makes Google create
  // that agent, and a grant to an agent that does not exist yet is refused (docs/unverified.md).
  const invoker = new gcp.cloudrunv2.ServiceIamMember(
    "monitoring-invoker",
    {
      project: args.project,
      location: args.region,
      name: args.serviceName,
      role: "roles/run.invoker",
      member: pulumi.interpolate`serviceAccount:${args.monitoringAgentEmail}`,
    },
    { dependsOn: [...checks.values()] },
  );
  return { checks, invoker };
}
