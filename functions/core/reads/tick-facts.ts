/**
 * What the tick rules (functions/core/schedule/tick-rules.ts) judge, read from the database: each
 * task's runs from some time on, its run-time pause, and when the run history begins. The one
 * reader of scheduler.task_pauses' rows too: the pause's row, its shape in the code and in JSON.
 */
import type { Pool, PoolClient } from "../db/pool.js";
import type { RunTimePause, TickHistory, TickRun } from "../schedule/tick-rules.js";
import { SCHEDULE_TIME_SKEW_MS } from "../schedule/ticks.js";

/** Anything that runs a query: a pool, or a client already holding a connection. */
export type Queryable = Pick<Pool | PoolClient, "query">;

/** A row of scheduler.task_pauses (and of pause_task and resume_task, which return them). */
export interface PauseRow {
  readonly task: string;
  readonly reason: string;
  readonly paused_by: string;
  readonly paused_at: Date;
  readonly until: Date | null;
  readonly resumed_at: Date | null;
  readonly resumed_by: string | null;
}

/** The pause columns a run recorded `paused` is answered with, null when the pause is gone. */
export type PauseOfRunRow = {
  readonly [K in "reason" | "paused_by" | "paused_at" | "until"]: PauseRow[K] | null;
};

export function pauseOfRow(row: PauseRow): RunTimePause {
  return {
    task: row.task,
    reason: row.reason,
    pausedBy: row.paused_by,
    pausedAt: row.paused_at,
    until: row.until,
    resumedAt: row.resumed_at,
    resumedBy: row.resumed_by,
  };
}

/** A pause as every surface shows it (who, why, since, until; who ended it and when). */
export interface PauseJson {
  readonly task: string;
  readonly reason: string;
  readonly pausedBy: string;
  readonly pausedAt: string;
  readonly until: string | null;
  readonly resumedAt: string | null;
  readonly resumedBy: string | null;
}

export function pauseJson(pause: RunTimePause): PauseJson {
  return {
    task: pause.task,
    reason: pause.reason,
    pausedBy: pause.pausedBy,
    pausedAt: pause.pausedAt.toISOString(),
    until: pause.until?.toISOString() ?? null,
    resumedAt: pause.resumedAt?.toISOString() ?? null,
    resumedBy: pause.resumedBy,
  };
}

/** An instant as a pause's words print it: ISO 8601 to the second. */
const toSecond = (iso: string): string => iso.replace(/\.\d{3}Z$/, "Z");

/**
 * A run-time pause in words, the same wherever one is printed (`jobs`, `health`, pause): who,
 * since, until, why.
 */
export function pauseWords(pause: PauseJson): string {
  const until = pause.until ? `until ${toSecond(pause.until)}` : "until resumed";
  return `paused at run time by ${pause.pausedBy} since ${toSecond(pause.pausedAt)} ${until}: ${pause.reason}`;
}

/** The last run-time pause of each of the tasks that has one, in force or ended. */
export async function readPauses(
  db: Queryable,
  tasks: readonly string[],
): Promise<Map<string, RunTimePause>> {
  const { rows } = await db.query<PauseRow>(
    `SELECT task, reason, paused_by, paused_at, until, resumed_at, resumed_by
     FROM scheduler.task_pauses WHERE task = ANY($1::text[])`,
    [tasks],
  );
  return new Map(rows.map((row) => [row.task, pauseOfRow(row)]));
}

/**
 * When the run history begins (its first run of any task), or null when it is empty: before it,
 * nothing shows that the scheduler was running.
 */
export async function historyBegins(db: Queryable): Promise<Date | null> {
  const { rows } = await db.query<{ since: Date | null }>(
    "SELECT min(started_at) AS since FROM scheduler.job_runs",
  );
  return rows[0]?.since ?? null;
}

/** A task, and the earliest tick of it the caller will judge. */
export interface TickWindow {
  readonly task: string;
  readonly since: Date;
}

/**
 * Each task's history from its window's start on: the real runs that succeeded (a manual one
 * included: it may have done a tick's work) and every real run of a tick (its schedule time shows
 * the tick was tried), with the task's pause and the history's start. A run of a tick starts at or
 * after it, give or take the clock skew a delivery may have, so an index on the start finds them.
 */
export async function readTickHistories(
  db: Queryable,
  windows: readonly TickWindow[],
): Promise<Map<string, TickHistory>> {
  const tasks = windows.map((window) => window.task);
  const { rows } = await db.query<{
    task: string;
    status: TickRun["status"];
    schedule_time: Date | null;
    started_at: Date;
  }>(
    `SELECT r.task, r.status, r.schedule_time, r.started_at
     FROM unnest($1::text[], $2::timestamptz[]) AS w(task, since)
     JOIN scheduler.job_runs r ON r.task = w.task AND r.started_at >= w.since - $3 * interval '1 millisecond'
     WHERE NOT r.dry_run AND (r.status = 'succeeded' OR r.schedule_time IS NOT NULL)
     ORDER BY r.started_at, r.id`,
    [tasks, windows.map((window) => window.since), SCHEDULE_TIME_SKEW_MS],
  );
  const begins = await historyBegins(db);
  const pauses = await readPauses(db, tasks);
  const runs = new Map<string, TickRun[]>(tasks.map((task) => [task, []]));
  for (const row of rows) {
    runs
      .get(row.task)
      ?.push({ status: row.status, scheduleTime: row.schedule_time, startedAt: row.started_at });
  }
  return new Map(
    tasks.map((task) => [
      task,
      { historyBegins: begins, runs: runs.get(task) ?? [], pause: pauses.get(task) },
    ]),
  );
}

/** One task's history from `since` on. */
export async function readTickHistory(db: Queryable, task: string, since: Date): Promise<TickHistory> {
  return (await readTickHistories(db, [{ task, since }])).get(task)!;
}
