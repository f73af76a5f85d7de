/**
 * Is a delivery a tick of its job, or a manual run? Cloud Scheduler sends the tick's time in
 * X-CloudScheduler-ScheduleTime and keeps it across retries of that tick, which is what makes
 * dedup work. But a manual trigger (console "Force run", `gcloud scheduler jobs run`) may send the
 * NEXT scheduled run's time, or no header at all; deduplicating on it would swallow the real tick
 * (https://cloud.google.com/scheduler/docs/configuring/deduplicate-job-requests).
 *
 * So a delivery is a tick only when its schedule time is one of the job's fire times and not ahead
 * of its arrival (beyond clock skew). Anything else runs as a manual run: recorded with the
 * header's time for audit, taking no dedup slot, its tick (the task's input) being its arrival.
 * Dependency-free: the caller says how to recognise a fire time (functions/core/schedule/fire-times.ts).
 */

/**
 * How far a schedule time may be ahead of the arrival and still be the tick that fired: Google's
 * clocks and the instance's agree to far less, and a tick is sent at or after its time. A force run
 * carrying the next tick is ahead by at least that tick's distance.
 */
export const SCHEDULE_TIME_SKEW_MS = 10_000;

/**
 * A schedule time further than this from the arrival, either way, is absurd (year 0000, 9999): a
 * 400, never a record. Retries of a tick come within hours of it; a backfill of an older tick goes
 * through the CLI, not through Cloud Scheduler's header.
 */
const SCHEDULE_TIME_RANGE_MS = 366 * 24 * 3_600_000;

export interface DeliveryHeaders {
  /** X-CloudScheduler-JobName. */
  readonly jobName?: string | undefined;
  /** X-CloudScheduler-ScheduleTime. */
  readonly scheduleTime?: Date | undefined;
}

export type Delivery =
  | {
      /** A tick of the job: runs once per schedule time (retries of it are duplicates once it succeeded). */
      readonly kind: "tick";
      readonly scheduleTime: Date;
      readonly jobName?: string | undefined;
    }
  | {
      /** A manual run: runs every time, takes no dedup slot; the header's time is kept for audit. */
      readonly kind: "manual";
      readonly requestedScheduleTime?: Date | undefined;
      readonly jobName?: string | undefined;
      /** Why it is not a tick, for the log. */
      readonly reason: string;
    };

/** Why a schedule time is refused outright (400), or undefined. */
export function scheduleTimeProblem(scheduleTime: Date, arrival: Date): string | undefined {
  if (Math.abs(scheduleTime.getTime() - arrival.getTime()) > SCHEDULE_TIME_RANGE_MS) {
    return "X-CloudScheduler-ScheduleTime is more than a year away from now: no scheduler sends that";
  }
  return undefined;
}

/** Whether a schedule time is too far ahead of the arrival to be a tick that fired. */
export function isAheadOfArrival(scheduleTime: Date, arrival: Date): boolean {
  return scheduleTime.getTime() > arrival.getTime() + SCHEDULE_TIME_SKEW_MS;
}

export function classifyDelivery(
  headers: DeliveryHeaders,
  arrival: Date,
  isFireTime: (time: Date) => boolean,
): Delivery {
  const { jobName, scheduleTime } = headers;
  if (!scheduleTime) return { kind: "manual", jobName, reason: "no schedule time" };
  if (isAheadOfArrival(scheduleTime, arrival)) {
    return {
      kind: "manual",
      jobName,
      requestedScheduleTime: scheduleTime,
      reason: `schedule time ${scheduleTime.toISOString()} is ahead of the arrival (a force run carries the next tick)`,
    };
  }
  if (!isFireTime(scheduleTime)) {
    return {
      kind: "manual",
      jobName,
      requestedScheduleTime: scheduleTime,
      reason: `schedule time ${scheduleTime.toISOString()} is not a tick of the job's schedule`,
    };
  }
  return { kind: "tick", scheduleTime, jobName };
}
