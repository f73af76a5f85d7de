/**
 * A dead-man for every unpaused task on AWS: a CloudWatch alarm on the task's successful runs (a
 * metric the function's log lines feed, alarms.ts) that treats missing data as breaching, so no
 * success for longer than the task's interval allows is an alarm, whether the scheduler stopped, the
 * schedule was deleted, the function cannot start or every run fails.
 *
 * How far back an alarm can look bounds it: Period × EvaluationPeriods is at most one day for a
 * period under an hour, and at most seven days (604,800 s) otherwise
 * (https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_PutMetricAlarm.html,
 * EvaluationPeriods). A weekly task's window (its week, its run and the slack below) is longer than
 * seven days, so no alarm can wait for it, and a task pg_cron runs logs nothing to the function's log
 * group. Those tasks are watched by the database instead: the failed-run report task
 * (`alert-failed-runs`, every 15 minutes) emails every task that became overdue by the one overdue
 * rule (functions/core/schedule/tick-rules.ts, the rule behind Google's dead-man checks), and that task has
 * an alarm of its own, so a stopped report is an alarm too.
 */
import type { TaskName } from "../../functions/core/catalog.js";
import { SETTLE_GRACE_MS } from "../../functions/core/schedule/tick-rules.js";
import type { JobSpec } from "../config.js";

/** The task whose runs report overdue tasks by email (functions/email/failed-run-alerts.ts). */
const OVERDUE_REPORT_TASK: TaskName = "alert-failed-runs";

/** Limits of one alarm's look-back (PutMetricAlarm): under an hour's period, one day in all; else seven days. */
export const ALARM_LOOKBACK_SECONDS = { shortPeriods: 86_400, longPeriods: 604_800 } as const;

/** The grace the tick rules give a tick beyond its timeout before it is settled (and can be missed). */
const OVERDUE_GRACE_SECONDS = SETTLE_GRACE_MS / 1000;
/** For the run's log line to reach CloudWatch Logs and its metric filter. */
const LOG_DELIVERY_SECONDS = 300;

type DeadManPlan =
  | {
      readonly kind: "alarm";
      /** How long without a success is an alarm. */
      readonly windowSeconds: number;
      readonly periodSeconds: number;
      readonly evaluationPeriods: number;
    }
  | {
      readonly kind: "overdue-report";
      /** Why no alarm can watch it. */
      readonly reason: string;
    };

/** No success in the task's longest gap, its run, health's grace and the logs' delay is an alarm. */
function deadManWindowSeconds(job: Pick<JobSpec, "intervalSeconds" | "timeoutSeconds">): number {
  return job.intervalSeconds + job.timeoutSeconds + OVERDUE_GRACE_SECONDS + LOG_DELIVERY_SECONDS;
}

export function deadManPlan(job: JobSpec): DeadManPlan {
  if (job.runner !== "cloud") {
    return {
      kind: "overdue-report",
      reason: "pg_cron runs it in the database, where the function's logs do not see it",
    };
  }
  const windowSeconds = deadManWindowSeconds(job);
  const periodSeconds = windowSeconds <= ALARM_LOOKBACK_SECONDS.shortPeriods ? 60 : 3600;
  const evaluationPeriods = Math.ceil(windowSeconds / periodSeconds);
  if (periodSeconds * evaluationPeriods > ALARM_LOOKBACK_SECONDS.longPeriods) {
    return {
      kind: "overdue-report",
      reason: `its window of ${windowSeconds} s is longer than a CloudWatch alarm can look back (${ALARM_LOOKBACK_SECONDS.longPeriods} s)`,
    };
  }
  return { kind: "alarm", windowSeconds, periodSeconds, evaluationPeriods };
}

/**
 * What is wrong with the stack's dead-man: a task that only the overdue report can watch while that
 * report cannot run (paused, not on the cloud's scheduler, or without its own alarm).
 */
export function deadManProblems(deadManJobs: readonly JobSpec[], sendsEmail: boolean): string[] {
  const report = deadManJobs.find((job) => job.name === OVERDUE_REPORT_TASK);
  const reportWatched = report !== undefined && deadManPlan(report).kind === "alarm" && sendsEmail;
  if (reportWatched) return [];
  return deadManJobs.flatMap((job) => {
    const plan = deadManPlan(job);
    if (plan.kind === "alarm") return [];
    return [
      `task "${job.name}" needs the overdue report of task "${OVERDUE_REPORT_TASK}" as its dead-man (${plan.reason}), and this stack does not run that report (paused, or no SendGrid key): unpause it, or set scheduled-jobs:deadMan to false`,
    ];
  });
}
