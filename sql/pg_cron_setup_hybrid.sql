-- Generated from the stack dev: functions/core/catalog.ts with Pulumi.dev.yaml, and sql/tasks/*.sql
-- by `npm run pg-cron:generate`.
-- Do not edit: edit the catalog, the stack's config or the task's SQL and regenerate.
--
-- Schedules in pg_cron the SQL tasks whose runner is "pg_cron" (the hybrid: Cloud Scheduler runs the others).
-- Records the stack and those schedules in scheduler.pg_cron_setup: /health, the dashboard and
-- the CLI warn when the stack they read disagrees with them.
-- Idempotent: loading it again updates the jobs (pg_cron 1.4+ updates a job scheduled under an
-- existing name), pauses and resumes them as the stack says, and unschedules the jobs it
-- created earlier for tasks it no longer schedules (their command starts with "-- scheduled-jobs task:").
-- Load it as the role that owns the app's tables, into the database named by cron.database_name,
-- after `npm run migrate`:  psql -v ON_ERROR_STOP=1 -f sql/pg_cron_setup_hybrid.sql
-- pg_cron reads schedules in cron.timezone (GMT; the setting exists from pg_cron 1.5): these are in
-- UTC, and loading fails when cron.timezone is another zone. A task in another zone runs hourly at
-- its minute and its job checks the tick against the task's schedule in its zone (docs/pg-cron.md).

BEGIN;

CREATE EXTENSION IF NOT EXISTS pg_cron;

DO $pg_cron_check$
DECLARE
  v_cron_zone text := coalesce(nullif(current_setting('cron.timezone', true), ''), 'GMT');
BEGIN
  IF EXISTS (
    SELECT 1 FROM generate_series(now(), now() + interval '1 year', interval '1 day') AS s (at)
    WHERE (s.at AT TIME ZONE 'UTC') <> (s.at AT TIME ZONE v_cron_zone)
  ) THEN
    RAISE EXCEPTION 'pg_cron reads every schedule in cron.timezone (%), and these schedules are in UTC', v_cron_zone
      USING HINT = 'Leave cron.timezone at GMT (its default): each task''s own time zone is applied by its job.';
  END IF;
END
$pg_cron_check$;

-- Which stack this setup was rendered for, and each job's schedule in the stack's terms.
DO $pg_cron_check$
BEGIN
  IF to_regclass('scheduler.pg_cron_setup') IS NULL THEN
    RAISE EXCEPTION 'scheduler.pg_cron_setup does not exist: this database is not migrated'
      USING HINT = 'Run npm run migrate first, then load this setup (docs/pg-cron.md).';
  END IF;
END
$pg_cron_check$;
INSERT INTO scheduler.pg_cron_setup (id, stack, stack_file, setup_file, scope, jobs, loaded_at, loaded_by)
VALUES (true, 'dev', 'Pulumi.dev.yaml', 'sql/pg_cron_setup_hybrid.sql', 'pg_cron-runner',
  '[

  ]'::jsonb, now(), current_user)
ON CONFLICT (id) DO UPDATE SET stack = excluded.stack, stack_file = excluded.stack_file,
  setup_file = excluded.setup_file, scope = excluded.scope, jobs = excluded.jobs,
  loaded_at = excluded.loaded_at, loaded_by = excluded.loaded_by;

-- purge-cron-run-details: pg_cron never deletes its run history (cron.job_run_details); this job keeps
-- as much of it as of scheduler.job_runs: scheduler.run_retention() (scheduler.run_retention_days, 30 by default).
SELECT cron.schedule('purge-cron-run-details', '45 4 * * *', $pg_cron_job$-- scheduled-jobs task: purge-cron-run-details
DELETE FROM cron.job_run_details WHERE start_time < now() - scheduler.run_retention();
$pg_cron_job$);

-- Paused tasks stay scheduled but inactive; a task no longer paused is active again. A loop, so
-- that cron.alter_job (which a role other than a superuser must be granted) is only called to change one.
-- (no task is scheduled here)

-- Jobs this script created for tasks it no longer schedules.
SELECT cron.unschedule(j.jobid)
FROM cron.job j
WHERE j.username = current_user
  AND left(j.command, 23) = '-- scheduled-jobs task:'
  AND j.jobname <> ALL (ARRAY['purge-cron-run-details']);

COMMIT;
