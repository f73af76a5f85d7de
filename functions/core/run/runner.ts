/**
 * The runner owns a run: it opens the run record (taking the task's lock and refusing a duplicate
 * schedule time), runs the task's SQL or email job under the task's statement timeout, in batches
 * where the task says so, guards against a blast radius larger than the task allows, and records
 * how the run ended, on another connection if the first one died.
 */
import {
  batchTimeoutMs,
  firstBatchSize,
  nextBatchSize,
  sizeAfterTimeout,
  TIMEOUTS_AT_MIN_SIZE,
} from "./batch-sizing.js";
import type { TaskDefinition } from "../catalog.js";
import { overlapOf, tasks, timeZoneOf } from "../catalog.js";
import type * as DatabaseModuleNamespace from "../db/pool.js";
import type { Pool, PoolClient } from "../db/pool.js";
import { checkout } from "../db/checkout.js";
import type { RunErrorCode } from "../errors.js";
import { classifyDatabaseError, publicMessage, ScheduledTaskError } from "../errors.js";
import type { Job } from "../schedule/jobs.js";
import { resolveJobs } from "../schedule/jobs.js";
import type { Logger } from "../log.js";
import { silentLogger } from "../log.js";
import type { EmailTaskHandler, TaskWork } from "./task-contract.js";
import { sqlOf } from "./task-sql.js";

/**
 * What started a run: a tick delivered by Cloud Scheduler (or the local scheduler); a manual run
 * (a console force run, a POST without a tick); the operator CLI.
 */
export type Trigger = "scheduler" | "manual" | "cli";

export interface RunRequest {
  readonly task: TaskDefinition;
  readonly trigger: Trigger;
  /** Cloud Scheduler's X-CloudScheduler-JobName. */
  readonly jobName?: string | undefined;
  /** The tick this run is for, and its dedup slot: a second success of it is refused as a duplicate. */
  readonly scheduleTime?: Date | undefined;
  /** A manual run's X-CloudScheduler-ScheduleTime, recorded for audit only (it takes no slot). */
  readonly requestedScheduleTime?: Date | undefined;
  /**
   * The task's input, read by its SQL as `scheduler.tick()`: the schedule time of a tick, the
   * arrival of a manual run. Defaults to `scheduleTime`, else the run's start.
   */
  readonly tick?: Date | undefined;
  readonly attempt?: number | undefined;
  /** Roll back (or only count) and report what would have changed. */
  readonly dryRun?: boolean | undefined;
  /** Run even when the blast-radius guard would stop it. */
  readonly force?: boolean | undefined;
}

export interface BatchProgress {
  readonly task: string;
  readonly runId: string;
  readonly batches: number;
  readonly rowsSoFar: number;
  readonly rowsPerSecond: number;
  /** The rows of the batch just committed, and how long its transaction took. */
  readonly batchRows: number;
  readonly batchMs: number;
  /**
   * The batch ran past its timeout and was cancelled: rolled back, none of its rows changed
   * (`batchRows` 0; `batchMs` is how long it held its locks); the next batch retries smaller.
   */
  readonly cancelled?: true;
}

export interface RunnerDeps {
  readonly pool: Pool;
  readonly log?: Logger;
  /** Loads the email tasks' handlers; called only when an email task runs (keeps SDKs off the SQL path). */
  readonly loadEmailHandler?: (task: TaskDefinition) => Promise<EmailTaskHandler>;
  readonly onProgress?: (progress: BatchProgress) => void;
  /** Every task as the deployment schedules it; the catalog as written when absent. */
  readonly jobs?: readonly Job[];
}

interface RunBase {
  readonly runId: string;
  readonly task: string;
  readonly dryRun: boolean;
}

export type RunResult =
  | (RunBase & {
      readonly status: "succeeded";
      readonly rowsAffected: number;
      readonly durationMs: number;
      readonly more?: true;
    })
  | (RunBase & { readonly status: "skipped"; readonly message: string })
  /**
   * A tick of a task whose overlap policy is "retry" found the lock held: recorded as skipped, and
   * answered 409 so that Cloud Scheduler retries the tick by the job's policy.
   */
  | (RunBase & { readonly status: "locked"; readonly message: string })
  /** The task is paused at run time (`cli pause`): nothing ran; recorded with the reason. */
  | (RunBase & {
      readonly status: "paused";
      readonly reason: string;
      readonly pausedBy: string;
      readonly pausedAt: string;
      readonly until: string | null;
    })
  | (RunBase & { readonly status: "duplicate" })
  | (RunBase & {
      readonly status: "failed";
      readonly code: RunErrorCode;
      readonly message: string;
      readonly durationMs: number;
      readonly details?: Readonly<Record<string, unknown>>;
    });

class RunFailure extends Error {
  constructor(
    readonly code: RunErrorCode,
    message: string,
    readonly rowsAffected: number,
    readonly details?: Record<string, unknown>,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/**
 * Runs one task now. Resolves with how the run ended (a failed run is a result, recorded in the
 * history); rejects only with `unavailable` when the database cannot be reached to open a run.
 *
 * On a request's path every await is a promise reaction that functions-framework's per-request
 * domain wraps in its enter and exit hooks: 3.4 µs an await there against 0.1 µs outside a domain,
 * measured on Node.js 20 (`node:domain` tracks promises through async hooks; the framework's
 * wrapHttpFunction runs each request in one). A single statement's run awaits twice: its checkout
 * and its one round trip.
 */
export async function runTask(deps: RunnerDeps, request: RunRequest): Promise<RunResult> {
  const { task } = request;
  const dryRun = request.dryRun === true;
  const force = request.force === true;
  const log = (deps.log ?? silentLogger).child({ task: task.name });

  let client: PoolClient;
  let release: (error?: Error | boolean) => void;
  try {
    ({ client, release } = await checkout(deps.pool, log));
  } catch (error) {
    throw new ScheduledTaskError("unavailable", "the database is unreachable", { cause: error });
  }

  // A single statement (not a dry run) is opened and run in one round trip; other runs open first.
  const oneTrip = task.kind === "sql" && !task.batch && !dryRun;
  let sent: SentStatement | undefined;
  let runId: string;
  try {
    const values = openRunValues(task, request, dryRun, force);
    let row: OpenedRun | undefined;
    if (oneTrip) {
      sent = await openAndRunStatement(client, values, statementOf(task), guardOf(task, force));
      row = sent.opened;
      if (!row) throw sent.error ?? new Error("scheduler.start_run returned no row");
      if (row.outcome === "paused") row = { ...row, ...(await pauseOf(client, row.run_id)) };
    } else {
      const opened = await client.query<OpenedRun>({
        // Named: parsed and planned once per connection, not on every run (a failed start never
        // returns its connection to the pool, so a connection never holds a half-prepared one).
        name: "scheduler.open_run",
        text: OPEN_RUN,
        values,
      });
      row = opened.rows[0];
    }
    if (!row) throw new Error("scheduler.open_run returned no row");
    runId = row.run_id;
    // A one-trip run whose statement part failed after a non-started opening: keep nothing of it.
    const keep = sent?.error === undefined;
    if (row.outcome === "paused") {
      release(!keep);
      const reason = row.reason ?? "paused";
      log.info(`${task.name}: paused, not run: ${reason}`, { runId, outcome: row.outcome });
      return {
        status: "paused",
        runId,
        task: task.name,
        dryRun,
        reason,
        pausedBy: row.paused_by ?? "",
        pausedAt: row.paused_at?.toISOString() ?? "",
        until: row.until?.toISOString() ?? null,
      };
    }
    if (row.outcome !== "started") {
      release(!keep);
      log.info(
        row.outcome === "skipped"
          ? `${task.name}: skipped, another run holds the task's lock`
          : `${task.name}: this schedule time already succeeded, nothing to do`,
        { runId, outcome: row.outcome },
      );
      return row.outcome === "skipped"
        ? {
            // A tick that must not be lost is answered so that the scheduler retries it.
            status: request.trigger === "scheduler" && overlapOf(task) === "retry" ? "locked" : "skipped",
            runId,
            task: task.name,
            dryRun,
            message: "another run of this task holds its lock",
          }
        : { status: "duplicate", runId, task: task.name, dryRun };
    }
  } catch (error) {
    // The session may hold the lock or odd settings: never give it back to the pool.
    release(true);
    const code = classifyDatabaseError(error);
    throw new ScheduledTaskError(
      code === "unavailable" ? "unavailable" : "internal",
      code === "unavailable"
        ? "the database is unreachable"
        : `could not open a run: ${publicMessage(error)} (has \`npm run migrate\` been applied?)`,
      { cause: error },
    );
  }

  const runLog = log.child({ runId });
  const started = Date.now();
  // A run that may take long (batches, emails) says it started; a single statement, done in its
  // timeout, says so once at its end, with the same fields (a line less on every-minute runs).
  if (task.batch || task.kind === "email") {
    runLog.info(`${task.name}: started${dryRun ? " (dry run)" : ""}`, { trigger: request.trigger });
  }

  let work: OpenWork | undefined;
  let failure: RunFailure | undefined;
  let recordedDurationMs: number | undefined;
  try {
    // A statement sent with its opening has already run: its outcome is read without an await.
    work = sent
      ? workOfSentStatement(task, runId, force, sent)
      : await doWork(deps, client, task, runId, { dryRun, force, started, log: runLog });
    if (work.openForDryRun) recordedDurationMs = await rollBackWithRecord(client, runId, work.rowsAffected);
    else if (work.recordedDurationMs !== undefined) recordedDurationMs = work.recordedDurationMs;
  } catch (error) {
    failure =
      error instanceof RunFailure
        ? error
        : error instanceof ScheduledTaskError && isRunErrorCode(error.code)
          ? // An email task's own verdict before it did anything (Secret Manager unreachable: 503).
            new RunFailure(error.code, error.message, 0, error.details ? { ...error.details } : undefined, {
              cause: error,
            })
          : new RunFailure(classifyDatabaseError(error), publicMessage(error), 0, undefined, {
              cause: error,
            });
  }

  const status = failure ? "failed" : "succeeded";
  const rowsAffected = failure ? failure.rowsAffected : (work?.rowsAffected ?? 0);
  const more = work?.more === true;
  const durationMs =
    recordedDurationMs ??
    (await finishRun(deps.pool, client, release, failure, runId, {
      status,
      rowsAffected,
      more,
      code: failure?.code ?? null,
      message: failure?.message ?? null,
    }).catch((error: unknown) => {
      // The run stays "running" in the history; the next run of the task marks it interrupted.
      runLog.error(`${task.name}: could not record the end of the run`, { error: publicMessage(error) });
      return Date.now() - started;
    }));
  if (recordedDurationMs !== undefined) release();

  if (failure) {
    runLog.error(`${task.name}: failed: ${failure.message}`, {
      trigger: request.trigger,
      code: failure.code,
      durationMs,
      rowsAffected,
      ...failure.details,
    });
    return {
      status: "failed",
      runId,
      task: task.name,
      dryRun,
      code: failure.code,
      message: failure.message,
      durationMs,
      ...(failure.details ? { details: failure.details } : {}),
    };
  }
  runLog.info(`${task.name}: succeeded, ${rowsAffected} rows${dryRun ? " would change" : ""}`, {
    trigger: request.trigger,
    durationMs,
    rowsAffected,
    more,
  });
  return {
    status: "succeeded",
    runId,
    task: task.name,
    dryRun,
    rowsAffected,
    durationMs,
    ...(more ? { more: true as const } : {}),
  };
}

/** scheduler.start_run's row, with the pause that stopped the run when one did. */
interface OpenedRun extends Partial<PauseOfRun> {
  readonly outcome: "started" | "skipped" | "duplicate" | "paused";
  readonly run_id: string;
}

/** The pause a paused run was recorded with: its reason, and who paused the task, when, until when. */
interface PauseOfRun {
  readonly reason: string | null;
  readonly paused_by: string | null;
  readonly paused_at: Date | null;
  readonly until: Date | null;
}

/**
 * The pause of a run that start_run recorded as paused (its reason is the run's message), asked
 * apart from the opening: a paused tick does no work, and every run that does work is spared the
 * join.
 */
async function pauseOf(client: PoolClient, runId: string): Promise<PauseOfRun> {
  const { rows } = await client.query<PauseOfRun>({
    name: "scheduler.pause_of_run",
    text: `SELECT r.message AS reason, p.paused_by, p.paused_at, p.until
           FROM scheduler.job_runs r LEFT JOIN scheduler.task_pauses p ON p.task = r.task
           WHERE r.id = $1`,
    values: [runId],
  });
  return rows[0] ?? { reason: null, paused_by: null, paused_at: null, until: null };
}

/** What came back of a single statement sent with its run's opening (openAndRunStatement). */
interface SentStatement {
  readonly opened?: OpenedRun;
  /** scheduler.run_opened_statement's row: the statement ran and its success is recorded. */
  readonly done?: { readonly run_id: string; readonly rows_affected: string; readonly duration_ms: number };
  /** The error that ended the query: before `opened`, the run was not opened; after, the work failed. */
  readonly error?: unknown;
}

type OpenRunValue = string | number | boolean | Date | null;

/**
 * The statement that opens a batched, email or dry run (a named statement, `$1`../../..`$11`):
 * scheduler.open_run (migration 000012) is start_run with the pause that stopped the run, if one
 * did, and commits without waiting for its disk flush.
 */
const OPEN_RUN = `SELECT outcome, run_id, reason, paused_by, paused_at, until FROM scheduler.open_run(${Array.from(
  { length: 11 },
  (_, i) => `$${i + 1}`,
).join(", ")})`;

function openRunValues(
  task: TaskDefinition,
  request: RunRequest,
  dryRun: boolean,
  force: boolean,
): OpenRunValue[] {
  return [
    task.name,
    request.trigger,
    request.jobName ?? null,
    request.scheduleTime ?? null,
    request.attempt ?? null,
    dryRun,
    force,
    task.timeoutSeconds * 1000,
    timeZoneOf(task),
    request.requestedScheduleTime ?? null,
    request.tick ?? null,
  ];
}

/**
 * The opening a single statement is sent with: scheduler.start_run alone. start_run answers the
 * outcome and the run; the pause that stopped a run is asked apart (`pauseOf`) when one did, since
 * a paused run does no work.
 */
function startRunSelect(args: readonly string[]): string {
  return `SELECT outcome, run_id FROM scheduler.start_run(${args.join(", ")})`;
}

/**
 * Opens the run and runs its one statement in one round trip: one simple query,
 * `BEGIN; SET LOCAL synchronous_commit = off; <start_run>; COMMIT; SELECT ...
 * scheduler.run_opened_statement(<statement>, <guard>)`. The 'running' row commits before the work
 * starts (a run cut off mid-statement is found and marked interrupted by the next), without waiting
 * for its disk flush, as scheduler.open_run's does (migration 000012 says what that can lose: nothing
 * a retry does not redo). The work then finds its run in the session (migration 000012) and commits
 * with the record of its success. PostgreSQL runs the statements of a simple query in order and
 * stops at the first error; the explicit COMMIT ends the opening's transaction and the statement
 * after it runs in its own, under the task's statement_timeout that start_run set: the timeout
 * applies to each statement of such a query separately
 * (https://www.postgresql.org/docs/current/protocol-flow.html#PROTOCOL-FLOW-MULTI-STATEMENT,
 * https://www.postgresql.org/docs/current/runtime-config-client.html#GUC-STATEMENT-TIMEOUT).
 *
 * A simple query takes no parameters, so the values go as literals, each quoted by the driver's
 * escapeLiteral or checked to be a plain number. Rows are taken as they arrive: the opening's row is
 * kept even when the statement fails or the connection dies after it, so the failure is recorded
 * against its run.
 */
function openAndRunStatement(
  client: PoolClient,
  values: readonly OpenRunValue[],
  statement: string,
  guard: number | null,
): Promise<SentStatement> {
  const literal = (value: OpenRunValue): string => sqlLiteral(client, value);
  const text = `BEGIN;
SET LOCAL synchronous_commit = off;
${startRunSelect(values.map(literal))};
COMMIT;
SELECT run_id, rows_affected, duration_ms FROM scheduler.run_opened_statement(${statementLiteral(client, statement)}, ${literal(guard)})`;
  let opened: OpenedRun | undefined;
  let done: SentStatement["done"];
  const sent = (error?: unknown): SentStatement => ({
    ...(opened ? { opened } : {}),
    ...(done ? { done } : {}),
    ...(error !== undefined ? { error } : {}),
  });
  const send = ({ queryRowsAsTheyCome }: DatabaseModule): Promise<SentStatement> =>
    queryRowsAsTheyCome(client, text, (row) => {
      if ("outcome" in row) opened = row as unknown as OpenedRun;
      else done = row as unknown as SentStatement["done"];
    }).then(() => sent(), sent);
  // One promise between the query's end and the runner (see runTask on the request path's awaits).
  return databaseModuleLoaded ? send(databaseModuleLoaded) : databaseModule().then(send, sent);
}

/**
 * A task's statement as the literal EXECUTE gets, quoted once per statement: the quoting walks the
 * statement a character at a time (7 to 10 µs for the tasks' statements, warm), and a task's statement never
 * changes while the process runs. Keyed by the statement itself.
 */
const statementLiterals = new Map<string, string>();
function statementLiteral(client: PoolClient, statement: string): string {
  let quoted = statementLiterals.get(statement);
  if (quoted === undefined) {
    quoted = client.escapeLiteral(executable(statement));
    statementLiterals.set(statement, quoted);
  }
  return quoted;
}

/** A value as an SQL literal: text quoted by the driver, numbers only when they are integers. */
function sqlLiteral(client: PoolClient, value: OpenRunValue): string {
  if (value === null) return "NULL";
  if (typeof value === "boolean") return value ? "true" : "false";
  if (typeof value === "number") {
    if (!Number.isSafeInteger(value)) throw new Error(`refusing to send ${value} as an integer literal`);
    return String(value);
  }
  if (value instanceof Date) return `${client.escapeLiteral(value.toISOString())}::timestamptz`;
  return client.escapeLiteral(value);
}

type DatabaseModule = typeof DatabaseModuleNamespace;

/** db.ts, which loads pg: already loaded by the pool a run gets its connection from. */
let databaseModuleLoaded: DatabaseModule | undefined;
async function databaseModule(): Promise<DatabaseModule> {
  databaseModuleLoaded ??= await import("../db/pool.js");
  return databaseModuleLoaded;
}

/** The task's one statement, as sql/tasks/<task>.sql has it. */
function statementOf(task: TaskDefinition): string {
  const { statement } = sqlOf(task);
  if (!statement) throw new Error(`sql/tasks/${task.name}.sql has no single statement`);
  return statement;
}

/** The blast-radius guard's limit for this run: none when forced or the task sets none. */
function guardOf(task: TaskDefinition, force: boolean): number | null {
  return task.maxRows !== undefined && !force ? task.maxRows : null;
}

/**
 * Ends a dry run's open transaction and records the run in one round trip: the ROLLBACK, then the
 * record. Every value is produced here (run id from the database, a row count), none comes from a
 * request.
 */
async function rollBackWithRecord(client: PoolClient, runId: string, rowsAffected: number): Promise<number> {
  if (!/^\d+$/.test(runId) || !Number.isSafeInteger(rowsAffected)) {
    throw new Error("refusing to record a run with a malformed id or row count");
  }
  const record = `SELECT scheduler.finish_run(${runId}, 'succeeded', ${rowsAffected}, false, NULL, NULL) AS duration_ms`;
  let results: unknown;
  try {
    results = await client.query(`ROLLBACK;\n${record}`);
  } catch (error) {
    await client.query("ROLLBACK").catch(() => undefined);
    throw error;
  }
  const list = (Array.isArray(results) ? results : [results]) as { rows?: { duration_ms?: number }[] }[];
  const recorded = list.find((result) => result.rows?.[0]?.duration_ms !== undefined);
  return recorded?.rows?.[0]?.duration_ms ?? 0;
}

async function finishRun(
  pool: Pool,
  client: PoolClient,
  release: (error?: Error | boolean) => void,
  failure: RunFailure | undefined,
  runId: string,
  end: { status: string; rowsAffected: number; more: boolean; code: string | null; message: string | null },
): Promise<number> {
  const params = [runId, end.status, end.rowsAffected, end.more, end.code, end.message];
  const sql = "SELECT scheduler.finish_run($1, $2, $3, $4, $5, $6) AS duration_ms";
  const connectionLost = failure?.code === "unavailable";
  if (!connectionLost) {
    try {
      const result = await client.query<{ duration_ms: number }>(sql, params);
      release();
      return result.rows[0]?.duration_ms ?? 0;
    } catch (error) {
      release(true);
      if (classifyDatabaseError(error) !== "unavailable") throw error;
    }
  } else {
    release(true);
  }
  // The run's own connection is gone (and its lock with it): record the end on a fresh one.
  const result = await pool.query<{ duration_ms: number }>(sql, params);
  return result.rows[0]?.duration_ms ?? 0;
}

/** Work whose end is recorded with it: by scheduler.run_opened_statement, or with a dry run's ROLLBACK. */
interface OpenWork extends TaskWork {
  /** A dry run's transaction, left open to be rolled back in the round trip of the run's record. */
  readonly openForDryRun?: true;
  /** The work recorded its own end (scheduler.run_opened_statement), in this many milliseconds. */
  readonly recordedDurationMs?: number;
}

interface WorkOptions {
  readonly dryRun: boolean;
  readonly force: boolean;
  readonly started: number;
  readonly log: Logger;
}

async function doWork(
  deps: RunnerDeps,
  client: PoolClient,
  task: TaskDefinition,
  runId: string,
  options: WorkOptions,
): Promise<OpenWork> {
  if (task.kind === "email") {
    if (!deps.loadEmailHandler) {
      throw new RunFailure("task_failed", `email tasks are not configured in this process`, 0);
    }
    const handler = await deps.loadEmailHandler(task);
    const outcome = await handler({
      task,
      runId,
      pool: deps.pool,
      client,
      dryRun: options.dryRun,
      force: options.force,
      deadline: options.started + (task.batch?.timeBudgetSeconds ?? task.timeoutSeconds) * 1000,
      log: options.log,
      jobs: deps.jobs ?? resolveJobs(tasks).jobs,
    });
    if ("stopped" in outcome) {
      // Stopped part-way: what it did (emails SendGrid accepted) is recorded with the failure.
      const { code, message, cause } = outcome.stopped;
      throw new RunFailure(
        code,
        message,
        outcome.rowsAffected,
        outcome.figures ? { ...outcome.figures } : undefined,
        {
          cause,
        },
      );
    }
    return outcome;
  }
  return task.batch
    ? runBatched(deps, client, task, runId, task.batch, options)
    : runSingleStatement(client, task, options);
}

/**
 * A single statement sent with the run's opening (openAndRunStatement): the statement and the
 * record of its success committed together, or a failure rolled both back and is recorded after.
 */
function workOfSentStatement(
  task: TaskDefinition,
  runId: string,
  force: boolean,
  sent: SentStatement,
): OpenWork {
  if (sent.error !== undefined) {
    const guard = guardOf(task, force);
    const wouldChange = guardTrippedRows(sent.error);
    if (wouldChange !== undefined && guard !== null) throw guardTripped(task, wouldChange, guard);
    throw sent.error;
  }
  if (!sent.done || sent.done.run_id !== runId) {
    throw new Error("scheduler.run_opened_statement did not run the statement of the run opened");
  }
  return { rowsAffected: Number(sent.done.rows_affected), recordedDurationMs: sent.done.duration_ms };
}

/** A dry run of a single statement: run in a transaction left open, to be rolled back with the record. */
async function runSingleStatement(
  client: PoolClient,
  task: TaskDefinition,
  options: WorkOptions,
): Promise<OpenWork> {
  const statement = statementOf(task);
  const guard = guardOf(task, options.force);
  if (!options.dryRun)
    throw new Error("a single statement that is not a dry run is sent with its run's opening");
  let rows: number;
  try {
    // BEGIN and the statement in one round trip; the statement takes no parameters.
    const results = await client.query(`BEGIN;\n${statement}`);
    const last = Array.isArray(results) ? results[results.length - 1] : results;
    rows = (last as { rowCount: number | null } | undefined)?.rowCount ?? 0;
  } catch (error) {
    await client.query("ROLLBACK").catch(() => undefined);
    throw error;
  }
  if (guard !== null && rows > guard) {
    await client.query("ROLLBACK");
    throw guardTripped(task, rows, guard);
  }
  // Left open: rolled back in the same round trip as the run's record.
  return { rowsAffected: rows, openForDryRun: true };
}

/** A task's statement as EXECUTE takes it: one statement, without the file's final semicolon. */
function executable(statement: string): string {
  return statement.replace(/;\s*$/, "");
}

/** scheduler.run_opened_statement's guard error (SQLSTATE SJ001) carries the rows the run would change. */
function guardTrippedRows(error: unknown): number | undefined {
  const { code, detail } = (error ?? {}) as { code?: unknown; detail?: unknown };
  if (code !== "SJ001" || typeof detail !== "string" || !/^\d+$/.test(detail)) return undefined;
  return Number(detail);
}

/**
 * Batches, each its own short transaction (autocommit), until a batch comes back short or the time
 * budget is spent (then `more`: the next run goes on). A batch has `batch.size` rows, or, sized by
 * time, as many as the last batch's pace fits in the target (see `BatchSizing`). A dry run and the
 * guard count first, with the task's count statement, and change nothing.
 */
async function runBatched(
  deps: RunnerDeps,
  client: PoolClient,
  task: TaskDefinition,
  runId: string,
  batch: NonNullable<TaskDefinition["batch"]>,
  options: WorkOptions,
): Promise<TaskWork> {
  const sql = sqlOf(task);
  if (!sql.batch || !sql.count)
    throw new Error(`sql/tasks/${task.name}.sql needs a batch and a count statement`);

  if (options.dryRun) {
    const counted = await client.query<{ rows: string }>(sql.count, [null]);
    return { rowsAffected: Number(counted.rows[0]?.rows ?? 0) };
  }
  if (task.maxRows !== undefined && !options.force) {
    const counted = await client.query<{ rows: string }>(sql.count, [task.maxRows + 1]);
    const due = Number(counted.rows[0]?.rows ?? 0);
    if (due > task.maxRows) throw guardTripped(task, due, task.maxRows);
  }

  const deadline = options.started + batch.timeBudgetSeconds * 1000;
  const timeoutMs = batchTimeoutMs(batch, task.timeoutSeconds * 1000);
  let size = firstBatchSize(batch);
  let total = 0;
  let batches = 0;
  let timeoutsAtMinSize = 0;
  for (;;) {
    let changed: number;
    const batchStarted = performance.now();
    try {
      changed =
        timeoutMs === undefined
          ? ((await client.query(sql.batch, [size])).rowCount ?? 0)
          : await batchWithTimeout(client, sql.batch, size, timeoutMs);
    } catch (error) {
      if (timeoutMs !== undefined && classifyDatabaseError(error) === "timeout") {
        // Cancelled by its own timeout: rolled back whole, so nothing of it is done; retry smaller.
        const batchMs = performance.now() - batchStarted;
        const atMin = size <= (batch.sizedByTime?.minSize ?? size);
        timeoutsAtMinSize = atMin ? timeoutsAtMinSize + 1 : 0;
        const progress = {
          task: task.name,
          runId,
          batches,
          rowsSoFar: total,
          rowsPerSecond: Math.round((total * 1000) / Math.max(Date.now() - options.started, 1)),
          batchRows: 0,
          batchMs: Math.round(batchMs * 10) / 10,
          cancelled: true,
        } satisfies BatchProgress;
        options.log.warn(
          `${task.name}: a batch of ${size} rows ran past ${timeoutMs} ms and was cancelled (nothing of it changed)`,
          progress,
        );
        deps.onProgress?.(progress);
        if (timeoutsAtMinSize >= TIMEOUTS_AT_MIN_SIZE) {
          throw new RunFailure(
            "timeout",
            `${timeoutsAtMinSize} batches in a row at the smallest size (${size} rows) ran past their ${timeoutMs} ms and were cancelled; nothing of them changed (after ${total} rows in ${batches} batches)`,
            total,
            { batchTimeoutMs: timeoutMs, batchRows: size },
            { cause: error },
          );
        }
        if (Date.now() >= deadline) return { rowsAffected: total, more: true };
        size = sizeAfterTimeout(batch, size, timeoutMs);
        continue;
      }
      // Committed batches stay committed; say how far the run got.
      throw new RunFailure(
        classifyDatabaseError(error),
        `${publicMessage(error)} (after ${total} rows in ${batches} batches)`,
        total,
        undefined,
        { cause: error },
      );
    }
    const batchMs = performance.now() - batchStarted;
    total += changed;
    batches += 1;
    const elapsed = Math.max(Date.now() - options.started, 1);
    const progress = {
      task: task.name,
      runId,
      batches,
      rowsSoFar: total,
      rowsPerSecond: Math.round((total * 1000) / elapsed),
      batchRows: changed,
      batchMs: Math.round(batchMs * 10) / 10,
    } satisfies BatchProgress;
    options.log.info(
      `${task.name}: batch ${batches}, ${total} rows so far (${progress.rowsPerSecond} rows/s)`,
      progress,
    );
    deps.onProgress?.(progress);
    if (changed < size) return { rowsAffected: total };
    if (Date.now() >= deadline) return { rowsAffected: total, more: true };
    timeoutsAtMinSize = 0;
    // The batch's round trip is its transaction (autocommit): its rows per millisecond decide the next.
    size = nextBatchSize(batch, size, changed, batchMs);
  }
}

/**
 * One batch under its own statement timeout, in the one round trip a batch always took: `SET LOCAL`
 * and the batch in one simple-query message, which PostgreSQL runs as one implicit transaction (the
 * setting ends with it; an error rolls back all of it and leaves no transaction open), and since
 * PostgreSQL 13 times each statement of the message separately, so the batch runs under the new
 * value (https://www.postgresql.org/docs/current/protocol-flow.html#PROTOCOL-FLOW-MULTI-STATEMENT,
 * https://www.postgresql.org/docs/current/runtime-config-client.html#GUC-STATEMENT-TIMEOUT). A
 * simple query takes no parameters: the size and the timeout are integers made here, written in.
 */
async function batchWithTimeout(
  client: PoolClient,
  statement: string,
  size: number,
  timeoutMs: number,
): Promise<number> {
  const results: unknown = await client.query(
    `SET LOCAL statement_timeout = ${integerLiteral(timeoutMs)};\n${withSize(statement, size)}`,
  );
  const list = (Array.isArray(results) ? results : [results]) as { rowCount: number | null }[];
  return list[list.length - 1]?.rowCount ?? 0;
}

/** A batch statement with its one parameter, `$1` (the batch's size), written in as an integer. */
function withSize(statement: string, size: number): string {
  const text = statement.replace(/\$1(?!\d)/g, integerLiteral(size));
  if (text === statement || /\$\d/.test(text)) {
    throw new Error("a batch statement takes exactly one parameter, $1, its size");
  }
  return text;
}

function integerLiteral(value: number): string {
  if (!Number.isSafeInteger(value) || value < 0) throw new Error(`not a row count or duration: ${value}`);
  return String(value);
}

const runErrorCodes: ReadonlySet<string> = new Set<RunErrorCode>([
  "guard_tripped",
  "task_failed",
  "unavailable",
  "timeout",
]);

function isRunErrorCode(code: string): code is RunErrorCode {
  return runErrorCodes.has(code);
}

function guardTripped(task: TaskDefinition, rows: number, limit: number): RunFailure {
  return new RunFailure(
    "guard_tripped",
    `${task.name} would change ${rows} rows, more than its limit of ${limit}; nothing was changed (force the run to override)`,
    0,
    { wouldChange: rows, maxRows: limit },
  );
}
