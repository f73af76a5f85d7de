/**
 * Recent runs from scheduler.job_runs: what `GET /runs` answers, the dashboard charts and the CLI's
 * `history` prints (the design document's `cron.job_run_details` queries, over our history).
 */
import type { Pool } from "../db/pool.js";

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

export interface RunQuery {
  readonly task?: string | undefined;
  readonly failedOnly?: boolean | undefined;
  /** 1 to MAX_RUNS; default 50. */
  readonly limit?: number | undefined;
}

export const MAX_RUNS = 1000;

/** Parses `?task=&failed=true&limit=` of GET /runs; returns a message for what is malformed. */
export function parseRunQuery(
  params: URLSearchParams,
  knownTask: (name: string) => boolean,
): RunQuery | string {
  const unknown = [...params.keys()].filter((key) => !["task", "failed", "limit"].includes(key));
  if (unknown.length > 0) return `unknown query parameter(s): ${unknown.join(", ")}`;
  const task = params.get("task") ?? undefined;
  if (task !== undefined && !knownTask(task)) return `unknown task "${task}"`;
  const failed = params.get("failed");
  if (failed !== null && failed !== "true" && failed !== "false") return `"failed" must be true or false`;
  const limitText = params.get("limit");
  let limit: number | undefined;
  if (limitText !== null) {
    limit = Number(limitText);
    if (!/^\d+$/.test(limitText) || limit < 1 || limit > MAX_RUNS)
      return `"limit" must be an integer from 1 to ${MAX_RUNS}`;
  }
  return { task, failedOnly: failed === "true", limit };
}

/** The most recent runs first, dry runs included (they are marked). */
export async function recentRuns(pool: Pool, query: RunQuery = {}): Promise<RunRecord[]> {
  const limit = Math.min(Math.max(Math.trunc(query.limit ?? 50), 1), MAX_RUNS);
  const result = await pool.query<{
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
  }>(
    `SELECT id, task, trigger, job_name, schedule_time, requested_schedule_time, attempt, status, dry_run, forced, rows_affected,
            more, error_code, message, started_at, finished_at, duration_ms
     FROM scheduler.job_runs
     WHERE ($1::text IS NULL OR task = $1) AND (NOT $2 OR status = 'failed')
     ORDER BY started_at DESC, id DESC
     LIMIT $3`,
    [query.task ?? null, query.failedOnly === true, limit],
  );
  return result.rows.map((row) => ({
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
  }));
}
