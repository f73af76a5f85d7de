/**
 * Renders the pg_cron setup scripts from the task catalog and the tasks' SQL: one `cron.schedule`
 * per SQL task, under the task's name and schedule, so a database that runs its tasks with pg_cron
 * keeps no second copy of them. Pure: the caller reads the catalog and the files.
 *
 * How a job runs (pg_cron 1.4 sends the whole command as one simple query on a fresh connection):
 * - A single-statement task is `SET statement_timeout ...; SET TimeZone ...; DO ...`. The SETs make
 *   the catalog's timeout a real statement timeout for the DO (PostgreSQL arms it per top-level
 *   statement). The DO takes the task's lock, runs the statement and rolls it back when it changed
 *   more rows than the task's `maxRows` (the blast-radius guard), failing the pg_cron run.
 * - A batched task is a DO alone in its command: only then may it COMMIT between batches
 *   (several statements in one query string form an implicit transaction block, where COMMIT inside
 *   a DO is "invalid transaction termination"). It therefore cannot SET its own statement_timeout:
 *   PostgreSQL arms that once, when the DO starts, from the session's setting. Each batch gets the
 *   task's timeout as its lock_timeout (read whenever a lock wait begins), each batch is bounded by
 *   the batch size, and no batch starts after the time budget; the next run goes on, as with the
 *   function's runner.
 * - Both take the same advisory lock as `scheduler.start_run`, so a pg_cron run and a run started
 *   by the function or the CLI never overlap; the one that finds it taken does nothing.
 */
import type { TaskDefinition, TaskRunner } from "../../functions/catalog.js";
import { runnerOf, timeZoneOf } from "../../functions/catalog.js";
import type { TaskSqlFile } from "./sql-files.js";

/** First line of every generated job command: how a later setup run recognises the jobs it owns. */
export const JOB_MARKER = "-- scheduled-jobs task:";

/** The advisory lock class of scheduler.start_run (sql/migrations/000001_scheduler.sql). */
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
}

/** The tasks a setup script of that scope schedules. Throws on a catalog pg_cron cannot run. */
export function pgCronTasks(tasks: readonly TaskDefinition[], scope: PgCronScope): TaskDefinition[] {
  for (const task of tasks) {
    if (task.kind !== "sql" && runnerOf(task) === ("pg_cron" satisfies TaskRunner)) {
      throw new Error(
        `${task.name}: runner "pg_cron" is only for SQL tasks (pg_cron runs SQL in the database; a ${task.kind} task needs the function, so Cloud Scheduler)`,
      );
    }
  }
  return tasks.filter((task) => task.kind === "sql" && (scope === "all-sql" || runnerOf(task) === "pg_cron"));
}

export function renderPgCronSetup(
  tasks: readonly TaskDefinition[],
  sqlFiles: Readonly<Record<string, TaskSqlFile>>,
  options: PgCronSetupOptions,
): string {
  const scheduled = pgCronTasks(tasks, options.scope);
  const out: string[] = [];
  out.push(
    `-- Generated from functions/catalog.ts and sql/tasks/*.sql by \`${options.generateCommand}\`.`,
    `-- Do not edit: edit the catalog or the task's SQL and regenerate.`,
    `--`,
    options.scope === "all-sql"
      ? `-- Schedules every SQL task of the catalog in pg_cron, under the task's name and schedule.`
      : `-- Schedules in pg_cron the SQL tasks whose runner is "pg_cron" (the hybrid: Cloud Scheduler runs the others).`,
    `-- Idempotent: loading it again updates the jobs (pg_cron 1.4+ updates a job scheduled under an`,
    `-- existing name), pauses and resumes them as the catalog says, and unschedules the jobs it`,
    `-- created earlier for tasks it no longer schedules (their command starts with "${JOB_MARKER}").`,
    `-- Load it as the role that owns the app's tables, into the database named by cron.database_name,`,
    `-- after \`npm run migrate\`:  psql -v ON_ERROR_STOP=1 -f ${options.fileName}`,
    `-- pg_cron reads schedules in cron.timezone (GMT; the setting exists from pg_cron 1.5): loading`,
    `-- fails when a task is scheduled in a zone that is not the same.`,
    ``,
    `BEGIN;`,
    ``,
    `CREATE EXTENSION IF NOT EXISTS pg_cron;`,
    ``,
  );

  if (scheduled.length > 0) out.push(renderTimeZoneCheck(scheduled), "");

  for (const task of scheduled) {
    const sql = sqlFiles[task.name];
    if (!sql) throw new Error(`${task.name}: no SQL (sql/tasks/${task.name}.sql)`);
    out.push(
      `-- ${task.name}: ${task.description}`,
      // The command starts right after the quote, with the marker that later loads look for.
      `SELECT cron.schedule(${literal(task.name)}, ${literal(task.schedule)}, $pg_cron_job$${jobCommand(task, sql)}`,
      `$pg_cron_job$);`,
      ``,
    );
  }

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
    `  AND j.jobname <> ALL (${textArray(scheduled.map((task) => task.name))});`,
    ``,
    `COMMIT;`,
    ``,
  );
  return out.join("\n");
}

/** The command pg_cron runs for a task; starts with {@link JOB_MARKER}. */
export function jobCommand(task: TaskDefinition, sql: TaskSqlFile): string {
  const lock = `${TASK_LOCK_CLASS}, hashtext(${literal(task.name)})`;
  const skipped = `RAISE NOTICE '%: skipped, another run holds the task''s lock', ${literal(task.name)};`;
  if (task.batch) {
    if (!sql.batch || !sql.count) {
      throw new Error(`${task.name}: a batched task needs "-- name: batch" and "-- name: count" statements`);
    }
    const size = task.batch.size;
    const guard =
      task.maxRows === undefined
        ? []
        : [
            `  -- The blast-radius guard: count first, change nothing when too many rows are due.`,
            `  EXECUTE ${quoted("pg_cron_count", sql.count)}`,
            `    INTO v_due USING ${task.maxRows + 1};`,
            `  IF v_due > ${task.maxRows} THEN`,
            `    RAISE EXCEPTION '%: would change % rows, more than its limit of ${task.maxRows}; nothing was changed', ${literal(task.name)}, v_due;`,
            `  END IF;`,
          ];
    return [
      `${JOB_MARKER} ${task.name}`,
      `DO $pg_cron_task$`,
      `DECLARE`,
      `  v_started timestamptz := clock_timestamp();`,
      `  v_rows bigint;`,
      `  v_total bigint := 0;`,
      `  v_batches integer := 0;`,
      ...(task.maxRows === undefined ? [] : [`  v_due bigint;`]),
      `BEGIN`,
      `  PERFORM set_config('TimeZone', ${literal(timeZoneOf(task))}, false);`,
      `  PERFORM set_config('lock_timeout', '${task.timeoutSeconds}s', false);`,
      `  IF NOT pg_try_advisory_lock(${lock}) THEN`,
      `    ${skipped}`,
      `    RETURN;`,
      `  END IF;`,
      ...guard,
      `  LOOP`,
      `    EXECUTE ${quoted("pg_cron_sql", sql.batch)}`,
      `      USING ${size};`,
      `    GET DIAGNOSTICS v_rows = ROW_COUNT;`,
      `    COMMIT;`,
      `    v_total := v_total + v_rows;`,
      `    v_batches := v_batches + 1;`,
      `    EXIT WHEN v_rows < ${size};`,
      `    IF clock_timestamp() >= v_started + interval '${task.batch.timeBudgetSeconds} seconds' THEN`,
      `      RAISE NOTICE '%: time budget spent after % rows in % batches; the next run goes on', ${literal(task.name)}, v_total, v_batches;`,
      `      EXIT;`,
      `    END IF;`,
      `  END LOOP;`,
      `  PERFORM pg_advisory_unlock(${lock});`,
      `  RAISE NOTICE '%: % rows in % batches', ${literal(task.name)}, v_total, v_batches;`,
      `END`,
      `$pg_cron_task$;`,
    ].join("\n");
  }

  if (!sql.statement) throw new Error(`${task.name}: no single statement in sql/tasks/${task.name}.sql`);
  const guard =
    task.maxRows === undefined
      ? []
      : [
          `  IF v_rows > ${task.maxRows} THEN`,
          `    RAISE EXCEPTION '%: would change % rows, more than its limit of ${task.maxRows}; nothing was changed', ${literal(task.name)}, v_rows;`,
          `  END IF;`,
        ];
  return [
    `${JOB_MARKER} ${task.name}`,
    `SET statement_timeout = '${task.timeoutSeconds}s';`,
    `SET TimeZone = ${literal(timeZoneOf(task))};`,
    `DO $pg_cron_task$`,
    `DECLARE`,
    `  v_rows bigint;`,
    `BEGIN`,
    `  IF NOT pg_try_advisory_xact_lock(${lock}) THEN`,
    `    ${skipped}`,
    `    RETURN;`,
    `  END IF;`,
    `  EXECUTE ${quoted("pg_cron_sql", sql.statement)};`,
    `  GET DIAGNOSTICS v_rows = ROW_COUNT;`,
    ...guard,
    `  RAISE NOTICE '%: % rows', ${literal(task.name)}, v_rows;`,
    `END`,
    `$pg_cron_task$;`,
  ].join("\n");
}

/**
 * pg_cron has one time zone for every job (cron.timezone from 1.5, GMT before), so a task in
 * another zone would run at the wrong hour: refuse to load rather than schedule it. Zones compare
 * by their UTC offsets over the coming year, so UTC, GMT and Etc/UTC are the same.
 */
function renderTimeZoneCheck(scheduled: readonly TaskDefinition[]): string {
  const rows = scheduled.map((task) => `    (${literal(task.name)}, ${literal(timeZoneOf(task))})`);
  return [
    `DO $pg_cron_check$`,
    `DECLARE`,
    `  v_cron_zone text := coalesce(nullif(current_setting('cron.timezone', true), ''), 'GMT');`,
    `  v_wrong text;`,
    `BEGIN`,
    `  SELECT string_agg(format('%s (%s)', t.task, t.zone), ', ' ORDER BY t.task) INTO v_wrong`,
    `  FROM (VALUES`,
    rows.join(",\n"),
    `  ) AS t (task, zone)`,
    `  WHERE EXISTS (`,
    `    SELECT 1 FROM generate_series(now(), now() + interval '1 year', interval '1 day') AS s (at)`,
    `    WHERE (s.at AT TIME ZONE t.zone) <> (s.at AT TIME ZONE v_cron_zone)`,
    `  );`,
    `  IF v_wrong IS NOT NULL THEN`,
    `    RAISE EXCEPTION 'pg_cron reads every schedule in cron.timezone (%), and these tasks are scheduled in another time zone: %', v_cron_zone, v_wrong`,
    `      USING HINT = 'Set cron.timezone to their zone (pg_cron 1.5+), or give the tasks that zone''s schedule in the catalog, or run them with Cloud Scheduler (the hybrid setup).';`,
    `  END IF;`,
    `END`,
    `$pg_cron_check$;`,
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
