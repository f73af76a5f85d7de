/**
 * A manual run on AWS: EventBridge Scheduler has no "run now", so a manual run is a synchronous
 * invoke of the function with the run request (https://docs.aws.amazon.com/lambda/latest/api/API_Invoke.html).
 * Here, of the local Lambda that `npm start -- --cloud aws` serves behind a loopback Invoke API.
 * Its answer is the function's value, or its error object (`X-Amz-Function-Error`) whose message is
 * the same JSON error shape; both read as the function's outcome (`outcomeOf`).
 */
import { errorStatus } from "../../functions/core/errors.js";
import { taskBody } from "../../functions/core/run/task-body.js";
import type { Job } from "../../functions/core/schedule/jobs.js";
import { isErrorAnswer } from "../../functions/gcp/contract.js";
import type { LocalState } from "../local/local-state.js";
import type { Io } from "./io.js";
import type { RunOptions } from "./task-runs.js";
import { outcomeOf } from "./task-runs.js";
import type { RunOutcome } from "./task-runs.js";

/** The status the function's vocabulary gives a body: a refusal's or a failure's code, else 200. */
function statusOf(body: unknown): number {
  return isErrorAnswer(body) ? (errorStatus[body.error.code] ?? 500) : 200;
}

/** The invoke's answer as the function's body: a thrown error's message is the JSON error shape. */
function bodyOf(functionError: boolean, payload: unknown): unknown {
  if (!functionError) return payload;
  const message = (payload as { errorMessage?: unknown } | null)?.errorMessage;
  try {
    return JSON.parse(String(message)) as unknown;
  } catch {
    return { error: { code: "internal", message: `the function failed: ${String(message).slice(0, 300)}` } };
  }
}

export async function runThroughLambda(
  io: Io,
  local: LocalState & { readonly lambdaInvokeUrl: string },
  job: Job,
  options: Pick<RunOptions, "dryRun" | "force" | "json">,
): Promise<RunOutcome | undefined> {
  if (!options.json)
    io.err(`synchronous invoke of the local Lambda at ${local.lambdaInvokeUrl}: ${job.name}`);
  let response: Response;
  try {
    response = await fetch(local.lambdaInvokeUrl, {
      method: "POST",
      headers: { "content-type": "application/json", "x-amz-invocation-type": "RequestResponse" },
      body: JSON.stringify(taskBody(job.name, options)),
    });
  } catch {
    return undefined;
  }
  const payload: unknown = await response.json().catch(() => undefined);
  if (response.status !== 200)
    return outcomeOf(job, 503, {
      error: { code: "unavailable", message: `the local Lambda answered ${response.status}` },
    });
  const body = bodyOf(response.headers.has("x-amz-function-error"), payload);
  return outcomeOf(job, statusOf(body), body);
}
