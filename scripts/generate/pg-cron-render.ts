/**
 * Renders the pg_cron setup scripts from the task catalog and the tasks' SQL: one `cron.schedule`
 * per SQL task, under the task's name, so a database that runs its tasks with pg_cron keeps no
 * second copy of them; and a job that purges pg_cron's run history. Pure: the caller reads the
 * catalog and the files.
 *
 * A job's command is one call to a routine of sql/routines/ (scheduler.run_pg_cron_*), which runs the
 * task through the function's own SQL contract (`scheduler.start_run`/`finish_run`: pause, one run
 * per tick, lock, a row in scheduler.job_runs with trigger 'pg_cron'), with the task's SQL and
 * catalog settings as arguments (pg_cron 1.4 sends the whole command as one simple query on a fresh
 * connection):
 * - a single-statement task: `SET statement_timeout ...; SELECT scheduler.run_pg_cron_statement(...)`;
 * - a batched task: `CALL scheduler.run_pg_cron_batches(...)` alone, so that it may COMMIT per batch.
 * Time zones: pg_cron reads schedules in UTC; a task in another zone gets an hourly entry at its
 * minute, and its routine checks each tick against the task's schedule in its zone.
 */
import type { TaskRunner } from "../../functions/core/catalog.js";
import type { Job } from "../../functions/core/schedule/jobs.js";
import type { CronFields } from "../../functions/core/schedule/cron-grammar.js";
import { parseCron } from "../../functions/core/schedule/cron-grammar.js";
import type { TaskSqlFile } from "./sql-files.js";

/** First line of every generated job command: how a later setup run recognises the jobs it owns. */
export const JOB_MARKER = "-- scheduled-jobs task:";

/** The advisory lock class of scheduler.start_run (sql/routines/scheduler.start_run.sql). */
export const TASK_LOCK_CLASS = 7262005;

/**
 * Which tasks a setup script schedules:
 * - `all-sql`: every SQL task, whatever its runner (a database where pg_cron runs every SQL task);
 * - `pg_cron-runner`: only the tasks whose runner is "pg_cron" (the hybrid: Cloud Scheduler runs the rest).
 */
export type PgCronScope = "all-sql" | "pg_cron-runner";

export interface PgCronSetupOptions {
  readonly scope: PgCronScope;
  /** The generated file's path, named in its header. */
  readonly fileName: string;
  /** The command that regenerates it, named in its header. */
  readonly generateCommand: string;
  /**
   * The stack the jobs are (`dev` and `Pulumi.dev.yaml`), recorded in scheduler.pg_cron_setup as
   * the setup loads; absent for jobs not read from a stack's config file (a test's).
   */
  readonly stack?: { readonly name: string; readonly file: string };
}

/** The tasks a setup script of that scope schedules. Throws on a catalog pg_cron cannot run. */
export function pgCronTasks(tasks: readonly Job[], scope: PgCronScope): Job[] {
  for (const task of tasks) {
    if (task.kind !== "sql" && task.runner === ("pg_cron" satisfies TaskRunner)) {
      throw new Error(
        `${task.name}: runner "pg_cron" is only for SQL tasks (pg_cron runs SQL in the database; a ${task.kind} task needs the function, so Cloud Scheduler)`,
      );
    }
  }
  if (tasks.some((task) => task.name === PURGE_JOB_NAME)) {
    throw new Error(`${PURGE_JOB_NAME}: the name of the setup's own purge job; name the task otherwise`);
  }
  return tasks.filter((task) => task.kind === "sql" && (scope === "all-sql" || task.runner === "pg_cron"));
}

export function renderPgCronSetup(
  tasks: readonly Job[],
  sqlFiles: Readonly<Record<string, TaskSqlFile>>,
  options: PgCronSetupOptions,
): string {
  const scheduled = pgCronTasks(tasks, options.scope);
  const out: string[] = [];
  const source = options.stack
    ? `the stack ${options.stack.name}: functions/core/catalog.ts with ${options.stack.file},`
    : `functions/core/catalog.ts`;
  out.push(
    `-- Generated from ${source} and sql/tasks/*.sql`,
    `-- by \`${options.generateCommand}\`.`,
    `-- Do not edit: edit the catalog, the stack's config or the task's SQL and regenerate.`,
    `--`,
    options.scope === "all-sql"
      ? `-- Schedules every SQL task of the stack in pg_cron, under the task's name and the stack's schedule.`
      : `-- Schedules in pg_cron the SQL tasks whose runner is "pg_cron" (the hybrid: Cloud Scheduler runs the others).`,
    `-- Records the stack and those schedules in scheduler.pg_cron_setup: /health, the dashboard and`,
    `-- the CLI warn when the stack they read disagrees with them.`,
    `-- Idempotent: loading it again updates the jobs (pg_cron 1.4+ updates a job scheduled under an`,
    `-- existing name), pauses and resumes them as the stack says, and unschedules the jobs it`,
    `-- created earlier for tasks it no longer schedules (their command starts with "${JOB_MARKER}").`,
    `-- Load it as the role that owns the app's tables, into the database named by cron.database_name,`,
    `-- after \`npm run migrate\`:  psql -v ON_ERROR_STOP=1 -f ${options.fileName}`,
    `-- pg_cron reads schedules in cron.timezone (GMT; the setting exists from pg_cron 1.5): these are in`,
    `-- UTC, and loading fails when cron.timezone is another zone. A task in another zone runs hourly at`,
    `-- its minute and its job checks the tick against the task's schedule in its zone (docs/pg-cron.md).`,
    ``,
    `BEGIN;`,
    ``,
    `CREATE EXTENSION IF NOT EXISTS pg_cron;`,
    ``,
  );

  out.push(renderTimeZoneCheck(), "", renderSetupRecord(scheduled, options), "");

  for (const task of scheduled) {
    const sql = sqlFiles[task.name];
    if (!sql) throw new Error(`${task.name}: no SQL (sql/tasks/${task.name}.sql)`);
    out.push(
      `-- ${task.name}: ${task.description}`,
      // The command starts right after the quote, with the marker that later loads look for.
      `SELECT cron.schedule(${literal(task.name)}, ${literal(pgCronSchedule(task))}, $pg_cron_job$${jobCommand(task, sql)}`,
      `$pg_cron_job$);`,
      ``,
    );
  }

  out.push(
    `-- ${PURGE_JOB_NAME}: pg_cron never deletes its run history (cron.job_run_details); this job keeps`,
    `-- as much of it as of scheduler.job_runs: scheduler.run_retention() (scheduler.run_retention_days, 30 by default).`,
    `SELECT cron.schedule(${literal(PURGE_JOB_NAME)}, ${literal(PURGE_JOB_SCHEDULE)}, $pg_cron_job$${purgeJobCommand()}`,
    `$pg_cron_job$);`,
    ``,
  );

  out.push(
    `-- Paused tasks stay scheduled but inactive; a task no longer paused is active again. A loop, so`,
    `-- that cron.alter_job (which a role other than a superuser must be granted) is only called to change one.`,
    scheduled.length > 0
      ? [
          `DO $pg_cron_check$`,
          `DECLARE`,
          `  v_job record;`,
          `BEGIN`,
          `  FOR v_job IN`,
          `    SELECT j.jobid, NOT t.paused AS active`,
          `    FROM cron.job j`,
          `    JOIN (VALUES`,
          scheduled.map((task) => `      (${literal(task.name)}, ${task.paused})`).join(",\n"),
          `    ) AS t (task, paused) ON j.jobname = t.task`,
          `    WHERE j.username = current_user AND j.active = t.paused`,
          `  LOOP`,
          `    PERFORM cron.alter_job(v_job.jobid, active := v_job.active);`,
          `  END LOOP;`,
          `END`,
          `$pg_cron_check$;`,
        ].join("\n")
      : `-- (no task is scheduled here)`,
    ``,
    `-- Jobs this script created for tasks it no longer schedules.`,
    `SELECT cron.unschedule(j.jobid)`,
    `FROM cron.job j`,
    `WHERE j.username = current_user`,
    `  AND left(j.command, ${JOB_MARKER.length}) = ${literal(JOB_MARKER)}`,
    `  AND j.jobname <> ALL (${textArray([...scheduled.map((task) => task.name), PURGE_JOB_NAME])});`,
    ``,
    `COMMIT;`,
    ``,
  );
  return out.join("\n");
}

/**
 * The command pg_cron runs for a task; starts with {@link JOB_MARKER}. One call to the database
 * routine of sql/routines/ (scheduler.run_pg_cron_statement or _batches) that runs a task through
 * `scheduler.start_run` and `scheduler.finish_run`, with the task's SQL as text and its catalog settings as arguments.
 */
export function jobCommand(task: Job, sql: TaskSqlFile): string {
  const zone = task.timeZone;
  const common = [
    `p_max_rows => ${task.maxRows ?? "NULL"}`,
    `p_timeout_ms => ${task.timeoutSeconds * 1000}`,
    `p_time_zone => ${literal(zone)}`,
  ];
  const tail = localScheduleArguments(task);
  if (task.batch) {
    if (!sql.batch || !sql.count) {
      throw new Error(
        `${task.name}: a batched task needs a "-- name: batch" statement with its "-- due:" lines`,
      );
    }
    const sizing = task.batch.sizedByTime;
    // Alone in its command: a CALL may COMMIT between batches only as its own top-level statement.
    return [
      `${JOB_MARKER} ${task.name}`,
      `CALL scheduler.run_pg_cron_batches(`,
      [
        `p_task => ${literal(task.name)}`,
        `p_batch => ${quoted("pg_cron_sql", sql.batch)}`,
        `p_count => ${quoted("pg_cron_count", sql.count)}`,
        ...common,
        `p_size => ${task.batch.size}`,
        `p_time_budget_seconds => ${task.batch.timeBudgetSeconds}`,
        ...(sizing
          ? [
              `p_target_ms => ${sizing.targetMs}`,
              `p_min_size => ${sizing.minSize}`,
              `p_max_size => ${sizing.maxSize}`,
            ]
          : []),
        ...tail,
      ]
        .map((argument) => `  ${argument}`)
        .join(",\n"),
      `);`,
    ].join("\n");
  }

  if (!sql.statement) throw new Error(`${task.name}: no single statement in sql/tasks/${task.name}.sql`);
  // The SET arms the task's timeout for the SELECT: PostgreSQL arms it as each top-level statement starts.
  return [
    `${JOB_MARKER} ${task.name}`,
    `SET statement_timeout = '${task.timeoutSeconds}s';`,
    `SELECT scheduler.run_pg_cron_statement(`,
    [
      `p_task => ${literal(task.name)}`,
      `p_statement => ${quoted("pg_cron_sql", sql.statement)}`,
      ...common,
      ...tail,
    ]
      .map((argument) => `  ${argument}`)
      .join(",\n"),
    `);`,
  ].join("\n");
}

/** The job that purges pg_cron's own run history (pg_cron never does). */
export const PURGE_JOB_NAME = "purge-cron-run-details";
/** Daily, at a quiet hour: before the catalog's 04:00-05:00 tasks finish. */
export const PURGE_JOB_SCHEDULE = "45 4 * * *";

/**
 * Deletes cron.job_run_details rows older than the retention of scheduler.job_runs
 * (`scheduler.run_retention()`, the setting scheduler.run_retention_days). pg_cron's row security
 * lets each role see and delete only its own jobs' rows, so it purges the runs of the role that
 * loads the setup.
 */
export function purgeJobCommand(): string {
  return [
    `${JOB_MARKER} ${PURGE_JOB_NAME}`,
    `DELETE FROM cron.job_run_details WHERE start_time < now() - scheduler.run_retention();`,
  ].join("\n");
}

/**
 * A zone pg_cron's UTC schedules already read right: one that Intl resolves to UTC itself
 * (UTC, GMT, Etc/UTC...). Every other zone, even one at +00:00 today, is checked at run time.
 */
export function isUtc(zone: string): boolean {
  return new Intl.DateTimeFormat("en", { timeZone: zone }).resolvedOptions().timeZone === "UTC";
}

/**
 * The schedule pg_cron runs the task's job on (pg_cron reads it in UTC). A UTC task: its own.
 * Another zone: every hour at the UTC minutes that can be the task's local minutes, and the
 * routine checks each tick against the task's schedule in its zone (`scheduler.cron_matches`): a
 * zone's offset moves the hour, which DST changes, but a whole-hour offset leaves the minute alone.
 * A zone with a half- or quarter-hour offset (Asia/Kolkata, Australia/Adelaide) shifts the minutes
 * by that remainder, every remainder the zone has in {@link OFFSET_SAMPLE_YEARS}. A schedule with
 * one hour that a spring change skips (02:30 in Europe/Berlin) also runs at the UTC minute of that
 * change: the skipped time fires at the first instant after the gap, as croner (so /health) has it.
 */
export function pgCronSchedule(task: Job): string {
  const zone = task.timeZone;
  if (isUtc(zone)) return task.schedule;
  const fields = cronFieldsOf(task);
  const { offsets, changes } = zoneOffsets(zone);
  const remainders = new Set(offsets.map((offset) => ((offset % 60) + 60) % 60));
  const minutes = new Set<number>();
  for (const minute of fields.minutes) {
    for (const remainder of remainders) minutes.add((((minute - remainder) % 60) + 60) % 60);
  }
  if (fields.hours.size === 1) {
    const [hour] = fields.hours;
    for (const change of changes) {
      if (change.skippedHours.has(hour!)) minutes.add(new Date(change.at).getUTCMinutes());
    }
  }
  const list = [...minutes].sort((a, b) => a - b);
  return `${list.length === 60 ? "*" : list.join(",")} * * * *`;
}

/** A schedule's fields as the routine takes them: each field's values, or null for any value. */
export interface LocalSchedule {
  readonly minutes: number[] | null;
  readonly hours: number[] | null;
  readonly daysOfMonth: number[] | null;
  readonly months: number[] | null;
  readonly daysOfWeek: number[] | null;
}

/** The task's schedule for its routine to check ticks against, or undefined for a UTC task (unchecked). */
export function localSchedule(task: Job): LocalSchedule | undefined {
  if (isUtc(task.timeZone)) return undefined;
  const fields = cronFieldsOf(task);
  const set = (values: ReadonlySet<number>, size: number): number[] | null =>
    values.size >= size ? null : [...values].sort((a, b) => a - b);
  return {
    minutes: set(fields.minutes, 60),
    hours: set(fields.hours, 24),
    daysOfMonth: fields.daysOfMonthRestricted ? set(fields.daysOfMonth, Infinity) : null,
    months: set(fields.months, 12),
    daysOfWeek: fields.daysOfWeekRestricted ? set(fields.daysOfWeek, Infinity) : null,
  };
}

/** The arguments that give the routine the task's local schedule, when pg_cron's entry is wider. */
function localScheduleArguments(task: Job): string[] {
  const local = localSchedule(task);
  if (!local) return [];
  const array = (values: number[] | null): string => (values ? `'{${values.join(",")}}'` : "NULL");
  return [
    `p_minutes => ${array(local.minutes)}`,
    `p_hours => ${array(local.hours)}`,
    `p_days_of_month => ${array(local.daysOfMonth)}`,
    `p_months => ${array(local.months)}`,
    `p_days_of_week => ${array(local.daysOfWeek)}`,
  ];
}

function cronFieldsOf(task: Job): CronFields {
  const parsed = parseCron(task.schedule);
  if ("problem" in parsed) throw new Error(`${task.name}: schedule "${task.schedule}" ${parsed.problem}`);
  return parsed.fields;
}

/** The years whose UTC offsets a zone's minute remainders are read from (fixed: the output must not depend on today). */
export const OFFSET_SAMPLE_YEARS = { from: 2020, to: 2040 } as const;

interface ZoneOffsets {
  /** Every UTC offset the zone has, in minutes. */
  readonly offsets: number[];
  /** Its spring changes: the instant (ms) and the local hours of the wall-clock times skipped. */
  readonly changes: { readonly at: number; readonly skippedHours: ReadonlySet<number> }[];
}

const offsetsByZone = new Map<string, ZoneOffsets>();

/** The zone's offsets and spring changes over {@link OFFSET_SAMPLE_YEARS}, sampled twice a day. */
function zoneOffsets(zone: string): ZoneOffsets {
  const cached = offsetsByZone.get(zone);
  if (cached) return cached;
  const format = new Intl.DateTimeFormat("en", { timeZone: zone, timeZoneName: "longOffset" });
  const offsetAt = (at: number): number => {
    const name = format.formatToParts(at).find((part) => part.type === "timeZoneName")?.value ?? "GMT";
    const match = /^GMT(?:([+-])(\d{2}):(\d{2}))?$/.exec(name);
    if (!match) throw new Error(`time zone ${zone}: unexpected offset "${name}"`);
    const sign = match[1] === "-" ? -1 : 1;
    return sign * (Number(match[2] ?? 0) * 60 + Number(match[3] ?? 0));
  };
  const found = new Set<number>();
  const changes: ZoneOffsets["changes"][number][] = [];
  const step = 12 * 3600_000;
  const end = Date.UTC(OFFSET_SAMPLE_YEARS.to, 0, 1);
  let previous = offsetAt(Date.UTC(OFFSET_SAMPLE_YEARS.from, 0, 1));
  found.add(previous);
  for (let at = Date.UTC(OFFSET_SAMPLE_YEARS.from, 0, 1) + step; at < end; at += step) {
    const offset = offsetAt(at);
    found.add(offset);
    if (offset > previous) {
      // The change's minute: the first at which the new offset holds.
      let low = at - step;
      let high = at;
      while (high - low > 60_000) {
        const middle = low + Math.floor((high - low) / 120_000) * 60_000;
        if (offsetAt(middle) === offset) high = middle;
        else low = middle;
      }
      const skippedHours = new Set<number>();
      for (let wall = high + previous * 60_000; wall < high + offset * 60_000; wall += 60_000) {
        skippedHours.add(new Date(wall).getUTCHours());
      }
      changes.push({ at: high, skippedHours });
    }
    previous = offset;
  }
  const result = { offsets: [...found].sort((a, b) => a - b), changes };
  offsetsByZone.set(zone, result);
  return result;
}

/**
 * pg_cron reads every schedule in one zone (cron.timezone from 1.5, GMT before), and the generated
 * schedules are UTC (a task's own zone is applied by its job): refuse to load under another zone.
 * Zones compare by their UTC offsets over the coming year, so UTC, GMT and Etc/UTC are the same.
 */
function renderTimeZoneCheck(): string {
  return [
    `DO $pg_cron_check$`,
    `DECLARE`,
    `  v_cron_zone text := coalesce(nullif(current_setting('cron.timezone', true), ''), 'GMT');`,
    `BEGIN`,
    `  IF EXISTS (`,
    `    SELECT 1 FROM generate_series(now(), now() + interval '1 year', interval '1 day') AS s (at)`,
    `    WHERE (s.at AT TIME ZONE 'UTC') <> (s.at AT TIME ZONE v_cron_zone)`,
    `  ) THEN`,
    `    RAISE EXCEPTION 'pg_cron reads every schedule in cron.timezone (%), and these schedules are in UTC', v_cron_zone`,
    `      USING HINT = 'Leave cron.timezone at GMT (its default): each task''s own time zone is applied by its job.';`,
    `  END IF;`,
    `END`,
    `$pg_cron_check$;`,
  ].join("\n");
}

/**
 * The setup's record in scheduler.pg_cron_setup (one row: this load replaces the last one's), in
 * the same transaction as its jobs. Refuses to load before the migration that makes the table.
 */
function renderSetupRecord(scheduled: readonly Job[], options: PgCronSetupOptions): string {
  const jobs = scheduled.map((job) => ({
    task: job.name,
    schedule: job.schedule,
    timeZone: job.timeZone,
    paused: job.paused,
  }));
  const text = (value: string | undefined): string => (value === undefined ? "NULL" : literal(value));
  return [
    `-- Which stack this setup was rendered for, and each job's schedule in the stack's terms.`,
    `DO $pg_cron_check$`,
    `BEGIN`,
    `  IF to_regclass('scheduler.pg_cron_setup') IS NULL THEN`,
    `    RAISE EXCEPTION 'scheduler.pg_cron_setup does not exist: this database is not migrated'`,
    `      USING HINT = 'Run npm run migrate first, then load this setup (docs/pg-cron.md).';`,
    `  END IF;`,
    `END`,
    `$pg_cron_check$;`,
    `INSERT INTO scheduler.pg_cron_setup (id, stack, stack_file, setup_file, scope, jobs, loaded_at, loaded_by)`,
    `VALUES (true, ${text(options.stack?.name)}, ${text(options.stack?.file)}, ${literal(options.fileName)}, ${literal(options.scope)},`,
    `  ${literal(`[\n${jobs.map((job) => `    ${JSON.stringify(job)}`).join(",\n")}\n  ]`)}::jsonb, now(), current_user)`,
    `ON CONFLICT (id) DO UPDATE SET stack = excluded.stack, stack_file = excluded.stack_file,`,
    `  setup_file = excluded.setup_file, scope = excluded.scope, jobs = excluded.jobs,`,
    `  loaded_at = excluded.loaded_at, loaded_by = excluded.loaded_by;`,
  ].join("\n");
}

const dollarTags = ["$pg_cron_job$", "$pg_cron_task$", "$pg_cron_sql$", "$pg_cron_count$", "$pg_cron_check$"];

/** `sql` dollar-quoted with `tag`, with the statement's final semicolon dropped (EXECUTE takes one statement). */
function quoted(tag: string, sql: string): string {
  for (const used of dollarTags) {
    if (sql.includes(used))
      throw new Error(`task SQL must not contain ${used}: the pg_cron setup quotes with it`);
  }
  return `$${tag}$\n${sql.replace(/;\s*$/, "")}\n$${tag}$`;
}

function literal(value: string): string {
  return `'${value.replace(/'/g, "''")}'`;
}

function textArray(values: readonly string[]): string {
  return values.length === 0 ? "ARRAY[]::text[]" : `ARRAY[${values.map(literal).join(", ")}]`;
}
