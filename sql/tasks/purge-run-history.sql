-- name: batch
-- Delete one batch ($1 rows at most) of finished runs older than the retention, scheduler.run_retention():
-- the setting scheduler.run_retention_days (ALTER DATABASE ... SET scheduler.run_retention_days = 90),
-- 30 by default; pg_cron's purge job keeps cron.job_run_details by the same rule.
DELETE FROM scheduler.job_runs
WHERE id = ANY (ARRAY(
  SELECT id FROM scheduler.job_runs
  WHERE started_at < now() - scheduler.run_retention()
    AND status <> 'running'
  ORDER BY started_at
  LIMIT $1
  FOR UPDATE SKIP LOCKED
));

-- name: count
-- How many runs the task would delete, counting at most $1 (NULL: all).
SELECT count(*) AS rows FROM (
  SELECT 1 FROM scheduler.job_runs
  WHERE started_at < now() - scheduler.run_retention()
    AND status <> 'running'
  LIMIT $1
) AS due;
