/**
 * What a caller asks a run of: the task's name and two switches, on every platform. Google's HTTP
 * function reads it from POST /'s JSON body, the Lambda from a synchronous invoke's payload; both
 * check it here, so a field one accepts the other accepts, with the same meaning and the same
 * refusal (a `bad_request` naming the field).
 *
 * Dependency-free but for the error type and the quoting of what the caller sent: loaded at every
 * cold start.
 */
import { ScheduledTaskError } from "../errors.js";
import { quoted } from "../text.js";
import type { Trigger } from "./run-request.js";

/**
 * What an operator's run of a tick is, as the request says it: a backfill of a missed tick, or a
 * replay of a failed one. The only triggers a caller may name: `scheduler` is known by the
 * scheduler's delivery (and its caller), `manual` by its absence, `cli` and `pg_cron` never come
 * through a request.
 */
export type OperatorTrigger = Extract<Trigger, "backfill" | "replay">;

const operatorTriggers: readonly OperatorTrigger[] = ["backfill", "replay"];

/** A run request: exactly these fields (any other is refused). */
export interface TaskBody {
  readonly task: string;
  /** Roll back (or only count) and report what would have changed. */
  readonly dryRun?: boolean;
  /** Run even when the task's blast-radius guard would stop it. */
  readonly force?: boolean;
  /** An operator's run of the tick the delivery names: recorded so, never as the scheduler's. */
  readonly trigger?: OperatorTrigger;
}

/** The request as read: the switches false when absent, the trigger only when named. */
export type ReadTaskBody = Required<Omit<TaskBody, "trigger">> & Pick<TaskBody, "trigger">;

const taskBodyFields: readonly (keyof TaskBody)[] = ["task", "dryRun", "force", "trigger"];

/** The request as a caller writes it: the task, and `dryRun`, `force` or `trigger` only when they are set. */
export function taskBody(
  task: string,
  options: { dryRun?: boolean; force?: boolean; trigger?: OperatorTrigger | undefined } = {},
): TaskBody {
  return {
    task,
    ...(options.dryRun ? { dryRun: true } : {}),
    ...(options.force ? { force: true } : {}),
    ...(options.trigger ? { trigger: options.trigger } : {}),
  };
}

const bodyFields: ReadonlySet<string> = new Set(taskBodyFields);

/** Why a value is not a JSON object, for a run request; undefined when it is one. */
function notAnObject(body: unknown): string | undefined {
  if (body === undefined) return 'the body is empty: send {"task": "<name>"}';
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    return 'the body must be a JSON object: {"task": "<name>"}';
  }
  return undefined;
}

/** The request, exactly: `task`, optional boolean `dryRun` and `force`, an optional `trigger`, nothing else. */
export function parseTaskBody(body: unknown): ReadTaskBody {
  const shape = notAnObject(body);
  if (shape !== undefined) throw new ScheduledTaskError("bad_request", shape);
  const record = body as Record<string, unknown>;
  const unknown = Object.keys(record).filter((key) => !bodyFields.has(key));
  if (unknown.length > 0) {
    const named = unknown.slice(0, 5).map((key) => quoted(key, 50));
    throw new ScheduledTaskError(
      "bad_request",
      `unknown field${unknown.length > 1 ? "s" : ""} ${named.join(", ")}${unknown.length > 5 ? ", ..." : ""}: the body takes task, dryRun, force and trigger`,
    );
  }
  const { task, dryRun, force, trigger } = record;
  if (task === undefined) throw new ScheduledTaskError("bad_request", "task is required");
  if (typeof task !== "string" || task.length === 0) {
    throw new ScheduledTaskError("bad_request", "task must be a non-empty string");
  }
  if (dryRun !== undefined && typeof dryRun !== "boolean") {
    throw new ScheduledTaskError("bad_request", "dryRun must be true or false");
  }
  if (force !== undefined && typeof force !== "boolean") {
    throw new ScheduledTaskError("bad_request", "force must be true or false");
  }
  if (trigger !== undefined && !(operatorTriggers as readonly unknown[]).includes(trigger)) {
    throw new ScheduledTaskError(
      "bad_request",
      'trigger must be "backfill" or "replay" (an operator\'s run of a tick); the scheduler\'s ticks are known by its delivery',
    );
  }
  return {
    task,
    dryRun: dryRun === true,
    force: force === true,
    ...(trigger === undefined ? {} : { trigger: trigger as OperatorTrigger }),
  };
}
