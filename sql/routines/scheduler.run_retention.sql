-- How long run history is kept: the setting scheduler.run_retention_days (ALTER DATABASE ... SET
-- scheduler.run_retention_days = 90), 30 days by default. One rule for scheduler.job_runs
-- (sql/tasks/purge-run-history.sql) and pg_cron's cron.job_run_details (the setup's purge job).
CREATE OR REPLACE FUNCTION scheduler.run_retention() RETURNS interval
LANGUAGE sql STABLE AS $$
  SELECT make_interval(days => coalesce(
    nullif(current_setting('scheduler.run_retention_days', true), '')::integer, 30))
$$;
