/**
 * Recent runs from scheduler.job_runs: what `GET /runs` answers (by task, status, trigger and
 * time), what the dashboard charts and lists and the CLI's `history` prints (the design document's
 * `cron.job_run_details` queries, over our history); one run by its id for the dashboard's run page.
 */
import type { Queryable } from "./tick-facts.js";

export interface RunRecord {
  readonly runId: string;
  readonly task: string;
  readonly trigger: string;
  readonly jobName: string | null;
  readonly scheduleTime: string | null;
  /** A manual run's X-CloudScheduler-ScheduleTime (a force run's next tick), kept for audit. */
  readonly requestedScheduleTime: string | null;
  readonly attempt: number | null;
  readonly status: "running" | "succeeded" | "failed" | "skipped" | "paused";
  readonly dryRun: boolean;
  readonly forced: boolean;
  readonly rowsAffected: number | null;
  readonly more: boolean;
  readonly errorCode: string | null;
  readonly message: string | null;
  readonly startedAt: string;
  readonly finishedAt: string | null;
  readonly durationMs: number | null;
}

const RUN_STATUSES = ["running", "succeeded", "failed", "skipped", "paused"] as const;

interface RunQuery {
  readonly task?: string | undefined;
  readonly failedOnly?: boolean | undefined;
  /** One status (`failedOnly` is `status: "failed"`, kept for GET /runs?failed=true). */
  readonly status?: RunRecord["status"] | undefined;
  /** What started the runs: `scheduler`, `manual`, `cli`, `pg_cron`, ... as recorded. */
  readonly trigger?: string | undefined;
  /** Runs started at or after. */
  readonly since?: Date | undefined;
  /** Runs started before. */
  readonly until?: Date | undefined;
  /** 1 to MAX_RUNS; default 50. */
  readonly limit?: number | undefined;
}

const MAX_RUNS = 1000;

const RUN_QUERY_KEYS = ["task", "failed", "status", "trigger", "since", "until", "limit"];

/**
 * Parses `?task=&failed=true&status=&trigger=&since=&until=&limit=` of GET /runs; returns a message
 * for what is malformed. Times are RFC 3339 instants.
 */
export function parseRunQuery(
  params: URLSearchParams,
  knownTask: (name: string) => boolean,
): RunQuery | string {
  const unknown = [...params.keys()].filter((key) => !RUN_QUERY_KEYS.includes(key));
  if (unknown.length > 0) return `unknown query parameter(s): ${unknown.join(", ")}`;
  const repeated = RUN_QUERY_KEYS.filter((key) => params.getAll(key).length > 1);
  if (repeated.length > 0) return `repeated query parameter(s): ${repeated.join(", ")}`;
  const task = params.get("task") ?? undefined;
  if (task !== undefined && !knownTask(task)) return `unknown task "${task}"`;
  const failed = params.get("failed");
  if (failed !== null && failed !== "true" && failed !== "false") return `"failed" must be true or false`;
  const status = params.get("status") ?? undefined;
  if (status !== undefined && !(RUN_STATUSES as readonly string[]).includes(status))
    return `"status" must be one of ${RUN_STATUSES.join(", ")}`;
  const trigger = params.get("trigger") ?? undefined;
  if (trigger !== undefined && !/^[a-z_]{1,20}$/.test(trigger)) return `"trigger" must be a trigger's name`;
  const since = instantOf(params.get("since"));
  const until = instantOf(params.get("until"));
  if (since === null || until === null)
    return `"${since === null ? "since" : "until"}" must be an RFC 3339 time, e.g. 2026-01-31T04:15:00Z`;
  const limitText = params.get("limit");
  let limit: number | undefined;
  if (limitText !== null) {
    limit = Number(limitText);
    if (!/^\d+$/.test(limitText) || limit < 1 || limit > MAX_RUNS)
      return `"limit" must be an integer from 1 to ${MAX_RUNS}`;
  }
  const chosen = status as RunRecord["status"] | undefined;
  return { task, failedOnly: failed === "true", status: chosen, trigger, since, until, limit };
}

/** An RFC 3339 instant: undefined when absent, null when malformed. */
function instantOf(text: string | null): Date | undefined | null {
  if (text === null) return undefined;
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$/i.test(text)) return null;
  const time = new Date(text);
  return Number.isNaN(time.getTime()) ? null : time;
}

interface RunRow {
  id: string;
  task: string;
  trigger: string;
  job_name: string | null;
  schedule_time: Date | null;
  requested_schedule_time: Date | null;
  attempt: number | null;
  status: RunRecord["status"];
  dry_run: boolean;
  forced: boolean;
  rows_affected: string | null;
  more: boolean;
  error_code: string | null;
  message: string | null;
  started_at: Date;
  finished_at: Date | null;
  duration_ms: number | null;
}

const RUN_COLUMNS = `id, task, trigger, job_name, schedule_time, requested_schedule_time, attempt, status,
            dry_run, forced, rows_affected, more, error_code, message, started_at, finished_at, duration_ms`;

/** The most recent runs first, dry runs included (they are marked). */
export async function recentRuns(pool: Queryable, query: RunQuery = {}): Promise<RunRecord[]> {
  const limit = Math.min(Math.max(Math.trunc(query.limit ?? 50), 1), MAX_RUNS);
  const status = query.status ?? (query.failedOnly === true ? "failed" : null);
  const result = await pool.query<RunRow>(
    `SELECT ${RUN_COLUMNS}
     FROM scheduler.job_runs
     WHERE ($1::text IS NULL OR task = $1) AND ($2::text IS NULL OR status = $2)
       AND ($3::text IS NULL OR trigger = $3)
       AND ($4::timestamptz IS NULL OR started_at >= $4) AND ($5::timestamptz IS NULL OR started_at < $5)
     ORDER BY started_at DESC, id DESC
     LIMIT $6`,
    [query.task ?? null, status, query.trigger ?? null, query.since ?? null, query.until ?? null, limit],
  );
  return result.rows.map(runRecordOf);
}

/** One run by its id; undefined when there is none (never was, or purged). */
export async function runById(pool: Queryable, runId: string): Promise<RunRecord | undefined> {
  if (!/^\d{1,18}$/.test(runId)) return undefined;
  const result = await pool.query<RunRow>(`SELECT ${RUN_COLUMNS} FROM scheduler.job_runs WHERE id = $1`, [
    runId,
  ]);
  const row = result.rows[0];
  return row ? runRecordOf(row) : undefined;
}

function runRecordOf(row: RunRow): RunRecord {
  return {
    runId: String(row.id),
    task: row.task,
    trigger: row.trigger,
    jobName: row.job_name,
    scheduleTime: row.schedule_time?.toISOString() ?? null,
    requestedScheduleTime: row.requested_schedule_time?.toISOString() ?? null,
    attempt: row.attempt,
    status: row.status,
    dryRun: row.dry_run,
    forced: row.forced,
    rowsAffected: row.rows_affected === null ? null : Number(row.rows_affected),
    more: row.more,
    errorCode: row.error_code,
    message: row.message,
    startedAt: row.started_at.toISOString(),
    finishedAt: row.finished_at?.toISOString() ?? null,
    durationMs: row.duration_ms,
  };
}

/** Every run of one tick of a task (its retries, a backfill's or a replay's), oldest first. */
export async function runsOfTick(pool: Queryable, task: string, scheduleTime: Date): Promise<RunRecord[]> {
  const result = await pool.query<RunRow>(
    `SELECT ${RUN_COLUMNS} FROM scheduler.job_runs WHERE task = $1 AND schedule_time = $2
     ORDER BY started_at, id LIMIT ${MAX_RUNS}`,
    [task, scheduleTime],
  );
  return result.rows.map(runRecordOf);
}
