/**
 * The Lambda handler: check the event, find the task, classify the delivery by the core's tick
 * rules, hand it to the runner, and settle the outcome by the core's rule
 * (functions/core/run/outcome.ts). Everything is caught here and settled in one place.
 *
 * Two retry layers meet here. EventBridge Scheduler retries a delivery it could not hand to
 * Lambda; Lambda retries an asynchronous invoke only when the function returns an error, up to
 * twice (https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-error-handling.html). A
 * returned value, whatever it says, ends the event. So an outcome Google's function answers 5xx or
 * 409 for (the tick would be lost) is thrown, and everything else, a refusal included, is
 * returned: a malformed event, an unknown task or a guard's trip would be refused again, and a
 * retry would only repeat the refusal.
 */
import type { Pool } from "../core/db/pool.js";
import { publicMessage, ScheduledTaskError } from "../core/errors.js";
import type { Logger } from "../core/log.js";
import type { Delivery } from "../core/schedule/ticks.js";
import { scheduleTimeProblem } from "../core/schedule/ticks.js";
import type { Job } from "../core/schedule/jobs.js";
import { jobNamed } from "../core/schedule/jobs.js";
import { deliveryOf, runOf } from "../core/run/delivery.js";
import type { RunOutcome } from "../core/run/outcome.js";
import { isRetryable, outcomeOfError, outcomeOfRun } from "../core/run/outcome.js";
import type { RunnerDeps, RunRequest, RunResult } from "../core/run/runner.js";
import type { LambdaEvent, TickEvent } from "./event.js";
import { parseEvent, scheduleNameIn } from "./event.js";
import { clip, quoted } from "../core/text.js";

export type RunTask = (deps: RunnerDeps, request: RunRequest) => Promise<RunResult>;

interface LambdaDeps {
  /** Every task as this deployment schedules it (`resolveJobs`). */
  readonly jobs: readonly Job[];
  /** This stack's schedule group: a tick from any other schedule is a manual run. */
  readonly scheduleGroupArn: string;
  /** The instance's pool, created on first use. */
  readonly pool: () => Pool | Promise<Pool>;
  readonly runTask: RunTask;
  readonly log: Logger;
  readonly loadEmailHandler?: RunnerDeps["loadEmailHandler"];
  /** The stack's http targets and how the function signs its calls to them. */
  readonly http?: RunnerDeps["http"];
  readonly now?: () => Date;
}

/** What the handler reads of Lambda's context object. */
interface InvokeContext {
  readonly awsRequestId?: string;
}

export type LambdaHandler = (event: unknown, context?: InvokeContext) => Promise<unknown>;

/**
 * Thrown for an outcome worth another delivery. Its message is the JSON error body Google's
 * function answers with; it carries no stack, since the Node.js runtime reports `error.stack` as
 * the error's `trace` to the caller (aws-lambda-nodejs-runtime-interface-client, src/utils/error.ts).
 */
export class RetryableRunError extends Error {
  constructor(readonly outcome: RunOutcome) {
    super(JSON.stringify(outcome.body));
    this.name = "RetryableRunError";
    Object.defineProperty(this, "stack", { value: undefined });
  }
}

/** Returns the outcome's body, or throws it when another delivery could end differently. */
export function settle(outcome: RunOutcome): unknown {
  if (isRetryable(outcome.status)) throw new RetryableRunError(outcome);
  return outcome.body;
}

export function createLambdaHandler(deps: LambdaDeps): LambdaHandler {
  return async (event, context) => {
    const started = performance.now();
    const log = deps.log.child(context?.awsRequestId ? { requestId: context.awsRequestId } : {});
    let outcome: RunOutcome;
    let parsed: LambdaEvent | undefined;
    try {
      parsed = parseEvent(event);
      outcome = outcomeOfRun(await invoke(parsed, log, deps));
    } catch (error) {
      outcome = outcomeOfError(error);
      logFailure(log, error, outcome);
    }
    logInvocation(log, parsed, outcome, performance.now() - started);
    return settle(outcome);
  };
}

/** Every invoke of a misconfigured deployment: refused (and retried), the log at start-up says why. */
export function createRefusingLambdaHandler(log: Logger): LambdaHandler {
  return async () => {
    const error = new ScheduledTaskError(
      "unavailable",
      "the function is not configured; its log at start-up says what is missing",
    );
    const outcome = outcomeOfError(error);
    log.error(`invoke refused: ${error.message}`, { code: error.code });
    return settle(outcome);
  };
}

/** A synchronous invoke: a manual run, its input its arrival. */
const invoked: Delivery = { kind: "manual", reason: "a synchronous invoke" };

async function invoke(event: LambdaEvent, log: Logger, deps: LambdaDeps): Promise<RunResult> {
  const arrival = deps.now?.() ?? new Date();
  const job = jobNamed(deps.jobs, event.task);
  if (!job) {
    throw new ScheduledTaskError("not_found", `unknown task ${quoted(event.task, 100)}`, {
      details: { tasks: deps.jobs.map((candidate) => candidate.name) },
    });
  }
  try {
    const delivery = event.kind === "tick" ? await tickDelivery(event, job, deps, arrival) : invoked;
    const runLog = event.kind === "tick" ? log.child(schedulerFields(event)) : log;
    if (event.kind === "tick" && delivery.kind === "manual") {
      runLog.info(`${job.name}: a manual run: ${delivery.reason}`, { jobName: delivery.jobName });
    }
    const pool = await deps.pool();
    return await deps.runTask(
      {
        pool,
        log: runLog,
        jobs: deps.jobs,
        ...(deps.loadEmailHandler ? { loadEmailHandler: deps.loadEmailHandler } : {}),
        ...(deps.http ? { http: deps.http } : {}),
      },
      {
        task: job,
        ...runOf(delivery, arrival, event.kind === "invoke" ? event.trigger : undefined),
        attempt: event.kind === "tick" ? event.attemptNumber : undefined,
        dryRun: event.kind === "invoke" && event.dryRun,
        force: event.kind === "invoke" && event.force,
      },
    );
  } catch (error) {
    throw withTask(error, job.name);
  }
}

/**
 * A tick of this task's schedule in this stack's group, by the tick rules; a delivery naming
 * another schedule, or a time that is no fire time of the task's schedule or lies ahead, is a
 * manual run that takes no slot.
 */
async function tickDelivery(event: TickEvent, job: Job, deps: LambdaDeps, arrival: Date): Promise<Delivery> {
  if (scheduleTimeProblem(event.scheduledTime, arrival) !== undefined) {
    throw new ScheduledTaskError(
      "bad_request",
      "scheduledTime is more than a year away from now: no scheduler sends that",
    );
  }
  const name = scheduleNameIn(deps.scheduleGroupArn, event.scheduleArn);
  if (name !== job.name) {
    return {
      kind: "manual",
      jobName: name ?? event.scheduleArn,
      requestedScheduleTime: event.scheduledTime,
      reason:
        name === undefined
          ? `the schedule ${event.scheduleArn} is not in this stack's schedule group`
          : `the schedule ${name} is not the task's own`,
    };
  }
  return deliveryOf(job, { jobName: name, scheduleTime: event.scheduledTime }, arrival);
}

function schedulerFields(event: TickEvent): Record<string, unknown> {
  return { executionId: event.executionId, attemptNumber: event.attemptNumber };
}

/** A run that could not even start (the database down) has no record: its log line names the task. */
function withTask(error: unknown, task: string): unknown {
  if (error instanceof ScheduledTaskError && error.details?.task === undefined) {
    return new ScheduledTaskError(error.code, error.message, {
      cause: error.cause,
      details: { ...error.details, task },
    });
  }
  return error;
}

function logFailure(log: Logger, error: unknown, outcome: RunOutcome): void {
  if (error instanceof ScheduledTaskError) return;
  log.error(`invoke failed: internal error: ${publicMessage(error)}`, { status: outcome.status });
}

function logInvocation(log: Logger, event: LambdaEvent | undefined, outcome: RunOutcome, ms: number): void {
  const body = outcome.body as { status?: string; runId?: string; error?: { code?: string; task?: string } };
  const task = event?.task ?? body.error?.task;
  const fields: Record<string, unknown> = {
    ...(task !== undefined ? { task: clip(task, 100) } : {}),
    ...(event?.kind === "tick" ? { ...schedulerFields(event), scheduleArn: event.scheduleArn } : {}),
    invocation: event?.kind ?? "malformed",
    status: outcome.status,
    retried: isRetryable(outcome.status),
    latencyMs: Math.round(ms * 100) / 100,
  };
  if (body.runId !== undefined) fields.runId = body.runId;
  const what = body.error?.code ?? body.status ?? "answered";
  const line = `invoke ${event?.kind ?? "event"}: ${outcome.status} ${what}`;
  if (outcome.status >= 500) log.error(line, fields);
  else if (outcome.status >= 400) log.warn(line, fields);
  else log.info(line, fields);
}
