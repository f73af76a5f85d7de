/**
 * A scheduler's delivery, made a run request: is it a tick of its job (the tick rules,
 * functions/core/schedule/ticks.ts and tick-rules.ts, with the job's fire times) or a manual run, and what the runner
 * records for each. Google's function asks it with Cloud Scheduler's headers, the Lambda with the
 * schedule's context attributes: one rule for both.
 */
import type { Job } from "../schedule/jobs.js";
import type { Delivery, DeliveryHeaders } from "../schedule/ticks.js";
import { classifyDelivery, isAheadOfArrival } from "../schedule/ticks.js";
import { ScheduledTaskError } from "../errors.js";
import type { RunRequest } from "./runner.js";
import type { OperatorTrigger } from "./task-body.js";

/**
 * A tick or a manual run. Only a schedule time that could be a tick needs cron arithmetic, so
 * croner (through the tick rules) loads on the first scheduled delivery, never for a manual one.
 */
export async function deliveryOf(job: Job, headers: DeliveryHeaders, arrival: Date): Promise<Delivery> {
  if (headers.scheduleTime && !isAheadOfArrival(headers.scheduleTime, arrival)) {
    const rules = await import("../schedule/tick-rules.js");
    return rules.deliveryOf(job, headers, arrival);
  }
  return classifyDelivery(headers, arrival, () => false);
}

/**
 * What the runner records: a tick holds its slot and is its own input; a manual run's input is its
 * arrival. `claimed`: the request says the tick is an operator's backfill or replay, recorded so
 * (with the tick's slot, so a tick already done is a duplicate); a manual run cannot be one.
 */
export function runOf(
  delivery: Delivery,
  arrival: Date,
  claimed?: OperatorTrigger,
): Pick<RunRequest, "trigger" | "jobName" | "scheduleTime" | "requestedScheduleTime" | "tick"> {
  if (claimed && delivery.kind !== "tick") {
    throw new ScheduledTaskError(
      "bad_request",
      `a ${claimed} runs a tick of the task's schedule, and this delivery is a manual run (${delivery.reason}): name a fire time that is not ahead`,
    );
  }
  return delivery.kind === "tick"
    ? {
        trigger: claimed ?? "scheduler",
        jobName: delivery.jobName,
        scheduleTime: delivery.scheduleTime,
        tick: delivery.scheduleTime,
      }
    : {
        trigger: "manual",
        jobName: delivery.jobName,
        requestedScheduleTime: delivery.requestedScheduleTime,
        tick: arrival,
      };
}
