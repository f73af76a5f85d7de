/**
 * An http task's run: `POST <target url><path>` with the run in a JSON body, through the same run
 * path as a SQL task (the runner has opened the run, holds the task's lock and its dedup slot).
 * The answer becomes the run's outcome by one rule: 2xx (or the task's success statuses)
 * succeeded; 409 and 429 are waited out per `Retry-After` while the deadline allows, then
 * retryable; 5xx, a timeout and a failed connection are retryable; a redirect and any other 4xx
 * fail without a retry (`target_refused`). The answer's status, duration and first bytes go into
 * the run record and the log line. Loaded with the first http task's run.
 */
import type { TaskDefinition } from "../catalog.js";
import type { HttpTarget } from "../config/http-targets.js";
import { clip } from "../text.js";
import type { CallAnswer } from "./http-call.js";
import { CallFailure, callTarget } from "./http-call.js";
import type { HttpDeps, OutgoingCall } from "./http-contract.js";
import type { RunRequest, WorkOptions } from "./run-request.js";
import type { RunWork } from "./run-result.js";
import { guardTripped, RunFailure } from "./run-result.js";

/** How much of an answer the run record and the log line keep. */
const RECORDED_ANSWER_CHARS = 300;

/** The body an http task's target receives. */
interface HttpTaskBody {
  readonly task: string;
  /** The tick this run stands for (ISO 8601), or null for a manual run. */
  readonly scheduleTime: string | null;
  readonly runId: string;
  readonly trigger: string;
  /** The scheduler's delivery attempt of this tick, when it says (1 is the first). */
  readonly attempt: number | null;
  /** The rows the task caps a run at (null when forced or uncapped): the target should honour it. */
  readonly maxRows: number | null;
}

/**
 * The key a target deduplicates on: a tick's is the same on every delivery of it (the scheduler's
 * retries, a replay, a backfill), so the target can do a tick's work once; a manual run's is its
 * own run's, fresh each time.
 */
function idempotencyKey(task: string, scheduleTime: Date | undefined, runId: string): string {
  return scheduleTime ? `${task}:${scheduleTime.toISOString()}` : `${task}:manual:${runId}`;
}

function targetOf(deps: HttpDeps | undefined, task: TaskDefinition): { key: string; target: HttpTarget } {
  const key = task.http?.target;
  if (!task.http || !key)
    throw new RunFailure("task_failed", `${task.name} is an http task without its call`, 0);
  if (!deps) throw new RunFailure("task_failed", "http tasks are not configured in this process", 0);
  const target = deps.targets[key];
  if (!target) {
    throw new RunFailure(
      "task_failed",
      `target ${JSON.stringify(key)} is not in this stack's httpTargets (HTTP_TARGETS): add it to Pulumi.<stack>.yaml`,
      0,
    );
  }
  return { key, target };
}

async function outgoing(
  deps: HttpDeps,
  request: RunRequest,
  runId: string,
  options: WorkOptions,
): Promise<OutgoingCall> {
  const { task } = request;
  const { key, target } = targetOf(deps, task);
  const body: HttpTaskBody = {
    task: task.name,
    scheduleTime: request.scheduleTime?.toISOString() ?? null,
    runId,
    trigger: request.trigger,
    attempt: request.attempt ?? null,
    maxRows: options.force ? null : (task.maxRows ?? null),
  };
  const headers: Record<string, string> = {
    "content-type": "application/json",
    "idempotency-key": idempotencyKey(task.name, request.scheduleTime, runId),
    "user-agent": "scheduled-jobs",
    ...(request.traceHeader ? { "x-cloud-trace-context": request.traceHeader } : {}),
  };
  return {
    targetKey: key,
    target,
    url: new URL(`${target.url}${task.http?.path ?? ""}`),
    method: "POST",
    headers,
    body: JSON.stringify(body),
  };
}

export async function runHttpTask(
  deps: HttpDeps | undefined,
  request: RunRequest,
  runId: string,
  options: WorkOptions,
): Promise<RunWork> {
  const call = await outgoing(deps as HttpDeps, request, runId, options);
  const where = `POST ${call.url.origin}${call.url.pathname}`;
  if (options.dryRun) return { rowsAffected: 0, message: `dry run: would ${where}` };
  const authorize = await (deps as HttpDeps).loadAuthorizer();
  let auth: Readonly<Record<string, string>>;
  try {
    auth = await authorize(call);
  } catch (error) {
    // A platform's refusal of the target itself (AWS: a host that checks no IAM) says so; any
    // other failure to prove the function may pass (a token source back), so a retry may help.
    if (error instanceof RunFailure) throw error;
    const message = error instanceof Error ? error.message : String(error);
    throw new RunFailure("unavailable", `no identity for ${call.targetKey}: ${message}`, 0, undefined, {
      cause: error,
    });
  }
  const deadline = options.started + request.task.timeoutSeconds * 1000;
  const answer = await answerWithin(call, auth, deadline, options);
  return outcomeOf(request, where, answer, options);
}

/** Calls, and calls again after a 409 or 429 whose Retry-After ends before the deadline. */
async function answerWithin(
  call: OutgoingCall,
  auth: Readonly<Record<string, string>>,
  deadline: number,
  options: WorkOptions,
): Promise<CallAnswer> {
  for (;;) {
    let answer: CallAnswer;
    try {
      answer = await callTarget({
        url: call.url,
        target: call.target,
        headers: { ...call.headers, ...auth },
        body: call.body,
        deadline,
      });
    } catch (error) {
      if (!(error instanceof CallFailure)) throw error;
      const code =
        error.kind === "timeout" ? "timeout" : error.kind === "address" ? "target_refused" : "unavailable";
      throw new RunFailure(code, `${call.targetKey}: ${error.message}`, 0, undefined, { cause: error });
    }
    const wait = answer.status === 409 || answer.status === 429 ? retryAfterMs(answer.retryAfter) : undefined;
    if (wait === undefined || Date.now() + wait >= deadline) return answer;
    options.log.info(`waiting ${wait} ms as the target asked (${answer.status}, Retry-After)`);
    await new Promise((resolve) => setTimeout(resolve, wait));
  }
}

/** Retry-After in milliseconds (delay-seconds or an HTTP date), or undefined when absent or unreadable. */
export function retryAfterMs(header: string | undefined, now = Date.now()): number | undefined {
  if (!header) return undefined;
  if (/^\d+$/.test(header.trim())) return Number(header.trim()) * 1000;
  const date = Date.parse(header);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

function answerText(answer: CallAnswer): string {
  const text = answer.body.toString("utf8").replace(/\s+/g, " ").trim();
  return (
    clip(text, RECORDED_ANSWER_CHARS) +
    (answer.truncated && text.length <= RECORDED_ANSWER_CHARS ? "..." : "")
  );
}

/** The count a target answered (`{"rowsAffected": n}`), else 0. */
function rowsOf(answer: CallAnswer): number {
  if (answer.truncated) return 0;
  try {
    const parsed = JSON.parse(answer.body.toString("utf8")) as { rowsAffected?: unknown };
    const rows = parsed.rowsAffected;
    return typeof rows === "number" && Number.isInteger(rows) && rows >= 0 ? rows : 0;
  } catch {
    return 0;
  }
}

function outcomeOf(request: RunRequest, where: string, answer: CallAnswer, options: WorkOptions): RunWork {
  const { task } = request;
  const said = `${where} answered ${answer.status} in ${answer.durationMs} ms${answer.body.length > 0 ? `: ${answerText(answer)}` : ""}`;
  const details = { httpStatus: answer.status, callMs: answer.durationMs };
  const success = task.http?.successStatuses ?? [];
  const succeeded =
    success.length > 0 ? success.includes(answer.status) : answer.status >= 200 && answer.status < 300;
  if (succeeded) {
    const rows = rowsOf(answer);
    if (task.maxRows !== undefined && !options.force && rows > task.maxRows) {
      const tripped = guardTripped(task, rows, task.maxRows);
      throw new RunFailure(
        "guard_tripped",
        `${said}; the target answered ${rows} rows, more than the task's limit of ${task.maxRows}`,
        0,
        { ...tripped.details, ...details },
      );
    }
    return { rowsAffected: rows, message: said };
  }
  if (answer.status >= 300 && answer.status < 400) {
    throw new RunFailure(
      "target_refused",
      `${said}; redirects are not followed${answer.location ? ` (to ${clip(answer.location, 200)})` : ""}`,
      0,
      details,
    );
  }
  if (answer.status === 422 && task.maxRows !== undefined) {
    throw new RunFailure(
      "guard_tripped",
      `${said}; the target refused the task's limit of ${task.maxRows} rows`,
      0,
      details,
    );
  }
  const retryable = answer.status === 409 || answer.status === 429 || answer.status >= 500;
  throw new RunFailure(retryable ? "unavailable" : "target_refused", said, 0, details);
}
