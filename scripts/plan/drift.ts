/**
 * What is in the database now against what the stack says: pg_cron's `cron.job` against the setup
 * the pg_cron generator renders for these jobs (scripts/generate/pg-cron-render.ts: jobs to add,
 * to change and to remove, and jobs it did not create, which it leaves alone), and each task's
 * run-time pause, last run and status as /health reads them (functions/core/reads/health.ts).
 * Reads only.
 */
import type { PoolClient } from "../../functions/core/db/pool.js";
import type { PauseJson } from "../../functions/core/reads/tick-facts.js";
import type { Job } from "../../functions/core/schedule/jobs.js";
import type { PgCronScope } from "../generate/pg-cron-render.js";
import {
  jobCommand,
  JOB_MARKER,
  pgCronSchedule,
  pgCronTasks,
  PURGE_JOB_NAME,
  PURGE_JOB_SCHEDULE,
  purgeJobCommand,
} from "../generate/pg-cron-render.js";
import { pgCronSetupFiles } from "../generate/pg-cron.js";
import { readTaskSqlFiles } from "../generate/sql-files.js";

interface CronJobRow {
  readonly jobname: string | null;
  readonly schedule: string;
  readonly command: string;
  readonly active: boolean;
}

export interface PgCronDrift {
  readonly installed: true;
  /** Which setup the database is compared with: the hybrid one, or the one of every SQL task. */
  readonly setupFile: string;
  readonly add: readonly string[];
  readonly change: readonly { readonly job: string; readonly fields: readonly string[] }[];
  readonly remove: readonly string[];
  /** Jobs the setup did not create (no marker): left alone by it. */
  readonly foreign: readonly { readonly job: string; readonly schedule: string }[];
  /** Tasks the database's pg_cron runs. */
  readonly runs: readonly string[];
}

interface TaskState {
  readonly task: string;
  readonly runTimePause: PauseJson | null;
  readonly lastStatus: string | null;
  readonly lastRunAt: string | null;
  readonly overdue: boolean;
}

export interface DriftReport {
  readonly pgCron: PgCronDrift | { readonly installed: false };
  readonly tasks: readonly TaskState[];
}

interface Expected {
  readonly schedule: string;
  readonly command: string;
  readonly active: boolean;
}

/** The jobs the setup of that scope creates, by name, as these jobs and the task SQL render them. */
function expectedJobs(jobs: readonly Job[], scope: PgCronScope): Map<string, Expected> {
  const sql = readTaskSqlFiles();
  const expected = new Map<string, Expected>();
  for (const job of pgCronTasks(jobs, scope)) {
    expected.set(job.name, {
      schedule: pgCronSchedule(job),
      command: jobCommand(job, sql[job.name] ?? {}),
      active: !job.paused,
    });
  }
  expected.set(PURGE_JOB_NAME, { schedule: PURGE_JOB_SCHEDULE, command: purgeJobCommand(), active: true });
  return expected;
}

async function pgCronDrift(client: PoolClient, jobs: readonly Job[]): Promise<DriftReport["pgCron"]> {
  const installed = await client.query("SELECT 1 FROM pg_extension WHERE extname = 'pg_cron'");
  if (installed.rowCount === 0) return { installed: false };
  // pg_cron's row security shows a role its own jobs: the ones a setup loaded as this role made.
  const rows = (await client.query<CronJobRow>("SELECT jobname, schedule, command, active FROM cron.job"))
    .rows;
  const ours = rows.filter((row) => row.command.startsWith(JOB_MARKER));
  const cloudSql = jobs.filter((job) => job.kind === "sql" && job.runner === "cloud").map((job) => job.name);
  // The setup of every SQL task was loaded when the database runs a task the stack gives Cloud Scheduler.
  const scope: PgCronScope = ours.some((row) => cloudSql.includes(row.jobname ?? ""))
    ? "all-sql"
    : "pg_cron-runner";
  const expected = expectedJobs(jobs, scope);
  const found = new Map(ours.map((row) => [row.jobname ?? "", row]));
  const change = [...expected].flatMap(([name, want]) => {
    const row = found.get(name);
    if (!row) return [];
    // The setup stores each command with the line break before its closing quote.
    const same = {
      schedule: row.schedule === want.schedule,
      command: row.command.trimEnd() === want.command.trimEnd(),
      active: row.active === want.active,
    };
    const fields = (["schedule", "command", "active"] as const).filter((field) => !same[field]);
    return fields.length > 0 ? [{ job: name, fields }] : [];
  });
  return {
    installed: true,
    setupFile: pgCronSetupFiles.find((file) => file.scope === scope)!.fileName,
    add: [...expected.keys()].filter((name) => !found.has(name)),
    change,
    remove: [...found.keys()].filter((name) => !expected.has(name)),
    foreign: rows
      .filter((row) => !row.command.startsWith(JOB_MARKER))
      .map((row) => ({ job: row.jobname ?? "(unnamed)", schedule: row.schedule })),
    runs: ours.filter((row) => row.active && row.jobname !== PURGE_JOB_NAME).map((row) => row.jobname ?? ""),
  };
}

export async function readDrift(client: PoolClient, jobs: readonly Job[], now: Date): Promise<DriftReport> {
  const { readHealth } = await import("../../functions/core/reads/health.js");
  const health = await readHealth(client, now, jobs);
  return {
    pgCron: await pgCronDrift(client, jobs),
    tasks: health.tasks.map((task) => ({
      task: task.task,
      runTimePause: task.pause,
      lastStatus: task.lastStatus,
      lastRunAt: task.lastRunAt,
      overdue: task.overdue,
    })),
  };
}
