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

/** A run request: exactly these fields (any other is refused). */
export interface TaskBody {
  readonly task: string;
  /** Roll back (or only count) and report what would have changed. */
  readonly dryRun?: boolean;
  /** Run even when the task's blast-radius guard would stop it. */
  readonly force?: boolean;
}

const taskBodyFields: readonly (keyof TaskBody)[] = ["task", "dryRun", "force"];

/** The request as a caller writes it: the task, and `dryRun` or `force` only when they are set. */
export function taskBody(task: string, options: { dryRun?: boolean; force?: boolean } = {}): TaskBody {
  return { task, ...(options.dryRun ? { dryRun: true } : {}), ...(options.force ? { force: true } : {}) };
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

/** The request, exactly: `task`, optional boolean `dryRun` and `force`, nothing else. */
export function parseTaskBody(body: unknown): Required<TaskBody> {
  const shape = notAnObject(body);
  if (shape !== undefined) throw new ScheduledTaskError("bad_request", shape);
  const record = body as Record<string, unknown>;
  const unknown = Object.keys(record).filter((key) => !bodyFields.has(key));
  if (unknown.length > 0) {
    const named = unknown.slice(0, 5).map((key) => quoted(key, 50));
    throw new ScheduledTaskError(
      "bad_request",
      `unknown field${unknown.length > 1 ? "s" : ""} ${named.join(", ")}${unknown.length > 5 ? ", ..." : ""}: the body takes task, dryRun and force`,
    );
  }
  const { task, dryRun, force } = record;
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
  return { task, dryRun: dryRun === true, force: force === true };
}
