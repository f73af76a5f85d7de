-- Generated from functions/catalog.ts and sql/tasks/*.sql by `npm run pg-cron:generate`.
-- Do not edit: edit the catalog or the task's SQL and regenerate.
--
-- Schedules in pg_cron the SQL tasks whose runner is "pg_cron" (the hybrid: Cloud Scheduler runs the others).
-- Idempotent: loading it again updates the jobs (pg_cron 1.4+ updates a job scheduled under an
-- existing name), pauses and resumes them as the catalog says, and unschedules the jobs it
-- created earlier for tasks it no longer schedules (their command starts with "-- scheduled-jobs task:").
-- Load it as the role that owns the app's tables, into the database named by cron.database_name,
-- after `npm run migrate`:  psql -v ON_ERROR_STOP=1 -f sql/pg_cron_setup_hybrid.sql
-- pg_cron reads schedules in cron.timezone (GMT; the setting exists from pg_cron 1.5): loading
-- fails when a task is scheduled in a zone that is not the same.

BEGIN;

CREATE EXTENSION IF NOT EXISTS pg_cron;

-- Paused tasks stay scheduled but inactive; a task no longer paused is active again. A loop, so
-- that cron.alter_job (which a role other than a superuser must be granted) is only called to change one.
-- (no task is scheduled here)

-- Jobs this script created for tasks it no longer schedules.
SELECT cron.unschedule(j.jobid)
FROM cron.job j
WHERE j.username = current_user
  AND left(j.command, 23) = '-- scheduled-jobs task:'
  AND j.jobname <> ALL (ARRAY[]::text[]);

COMMIT;
