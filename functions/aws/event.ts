/**
 * The Lambda's event, both ways it comes:
 * - a tick: EventBridge Scheduler invokes the function asynchronously with its schedule's templated
 *   Input, `scheduleInput(task)`, the context attributes substituted
 *   (https://docs.aws.amazon.com/scheduler/latest/UserGuide/managing-schedule-context-attributes.html,
 *   https://docs.aws.amazon.com/scheduler/latest/UserGuide/managing-targets-templated.html);
 * - a manual run: a synchronous invoke with the run request every platform takes,
 *   `{"task": "<name>"}` and optionally `"dryRun"` and `"force"` (functions/core/run/task-body.ts).
 *
 * An asynchronous invoke names no caller (https://docs.aws.amazon.com/lambda/latest/dg/nodejs-context.html):
 * whoever may invoke can send any payload, so the event is read strictly here, every field and
 * type, and anything else is a `bad_request`. The infra (infra/aws/) imports `scheduleInput`, so
 * the template has this one home. Dependency-free but for the core's rules: loaded at cold start.
 */
import { scheduleArnPattern } from "../core/config/arns.js";
import { ScheduledTaskError } from "../core/errors.js";
import type { OperatorTrigger } from "../core/run/task-body.js";
import { parseTaskBody } from "../core/run/task-body.js";
import { parseScheduleTime } from "../core/schedule/schedule-time.js";
import { quoted } from "../core/text.js";

/**
 * The schedule's Input beside the task: each context attribute quoted, so the template is valid
 * JSON before substitution and each value a string after it.
 */
export const contextAttributes = {
  scheduledTime: "<aws.scheduler.scheduled-time>",
  scheduleArn: "<aws.scheduler.schedule-arn>",
  attemptNumber: "<aws.scheduler.attempt-number>",
  executionId: "<aws.scheduler.execution-id>",
} as const;

type TickField = "task" | keyof typeof contextAttributes;

/** The keys of a tick's event, exactly, in the template's order. */
export const tickEventFields: readonly TickField[] = [
  "task",
  ...(Object.keys(contextAttributes) as TickField[]),
];

/** A schedule's templated Input for this task: one line of JSON text. */
export function scheduleInput(taskName: string): string {
  return JSON.stringify({ task: taskName, ...contextAttributes });
}

/** A delivery of a schedule, checked: what the scheduler substituted into the Input. */
export interface TickEvent {
  readonly kind: "tick";
  readonly task: string;
  /** The time the schedule fired for: the tick's dedup slot once the tick rules accept it. */
  readonly scheduledTime: Date;
  /** The schedule's ARN: which schedule (and group) sent it. */
  readonly scheduleArn: string;
  /** The scheduler's delivery attempt, from 1; Lambda's own retries of a thrown error repeat it. */
  readonly attemptNumber: number;
  /** New for every delivery attempt: logged, never a key. */
  readonly executionId: string;
}

/** A synchronous invoke: a manual run. */
interface InvokeEvent {
  readonly kind: "invoke";
  readonly task: string;
  readonly dryRun: boolean;
  readonly force: boolean;
  /** Read by the one body reader; an invoke holds no tick, so the handler refuses any claim. */
  readonly trigger?: OperatorTrigger;
}

export type LambdaEvent = TickEvent | InvokeEvent;

/** At most the scheduler's retries (185) plus the first attempt; three digits with room to spare. */
const attemptPattern = /^[1-9]\d{0,2}$/;
/** An id the page shows as 16 hex digits; only its being printable is relied on (it is logged). */
const idPattern = /^[\x21-\x7e]{1,128}$/;

function bad(message: string): ScheduledTaskError {
  return new ScheduledTaskError("bad_request", message);
}

/** The event, checked: a tick when it carries any context attribute's key, else a run request. */
export function parseEvent(raw: unknown): LambdaEvent {
  if (typeof raw === "object" && raw !== null && !Array.isArray(raw)) {
    const keys = Object.keys(raw);
    if (keys.some((key) => key !== "task" && key in contextAttributes)) {
      return parseTick(raw as Record<string, unknown>, keys);
    }
  }
  return { kind: "invoke", ...parseTaskBody(raw) };
}

function parseTick(record: Record<string, unknown>, keys: readonly string[]): TickEvent {
  const missing = tickEventFields.filter((field) => !(field in record));
  const extra = keys.filter((key) => !(tickEventFields as readonly string[]).includes(key));
  if (missing.length > 0 || extra.length > 0) {
    throw bad(
      `a scheduled event has exactly the fields ${tickEventFields.join(", ")}` +
        (missing.length > 0 ? `; missing ${missing.join(", ")}` : "") +
        (extra.length > 0 ? `; unknown ${extra.slice(0, 5).map(shown).join(", ")}` : ""),
    );
  }
  const text = (field: TickField): string => {
    const value = record[field];
    if (typeof value !== "string" || value === "") throw bad(`${field} must be a non-empty string`);
    if (value === (contextAttributes as Record<string, string>)[field]) {
      throw bad(`${field} is the template's placeholder ${value}: the scheduler substitutes it`);
    }
    return value;
  };
  const task = text("task");
  const scheduledTime = parseScheduleTime(text("scheduledTime"));
  if (!scheduledTime) throw bad("scheduledTime must be an ISO 8601 UTC time, e.g. 2026-12-07T03:00:00Z");
  const scheduleArn = text("scheduleArn");
  if (!scheduleArnPattern.test(scheduleArn))
    throw bad("scheduleArn must be an EventBridge Scheduler schedule's ARN");
  const attempt = text("attemptNumber");
  if (!attemptPattern.test(attempt)) throw bad("attemptNumber must be a whole number from 1, as a string");
  const executionId = text("executionId");
  if (!idPattern.test(executionId)) throw bad("executionId must be 1 to 128 printable characters");
  return { kind: "tick", task, scheduledTime, scheduleArn, attemptNumber: Number(attempt), executionId };
}

/** Whether a schedule is this group's: functions/core/config/arns.ts. */
export { scheduleNameIn } from "../core/config/arns.js";

function shown(key: string): string {
  return quoted(key, 50);
}
