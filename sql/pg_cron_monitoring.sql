-- Monitoring the tasks that pg_cron runs (sql/pg_cron_setup.sql): the design document's queries,
-- corrected, and its health view over pg_cron's own run history, cron.job_run_details.
--
-- Each task's runs are recorded in scheduler.job_runs like the function's (trigger 'pg_cron'), so
-- GET /health, the dashboard, `npm run cli -- history|health` and the alerts cover them: read those
-- first. cron.job_run_details says whether pg_cron started the job and its routine returned: a
-- single-statement task's failure (guard, timeout, SQL error) is recorded failed in
-- scheduler.job_runs while pg_cron says succeeded (the failure's record must commit), and an hourly
-- entry of a task in another time zone succeeds without a run in the hours its schedule skips.
-- Load the view once, into the database named by cron.database_name:
--   psql -v ON_ERROR_STOP=1 -f sql/pg_cron_monitoring.sql
-- The queries after the view are for reading (copy them into psql); loading the file runs them too,
-- which is harmless.
--
-- What differs from the design document:
-- - last_error was MAX(return_message) of the failed runs: the alphabetically last message, not the
--   latest one. It is the message of the latest failed run here.
-- - The view had an ORDER BY, which a view does not keep for its readers; order when querying.
-- - The view adds the latest run's status, the latest success, whether a run is going on, and the
--   longest run of the day (pg_cron has no timeout of its own: a slow job shows here).
-- - A job with no run today had total_runs 0 and no way to tell "never ran" from "ran yesterday";
--   last_run_time is over the whole history here, the counts over the last 24 hours.
-- - "SELECT jobname ... FROM cron.job_run_details" fails: that table has no job name; join cron.job.
-- - Pausing with UPDATE cron.job needs privileges an app role does not have; cron.alter_job is the
--   interface. A schedule edited in cron.job is overwritten by the next load of the setup script:
--   change the catalog (functions/core/catalog.ts) and regenerate instead.
-- - cron.schedule(..., 'now', ...) is not a schedule pg_cron knows ("invalid schedule: now"); to run a
--   task now, run its job's command (below) or `npm run task -- <name>`.
-- - pg_cron never deletes its run history: the setup scripts schedule purge-cron-run-details, which
--   keeps it as long as scheduler.job_runs (scheduler.run_retention(): scheduler.run_retention_days).

CREATE SCHEMA IF NOT EXISTS scheduler;

-- One row per pg_cron job of the current role (pg_cron's row security shows each role its own jobs).
CREATE OR REPLACE VIEW scheduler.cron_job_health AS
SELECT
  j.jobid,
  j.jobname,
  j.active,
  j.schedule,
  day.total_runs,
  day.failed_runs,
  day.max_duration,
  last_run.start_time AS last_run_time,
  last_run.status AS last_status,
  last_success.start_time AS last_success_time,
  last_failure.start_time AS last_failure_time,
  last_failure.return_message AS last_error,
  EXISTS (
    SELECT 1 FROM cron.job_run_details r
    WHERE r.jobid = j.jobid AND r.status IN ('starting', 'running', 'sending', 'connecting')
  ) AS running
FROM cron.job j
CROSS JOIN LATERAL (
  SELECT
    count(*) FILTER (WHERE r.status IN ('succeeded', 'failed'))::integer AS total_runs,
    count(*) FILTER (WHERE r.status = 'failed')::integer AS failed_runs,
    max(r.end_time - r.start_time) AS max_duration
  FROM cron.job_run_details r
  WHERE r.jobid = j.jobid AND r.start_time > now() - interval '24 hours'
) day
LEFT JOIN LATERAL (
  SELECT r.start_time, r.status FROM cron.job_run_details r
  WHERE r.jobid = j.jobid AND r.start_time IS NOT NULL
  ORDER BY r.start_time DESC LIMIT 1
) last_run ON true
LEFT JOIN LATERAL (
  SELECT r.start_time FROM cron.job_run_details r
  WHERE r.jobid = j.jobid AND r.status = 'succeeded'
  ORDER BY r.start_time DESC LIMIT 1
) last_success ON true
LEFT JOIN LATERAL (
  SELECT r.start_time, r.return_message FROM cron.job_run_details r
  WHERE r.jobid = j.jobid AND r.status = 'failed'
  ORDER BY r.start_time DESC LIMIT 1
) last_failure ON true;

COMMENT ON VIEW scheduler.cron_job_health IS
  'Per pg_cron job: runs and failures in the last 24 hours, the latest run, success and error (from cron.job_run_details).';

-- The health check: jobs that failed today.
SELECT * FROM scheduler.cron_job_health WHERE failed_runs > 0 ORDER BY jobname;

-- Every job, with its schedule and whether it is active.
SELECT jobid, jobname, schedule, active, database, username FROM cron.job ORDER BY jobname;

-- The latest runs.
SELECT j.jobname, r.runid, r.job_pid, r.status, r.return_message, r.start_time, r.end_time,
       r.end_time - r.start_time AS duration
FROM cron.job_run_details r
LEFT JOIN cron.job j ON j.jobid = r.jobid
ORDER BY r.start_time DESC NULLS FIRST
LIMIT 20;

-- Failed runs of the last hour (what an external monitor polls).
SELECT j.jobname, r.return_message, r.start_time
FROM cron.job_run_details r
JOIN cron.job j ON j.jobid = r.jobid
WHERE r.status = 'failed' AND r.start_time > now() - interval '1 hour'
ORDER BY r.start_time DESC;

-- Pause and resume a job (a role other than a superuser needs EXECUTE on cron.alter_job). The next
-- load of the setup script sets it back to what the catalog says: for a lasting pause, set the
-- task's `paused` in the catalog and regenerate.
--   SELECT cron.alter_job(jobid, active := false) FROM cron.job WHERE jobname = 'auto-cancel-unconfirmed-orders';
--   SELECT cron.alter_job(jobid, active := true) FROM cron.job WHERE jobname = 'auto-cancel-unconfirmed-orders';

-- Run a task now, as pg_cron would: print its job's command, then run that text with psql.
--   SELECT command FROM cron.job WHERE jobname = 'auto-cancel-unconfirmed-orders';

-- pg_cron's run history is purged daily by the setup's purge-cron-run-details job, as long as
-- scheduler.job_runs is kept (ALTER DATABASE ... SET scheduler.run_retention_days = 90 changes both).
-- Its last runs:
--   SELECT r.status, r.return_message, r.start_time FROM cron.job_run_details r
--   JOIN cron.job j ON j.jobid = r.jobid WHERE j.jobname = 'purge-cron-run-details'
--   ORDER BY r.start_time DESC LIMIT 5;

-- The runs of the tasks pg_cron runs, as the function's history has them.
SELECT task, status, schedule_time, rows_affected, error_code, message, started_at
FROM scheduler.job_runs
WHERE trigger = 'pg_cron'
ORDER BY started_at DESC
LIMIT 20;
