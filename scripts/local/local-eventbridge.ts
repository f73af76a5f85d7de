/**
 * A local EventBridge Scheduler's delivery: each attempt of a tick is the schedule's templated
 * Input (`scheduleInput`, functions/aws/event.ts, the text the stack deploys) with its context
 * attributes substituted, as the scheduler does (the schedule's ARN, the tick's time, the attempt
 * number, a new execution id per attempt:
 * https://docs.aws.amazon.com/scheduler/latest/UserGuide/managing-schedule-context-attributes.html),
 * handed to the local Lambda as an asynchronous invoke. The local scheduler (./local-scheduler.ts)
 * fires the ticks on its clock and retries an attempt that could not be handed over; the Lambda's
 * own retries of a function error are ./lambda-async.ts's.
 */
import { randomBytes } from "node:crypto";
import { contextAttributes, scheduleInput } from "../../functions/aws/event.js";
import type { Deliver } from "./local-scheduler.js";

/** The local stack's schedule group: a region and an account of no one. */
export const LOCAL_SCHEDULE_GROUP_ARN =
  "arn:aws:scheduler:local-1:000000000000:schedule-group/scheduled-jobs";

/** A schedule's ARN in a group: `...:schedule/<group>/<name>`. */
function scheduleArnOf(groupArn: string, name: string): string {
  return `${groupArn.replace(":schedule-group/", ":schedule/")}/${name}`;
}

/** An instant as the scheduler writes `<aws.scheduler.scheduled-time>`: `2022-03-22T18:59:43Z`. */
export function scheduledTimeText(time: Date): string {
  return time.toISOString().replace(/\.\d{3}Z$/, "Z");
}

/** A new execution id: 16 hex digits, as the page's example `d32c5kddcf5bb8c3` is long. */
export function newExecutionId(): string {
  return randomBytes(8).toString("hex");
}

interface TickValues {
  readonly scheduledTime: Date;
  readonly scheduleArn: string;
  readonly attemptNumber: number;
  readonly executionId: string;
}

/** The event a schedule's target receives: its Input's text, substituted, parsed as Lambda parses it. */
function scheduledEvent(task: string, values: TickValues): unknown {
  const substitutes: Record<keyof typeof contextAttributes, string> = {
    scheduledTime: scheduledTimeText(values.scheduledTime),
    scheduleArn: values.scheduleArn,
    attemptNumber: String(values.attemptNumber),
    executionId: values.executionId,
  };
  let text = scheduleInput(task);
  for (const [field, placeholder] of Object.entries(contextAttributes)) {
    text = text.replace(placeholder, substitutes[field as keyof typeof contextAttributes]);
  }
  return JSON.parse(text) as unknown;
}

interface EventBridgeDeliveryOptions {
  readonly scheduleGroupArn: string;
  /** Lambda's asynchronous invoke: accepts the event or throws (the function cannot take it). */
  readonly invokeAsync: (event: unknown) => void;
  /** Each event handed over, with its execution id (logs, tests). */
  readonly onEvent?: (event: unknown) => void;
}

/** The local scheduler's delivery as EventBridge Scheduler's: an asynchronous invoke per attempt. */
export function eventBridgeDelivery(options: EventBridgeDeliveryOptions): Deliver {
  return (job, scheduleTime, attempt) => {
    const executionId = newExecutionId();
    const event = scheduledEvent(job.name, {
      scheduledTime: scheduleTime,
      scheduleArn: scheduleArnOf(options.scheduleGroupArn, job.name),
      attemptNumber: attempt,
      executionId,
    });
    try {
      options.invokeAsync(event);
    } catch (error) {
      return Promise.resolve({ status: undefined, ok: false, error: (error as Error).message });
    }
    options.onEvent?.(event);
    // The Invoke API's answer to an asynchronous invoke: 202, the event queued.
    return Promise.resolve({ status: 202, ok: true, body: `queued as execution ${executionId}` });
  };
}
