/**
 * The runner owns a run: it opens the run record (taking the task's lock and refusing a duplicate
 * schedule time), runs the task's SQL or email job under the task's statement timeout, in batches
 * where the task says so, guards against a blast radius larger than the task allows, and records
 * how the run ended, on another connection if the first one died.
 *
 * Its parts, beside it: run-record.ts (the opening and the end), single-statement.ts, batches.ts
 * and email-run.ts (the work of each kind of task), run-request.ts and run-result.ts (what a caller
 * gives and gets back). Callers import from here.
 */
import type { TaskDefinition } from "../catalog.js";
import type * as DatabaseModule from "../db/pool.js";
import type { HeldClient } from "../db/pool.js";
import { classifyDatabaseError, publicMessage, ScheduledTaskError } from "../errors.js";
import type { Logger } from "../log.js";
import { silentLogger } from "../log.js";
import { runBatches } from "./batches.js";
import { runEmailTask } from "./email-run.js";
import type { OpenedRun } from "./run-record.js";
import { endOf, finishRun, notStarted, openRun, openRunValues, rollBackWithRecord } from "./run-record.js";
import type { RunnerDeps, RunRequest, WorkOptions } from "./run-request.js";
import type { RunFailure, RunResult, RunWork } from "./run-result.js";
import { failureOf } from "./run-result.js";
import type { SentStatement } from "./single-statement.js";
import { openAndRunStatement, runDryStatement, workOfSentStatement } from "./single-statement.js";

export type { RunnerDeps, RunRequest, Trigger } from "./run-request.js";
export type { BatchProgress, RunResult } from "./run-result.js";

/**
 * Runs one task now. Resolves with how the run ended (a failed run is a result, recorded in the
 * history); rejects only with `unavailable` when the database cannot be reached to open a run.
 */
export async function runTask(deps: RunnerDeps, request: RunRequest): Promise<RunResult> {
  const { task } = request;
  const log = (deps.log ?? silentLogger).child({ task: task.name });
  const held = await checkoutFor(deps, log);
  const opening = await open(held, request);
  if (opening.row.outcome !== "started") {
    // A one-trip run whose statement part failed after a non-started opening: keep nothing of it.
    held.release(opening.sent?.error !== undefined);
    return notStarted(request, opening.row, log);
  }
  const runId = opening.row.run_id;
  const options: WorkOptions = {
    dryRun: request.dryRun === true,
    force: request.force === true,
    started: Date.now(),
    log: log.child({ runId }),
  };
  // A run that may take long (batches, emails) says it started; a single statement, done in its
  // timeout, says so once at its end, with the same fields (a line less on every-minute runs).
  if (task.batch || task.kind !== "sql") {
    options.log.info(`${task.name}: started${options.dryRun ? " (dry run)" : ""}`, {
      trigger: request.trigger,
    });
  }
  const ended = await work(deps, held, request, runId, opening.sent, options);
  const durationMs = await record(deps, held, task, runId, ended, options);
  return reported(request, runId, ended, durationMs, options.log);
}

/**
 * The pool's module: loaded already by whoever made the pool, and kept out of this module's static
 * imports so that loading the runner does not load pg (the bundle keeps pg in a chunk of its own).
 * Held once imported: under tsx (the CLI, the benchmarks) every import() of a loaded module still
 * goes through the loader's hooks on their own thread; without this the bench row
 * "auto-cancel-unconfirmed-orders through runTask (p50)" fails.
 */
let databaseModule: typeof DatabaseModule | undefined;

async function checkoutFor(deps: RunnerDeps, log: Logger): Promise<HeldClient> {
  const { checkout } = (databaseModule ??= await import("../db/pool.js"));
  try {
    return await checkout(deps.pool, log);
  } catch (error) {
    throw new ScheduledTaskError("unavailable", "the database is unreachable", { cause: error });
  }
}

/** How a run's opening came back; `sent` when its single statement went with it. */
interface Opening {
  readonly row: OpenedRun;
  readonly sent?: SentStatement;
}

async function open(held: HeldClient, request: RunRequest): Promise<Opening> {
  const { task } = request;
  const values = openRunValues(request);
  try {
    // A single statement (not a dry run) is opened and run in one round trip; other runs open first.
    if (task.kind === "sql" && !task.batch && request.dryRun !== true) {
      const sent = await openAndRunStatement(held, values, task, request.force === true);
      return { row: sent.opened, sent };
    }
    return { row: await openRun(held.client, values) };
  } catch (error) {
    // The session may hold the lock or odd settings: never give it back to the pool.
    held.release(true);
    const unavailable = classifyDatabaseError(error) === "unavailable";
    throw new ScheduledTaskError(
      unavailable ? "unavailable" : "internal",
      unavailable
        ? "the database is unreachable"
        : `could not open a run: ${publicMessage(error)} (has \`npm run migrate\` been applied?)`,
      { cause: error },
    );
  }
}

/** The work of an opened run: done (and perhaps recorded), or the failure it stopped with. */
interface Ended {
  readonly work?: RunWork;
  readonly failure?: RunFailure;
}

async function work(
  deps: RunnerDeps,
  held: HeldClient,
  request: RunRequest,
  runId: string,
  sent: SentStatement | undefined,
  options: WorkOptions,
): Promise<Ended> {
  const { task } = request;
  try {
    // A statement sent with its opening has already run: its outcome came back with it.
    const done = sent
      ? workOfSentStatement(task, runId, options.force, sent)
      : await workOf(deps, held, request, runId, options);
    if (!done.openForDryRun) return { work: done };
    return {
      work: { ...done, recordedDurationMs: await rollBackWithRecord(held, runId, done.rowsAffected) },
    };
  } catch (error) {
    return { failure: failureOf(error) };
  }
}

async function workOf(
  deps: RunnerDeps,
  held: HeldClient,
  request: RunRequest,
  runId: string,
  options: WorkOptions,
): Promise<RunWork> {
  const { task } = request;
  if (task.kind === "email") return runEmailTask(deps, held.client, task, runId, options);
  if (task.kind === "http") {
    // Loaded on an http task's first run: a SQL task's cold start loads no HTTP client.
    const { runHttpTask } = await import("./http-run.js");
    return runHttpTask(deps.http, request, runId, options);
  }
  if (task.batch) return runBatches(held, task, task.batch, runId, options, deps.onProgress);
  return runDryStatement(held, task, options.force);
}

/** Records the end of a run whose work did not record it, and gives the connection back: its duration. */
async function record(
  deps: RunnerDeps,
  held: HeldClient,
  task: TaskDefinition,
  runId: string,
  { work, failure }: Ended,
  options: WorkOptions,
): Promise<number> {
  if (work?.recordedDurationMs !== undefined) {
    held.release();
    return work.recordedDurationMs;
  }
  const rows = failure ? failure.rowsAffected : (work?.rowsAffected ?? 0);
  const end = endOf(failure, rows, work?.more === true, work?.message);
  try {
    return await finishRun(deps.pool, held, runId, end);
  } catch (error) {
    // The run stays "running" in the history; the next run of the task marks it interrupted.
    options.log.error(`${task.name}: could not record the end of the run`, { error: publicMessage(error) });
    return Date.now() - options.started;
  }
}

/** The run's result, and its one log line. */
function reported(
  request: RunRequest,
  runId: string,
  ended: Ended,
  durationMs: number,
  log: Logger,
): RunResult {
  const { task, trigger } = request;
  const base = { runId, task: task.name, dryRun: request.dryRun === true };
  const { failure } = ended;
  if (failure) {
    const { code, message, rowsAffected, details } = failure;
    log.error(`${task.name}: failed: ${message}`, { trigger, code, durationMs, rowsAffected, ...details });
    return { status: "failed", ...base, code, message, durationMs, ...(details ? { details } : {}) };
  }
  const rowsAffected = ended.work?.rowsAffected ?? 0;
  const more = ended.work?.more === true;
  log.info(`${task.name}: succeeded, ${rowsAffected} rows${base.dryRun ? " would change" : ""}`, {
    trigger,
    durationMs,
    rowsAffected,
    more,
    ...(ended.work?.message ? { answer: ended.work.message } : {}),
  });
  return {
    status: "succeeded",
    ...base,
    rowsAffected,
    durationMs,
    ...(more ? { more: true as const } : {}),
  };
}
