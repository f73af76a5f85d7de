/**
 * What each task would do if it fired now, through the runner's own dry runs without their run
 * record: a batched task's count statement and an email task's count of what is due (both read
 * only, on a connection whose transactions the database keeps read-only), and a single statement
 * run in a transaction that is rolled back (functions/core/run/single-statement.ts
 * `runDryStatement`), each under the task's statement timeout, zone and tick, as
 * scheduler.start_run sets them. The guard's verdict is the runner's; a backlog's batches and
 * time follow the batch sizing rule (functions/core/run/batch-sizing.ts) at the bench's pace.
 *
 * A rolled-back statement changes no row, but PostgreSQL counts the rows it tried in
 * pg_stat_user_tables (n_tup_upd and the others count attempts, committed or not) and leaves their
 * dead versions for vacuum. `--read-only` skips those statements: then `plan` writes nothing at all.
 */
import type { BatchPolicy } from "../../functions/core/catalog.js";
import type { HeldClient, Pool } from "../../functions/core/db/pool.js";
import { checkout } from "../../functions/core/db/pool.js";
import { classifyDatabaseError, publicMessage } from "../../functions/core/errors.js";
import { silentLogger } from "../../functions/core/log.js";
import { firstBatchSize, nextBatchSize } from "../../functions/core/run/batch-sizing.js";
import { RunFailure } from "../../functions/core/run/run-result.js";
import type { Job } from "../../functions/core/schedule/jobs.js";
import { measured } from "./prices.js";

export interface Backlog {
  readonly batches: number;
  readonly seconds: number;
  /** Runs it takes: each stops starting batches at the task's time budget. */
  readonly runs: number;
  readonly pace: string;
}

export interface TaskImpact {
  readonly task: string;
  readonly kind: Job["kind"];
  /** How it was asked: a count (read only), a rolled-back dry run, or not at all. */
  readonly how:
    "count" | "dry run, rolled back" | "not run (--read-only)" | "not run (its target does the work)";
  /** Rows it would change (an email task: messages it would send), or null when not asked. */
  readonly rows: number | null;
  readonly guard?: { readonly limit: number; readonly trips: boolean };
  readonly backlog?: Backlog;
  readonly problem?: string;
}

const MAX_BATCHES = 1_000_000;

/** The batches and time `rows` take at the sizing rule, one batch's time from `msOf`. */
export function backlogOf(
  batch: BatchPolicy,
  rows: number,
  msOf: (rows: number) => number,
  pace: string,
): Backlog {
  let remaining = rows;
  let batches = 0;
  let ms = 0;
  let runs = 0;
  while (remaining > 0 && batches < MAX_BATCHES) {
    runs += 1;
    let size = firstBatchSize(batch);
    let runMs = 0;
    for (;;) {
      const taken = Math.min(size, remaining);
      const batchMs = msOf(taken);
      batches += 1;
      runMs += batchMs;
      remaining -= taken;
      // The runner's own stops: a short batch ends the work, the time budget ends the run.
      if (taken < size || remaining === 0 || runMs >= batch.timeBudgetSeconds * 1000) break;
      size = nextBatchSize(batch, size, taken, batchMs);
    }
    ms += runMs;
  }
  return { batches, seconds: Math.round(ms / 100) / 10, runs, pace };
}

function backlogFor(job: Job, rows: number): Backlog | undefined {
  if (!job.batch) return undefined;
  if (job.kind === "email")
    return backlogOf(
      job.batch,
      rows,
      () => measured.emailBatchMs,
      `the bench's ${Math.round(measured.emailBatchMs)} ms a SendGrid call`,
    );
  const pace = measured.batchedRowsPerMs;
  return backlogOf(
    job.batch,
    rows,
    (taken) => taken / pace,
    `the bench's ${Math.round(pace * 1000).toLocaleString("en-US")} rows/s`,
  );
}

/** The settings scheduler.start_run gives a run: its statement timeout, zone and tick (now). */
async function runSettings(held: HeldClient, job: Job, now: Date, local: boolean): Promise<void> {
  await held.client.query(
    `SELECT set_config('statement_timeout', $1, $4), set_config('TimeZone', $2, $4), set_config('scheduler.tick', $3, $4)`,
    [`${job.timeoutSeconds * 1000}ms`, job.timeZone, String(now.getTime() / 1000), local],
  );
}

function failed(job: Job, how: TaskImpact["how"], error: unknown): TaskImpact {
  const timeout = classifyDatabaseError(error) === "timeout";
  return {
    task: job.name,
    kind: job.kind,
    how,
    rows: null,
    problem: timeout ? `ran past its statement timeout of ${job.timeoutSeconds} s` : publicMessage(error),
  };
}

/** A batched task's count, or an email task's, in a read-only transaction. */
async function counted(
  reads: HeldClient,
  pool: Pool,
  job: Job,
  now: Date,
  jobs: readonly Job[],
): Promise<TaskImpact> {
  await reads.client.query("BEGIN");
  try {
    await runSettings(reads, job, now, true);
    const rows = job.kind === "email" ? await emailDue(reads, pool, job, jobs) : await batchedDue(reads, job);
    const guard = job.maxRows !== undefined ? { limit: job.maxRows, trips: rows > job.maxRows } : undefined;
    const backlog = backlogFor(job, rows);
    return {
      task: job.name,
      kind: job.kind,
      how: "count",
      rows,
      ...(guard ? { guard } : {}),
      ...(backlog ? { backlog } : {}),
    };
  } catch (error) {
    return failed(job, "count", error);
  } finally {
    await reads.client.query("ROLLBACK").catch(() => undefined);
  }
}

async function batchedDue(reads: HeldClient, job: Job): Promise<number> {
  const { runBatches } = await import("../../functions/core/run/batches.js");
  const options = { dryRun: true, force: false, started: Date.now(), log: silentLogger };
  return (await runBatches(reads, job, job.batch!, "0", options)).rowsAffected;
}

/** An email task's dry run: what it would send, counted by its own handler (never sends). */
async function emailDue(reads: HeldClient, pool: Pool, job: Job, jobs: readonly Job[]): Promise<number> {
  const { createEmailRuntime } = await import("../../functions/email/runtime.js");
  const runtime = createEmailRuntime({
    config: {
      transport: "sendgrid",
      key: { source: "none" },
      baseUrl: undefined,
      mailFrom: "plan@example.invalid",
      opsEmail: undefined,
      secretRefreshSeconds: 300,
    },
  });
  const handler = await runtime.handlerFor(job);
  const outcome = await handler({
    task: job,
    runId: "0",
    pool,
    client: reads.client,
    dryRun: true,
    force: false,
    deadline: Date.now() + job.timeoutSeconds * 1000,
    log: silentLogger,
    jobs,
  });
  if ("stopped" in outcome) throw new Error(outcome.stopped.message);
  return outcome.rowsAffected;
}

/** A single statement's dry run, rolled back, under the runner's guard. */
async function dryRun(writes: HeldClient, job: Job, now: Date): Promise<TaskImpact> {
  const { runDryStatement } = await import("../../functions/core/run/single-statement.js");
  const how = "dry run, rolled back" as const;
  try {
    await runSettings(writes, job, now, false);
    const work = await runDryStatement(writes, job, false);
    await writes.simpleQuery("ROLLBACK");
    const guard = job.maxRows !== undefined ? { limit: job.maxRows, trips: false } : undefined;
    return { task: job.name, kind: job.kind, how, rows: work.rowsAffected, ...(guard ? { guard } : {}) };
  } catch (error) {
    if (error instanceof RunFailure && error.code === "guard_tripped") {
      const rows = Number(error.details?.wouldChange ?? 0);
      return { task: job.name, kind: job.kind, how, rows, guard: { limit: job.maxRows ?? 0, trips: true } };
    }
    return failed(job, how, error);
  }
}

export async function readImpact(
  pool: Pool,
  jobs: readonly Job[],
  now: Date,
  readOnly: boolean,
): Promise<TaskImpact[]> {
  const reads = await checkout(pool);
  let writes: HeldClient | undefined;
  try {
    await reads.client.query("SET default_transaction_read_only = on");
    const impacts: TaskImpact[] = [];
    for (const job of jobs) {
      if (job.kind === "http") {
        // Its work is a request to another service, which has no dry run to ask.
        impacts.push({
          task: job.name,
          kind: job.kind,
          how: "not run (its target does the work)",
          rows: null,
        });
      } else if (job.kind === "email" || job.batch) {
        impacts.push(await counted(reads, pool, job, now, jobs));
      } else if (readOnly) {
        impacts.push({ task: job.name, kind: job.kind, how: "not run (--read-only)", rows: null });
      } else {
        writes ??= await checkout(pool);
        impacts.push(await dryRun(writes, job, now));
      }
    }
    return impacts;
  } finally {
    // Sessions with a run's settings are ended, never handed back.
    reads.release(true);
    writes?.release(true);
  }
}
